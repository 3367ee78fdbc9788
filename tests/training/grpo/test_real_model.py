"""The loop with the real default model on CPU (small: 2 prompts x G=2, a few tokens)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.config import build_config
from training.grpo.data import indices_for_step, prompt_text
from training.grpo.loop import LocalExecutor

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_zero_advantages_change_nothing_and_rollouts_see_each_update(default_model_dir, examples, tmp_path):
    cfg = build_config("tiny-cpu", {"beta": 0, "weight_decay": 0, "max_new_tokens": 4, "learning_rate": 1e-3,
                                    "output_dir": str(tmp_path)})  # fmt: skip
    ex = LocalExecutor(cfg, str(default_model_dir), str(default_model_dir))
    prompts = [prompt_text(ex.tokenizer, e, few_shot=False, max_tokens=cfg.max_prompt_tokens) for e in examples[:1]]
    samples, stats = ex.generate(prompts, n=2, max_new_tokens=4, temperature=1.0, top_p=1.0, seed=0)
    assert len(samples) == 2 and stats["weights_version"] == 0
    before = _snapshot(ex.learner.model)

    # An all-ties batch: zero advantages -> zero policy gradient -> the weights stay bit-identical.
    ex.update(samples, torch.zeros(2))
    after = _snapshot(ex.learner.model)
    assert all(torch.equal(before[k], after[k]) for k in before)

    # A real update: the rollout engine's next log-probs come from the new weights.
    probe = samples[:1]
    rollout_model = ex.rollout.backend.model
    lp_before = ex.learner._logps(rollout_model, probe, grad=False)[0]
    metrics = ex.update(samples, torch.tensor([1.0, -1.0]))
    lp_after = ex.learner._logps(rollout_model, probe, grad=False)[0]
    assert metrics["grad_norm"] > 0 and metrics["train_tokens"] == sum(len(s.completion_ids) for s in samples)
    assert not torch.allclose(lp_before, lp_after)
    _, stats = ex.generate(prompts, n=2, max_new_tokens=2, temperature=1.0, top_p=1.0, seed=1)
    assert stats["weights_version"] == 2.0  # two optimiser steps so far


def _train_cmd(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "training.train", "--preset", "tiny-cpu", "--data", str(data), "--output", str(out),
            "--set", "steps=2", "--set", "save_every=1", "--set", "max_new_tokens=4", "--set", "beta=0"]  # fmt: skip


def test_kill_9_resumes_from_last_checkpoint_with_the_same_data_order(default_model_dir, examples_file, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_train_cmd(examples_file, out), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        for line in proc.stdout:  # wait for the first checkpoint, then kill without warning
            if '"event": "checkpoint"' in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    done = subprocess.run(_train_cmd(examples_file, out), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=400)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from" in (out / "train.log").read_text()
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["state"] == "succeeded" and last["step"] == 2
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    keys = [json.loads(x)["key"] for x in examples_file.read_text().splitlines()]
    by_step = {r["step"]: r["example_keys"] for r in rows}
    assert set(by_step) == {1, 2}
    for step, got in by_step.items():
        assert got == [keys[i] for i in indices_for_step(len(keys), step - 1, 2, seed=0)]
    final = out / "step-2"
    assert (final / "model.safetensors").is_file() and (final / "optimizer.pt").is_file()
    from inference.models import resolve_model

    assert resolve_model(str(final)) == final.resolve()  # the app can load the checkpoint as a model
