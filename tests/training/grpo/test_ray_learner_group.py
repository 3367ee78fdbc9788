"""Ray mode end to end on a local 2-CPU Ray cluster: a rollout actor, a judge actor and a learner
group of two FSDP processes (gloo), on a tiny random Llama so the test is about the plumbing.

Step 1 is an SFT warm-start step (it always updates, so the group's step and the weight sync are
exercised whatever the rewards), steps 2-3 are GRPO steps whose rollouts must see the new weights.
Then local mode resumes from the group's checkpoint (weights and optimizer) for one more step.
"""

from __future__ import annotations

import json
import math

import pytest

from training.config import build_config

from .tiny_llama import save_tiny_llama

pytestmark = pytest.mark.slow


def test_ray_mode_with_two_learner_processes_trains_syncs_and_checkpoints(default_model_dir, examples, tmp_path):
    pytest.importorskip("ray")
    from training.grpo.checkpoint import latest_checkpoint, load_training_state, read_state
    from training.grpo.loop import train
    from training.orchestration.ray_mode import local_cpus, train_on_ray

    model = save_tiny_llama(tmp_path / "tiny", default_model_dir)
    cfg = build_config(
        "tiny-cpu",
        {
            "mode": "ray",
            "learner_workers": 2,
            "model": model,
            "sft_steps": 1,
            "steps": 2,
            "prompts_per_step": 2,
            "num_generations": 2,
            "max_new_tokens": 8,
            "save_every": 3,
            "reward": "shaped",
            "output_dir": str(tmp_path / "run"),
        },
    )
    assert local_cpus(cfg) <= 2  # the executor's ray.init(num_cpus=2) places every actor
    result = train_on_ray(cfg, examples)

    assert result.state == "succeeded" and result.step == 3
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["phase"]) for r in rows] == [(1, "sft"), (2, "grpo"), (3, "grpo")]
    sft, grpo = rows[0], rows[1:]
    assert sft["learner_processes"] == 2.0 and math.isfinite(sft["sft_loss"]) and sft["grad_norm"] > 0
    assert 0 < sft["weight_sync_seconds"] < sft["step_seconds"]
    assert grpo[0]["weights_version"] == 1.0  # the first rollout sampled the SFT step's weights
    assert all(math.isfinite(r["reward_mean"]) and r["groups"] == 2 for r in grpo)
    for r in grpo:
        if not r["skipped_update"]:
            assert math.isfinite(r["loss"]) and 0 < r["weight_sync_seconds"] < r["step_seconds"]
    ckpt = latest_checkpoint(tmp_path / "run")
    assert ckpt is not None and ckpt.name == "step-3"
    assert read_state(ckpt)["config"]["learner_workers"] == 2
    assert json.loads((ckpt / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    # The group saves torch's positional optimizer format, so local mode can resume from it.
    optim = load_training_state(ckpt)["optimizer"]
    assert optim["param_groups"][0]["params"] == list(range(len(optim["param_groups"][0]["params"])))
    local = build_config("tiny-cpu", {**cfg.to_dict(), "mode": "local", "learner_workers": 1, "steps": 3})
    resumed = train(local, examples)
    assert resumed.state == "succeeded" and resumed.step == 4
    assert f"resumed from {ckpt}" in (tmp_path / "run" / "train.log").read_text()
