"""The public entry point of training: `run(config, hooks)` runs or resumes one GRPO/SFT run.

The command line (`python -m training.train`), the clinic's Celery task and the benchmarks all
start runs here, so the local/Ray dispatch, the step count and the example check live in one
place. Callers outside `training` import from this module only (also `training.run`):

    from training.api import Hooks, run, total_steps
    result = run(build_config("tiny-cpu", {...}), Hooks(on_step=...), examples=[...])

Errors: `ConfigError` (a setting that cannot run), `DataError` (examples that cannot be trained
on); a diverged run raises FloatingPointError (training.grpo.learner.NonFiniteError).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from training.config import ConfigError, TrainConfig, build_config
from training.grpo.data import DataError, check_example
from training.grpo.loop import Executor, Hooks, RunResult

__all__ = ["ConfigError", "DataError", "Hooks", "RunResult", "TrainConfig", "build_config", "run", "total_steps"]


def total_steps(cfg: TrainConfig) -> int:
    """The steps a run counts through: the SFT warm start then the GRPO steps (kind=sft: `steps`)."""
    return cfg.steps if cfg.kind == "sft" else cfg.sft_steps + cfg.steps


def run(
    cfg: TrainConfig,
    hooks: Hooks | None = None,
    *,
    examples: Sequence[Mapping[str, Any]] | None = None,
    executor_factory: Callable[[TrainConfig, str, str], Executor] | None = None,
) -> RunResult:
    """Run (or resume from the newest checkpoint in `cfg.output_dir`) the run `cfg` describes.

    `examples`: Example dicts (checked against `inference.schema.Example`); None reads `cfg.data`.
    `cfg.mode` picks the executor: `local` (this process) or `ray` (rollout/judge/learner actors).
    `executor_factory` replaces the local executor (benchmarks time or instrument it).
    """
    checked: list[dict[str, Any]] | None = None
    if examples is not None:
        checked = [check_example(e, f"example {i}", default_key=f"example-{i}") for i, e in enumerate(examples)]
        if not checked:
            raise DataError("no examples to train on; attach a dataset with examples or pass --data FILE.jsonl.")
    elif not cfg.data:
        raise ConfigError("no training data: pass --data FILE.jsonl (examples, one JSON object a line).")
    if cfg.mode == "ray":
        if executor_factory is not None:
            raise ConfigError("executor_factory replaces the local executor; it cannot be used with mode=ray.")
        from training.orchestration.ray_mode import train_on_ray

        return train_on_ray(cfg, checked, hooks=hooks)
    from training.grpo.loop import train

    return train(cfg, checked, hooks=hooks, executor_factory=executor_factory)
