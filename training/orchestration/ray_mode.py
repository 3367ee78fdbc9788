"""Ray mode: the same loop (`training.grpo.loop.train`) with its work done by Ray actors.

verl-style: the workers are plain classes (`RolloutWorker`, `Learner`/`ShardedLearner`, `Scorer`),
made remote only here, at launch. Per step the driver scatters prompts over the rollout actors,
completions over the judge actors, sends the batch to the learner group (one actor per learner
GPU or CPU process; with more than one they form an FSDP group, `learner_group.py`), then rank 0
puts the full new weights in the object store once and every rollout actor loads them before the
next rollout (the test checks the version each rollout reports). Each step's metrics carry
`weight_sync_seconds` (gather + publish + every rollout loaded) and `learner_seconds`.

    python -m training.train --preset tiny-cpu --set mode=ray --set learner_workers=2 --data FILE.jsonl --output DIR
    python -m training.orchestration.launch --rollout-gpus 2 --judge-gpus 2 --learner-gpus 4 ...   # a GPU layout
    RAY_ADDRESS=ray://head:10001 ... --set ray_address=auto      # an existing cluster

The learners of one group sit in one placement group (PACK: one node when they fit), so NCCL runs
over NVLink; on several nodes `output_dir` must be storage every node sees (rank 0 writes it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from training.config import TrainConfig
from training.grpo import checkpoint as ckpt
from training.grpo import loop
from training.grpo.learner import Learner, resolve_device
from training.grpo.loop import Hooks, RunResult
from training.grpo.rewarding import Scorer
from training.grpo.rollout import RolloutWorker, Sample, weights_norm
from training.orchestration.learner_group import NCCL_ENV, ShardedLearner, init_process_group, rendezvous_address

# CPU shares per actor: small, so a 2-core machine holds 2 learners + a rollout + a judge (1.75 CPUs).
LEARNER_CPUS, ROLLOUT_CPUS, JUDGE_CPUS = 0.5, 0.5, 0.25
PLACEMENT_TIMEOUT_S = 600


class LearnerWorker:
    """A Learner plus checkpointing, as one actor (plain class: testable without Ray).

    With world_size > 1 it is rank `rank` of the FSDP learner group: every method is then a
    collective that all ranks must be called with (LearnerGroup does that), and rank 0's answer counts.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        policy_path: str,
        reference_path: str,
        rank: int = 0,
        world_size: int = 1,
        init_method: str = "",
    ) -> None:
        torch.manual_seed(cfg.seed)
        self.cfg, self.rank = cfg, rank
        if world_size > 1:
            init_process_group(rank, world_size, init_method, resolve_device(cfg).type)
            self.learner: Learner = ShardedLearner(cfg, policy_path, reference_path)
        else:
            self.learner = Learner(cfg, policy_path, reference_path)

    def begin_phase(self, phase: str, fresh_optimizer: bool, position: int = 0) -> None:
        self.learner.begin_phase(phase, fresh_optimizer, position)

    def update(self, samples: list[Sample], advantages: torch.Tensor) -> dict[str, float]:
        return self.learner.update(samples, advantages)

    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]:
        return self.learner.sft_update(prompts, targets)

    def weights(self) -> tuple[dict[str, torch.Tensor], int]:
        return self.learner.weights(), self.learner.version

    def publish_weights(self) -> tuple[Any, int, float | None]:
        """Rank 0 puts the full weights in the object store and returns the reference and their norm
        (others: None); the rollouts report the norm of what they loaded, so a run shows the update arrived.

        The driver never holds the weights: rollout actors read the one stored copy directly.
        """
        import ray

        state = self.learner.weights()  # an all-gather in a group: every rank takes part
        if self.rank != 0:
            return None, self.learner.version, None
        return ray.put(state), self.learner.version, weights_norm(state)

    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str:
        lr = self.learner
        if isinstance(lr, ShardedLearner):
            weights, optim = lr.weights(), lr.optimizer_state()  # collectives first, on every rank
            if self.rank != 0:
                return ""
            path = ckpt.save_checkpoint(output_dir, step, lr.model, lr.tokenizer, optim, state, state_dict=weights)
            return str(path)
        return str(ckpt.save_checkpoint(output_dir, step, lr.model, lr.tokenizer, lr.optimizer_state(), state))

    def load_optimizer(self, state: dict[str, Any]) -> None:
        self.learner.load_optimizer_state(state)

    def close(self) -> None:
        if isinstance(self.learner, ShardedLearner):
            self.learner.close()


