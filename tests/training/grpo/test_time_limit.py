"""`time_limit_minutes`: a run stops at a step boundary once its time is up, checkpointed and resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training.config import ConfigError, build_config
from training.grpo import loop


class _Tokenizer:
    eos_token_id = 0

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [1] * max(1, len(text.split()))}


class _Executor:
    """Stands in for the model: each SFT step takes 'a minute' of a fake clock; checkpoints are directories."""

    def __init__(self, clock: list[float]) -> None:
        self.tokenizer = _Tokenizer()
        self.clock = clock
        self.saved: list[int] = []

    def begin_phase(self, phase: str, *, fresh_optimizer: bool, position: int = 0) -> None:
        pass

    def sft_update(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, float]:
        self.clock[0] += 60.0
        return {"sft_loss": 1.0}

    def save(self, output_dir: str, step: int, state: dict[str, Any]) -> str:
        path = Path(output_dir) / f"step-{step}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "trainer_state.json").write_text(json.dumps({"step": step, **state}))
        self.saved.append(step)
        return str(path)

    def close(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(loop, "prompt_text", lambda tokenizer, example, **kw: "a short prompt")
    return now


def _cfg(tmp_path: Path, **overrides: Any):
    (tmp_path / "config.json").write_text("{}")  # a model directory as far as resolving it goes
    settings = {"kind": "sft", "steps": 10, "save_every": 100, "output_dir": str(tmp_path / "run"),
                "model": str(tmp_path), **overrides}  # fmt: skip
    return build_config("tiny-cpu", settings)


def test_a_run_stops_at_its_time_limit_with_a_checkpoint_of_the_last_step(clock, examples, tmp_path):
    ex = _Executor(clock)
    result = loop.train(_cfg(tmp_path, time_limit_minutes=3), examples, executor_factory=lambda c, p, r: ex)
    assert result.time_limited and result.state == "succeeded"
    assert result.step == 3 and ex.saved == [3]  # three one-minute steps, then stopped, checkpointed
    assert result.last_checkpoint and result.last_checkpoint.endswith("step-3")
    log = (tmp_path / "run" / "train.log").read_text()
    assert "time limit of 3 minutes reached: stopping before step 4" in log
    assert "stopped by its time limit (succeeded) at step 3 of 10" in log


def test_without_a_limit_the_run_goes_to_its_last_step(clock, examples, tmp_path):
    ex = _Executor(clock)
    result = loop.train(_cfg(tmp_path, steps=4), examples, executor_factory=lambda c, p, r: ex)
    assert not result.time_limited and result.step == 4 and ex.saved == [4]


def test_a_limit_shorter_than_one_step_still_makes_progress(clock, examples, tmp_path):
    ex = _Executor(clock)
    result = loop.train(_cfg(tmp_path, time_limit_minutes=0.1), examples, executor_factory=lambda c, p, r: ex)
    assert result.step == 1 and result.time_limited and ex.saved == [1]


def test_a_negative_limit_is_refused_with_the_field_named():
    with pytest.raises(ConfigError, match="time_limit_minutes=-1"):
        build_config("tiny-cpu", {"time_limit_minutes": -1})
