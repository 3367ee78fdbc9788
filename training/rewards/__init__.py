"""Rewards and judges for GRPO and evaluation (issue 6; contract in docs/architecture.md).

- `format_reward(completion) -> 0.0 | 1.0` and TRL-style `format_reward_fn(completions, **kw)`;
- `reward(dialogue, completion, reference, judge, *, strict=False) -> RewardBreakdown` (0 to 5);
- judges implementing `SectionJudge`: `FactJudge` (gold facts, deterministic), `ReferenceJudge`
  (clinician text, deterministic), `LLMJudge` (OpenAI-compatible endpoint), `GroundingJudge`
  (support in the dialogue only, any dialogue) and `GroundedReferenceJudge` (the full reward's
  judge, `judge=grounded`: ROUGE/concept overlap with the reference x grounding);
- `perturb.run_suite` measures how well a judge separates correct notes from damaged ones.
"""

from __future__ import annotations

from .base import RewardBreakdown, SectionJudge, Verdict, dialogue_text, format_reward, format_reward_fn, reward
from .facts import Fact, FactJudge, fact_present
from .grounding import GroundedReferenceJudge, GroundingJudge, ungrounded
from .llm import JudgeUnavailable, LLMJudge, VerdictCache
from .reference import ReferenceJudge

__all__ = [
    "Fact",
    "FactJudge",
    "GroundedReferenceJudge",
    "GroundingJudge",
    "JudgeUnavailable",
    "LLMJudge",
    "ReferenceJudge",
    "RewardBreakdown",
    "SectionJudge",
    "Verdict",
    "VerdictCache",
    "dialogue_text",
    "fact_present",
    "format_reward",
    "format_reward_fn",
    "judge_for_example",
    "reward",
    "ungrounded",
]


def judge_for_example(example: dict, default: SectionJudge | None = None) -> SectionJudge:
    """The judge an example calls for: FactJudge when it carries gold facts, else `default` or ReferenceJudge."""
    if example.get("facts"):
        return FactJudge(example["facts"])
    return default if default is not None else ReferenceJudge()
