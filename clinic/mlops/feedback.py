"""Signed notes become training data: de-identified Examples plus (generated, signed) pairs.

When a clinician signs a note (`clinic.notes.signals.note_signed`), the encounter's dialogue,
the note as generated and the note as signed are scrubbed together by `training.deid` (one
consistent placeholder map), then stored as an `Example(source=clinician)` in the clinician
Dataset, whose reference is the signed text (so the reference judge scores against what the
clinician accepted), and a `PreferencePair` with per-section edit statistics for the dashboard.

The scrub happens before any row is built: nothing un-scrubbed reaches a Dataset. Collection
never blocks or breaks signing: it runs after the signing transaction commits, and a failure
is logged and retried by the `collect_missing` sweep.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from clinic.mlops.models import Dataset, Example, PreferencePair
from inference.schema import SECTION_KEYS
from inference.schema import Example as ExampleContract
from training.deid import DeidError, deidentify_example

logger = logging.getLogger(__name__)

EXPORT_FIELDS = ("key", "dialogue", "reference", "facts", "specialty", "condition", "split", "source", "seed")


def clinician_dataset() -> Dataset:
    """The one Dataset that collects de-identified clinician examples (created on first use)."""
    dataset, _ = Dataset.objects.get_or_create(
        name=settings.FEEDBACK_DATASET,
        defaults={
            "kind": Dataset.Kind.CLINICIAN,
            "description": "Signed clinician notes, de-identified; reference = the signed note.",
            "config": {"source": "note_signed", "deid": "training.deid"},
        },
    )
    return dataset


def example_key(note_id: int) -> str:
    """A stable key for a note's example that does not reveal the note id (keyed hash)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"note:{note_id}".encode(), hashlib.sha256).hexdigest()
    return f"clin-{digest[:20]}"


def split_for(key: str) -> str:
    """Deterministic holdout assignment, so a re-signed note never moves between splits."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    return Example.Split.HOLDOUT if bucket < settings.FEEDBACK_HOLDOUT_PERCENT else Example.Split.TRAIN


def edit_stats(generated: Mapping[str, str] | None, signed: Mapping[str, str]) -> dict[str, Any]:
    """Per-section edit statistics between the generated and the signed note.

    chars_changed counts inserted + deleted characters (a replacement counts both), and
    change_ratio is 1 - difflib similarity, in [0, 1]. With no generated note every section
    counts as written from scratch.
    """
    sections: dict[str, dict[str, Any]] = {}
    for key in SECTION_KEYS:
        before = (generated or {}).get(key, "") or ""
        after = signed.get(key, "") or ""
        matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
        changed = 0
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                changed += (i2 - i1) + (j2 - j1)
        sections[key] = {
            "edited": before != after,
            "chars_changed": changed,
            "change_ratio": round(1.0 - matcher.ratio(), 4) if (before or after) else 0.0,
            "generated_chars": len(before),
            "signed_chars": len(after),
        }
    edited = [key for key in SECTION_KEYS if sections[key]["edited"]]
    return {
        "sections": sections,
        "edited": bool(edited),
        "sections_edited": edited,
        "chars_changed": sum(s["chars_changed"] for s in sections.values()),
    }


def collect_signed_note(note: Any, signature: Any) -> Example:
    """Turn one signed note into a de-identified Example and its PreferencePair (idempotent).

    Re-signing after an amendment updates the same Example (same key) with the newest signed
    text. Raises `DeidError` (and stores nothing) if scrubbing leaves an identifier behind.
    """
    signed = {key: str(signature.content.get(key, "")) for key in SECTION_KEYS}
    generated = _as_note(note.generated)
    turns = list(note.encounter.turns or [])
    # The scrub happens first; only its output is used to build rows below.
    scrubbed = deidentify_example(turns, {"generated": generated, "signed": signed})
    stats = edit_stats(generated, signed)
    if note.generated_at and signature.signed_at:
        stats["seconds_to_sign"] = round((signature.signed_at - note.generated_at).total_seconds(), 1)
    stats["model_reference"] = note.model_reference or "default"
    key = example_key(note.pk)
    with transaction.atomic():
        dataset = clinician_dataset()
        example, _ = Example.objects.update_or_create(
            dataset=dataset,
            key=key,
            defaults={
                "dialogue": scrubbed.dialogue,
                "reference": scrubbed.notes["signed"],
                "facts": [],
                "split": split_for(key),
                "source": Example.Source.CLINICIAN,
                "weight": settings.FEEDBACK_CLINICIAN_WEIGHT,
                "meta": {
                    "model_reference": note.model_reference or "default",
                    "model_version_id": note.model_version_id,
                    "sections_edited": stats["sections_edited"],
                    "deid_counts": scrubbed.counts,
                    "signed_version": signature.note_version,
                },
            },
        )
        if generated is not None:
            PreferencePair.objects.update_or_create(
                example=example,
                defaults={
                    "generated": scrubbed.notes["generated"],
                    "signed": scrubbed.notes["signed"],
                    "edit_stats": stats,
                    "model_version_id": note.model_version_id,
                },
            )
    return example


def collect_signed_note_ids(note_id: int, signature_id: int) -> str:
    """Collect by primary keys (what tasks and on_commit hooks pass); returns what happened."""
    from clinic.notes.models import Note, Signature

    signature = Signature.objects.select_related("note__encounter").filter(pk=signature_id, note_id=note_id).first()
    if signature is None:
        return "gone"
    note: Note = signature.note
    latest = note.signatures.order_by("-signed_at", "-id").first()
    if latest is not None and latest.pk != signature.pk:
        return "superseded"
    collect_signed_note(note, signature)
    return "collected"


def on_note_signed(sender: Any, note: Any, signature: Any, **kwargs: Any) -> None:
    """Receiver for `note_signed`: collect after commit; never fail the signing request.

    Ordinary dialogues are scrubbed right away (tens of milliseconds); one longer than
    FEEDBACK_INLINE_MAX_CHARS goes to the `training` queue so signing stays quick.
    """
    note_id, signature_id = note.pk, signature.pk
    size = len(getattr(note.encounter, "dialogue_raw", "") or "")

    def collect() -> None:
        try:
            if size > settings.FEEDBACK_INLINE_MAX_CHARS:
                from clinic.mlops.tasks.feedback import collect_signed_note as task

                task.delay(note_id, signature_id)
            else:
                collect_signed_note_ids(note_id, signature_id)
        except DeidError as exc:
            logger.error("note %s not added to training data: %s", note_id, exc)
        except Exception:  # signing succeeded; the sweep (collect_missing) retries later
            logger.exception("collecting signed note %s for training data failed", note_id)

    transaction.on_commit(collect)


def collect_missing(limit: int | None = None) -> dict[str, int]:
    """Collect signed notes that have no clinician Example yet (safe to run any number of times)."""
    from clinic.notes.models import Note

    dataset = clinician_dataset()
    have = set(dataset.examples.values_list("key", flat=True))
    counts = {"collected": 0, "failed": 0, "present": 0}
    signed = Note.objects.filter(status=Note.Status.SIGNED).select_related("encounter").order_by("pk")
    for note in signed.iterator():
        if example_key(note.pk) in have:
            counts["present"] += 1
            continue
        signature = note.signatures.order_by("-signed_at", "-id").first()
        if signature is None:
            continue
        try:
            collect_signed_note(note, signature)
            counts["collected"] += 1
        except DeidError as exc:
            counts["failed"] += 1
            logger.error("note %s not added to training data: %s", note.pk, exc)
        if limit is not None and counts["collected"] >= limit:
            break
    return counts


def example_to_dict(example: Example) -> dict[str, Any]:
    """The plain-dict shape that `training.synthesis` exports and the trainers read, checked against the
    one Example contract (`inference.schema.Example`) so an export never writes a line a loader refuses."""
    return ExampleContract.check({name: getattr(example, name) for name in EXPORT_FIELDS}).as_dict()


def export_jsonl(dataset: Dataset, out: IO[str], *, split: str | None = None) -> int:
    """Write a Dataset's examples as JSONL (one example dict per line); returns the count."""
    examples = dataset.examples.order_by("pk")
    if split:
        examples = examples.filter(split=split)
    count = 0
    for example in examples.iterator():
        out.write(json.dumps(example_to_dict(example), ensure_ascii=False) + "\n")
        count += 1
    return count


