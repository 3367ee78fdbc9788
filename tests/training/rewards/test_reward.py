"""format_reward / reward(): the recipe's contract (format gate, 0..5 total, judge not called on failure)."""

from __future__ import annotations

import doctest
import json

import pytest

import training.rewards.base as base
from training.rewards import RewardBreakdown, Verdict, format_reward, format_reward_fn, reward

NOTE = {"S": "cough for 5 days", "O": "T 38.2", "A": "acute bronchitis", "P": "fluids and rest"}


class SpyJudge:
    def __init__(self, score: float = 0.5) -> None:
        self.calls: list[str] = []
        self.score = score

    def judge(self, dialogue, key, predicted, reference):
        self.calls.append(key)
        return Verdict(self.score, f"spy {key}")


@pytest.mark.parametrize(
    ("completion", "lenient", "strict"),
    [
        (json.dumps(NOTE), 1.0, 1.0),
        (f"  {json.dumps(NOTE)}\n", 1.0, 1.0),
        (f"```json\n{json.dumps(NOTE)}\n```", 1.0, 0.0),
        (f"Here is the note: {json.dumps(NOTE)} Hope it helps.", 1.0, 0.0),
        (json.dumps({**NOTE, "extra": "x"}), 0.0, 0.0),
        (json.dumps({k: v for k, v in NOTE.items() if k != "P"}), 0.0, 0.0),
        (json.dumps({**NOTE, "S": 5}), 0.0, 0.0),
        ('{"S": "a", "O": "b", "A": "c", "P": "d"', 0.0, 0.0),
        ("", 0.0, 0.0),
        ("no json at all", 0.0, 0.0),
    ],
)
def test_format_reward_lenient_and_strict(completion, lenient, strict):
    assert format_reward(completion) == lenient
    assert format_reward(completion, strict=strict is not None) == strict


def test_format_reward_rejects_non_text():
    with pytest.raises(TypeError, match="completion text"):
        format_reward({"S": "x"})  # type: ignore[arg-type]


def test_format_reward_fn_doctest_and_chat_shape():
    assert doctest.testmod(base).failed == 0
    chat = [[{"role": "assistant", "content": json.dumps(NOTE)}], [{"role": "assistant", "content": "nope"}]]
    assert format_reward_fn(chat, prompts=["p1", "p2"]) == [1.0, 0.0]


def test_reward_totals_format_plus_four_sections():
    judge = SpyJudge(0.5)
    result = reward("Doctor: hi", json.dumps(NOTE), NOTE, judge)
    assert isinstance(result, RewardBreakdown)
    assert result.format == 1.0
    assert result.total == pytest.approx(3.0)
    assert judge.calls == ["S", "O", "A", "P"]
    assert result.details["A"]["reason"] == "spy A"
    assert result.as_dict()["total"] == pytest.approx(3.0)


def test_reward_format_failure_is_zero_and_judge_not_called():
    judge = SpyJudge(1.0)
    result = reward("Doctor: hi", '{"S": "only one key"}', NOTE, judge)
    assert result.total == 0.0
    assert judge.calls == []
    assert "missing key" in result.details["format_reason"]


def test_reward_strict_refuses_prose_around_the_object():
    judge = SpyJudge(1.0)
    assert reward("", f"Note: {json.dumps(NOTE)}", NOTE, judge).total == 5.0
    assert reward("", f"Note: {json.dumps(NOTE)}", NOTE, judge, strict=True).total == 0.0


def test_verdict_rejects_out_of_range_scores():
    with pytest.raises(ValueError, match="clamp"):
        Verdict(1.5, "too good")
