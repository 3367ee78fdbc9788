"""The generation task: fills the note atomically, is idempotent, records failures, retries only transient errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinic.mlops.models import ModelVersion
from clinic.notes import services
from clinic.notes.models import GenerationJob, Note, NoteRevision
from clinic.notes.tasks import generate_note_task
from inference.errors import BackendUnavailable, InputTooLong
from tests.clinic.conftest import NOTE, generate_now, make_encounter

pytestmark = pytest.mark.django_db


def test_success_fills_note_and_appends_one_generated_revision_per_section(alice, fake_engine):
    encounter = make_encounter(alice)
    job = generate_now(encounter)
    note = Note.objects.get(encounter=encounter)
    assert job.state == "done" and job.tokens == 57 and job.finished_at and job.model_reference == "default"
    assert note.status == Note.Status.DRAFT and note.sections() == NOTE.as_dict() and note.generated == NOTE.as_dict()
    revisions = NoteRevision.objects.filter(note=note)
    assert sorted(r.section for r in revisions) == ["A", "O", "P", "S"]
    assert {r.kind for r in revisions} == {"generated"} and {r.note_version for r in revisions} == {note.version}
    assert fake_engine.calls[0]["turns"][0].speaker == "doctor"


def test_task_passes_the_active_model_and_setting_limits(alice, fake_engine, settings):
    settings.SOAP_MAX_NEW_TOKENS = 77
    ModelVersion.objects.create(name="v2", reference="/ckpt/v2", state="active")
    generate_now(make_encounter(alice))
    assert fake_engine.calls[0]["model"] == "/ckpt/v2" and fake_engine.calls[0]["max_new_tokens"] == 77


def test_running_twice_is_harmless(alice, fake_engine):
    encounter = make_encounter(alice)
    job = generate_now(encounter)
    assert generate_note_task.apply(args=[job.pk]).get() == "skipped"
    assert len(fake_engine.calls) == 1 and NoteRevision.objects.count() == 4


def test_missing_job_returns_cleanly(db, fake_engine):
    assert generate_note_task.apply(args=[987654]).get() == "skipped"
    assert fake_engine.calls == []


def test_job_running_on_a_live_worker_is_not_started_again(alice, fake_engine):
    encounter = make_encounter(alice)
    job = GenerationJob.objects.create(
        encounter=encounter, state="generating", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    assert generate_note_task.apply(args=[job.pk]).get() == "skipped"
    assert fake_engine.calls == []


def test_permanent_error_marks_failed_with_reason_and_keeps_encounter(alice, fake_engine):
    fake_engine.outcomes = [InputTooLong("the dialogue needs 9000 tokens; the model takes 8192. Split it.")]
    encounter = make_encounter(alice)
    job = generate_now(encounter)
    assert job.state == "failed" and "Split it" in job.error and job.retryable is False
    note = Note.objects.get(encounter=encounter)
    assert note.status == Note.Status.PENDING and not NoteRevision.objects.exists()
    assert len(fake_engine.calls) == 1


def test_transient_error_is_retried_then_succeeds(alice, fake_engine):
    fake_engine.outcomes = [BackendUnavailable("vLLM server at :8001 refused the connection")]
    job = generate_now(make_encounter(alice))
    assert job.state == "done" and len(fake_engine.calls) == 2


def test_transient_error_gives_up_after_max_retries(alice, fake_engine):
    fake_engine.outcomes = [BackendUnavailable("down")] * 10
    job = generate_now(make_encounter(alice))
    assert job.state == "failed" and job.retryable is True and len(fake_engine.calls) == 4


def test_unexpected_bug_is_recorded_on_the_job(alice, fake_engine):
    fake_engine.outcomes = [ZeroDivisionError("division by zero")]
    job = GenerationJob.objects.create(encounter=make_encounter(alice))
    result = generate_note_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert result.failed() and job.state == "failed" and "ZeroDivisionError" in job.error


def test_progress_is_saved_for_the_live_view(alice, monkeypatch):
    seen = {}

    def slow_engine(turns, *, on_progress, **kwargs):
        on_progress('{"S": "Dry cough', 4)
        job = GenerationJob.objects.get()
        seen.update(state=job.state, partial=job.partial_text, tokens=job.tokens)
        from tests.clinic.conftest import fake_result

        return fake_result()

    monkeypatch.setattr("inference.engine.generate_note", slow_engine)
    generate_now(make_encounter(alice))
    assert seen == {"state": "generating", "partial": '{"S": "Dry cough', "tokens": 4}


def test_stale_generating_job_is_detected_and_a_retry_replaces_it(alice, fake_engine, settings):
    settings.GENERATION_STALE_SECONDS = 30
    encounter = make_encounter(alice)
    old = timezone.now() - timedelta(seconds=60)
    dead = GenerationJob.objects.create(encounter=encounter, state="generating", started_at=old, heartbeat_at=old)
    assert services.job_is_stale(dead)
    job = services.request_generation(encounter, actor=alice)
    dead.refresh_from_db()
    assert dead.state == "failed" and "stopped responding" in dead.error and job.pk != dead.pk
    assert job.state == "queued" and job.celery_task_id


def test_request_generation_returns_the_running_job(alice):
    encounter = make_encounter(alice)
    first = services.request_generation(encounter, actor=alice)
    assert services.request_generation(encounter, actor=alice) == first


def test_request_generation_enqueues_on_commit(alice, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(generate_note_task, "apply_async", lambda **kw: sent.append(kw))
    encounter = make_encounter(alice)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.request_generation(encounter, actor=alice)
    assert sent == [{"args": [job.pk], "task_id": job.celery_task_id, "queue": "notes"}]


def test_signed_note_cannot_be_regenerated(drafted, alice):
    services.sign_note(drafted, alice)
    with pytest.raises(services.NoteLocked):
        services.request_generation(drafted.encounter, actor=alice)


def test_redelivered_task_of_a_dead_worker_restarts_the_job(alice, fake_engine, settings):
    settings.GENERATION_STALE_SECONDS = 30
    encounter = make_encounter(alice)
    old = timezone.now() - timedelta(seconds=60)
    job = GenerationJob.objects.create(
        encounter=encounter, state="generating", started_at=old, heartbeat_at=old, partial_text='{"S": "half'
    )
    assert generate_note_task.apply(args=[job.pk]).get() == "done"
    job.refresh_from_db()
    assert job.state == "done" and len(fake_engine.calls) == 1 and job.started_at > old
