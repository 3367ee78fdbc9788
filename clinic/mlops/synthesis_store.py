"""Dataset and Example rows for synthetic data: save (resumably), read back, track progress.

Examples are inserted with ``ignore_conflicts`` on the (dataset, key) unique constraint, so a
re-run or a resumed run never duplicates a row; keys are deterministic (see
training.synthesis.example_key). Progress lives in ``Dataset.progress`` for the admin.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction

from clinic.mlops.models import Dataset, Example

EXAMPLE_FIELDS = ("key", "dialogue", "reference", "facts", "specialty", "condition", "split", "source", "seed")
SOURCES = {choice for choice, _ in Example.Source.choices}


def to_row(dataset: Dataset, example: dict[str, Any]) -> Example:
    source = example.get("source") or "synthetic"
    return Example(
        dataset=dataset,
        key=str(example["key"])[:64],
        dialogue=example["dialogue"],
        reference=example["reference"],
        facts=example.get("facts") or [],
        specialty=(example.get("specialty") or "")[:100],
        condition=(example.get("condition") or "")[:200],
        split=example.get("split") or Example.Split.TRAIN,
        source=source if source in SOURCES else Example.Source.PUBLIC,
        seed=example.get("seed"),
    )


def to_dict(row: Example) -> dict[str, Any]:
    """The shared example dict (the JSONL line format) of one row."""
    return {name: getattr(row, name) for name in EXAMPLE_FIELDS}


def save_examples(
    dataset: Dataset,
    examples: Iterable[dict[str, Any]],
    *,
    batch_size: int = 500,
    on_batch: Any = None,
) -> int:
    """Insert examples that are not stored yet; returns how many rows are new.

    Safe to call again with the same examples: existing keys are skipped, never duplicated.
    """
    before = dataset.examples.count()
    batch: list[Example] = []
    done = 0
    for example in examples:
        batch.append(to_row(dataset, example))
        if len(batch) >= batch_size:
            Example.objects.bulk_create(batch, ignore_conflicts=True)
            done += len(batch)
            batch = []
            if on_batch:
                on_batch(done)
    if batch:
        Example.objects.bulk_create(batch, ignore_conflicts=True)
        done += len(batch)
        if on_batch:
            on_batch(done)
    return dataset.examples.count() - before


def iter_examples(dataset: Dataset, *, split: str | None = None, chunk_size: int = 500) -> Iterator[dict[str, Any]]:
    """Stored examples as shared dicts, in key order, streamed (never all rows in memory)."""
    rows = dataset.examples.order_by("key")
    if split:
        rows = rows.filter(split=split)
    for row in rows.iterator(chunk_size=chunk_size):
        yield to_dict(row)


def import_examples(dataset: Dataset, examples: Iterable[dict[str, Any]]) -> int:
    """Store validated examples in one transaction: a bad line stores nothing."""
    with transaction.atomic():
        return save_examples(dataset, examples)


class ProgressTracker:
    """Writes {phase, done, total, rate, eta_seconds} to Dataset.progress, at most every `every` s."""

    def __init__(self, dataset: Dataset, *, every: float = 2.0) -> None:
        self.dataset, self.every = dataset, every
        self._phase: str | None = None
        self._phase_started = time.monotonic()
        self._last_write = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != self._phase:
            self._phase, self._phase_started = phase, now
        elif now - self._last_write < self.every and done < total:
            return
        elapsed = max(now - self._phase_started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else None
        self._last_write = now
        progress = {
            "phase": phase,
            "done": done,
            "total": total,
            "rate": round(rate, 1),
            "eta_seconds": None if eta is None else round(eta),
            "updated": time.time(),
        }
        Dataset.objects.filter(pk=self.dataset.pk).update(progress=progress)
        self.dataset.progress = progress
