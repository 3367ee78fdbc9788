"""evaluate() + write_report(): a scripted backend at the generation seam, and the real default model once."""

from __future__ import annotations

import json

import pytest

from inference.backends.base import Backend, Completion
from tests.training.rewards.cases import BRONCHITIS, HYPERTENSION
from training.evaluate import main as cli_main
from training.evaluation import evaluate, write_report


class ScriptedBackend(Backend):
    """Returns canned completions in order; records the sampling params it was asked for."""

    name = "scripted"

    def __init__(self, texts):
        self.texts = list(texts)
        self.params = []

    def generate(self, prompts, params):
        self.params.append(params)
        out = []
        for _ in prompts:
            text = self.texts.pop(0)
            out.append(Completion(text=text, token_ids=list(range(len(text) // 4)), finish_reason="stop"))
        return out


def test_scores_validity_facts_and_writes_report(tmp_path):
    good = json.dumps(BRONCHITIS["reference"])
    fenced = "```json\n" + json.dumps({**HYPERTENSION["reference"], "P": "Start warfarin 5 mg."}) + "\n```"
    backend = ScriptedBackend([good, fenced, "not a note"])
    report = evaluate("scripted-model", [BRONCHITIS, HYPERTENSION, BRONCHITIS], backend=backend, batch_size=2)
    assert [p.constrained for p in backend.params] == [False, False]  # model's own compliance
    summary = report.summary()
    assert summary["json_valid"]["mean"] == pytest.approx(2 / 3)
    assert summary["json_valid_strict"]["mean"] == pytest.approx(1 / 3)
    first, second, third = report.results
    assert first.total == 5.0 and first.fact_recall == 1.0 and first.unsupported == 0
    assert second.scores["P"] < 0.5 and second.unsupported == 1  # warfarin; "5" was said (amlodipine 5 mg)
    assert third.total == 0.0 and third.fact_recall == 0.0 and "no JSON object" in third.format_reason
    markdown = write_report([report, report], tmp_path, title="t")
    assert "| Total reward (0-5) |" in markdown and markdown.count("`scripted-model`") >= 2
    for name in ("report.md", "report.html", "sections.png", "rewards.png", "summary.json", "results-0.jsonl"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())[0]["summary"]["examples"] == 3


def test_constrained_second_pass_is_reported(tmp_path):
    backend = ScriptedBackend(["prose only", json.dumps(BRONCHITIS["reference"])])
    report = evaluate(None, [BRONCHITIS], backend=backend, constrained_too=True)
    summary = report.summary()
    assert summary["json_valid"]["mean"] == 0.0
    assert summary["json_valid_constrained"]["mean"] == 1.0
    assert summary["total_constrained"]["mean"] == 5.0
    assert [p.constrained for p in backend.params] == [False, True]


def test_cli_rejects_unknown_dataset(capsys):
    assert cli_main(["--dataset", "nowhere.jsonl"]) == 2
    assert "neither a file nor a public dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_real_default_model_end_to_end(tmp_path, default_model_dir):
    """The real default policy on CPU, unconstrained then constrained, through the CLI."""
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps(HYPERTENSION) + "\n")
    out = tmp_path / "report"
    code = cli_main(
        ["--dataset", str(data), "--max-new-tokens", "24", "--constrained", "--out", str(out), "--batch-size", "1"]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())[0]["summary"]
    row = json.loads((out / "results-0.jsonl").read_text().splitlines()[0])
    # constrained decoding: the output is the note object from its first character
    assert row["raw"].lstrip().startswith('{"S"')
    assert row["tokens"] <= 24 and summary["output_tokens"]["mean"] <= 24
    # 24 tokens rarely fit a whole note: then the reason says it was cut, and the reward is 0
    assert row["valid"] or "truncated" in row["format_reason"]
    assert 0.0 <= summary["total"]["mean"] <= 5.0
    assert (out / "report.html").exists()
