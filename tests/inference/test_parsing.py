"""parse_note: the notes it accepts in each mode, and the precise reason for each it rejects."""

from __future__ import annotations

import json

import pytest

from inference.parsing import parse_note

NOTE = {"S": "Cough for 5 days.", "O": "T 38.9 C.", "A": "Pneumonia.", "P": "Amoxicillin."}
TEXT = json.dumps(NOTE)


@pytest.mark.parametrize(
    "text",
    [
        TEXT,
        f"  \n{TEXT}\n ",
        f"```json\n{TEXT}\n```",
        f"```\n{TEXT}\n```",
        f"Here is the note:\n{TEXT}\nLet me know if you need changes.",
    ],
)
def test_lenient_mode_accepts_bare_fenced_and_embedded_notes(text):
    result = parse_note(text)
    assert result.ok and result.reason is None
    assert result.note.as_dict() == NOTE


def test_strict_mode_accepts_only_the_object_and_whitespace():
    assert parse_note(f"\n  {TEXT}  \n", strict=True).ok


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"Here is the note: {TEXT}", "text before the JSON object: 'Here is the note:'"),
        (f"{TEXT} Hope this helps.", "text after the JSON object: 'Hope this helps.'"),
        (f"```json\n{TEXT}\n```", "text before the JSON object: '```json'"),
    ],
)
def test_strict_mode_rejects_anything_around_the_object(text, reason):
    result = parse_note(text, strict=True)
    assert not result.ok and result.note is None
    assert result.reason == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty output: no JSON object"),
        ("   ", "empty output: no JSON object"),
        (
            "The patient has a cough.",
            "no JSON object found (no '{' in the output, starts with 'The patient has a cough.')",
        ),
        ('{"S": "a", "O": "b", "A": "c"}', "missing key 'P' (the note needs exactly the keys S, O, A, P)"),
        ('{"S": "a"}', "missing keys 'O', 'A', 'P' (the note needs exactly the keys S, O, A, P)"),
        (
            '{"S": "a", "O": "b", "A": "c", "P": "d", "X": "e"}',
            "unexpected key 'X' (the note needs exactly the keys S, O, A, P)",
        ),
        ('{"S": "a", "O": 5, "A": "c", "P": "d"}', "section 'O' must be a string, got int"),
        ('{"S": "a", "O": "b", "A": null, "P": "d"}', "section 'A' must be a string, got null"),
        ('{"S": "a", "O": "b", "A": ["c"], "P": "d"}', "section 'A' must be a string, got list"),
        ('["S", "O", "A", "P"]', "expected a JSON object with keys S, O, A, P, got a JSON list"),
        ('{"S": "a", "O": "b",', "unterminated JSON object: no closing '}' (the output may have been truncated)"),
        ('{"S": "a" "O": "b"}', "invalid JSON at line 1 column 11: Expecting ',' delimiter"),
    ],
)
def test_rejections_name_the_precise_reason(text, reason):
    result = parse_note(text)
    assert not result.ok
    assert result.reason == reason


def test_invalid_json_inside_a_fence_says_so():
    result = parse_note('```json\n{"S": "a",}\n```')
    assert result.reason.startswith("in the code fence: invalid JSON at line 1")


def test_non_text_input_is_rejected_not_crashed():
    assert parse_note(None).reason == "expected text, got NoneType"  # type: ignore[arg-type]


def test_deeply_nested_json_is_rejected_with_a_reason():
    result = parse_note("[" * 100_000 + "]" * 100_000)
    assert not result.ok and result.reason
