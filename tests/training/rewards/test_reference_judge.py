"""ReferenceJudge: overlap with a clinician's text plus number/drug agreement."""

from __future__ import annotations

import pytest

from training.rewards import ReferenceJudge
from training.rewards.reference import rouge_l_f1, token_f1

SIGNED = "Increase amlodipine to 10 mg daily. Renal function blood test. Follow-up in 4 weeks."


def test_identical_text_scores_one():
    assert ReferenceJudge().judge("", "P", SIGNED, SIGNED).score == pytest.approx(1.0)


def test_wrong_dose_scores_below_right_dose():
    judge = ReferenceJudge()
    right = judge.judge("", "P", "Amlodipine 10 mg daily, kidney blood test, review in 4 weeks.", SIGNED)
    wrong = judge.judge("", "P", "Amlodipine 20 mg daily, kidney blood test, review in 4 weeks.", SIGNED)
    assert right.score > wrong.score
    assert wrong.details["numbers"] < 1.0


def test_unrelated_and_empty_text_score_low():
    judge = ReferenceJudge()
    assert judge.judge("", "P", "Knee x-ray and physiotherapy.", SIGNED).score < 0.35
    assert judge.judge("", "P", "", SIGNED).score == 0.0


def test_missing_reference_is_neutral_not_scored():
    verdict = ReferenceJudge().judge("", "O", "BP 120/80", None)
    assert verdict.score == 0.5 and verdict.details["scored"] is False


def test_overlap_measures():
    assert rouge_l_f1(["a", "b", "c"], ["a", "c"]) == pytest.approx(0.8)
    assert token_f1(["a", "b"], ["c"]) == 0.0
