"""Ray mode layouts: step time, tokens/s per GPU, weight-sync time, rewards against the local run.

    python benchmarks/ray_layout.py                         # CPU: default model, learners 1 then 2
    python benchmarks/ray_layout.py --learners 1,2 --tiny   # a tiny random Llama: the plumbing, not the model
    python benchmarks/ray_layout.py --device cuda --local-baseline --learners 1 --fsdp 1,2 \\
        --data train.jsonl --prompts 8 --G 4 --tokens 128      # 2 GPUs: 1 rollout + 1 learner GPU, and FSDP over 2

Each learner count runs the same config in a fresh local Ray cluster (1 rollout actor, 1 judge
actor on the CPU; with --device cuda every rollout and learner actor has its own GPU). The baseline
measured in the same invocation is the first run: the single-process local run (one device does
rollout, scoring and learning) with --local-baseline, else the first learner count; every figure
is also given as a ratio to it. SFT warm-start steps always update, so each configuration times real
optimiser steps whatever the rewards are. Per update step: `step_seconds` (the loop's whole step),
`learner_seconds` (the group's update, driver-side wall time), `weight_sync_seconds` (rank 0
all-gathers the full weights, puts them in the object store once, every rollout actor loads them),
tokens/s per GPU (rollout tokens over rollout GPUs, trained tokens over learner GPUs).

--fsdp N,M (learner only, no Ray): the same GRPO update on a fixed batch by one learner process and
by an FSDP group of M ranks (torch.multiprocessing; NCCL on cuda, gloo on CPU), with the loss and
grad norm of each, step seconds, trained tokens/s per rank and the full-weight all-gather time.

Prints one JSON object; writes it to var/benchmarks/ray_layout.json (or --out); docs/performance.md
("Multi-GPU layout (Ray)") records the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.grpo import EXAMPLE  # noqa: E402 - after the path insert, like the other benchmarks


def _median(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return round(statistics.median(vals), 3) if vals else float("nan")


def _config(
    args: argparse.Namespace, model: str, out_dir: str, *, mode: str, learners: int, device: str = "cuda"
) -> Any:
    """The benchmark's training config; `device` is the CUDA device when --device cuda (ignored on CPU)."""
    from training.config import build_config

    values: dict[str, Any] = {
        "mode": mode, "learner_workers": learners, "model": model, "sft_steps": args.sft_steps,
        "steps": args.steps, "prompts_per_step": args.prompts, "num_generations": args.G,
        "max_new_tokens": args.tokens, "beta": args.beta, "reward": "shaped", "save_every": 1000,
        "sft_batch_size": args.prompts, "output_dir": out_dir, "seed": args.seed,
    }  # fmt: skip
    if args.device == "cuda":
        # bf16 everywhere: the Ray rollout actors sample in bf16, so the local baseline does too.
        values.update(device=device, dtype="bfloat16", micro_batch_tokens=16384)
        if mode == "ray":
            values["gpus_per_worker"] = 1
    return build_config("tiny-cpu", values)


