"""Ray mode on a local CPU Ray cluster with the real default model: rollout, judge and learner actors."""

from __future__ import annotations

import json

import pytest

from training.config import build_config

pytestmark = pytest.mark.slow


def test_ray_mode_runs_two_steps_and_the_rollout_samples_the_updated_weights(default_model_dir, examples, tmp_path):
    pytest.importorskip("ray")
    import torch
    from transformers import AutoModelForCausalLM

    from training.grpo.checkpoint import latest_checkpoint
    from training.grpo.rollout import weights_norm
    from training.orchestration.ray_mode import train_on_ray

    # Step 1 is an SFT step (it always updates the weights), step 2 a GRPO step whose rollout must use them.
    cfg = build_config("tiny-cpu", {"mode": "ray", "sft_steps": 1, "steps": 1, "prompts_per_step": 2,
                                    "num_generations": 2, "max_new_tokens": 8, "beta": 0, "save_every": 2,
                                    "reward": "shaped", "output_dir": str(tmp_path / "run")})  # fmt: skip
    result = train_on_ray(cfg, examples)
    assert result.state == "succeeded" and result.step == 2
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["phase"]) for r in rows] == [(1, "sft"), (2, "grpo")]
    base = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32).state_dict()
    # The rollout actor's model holds exactly what the learner published after the SFT update (the norm is
    # summed in float64 in name order over what each side holds: equal weights, equal numbers), and that
    # is not the base model it started from: the update reached the rollout, not just a version counter.
    assert rows[1]["rollout_weights_norm"] == rows[0]["learner_weights_norm"]
    assert rows[1]["rollout_weights_norm"] != weights_norm(base)
    assert rows[1]["groups"] == 2
    assert latest_checkpoint(tmp_path / "run").name == "step-2"
