"""`python -m inference generate`: one file, a JSONL/CSV batch, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest

from inference.cli import main


def test_unreadable_or_unparseable_dialogue_exits_2_with_the_line(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('[{"speaker": "doctor"}]')
    assert main(["generate", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["generate"]) == 2


@pytest.mark.slow
def test_generate_prints_the_note_json(tmp_path, capsys, backend):
    dialogue = tmp_path / "visit.txt"
    dialogue.write_text(
        "Doctor: What brings you in?\nPatient: A rash on my arm since Friday.\n"
        "Doctor: It looks like contact dermatitis. Use hydrocortisone cream twice a day.\n"
    )
    assert main(["generate", str(dialogue), "--max-new-tokens", "128"]) == 0
    out = capsys.readouterr()
    assert set(json.loads(out.out)) == {"S", "O", "A", "P"}
    assert "tokens in" in out.err


@pytest.mark.slow
def test_jsonl_batch_writes_one_line_per_record_and_keeps_going_after_a_bad_one(tmp_path, capsys, backend):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"

    def record(key: str, complaint: str) -> str:
        turns = [{"speaker": "doctor", "text": "Any pain?"}, {"speaker": "patient", "text": complaint}]
        return json.dumps({"key": key, "dialogue": turns})

    lines = [record("a", "Headache for two days."), "not json", record("b", "My knee hurts on the stairs.")]
    src.write_text("\n".join(lines) + "\n")
    # Batches of 2: the bad line sits between the two dialogues that share one model call.
    assert main(["generate", "--jsonl", str(src), str(dst), "--max-new-tokens", "128", "--batch-size", "2"]) == 1
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    for row, key in ((rows[0], "a"), (rows[2], "b")):
        assert row["key"] == key and set(row["note"]) == {"S", "O", "A", "P"} and row["error"] is None
    assert rows[1]["note"] is None and "invalid JSON" in rows[1]["error"]
    assert "2/3 notes written" in capsys.readouterr().err