def run_once(mode: str, learners: int, model: str, args: argparse.Namespace, examples: list[dict]) -> dict:
    from training.api import run

    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(args, model, tmp, mode=mode, learners=learners)
        t0 = time.perf_counter()
        result = run(cfg, examples=examples)
        wall = time.perf_counter() - t0
    updates = [m for m in result.metrics if not m.get("skipped_update")]
    on_gpu = args.device == "cuda"
    rollout_gpus = cfg.rollout_workers if mode == "ray" else 1
    learner_gpus = learners if mode == "ray" else 1
    out: dict[str, Any] = {
        "mode": mode,
        "learner_processes": learners,
        "gpus": (rollout_gpus + learner_gpus if mode == "ray" else 1) if on_gpu else 0,
        "wall_seconds": round(wall, 1),
        "startup_seconds": round(wall - sum(m["step_seconds"] for m in result.metrics), 1),
        "update_steps": len(updates),
    }
    for phase in ("sft", "grpo"):
        rows = [m for m in updates if m["phase"] == phase]
        if rows:
            keys = ("step_seconds", "learner_seconds", "train_seconds", "weight_sync_seconds", "train_tokens_per_s")
            out[phase] = {k: _median(rows, k) for k in keys if any(k in r for r in rows)}
            out[phase]["train_tokens_per_s_per_learner_gpu"] = round(out[phase]["train_tokens_per_s"] / learner_gpus, 1)
    grpo = [m for m in result.metrics if m["phase"] == "grpo"]  # rollouts of skipped updates count too
    if grpo:
        out.setdefault("grpo", {})
        rollout = _median(grpo, "rollout_tokens_per_s")
        out["grpo"]["rollout_tokens_per_s"] = rollout
        out["grpo"]["rollout_tokens_per_s_per_rollout_gpu"] = round(rollout / rollout_gpus, 1)
    out["train_seconds_per_step"] = [round(m["train_seconds"], 3) for m in updates if "train_seconds" in m]
    out["weight_sync_seconds"] = _median(updates, "weight_sync_seconds") if mode == "ray" else 0.0
    out["reward_mean"] = [round(m["reward_mean"], 4) for m in result.metrics if "reward_mean" in m]
    out["sft_loss"] = [round(m["sft_loss"], 4) for m in result.metrics if "sft_loss" in m]
    return out


# ---- FSDP learner group alone (no Ray): one process vs M ranks on the same batch ------------------


def _fsdp_batch(model: str, examples: list[dict], args: argparse.Namespace) -> tuple[list, Any]:
    """Rollout-shaped samples: each example's real prompt, its reference note as the completion."""
    import torch
    from transformers import AutoTokenizer

    from training.grpo.data import prompt_text
    from training.grpo.rollout import Sample

    tok = AutoTokenizer.from_pretrained(model)
    samples = []
    for group in range(args.prompts):
        ex = examples[group % len(examples)]
        p_ids = tok(prompt_text(tok, ex, few_shot=False, max_tokens=384), add_special_tokens=False)["input_ids"]
        c_ids = tok(json.dumps(ex["reference"]), add_special_tokens=False)["input_ids"][: args.tokens]
        for k in range(args.G):  # the group's completions: the reference cut a little shorter each time
            samples.append(Sample(group, p_ids, c_ids[: max(8, len(c_ids) - 3 * k)], "", "stop"))
    g = torch.Generator().manual_seed(args.seed)
    advantages = torch.randn(len(samples), generator=g)
    return samples, advantages


def _fsdp_rank(rank: int, world: int, init_method: str, model: str, examples: list[dict], args: Any, out: str) -> None:
    import torch

    from training.grpo.learner import Learner
    from training.orchestration.learner_group import ShardedLearner, init_process_group

    on_gpu = args.device == "cuda"
    if on_gpu:
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(1)
    if world > 1:
        init_process_group(rank, world, init_method, "cuda" if on_gpu else "cpu")
    cfg = _config(args, model, tempfile.gettempdir(), mode="local", learners=world, device=f"cuda:{rank}")
    learner = ShardedLearner(cfg, model, model) if world > 1 else Learner(cfg, model, model)
    samples, advantages = _fsdp_batch(model, examples, args)
    rows, gathers = [], []
    for _ in range(args.fsdp_repeats):
        rows.append(learner.update(samples, advantages))
        if on_gpu:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        learner.weights()
        gathers.append(time.perf_counter() - t0)
    if rank == 0:
        torch.save({"rows": rows, "gathers": gathers}, out)
    if world > 1:
        torch.distributed.destroy_process_group()


def _after_warmup(values: list) -> list:
    """All but the first repeat (CUDA/kernel warm-up), unless there is only one."""
    return values[1:] or values


