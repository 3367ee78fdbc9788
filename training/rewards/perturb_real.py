"""Grounding on real notes: invent content in a clinician's note and see whether the reward notices.

The synthetic suite (`perturb.run_suite`) damages notes the renderer wrote. This one takes real
clinician notes (ACI-Bench references, split into S/O/A/P by the loader), invents one thing the
dialogue never says, and compares the scores of the note before and after:

- ``vital_bp``: "BP 182/110 mmHg." added to O;
- ``vital_spo2``: "SpO2 88% on room air." added to O;
- ``vital_misplaced``: a number the dialogue does state, but not as a heart rate, added to O as one
  ("Heart rate 58 bpm." from the patient's age): the vitals template a small model fills;
- ``drug_dose``: a drug and dose the dialogue never names added to P ("Start apixaban 5 mg twice daily.");
- ``diagnosis``: a diagnosis the dialogue never states added to A ("Atrial fibrillation.");

and two edits that change nothing a clinician would sign differently:

- ``reorder``: the lines of every section in reverse order;
- ``whitespace``: doubled spaces, blank lines and trailing spaces.

A perturbation is *detected* when the score drops; a paraphrase-like edit is *kept* when it drops
by less than `tolerance`. Scores: the full reward (format + S + O + A + P with
`GroundedReferenceJudge`) and the grounding alone (sum of `GroundingJudge` over sections, no reference).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inference.schema import SECTION_KEYS

from .base import reward
from .grounding import GroundedReferenceJudge, GroundingJudge, support, ungrounded

__all__ = ["HARMFUL", "KEPT", "RealPerturbationReport", "real_perturbations", "run_real_suite"]

HARMFUL = ("vital_bp", "vital_spo2", "vital_misplaced", "drug_dose", "diagnosis")
KEPT = ("reorder", "whitespace")
_DRUGS = (
    "apixaban 5 mg twice daily",
    "metoprolol succinate 50 mg daily",
    "sertraline 50 mg daily",
    "levothyroxine 75 mcg daily",
)
_DIAGNOSES = ("Atrial fibrillation", "Pulmonary embolism", "Hypothyroidism", "Type 2 diabetes mellitus")


def _add(text: str, line: str) -> str:
    return f"{text.rstrip()}\n{line}".strip()


def _misplaced_vital(dialogue: Any) -> str:
    """A heart rate made of a number the dialogue states for something else (a heart rate could be it)."""
    said = support(dialogue)
    candidates = [
        v for v in said.values if v.is_integer() and 20 <= v <= 250 and f"heart rate={v:g}" not in said.vitals
    ]
    if not candidates:
        return "Heart rate 2 bpm."  # no stated number could be one: an impossible one
    return f"Heart rate {min(candidates, key=lambda v: abs(v - 75)):g} bpm."  # the most plausible-looking


def real_perturbations(example: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The perturbed copies of the example's reference note, by kind (see the module docstring)."""
    note = {k: str((example.get("reference") or {}).get(k) or "") for k in SECTION_KEYS}
    dialogue = example.get("dialogue")
    # An invention is something the dialogue never states, in any wording the grounding rule knows.
    drug = next((d for d in _DRUGS if ungrounded(d, dialogue).ungrounded_drugs), _DRUGS[0])
    dx = next((d for d in _DIAGNOSES if ungrounded(d, dialogue).ungrounded_diagnoses), _DIAGNOSES[0])
    return {
        "vital_bp": {**note, "O": _add(note["O"], "BP 182/110 mmHg.")},
        "vital_spo2": {**note, "O": _add(note["O"], "SpO2 88% on room air.")},
        "vital_misplaced": {**note, "O": _add(note["O"], _misplaced_vital(dialogue))},
        "drug_dose": {**note, "P": _add(note["P"], f"Start {drug}.")},
        "diagnosis": {**note, "A": _add(note["A"], f"{dx}.")},
        "reorder": {k: "\n".join(reversed(v.splitlines())) for k, v in note.items()},
        "whitespace": {k: re.sub(r" ", "  ", v).replace("\n", "\n\n") + "  " for k, v in note.items()},
    }