class ScorerWorker:
    """Scores completions; with `judge_serve` it first starts its own judge server on its GPU(s)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.server = None
        if cfg.judge_serve:
            from training.orchestration.judge_server import JudgeServer

            gpus = max(1, int(cfg.judge_gpus_per_worker))
            self.server = JudgeServer(cfg.judge_serve, cfg.judge_model, gpus=gpus)
            cfg = cfg.model_copy(update={"judge_base_url": self.server.start()})
        self.scorer = Scorer(cfg)

    def score(self, examples: list[dict], texts: list[str]) -> list[dict[str, float]]:
        return [self.scorer.score(e, t) for e, t in zip(examples, texts, strict=True)]

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


class LearnerGroup:
    """`learner_workers` LearnerWorker actors (ranks 0..N-1) in one placement group; calls fan out to all."""

    def __init__(self, ray: Any, cfg: TrainConfig, policy_path: str, reference_path: str) -> None:
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.ray, n, gpus = ray, cfg.learner_workers, cfg.gpus_per_worker
        bundle = {"CPU": LEARNER_CPUS, **({"GPU": gpus} if gpus > 0 else {})}
        self.pg = placement_group([dict(bundle) for _ in range(n)], strategy="PACK")
        ready, _ = ray.wait([self.pg.ready()], timeout=PLACEMENT_TIMEOUT_S)
        if not ready:
            raise RuntimeError(
                f"the Ray cluster cannot place {n} learners of {bundle} within {PLACEMENT_TIMEOUT_S} s; "
                f"lower learner_workers or add nodes (`ray status` shows what is free)."
            )

        def at(rank: int) -> PlacementGroupSchedulingStrategy:
            return PlacementGroupSchedulingStrategy(placement_group=self.pg, placement_group_bundle_index=rank)

        init = ""
        if n > 1:  # rank 0's node and a free port there: every rank meets at it
            rdv = ray.remote(num_cpus=0)(rendezvous_address).options(scheduling_strategy=at(0))
            init = ray.get(rdv.remote())
        actor = ray.remote(LearnerWorker)
        self.workers = [
            actor.options(num_cpus=LEARNER_CPUS, num_gpus=gpus, scheduling_strategy=at(rank)).remote(
                cfg, policy_path, reference_path, rank, n, init
            )
            for rank in range(n)
        ]

    def call(self, method: str, *args: Any) -> list[Any]:
        """The method on every rank at once (collectives need all); the answers in rank order."""
        refs = [self.ray.put(a) if isinstance(a, list | torch.Tensor | dict) else a for a in args]
        return self.ray.get([getattr(w, method).remote(*refs) for w in self.workers])

    def close(self) -> None:
        from ray.util.placement_group import remove_placement_group

        try:
            self.ray.get([w.close.remote() for w in self.workers], timeout=60)
        finally:
            remove_placement_group(self.pg)


def _chunks(items: list[Any], n: int) -> list[list[Any]]:
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)] if items else []


class RayExecutor:
    """The loop's Executor over Ray actors; starts a local cluster unless `ray_address` is set."""

    def __init__(self, cfg: TrainConfig, policy_path: str, reference_path: str) -> None:
        import ray
        from transformers import AutoTokenizer

        self.cfg = cfg
        self._started = not ray.is_initialized()
        if self._started:
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, log_to_driver=False, runtime_env={"env_vars": dict(NCCL_ENV)})
            else:
                # Local workers import this checkout, wherever the driver was started from.
                root = str(Path(__file__).resolve().parents[2])
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
                ray.init(
                    num_cpus=max(2, math.ceil(local_cpus(cfg))),
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"PYTHONPATH": path, **NCCL_ENV}},
                )
        self.ray = ray
        self.tokenizer = AutoTokenizer.from_pretrained(policy_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        gpus = cfg.gpus_per_worker
        device = "cuda" if gpus > 0 else "cpu"
        dtype = "bfloat16" if gpus > 0 else "float32"
        self.learners = LearnerGroup(ray, cfg, policy_path, reference_path)
        self.rollouts: list[Any] = [  # Ray actor handles
            ray.remote(num_cpus=ROLLOUT_CPUS, num_gpus=gpus)(RolloutWorker).remote(
                policy_path, device, dtype, cfg.seed + i
            )
            for i in range(cfg.rollout_workers)
        ]
        judge = ray.remote(num_cpus=JUDGE_CPUS, num_gpus=cfg.judge_gpus_per_worker)(ScorerWorker)
        self.judges: list[Any] = [judge.remote(cfg) for _ in range(cfg.judge_workers)]
        self.version = 0
        self.learner_weights_norm: float | None = None
        self._sync_weights()  # a resumed run's learner weights reach the rollouts before the first step

    def _sync_weights(self) -> float:
        """Learners -> object store (once) -> every rollout actor; returns the seconds it took."""
        t0 = time.perf_counter()
        (ref, version, norm), *_ = self.learners.call("publish_weights")
        self.ray.get([w.load_weights.remote(ref, version) for w in self.rollouts])
        self.version, self.learner_weights_norm = version, norm
        return time.perf_counter() - t0

    def _learn(self, method: str, *args: Any) -> dict[str, float]:
        t0 = time.perf_counter()
        metrics = dict(self.learners.call(method, *args)[0])
        metrics["learner_seconds"] = time.perf_counter() - t0
        metrics["weight_sync_seconds"] = self._sync_weights()
        metrics["learner_processes"] = float(self.cfg.learner_workers)
        if self.learner_weights_norm is not None:
            metrics["learner_weights_norm"] = self.learner_weights_norm  # what the next rollout must report
        return metrics

    def begin_phase(self, phase: str, *, fresh_optimizer: bool, position: int = 0) -> None:
        self.learners.call("begin_phase", phase, fresh_optimizer, position)

    def generate(self, prompts: list[str], **kw: Any) -> tuple[list[Sample], dict[str, float]]:
        parts = _chunks(list(range(len(prompts))), len(self.rollouts))
        note = kw.pop("note", None)  # the note decoding's per-prompt numbers follow each actor's share
        futures = [
            w.generate.remote([prompts[i] for i in part], **kw, note=note.part(part) if note is not None else None)
            for w, part in zip(self.rollouts, parts, strict=False)
        ]
        samples: list[Sample] = []
        stats: dict[str, float] = {"rollout_seconds": 0.0, "rollout_tokens": 0.0}
        versions, norms = [], set()
        for part, (got, st, version) in zip(parts, self.ray.get(futures), strict=True):
            norms.add(st.get("rollout_weights_norm"))
            for s in got:
                s.group = part[s.group]
                samples.append(s)
            stats["rollout_seconds"] = max(stats["rollout_seconds"], st["rollout_seconds"])
            stats["rollout_tokens"] += st["rollout_tokens"]
            versions.append(version)
        samples.sort(key=lambda s: s.group)  # stable: keeps each group's samples together and in order
        stats["rollout_tokens_per_s"] = stats["rollout_tokens"] / max(stats["rollout_seconds"], 1e-9)
        stats["weights_version"] = float(min(versions))
        if len(norms) == 1 and None not in norms:  # every rollout actor holds the same weights
            stats["rollout_weights_norm"] = float(norms.pop())
        return samples, stats

    def score(self, examples: Sequence[dict], texts: Sequence[str]) -> list[dict[str, float]]:
        idx = _chunks(list(range(len(texts))), len(self.judges))
        futures = [
            j.score.remote([examples[i] for i in p], [texts[i] for i in p])
            for j, p in zip(self.judges, idx, strict=False)
        ]
        return [s for part in self.ray.get(futures) for s in part]

    def update(self, samples: list[Sample], advantages: torch.Tensor) -> dict[str, float]:
        return self._learn("update", samples, advantages)

    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]:
        return self._learn("sft_update", prompts, targets)

    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str:
        return self.learners.call("save", output_dir, step, state)[0]

    def load_optimizer(self, state: dict[str, Any]) -> None:
        self.learners.call("load_optimizer", state)

    def close(self) -> None:
        try:
            self.ray.get([j.close.remote() for j in self.judges], timeout=60)
            self.learners.close()
        finally:
            if self._started:
                self.ray.shutdown()


def local_cpus(cfg: TrainConfig) -> float:
    """CPUs a local cluster needs to place every actor of `cfg` at once."""
    return LEARNER_CPUS * cfg.learner_workers + ROLLOUT_CPUS * cfg.rollout_workers + JUDGE_CPUS * cfg.judge_workers


def train_on_ray(cfg: TrainConfig, examples: list[dict] | None = None, *, hooks: Hooks | None = None) -> RunResult:
    """`train` with the Ray executor.

    Looked up on the module at call time: a name bound at import would keep whatever `loop.train` was
    when this module was first imported (a test that patched it made a later Ray test run the fake).
    """
    return loop.train(cfg, examples, hooks=hooks, executor_factory=RayExecutor)
