"""Grounding on real notes: detection table for invented vitals, drugs and diagnoses in clinicians' notes.

    .venv/bin/python benchmarks/perturbation_real.py [--dataset aci-bench:valid] [--dataset aci-bench:train]

For each dataset: the perturbation table (training/rewards/perturb_real.py: how often the full
reward with judge=grounded, and the grounding alone, drop for an invention and hold for a reordering),
the clinicians' own ungrounded rates (the calibration of the evaluation's measure), and the full
reward's cost per note on CPU.
"""

from __future__ import annotations

import argparse
import json
import time

from training.evaluation import load_examples
from training.evaluation.metrics import reference_predictions, score_predictions
from training.rewards import GroundedReferenceJudge, reward
from training.rewards.perturb_real import run_real_suite


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", action="append", help="repeatable; default aci-bench:valid")
    args = parser.parse_args()
    for dataset in args.dataset or ["aci-bench:valid"]:
        examples = load_examples(dataset)
        began = time.perf_counter()
        report = run_real_suite(examples)
        suite_s = time.perf_counter() - began
        print(f"## {dataset}\n\n{report.markdown()}\n")
        summary = score_predictions(examples, reference_predictions(examples))["summary"]
        rates = {k: summary[k] for k in ("ungrounded_values", "ungrounded_drugs", "ungrounded_diagnoses")}
        print(
            "Clinicians' own notes: "
            + ", ".join(
                f"{k} {100 * v['mean']:.1f} % [{100 * v['low']:.1f}, {100 * v['high']:.1f}]" for k, v in rates.items()
            )
            + f"; notes with any ungrounded item {100 * summary['ungrounded_notes']['mean']:.0f} %."
        )
        judge = GroundedReferenceJudge()
        # every section changed, so no text cache helps: the cost of scoring a fresh rollout
        notes = [json.dumps({k: f"{v} Seen {i}." for k, v in ex["reference"].items()}) for i, ex in enumerate(examples)]
        began = time.perf_counter()
        for example, note in zip(examples, notes, strict=True):
            reward(example["dialogue"], note, example["reference"], judge)
        per_note = (time.perf_counter() - began) / len(examples)
        print(f"Full reward (judge=grounded): {1000 * per_note:.0f} ms per unseen note; suite {suite_s:.1f} s.\n")


if __name__ == "__main__":
    main()
