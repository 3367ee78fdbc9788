"""A number written as a vital sign must be one that vital can take, in decoding and in the grounding check."""

from __future__ import annotations

import csv
import glob

import pytest
import torch

from inference.vitals import implausible_vitals, vital_before
from tests.inference.test_section_budget import grounded_scores_after

VOCAB = 49152
csv.field_size_limit(10**9)


def _clinician_texts() -> list[str]:
    texts = []
    for path in ("data/aci-bench/train.csv", "data/aci-bench/valid.csv"):
        with open(path, newline="") as f:
            texts += [row["note"] for row in csv.DictReader(f)]
    for path in sorted(glob.glob("data/mts-dialog/*.csv")):
        with open(path, newline="") as f:
            texts += [row["section_text"] for row in csv.DictReader(f)]
    return texts


def test_no_clinician_note_writes_a_vital_its_range_rules_out():
    """The ranges reject only what cannot be the vital: none of the clinicians' vitals in ACI-Bench
    train+valid or MTS-Dialog (all splits) falls outside them, and they write plenty."""
    from inference.vitals import _VALUE

    texts = _clinician_texts()
    written = sum(len(_VALUE.findall(text)) for text in texts)
    assert written >= 50, written  # 56: the check sees real vitals, not an empty pattern
    assert [found for text in texts if (found := implausible_vitals(text))] == []


@pytest.mark.parametrize(
    ("before", "vital"),
    [
        ("Vital signs: Temperature: ", "temperature"),
        ("Her temp was ", "temperature"),
        ("heart rate of ", "heart rate"),
        ("BP 132/", "diastolic blood pressure"),
        ("Blood pressure today is ", "blood pressure"),
        ("O2 sat ", "oxygen saturation"),
        ("Pulse ox: ", "oxygen saturation"),
        ("Pulse: Rate: ", "heart rate"),  # the ACI-Bench valid notes that got around the rule's first form
        ("Blood pressure:  around ", "blood pressure"),
        ("Blood pressure: Systolic: ", "blood pressure"),
        ("Respiratory rate ", "respiratory rate"),
        ("Continue lisinopril ", None),
        ("Type ", None),
        ("pulse of the foot was checked on ", None),  # the vital's name, but not right before the number
        ("Pulse 72/", None),  # only a blood pressure has a second number
    ],
)
def test_the_vital_a_number_is_about_to_be(before, vital):
    found = vital_before(before)
    assert (found.name if found else None) == vital


@pytest.fixture(scope="module")
def tokenizer(default_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_dir))


def _allowed_after(tokenizer, stated, text):
    """The single digits GroundedNumbers allows as the next token after the note `text`."""
    scores = grounded_scores_after(tokenizer, stated, text)
    digits = {d: tokenizer.convert_tokens_to_ids(d) for d in "0123456789"}
    return {d for d, i in digits.items() if torch.isfinite(scores[i])}


def test_a_vitals_template_cannot_take_the_visits_other_numbers(tokenizer):
    """The D2N082 failure: a visit that says "type two" and "two weeks" got "Temperature: 2. 2, Pulse: 2";
    D2N070's "Blood pressure: 58" took the patient's age."""
    from inference.constrained import dialogue_numbers

    stated = dialogue_numbers(
        "Doctor: type two diabetes for two weeks, you take 25 of the metformin. Your temperature is "
        "ninety-eight point six, pulse seventy-two and the blood pressure 120 over 80."
    )
    assert {"2", "25", "98.6", "72", "120", "80"} <= stated
    # stated: 2, 25, 6 and 98 (from 98.6), 98.6, 72, 120, 80 (first digits 1 2 6 7 8 9); as vitals (said within
    # a sentence after their names, inference.vitals.stated_vitals): temperature 98.6; pulse 72, 120, 80 (the
    # numbers after "pulse"); blood pressure 120, 80
    assert _allowed_after(tokenizer, stated, "Type ") == {"1", "2", "6", "7", "8", "9"}  # any stated number
    assert _allowed_after(tokenizer, stated, "Vital signs: Temperature: ") == {"9"}  # only 98.6
    assert _allowed_after(tokenizer, stated, "Vital signs: Temperature: 9") == {"8"}
    assert _allowed_after(tokenizer, stated, "Pulse: ") == {"1", "7", "8"}  # not 25, 2 or 6
    assert _allowed_after(tokenizer, stated, "BP 120/") == {"1", "8"}  # a diastolic the visit said: 80 (or 120)
    assert _allowed_after(tokenizer, stated, "Blood pressure: ") == {"1", "8"}
    assert _allowed_after(tokenizer, stated, "Temperature: 98.6, pulse 72. Type ") == {"1", "2", "6", "7", "8", "9"}


def test_a_vital_sign_with_no_fitting_number_stated_gets_no_digit(tokenizer):
    from inference.constrained import dialogue_numbers

    stated = dialogue_numbers("Patient: I've had it for two weeks, type two, maybe 3 times a day.")
    assert _allowed_after(tokenizer, stated, "Temperature: ") == set()
    assert _allowed_after(tokenizer, stated, "O2 saturation of ") == set()


