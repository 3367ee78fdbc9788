"""training.api: the one public entry point (CLI, Celery task and benchmarks start runs here)."""

from __future__ import annotations

import pytest

import training
from training import api
from training.config import build_config


def test_step_count_covers_the_warm_start_and_grpo():
    assert api.total_steps(build_config("tiny-cpu", {"steps": 3, "sft_steps": 2})) == 5
    assert api.total_steps(build_config("tiny-cpu", {"kind": "sft", "steps": 4, "sft_steps": 2})) == 4


def test_dispatch_by_mode_with_checked_examples(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("training.grpo.loop.train", lambda cfg, ex, **kw: calls.append(("local", ex, kw)) or "L")
    monkeypatch.setattr("training.orchestration.ray_mode._ray_available", lambda: True, raising=False)
    monkeypatch.setattr("training.orchestration.ray_mode.train_on_ray",
                        lambda cfg, ex, **kw: calls.append(("ray", ex, kw)) or "R")  # fmt: skip
    example = {"dialogue": [{"speaker": "doctor", "text": "Hi."}], "reference": {"S": "Cough."}}
    cfg = build_config("tiny-cpu", {"output_dir": str(tmp_path)})
    hooks = api.Hooks()
    assert training.run(cfg, hooks, examples=[example]) == "L"
    assert calls[0][0] == "local" and calls[0][1][0]["key"] == "example-0" and calls[0][2]["hooks"] is hooks
    ray_cfg = build_config("tiny-cpu", {"output_dir": str(tmp_path), "mode": "ray"})
    assert api.run(ray_cfg, examples=[example]) == "R" and calls[1][0] == "ray"


def test_bad_examples_and_missing_data_fail_before_any_model_loads(tmp_path):
    cfg = build_config("tiny-cpu", {"output_dir": str(tmp_path)})
    with pytest.raises(api.DataError, match="example 1: 'reference' must be"):
        api.run(cfg, examples=[{"dialogue": [{"speaker": "d", "text": "t"}], "reference": {"S": "x"}},
                               {"dialogue": [{"speaker": "d", "text": "t"}], "reference": {}}])  # fmt: skip
    with pytest.raises(api.DataError, match="no examples"):
        api.run(cfg, examples=[])
    with pytest.raises(api.ConfigError, match="no training data"):
        api.run(cfg)
    assert not list(tmp_path.iterdir())  # nothing was started
