"""Grounding on real ACI-Bench clinician notes: inventions lower the full reward, reordering does not."""

from __future__ import annotations

import pytest

from training.evaluation import load_examples
from training.rewards.perturb_real import HARMFUL, KEPT, real_perturbations, run_real_suite


@pytest.fixture(scope="module")
def report():
    return run_real_suite(load_examples("aci-bench:valid"))


def test_every_real_perturbation_is_built_from_the_clinician_note():
    example = load_examples("aci-bench:valid", limit=1)[0]
    kinds = real_perturbations(example)
    assert set(kinds) == {*HARMFUL, *KEPT}
    assert kinds["vital_bp"]["O"].endswith("BP 182/110 mmHg.")
    assert kinds["vital_bp"]["S"] == example["reference"]["S"]
    assert "mg" in kinds["drug_dose"]["P"].splitlines()[-1]


def test_inventions_lower_reward_and_grounding_on_real_notes(report):
    print("\n" + report.markdown())
    assert report.examples == 20
    for kind in HARMFUL:
        assert report.rate(report.reward_lower, kind) == 1.0, (kind, report.misses)
        assert report.rate(report.grounding_lower, kind) == 1.0, (kind, report.misses)
        assert report.mean(report.reward_drop, kind) <= -0.2


def test_reordering_and_whitespace_keep_the_reward(report):
    for kind in KEPT:
        assert report.rate(report.reward_lower, kind) == 1.0, (kind, report.misses)
        assert report.rate(report.grounding_lower, kind) == 1.0, (kind, report.misses)
