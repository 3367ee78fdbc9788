"""Coverage and shape statistics of a synthetic dataset (what the admin's statistics page shows)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from .catalog import Catalog

LENGTH_BINS = (0, 250, 300, 350, 400, 450, 500, 600, 800, 10**9)


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def coverage_report(examples: Iterable[dict[str, Any]], *, catalog: Catalog | None = None) -> dict[str, Any]:
    """Counts per split/specialty/condition, dialogue length (words) distribution, facts per section.

    With a catalog, also which specialties and conditions the data does not cover.
    """
    splits: Counter[str] = Counter()
    specialties: Counter[str] = Counter()
    conditions: Counter[str] = Counter()
    sections: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    lengths: list[int] = []
    turns: list[int] = []
    count = 0
    for example in examples:
        count += 1
        splits[example.get("split", "train")] += 1
        specialties[example.get("specialty", "")] += 1
        conditions[example.get("condition", "")] += 1
        lengths.append(sum(len(turn["text"].split()) for turn in example["dialogue"]))
        turns.append(len(example["dialogue"]))
        for fact in example.get("facts") or []:
            sections[fact["section"]] += 1
            kinds[fact.get("kind", "")] += 1
    lengths.sort()
    turns.sort()
    histogram = []
    for lo, hi in zip(LENGTH_BINS, LENGTH_BINS[1:], strict=False):
        label = f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+"
        histogram.append({"bin": label, "count": sum(1 for n in lengths if lo <= n < hi)})
    report: dict[str, Any] = {
        "examples": count,
        "splits": dict(splits),
        "specialties": dict(sorted(specialties.items())),
        "n_specialties": len(specialties),
        "n_conditions": len(conditions),
        "per_condition": {
            "min": min(conditions.values(), default=0),
            "max": max(conditions.values(), default=0),
            "mean": round(count / max(len(conditions), 1), 1),
        },
        "dialogue_words": {
            "min": lengths[0] if lengths else 0,
            "p50": _percentile(lengths, 0.5),
            "p90": _percentile(lengths, 0.9),
            "max": lengths[-1] if lengths else 0,
            "mean": round(sum(lengths) / max(count, 1), 1),
            "histogram": histogram,
        },
        "turns": {"p50": _percentile(turns, 0.5), "max": turns[-1] if turns else 0},
        "facts_per_section": {k: round(sections[k] / max(count, 1), 2) for k in ("S", "O", "A", "P")},
        "fact_kinds": dict(sorted(kinds.items())),
    }
    if catalog is not None:
        names = {c.name for _, c in catalog.conditions()}
        report["catalog"] = {
            "specialties": len(catalog.specialties),
            "conditions": len(names),
            "uncovered_conditions": sorted(names - set(conditions)),
            "uncovered_specialties": sorted({s.name for s in catalog.specialties} - set(specialties)),
        }
    return report
