"""Training: synthesis, rewards, GRPO/SFT, evaluation. Start a run with `training.run(config, hooks)`
(see training.api); the heavy modules (torch) load only when a run starts."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "run":
        from training.api import run

        return run
    raise AttributeError(f"module 'training' has no attribute {name!r}")
