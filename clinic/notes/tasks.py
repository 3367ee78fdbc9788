"""Celery tasks of the notes app (queue `notes`): generate a SOAP note for one GenerationJob.

After paperless-ngx's documents/tasks.py: the task takes a primary key, is safe to run twice,
retries only errors the inference layer marks retryable (with backoff and jitter), and returns
cleanly when the job is gone. A heartbeat thread stamps the job while it runs, so a worker that
was killed (kill -9, OOM) is detectable by a stale heartbeat and the encounter stays retryable.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.heartbeat import Heartbeat
from clinic.notes.models import SECTIONS, AuditEvent, GenerationJob, Note, NoteRevision
from clinic.notes.services import STALE_AFTER_SECONDS, active_model_reference, job_is_stale, record_audit
from inference.schema import Turn

log = logging.getLogger(__name__)

SOFT_TIME_LIMIT = 15 * 60
HARD_TIME_LIMIT = SOFT_TIME_LIMIT + 60
HEARTBEAT_SECONDS = 2.0  # services.STALE_AFTER_SECONDS allows six missed beats
PROGRESS_EVERY_SECONDS = 1.0
MAX_RETRIES = 3
RECHECK_MARGIN_SECONDS = 5.0
REGENERATION_CONFLICT = (
    "The note was edited while this draft was being generated; the edit was kept and the new draft was not "
    "applied (it is kept on this job). Retry generation to replace the edited note with a new draft."
)


def _progress_writer(job_id: int) -> Callable[[str, int], None]:
    """An on_progress callback that saves partial text at most once per second."""
    last = 0.0

    def on_progress(text: str, tokens: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_SECONDS:
            return
        last = now
        GenerationJob.objects.filter(pk=job_id).update(partial_text=text, tokens=tokens, heartbeat_at=timezone.now())

    return on_progress


class _RunningElsewhere(Exception):
    """Another worker reported on the job `seconds_left` before it counts as stale."""

    def __init__(self, seconds_left: float) -> None:
        self.seconds_left = seconds_left
        super().__init__(f"running elsewhere; stale in {seconds_left:.0f} s")


def _claim(job_id: int) -> GenerationJob | None:
    """Mark the job generating; None when it is gone or finished.

    Raises _RunningElsewhere when a worker reported on it recently: either a live duplicate or the
    worker that was just killed (its message is redelivered at once, before the heartbeat goes stale).
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().select_related("encounter").filter(pk=job_id).first()
        if job is None:
            log.info("generation job %s no longer exists; nothing to do", job_id)
            return None
        if job.state in (GenerationJob.State.DONE, GenerationJob.State.FAILED):
            return None
        if job.state == GenerationJob.State.GENERATING and not job_is_stale(job):
            stale_after = getattr(settings, "GENERATION_STALE_SECONDS", STALE_AFTER_SECONDS)
            last = job.heartbeat_at or job.started_at or job.created_at
            raise _RunningElsewhere(max(0.0, stale_after - (timezone.now() - last).total_seconds()))
        now = timezone.now()
        job.state, job.started_at, job.heartbeat_at = GenerationJob.State.GENERATING, now, now
        job.partial_text, job.tokens, job.error = "", 0, ""
        job.save(update_fields=["state", "started_at", "heartbeat_at", "partial_text", "tokens", "error"])
    return job


def _fail(job_id: int, reason: str, *, retryable: bool) -> None:
    GenerationJob.objects.filter(pk=job_id).update(
        state=GenerationJob.State.FAILED, error=reason, retryable=retryable, finished_at=timezone.now()
    )