def test_grounding_counts_a_stated_number_written_as_an_impossible_vital():
    from training.rewards.grounding import GroundingJudge, ungrounded

    dialogue = "doctor: so the type two diabetes, for two weeks now? patient: yes. doctor: your pulse is 72."
    found = ungrounded("Vital signs: Temperature: 2. 2, Pulse: 72. Type 2 diabetes.", dialogue)
    assert found.ungrounded_values == [2.0] and found.values == 2
    assert ungrounded("Pulse: 72. Type 2 diabetes for 2 weeks.", dialogue).ungrounded_values == []
    aged = "doctor: how old are you now? patient: fifty-eight. doctor: and your heart rate is 72 today."
    assert ungrounded("Blood pressure: 58 mmHg. Heart rate 72.", aged).ungrounded_values == [58.0]  # D2N070
    assert ungrounded("58-year-old. Heart rate 72.", aged).ungrounded_values == []
    judge = GroundingJudge()
    assert judge.judge(dialogue, "O", "Temperature: 2. Pulse 72.").score < judge.judge(dialogue, "O", "Pulse 72.").score


def test_no_real_note_or_dialogue_needs_a_foreign_token_and_foreign_scripts_are_caught(tokenizer):
    """The character rule that keeps a number-starved vital from "ﾎ/mmHg": judged on token bytes, it flags
    halfwidth katakana, Cyrillic, CJK, box drawing and emoji, and nothing that real notes or visits contain."""
    from inference.constrained import foreign_ids

    foreign = set(foreign_ids(tokenizer, VOCAB))
    texts = _clinician_texts()
    for path in ("data/aci-bench/train.csv", "data/aci-bench/valid.csv"):
        with open(path, newline="") as f:
            texts += [row["dialogue"] for row in csv.DictReader(f)]
    used = {i for text in texts for i in tokenizer.encode(text, add_special_tokens=False)}
    assert len(used) > 5000 and used.isdisjoint(foreign)
    for ok in ("98.6 °C, 5 μg, ≤ 2 × daily", "– “stable” • BP ≥ 140 → recheck, café, ™ …"):
        assert foreign.isdisjoint(tokenizer.encode(ok, add_special_tokens=False)), ok
    for bad in ("ﾎ/mmHg", "привет", "数", "──", "😀"):
        assert foreign & set(tokenizer.encode(bad, add_special_tokens=False)), bad


def test_grounded_numbers_never_lets_a_note_write_a_foreign_token(tokenizer):
    from inference.constrained import foreign_ids

    scores_after = grounded_scores_after(tokenizer, frozenset({"72"}), "Vital signs: Temperature: ")
    foreign = foreign_ids(tokenizer, VOCAB)
    assert not torch.isfinite(scores_after[foreign]).any()
    assert torch.isfinite(scores_after).sum() > 40000  # words, punctuation and the closing quote stay


def test_an_unstated_decimal_cannot_be_written_as_two_numbers(tokenizer):
    """ "2.2" not stated whole used to come out as "2. 2" (and "98.2" as "98. 2"): after a number's full stop
    and a space no number may start, which no clinician note in ACI-Bench or MTS-Dialog does."""
    import re

    from inference.constrained import dialogue_numbers

    stated = dialogue_numbers("Doctor: type two, for 3 weeks; your temperature is 98 and pulse 72.")
    assert _allowed_after(tokenizer, stated, "Alkaline pH: 2. ") == set()
    assert _allowed_after(tokenizer, stated, "Temperature is 98. ") == set()
    assert _allowed_after(tokenizer, stated, "Temperature is 98. Pulse ") == {"7"}
    assert "7" in _allowed_after(tokenizer, stated, "Temperature is 98.\\n")  # a new line may start a list item
    assert not any(re.search(r"\d\. +\d", text) for text in _clinician_texts())


def test_real_visits_state_their_vitals_where_the_clinicians_note_writes_them():
    """Every vital value a clinician wrote for an ACI-Bench visit and the visit states anywhere is among
    the values `stated_vitals` finds for that vital, so the decoding rule never blocks a real one."""
    from inference.constrained import dialogue_numbers
    from inference.vitals import _VALUE, _named, stated_name

    checked = missed = 0
    for path in ("data/aci-bench/train.csv", "data/aci-bench/valid.csv"):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                stated = dialogue_numbers(row["dialogue"])
                for match in _VALUE.finditer(row["note"]):
                    vital = _named(match)
                    values = [match.group("value")] + ([match.group("diastolic")] if match.group("diastolic") else [])
                    for value in values:
                        if value not in stated:
                            continue  # chart data the visit never says: the number rule blocks it anyway
                        checked += 1
                        missed += f"{stated_name(vital)}={value}" not in stated
    assert checked >= 20 and missed == 0, (checked, missed)


def test_the_vllm_request_check_takes_vital_tags_and_refuses_malformed_ones():
    """Vital values travel to the vLLM processor as "name=value" in `soap_grounded_numbers`; a tag with an
    unknown name or a value that is no number is refused there with the processor's message."""
    from inference.constrained import is_stated_number

    assert is_stated_number("temperature=98.6") and is_stated_number("blood pressure=120")
    for bad in ("weight=80", "temperature=abc", "temperature=", "=72", "heart rate=7.2.1"):
        assert not is_stated_number(bad), bad
