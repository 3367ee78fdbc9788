"""The training loop, identical in local and Ray mode: only the executor differs.

Per GRPO step: pick the step's dialogues (a pure function of seed and step), sample G completions
each from the current weights, score them, compute group-relative advantages, update the learner
(several optimiser steps if configured), then the next rollout uses the new weights. An SFT warm
start (gold notes as targets) can run first, with the same checkpoints, as steps 1..sft_steps.

Launch: `python -m training.train --preset tiny-cpu --data FILE.jsonl --output var/checkpoints/demo`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from inference.schema import SECTION_KEYS
from training.config import TrainConfig
from training.grpo import checkpoint as ckpt
from training.grpo.advantages import compute_advantages
from training.grpo.data import indices_for_step, load_examples, prompt_text, target_text
from training.grpo.learner import Learner, NonFiniteError, is_adapter_dir
from training.grpo.rewarding import Scorer
from training.grpo.rollout import NoteDecoding, Rollout, Sample, VLLMRollout

CANCEL_FILE = "CANCEL"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"


@dataclass
class Hooks:
    """How a caller (CLI, Celery task, Ray job) follows and steers a run."""

    on_step: Callable[[int, dict[str, Any]], None] | None = None
    on_checkpoint: Callable[[int, str, dict[str, Any]], None] | None = None
    on_log: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] | None = None


@dataclass
class RunResult:
    state: str  # succeeded | cancelled
    step: int
    last_checkpoint: str | None
    output_dir: str
    metrics: list[dict[str, Any]] = field(default_factory=list)
    time_limited: bool = False  # stopped by cfg.time_limit_minutes before its last step (resumable)


class Executor(Protocol):
    tokenizer: Any

    def begin_phase(self, phase: str, *, fresh_optimizer: bool, position: int = 0) -> None: ...
    def generate(self, prompts: list[str], **kw: Any) -> tuple[list[Sample], dict[str, float]]: ...
    def score(self, examples: Sequence[dict], texts: Sequence[str]) -> list[dict[str, float]]: ...
    def update(self, samples: list[Sample], advantages: torch.Tensor) -> dict[str, float]: ...
    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]: ...
    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str: ...
    def load_optimizer(self, state: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class LocalExecutor:
    """One process, one device: the rollout samples from the learner's own module."""

    def __init__(self, cfg: TrainConfig, policy_path: str, reference_path: str) -> None:
        self.cfg = cfg
        self.learner = Learner(cfg, policy_path, reference_path)
        self.tokenizer = self.learner.tokenizer
        # A static cache sized for the longest prompt + completion: one shape, so one compilation per run.
        self.rollout: Rollout | VLLMRollout
        if cfg.rollout_engine == "vllm":
            self.rollout = VLLMRollout(
                self.learner.model,
                self.tokenizer,
                # vLLM loads full models: an adapter policy starts the engine on its base, and the first rollout
                # pushes the merged weights (a new engine has no synced version).
                reference_path if is_adapter_dir(policy_path) else policy_path,
                gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                max_model_len=cfg.max_prompt_tokens + cfg.max_new_tokens,
                seed=cfg.seed,
                note_rules=cfg.rollout_constrained,
            )
        else:
            self.rollout = Rollout(
                self.learner.model,
                self.tokenizer,
                static_cache=cfg.rollout_static_cache,
                max_cache_len=cfg.max_prompt_tokens + cfg.max_new_tokens if cfg.rollout_static_cache else None,
            )
        self.scorer = Scorer(cfg)

    def begin_phase(self, phase: str, *, fresh_optimizer: bool, position: int = 0) -> None:
        self.learner.begin_phase(phase, fresh_optimizer, position)

    def generate(self, prompts: list[str], **kw: Any) -> tuple[list[Sample], dict[str, float]]:
        # Sample in the learner's compute dtype: fp32 master weights would otherwise decode at fp32 speed.
        if isinstance(self.rollout, VLLMRollout):  # the engine samples in its own dtype, after a weight push
            samples = self.rollout.generate(prompts, version=self.learner.version, **kw)
            return samples, {**self.rollout.stats, "weights_version": float(self.learner.version)}
        dtype = self.learner.autocast
        with torch.autocast(self.learner.device.type, dtype or torch.float32, enabled=dtype is not None):
            samples = self.rollout.generate(prompts, **kw)
        return samples, {**self.rollout.stats, "weights_version": float(self.learner.version)}

    def score(self, examples: Sequence[dict], texts: Sequence[str]) -> list[dict[str, float]]:
        return [self.scorer.score(ex, t) for ex, t in zip(examples, texts, strict=True)]

    def update(self, samples: list[Sample], advantages: torch.Tensor) -> dict[str, float]:
        return self.learner.update(samples, advantages)

    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]:
        return self.learner.sft_update(prompts, targets)

    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str:
        path = ckpt.save_checkpoint(
            output_dir, step, self.learner.model, self.tokenizer, self.learner.optimizer_state(), state
        )
        return str(path)

    def load_optimizer(self, state: dict[str, Any]) -> None:
        self.learner.load_optimizer_state(state)

    def close(self) -> None:
        pass


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    t = torch.tensor(list(values), dtype=torch.float64)
    return float(t.mean()), float(t.std(unbiased=False)) if len(values) > 1 else 0.0


