"""The learner: the trainable policy, the frozen reference, AdamW, and the GRPO/SFT update steps.

One optimiser batch (a rollout batch, or a mini-batch of it) is split into micro-batches by token
budget; loss weights are computed from the whole batch's counts so the accumulated gradient is
exactly the one-big-batch gradient (tests/training/grpo/test_loss_matches_trl.py). With several
updates per rollout batch (num_iterations x mini_batches), the old log-probs are computed once
before the first update, as in PPO; with one update the ratio is 1 and TRL's shortcut applies.

Three small seams let `training.orchestration.learner_group.ShardedLearner` run the same update as
one rank of an FSDP group: `_local_micro` (which micro-batches this process runs), `_sum_over_ranks`
(metric sums) and `_grad_norm`. On one process they are the identity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from training.config import TrainConfig
from training.grpo.batching import collate, pack_by_tokens
from training.grpo.loss import grpo_loss, loss_weights, per_token_logps
from training.grpo.rollout import Sample


def resolve_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def resolve_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    """The dtype the trainable weights are stored in: fp32 master weights unless a half type is asked for."""
    if cfg.dtype in ("auto", "bf16-mixed"):
        return torch.float32
    return getattr(torch, cfg.dtype)


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The compute dtype of forward passes under autocast: bf16 on GPU with dtype=bf16-mixed, else none.

    The default (auto) trains in fp32: measured on an H200 with the shipped adapter's recipe (LoRA r=16,
    lr 2e-4, 4k-token prompts), bf16 autocast over fp32 master weights reached a NaN gradient at step 13
    (the guard stopped the run before applying it) and plain bf16 a NaN loss at step 48; fp32 trained
    cleanly. For a 135M model fp32 costs little.
    """
    if cfg.dtype == "bf16-mixed" and device.type == "cuda":
        return torch.bfloat16
    return None


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN or infinite; the update was not applied, so the weights are still good."""


def is_adapter_dir(path: str) -> bool:
    from pathlib import Path

    return (Path(path) / "adapter_config.json").is_file()


def wrap_lora(model: Any, cfg: TrainConfig) -> Any:
    """The model with trainable LoRA adapters (peft); the base weights are frozen."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def load_policy(cfg: TrainConfig, path: str, base_path: str | None, device: torch.device, dtype: torch.dtype) -> Any:
    """The trainable policy: a full model, a fresh LoRA on it, or a saved adapter (resume) on its base."""
    if is_adapter_dir(path):
        from peft import PeftModel

        if base_path is None:
            raise ValueError(f"{path} is a LoRA adapter; its base model must be given to resume it")
        base = load_causal_lm(base_path, device, dtype, trainable=True)
        model = PeftModel.from_pretrained(base, path, is_trainable=True).to(device)
        model.train()
        return model
    model = load_causal_lm(path, device, dtype, trainable=True)
    return wrap_lora(model, cfg) if cfg.lora_rank > 0 else model


def load_causal_lm(path: str, device: torch.device, dtype: torch.dtype, *, trainable: bool) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    if trainable:
        model.train()
    else:
        model.eval().requires_grad_(False)
    return model


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    except ImportError:  # pragma: no cover - non-POSIX
        return float("nan")