def run_fsdp(world: int, model: str, args: argparse.Namespace, examples: list[dict]) -> dict:
    import torch
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank0.pt")
        init = f"file://{tmp}/rendezvous"
        t0 = time.perf_counter()
        mp.spawn(_fsdp_rank, args=(world, init, model, examples, args, out), nprocs=world, join=True)
        wall = time.perf_counter() - t0
        got = torch.load(out, weights_only=False)
    rows = got["rows"]
    seconds = statistics.median(r["train_seconds"] for r in _after_warmup(rows))
    tokens = rows[0]["train_tokens"]
    return {
        "learner_processes": world,
        "backend": ("nccl" if args.device == "cuda" else "gloo") if world > 1 else "none",
        "wall_seconds": round(wall, 1),
        "loss_first_update": rows[0]["loss"],
        "grad_norm_first_update": rows[0]["grad_norm"],
        "update_seconds_median": round(seconds, 3),
        "train_tokens": tokens,
        "train_tokens_per_s": round(tokens / seconds, 1),
        "train_tokens_per_s_per_rank": round(tokens / seconds / world, 1),
        "weights_all_gather_seconds_median": round(statistics.median(_after_warmup(got["gathers"])), 3),
        "peak_memory_mb": rows[-1].get("peak_memory_mb"),
    }


def _ratios(run: dict, base: dict, phases: tuple[str, ...]) -> dict:
    out = {}
    for phase in phases:
        if phase in run and phase in base:
            ref = base[phase]
            out[phase] = {k: round(v / ref[k], 2) if ref.get(k) else None for k, v in run[phase].items()}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--learners", default="1,2", help="Ray learner process counts ('' for none)")
    p.add_argument("--local-baseline", action="store_true", help="first run: mode=local on one device")
    p.add_argument("--fsdp", default="", help="learner-only FSDP check, process counts, e.g. 1,2")
    p.add_argument("--fsdp-repeats", type=int, default=3)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--data", help="JSONL examples (default: one built-in example, repeated)")
    p.add_argument("--model", help="model directory or GGUF (default: the default model)")
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--G", type=int, default=2)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--sft-steps", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--beta", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="a tiny random Llama instead of the default model")
    p.add_argument("--out", default=str(ROOT / "var" / "benchmarks" / "ray_layout.json"))
    args = p.parse_args()

    from inference.models import resolve_model

    model = str(resolve_model(args.model))  # None: the default model, fetched and converted once
    scratch = tempfile.TemporaryDirectory()
    if args.tiny:
        sys.path.insert(0, str(ROOT / "tests" / "training" / "grpo"))
        from tiny_llama import save_tiny_llama

        model = save_tiny_llama(Path(scratch.name), model)
    if args.device == "cuda":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = True
    if args.data:
        from training.grpo.data import load_examples

        examples = load_examples(args.data)[: args.prompts * max(1, args.steps + args.sft_steps)]
    else:
        examples = [{**EXAMPLE, "key": f"bench-{i}"} for i in range(args.prompts)]
    weights_mb = sum(f.stat().st_size for f in Path(model).glob("*.safetensors")) / 2**20
    report: dict[str, Any] = {"model": "tiny-llama" if args.tiny else model, "weights_mb": round(weights_mb, 1),
                              "settings": vars(args), "runs": [], "fsdp": []}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def flush() -> None:  # after every run: a later failure keeps what was measured
        out.write_text(json.dumps(report, indent=2))

    def layout(mode: str, n: int) -> None:
        run = run_once(mode, n, model, args, examples)
        if report["runs"]:
            run["ratio_to_baseline"] = _ratios(run, report["runs"][0], ("sft", "grpo"))
        report["runs"].append(run)
        flush()
        print(json.dumps(run), flush=True)

    def fsdp(n: int) -> None:
        row = run_fsdp(n, model, args, examples)
        if report["fsdp"]:
            base = report["fsdp"][0]
            keys = ("update_seconds_median", "train_tokens_per_s", "loss_first_update", "grad_norm_first_update")
            row["ratio_to_baseline"] = {k: round(row[k] / base[k], 3) for k in keys if base.get(k)}
        report["fsdp"].append(row)
        flush()
        print(json.dumps(row), flush=True)

    # Cheapest first, so a run cut short by its time limit still has the baseline and the FSDP check.
    if args.local_baseline:
        layout("local", 1)
    for n in [int(n) for n in args.fsdp.split(",") if n.strip()]:
        fsdp(n)
    for n in [int(n) for n in args.learners.split(",") if n.strip()]:
        layout("ray", n)
    print(json.dumps(report, indent=2))
    scratch.cleanup()


if __name__ == "__main__":
    main()
