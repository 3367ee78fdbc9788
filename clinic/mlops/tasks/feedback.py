"""Celery tasks of the feedback loop (queue `training`).

`collect_signed_notes` sweeps signed notes that have no clinician Example yet (a retry for
anything the post-commit collection missed). `propose_training_run` is the beat task that,
when `FEEDBACK_AUTO_PROPOSE` is on, creates a queued TrainingRun (not started: an admin
launches it) once `FEEDBACK_MIN_NEW_EXAMPLES` clinician examples arrived since the last
proposal. Both are idempotent and safe to run twice.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction

from clinic.mlops import feedback
from clinic.mlops.models import Dataset, Example, TrainingRun

# A proposal is recognised by its name: TrainingRun.config holds only trainer settings.
PROPOSED_PREFIX = "proposed by feedback: "
logger = logging.getLogger(__name__)


@shared_task(name="clinic.mlops.tasks.feedback.collect_signed_note", soft_time_limit=300, time_limit=330)
def collect_signed_note(note_id: int, signature_id: int) -> str:
    """Collect one signed note (long dialogues are sent here instead of being scrubbed in the request)."""
    try:
        return feedback.collect_signed_note_ids(note_id, signature_id)
    except feedback.DeidError as exc:
        logger.error("note %s not added to training data: %s", note_id, exc)
        return "refused"


@shared_task(name="clinic.mlops.tasks.feedback.collect_signed_notes", soft_time_limit=600, time_limit=660)
def collect_signed_notes(limit: int | None = None) -> dict[str, int]:
    return feedback.collect_missing(limit=limit)


@shared_task(name="clinic.mlops.tasks.feedback.propose_training_run", soft_time_limit=600, time_limit=660)
def propose_training_run(force: bool = False) -> dict[str, Any]:
    """Propose a GRPO run mixing synthetic and clinician data when enough new signed notes exist."""
    if not (settings.FEEDBACK_AUTO_PROPOSE or force):
        return {"proposed": False, "reason": "FEEDBACK_AUTO_PROPOSE is off"}
    feedback.collect_missing()
    with transaction.atomic():
        last = (
            TrainingRun.objects.select_for_update()
            .filter(name__startswith=PROPOSED_PREFIX)
            .order_by("-created_at", "-pk")
            .first()
        )
        new = Example.objects.filter(
            dataset__name=settings.FEEDBACK_DATASET, source=Example.Source.CLINICIAN, split=Example.Split.TRAIN
        )
        if last is not None:
            new = new.filter(created_at__gt=last.created_at)
        count = new.count()
        if count < settings.FEEDBACK_MIN_NEW_EXAMPLES:
            return {
                "proposed": False,
                "reason": f"{count} new clinician examples, need {settings.FEEDBACK_MIN_NEW_EXAMPLES}",
            }
        clinician = Dataset.objects.get(name=settings.FEEDBACK_DATASET)
        synthetic = list(Dataset.objects.filter(kind=Dataset.Kind.SYNTHETIC).order_by("-created_at")[:1])
        weights = {clinician.name: settings.FEEDBACK_CLINICIAN_WEIGHT}
        weights.update({d.name: 1.0 for d in synthetic})
        # Not launched: an admin reviews it and starts it with "Resume / relaunch". Clinician
        # examples carry FEEDBACK_CLINICIAN_WEIGHT in Example.weight, which run_examples passes on.
        run = TrainingRun.objects.create(
            name=f"{PROPOSED_PREFIX}{count} new clinician examples",
            kind=TrainingRun.Kind.GRPO,
            state=TrainingRun.State.QUEUED,
            log=(
                f"Proposed by the feedback loop: {count} new clinician examples since the last proposal. "
                f"Dataset weights: {weights}. Not started; use 'Resume / relaunch' in the admin to start it.\n"
            ),
        )
        run.datasets.set([clinician, *synthetic])
    return {"proposed": True, "run_id": run.pk, "new_examples": count, "dataset_weights": weights}
