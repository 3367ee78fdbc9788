"""Judge-quality check: perturb correct notes and see whether a judge notices.

From each holdout example (dialogue, reference note, gold facts) we build perturbed notes:

- ``drop_fact``: remove the sentence stating one gold fact;
- ``hallucinate_drug``: add a drug and dose that the dialogue never mentions;
- ``change_value``: change a number in the note (a vital, a dose, a lab);
- ``swap_sections``: swap S and O;
- ``empty_section``: blank one section;
- ``paraphrase``: same meaning, different words (fact phrases replaced by their other surface forms,
  stock phrasings rewritten, sentence order reversed).

For each judge we report how often the correct note's total reward beats each harmful perturbation
(target >= 95 % for the fact judge) and how often a paraphrase keeps its score (within `tolerance`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inference.schema import SECTION_KEYS

from . import text as tx
from .base import reward
from .facts import Fact, fact_present

__all__ = ["HARMFUL", "PerturbationReport", "perturbations", "run_suite"]

HARMFUL = ("drop_fact", "hallucinate_drug", "change_value", "swap_sections", "empty_section")
_FAKE_DRUGS = ("ranolazine 500 mg twice daily", "tacrolimus 2 mg daily", "lisinopril 40 mg daily", "phenelzine 15 mg")
_PHRASINGS = [
    (r"\bpatient reports\b", "the patient describes"),
    (r"\breports\b", "describes"),
    (r"\bdenies\b", "reports no"),
    (r"\bstart\b", "begin"),
    (r"\bfollow[- ]up\b", "review"),
    (r"\bcontinue\b", "keep taking"),
]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;])\s+|\n+", text.strip()) if s.strip()]


def _without_fact(text: str, fact: Fact) -> str:
    kept = [s for s in _sentences(text) if not fact_present(fact, s)]
    if len(kept) == len(_sentences(text)):
        # The fact spans sentences or is worded loosely: cut its phrases out instead.
        for phrase in fact.phrases:
            text = re.sub(re.escape(phrase), "", text, flags=re.IGNORECASE)
        return text
    return " ".join(kept)


def _paraphrase(text: str, facts: list[Fact], rng: random.Random) -> str:
    for fact in facts:
        alternatives = [p for p in fact.surface_forms if p.lower() != fact.text.lower()]
        if alternatives and fact.text and not fact.value and fact.text.lower() in text.lower():
            text = re.sub(re.escape(fact.text), rng.choice(alternatives), text, count=1, flags=re.IGNORECASE)
    for pattern, replacement in _PHRASINGS:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    if "\n" in text.strip():  # a list: reorder its lines, keep them lines
        return "\n".join(reversed([line for line in text.splitlines() if line.strip()]))
    sentences = [s for s in re.split(r"(?<=[a-z%)][.;])\s+", text.strip()) if s.strip()]
    return " ".join(reversed(sentences)) if len(sentences) > 1 else text


def perturbations(example: Mapping[str, Any], rng: random.Random) -> dict[str, dict[str, str]]:
    """Perturbed copies of the example's reference note, by kind (kinds that cannot apply are left out)."""
    note = {k: str(example["reference"].get(k, "")) for k in SECTION_KEYS}
    facts = [Fact.from_dict(f) for f in example.get("facts") or []]
    said = " ".join(t["text"] if isinstance(t, Mapping) else str(t) for t in example.get("dialogue") or [])
    out: dict[str, dict[str, str]] = {}

    present = [f for f in facts if fact_present(f, note[f.section])]
    if present:
        fact = rng.choice(present)
        out["drop_fact"] = {**note, fact.section: _without_fact(note[fact.section], fact)}

    drug = next((d for d in _FAKE_DRUGS if d.split()[0] not in tx.normalise(said)), _FAKE_DRUGS[0])
    out["hallucinate_drug"] = {**note, "P": f"{note['P'].rstrip()} Start {drug}.".strip()}

    for key in ("O", "P", "S", "A"):
        match = re.search(r"\d+(?:\.\d+)?", note[key])
        if match:
            old = float(match.group(0))
            new = f"{old * 1.5 + 7:g}"
            out["change_value"] = {**note, key: note[key][: match.start()] + new + note[key][match.end() :]}
            break

    if note["S"].strip() != note["O"].strip():
        out["swap_sections"] = {**note, "S": note["O"], "O": note["S"]}
    key = rng.choice([k for k in SECTION_KEYS if note[k].strip()] or ["S"])
    out["empty_section"] = {**note, key: ""}
    out["paraphrase"] = {k: _paraphrase(v, [f for f in facts if f.section == k], rng) for k, v in note.items()}
    return out


@dataclass
class PerturbationReport:
    judge: str
    examples: int = 0
    wins: dict[str, int] = field(default_factory=dict)
    trials: dict[str, int] = field(default_factory=dict)
    paraphrase_kept: int = 0
    paraphrase_trials: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def rate(self, kind: str) -> float:
        return self.wins.get(kind, 0) / self.trials[kind] if self.trials.get(kind) else float("nan")

    @property
    def harmful_rate(self) -> float:
        trials = sum(self.trials.get(k, 0) for k in HARMFUL)
        return sum(self.wins.get(k, 0) for k in HARMFUL) / trials if trials else float("nan")

    @property
    def paraphrase_rate(self) -> float:
        return self.paraphrase_kept / self.paraphrase_trials if self.paraphrase_trials else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "examples": self.examples,
            "correct_beats_perturbed": {k: self.rate(k) for k in HARMFUL if self.trials.get(k)},
            "overall": self.harmful_rate,
            "paraphrase_keeps_score": self.paraphrase_rate,
            "trials": dict(self.trials),
        }

    def markdown(self) -> str:
        rows = [f"| {k} | {self.wins.get(k, 0)}/{self.trials.get(k, 0)} | {self.rate(k):.1%} |" for k in HARMFUL]
        return "\n".join(
            [
                f"Judge `{self.judge}` on {self.examples} examples: correct > perturbed overall "
                f"{self.harmful_rate:.1%}; paraphrase keeps its score {self.paraphrase_rate:.1%} "
                f"({self.paraphrase_kept}/{self.paraphrase_trials}).",
                "",
                "| perturbation | correct wins | rate |",
                "| --- | --- | --- |",
                *rows,
            ]
        )


def _as_json(note: Mapping[str, str]) -> str:
    import json

    return json.dumps({k: note[k] for k in SECTION_KEYS})


def run_suite(
    examples: Iterable[Mapping[str, Any]],
    judge_for: Callable[[Mapping[str, Any]], Any],
    *,
    name: str,
    seed: int = 0,
    tolerance: float = 0.05,
) -> PerturbationReport:
    """Score every example's correct note and its perturbations with `judge_for(example)`."""
    rng = random.Random(seed)
    report = PerturbationReport(judge=name)
    for example in examples:
        report.examples += 1
        judge = judge_for(example)
        dialogue, reference = example["dialogue"], example["reference"]
        correct = reward(dialogue, _as_json(reference), reference, judge).total
        for kind, note in perturbations(example, rng).items():
            score = reward(dialogue, _as_json(note), reference, judge).total
            if kind == "paraphrase":
                report.paraphrase_trials += 1
                kept = score >= correct - tolerance
                report.paraphrase_kept += kept
            else:
                report.trials[kind] = report.trials.get(kind, 0) + 1
                kept = correct > score
                report.wins[kind] = report.wins.get(kind, 0) + kept
            if not kept and len(report.failures) < 20:
                report.failures.append(
                    {"key": example.get("key"), "kind": kind, "correct": correct, "perturbed": score}
                )
    return report
