"""Ray mode on a local CPU Ray cluster with the real default model: rollout, judge and learner actors."""

from __future__ import annotations

import json

import pytest

from training.config import build_config

pytestmark = pytest.mark.slow


def test_ray_mode_runs_two_steps_and_rollouts_use_each_new_weights(default_model_dir, examples, tmp_path):
    pytest.importorskip("ray")
    from training.grpo.checkpoint import latest_checkpoint
    from training.orchestration.ray_mode import train_on_ray

    cfg = build_config("tiny-cpu", {"mode": "ray", "steps": 2, "prompts_per_step": 2, "num_generations": 2,
                                    "max_new_tokens": 8, "beta": 0, "save_every": 2, "reward": "shaped",
                                    "output_dir": str(tmp_path / "run")})  # fmt: skip
    result = train_on_ray(cfg, examples)
    assert result.state == "succeeded" and result.step == 2
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["weights_version"] == 0.0
    # Step 2's rollout ran on the weights of every optimiser step taken before it (broadcast via the object store).
    assert rows[1]["weights_version"] == rows[0].get("optimizer_steps", 0.0)
    assert all(r["groups"] == 2 for r in rows)
    assert latest_checkpoint(tmp_path / "run").name == "step-2"
