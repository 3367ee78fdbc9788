"""FactJudge: recall of gold facts, penalties for unsupported and misplaced content."""

from __future__ import annotations

import pytest

from training.rewards import FactJudge, fact_present
from training.rewards.facts import Fact
from training.rewards.text import drugs, numbers

from .cases import BRONCHITIS, HYPERTENSION


def judge_note(example, note):
    return FactJudge(example["facts"]).judge_note(example["dialogue"], note, example["reference"])


def test_reference_note_scores_full_marks():
    for example in (BRONCHITIS, HYPERTENSION):
        verdicts = judge_note(example, example["reference"])
        assert {k: v.score for k, v in verdicts.items()} == {"S": 1.0, "O": 1.0, "A": 1.0, "P": 1.0}


def test_numbers_match_digits_and_words():
    assert {38.2, 96.0} <= numbers("temperature thirty-eight point two, oxygen ninety-six percent")
    assert {162.0, 98.0} <= numbers("BP 162/98")
    fact = Fact.from_dict({"section": "O", "kind": "vital", "text": "BP 162/98", "value": "162/98"})
    assert fact_present(fact, "Blood pressure one hundred sixty-two over ninety-eight.")
    assert not fact_present(fact, "Blood pressure 162/90.")


def test_lay_surface_form_counts_as_the_fact():
    note = {**BRONCHITIS["reference"], "A": "Chest cold."}
    assert judge_note(BRONCHITIS, note)["A"].score == 1.0


def test_drug_fact_needs_the_drug_and_the_dose():
    fact = Fact.from_dict(HYPERTENSION["facts"][6])  # amlodipine 10 mg
    assert fact_present(fact, "Increase amlodipine to 10 mg.")
    assert not fact_present(fact, "Increase lisinopril to 10 mg.")
    assert not fact_present(fact, "Increase amlodipine to 20 mg.")


def test_missing_fact_lowers_recall_and_says_which():
    note = {**HYPERTENSION["reference"], "O": "HR 78 bpm."}
    verdict = judge_note(HYPERTENSION, note)["O"]
    assert verdict.score == pytest.approx(0.5)
    assert "BP 162/98 mmHg" in verdict.details["missed"]


def test_unsupported_drug_and_number_are_penalised():
    note = {**HYPERTENSION["reference"], "P": HYPERTENSION["reference"]["P"] + " Start metoprolol 25 mg."}
    verdict = judge_note(HYPERTENSION, note)["P"]
    assert verdict.details["unsupported"] == ["number 25", "drug metoprolol"]
    assert verdict.score == pytest.approx(1.0 - 2 * 0.2)
    assert "metoprolol" in drugs("metoprolol") and "lisinopril" in drugs("Lisinopril 10mg")


def test_unsupported_diagnosis_is_penalised():
    note = {**BRONCHITIS["reference"], "A": "Acute bronchitis. Possible pneumonia."}
    verdict = judge_note(BRONCHITIS, note)["A"]
    assert verdict.details["unsupported"] == ["diagnosis pneumonia"]
    assert verdict.score == pytest.approx(0.8)


def test_fact_in_wrong_section_is_penalised_where_it_landed():
    ref = HYPERTENSION["reference"]
    note = {**ref, "S": ref["S"] + " BP 162/98 mmHg.", "O": "HR 78 bpm."}
    verdicts = judge_note(HYPERTENSION, note)
    assert verdicts["S"].details["misplaced"] == ["BP 162/98 mmHg"]
    assert verdicts["S"].score == pytest.approx(1.0 - 0.15)
    assert verdicts["O"].score == pytest.approx(0.5)


def test_near_empty_section_scores_zero():
    verdict = FactJudge(BRONCHITIS["facts"]).judge(BRONCHITIS["dialogue"], "P", "Plan.", None)
    assert verdict.score == 0.0
    assert "empty" in verdict.reason
    assert (verdict.details["gold"], verdict.details["matched"]) == (3, 0)  # recall stays countable


def test_section_without_gold_facts_scores_on_content():
    judge = FactJudge([f for f in BRONCHITIS["facts"] if f["section"] != "A"])
    assert judge.judge(BRONCHITIS["dialogue"], "A", "Acute bronchitis.", "Acute bronchitis.").score == 1.0
    assert judge.judge(BRONCHITIS["dialogue"], "A", "", "Acute bronchitis.").score == 0.0


def test_penalties_are_capped():
    judge = FactJudge(BRONCHITIS["facts"])
    text = BRONCHITIS["reference"]["P"] + " Add warfarin 5 mg, digoxin 0.25 mg, lithium 300 mg, 17, 23, 41."
    assert judge.judge(BRONCHITIS["dialogue"], "P", text, None).score == pytest.approx(0.4)


def test_bad_fact_section_is_a_clear_error():
    with pytest.raises(ValueError, match="expected one of S, O, A, P"):
        FactJudge([{"section": "X", "kind": "symptom", "text": "cough"}])