@dataclass
class RealPerturbationReport:
    """Per kind: trials, detections (score dropped) and mean drops, for the full reward and grounding alone."""

    examples: int = 0
    tolerance: float = 0.02
    trials: dict[str, int] = field(default_factory=dict)
    reward_lower: dict[str, int] = field(default_factory=dict)
    grounding_lower: dict[str, int] = field(default_factory=dict)
    reward_drop: dict[str, float] = field(default_factory=dict)
    grounding_drop: dict[str, float] = field(default_factory=dict)
    correct_reward: float = 0.0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def rate(self, counts: dict[str, int], kind: str) -> float:
        return counts.get(kind, 0) / self.trials[kind] if self.trials.get(kind) else float("nan")

    def mean(self, sums: dict[str, float], kind: str) -> float:
        return sums.get(kind, 0.0) / self.trials[kind] if self.trials.get(kind) else float("nan")

    def markdown(self) -> str:
        rows = []
        for kind in (*HARMFUL, *KEPT):
            verb = "lower" if kind in HARMFUL else f"within {self.tolerance}"
            rows.append(
                f"| {kind} | {self.trials.get(kind, 0)} | {self.rate(self.reward_lower, kind):.0%} ({verb}) "
                f"| {self.mean(self.reward_drop, kind):+.3f} | {self.rate(self.grounding_lower, kind):.0%} ({verb}) "
                f"| {self.mean(self.grounding_drop, kind):+.3f} |"
            )
        return "\n".join(
            [
                f"{self.examples} clinician notes; mean full reward of the unchanged note "
                f"{self.correct_reward / max(1, self.examples):.3f} / 5.",
                "",
                "| perturbation | notes | full reward | mean change | grounding alone | mean change |",
                "| --- | --- | --- | --- | --- | --- |",
                *rows,
            ]
        )


def _scores(example: Mapping[str, Any], note: Mapping[str, str], judge: Any, grounding: GroundingJudge):
    dialogue, reference = example.get("dialogue"), example.get("reference")
    total = reward(dialogue, json.dumps(dict(note)), reference, judge).total
    grounded = sum(grounding.judge(dialogue, k, note[k]).score for k in SECTION_KEYS)
    return total, grounded


def run_real_suite(examples: Iterable[Mapping[str, Any]], *, tolerance: float = 0.02) -> RealPerturbationReport:
    """Score each example's reference note and its perturbations (see the module docstring)."""
    judge, grounding = GroundedReferenceJudge(), GroundingJudge()
    report = RealPerturbationReport(tolerance=tolerance)
    for example in examples:
        report.examples += 1
        note = {k: str((example.get("reference") or {}).get(k) or "") for k in SECTION_KEYS}
        base_reward, base_grounding = _scores(example, note, judge, grounding)
        report.correct_reward += base_reward
        for kind, perturbed in real_perturbations(example).items():
            total, grounded = _scores(example, perturbed, judge, grounding)
            report.trials[kind] = report.trials.get(kind, 0) + 1
            harmful = kind in HARMFUL
            reward_ok = total < base_reward if harmful else total >= base_reward - tolerance
            grounding_ok = grounded < base_grounding if harmful else grounded >= base_grounding - tolerance
            report.reward_lower[kind] = report.reward_lower.get(kind, 0) + reward_ok
            report.grounding_lower[kind] = report.grounding_lower.get(kind, 0) + grounding_ok
            report.reward_drop[kind] = report.reward_drop.get(kind, 0.0) + total - base_reward
            report.grounding_drop[kind] = report.grounding_drop.get(kind, 0.0) + grounded - base_grounding
            if not (reward_ok and grounding_ok):
                report.misses.append(
                    {"key": example.get("key"), "kind": kind, "reward": (base_reward, total), "grounding": grounded}
                )
    return report