def _save_result(job: GenerationJob, result: Any) -> None:
    """Fill the note and append one GENERATED revision per section, all or nothing."""
    sections = result.note.as_dict() if hasattr(result.note, "as_dict") else dict(result.note)
    with transaction.atomic():
        note = Note.objects.select_for_update().get(encounter_id=job.encounter_id)
        if note.status == Note.Status.SIGNED:
            _fail(job.pk, "The note was signed while generating; the generated text was discarded.", retryable=False)
            return
        if _edited_since(note, job):
            # Never overwrite a clinician's edit silently: keep it, keep the draft on the job for reference.
            GenerationJob.objects.filter(pk=job.pk).update(partial_text=result.raw, tokens=result.tokens)
            _fail(job.pk, REGENERATION_CONFLICT, retryable=True)
            return
        note.version += 1
        for key in SECTIONS:
            NoteRevision.objects.create(
                note=note,
                author=None,
                section=key,
                before=getattr(note, key),
                after=sections[key],
                kind=NoteRevision.Kind.GENERATED,
                note_version=note.version,
            )
            setattr(note, key, sections[key])
        note.generated = sections
        note.model_reference = result.model_reference
        note.model_version = _model_version(result.model_reference)
        note.status, note.generated_at = Note.Status.DRAFT, timezone.now()
        note.save()
        GenerationJob.objects.filter(pk=job.pk).update(
            state=GenerationJob.State.DONE,
            partial_text=result.raw,
            tokens=result.tokens,
            backend=result.backend,
            model_reference=result.model_reference,
            finished_at=timezone.now(),
            error="",
        )
        record_audit(
            None,
            AuditEvent.Action.GENERATE,
            job.encounter,
            via="worker",
            job=job.pk,
            tokens=result.tokens,
            seconds=round(result.seconds, 2),
            model=result.model_reference,
        )


def _edited_since(note: Note, job: GenerationJob) -> bool:
    """True when someone edited or amended the note after this generation was requested."""
    return note.revisions.filter(created_at__gte=job.created_at).exclude(kind=NoteRevision.Kind.GENERATED).exists()


def _model_version(reference: str) -> Any:
    from clinic.mlops.models import ModelVersion

    return ModelVersion.objects.filter(reference=reference).order_by("-created_at").first()


@shared_task(
    bind=True,
    name="clinic.notes.tasks.generate_note_task",
    acks_late=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=HARD_TIME_LIMIT,
    max_retries=MAX_RETRIES,
)
def generate_note_task(self: Any, job_id: int) -> str:
    """Generate the note of GenerationJob `job_id`; returns the job's final state (or 'skipped')."""
    try:
        job = _claim(job_id)
    except _RunningElsewhere as busy:
        # Never run twice at once; but if that worker is dead, take over once its heartbeat is stale
        # instead of dropping the redelivered message (the job would stay "generating" for good).
        if not self.request.is_eager:
            countdown = busy.seconds_left + RECHECK_MARGIN_SECONDS
            log.warning("generation job %s is running elsewhere; checking again in %.0f s", job_id, countdown)
            self.apply_async(args=[job_id], countdown=countdown, queue="notes")
        return "skipped"
    if job is None:
        return "skipped"
    from inference.engine import GenerationError, generate_note  # noqa: I001 - heavy (torch); load in the worker only

    heartbeat = Heartbeat(GenerationJob, job.pk, HEARTBEAT_SECONDS)
    heartbeat.start()
    try:
        turns = [Turn(**turn) for turn in job.encounter.turns]
        result = generate_note(
            turns,
            model=active_model_reference(),
            backend=settings.SOAP_BACKEND,
            max_new_tokens=settings.SOAP_MAX_NEW_TOKENS,
            on_progress=_progress_writer(job.pk),
        )
    except GenerationError as exc:
        retryable = bool(getattr(exc, "retryable", False))
        if retryable and self.request.retries < MAX_RETRIES:
            GenerationJob.objects.filter(pk=job.pk).update(
                state=GenerationJob.State.QUEUED, error=f"Retrying after a temporary error: {exc}"
            )
            countdown = 2 ** (self.request.retries + 1) + random.uniform(0, 1)  # noqa: S311 - jitter, not crypto
            raise self.retry(countdown=countdown, exc=exc) from None
        _fail(job.pk, str(exc), retryable=retryable)
        return GenerationJob.State.FAILED
    except SoftTimeLimitExceeded:
        _fail(job.pk, f"Generation took longer than {SOFT_TIME_LIMIT // 60} minutes and was stopped.", retryable=True)
        return GenerationJob.State.FAILED
    except Exception as exc:  # an unexpected bug: record it on the job so the page shows it, then re-raise
        _fail(job.pk, f"Unexpected error: {type(exc).__name__}: {exc}", retryable=True)
        raise
    finally:
        heartbeat.stopped.set()
    _save_result(job, result)
    return GenerationJob.objects.values_list("state", flat=True).get(pk=job.pk)