class Learner:
    """Owns the policy being trained. Plain class: used in-process (local mode) or as a Ray actor."""

    def __init__(self, cfg: TrainConfig, policy_path: str, reference_path: str | None = None) -> None:
        from transformers import AutoTokenizer

        self.cfg = cfg
        self.device = resolve_device(cfg)
        self.dtype = resolve_dtype(cfg, self.device)
        # A shipped adapter carries no tokenizer (a run's checkpoints do): it is its base's.
        own = not is_adapter_dir(policy_path) or (Path(policy_path) / "tokenizer_config.json").is_file()
        self.tokenizer = AutoTokenizer.from_pretrained(policy_path if own or reference_path is None else reference_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.pad_id = self.tokenizer.pad_token_id
        self.autocast = autocast_dtype(cfg, self.device)
        if self.device.type == "cuda" and self.dtype == torch.float32:
            torch.backends.cuda.matmul.allow_tf32 = True  # fp32 training at matrix-unit speed
        self.lora = cfg.lora_rank > 0 or is_adapter_dir(policy_path)
        self.model = load_policy(cfg, policy_path, reference_path, self.device, self.dtype)
        self.model.config.use_cache = False
        if cfg.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if self.lora:
                self.model.enable_input_require_grads()
        # beta == 0: no reference model at all (saves its memory), as in the issue and TRL. With LoRA the
        # reference is the same module with its adapters switched off: no second copy either.
        self.ref_model = (
            load_causal_lm(reference_path or policy_path, self.device, self.dtype, trainable=False)
            if cfg.uses_reference_model and not self.lora
            else None
        )
        self.optimizer = self._make_optimizer(cfg.learning_rate)
        self.version = 0  # bumps after every optimiser step; rollout workers report which they used
        self._phase = ""
        self._phase_position = 0

    # ---- phases and the learning-rate schedule -------------------------------------------------
    def begin_phase(self, phase: str, fresh_optimizer: bool, position: int = 0) -> None:
        """Enter the SFT or GRPO phase at its 0-based step `position` (non-zero when a run resumes)."""
        lr = self.cfg.sft_learning_rate if phase == "sft" else self.cfg.learning_rate
        if fresh_optimizer:  # GRPO starts with clean Adam moments, not the SFT phase's
            self.optimizer = self._make_optimizer(lr)
        self._phase, self._phase_position = phase, position
        self.set_learning_rate(lr)

    def _phase_total(self) -> int:
        cfg = self.cfg
        if self._phase == "sft":
            return cfg.steps if cfg.kind == "sft" else cfg.sft_steps
        return cfg.steps

    def _schedule(self) -> None:
        """Set this step's learning rate from the schedule, then advance the phase position."""
        if not self._phase:
            return
        peak = self.cfg.sft_learning_rate if self._phase == "sft" else self.cfg.learning_rate
        self.set_learning_rate(peak * self.cfg.lr_factor(self._phase_position, self._phase_total()))
        self._phase_position += 1

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(
            params,
            lr=lr,
            betas=(self.cfg.adam_beta1, self.cfg.adam_beta2),
            weight_decay=self.cfg.weight_decay,
            fused=self.device.type == "cuda",
        )

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # ---- log-probs -----------------------------------------------------------------------------
    def _logps(self, model: Any, samples: Sequence[Sample], *, grad: bool, entropy: bool = False):
        ids, attn, cmask, keep = collate(
            [s.prompt_ids for s in samples], [s.completion_ids for s in samples], self.pad_id, self.device
        )
        dtype = self.autocast or self.dtype
        with torch.set_grad_enabled(grad), torch.autocast(self.device.type, dtype, enabled=self.autocast is not None):
            logps, ent = per_token_logps(model, ids, attn, keep, temperature=self.cfg.temperature, with_entropy=entropy)
        return logps.float(), ent, cmask

    @torch.no_grad()
    def sequence_logps(self, samples: Sequence[Sample], *, reference: bool = False) -> list[torch.Tensor]:
        """Per-token log-probs of each sample's completion (CPU tensors), from the policy or the reference."""
        import contextlib

        adapters_off = reference and self.lora
        model = self.model if adapters_off else (self.ref_model if reference else self.model)
        if model is None:
            raise RuntimeError("no reference model: beta is 0")
        was = model.training
        model.eval()
        out: list[torch.Tensor] = [torch.empty(0)] * len(samples)
        try:
            with self.model.disable_adapter() if adapters_off else contextlib.nullcontext():
                for idx, scale in self._local_micro(samples):
                    logps, _, cmask = self._logps(model, [samples[i] for i in idx], grad=False)
                    if not scale:
                        continue
                    for row, i in enumerate(idx):
                        out[i] = logps[row, : int(cmask[row].sum())].cpu()
        finally:
            model.train(was)
        return out

    def _micro(self, samples: Sequence[Sample]) -> list[list[int]]:
        lengths = [(len(s.prompt_ids), len(s.completion_ids)) for s in samples]
        return pack_by_tokens(lengths, self.cfg.micro_batch_tokens)

    def _local_micro(self, samples: Sequence[Sample]) -> list[tuple[list[int], float]]:
        """(indices, scale) of the micro-batches this process runs; scale 0 marks a padding micro-batch.

        One process runs every micro-batch at scale 1. A data-parallel rank runs its share and pads
        with scale-0 repeats so that every rank makes the same number of (collective) forward calls.
        """
        return [(idx, 1.0) for idx in self._micro(samples)]

    def _sum_over_ranks(self, values: list[float]) -> list[float]:
        """Sums of per-process partial metrics over the data-parallel group (one process: unchanged)."""
        return values

    @staticmethod
    def _pad(rows: Sequence[torch.Tensor], width: int, device: torch.device) -> torch.Tensor:
        out = torch.zeros(len(rows), width)
        for r, t in enumerate(rows):
            out[r, : len(t)] = t
        return out.to(device)

    # ---- GRPO update ---------------------------------------------------------------------------
    def update(self, samples: Sequence[Sample], advantages: torch.Tensor) -> dict[str, float]:
        """All optimiser steps for one rollout batch; returns the step's training metrics."""
        cfg = self.cfg
        t0 = time.perf_counter()
        n = len(samples)
        old = self.sequence_logps(samples) if cfg.updates_per_step > 1 else None
        ref = self.sequence_logps(samples, reference=True) if self.cfg.uses_reference_model else None
        self._schedule()
        totals: dict[str, float] = {"loss": 0.0, "kl": 0.0, "clip_low": 0.0, "clip_high": 0.0, "clip_region": 0.0,
                                    "entropy": 0.0, "grad_norm": 0.0}  # fmt: skip
        tokens_trained = 0
        updates = 0
        parts = [list(range(n))[i :: cfg.mini_batches] for i in range(cfg.mini_batches)]
        for _ in range(cfg.num_iterations):
            for part in parts:
                part_samples = [samples[i] for i in part]
                n_tok = float(sum(len(s.completion_ids) for s in part_samples))
                self.optimizer.zero_grad(set_to_none=True)
                for idx, scale in self._local_micro(part_samples):
                    chunk = [part[i] for i in idx]
                    logps, ent, cmask = self._logps(self.model, [samples[i] for i in chunk], grad=True, entropy=True)
                    width = logps.shape[1]
                    w = loss_weights(cmask, cfg.loss_aggregation, total_sequences=len(part), total_tokens=n_tok,
                                     max_new_tokens=cfg.max_new_tokens)  # fmt: skip
                    if scale != 1.0:
                        w = w * scale
                    out = grpo_loss(
                        logps,
                        self._pad([old[i] for i in chunk], width, self.device) if old is not None else None,
                        self._pad([ref[i] for i in chunk], width, self.device) if ref is not None else None,
                        advantages[chunk].to(self.device),
                        cmask,
                        epsilon_low=cfg.epsilon_low,
                        epsilon_high=cfg.epsilon_high,
                        beta=cfg.beta,
                        weights=w,
                        kl_estimator=cfg.kl_estimator,
                    )
                    out.loss.backward()
                    if not scale:
                        continue
                    frac = out.tokens / max(n_tok, 1.0)
                    totals["loss"] += float(out.loss.detach())
                    for key in ("kl", "clip_low", "clip_high", "clip_region"):
                        totals[key] += getattr(out, key) * frac
                    if ent is not None:
                        totals["entropy"] += float((ent * cmask).sum() / max(n_tok, 1.0))
                    tokens_trained += out.tokens
                totals["grad_norm"] += self._step()
                updates += 1
        summed = [k for k in totals if k != "grad_norm"]  # grad_norm is already the global norm
        *sums, tokens = self._sum_over_ranks([totals[k] for k in summed] + [float(tokens_trained)])
        totals.update(zip(summed, sums, strict=True))
        tokens_trained = int(tokens)
        seconds = time.perf_counter() - t0
        metrics = {k: v / updates for k, v in totals.items()}
        metrics.update(
            train_seconds=seconds,
            train_tokens=float(tokens_trained),
            train_tokens_per_s=tokens_trained / seconds if seconds > 0 else 0.0,
            optimizer_steps=float(updates),
            lr=self.learning_rate,
            peak_memory_mb=peak_memory_mb(self.device),
        )
        return metrics

    def _grad_norm(self, params: list[torch.Tensor]) -> float:
        """The global gradient norm, clipped to max_grad_norm when that is set (returns the norm before clipping)."""
        if self.cfg.max_grad_norm > 0:
            return float(torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm))
        return math.sqrt(sum(float(p.grad.detach().pow(2).sum()) for p in params))

    def _step(self) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = self._grad_norm(params)
        if not math.isfinite(norm):
            # Never apply it: one NaN gradient makes every weight NaN, and the run would save that model.
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"the gradient norm became {norm} at optimiser step {self.version + 1}; the update was not applied. "
                "Lower the learning rate, or use dtype=auto/float32 (fp32 master weights) instead of plain bf16/fp16."
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.version += 1
        return norm

    # ---- SFT update ----------------------------------------------------------------------------
    def sft_update(self, prompts: Sequence[list[int]], targets: Sequence[list[int]]) -> dict[str, float]:
        """One supervised step: token-mean cross-entropy of the gold completions given their prompts."""
        t0 = time.perf_counter()
        samples = [
            Sample(i, list(p), list(t), "", "stop") for i, (p, t) in enumerate(zip(prompts, targets, strict=True))
        ]
        n_tok = float(sum(len(t) for t in targets))
        self._schedule()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for idx, scale in self._local_micro(samples):
            logps, _, cmask = self._logps(self.model, [samples[i] for i in idx], grad=True)
            loss = -(logps * cmask).sum() / max(n_tok, 1.0)
            if scale != 1.0:
                loss = loss * scale
            loss.backward()
            total += float(loss.detach())
        (total,) = self._sum_over_ranks([total])
        if not math.isfinite(total):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"the SFT loss became {total} at optimiser step {self.version + 1}; the update was not applied. "
                "Lower sft_learning_rate, or use dtype=auto/float32 (fp32 master weights) instead of plain bf16/fp16."
            )
        norm = self._step()
        seconds = time.perf_counter() - t0
        return {"sft_loss": total, "grad_norm": norm, "lr": self.learning_rate, "train_seconds": seconds,
                "train_tokens": n_tok,
                "train_tokens_per_s": n_tok / seconds, "peak_memory_mb": peak_memory_mb(self.device)}  # fmt: skip

    # ---- weights and state ---------------------------------------------------------------------
    def weights(self) -> dict[str, torch.Tensor]:
        """The policy's weights on CPU, for rollout workers in other processes."""
        return {k: v.detach().to("cpu") for k, v in self.model.state_dict().items()}

    def optimizer_state(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)
