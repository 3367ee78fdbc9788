"""The perturbation suite: the fact judge must prefer correct notes (target >= 95 %) and keep paraphrases."""

from __future__ import annotations

import random

from training.rewards import FactJudge, ReferenceJudge
from training.rewards.perturb import HARMFUL, perturbations, run_suite

from .cases import EXAMPLES


def _examples():
    """Synthetic holdout-style cases from the synthesis package's generator, plus the hand-written ones."""
    from training.synthesis import OfflineRenderer, load_catalog, make_example, sample_case

    catalog, renderer = load_catalog(), OfflineRenderer()
    out = list(EXAMPLES)
    for seed in range(12):
        case = sample_case(catalog, 700_000 + seed)
        out.append(make_example(case, renderer.render(case), key=f"perturb-{seed}"))
    return out


def test_every_perturbation_kind_is_built():
    kinds = perturbations(EXAMPLES[0], random.Random(0))
    assert set(kinds) == {*HARMFUL, "paraphrase"}
    assert kinds["empty_section"] != EXAMPLES[0]["reference"]


def test_fact_judge_prefers_correct_notes():
    examples = _examples()
    assert len(examples) == 14 and all(ex["facts"] for ex in examples)
    report = run_suite(examples, lambda ex: FactJudge(ex["facts"]), name="fact")
    assert report.harmful_rate >= 0.95, report.markdown()
    assert report.paraphrase_rate >= 0.9, report.failures
    for kind in HARMFUL:
        assert report.rate(kind) >= 0.9, (kind, report.failures)


def test_reference_judge_catches_damage():
    report = run_suite(EXAMPLES, lambda ex: ReferenceJudge(), name="reference")
    assert report.harmful_rate >= 0.9, report.markdown()
