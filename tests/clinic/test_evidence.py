"""Evidence: lexical support of note sentences by dialogue turns (see clinic/notes/evidence.py)."""

from __future__ import annotations

from clinic.notes.evidence import content_tokens, note_evidence, split_sentences

TURNS = [
    {"speaker": "doctor", "text": "What brings you in?"},
    {"speaker": "patient", "text": "A dry cough for two weeks, and a fever of 38.5 last night."},
    {"speaker": "doctor", "text": "Your oxygen saturation is 97 percent; the lungs sound clear."},
]


def test_sentences_split_at_punctuation_and_lines():
    assert split_sentences("Cough. Fever 38.5 noted!\nLungs clear; no wheeze") == [
        "Cough.", "Fever 38.5 noted!", "Lungs clear;", "no wheeze",
    ]  # fmt: skip


def test_content_tokens_keep_numbers_and_drop_stop_words():
    assert content_tokens("The patient reports coughing, BP 140/90 and 38.5") == {"cough", "140/90", "38.5"}


def test_supported_sentence_points_at_its_turns():
    ev = note_evidence({"S": "Dry cough for two weeks. Fever of 38.5."}, TURNS)["S"]
    assert [s.turns for s in ev.sentences] == [(1,), (1,)]
    assert all(s.supported for s in ev.sentences)


def test_sentence_with_no_overlap_is_unsupported():
    ev = note_evidence({"O": "Abdomen soft and non-tender. Saturation 97 percent."}, TURNS)["O"]
    assert ev.sentences[0].supported is False and ev.sentences[0].turns == ()
    assert ev.sentences[1].supported is True and ev.sentences[1].turns == (2,)
    assert ev.unsupported == 1


def test_number_absent_from_dialogue_marks_sentence_unsupported():
    ev = note_evidence({"O": "Oxygen saturation 92 percent."}, TURNS)["O"]
    assert ev.sentences[0].turns == (2,) and ev.sentences[0].supported is False


def test_sentence_without_content_words_is_neutral():
    ev = note_evidence({"P": "None."}, TURNS)["P"]
    assert ev.sentences[0].supported is None and ev.unsupported == 0
