"""Grounding: spoken numbers normalised, what the dialogue states is supported, inventions are penalised."""

from __future__ import annotations

import json

import pytest

from training.config import TrainConfig
from training.grpo.rewarding import Scorer
from training.rewards import GroundedReferenceJudge, GroundingJudge, reward, ungrounded
from training.rewards.numbers_norm import clinical_values, normalise_spoken_numbers, spoken_values


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("fifty-two", "52"),
        ("one fifty two over ninety four", "152/94"),
        ("a hundred and eight", "108"),
        ("one oh five", "105"),
        ("thirty-eight point six", "38.6"),
        ("two and a half weeks", "2.5 weeks"),
        ("twenty milligrams", "20 mg"),
        ("ninety-six percent", "96 %"),
        ("a three out of six murmur", "a 3/6 murmur"),
        ("twenty nineteen", "2019"),
        ("two three", "2 3"),
        ("twelve hundred", "1200"),
    ],
)
def test_spoken_numbers_become_digits(spoken, written):
    assert normalise_spoken_numbers(spoken) == written


def test_list_enumerators_are_not_values():
    assert spoken_values("okay , number one , your diabetes . number two , the knee") == frozenset()
    assert spoken_values("about number two , it hurts at a seven") == frozenset({7.0})


def test_dates_ages_names_and_scales_are_not_clinical_values():
    note = "58-year-old seen on 03/04/2021 and March 3rd, 2020 after COVID-19; A1c 7.2; pain 7/10; 2nd toe."
    assert clinical_values(note) == (7.2, 7.0)
    assert clinical_values("1. Hypertension.\n2. BP 152/94, 50,000 units.") == (152.0, 94.0, 50000.0)


def test_note_items_grounded_by_spoken_numbers_brand_names_and_lay_terms():
    dialogue = [
        {"speaker": "doctor", "text": "your blood pressure is one fifty two over ninety four today ."},
        {"speaker": "patient", "text": "i still take the lasix forty milligrams , and my sugar is high ."},
    ]
    note = "BP 152/94. Continue furosemide 40 mg daily. Hypertension. Diabetes."
    found = ungrounded(note, dialogue)
    assert found.count == 0 and (found.values, found.drugs, found.diagnoses) == (3, 1, 2)
    invented = ungrounded(note + " SpO2 88%. Start apixaban 5 mg. Atrial fibrillation.", dialogue)
    assert invented.items == ["number 5", "number 88", "drug apixaban", "diagnosis fibrillation"]


def test_grounding_judge_penalises_each_invented_item_and_needs_no_reference():
    judge = GroundingJudge()
    dialogue = "doctor: temperature is thirty-eight point two"
    assert judge.judge(dialogue, "O", "Temp 38.2 C.").score == 1.0
    verdict = judge.judge(dialogue, "O", "Temp 38.2 C. BP 182/110.")
    assert verdict.score == 0.5 and "number 182" in verdict.reason
    assert judge.judge(dialogue, "O", "BP 182/110, HR 130, RR 30.").score == 0.0


def test_full_reward_drops_for_an_invented_vital_but_not_for_reordered_lines():
    dialogue = [{"speaker": "doctor", "text": "you have had a cough for five days . your lungs sound clear ."}]
    reference = {"S": "Cough for 5 days.\nNo fever.", "O": "Lungs clear.", "A": "Viral cough.", "P": "Rest and fluids."}
    judge = GroundedReferenceJudge()
    correct = reward(dialogue, json.dumps(reference), reference, judge)
    reordered = reward(dialogue, json.dumps({**reference, "S": "No fever.\nCough for 5 days."}), reference, judge)
    invented = reward(dialogue, json.dumps({**reference, "O": "Lungs clear. BP 182/110."}), reference, judge)
    assert correct.total == pytest.approx(5.0)
    assert reordered.total == pytest.approx(correct.total)
    assert invented.total < correct.total - 0.4
    assert invented.details["O"]["ungrounded"] == ["number 110", "number 182"]


def test_grounded_judge_without_reference_still_penalises_inventions():
    judge = GroundedReferenceJudge()
    assert judge.judge("doctor: hello", "O", "Looks well.", None).score == 0.5
    assert judge.judge("doctor: hello", "O", "BP 182/110.", None).score == 0.25


def test_grpo_scorer_uses_the_grounded_judge():
    cfg = TrainConfig(reward="full", judge="grounded")
    scorer = Scorer(cfg)
    example = {
        "dialogue": [{"speaker": "doctor", "text": "a cough for five days"}],
        "reference": {"S": "Cough for 5 days.", "O": "Lungs clear.", "A": "Viral cough.", "P": "Rest and fluids."},
        "facts": [{"section": "S", "kind": "symptom", "text": "cough"}],
    }
    assert isinstance(scorer.judge_for(example), GroundedReferenceJudge)
    good = scorer.score(example, json.dumps(example["reference"]))
    bad = scorer.score(example, json.dumps({**example["reference"], "P": "Rest and fluids. Start apixaban 5 mg."}))
    assert good["total"] == pytest.approx(5.0) and bad["P"] < good["P"]


def test_full_reward_scores_a_looping_section_below_the_same_section_that_stops():
    dialogue = [{"speaker": "doctor", "text": "come back in two weeks and we will check your knee again ."}]
    plan = "Follow up in 2 weeks to recheck the knee."
    reference = {"S": "Knee pain.", "O": "Knee swollen.", "A": "Knee strain.", "P": plan}
    judge = GroundedReferenceJudge()
    stops = reward(dialogue, json.dumps(reference), reference, judge)
    looping_plan = plan + " " + "We will recheck the knee in 2 weeks at the clinic. " * 6
    loops = reward(dialogue, json.dumps({**reference, "P": looping_plan}), reference, judge)
    assert loops.details["P"]["repeated"] > 0.6
    assert stops.details["P"]["repeated"] == 0.0
    assert loops.P < 0.3 * stops.P
    assert loops.total < stops.total


def test_grounding_doctests():
    import doctest

    from training.rewards import grounding

    assert doctest.testmod(grounding).failed == 0
