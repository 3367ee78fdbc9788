"""Celery task: synthesise a dataset (queue `training`), resumable and safe to run twice.

The task takes the Dataset's primary key; its configuration is ``Dataset.config["synthesis"]``
(the fields of training.synthesis.SynthesisConfig). Rendering is checkpointed under
``VAR_DIR/synthesis/<dataset name>/`` and rows are inserted with ignore-conflicts, so a worker
killed mid-run (acks_late re-delivers the message) or an admin re-launch resumes without
duplicating anything.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from clinic.mlops.models import Dataset
from clinic.mlops.synthesis_store import ProgressTracker, save_examples
from training.synthesis import SynthesisConfig, SynthesisError, synthesize

logger = logging.getLogger(__name__)


def checkpoint_dir(dataset: Dataset) -> Path:
    return Path(settings.VAR_DIR) / "synthesis" / dataset.name


def run_synthesis(dataset: Dataset, *, renderer: Any = None, embedder: Any = None) -> dict[str, Any]:
    """Synthesise into `dataset` in this process (the task body; also used by tests and --eager)."""
    try:
        config = SynthesisConfig(**(dataset.config.get("synthesis") or {}))
    except (TypeError, SynthesisError) as exc:
        Dataset.objects.filter(pk=dataset.pk).update(state="failed", error=f"invalid synthesis config: {exc}")
        raise SynthesisError(f"dataset {dataset.name!r}: invalid synthesis config: {exc}") from exc
    Dataset.objects.filter(pk=dataset.pk).update(state="running", error="")
    progress = ProgressTracker(dataset)
    try:
        result = synthesize(
            config, checkpoint_dir=checkpoint_dir(dataset), renderer=renderer, embedder=embedder, on_progress=progress
        )
        total = len(result.examples)
        inserted = save_examples(dataset, result.examples, on_batch=lambda done: progress("store", done, total))
    except (SynthesisError, SoftTimeLimitExceeded) as exc:
        Dataset.objects.filter(pk=dataset.pk).update(state="failed", error=str(exc))
        raise
    report = result.report | {"inserted": inserted, "stored": dataset.examples.count()}
    dataset.refresh_from_db()
    dataset.config = dataset.config | {"report": report}
    dataset.state = "ready"
    dataset.error = ""
    dataset.save(update_fields=["config", "state", "error", "updated_at"])
    logger.info("dataset %s ready: %s examples (%s new)", dataset.name, report["stored"], inserted)
    return {"dataset": dataset.pk, "stored": report["stored"], "inserted": inserted}


@shared_task(
    name="clinic.mlops.tasks.synthesis.synthesize_dataset",
    queue="training",
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 300,
)
def synthesize_dataset(dataset_id: int) -> dict[str, Any] | None:
    """Synthesise the dataset with this id; returns None when it no longer exists."""
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        logger.warning("dataset %s is gone; nothing to synthesise", dataset_id)
        return None
    return run_synthesis(dataset)


def launch(dataset: Dataset, *, queue: str = "training") -> str:
    """Queue synthesis for `dataset` (after the current transaction commits); returns the task id."""
    from django.db import transaction

    Dataset.objects.filter(pk=dataset.pk).update(state="queued", error="")
    task_id = uuid.uuid4().hex
    transaction.on_commit(lambda: synthesize_dataset.apply_async(args=[dataset.pk], queue=queue, task_id=task_id))
    return task_id