class _Run:
    """State of one run: files under output_dir, hooks, and the step functions."""

    def __init__(self, cfg: TrainConfig, examples: list[dict], hooks: Hooks, executor: Executor) -> None:
        self.cfg, self.examples, self.hooks, self.ex = cfg, examples, hooks, executor
        self.out = Path(cfg.output_dir)
        self._prompts: dict[int, str] = {}
        self._numbers: dict[int, frozenset[str] | None] = {}

    def log(self, msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        with (self.out / LOG_FILE).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.hooks.on_log:
            self.hooks.on_log(line)

    def stop_requested(self) -> bool:
        if (self.out / CANCEL_FILE).exists():
            return True
        return bool(self.hooks.should_stop and self.hooks.should_stop())

    def prompt(self, i: int) -> str:
        if i not in self._prompts:
            self._prompts[i] = prompt_text(
                self.ex.tokenizer, self.examples[i], few_shot=self.cfg.few_shot, max_tokens=self.cfg.max_prompt_tokens
            )
        return self._prompts[i]

    def note_decoding(self, idx: Sequence[int]) -> NoteDecoding | None:
        """`rollout_constrained`: the app's decoding for these dialogues (each one's stated numbers), else None."""
        if not self.cfg.rollout_constrained:
            return None
        from inference.engine import default_no_repeat_ngram, stated_numbers

        for i in idx:
            if i not in self._numbers:
                self._numbers[i] = stated_numbers(list(self.examples[i]["dialogue"]))
        return NoteDecoding(tuple(self._numbers[i] for i in idx), default_no_repeat_ngram())

    def sft_step(self, k: int) -> dict[str, Any]:
        tok = self.ex.tokenizer
        idx = indices_for_step(len(self.examples), k, self.cfg.sft_batch_size, self.cfg.seed + 1)
        prompts = [tok(self.prompt(i), add_special_tokens=False)["input_ids"] for i in idx]
        targets = [tok(target_text(self.examples[i]), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                   for i in idx]  # fmt: skip
        return self.ex.sft_update(prompts, targets)

    def grpo_step(self, k: int, step: int) -> dict[str, Any]:
        cfg = self.cfg
        idx = indices_for_step(len(self.examples), k, cfg.prompts_per_step, cfg.seed)
        samples, rstats = self.ex.generate(
            [self.prompt(i) for i in idx], n=cfg.num_generations, max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed * 7919 + step, note=self.note_decoding(idx),
        )  # fmt: skip
        t0 = time.perf_counter()
        scores = self.ex.score([self.examples[idx[s.group]] for s in samples], [s.text for s in samples])
        score_seconds = time.perf_counter() - t0
        rewards = torch.tensor([s["total"] for s in scores], dtype=torch.float32)
        adv = compute_advantages(rewards, cfg.num_generations, scale=cfg.scale_rewards)
        m: dict[str, Any] = {**rstats, "score_seconds": score_seconds}
        m["reward_mean"], m["reward_std"] = _mean_std(rewards.tolist())
        for key in ("format", *SECTION_KEYS):
            vals = [s[key] for s in scores if key in s]
            if vals:
                m[f"reward_{key}_mean"], m[f"reward_{key}_std"] = _mean_std(vals)
        m["format_valid"] = m.get("reward_format_mean", 0.0)
        m.update(groups=adv.groups, signal_groups=adv.signal_groups, zero_variance_groups=adv.zero_variance_groups)
        lengths = [len(s.completion_ids) for s in samples]
        m["completion_length"] = sum(lengths) / len(lengths)
        m["truncated_fraction"] = sum(s.finish_reason == "length" for s in samples) / len(samples)
        if adv.signal_groups == 0:
            # Every group tied: advantages are all zero, so the policy gradient is zero. Skipping the
            # optimiser step keeps weights bit-identical (AdamW's decoupled decay would still move them).
            m["skipped_update"] = 1.0
        else:
            m.update(self.ex.update(samples, adv.advantages))
            m["skipped_update"] = 0.0
        m["sample"] = samples[0].text[:300]
        m["example_keys"] = [str(self.examples[i].get("key", i)) for i in idx]
        return m

    def state(self, step: int, phase: str, base_model: str) -> dict[str, Any]:
        from inference.models import model_reference

        base_reference = _adapter_base(self.cfg.model) or model_reference(self.cfg.model or "base")
        return {"phase": phase, "config": self.cfg.to_dict(), "base_model": base_model,
                "base_reference": base_reference, "examples": len(self.examples)}  # fmt: skip


def train(
    cfg: TrainConfig,
    examples: list[dict] | None = None,
    *,
    hooks: Hooks | None = None,
    executor_factory: Callable[[TrainConfig, str, str], Executor] | None = None,
) -> RunResult:
    """Run (or resume) training as `cfg` says; returns when done, cancelled (CANCEL file / hook) or raises."""
    from inference.models import BASE_MODEL_REF, resolve_model

    hooks = hooks or Hooks()
    examples = examples if examples is not None else load_examples(cfg.data or "", split=cfg.split)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    latest = ckpt.latest_checkpoint(out)
    if latest is not None:
        saved = ckpt.read_state(latest)
        start, base_model, policy_path = int(saved["step"]), str(saved["base_model"]), str(latest)
    else:
        # No model named: training starts from the base, never from the shipped adapter. A LoRA adapter
        # (an SFT run's checkpoint) is trained on, on top of its own base, so the result stays one adapter.
        start = 0
        adapter = _adapter_base(cfg.model)
        if adapter is not None:
            base_model, policy_path = str(resolve_model(adapter)), str(Path(str(cfg.model)).resolve())
        else:
            base_model = str(resolve_model(cfg.model or BASE_MODEL_REF))
            policy_path = base_model
    sft_total = cfg.steps if cfg.kind == "sft" else cfg.sft_steps
    total = sft_total if cfg.kind == "sft" else sft_total + cfg.steps
    factory = executor_factory or LocalExecutor
    ex = factory(cfg, policy_path, base_model)
    run = _Run(cfg, examples, hooks, ex)
    if latest is not None:
        training_state = ckpt.load_training_state(latest)
        phase_at = "sft" if start < sft_total else "grpo"
        if saved.get("phase") == phase_at:  # the optimiser of the phase we continue
            ex.load_optimizer(training_state["optimizer"])
        ckpt.set_rng_state(training_state.get("rng", {}))
        run.log(f"resumed from {latest} at step {start}")
    else:
        torch.manual_seed(cfg.seed)
        run.log(f"started: {cfg.kind} for {total} steps, {len(examples)} examples, model {base_model}")
    result = RunResult("succeeded", start, str(latest) if latest else None, str(out))
    phase = None
    last_saved = start if latest is not None else -1
    began, time_limited = time.monotonic(), False
    try:
        for step in range(start, total):
            if run.stop_requested():
                result.state = "cancelled"
                run.log(f"cancel requested: stopping before step {step + 1}")
                break
            if cfg.time_limit_minutes and step > start and time.monotonic() - began >= cfg.time_limit_minutes * 60:
                time_limited = True
                run.log(f"time limit of {cfg.time_limit_minutes:g} minutes reached: stopping before step {step + 1}")
                break
            new_phase = "sft" if step < sft_total else "grpo"
            if new_phase != phase:
                ex.begin_phase(
                    new_phase,
                    fresh_optimizer=phase is not None or (step == sft_total and step > 0),
                    position=step if new_phase == "sft" else step - sft_total,
                )
                phase = new_phase
            t0 = time.perf_counter()
            try:
                m = run.sft_step(step) if phase == "sft" else run.grpo_step(step - sft_total, step)
            except NonFiniteError as exc:
                run.log(f"stopped at step {step + 1}: {exc} Last good checkpoint: {result.last_checkpoint}")
                raise
            m.update(step=step + 1, phase=phase, step_seconds=time.perf_counter() - t0)
            result.step = step + 1
            result.metrics.append(m)
            with (out / METRICS_FILE).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(m) + "\n")
            if hooks.on_step:
                hooks.on_step(step + 1, m)
            run.log(_summary(m))
            if (step + 1) % cfg.save_every == 0 or step + 1 == total:
                result.last_checkpoint = _save(run, ex, step + 1, phase, base_model, m)
                last_saved = step + 1
    finally:
        if (result.state == "cancelled" or time_limited) and result.step > max(last_saved, 0) and phase is not None:
            result.last_checkpoint = _save(run, ex, result.step, phase, base_model, result.metrics[-1])
        ex.close()
    result.time_limited = time_limited
    how = f"stopped by its time limit ({result.state})" if time_limited else result.state
    run.log(f"{how} at step {result.step} of {total}; last checkpoint {result.last_checkpoint}")
    return result


def _adapter_base(model: str | None) -> str | None:
    """The base model reference of a LoRA adapter directory, or None when `model` is not one."""
    if not model or not (Path(model) / "adapter_config.json").is_file():
        return None
    config = json.loads((Path(model) / "adapter_config.json").read_text())
    return str(config.get("base_model_name_or_path") or "base")


def _save(run: _Run, ex: Executor, step: int, phase: str, base_model: str, metrics: dict[str, Any]) -> str:
    path = ex.save(str(run.out), step, run.state(step, phase, base_model))
    ckpt.prune_checkpoints(run.out, run.cfg.keep_checkpoints)
    run.log(f"checkpoint step {step}: {path}")
    if run.hooks.on_checkpoint:
        run.hooks.on_checkpoint(step, path, metrics)
    return path


def _summary(m: dict[str, Any]) -> str:
    if m["phase"] == "sft":
        return f"step {m['step']} sft loss {m['sft_loss']:.4f} ({m['step_seconds']:.1f}s)"
    return (
        f"step {m['step']} reward {m['reward_mean']:.3f}±{m['reward_std']:.3f} format {m['format_valid']:.2f} "
        f"signal groups {m['signal_groups']}/{m['groups']} kl {m.get('kl', 0.0):.4f} "
        f"len {m['completion_length']:.0f} ({m['step_seconds']:.1f}s)"
    )
