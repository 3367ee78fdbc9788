"""Standard metrics: ROUGE, concept F1, ungrounded rates, runaway, validity; the scorer CLI on a fixture file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.evaluation.test_harness import ScriptedBackend
from training.evaluation import evaluate, load_examples, write_report
from training.evaluation.metrics import note_metrics, reference_predictions, repetition_loop, score_predictions
from training.evaluation.score import align, main

FIXTURE = Path(__file__).with_name("fixtures") / "predictions_aci_valid_3.jsonl"
DIALOGUE = [{"speaker": "doctor", "text": "a cough for five days , oxygen is ninety six percent . viral bronchitis ."}]
REFERENCE = {"S": "Cough for 5 days.", "O": "SpO2 96%.", "A": "Viral bronchitis.", "P": "Rest and fluids."}
EXAMPLE = {"key": "ex-1", "dialogue": DIALOGUE, "reference": REFERENCE}


def test_clinician_note_scores_rouge_100_and_is_fully_grounded():
    m = note_metrics(EXAMPLE, {"note": REFERENCE})
    assert (m["rouge1"], m["rouge2"], m["rougeLsum"], m["concept_f1"]) == (100.0, 100.0, 100.0, 1.0)
    assert m["sections"]["O"]["rouge1"] == 100.0
    assert m["ungrounded_values"] == [] and m["values"] == 2
    assert m["valid"] and not m["runaway"] and m["total"] == pytest.approx(5.0)


def test_invalid_truncated_and_looping_notes():
    invalid = note_metrics(EXAMPLE, {"note": None, "error": "Truncated: used all tokens", "finish_reason": "length"})
    assert not invalid["valid"] and invalid["truncated"] and invalid["runaway"] and invalid["rouge1"] == 0.0
    loop = {**REFERENCE, "P": "Rest and fluids. Follow up in two weeks if worse. " * 6}
    looping = note_metrics(EXAMPLE, {"raw": json.dumps(loop), "finish_reason": "stop"})
    assert looping["valid"] and looping["loop"] and looping["runaway"] and not looping["truncated"]
    assert not repetition_loop("\n".join(REFERENCE.values()))


def test_partial_references_score_only_their_sections():
    example = {"dialogue": DIALOGUE, "reference": {"S": "Cough for 5 days.", "O": None, "A": None, "P": None}}
    m = note_metrics(example, {"note": {"S": "Cough for 5 days.", "O": "Lungs clear.", "A": "x y", "P": "z w"}})
    assert m["rouge1"] == 100.0 and set(m["sections"]) == {"S"}


def test_invented_vital_counts_as_ungrounded_and_summary_pools_numbers():
    invented = {**REFERENCE, "O": "SpO2 96%. BP 182/110."}
    result = score_predictions([EXAMPLE, EXAMPLE], [{"note": REFERENCE}, {"note": invented}])
    assert result["notes"][1]["ungrounded_values"] == [110.0, 182.0]
    summary = result["summary"]
    assert summary["ungrounded_values"]["mean"] == pytest.approx(2 / 6)  # 2 of the 2 + 4 distinct values
    assert summary["ungrounded_notes"]["mean"] == 0.5 and summary["valid"]["mean"] == 1.0


def test_clinicians_own_ungrounded_rate_on_aci_bench_valid_is_the_calibration():
    examples = load_examples("aci-bench:valid")
    summary = score_predictions(examples, reference_predictions(examples))["summary"]
    assert summary["rouge1"]["mean"] == 100.0
    # The clinicians' notes state some numbers the dialogue does not (chart data); issue 14 measured 15 %.
    assert 0.05 <= summary["ungrounded_values"]["mean"] <= 0.2
    assert summary["loop"]["mean"] == 0.0


def test_predictions_align_by_key_or_by_row_order():
    examples = [{"key": "aci-valid-D2N068"}, {"key": "aci-valid-D2N069"}]
    by_key, missing = align(examples, [{"key": "D2N069", "note": {"S": "a"}}])
    assert missing == 1 and by_key[0]["error"].startswith("missing") and by_key[1]["note"] == {"S": "a"}
    by_line, missing = align(examples, [{"line": 2, "note": 1}, {"line": 3, "note": 2}])
    assert missing == 0 and [p["note"] for p in by_line] == [1, 2]


def test_score_cli_on_a_predictions_file(tmp_path, capsys):
    out = tmp_path / "report.md"
    args = ["--dataset", "aci-bench:valid", "--limit", "3", "--predictions", str(FIXTURE), "--label", "fixture"]
    assert main([*args, "--out", str(out), "--workers", "1"]) == 0
    table = capsys.readouterr().out
    assert "| fixture | 3 | 67 % | 67 % | 33 % / 0 % |" in table
    assert "| clinicians' notes | 3 | 100 % |" in table and out.read_text().startswith("Dataset")
    scored = json.loads(out.with_suffix(".json").read_text())["scored"]
    notes = scored[0]["notes"]
    assert notes[0]["rouge1"] == 100.0 and notes[1]["truncated"] and not notes[1]["valid"]
    assert {110.0, 182.0} <= set(notes[2]["ungrounded_values"]) and notes[2]["ungrounded_drugs"] == ["apixaban"]


def test_score_cli_refuses_a_broken_file(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "D2N068", "note": null}\nnot json\n')
    assert main(["--dataset", "aci-bench:valid", "--limit", "3", "--predictions", str(bad)]) == 2
    assert "bad.jsonl line 2: not JSON" in capsys.readouterr().err


def test_evaluation_report_shows_the_metrics_and_the_clinicians_column(tmp_path):
    examples = load_examples("aci-bench:valid", limit=2)
    invented = {**examples[1]["reference"], "O": examples[1]["reference"]["O"] + "\nBP 182/110."}
    backend = ScriptedBackend([json.dumps(examples[0]["reference"]), json.dumps(invented)])
    report = evaluate("scripted", examples, backend=backend, judge="grounded", dataset="aci-bench:valid")
    summary = report.summary()
    assert summary["rouge1"]["mean"] > 95 and summary["ungrounded_values"]["mean"] > 0
    assert report.calibration["rouge1"]["mean"] == 100.0
    markdown = write_report([report], tmp_path)
    assert "| ROUGE-1 F1 x100, whole note |" in markdown and "clinicians' notes |" in markdown
    assert "| Ungrounded numbers (share of numbers, valid notes) |" in markdown
    assert (tmp_path / "metrics.png").stat().st_size > 0


def test_mts_dialog_predictions_from_the_csv_match_by_row_id(tmp_path, capsys):
    examples = load_examples("mts-dialog:valid", limit=4)
    lines = []
    for line in (5, 4, 3, 2):  # written out of order, without keys, as `inference generate --jsonl the.csv` does
        example = examples[line - 2]
        note = {k: (example["reference"][k] or "") for k in ("S", "O", "A", "P")}
        lines.append(json.dumps({"line": line, "key": None, "note": note, "error": None}))
    path = tmp_path / "mts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["--dataset", "mts-dialog:valid", "--limit", "4", "--predictions", str(path), "--workers", "1"]) == 0
    assert "| mts | 4 | 100 % | 100 % | 0 % / 0 % | 100.0 [100.0, 100.0] |" in capsys.readouterr().out


def test_score_cli_refuses_predictions_for_another_dataset(tmp_path, capsys):
    other = tmp_path / "other.jsonl"
    other.write_text('{"key": "D9N999", "note": null, "error": "x"}\n')
    assert main(["--dataset", "aci-bench:valid", "--limit", "2", "--predictions", str(other)]) == 2
    assert "no line matches an example" in capsys.readouterr().err


def test_fast_lcs_table_matches_rouge_score():
    import random

    from training.rewards import overlap

    rng = random.Random(0)
    for _ in range(500):
        ref = [rng.choice("abcde") for _ in range(rng.randint(0, 12))]
        can = [rng.choice("abcde") for _ in range(rng.randint(0, 12))]
        assert overlap._lcs_table(ref, can) == overlap.ROUGE_LCS_TABLE(ref, can)
