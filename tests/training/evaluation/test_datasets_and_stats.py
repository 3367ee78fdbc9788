"""Dataset references, the aci-bench section mapping, and bootstrap intervals."""

from __future__ import annotations

import json

import pytest

from training.evaluation import DatasetError, bootstrap_ci, load_examples, split_note_by_headers
from training.evaluation.datasets import datasets_dir

needs_public = pytest.mark.skipif(
    not (datasets_dir() / "aci-bench").exists(), reason="the public datasets (data/, or SOAP_DATASETS_DIR) are absent"
)


@needs_public
def test_aci_bench_valid_maps_notes_to_soap_sections():
    examples = load_examples("aci-bench:valid")
    assert len(examples) == 20
    first = examples[0]
    assert first["dialogue"][0] == {"speaker": "doctor", "text": "hi , brian . how are you ?"}
    assert "JVD 8 cm" in first["reference"]["O"]
    assert "Lasix to 80 mg" in first["reference"]["P"]
    assert "Lasix to 80 mg" not in first["reference"]["A"]
    assert "Medical Reasoning" in first["reference"]["A"]
    assert all(ex["reference"]["S"] for ex in examples)


@needs_public
def test_mts_dialog_scores_only_the_section_it_has():
    examples = load_examples("mts-dialog:valid", limit=30)
    assert len(examples) == 30
    for ex in examples:
        present = [k for k, v in ex["reference"].items() if v is not None]
        assert len(present) == 1


def test_header_mapping_of_prose_notes():
    note = "CHIEF COMPLAINT\n\nKnee pain.\n\nPHYSICAL EXAM\n\nEffusion.\n\nASSESSMENT\n\nOA.\n\nPLAN\n\nIbuprofen."
    assert split_note_by_headers(note) == {"S": "Knee pain.", "O": "Effusion.", "A": "OA.", "P": "Ibuprofen."}


def test_jsonl_dataset_filters_split_and_names_bad_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"key": "a", "dialogue": [{"speaker": "doctor", "text": "hi"}], "reference": {"S": "x"}, "split": "train"},
        {"key": "b", "dialogue": [{"speaker": "doctor", "text": "hi"}], "reference": {"A": "y"}, "split": "holdout"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [e["key"] for e in load_examples(str(path), split="holdout")] == ["b"]
    path.write_text(json.dumps(rows[0]) + "\n{broken\n")
    with pytest.raises(DatasetError, match="line 2"):
        load_examples(str(path))
    path.write_text(json.dumps({**rows[0], "reference": {}}) + "\n")
    with pytest.raises(DatasetError, match="line 1: 'reference' must be"):
        load_examples(str(path))


def test_unknown_dataset_reference_says_what_works():
    with pytest.raises(DatasetError, match="aci-bench"):
        load_examples("no-such-dataset")


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n():
    small = bootstrap_ci([0.0, 1.0] * 5)
    large = bootstrap_ci([0.0, 1.0] * 200)
    assert small.low <= 0.5 <= small.high
    assert (large.high - large.low) < (small.high - small.low)
    assert bootstrap_ci([]).as_dict() == {"mean": None, "low": None, "high": None, "n": 0}
