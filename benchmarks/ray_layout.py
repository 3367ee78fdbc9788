"""Ray mode on CPU: step time and weight-sync time with 1 vs N learner processes (FSDP over gloo).

    python benchmarks/ray_layout.py                         # default model, learners 1 then 2, 2 SFT + 2 GRPO steps
    python benchmarks/ray_layout.py --learners 1,2 --tiny   # a tiny random Llama: the plumbing, not the model

Each learner count runs the same config in a fresh local Ray cluster (1 rollout actor, 1 judge
actor); the 1-learner run measured in the same invocation is the baseline, and every figure is
also given as a ratio to it. SFT warm-start steps always update, so each configuration times real
optimiser steps whatever the rewards are. Per update step: `step_seconds` (the loop's whole step),
`learner_seconds` (the group's update, driver-side wall time), `weight_sync_seconds` (rank 0
all-gathers the full weights, puts them in the object store once, every rollout actor loads them).
Prints one JSON object; writes it to var/benchmarks/ray_layout.json; docs/performance.md
("Multi-GPU layout (Ray)") records the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.grpo import EXAMPLE  # noqa: E402 - after the path insert, like the other benchmarks


def _median(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return round(statistics.median(vals), 3) if vals else float("nan")


def run_once(learners: int, model: str, args: argparse.Namespace, examples: list[dict]) -> dict:
    from training.config import build_config
    from training.orchestration.ray_mode import train_on_ray

    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config("tiny-cpu", {
            "mode": "ray", "learner_workers": learners, "model": model, "sft_steps": args.sft_steps,
            "steps": args.steps, "prompts_per_step": args.prompts, "num_generations": args.G,
            "max_new_tokens": args.tokens, "beta": args.beta, "reward": "shaped", "save_every": 1000,
            "sft_batch_size": args.prompts, "output_dir": tmp,
        })  # fmt: skip
        t0 = time.perf_counter()
        result = train_on_ray(cfg, examples)
        wall = time.perf_counter() - t0
    updates = [m for m in result.metrics if not m.get("skipped_update")]
    out = {
        "learner_processes": learners,
        "wall_seconds": round(wall, 1),
        "startup_seconds": round(wall - sum(m["step_seconds"] for m in result.metrics), 1),
        "update_steps": len(updates),
    }
    for phase in ("sft", "grpo"):
        rows = [m for m in updates if m["phase"] == phase]
        if rows:
            out[phase] = {k: _median(rows, k) for k in
                          ("step_seconds", "learner_seconds", "train_seconds", "weight_sync_seconds",
                           "train_tokens_per_s")}  # fmt: skip
    out["weight_sync_seconds"] = _median(updates, "weight_sync_seconds")
    out["reward_mean"] = [round(m["reward_mean"], 4) for m in result.metrics if "reward_mean" in m]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--learners", default="1,2", help="learner process counts; the first is the baseline")
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--G", type=int, default=2)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--sft-steps", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--beta", type=float, default=0.0)
    p.add_argument("--tiny", action="store_true", help="a tiny random Llama instead of the default model")
    args = p.parse_args()

    from inference.models import fetch_default

    model = str(fetch_default())
    scratch = tempfile.TemporaryDirectory()
    if args.tiny:
        sys.path.insert(0, str(ROOT / "tests" / "training" / "grpo"))
        from tiny_llama import save_tiny_llama

        model = save_tiny_llama(Path(scratch.name), model)
    weights_mb = sum(f.stat().st_size for f in Path(model).glob("*.safetensors")) / 2**20
    examples = [{**EXAMPLE, "key": f"bench-{i}"} for i in range(args.prompts)]
    runs = [run_once(int(n), model, args, examples) for n in args.learners.split(",")]
    base = runs[0]
    for run in runs[1:]:
        run["ratio_to_baseline"] = {
            phase: {k: round(v / base[phase][k], 2) if base[phase][k] else None for k, v in run[phase].items()}
            for phase in ("sft", "grpo")
            if phase in run and phase in base
        }
    report = {"model": "tiny-llama" if args.tiny else model, "weights_mb": round(weights_mb, 1),
              "settings": vars(args), "runs": runs}  # fmt: skip
    out = ROOT / "var" / "benchmarks" / "ray_layout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    scratch.cleanup()


if __name__ == "__main__":
    main()
