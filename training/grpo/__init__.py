"""GRPO: group-relative policy optimisation for the SOAP-note policy.

Pure pieces (`advantages`, `loss`, `batching`) are plain functions on tensors; `rollout` samples
completions, `learner` owns the trainable model and optimiser, `loop` ties them together in
local mode, and `training.orchestration` runs the same loop with Ray actors.
"""

from __future__ import annotations

from training.grpo.advantages import AdvantageResult, compute_advantages
from training.grpo.loss import LossOutput, grpo_loss, per_token_logps

__all__ = ["AdvantageResult", "LossOutput", "compute_advantages", "grpo_loss", "per_token_logps"]
