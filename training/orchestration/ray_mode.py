"""Ray mode: the same loop (`training.grpo.loop.train`) with its work done by Ray actors.

verl-style: the workers are plain classes (`RolloutWorker`, `Learner`, `Scorer`), made remote
only here, at launch. Per step the driver scatters prompts over the rollout actors, completions
over the judge actors, sends the batch to the learner, then puts the learner's new weights in the
object store once and every rollout actor loads them before the next rollout (the test checks the
version each rollout reports).

    python -m training.train --preset tiny-cpu --set mode=ray --data FILE.jsonl --output DIR
    RAY_ADDRESS=ray://head:10001 ... --set ray_address=auto      # an existing cluster

Limits: one learner actor (learner_workers > 1 is refused until the FSDP learner group lands).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from training.config import ConfigError, TrainConfig
from training.grpo import checkpoint as ckpt
from training.grpo.learner import Learner
from training.grpo.loop import Hooks, RunResult, train
from training.grpo.rewarding import Scorer
from training.grpo.rollout import RolloutWorker, Sample


class LearnerWorker:
    """A Learner plus checkpointing, as one actor (plain class: testable without Ray)."""

    def __init__(self, cfg: TrainConfig, policy_path: str, reference_path: str) -> None:
        torch.manual_seed(cfg.seed)
        self.learner = Learner(cfg, policy_path, reference_path)
        self.cfg = cfg

    def begin_phase(self, phase: str, fresh_optimizer: bool) -> None:
        lr = self.cfg.sft_learning_rate if phase == "sft" else self.cfg.learning_rate
        if fresh_optimizer:
            self.learner.optimizer = self.learner._make_optimizer(lr)
        self.learner.set_learning_rate(lr)

    def update(self, samples: list[Sample], advantages: torch.Tensor) -> dict[str, float]:
        return self.learner.update(samples, advantages)

    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]:
        return self.learner.sft_update(prompts, targets)

    def weights(self) -> tuple[dict[str, torch.Tensor], int]:
        return self.learner.weights(), self.learner.version

    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str:
        lr = self.learner
        return str(ckpt.save_checkpoint(output_dir, step, lr.model, lr.tokenizer, lr.optimizer_state(), state))

    def load_optimizer(self, state: dict[str, Any]) -> None:
        self.learner.load_optimizer_state(state)


class ScorerWorker:
    def __init__(self, cfg: TrainConfig) -> None:
        self.scorer = Scorer(cfg)

    def score(self, examples: list[dict], texts: list[str]) -> list[dict[str, float]]:
        return [self.scorer.score(e, t) for e, t in zip(examples, texts, strict=True)]


def _chunks(items: list[Any], n: int) -> list[list[Any]]:
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)] if items else []


class RayExecutor:
    """The loop's Executor over Ray actors; starts a local cluster unless `ray_address` is set."""

    def __init__(self, cfg: TrainConfig, policy_path: str, reference_path: str) -> None:
        import ray
        from transformers import AutoTokenizer

        if cfg.learner_workers != 1:
            raise ConfigError("learner_workers > 1 needs the FSDP learner group, not in this build; use 1.")
        self.cfg = cfg
        self._started = not ray.is_initialized()
        if self._started:
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, log_to_driver=False)
            else:
                # Local workers import this checkout, wherever the driver was started from.
                root = str(Path(__file__).resolve().parents[2])
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
                ray.init(
                    num_cpus=max(2, cfg.rollout_workers + 1),
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"PYTHONPATH": path}},
                )
        self.ray = ray
        self.tokenizer = AutoTokenizer.from_pretrained(policy_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        gpus = cfg.gpus_per_worker
        device = "cuda" if gpus > 0 else "cpu"
        dtype = "bfloat16" if gpus > 0 else "float32"
        self.learner = ray.remote(num_cpus=0.5, num_gpus=gpus)(LearnerWorker).remote(cfg, policy_path, reference_path)
        self.rollouts = [
            ray.remote(num_cpus=0.5, num_gpus=gpus)(RolloutWorker).remote(policy_path, device, dtype, cfg.seed + i)
            for i in range(cfg.rollout_workers)
        ]
        self.judges = [ray.remote(num_cpus=0.25)(ScorerWorker).remote(cfg) for _ in range(cfg.judge_workers)]
        self.version = 0
        self._sync_weights()  # a resumed run's learner weights reach the rollouts before the first step

    def _sync_weights(self) -> None:
        state, version = self.ray.get(self.learner.weights.remote())
        ref = self.ray.put(state)  # one copy in the object store, read by every rollout actor
        self.ray.get([w.load_weights.remote(ref, version) for w in self.rollouts])
        self.version = version

    def begin_phase(self, phase: str, *, fresh_optimizer: bool) -> None:
        self.ray.get(self.learner.begin_phase.remote(phase, fresh_optimizer))

    def generate(self, prompts: list[str], **kw: Any) -> tuple[list[Sample], dict[str, float]]:
        parts = _chunks(list(range(len(prompts))), len(self.rollouts))
        futures = [
            w.generate.remote([prompts[i] for i in part], **kw) for w, part in zip(self.rollouts, parts, strict=False)
        ]
        samples: list[Sample] = []
        stats: dict[str, float] = {"rollout_seconds": 0.0, "rollout_tokens": 0.0}
        versions = []
        for part, (got, st, version) in zip(parts, self.ray.get(futures), strict=True):
            for s in got:
                s.group = part[s.group]
                samples.append(s)
            stats["rollout_seconds"] = max(stats["rollout_seconds"], st["rollout_seconds"])
            stats["rollout_tokens"] += st["rollout_tokens"]
            versions.append(version)
        samples.sort(key=lambda s: s.group)  # stable: keeps each group's samples together and in order
        stats["rollout_tokens_per_s"] = stats["rollout_tokens"] / max(stats["rollout_seconds"], 1e-9)
        stats["weights_version"] = float(min(versions))
        return samples, stats

    def score(self, examples: list[dict], texts: list[str]) -> list[dict[str, float]]:
        idx = _chunks(list(range(len(texts))), len(self.judges))
        futures = [
            j.score.remote([examples[i] for i in p], [texts[i] for i in p])
            for j, p in zip(self.judges, idx, strict=False)
        ]
        return [s for part in self.ray.get(futures) for s in part]

    def update(self, samples: list[Sample], advantages: torch.Tensor) -> dict[str, float]:
        metrics = self.ray.get(self.learner.update.remote(samples, advantages))
        self._sync_weights()
        return metrics

    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]:
        metrics = self.ray.get(self.learner.sft_update.remote(prompts, targets))
        self._sync_weights()
        return metrics

    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str:
        return self.ray.get(self.learner.save.remote(output_dir, step, state))

    def load_optimizer(self, state: dict[str, Any]) -> None:
        self.ray.get(self.learner.load_optimizer.remote(state))

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


def train_on_ray(cfg: TrainConfig, examples: list[dict] | None = None, *, hooks: Hooks | None = None) -> RunResult:
    """`train` with the Ray executor."""
    return train(cfg, examples, hooks=hooks, executor_factory=RayExecutor)
