"""The pipeline: sizes, splits, JSONL round trip, validation, and resume after an interruption."""

from __future__ import annotations

import json

import pytest

from training.synthesis import (
    EXAMPLE_KEYS,
    SynthesisConfig,
    SynthesisError,
    SynthesisInterrupted,
    assign_splits,
    read_jsonl,
    synthesize,
    validate_example,
    write_jsonl,
)


def _config(**overrides) -> SynthesisConfig:
    base = {"n": 120, "train": 100, "holdout": 20, "threshold": None, "chunk_size": 50}
    return SynthesisConfig(**(base | overrides))


def test_synthesize_returns_examples_in_the_shared_format_with_split_sizes(tmp_path):
    result = synthesize(_config(), checkpoint_dir=tmp_path)
    assert len(result.examples) == 120
    splits = [e["split"] for e in result.examples]
    assert splits.count("train") == 100 and splits.count("holdout") == 20
    example = result.examples[0]
    assert tuple(example) == EXAMPLE_KEYS
    assert set(example["reference"]) == {"S", "O", "A", "P"}
    assert {"section", "kind", "text", "surface_forms"} <= set(example["facts"][0])
    assert len({e["key"] for e in result.examples}) == 120
    assert result.report["dedup"]["total"] == 120 and result.report["examples"] == 120


def test_recipe_defaults_and_scaled_ratio():
    config = SynthesisConfig()
    assert (config.n, config.train, config.holdout) == (24000, 19939, 4028)
    scaled = SynthesisConfig.scaled(23967)
    assert (scaled.train, scaled.holdout) == (19939, 4028)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n": 0}, "at least one"),
        ({"renderer": "gpt"}, "offline"),
        ({"threshold": 2.0}, "threshold"),
        ({"renderer": "llm"}, "base_url"),
        ({"train": -1}, "negative"),
    ],
)
def test_bad_config_is_rejected_with_a_fix(overrides, message):
    with pytest.raises(SynthesisError, match=message):
        SynthesisConfig(**overrides)


def test_holdout_by_condition_shares_no_condition_with_train(tmp_path):
    result = synthesize(_config(n=300, train=200, holdout=60, holdout_by_condition=True), checkpoint_dir=tmp_path)
    train = {e["condition"] for e in result.examples if e["split"] == "train"}
    holdout = {e["condition"] for e in result.examples if e["split"] == "holdout"}
    assert holdout and not train & holdout
    assert result.report["dedup"]["surplus_dropped"] == 300 - len(result.examples)


def test_holdout_by_case_is_disjoint_and_deterministic():
    examples = [{"key": str(i), "condition": f"c{i % 7}"} for i in range(50)]
    first, surplus = assign_splits([dict(e) for e in examples], train=30, holdout=10, seed=3)
    second, _ = assign_splits([dict(e) for e in examples], train=30, holdout=10, seed=3)
    assert surplus == 10 and [e["split"] for e in first] == [e["split"] for e in second]
    assert len({e["key"] for e in first if e["split"] == "holdout"}) == 10


def test_interrupted_run_resumes_without_rerendering_or_duplicating(tmp_path):
    calls = {"n": 0}

    def stop_after_first_chunk() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(SynthesisInterrupted, match="re-run to resume"):
        synthesize(_config(), checkpoint_dir=tmp_path, should_stop=stop_after_first_chunk)
    assert len(list(tmp_path.glob("render-*.jsonl"))) == 1
    resumed = synthesize(_config(), checkpoint_dir=tmp_path)
    fresh = synthesize(_config(), checkpoint_dir=tmp_path / "fresh")
    assert resumed.report["timing"]["resumed_cases"] == 50
    assert [e["key"] for e in resumed.examples] == [e["key"] for e in fresh.examples]
    assert resumed.examples == fresh.examples


def test_jsonl_round_trip_and_line_numbered_errors(tmp_path):
    result = synthesize(_config(n=20, train=15, holdout=5, chunk_size=20), checkpoint_dir=None)
    path = tmp_path / "out.jsonl"
    assert write_jsonl(result.examples, path) == 20
    assert list(read_jsonl(path)) == result.examples
    lines = path.read_text().splitlines()
    lines[3] = json.dumps({"key": "x", "dialogue": [], "reference": {}})
    path.write_text("\n".join(lines))
    with pytest.raises(SynthesisError, match=r"out.jsonl:4: 'dialogue' must be a non-empty list"):
        list(read_jsonl(path))


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ([], "JSON object"),
        ({"key": "k"}, "'dialogue' must be a non-empty list"),
        ({"dialogue": [{"speaker": "d", "text": "t"}], "reference": {"S": ""}}, "missing field 'key'"),
        ({"key": "k", "dialogue": [{"speaker": "doctor"}], "reference": {}}, "turn 0"),
        ({"key": "k", "dialogue": [{"speaker": "d", "text": "t"}], "reference": {}}, "at least one section"),
        ({"key": "k", "dialogue": [{"speaker": "d", "text": "t"}], "reference": {"X": ""}}, "'reference' must be"),
        (
            {
                "key": "k",
                "dialogue": [{"speaker": "d", "text": "t"}],
                "reference": dict.fromkeys("SOAP", ""),
                "split": "test",
            },
            "split",
        ),
    ],
)
def test_validate_example_names_the_problem(example, message):
    assert message in validate_example(example)


def test_command_line_writes_jsonl_and_rejects_bad_sizes(tmp_path, capsys):
    from training.synthesis.__main__ import main

    out = tmp_path / "s.jsonl"
    assert main(["--n", "30", "--threshold", "none", "--out", str(out)]) == 0
    assert len(list(read_jsonl(out))) == 30
    assert '"n_conditions"' in capsys.readouterr().out
    topped = tmp_path / "topped.jsonl"  # fewer cases than the split sizes: top-up rounds render the rest
    assert main(["--n", "10", "--threshold", "none", "--train", "40", "--holdout", "5", "--out", str(topped)]) == 0
    assert [e["split"] for e in read_jsonl(topped)].count("train") == 40
    assert main(["--n", "0", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "at least one" in capsys.readouterr().err


def test_export_refuses_an_example_that_breaks_the_contract(tmp_path):
    good = {"key": "k", "dialogue": [{"speaker": "d", "text": "t"}], "reference": {"S": "s"}, "facts": [],
            "specialty": "", "condition": "", "split": "train", "source": "synthetic", "seed": 1}  # fmt: skip
    path = tmp_path / "e.jsonl"
    assert write_jsonl([good], path) == 1
    with pytest.raises(SynthesisError, match="'k2' cannot be written: 'reference' must be"):
        write_jsonl([good, {**good, "key": "k2", "reference": {"Z": "x"}}], tmp_path / "bad.jsonl")
    assert not (tmp_path / "bad.jsonl").exists() and not list(tmp_path.glob("*.tmp"))
