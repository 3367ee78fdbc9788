"""Scoring completions for GRPO through `training.rewards` (the same grader evaluation uses).

`reward=format` is the 0/1 format reward; `full` adds the per-section judge (0..5); with
`judge=grounded` that judge is `GroundedReferenceJudge` (reference overlap x grounding in the
dialogue, training/rewards/grounding.py), the full reward of issue 14;
`shaped` gives partial credit on the way to valid JSON, because the base model scores 0 on the
strict format everywhere and GRPO then gets no signal at all (issue 7, warm start).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from inference.schema import SECTION_KEYS
from training.config import TrainConfig
from training.rewards import (
    GroundedReferenceJudge,
    LLMJudge,
    ReferenceJudge,
    SectionJudge,
    format_reward,
    judge_for_example,
    reward,
)

_KEY = {k: re.compile(rf'"{k}"\s*:\s*"') for k in SECTION_KEYS}


def shaped_format_reward(completion: str, *, strict: bool = False) -> float:
    """1.0 for a valid note; else partial credit in [0, 0.8]: starts with `{`, each `"K": "` key, parses.

    >>> shaped_format_reward('{"S": "a", "O": "b", "A": "c", "P": "d"}')
    1.0
    >>> shaped_format_reward('{"S": "cough", "O": ')
    0.25
    >>> shaped_format_reward("The patient has a cough.")
    0.0
    """
    if format_reward(completion, strict=strict) == 1.0:
        return 1.0
    text = completion.strip()
    score = 0.15 if text.startswith("{") else 0.0
    score += sum(0.1 for k in SECTION_KEYS if _KEY[k].search(text))
    try:
        json.loads(text)
        score += 0.25
    except ValueError:
        pass
    return round(min(score, 0.8), 4)


class Scorer:
    """Scores (example, completion) pairs into flat metric dicts: total, format, S, O, A, P."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self._default_judge: SectionJudge | None = None
        if cfg.reward == "full":
            if cfg.judge == "llm":
                self._default_judge = LLMJudge(cfg.judge_base_url, cfg.judge_model)
            elif cfg.judge == "reference":
                self._default_judge = ReferenceJudge()
            elif cfg.judge == "grounded":
                self._default_judge = GroundedReferenceJudge()

    def judge_for(self, example: Mapping[str, Any]) -> SectionJudge:
        if self.cfg.judge in ("llm", "reference", "grounded") and self._default_judge is not None:
            return self._default_judge
        return judge_for_example(dict(example))

    def score(self, example: Mapping[str, Any], completion: str) -> dict[str, float]:
        strict = self.cfg.strict_format
        if self.cfg.reward == "format":
            f = format_reward(completion, strict=strict)
            return {"total": f, "format": f}
        if self.cfg.reward == "shaped":
            s = shaped_format_reward(completion, strict=strict)
            return {"total": s, "format": 1.0 if s == 1.0 else 0.0}
        b = reward(
            example.get("dialogue"), completion, example.get("reference"), self.judge_for(example), strict=strict
        )
        return {"total": b.total, "format": b.format, **{k: getattr(b, k) for k in SECTION_KEYS}}