def mixed_examples(weights: Mapping[str, float], *, split: str = "train") -> list[dict[str, Any]]:
    """Examples from several Datasets for one training run, each with `weight` = dataset weight x example weight.

    `weights` maps Dataset name to its weight in the mix, e.g. {"synthetic-v1": 1.0,
    "clinician-feedback": 2.0}. A weight of 0 leaves that dataset out.
    """
    missing = sorted(set(weights) - set(Dataset.objects.filter(name__in=list(weights)).values_list("name", flat=True)))
    if missing:
        raise ValueError(f"no Dataset named {', '.join(missing)}; create it or fix the run's dataset weights")
    bad = {name: w for name, w in weights.items() if w < 0}
    if bad:
        raise ValueError(f"dataset weights must be >= 0, got {bad}")
    rows: list[dict[str, Any]] = []
    for name, dataset_weight in weights.items():
        if dataset_weight == 0:
            continue
        for example in _examples(name, split):
            row = example_to_dict(example)
            row["weight"] = dataset_weight * example.weight
            rows.append(row)
    return rows


def weighted_training_set(weights: Mapping[str, float], *, split: str = "train", seed: int = 0) -> list[dict[str, Any]]:
    """`mixed_examples` expanded so each example appears about `weight` times (seeded).

    The GRPO loop visits every example once per epoch, so repetition is how a weight reaches
    any trainer unchanged: weight 2.0 -> two copies, 1.5 -> one copy plus a second with
    probability one half. Copies get distinct keys ("<key>#2").
    """
    import random

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for row in mixed_examples(weights, split=split):
        weight = row.pop("weight")
        copies = int(weight) + (1 if rng.random() < weight - int(weight) else 0)
        for n in range(copies):
            out.append({**row, "key": row["key"] if n == 0 else f"{row['key']}#{n + 1}"})
    return out


def _examples(name: str, split: str) -> Iterator[Example]:
    examples = Example.objects.filter(dataset__name=name)
    if split:  # "" takes every split
        examples = examples.filter(split=split)
    return examples.order_by("pk").iterator()


def _as_note(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    return {key: str(value.get(key, "") or "") for key in SECTION_KEYS}


def sections_fixed_most(stats: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Share of notes in which each section was edited (for the dashboard)."""
    stats = list(stats)
    if not stats:
        return dict.fromkeys(SECTION_KEYS, 0.0)
    return {
        key: sum(1 for s in stats if s.get("sections", {}).get(key, {}).get("edited")) / len(stats)
        for key in SECTION_KEYS
    }
