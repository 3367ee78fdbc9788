"""The reward contract (docs/architecture.md, Reward and judge).

`reward()` = format (0 or 1) + one judge score in [0, 1] per SOAP section, so 0 to 5, as in the
published recipe. A completion that fails the format check gets 0 in total and the judge is not
called: a judge call costs money/time and an unparseable note has nothing to judge.

`format_reward()` and `format_reward_fn()` (TRL's `f(completions, **columns) -> list[float]`
shape) share one parser with inference (`inference.parsing.parse_note`), so the reward the policy
is trained on and the validity the evaluation reports cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from inference.schema import SECTION_KEYS

__all__ = [
    "RewardBreakdown",
    "SectionJudge",
    "Verdict",
    "dialogue_text",
    "format_reward",
    "format_reward_fn",
    "reward",
]


@dataclass(frozen=True)
class Verdict:
    """One judged section: `score` in [0, 1], a human-readable `reason`.

    `error` is True when the judge could not decide (endpoint down, unparseable answer); the
    score is then 0, never a pass, and the evaluation counts these separately.
    """

    score: float
    reason: str
    error: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"Verdict score must lie in [0, 1], got {self.score!r}; clamp it in the judge.")


@runtime_checkable
class SectionJudge(Protocol):
    """Scores one section of a predicted note. Implementations: FactJudge, ReferenceJudge, LLMJudge.

    A judge may also offer `judge_note(dialogue, predicted, reference) -> dict[key, Verdict]` to
    judge the four sections at once (the LLM judge does so in parallel); `reward()` uses it when present.
    """

    def judge(self, dialogue: Any, key: str, predicted: str, reference: str | None) -> Verdict: ...


@dataclass
class RewardBreakdown:
    """The reward of one completion, kept whole for logging: totals plus each section's verdict."""

    format: float
    S: float = 0.0
    O: float = 0.0  # noqa: E741
    A: float = 0.0
    P: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.format + self.S + self.O + self.A + self.P

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total"] = self.total
        return out


def _parse(completion: str, strict: bool):
    from inference.parsing import parse_note  # imported late: inference loads torch lazily

    return parse_note(completion, strict=strict)


def format_reward(completion: str, *, strict: bool = False) -> float:
    """1.0 if `completion` holds one JSON object with exactly the string keys S, O, A, P, else 0.0.

    Lenient (default, the recipe): the object bare, in a ``` fence, or between the first `{` and
    the last `}`. Strict: nothing but whitespace outside the object.
    """
    if not isinstance(completion, str):
        raise TypeError(f"format_reward expects the completion text (str), got {type(completion).__name__}.")
    return 1.0 if _parse(completion, strict).ok else 0.0


def _completion_text(completion: Any) -> str:
    """TRL passes plain strings, or for chat datasets a list of messages; take the assistant text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"A completion must be a str or a list of chat messages, got {type(completion).__name__}.")


def format_reward_fn(completions: Sequence[Any], strict: bool = False, **kwargs: Any) -> list[float]:
    """TRL-style reward function: one format score per completion (other dataset columns are ignored).

    >>> format_reward_fn(['{"S": "cough", "O": "T 38.2", "A": "bronchitis", "P": "rest"}', "no json here"])
    [1.0, 0.0]
    >>> format_reward_fn([[{"role": "assistant", "content": '```json\\n{"S":"","O":"","A":"","P":""}\\n```'}]])
    [1.0]
    """
    return [format_reward(_completion_text(c), strict=strict) for c in completions]


def dialogue_text(dialogue: Any) -> str:
    """A dialogue as plain 'speaker: text' lines, from a string, Turns, or {speaker, text} dicts."""
    if dialogue is None:
        return ""
    if isinstance(dialogue, str):
        return dialogue
    lines = []
    for turn in dialogue:
        if isinstance(turn, Mapping):
            lines.append(f"{turn.get('speaker', '')}: {turn.get('text', '')}")
        else:
            lines.append(f"{getattr(turn, 'speaker', '')}: {getattr(turn, 'text', '')}")
    return "\n".join(lines)


def _judge_all(judge: Any, dialogue: Any, predicted: dict[str, str], reference: Mapping[str, Any] | None) -> dict:
    ref = {key: (reference or {}).get(key) for key in SECTION_KEYS}
    if hasattr(judge, "judge_note"):
        return judge.judge_note(dialogue, predicted, ref)
    return {key: judge.judge(dialogue, key, predicted[key], ref[key]) for key in SECTION_KEYS}


def reward(
    dialogue: Any,
    completion: str,
    reference: Mapping[str, Any] | None,
    judge: SectionJudge,
    *,
    strict: bool = False,
) -> RewardBreakdown:
    """Score one completion: format (0/1) plus the judge's score for each section (0..1 each).

    `reference` may miss sections (e.g. MTS-Dialog carries one section); the judge then sees None
    for them. On a format failure the total is 0, `details['format_reason']` says why, and the
    judge is not called.
    """
    result = _parse(completion, strict)
    if not result.ok:
        return RewardBreakdown(format=0.0, details={"format_reason": result.reason})
    predicted = result.note.as_dict()
    verdicts = _judge_all(judge, dialogue, predicted, reference)
    details: dict[str, Any] = {
        key: {"score": v.score, "reason": v.reason, "error": v.error, **v.details} for key, v in verdicts.items()
    }
    return RewardBreakdown(format=1.0, details=details, **{key: verdicts[key].score for key in SECTION_KEYS})
