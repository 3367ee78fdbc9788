"""FactJudge: a deterministic section judge for examples that carry gold facts (synthetic cases).

Fact format (shared with training.synthesis): ``{section, kind, text, surface_forms, value?, unit?}``.

Scoring of section K (documented in docs/results.md, "Fact judge scoring"):

1. **Recall** = matched gold facts of K / gold facts of K. A fact matches when
   - it has a `value`: every number of the value (``"120/80"`` -> 120 and 80) appears in the section
     (digits or number words), and, when the fact names a drug, the drug name appears too;
   - otherwise: its `text` or one of its `surface_forms` appears as a phrase (word-boundary, plural/-ing
     tolerant), or at least `coverage` (default 75 %) of the content words of one of them appear.
   A section with no gold facts scores 1 when it says something or the reference is blank too.
   A near-empty section (fewer than 2 content words) where facts are expected scores 0.
2. **Unsupported content**: numbers, drug names and diagnosis words in the section that appear
   neither in the dialogue nor in any gold fact. Each costs `unsupported_penalty` (0.2).
3. **Misplaced facts** (only when the whole note is judged, `judge_note`): a gold fact of another
   section that appears here but not in its own section. Each costs `misplaced_penalty` (0.15).

score = max(0, recall - min(max_penalty, penalties)), max_penalty 0.6 by default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inference.schema import SECTION_KEYS

from . import text as tx
from .base import Verdict, dialogue_text

__all__ = ["Fact", "FactJudge", "fact_present"]


@dataclass(frozen=True)
class Fact:
    section: str
    kind: str
    text: str
    surface_forms: tuple[str, ...] = ()
    value: str | None = None
    unit: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | Fact) -> Fact:
        if isinstance(raw, Fact):
            return raw
        section = str(raw.get("section", "")).upper()[:1]
        if section not in SECTION_KEYS:
            raise ValueError(f"Fact {raw!r} has section {raw.get('section')!r}; expected one of S, O, A, P.")
        value = raw.get("value")
        return cls(
            section=section,
            kind=str(raw.get("kind", "")),
            text=str(raw.get("text", "")),
            surface_forms=tuple(str(s) for s in raw.get("surface_forms") or ()),
            value=None if value in (None, "") else str(value),
            unit=raw.get("unit") or None,
        )

    @property
    def phrases(self) -> list[str]:
        return [p for p in (self.text, *self.surface_forms) if p.strip()]

    @property
    def value_numbers(self) -> set[float]:
        return tx.numbers(self.value) if self.value else set()


def fact_present(fact: Fact, section_text: str, *, coverage: float = 0.75) -> bool:
    """Whether `section_text` states `fact` (see the module docstring for the rules)."""
    if not section_text.strip():
        return False
    wanted_numbers = fact.value_numbers
    if wanted_numbers:
        if not wanted_numbers <= tx.numbers(section_text):
            return False
        fact_drugs = set().union(*(tx.drugs(p) for p in fact.phrases))
        return not fact_drugs or bool(fact_drugs & tx.drugs(section_text))
    if any(tx.contains_phrase(section_text, phrase) for phrase in fact.phrases):
        return True
    stems = tx.content_stems(section_text)
    return any(len(tx.content_stems(p)) >= 2 and tx.coverage(stems, p) >= coverage for p in fact.phrases)


class FactJudge:
    """Scores sections against gold facts; deterministic, no I/O. One instance per example."""

    name = "fact"

    def __init__(
        self,
        facts: Sequence[Mapping[str, Any] | Fact],
        *,
        unsupported_penalty: float = 0.2,
        misplaced_penalty: float = 0.15,
        max_penalty: float = 0.6,
        coverage: float = 0.75,
    ) -> None:
        self.facts = [Fact.from_dict(f) for f in facts]
        self.unsupported_penalty = unsupported_penalty
        self.misplaced_penalty = misplaced_penalty
        self.max_penalty = max_penalty
        self.coverage = coverage
        fact_text = " ".join(p for f in self.facts for p in (*f.phrases, f.value or ""))
        self._fact_numbers = tx.numbers(fact_text)
        self._fact_drugs = tx.drugs(fact_text)
        self._fact_diagnoses = tx.diagnoses(fact_text)

    def unsupported(self, dialogue: Any, section_text: str) -> list[str]:
        """Numbers, drugs and diagnoses in `section_text` found neither in the dialogue nor in the facts."""
        said = dialogue_text(dialogue)
        found = [f"number {n:g}" for n in sorted(tx.numbers(section_text) - tx.numbers(said) - self._fact_numbers)]
        found += [f"drug {d}" for d in sorted(tx.drugs(section_text) - tx.drugs(said) - self._fact_drugs)]
        said_dx = tx.diagnoses(said) | self._fact_diagnoses
        found += [f"diagnosis {d}" for d in sorted(tx.diagnoses(section_text) - said_dx)]
        return found

    def _score(self, dialogue: Any, key: str, predicted: str, reference: str | None, misplaced: list[str]) -> Verdict:
        gold = [f for f in self.facts if f.section == key]
        words = tx.content_stems(predicted)
        if gold and len(words) < 2:
            details = {"recall": 0.0, "gold": len(gold), "matched": 0, "missed": [f.text for f in gold]}
            details |= {"unsupported": [], "misplaced": misplaced}
            return Verdict(0.0, f"{key} is empty or near-empty but {len(gold)} facts belong there.", details=details)
        matched = [f.text for f in gold if fact_present(f, predicted, coverage=self.coverage)]
        missed = [f.text for f in gold if f.text not in matched]
        said_something = bool(words) or not (reference or "").strip()
        recall = len(matched) / len(gold) if gold else float(said_something)
        unsupported = self.unsupported(dialogue, predicted)
        penalty = min(
            self.max_penalty, self.unsupported_penalty * len(unsupported) + self.misplaced_penalty * len(misplaced)
        )
        score = max(0.0, recall - penalty)
        reason = f"recall {len(matched)}/{len(gold)}" if gold else "no gold facts for this section"
        if missed:
            reason += f"; missing: {'; '.join(missed[:4])}"
        if unsupported:
            reason += f"; unsupported: {', '.join(unsupported[:4])}"
        if misplaced:
            reason += f"; belongs elsewhere: {'; '.join(misplaced[:4])}"
        details = {
            "recall": recall,
            "gold": len(gold),
            "matched": len(matched),
            "missed": missed,
            "unsupported": unsupported,
            "misplaced": misplaced,
        }
        return Verdict(round(score, 6), reason, details=details)

    def judge(self, dialogue: Any, key: str, predicted: str, reference: str | None = None) -> Verdict:
        """Score one section alone (no misplacement check: that needs the other sections)."""
        return self._score(dialogue, key, predicted, reference, [])

    def judge_note(
        self, dialogue: Any, predicted: Mapping[str, str], reference: Mapping[str, Any] | None = None
    ) -> dict[str, Verdict]:
        """Score all four sections, penalising facts written in another section instead of their own."""
        present = {
            (i, k): fact_present(f, predicted.get(k, ""), coverage=self.coverage)
            for i, f in enumerate(self.facts)
            for k in SECTION_KEYS
        }
        out = {}
        for key in SECTION_KEYS:
            misplaced = [
                f.text
                for i, f in enumerate(self.facts)
                if f.section != key and present[(i, key)] and not present[(i, f.section)]
            ]
            ref = (reference or {}).get(key)
            out[key] = self._score(dialogue, key, predicted.get(key, ""), ref, misplaced)
        return out
