"""The proof run (issue 9): SFT warm start, GRPO against TRL, a wall-clock training budget, evaluation, figures.

One command, in stages that each run in their own process (a failing or slow stage costs only itself) and
write their result to `<work>/stage-<name>.json` as soon as they finish; `<out>` is refreshed after every
stage with results.json, summary.md, the per-step metrics and the figures. CPU smoke test (minutes):

    .venv/bin/python benchmarks/proof_run.py --tiny --data var/proof/synth24k.jsonl --out var/proof/smoke

The H100 run (files copied to /tmp/devstage/files first; docs/results.md "Proof run" has the calls):

    python3 benchmarks/proof_run.py --model /tmp/devstage/files/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --data /tmp/devstage/files/synth24k.jsonl.xz --aci-dir /tmp/devstage/files \\
        --work /tmp/proof/work --out /tmp/proof/out --deadline-s 1260

Stages: prepare (convert the model, split the data), sft (warm start: the strict format reward gives no
signal on the base model), trl (TRL GRPOTrainer, N steps from the warm start), ours (our loop from the same
warm start, same settings; its first N steps are the comparison, then it trains on until the budget),
eval:* (unconstrained greedy decoding on the synthetic holdout and aci-bench valid; base, base + few-shot,
base + constrained, SFT only, trained), plots.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.schema import SECTION_KEYS  # noqa: E402  (after the repo root is on sys.path)

EVAL_ROWS = {  # row -> (model stage, few_shot, constrained); in the order they run (most important first)
    "trained": ("ours", False, False),
    "base": ("prepare", False, False),
    "base_constrained": ("prepare", False, True),
    "base_fewshot": ("prepare", True, False),
    "sft": ("sft", False, False),
}
ROW_LABELS = {
    "base": "base",
    "base_fewshot": "base + few-shot prompt",
    "base_constrained": "base + constrained decoding",
    "sft": "SFT warm start only",
    "trained": "SFT + GRPO (trained)",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default", help="base model: GGUF file, HF directory or 'default'")
    p.add_argument("--data", required=True, help="synthetic examples, JSONL or JSONL.xz (splits train/holdout)")
    p.add_argument("--aci-dir", default=None, help="folder holding aci-bench valid*.csv/json (else the default)")
    p.add_argument("--work", default="var/proof/work")
    p.add_argument("--out", default="var/proof/out")
    p.add_argument("--stage", default=None, help="run one stage in this process (used by the parent)")
    p.add_argument("--only", default=None, help="comma list of stages to run (default: all)")
    p.add_argument("--deadline-s", type=float, default=840.0, help="wall-clock limit for the whole run")
    p.add_argument("--budget-s", type=float, default=150.0, help="our GRPO training budget (wall clock)")
    p.add_argument("--eval-reserve-s", type=float, default=240.0, help="kept for evaluation when budgeting")
    p.add_argument("--sft-steps", type=int, default=250)
    p.add_argument("--sft-batch", type=int, default=16)
    p.add_argument("--sft-lr", type=float, default=5e-5)
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--G", type=int, default=4)
    p.add_argument("--tokens", type=int, default=384, help="max new tokens in rollouts (gold notes: p99 353)")
    p.add_argument("--max-prompt-tokens", type=int, default=1280)
    p.add_argument("--lr", type=float, default=3e-6)
    p.add_argument("--compare-steps", type=int, default=8)
    p.add_argument("--trl-static-steps", type=int, default=0, help="also TRL with a static cache (if time)")
    p.add_argument("--no-static-cache", action="store_true", help="our rollouts without the compiled decode")
    p.add_argument("--eval-n", type=int, default=1000)
    p.add_argument("--aci-n", type=int, default=0, help="aci-bench valid dialogues (0 = all)")
    p.add_argument("--eval-tokens", type=int, default=400)
    p.add_argument("--eval-batch", type=int, default=160, help="holdout batch (rows share the GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="CPU smoke-test sizes")
    args = p.parse_args(argv)
    if args.tiny:
        args.sft_steps, args.sft_batch, args.prompts, args.G, args.tokens = 2, 2, 2, 2, 24
        args.compare_steps, args.budget_s, args.eval_n, args.aci_n = 2, 60.0, 4, 2
        args.eval_tokens, args.eval_batch, args.eval_reserve_s, args.max_prompt_tokens = 32, 4, 0.0, 512
        args.deadline_s = max(args.deadline_s, 3600.0)
    return args


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


# ---- stages (each runs in a child process) ------------------------------------------------------


def stage_prepare(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    import platform

    import torch
    import transformers

    from inference.models import convert_gguf, resolve_model

    t0 = time.perf_counter()
    if a.model.endswith(".gguf"):
        model_dir = convert_gguf(Path(a.model).resolve(), work / "base-model")
    else:
        model_dir = Path(resolve_model(a.model))
    opener = lzma.open if a.data.endswith(".xz") else open
    n = {"train": 0, "holdout": 0}
    with (
        opener(a.data, "rt", encoding="utf-8") as src,
        (work / "train.jsonl").open("w") as tr,
        (work / "holdout.jsonl").open("w") as ho,
    ):
        for line in src:
            split = json.loads(line).get("split")
            if split == "train":
                tr.write(line)
                n["train"] += 1
            elif split == "holdout" and n["holdout"] < a.eval_n:
                ho.write(line)
                n["holdout"] += 1
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    try:
        import trl

        versions["trl"] = trl.__version__
    except ImportError as exc:
        versions["trl"] = f"missing: {exc}"
    return {
        "model_dir": str(model_dir),
        "examples": n,
        "versions": versions,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "seconds": time.perf_counter() - t0,
    }


def _base_overrides(a: argparse.Namespace) -> dict[str, Any]:
    return {
        "max_prompt_tokens": a.max_prompt_tokens, "seed": a.seed, "save_every": 10**6, "micro_batch_tokens": 16384,
        "reward": "full", "judge": "fact", "strict_format": True, "beta": 0.0, "learning_rate": a.lr,
        # fp32 master weights: at lr 3e-6 an AdamW step is ~1e-4 of a typical weight, below bf16's resolution
        # (2^-8 relative), so pure-bf16 parameters would round most GRPO updates away. Matmuls run in TF32.
        "dtype": "float32",
    }  # fmt: skip


def _tf32() -> None:
    import torch

    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True


def stage_sft(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    from training.api import run
    from training.config import build_config
    from training.grpo.data import load_examples

    _tf32()
    prep = _read(work / "stage-prepare.json") or {}
    shutil.rmtree(work / "sft", ignore_errors=True)
    cfg = build_config("recipe", {
        **_base_overrides(a), "kind": "sft", "steps": a.sft_steps, "sft_batch_size": a.sft_batch,
        "sft_learning_rate": a.sft_lr, "model": prep["model_dir"], "output_dir": str(work / "sft"),
        "micro_batch_tokens": 8192,  # shares the GPU with two evaluation rows
    })  # fmt: skip
    t0 = time.perf_counter()
    result = run(cfg, examples=load_examples(work / "train.jsonl"))
    sft = [m for m in result.metrics if m["phase"] == "sft"]
    return {
        "checkpoint": result.last_checkpoint,
        "steps": len(sft),
        "seconds": time.perf_counter() - t0,
        "loss_first": sft[0]["sft_loss"] if sft else None,
        "loss_last10": statistics.mean(m["sft_loss"] for m in sft[-10:]) if sft else None,
        "step_seconds_median": statistics.median(m["step_seconds"] for m in sft) if sft else None,
        "loss_curve": [round(m["sft_loss"], 4) for m in sft],
        "config": cfg.to_dict(),
    }


def stage_trl(a: argparse.Namespace, work: Path, *, static: bool = False) -> dict[str, Any]:
    from benchmarks.proof_trl import run_trl

    _tf32()
    sft = _read(work / "stage-sft.json") or {}
    return run_trl(
        model_dir=sft["checkpoint"], train_file=str(work / "train.jsonl"), work=work,
        steps=a.trl_static_steps if static else a.compare_steps, prompts=a.prompts, G=a.G, tokens=a.tokens,
        max_prompt_tokens=a.max_prompt_tokens, learning_rate=a.lr, seed=a.seed,
        cache_implementation="static" if static else None, suffix="_static" if static else "",
    )  # fmt: skip


class _FallbackRollout:
    """Our rollout, but if the compiled static-cache decode fails once, carry on with the dynamic cache."""

    def __init__(self, rollout: Any) -> None:
        self.inner = rollout
        self.fell_back: str | None = None

    @property
    def stats(self) -> dict[str, float]:
        return self.inner.stats

    def generate(self, prompts: list[str], **kw: Any) -> Any:
        try:
            return self.inner.generate(prompts, **kw)
        except Exception as exc:  # noqa: BLE001 - any compile/graph failure: fall back, and say so
            if not self.inner.backend.static_cache:
                raise
            self.fell_back = f"{type(exc).__name__}: {str(exc)[:300]}"
            log(f"static-cache rollout failed ({self.fell_back}); continuing with the dynamic cache")
            self.inner.backend.static_cache = False
            return self.inner.generate(prompts, **kw)


def stage_ours(a: argparse.Namespace, work: Path, budget_s: float) -> dict[str, Any]:
    import torch

    from training.api import Hooks, run
    from training.config import build_config
    from training.grpo.data import load_examples
    from training.grpo.loop import LocalExecutor

    _tf32()
    with contextlib.suppress(AttributeError):  # one rollout shape, but never fall back to eager silently
        torch._dynamo.config.recompile_limit = 64
    sft = _read(work / "stage-sft.json") or {}
    shutil.rmtree(work / "grpo", ignore_errors=True)
    cfg = build_config("recipe", {
        **_base_overrides(a), "kind": "grpo", "steps": 100000, "prompts_per_step": a.prompts,
        "num_generations": a.G, "max_new_tokens": a.tokens, "model": sft["checkpoint"],
        "output_dir": str(work / "grpo"), "rollout_static_cache": not a.no_static_cache,
    })  # fmt: skip
    holder: dict[str, Any] = {}

    def factory(c: Any, policy: str, ref: str) -> LocalExecutor:
        ex = LocalExecutor(c, policy, ref)
        ex.rollout = _FallbackRollout(ex.rollout)  # type: ignore[assignment]
        holder["rollout"] = ex.rollout
        return ex

    began = time.perf_counter()
    metrics_file = work / "ours_metrics.jsonl"
    metrics_file.unlink(missing_ok=True)

    def on_step(step: int, m: dict[str, Any]) -> None:
        row = {k: v for k, v in m.items() if isinstance(v, int | float | str) and k != "sample"}
        row["elapsed_s"] = time.perf_counter() - began
        with metrics_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if step == 1 or step % 5 == 0:
            log(
                f"ours step {step}: reward {m['reward_mean']:.3f} format {m['format_valid']:.2f} "
                f"len {m['completion_length']:.0f} {m['step_seconds']:.1f}s "
                f"rollout {m['rollout_tokens_per_s']:.0f} tok/s"
            )

    hooks = Hooks(on_step=on_step, should_stop=lambda: time.perf_counter() - began > budget_s)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = run(cfg, hooks, examples=load_examples(work / "train.jsonl"), executor_factory=factory)
    steps = [m for m in result.metrics if m["phase"] == "grpo"]
    n = a.compare_steps
    first = steps[:n]
    later = first[1:] or first
    med = lambda rows, key: statistics.median([r.get(key, 0.0) for r in rows]) if rows else None  # noqa: E731
    return {
        "checkpoint": result.last_checkpoint,
        "state": result.state,
        "steps_done": len(steps),
        "budget_s": budget_s,
        "seconds": time.perf_counter() - began,
        "static_cache": not a.no_static_cache,
        "fell_back": holder["rollout"].fell_back if holder else None,
        "first_step_seconds": steps[0]["step_seconds"] if steps else None,
        "compare": {
            "steps": len(first),
            "step_seconds_median_after_first": med(later, "step_seconds"),
            "rollout_seconds_median_after_first": med(later, "rollout_seconds"),
            "rollout_tokens_per_s_median": med(later, "rollout_tokens_per_s"),
            "completion_tokens_per_step_s_median": statistics.median(
                [r["rollout_tokens"] / r["step_seconds"] for r in later]
            )
            if later
            else None,  # fmt: skip
            "skipped_updates": sum(int(r.get("skipped_update", 0)) for r in first),
            "train_seconds_median": med(later, "train_seconds"),
            "reward": [r["reward_mean"] for r in first],
        },
        "all_steps": {
            "step_seconds_median_after_first": med(steps[1:], "step_seconds"),
            "rollout_tokens_per_s_median": med(steps[1:], "rollout_tokens_per_s"),
        },
        "peak_memory_mb": max((m.get("peak_memory_mb", 0.0) for m in steps), default=0.0),
        "config": cfg.to_dict(),
    }


def stage_eval(a: argparse.Namespace, work: Path, row: str) -> dict[str, Any]:
    from inference.backends.transformers import TransformersBackend
    from training.evaluation import evaluate, load_examples

    _tf32()
    source, few_shot, constrained = EVAL_ROWS[row]
    stage = _read(work / f"stage-{source}.json") or {}
    model = stage.get("model_dir") or stage.get("checkpoint")
    if not model:
        raise RuntimeError(f"row {row}: stage {source} left no model")
    datasets = {
        "holdout": load_examples(str(work / "holdout.jsonl"), split="holdout", limit=a.eval_n),
        "aci-bench-valid": load_examples("aci-bench:valid", limit=a.aci_n or None),
    }
    # fp32 like training: a GRPO delta smaller than bf16's resolution would vanish when cast for evaluation.
    backend = TransformersBackend(model, dtype="float32")
    out: dict[str, Any] = {"model": model, "few_shot": few_shot, "constrained": constrained, "dtype": "float32"}
    for name, examples in datasets.items():
        t0 = time.perf_counter()

        def progress(done: int, total: int, name: str = name, t0: float = t0) -> None:
            log(f"eval {row} {name}: {done}/{total} ({time.perf_counter() - t0:.0f}s)")

        report = evaluate(
            model, examples, judge="auto", constrained=constrained, few_shot=few_shot, max_new_tokens=a.eval_tokens,
            backend=backend,
            batch_size=a.eval_batch if name == "holdout" else max(1, min(a.eval_batch, 32)),
            dataset=name, progress=progress,
        )  # fmt: skip
        summary = report.summary()
        tokens = sum(r.tokens for r in report.results)
        out[name] = {
            "summary": summary,
            "generated_tokens": tokens,
            "seconds": report.seconds,
            "samples": [
                {
                    "key": r.key,
                    "raw": r.raw[:1200],
                    "total": r.total,
                    "valid": r.valid,
                    "format_reason": r.format_reason,
                }
                for r in report.results[:3]
            ],  # fmt: skip
        }
        log(f"eval {row} {name}: valid {summary['json_valid']['mean']:.4f} total {summary['total']['mean']:.3f} "
            f"({report.seconds:.0f}s, {tokens / max(report.seconds, 1e-9):.0f} tok/s)")  # fmt: skip
    return out


# ---- results, figures ---------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(est: dict[str, Any] | None, digits: int = 3) -> str:
    if not est or est.get("mean") is None:
        return "n/a"
    return f"{est['mean']:.{digits}f} [{est['low']:.{digits}f}, {est['high']:.{digits}f}]"


def summary_markdown(results: dict[str, Any]) -> str:
    st = results["stages"]
    lines = ["# Proof run summary", ""]
    trl, ours = st.get("trl") or {}, (st.get("ours") or {})
    comp = ours.get("compare") or {}
    if trl or comp:
        lines += ["| run | steps | s/step (median after 1st) | rollout tok/s | completion tok per step-s | "
                  "mean reward (all compared steps) | reward last 3 | peak GB |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        runs = (
            ("TRL GRPOTrainer", trl, trl.get("reward") or [], trl.get("peak_memory_mb")),
            ("ours", comp, comp.get("reward") or [], ours.get("peak_memory_mb")),
        )
        for name, r, rewards, mem in runs:
            if not r:
                continue
            mean_all = statistics.mean(rewards) if rewards else 0.0
            mean_last = statistics.mean(rewards[-3:]) if rewards else 0.0
            lines.append(
                f"| {name} | {len(rewards)} | {r.get('step_seconds_median_after_first') or 0:.2f} | "
                f"{r.get('rollout_tokens_per_s_median') or 0:,.0f} | "
                f"{r.get('completion_tokens_per_step_s_median') or 0:,.0f} | "
                f"{mean_all:.3f} | {mean_last:.3f} | {(mem or 0) / 1024:.1f} |"
            )
        lines.append("")
    for dataset in ("holdout", "aci-bench-valid"):
        rows = [(row, st.get(f"eval:{row}")) for row in ROW_LABELS if st.get(f"eval:{row}")]
        if not rows:
            continue
        lines += [f"## {dataset}", "", "| row | JSON valid | strict | S | O | A | P | total (0-5) | n |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for row, ev in rows:
            s = (ev.get(dataset) or {}).get("summary")
            if not s:
                continue
            lines.append(
                f"| {ROW_LABELS[row]} | {_fmt(s['json_valid'], 4)} | {_fmt(s['json_valid_strict'], 4)} | "
                + " | ".join(_fmt(s[k]) for k in SECTION_KEYS)
                + f" | {_fmt(s['total'])} | {s['examples']} |"
            )
        lines.append("")
    lines += ["## stages", "", "| stage | state | seconds |", "| --- | --- | --- |"]
    for name, info in results["stage_runs"].items():
        lines.append(f"| {name} | {info['state']} | {info['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def make_plots(work: Path, out: Path, results: dict[str, Any]) -> list[str]:
    from training.charts import Chart

    files = []
    ours, trl = _jsonl(work / "ours_metrics.jsonl"), _jsonl(work / "trl_metrics.jsonl")
    if ours or trl:
        by_step: dict[str, list[tuple[float, float]]] = {}
        by_clock: dict[str, list[tuple[float, float]]] = {}
        for rows, label in ((ours, "ours"), (trl, "TRL GRPOTrainer")):
            if not rows:
                continue
            reward = [float(r.get("reward_mean", r.get("reward", 0.0))) for r in rows]
            clock = list(itertools.accumulate(float(r["step_seconds"]) for r in rows))
            by_step[label] = list(zip(range(1, len(rows) + 1), reward, strict=True))
            by_clock[label] = list(zip(clock, reward, strict=True))
        smooth = min(4, *(len(v) for v in by_step.values()))
        chart = Chart("GRPO from the SFT warm start: format + fact-judge reward", panels=2, size=(11, 4))
        chart.line(by_step, panel=0, xlabel="GRPO step (16 prompts x G=4)", ylabel="mean rollout reward (0-5)",
                   smooth=smooth, fmt="{:.2f}")  # fmt: skip
        chart.line(by_clock, panel=1, xlabel="wall-clock seconds of GRPO", ylabel="mean rollout reward (0-5)",
                   smooth=smooth, fmt="{:.2f}")  # fmt: skip
        chart.save(out / "reward_curve.png")
        files.append("reward_curve.png")
    st = results["stages"]
    rows = [row for row in ROW_LABELS if st.get(f"eval:{row}")]
    if rows:
        keys = [*SECTION_KEYS, "json_valid"]
        chart = Chart("Per-section scores", panels=2, size=(12, 4.2))
        for panel, dataset in enumerate(("holdout", "aci-bench-valid")):
            groups: dict[str, list[float]] = {}
            errors: dict[str, tuple[list[float], list[float]]] = {}
            for row in rows:
                s = (st[f"eval:{row}"].get(dataset) or {}).get("summary")
                if not s:
                    continue
                label = ROW_LABELS[row]
                groups[label] = [s[k]["mean"] or 0.0 for k in keys]
                errors[label] = ([s[k]["low"] or 0.0 for k in keys], [s[k]["high"] or 0.0 for k in keys])
            chart.bars(
                [*SECTION_KEYS, "JSON valid"], groups, panel=panel, title=f"{dataset} (95% bootstrap CI)",
                ylabel="mean score" if panel == 0 else "", ylim=(0, 1.05), errors=errors, legend=panel == 1,
            )  # fmt: skip
        chart.save(out / "sections.png")
        files.append("sections.png")
    return files


def collect(a: argparse.Namespace, work: Path, out: Path, stage_runs: dict[str, Any]) -> dict[str, Any]:
    stages = {}
    for name in ["prepare", "sft", "trl", "trl_static", "ours", *[f"eval:{r}" for r in EVAL_ROWS]]:
        data = _read(work / f"stage-{name.replace(':', '-')}.json")
        if data is not None:
            stages[name] = data
    for name in ("ours", "sft"):
        if name in stages:
            stages[name].get("config", {}).pop("data", None)
    results = {"args": vars(a), "stage_runs": stage_runs, "stages": stages}
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "results.json", results)
    (out / "summary.md").write_text(summary_markdown(results))
    for name in ("ours_metrics.jsonl", "trl_metrics.jsonl"):
        if (work / name).is_file():
            shutil.copyfile(work / name, out / name)
    try:
        make_plots(work, out, results)
    except Exception as exc:  # noqa: BLE001 - figures must never cost the numbers
        log(f"plots failed: {type(exc).__name__}: {exc}")
    return results


# ---- the parent ---------------------------------------------------------------------------------


def run_stage(a: argparse.Namespace, work: Path, name: str, budget_s: float = 0.0) -> dict[str, Any]:
    if name == "prepare":
        return stage_prepare(a, work)
    if name == "sft":
        return stage_sft(a, work)
    if name == "trl":
        return stage_trl(a, work)
    if name == "trl_static":
        return stage_trl(a, work, static=True)
    if name == "ours":
        return stage_ours(a, work, budget_s)
    if name.startswith("eval:"):
        return stage_eval(a, work, name.split(":", 1)[1])
    raise SystemExit(f"unknown stage {name!r}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    work, out = Path(a.work), Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    if a.aci_dir:  # the loader reads $SOAP_DATASETS_DIR/aci-bench/valid*.{csv,json}
        root = work / "datasets"
        (root / "aci-bench").mkdir(parents=True, exist_ok=True)
        for f in Path(a.aci_dir).glob("valid*"):
            shutil.copyfile(f, root / "aci-bench" / f.name)
        os.environ["SOAP_DATASETS_DIR"] = str(root.resolve())
    if a.stage:
        result = run_stage(a, work, a.stage, float(os.environ.get("PROOF_BUDGET_S", a.budget_s)))
        _write(work / f"stage-{a.stage.replace(':', '-')}.json", result)
        return 0

    began = time.perf_counter()
    deadline = began + a.deadline_s
    # Waves run one after another; the stages of a wave run side by side. The timed stages (trl, ours)
    # have the GPU to themselves; evaluation is launch-bound, so rows share the GPU.
    waves = [["prepare"], ["sft", "eval:base", "eval:base_constrained"], ["trl"], ["ours"],
             ["eval:trained", "eval:base_fewshot", "eval:sft"]]  # fmt: skip
    if a.trl_static_steps:
        waves.append(["trl_static"])
    if a.only:
        waves = [[s for s in w if s in a.only.split(",")] for w in waves]
    needs = {"sft": "prepare", "trl": "sft", "ours": "sft", "trl_static": "sft", "eval:sft": "sft",
             "eval:trained": "ours"}  # fmt: skip
    minimum = {"trl": 100, "ours": 90, "trl_static": 150}  # seconds a stage needs to be worth starting
    stage_runs: dict[str, Any] = {}
    log(f"proof run: waves {waves}, deadline {a.deadline_s:.0f}s, work {work}, out {out}")
    for wave in waves:
        procs: dict[str, tuple[subprocess.Popen, float]] = {}
        for name in wave:
            left = deadline - time.perf_counter()
            req = needs.get(name) or ("prepare" if name.startswith("eval:") else None)
            if req and not (work / f"stage-{req}.json").is_file():
                stage_runs[name] = {"state": f"skipped: {req} has no result", "seconds": 0.0}
                log(f"skip {name}: {req} has no result")
                continue
            if left < minimum.get(name, 45):
                stage_runs[name] = {"state": f"skipped: {left:.0f}s left", "seconds": 0.0}
                log(f"skip {name}: {left:.0f}s left")
                continue
            env = dict(os.environ, PYTHONUNBUFFERED="1", PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
            if name == "ours":
                budget = max(60.0, min(a.budget_s, left - a.eval_reserve_s))
                env["PROOF_BUDGET_S"] = str(budget)
                log(f"ours: training budget {budget:.0f}s")
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--stage", name]
            log(f"stage {name}: start ({left:.0f}s left)")
            procs[name] = (subprocess.Popen(cmd, env=env), time.perf_counter())
        for name, (proc, t0) in procs.items():
            try:
                code = proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
                state = "ok" if code == 0 else f"failed (exit {code})"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                state = "timed out"
            stage_runs[name] = {"state": state, "seconds": time.perf_counter() - t0}
            log(f"stage {name}: {state} in {stage_runs[name]['seconds']:.0f}s")
            collect(a, work, out, stage_runs)
    collect(a, work, out, stage_runs)
    log(f"proof run done in {time.perf_counter() - began:.0f}s; results in {out}")
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
