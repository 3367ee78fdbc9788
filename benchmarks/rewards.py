"""Reward throughput: how many completions per second the deterministic judges score on CPU.

    .venv/bin/python benchmarks/rewards.py [--n 200]

GRPO scores group_size x batch completions per step, so the reward must not be the bottleneck.
Baseline measured in the same run: the format check alone (parse only). Prints figures and ratios.
"""

from __future__ import annotations

import argparse
import json
import time

from training.rewards import FactJudge, ReferenceJudge, format_reward, reward
from training.rewards.text import stem_sequence
from training.synthesis import OfflineRenderer, load_catalog, make_example, sample_case


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    catalog, renderer = load_catalog(), OfflineRenderer()
    examples = []
    for i in range(args.n):
        case = sample_case(catalog, 500_000 + i)
        examples.append(make_example(case, renderer.render(case), key=str(i)))
    completions = [json.dumps(ex["reference"]) for ex in examples]

    def rate(fn) -> float:
        stem_sequence.cache_clear()
        began = time.perf_counter()
        for ex, completion in zip(examples, completions, strict=True):
            fn(ex, completion)
        return len(examples) / (time.perf_counter() - began)

    base = rate(lambda ex, c: format_reward(c))
    fact = rate(lambda ex, c: reward(ex["dialogue"], c, ex["reference"], FactJudge(ex["facts"])))
    ref = rate(lambda ex, c: reward(ex["dialogue"], c, ex["reference"], ReferenceJudge()))
    print(f"completions: {args.n}")
    print(f"format only (baseline): {base:8.1f} /s")
    print(f"format + FactJudge:     {fact:8.1f} /s  ({fact / base:.3f}x baseline)")
    print(f"format + ReferenceJudge:{ref:8.1f} /s  ({ref / base:.3f}x baseline)")


if __name__ == "__main__":
    main()
