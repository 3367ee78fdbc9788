"""The gap statistics: vital-sign detection in notes and the shape figures of a corpus."""

from __future__ import annotations

from training.evaluation.datasets import load_examples
from training.synthesis.gap import corpus_stats, states_vitals, vocabulary


def test_states_vitals_needs_a_value_or_a_verdict_not_a_history_item():
    assert states_vitals("VITALS\nBlood Pressure: 128/72 mmHg")
    assert states_vitals({"S": "", "O": "Vital signs are within normal limits.", "A": "", "P": ""})
    assert states_vitals("• Blood Pressure: Elevated.")
    assert not states_vitals("He has a history of high blood pressure, diabetes and depression.")
    assert not states_vitals("Continue his blood pressure medication.")


def test_aci_bench_train_figures():
    real = load_examples("aci-bench:train")
    stats = corpus_stats(real, reference_vocab=vocabulary(real), count_tokens=lambda text: len(text.split()))
    assert stats["visits"] == 67
    assert 0.3 <= stats["notes_with_vitals"] <= 0.45  # 25 of 67
    low, median, high = stats["words"]
    assert low < median < high and 900 < median < 1300
    assert stats["tokens"][1] > median  # the speaker tags count as tokens too
    assert stats["unlabeled_turns"] == 0.0 and stats["reference_types_covered"] == 1.0
    assert 1.0 < stats["fillers_per_100_words"] < 3.0
