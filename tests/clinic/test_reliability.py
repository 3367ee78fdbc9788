"""Faults the clinician app must survive (issue 17): broker outage, a worker killed mid-task, regeneration
racing an edit, signing a version the signer never saw. Each test failed before its fix."""

from __future__ import annotations

import codecs
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from clinic.notes import services
from clinic.notes.models import Encounter, GenerationJob, Note, NoteRevision
from clinic.notes.tasks import generate_note_task
from tests.clinic.conftest import DIALOGUE, NOTE, make_encounter

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def broker_down(monkeypatch):
    """The broker refuses every message, as Celery reports a Redis that is down."""

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(generate_note_task, "apply_async", refuse)


# --- 1. broker outage ------------------------------------------------------------------------


def test_broker_down_fails_the_job_as_retryable_instead_of_leaving_it_queued(
    alice, broker_down, django_capture_on_commit_callbacks
):
    encounter = make_encounter(alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_generation(encounter, actor=alice)
    job = GenerationJob.objects.get(encounter=encounter)
    assert job.state == "failed" and job.retryable and "unreachable" in job.error
    assert services.request_generation(encounter, actor=alice).pk != job.pk  # a retry is possible at once


@pytest.mark.django_db(transaction=True)
def test_request_generation_raises_queue_unavailable_when_it_owns_the_commit(alice, broker_down):
    encounter = make_encounter(alice)
    with pytest.raises(services.QueueUnavailable) as err:
        services.request_generation(encounter, actor=alice)
    assert err.value.job.encounter_id == encounter.pk and err.value.job.state == "failed"


@pytest.mark.django_db(transaction=True)
def test_web_create_with_broker_down_keeps_the_dialogue_and_offers_retry(client, alice, broker_down):
    client.force_login(alice)
    response = client.post(reverse("notes:encounter_new"), {"title": "Cough", "dialogue": DIALOGUE}, follow=True)
    encounter = Encounter.objects.get()
    assert response.status_code == 200 and response.redirect_chain[-1][0].endswith(f"/encounters/{encounter.pk}/")
    page = response.content.decode()
    assert "could not be queued" in page and "Retry generation" in page
    assert encounter.jobs.get().state == "failed"


@pytest.mark.django_db(transaction=True)
def test_web_retry_with_broker_still_down_says_so_and_leaves_no_queued_job(client, alice, broker_down):
    client.force_login(alice)
    encounter = make_encounter(alice)
    response = client.post(reverse("notes:generate", args=[encounter.pk]), follow=True)
    assert "could not be queued" in response.content.decode()
    assert not encounter.jobs.filter(state="queued").exists()


def test_a_queued_job_never_picked_up_becomes_stale_and_retryable(client, alice, settings):
    settings.GENERATION_QUEUE_STALE_SECONDS = 60
    encounter = make_encounter(alice)
    lost = GenerationJob.objects.create(encounter=encounter)
    assert not services.job_is_stale(lost)
    GenerationJob.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=120))
    lost.refresh_from_db()
    assert services.job_is_stale(lost)
    client.force_login(alice)
    status = client.get(reverse("notes:job_status", args=[encounter.pk]), **HTMX)
    assert status.status_code == 286 and b"No worker picked this job up" in status.content
    assert b"Retry generation" in status.content
    fresh = services.request_generation(encounter, actor=alice)
    lost.refresh_from_db()
    assert fresh.pk != lost.pk and lost.state == "failed" and lost.retryable


def test_a_queued_job_waiting_to_retry_a_transient_error_is_not_stale(alice, settings):
    settings.GENERATION_QUEUE_STALE_SECONDS = 60
    encounter = make_encounter(alice)
    job = GenerationJob.objects.create(encounter=encounter, heartbeat_at=timezone.now())
    GenerationJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=600))
    job.refresh_from_db()
    assert not services.job_is_stale(job)


# --- 2. regeneration racing an edit ----------------------------------------------------------


def test_regeneration_keeps_an_edit_made_while_it_ran(drafted, alice, fake_engine, django_capture_on_commit_callbacks):
    job = services.request_generation(drafted.encounter, actor=alice)  # not sent: the test runs it below
    services.edit_section(drafted, "P", "Clinician's plan.", author=alice, base_version=drafted.version)
    generate_note_task.apply(args=[job.pk])
    drafted.refresh_from_db()
    job.refresh_from_db()
    assert drafted.P == "Clinician's plan." and drafted.status == "draft"
    assert job.state == "failed" and job.retryable and "edit was kept" in job.error
    assert NOTE.P in job.partial_text  # the new draft is not lost either
    assert not NoteRevision.objects.filter(note=drafted, kind="generated", created_at__gt=job.created_at).exists()


def test_regeneration_without_a_concurrent_edit_replaces_the_draft(drafted, alice, fake_engine):
    services.edit_section(drafted, "P", "Edited before asking again.", author=alice, base_version=drafted.version)
    job = services.request_generation(drafted.encounter, actor=alice)
    generate_note_task.apply(args=[job.pk])
    drafted.refresh_from_db()
    assert drafted.P == NOTE.P and GenerationJob.objects.get(pk=job.pk).state == "done"


# --- 3. sign carries the reviewed version ----------------------------------------------------


def test_sign_at_a_version_someone_else_changed_is_a_conflict(drafted, alice):
    reviewed = drafted.version
    Note.objects.filter(pk=drafted.pk).update(version=reviewed + 1, P="Changed behind her back.")
    NoteRevision.objects.create(note=drafted, section="P", after="Changed behind her back.", note_version=reviewed + 1)
    with pytest.raises(services.VersionConflict, match="reviewed version"):
        services.sign_note(drafted, alice, version=reviewed, own_edits_seen=True)
    assert Note.objects.get(pk=drafted.pk).status == "draft"


def test_sign_counts_the_signers_own_later_edits_as_seen_on_the_review_page(drafted, alice):
    reviewed = drafted.version
    services.edit_section(drafted, "A", "Acute bronchitis.", author=alice, base_version=reviewed)
    with pytest.raises(services.VersionConflict):  # the API is strict: send the version you have
        services.sign_note(drafted, alice, version=reviewed)
    signature = services.sign_note(drafted, alice, version=reviewed, own_edits_seen=True)
    assert signature.content["A"] == "Acute bronchitis."


def test_web_sign_without_a_version_is_refused_with_a_message(client, drafted, alice):
    client.force_login(alice)
    response = client.post(reverse("notes:sign", args=[drafted.encounter.pk]), follow=True)
    assert "reload the page" in response.content.decode() and Note.objects.get(pk=drafted.pk).status == "draft"


def test_web_sign_at_a_stale_version_shows_the_conflict(client, drafted, alice):
    reviewed = drafted.version
    Note.objects.filter(pk=drafted.pk).update(version=reviewed + 1)
    NoteRevision.objects.create(note=drafted, section="S", after="x", note_version=reviewed + 1)
    client.force_login(alice)
    response = client.post(reverse("notes:sign", args=[drafted.encounter.pk]), {"version": reviewed}, follow=True)
    assert "changed by someone else" in response.content.decode()
    assert Note.objects.get(pk=drafted.pk).status == "draft"


def test_review_page_sign_button_carries_the_version(client, drafted, alice):
    client.force_login(alice)
    page = client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).content.decode()
    assert f'hx-vals=\'{{"version": "{drafted.version}"}}\'' in page


# --- 4. killed worker: the redelivered message recovers the job ------------------------------


def test_redelivered_task_while_the_dead_workers_heartbeat_is_fresh_checks_again_later(
    alice, fake_engine, settings, monkeypatch
):
    settings.GENERATION_STALE_SECONDS = 120
    encounter = make_encounter(alice)
    beat = timezone.now() - timedelta(seconds=20)
    job = GenerationJob.objects.create(encounter=encounter, state="generating", started_at=beat, heartbeat_at=beat)
    rescheduled = []
    monkeypatch.setattr(generate_note_task, "apply_async", lambda **kw: rescheduled.append(kw))
    assert generate_note_task(job.pk) == "skipped" and fake_engine.calls == []
    [again] = rescheduled
    assert again["args"] == [job.pk] and 100 <= again["countdown"] <= 110  # once the heartbeat is stale
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=130))
    assert generate_note_task(job.pk) == "done" and len(fake_engine.calls) == 1


# --- 12. staff read everything but change only their own notes -------------------------------


def test_staff_cannot_edit_sign_or_regenerate_another_clinicians_note(drafted, staff):
    with pytest.raises(services.NotYourNote):
        services.edit_section(drafted, "P", "Staff plan.", author=staff, base_version=drafted.version)
    with pytest.raises(services.NotYourNote):
        services.sign_note(drafted, staff, version=drafted.version)
    with pytest.raises(services.NotYourNote):
        services.request_generation(drafted.encounter, actor=staff)
    drafted.refresh_from_db()
    assert drafted.status == "draft" and drafted.P == NOTE.P and not drafted.signatures.exists()


def test_staff_web_edit_and_sign_of_another_clinicians_note_are_refused(client, drafted, staff):
    client.force_login(staff)
    assert client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).status_code == 200
    url = reverse("notes:section", args=[drafted.encounter.pk, "P"])
    response = client.post(url, {"text": "Staff plan.", "base_version": drafted.version}, **HTMX)
    assert "Only the clinician who owns" in response.content.decode()
    response = client.post(
        reverse("notes:sign", args=[drafted.encounter.pk]), {"version": drafted.version}, follow=True
    )
    assert "Only the clinician who owns" in response.content.decode()
    drafted.refresh_from_db()
    assert drafted.status == "draft" and drafted.P == NOTE.P


# --- 13. one export path, one audit event ----------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type"), [("text", "text/plain"), ("json", "application/json"),
                                                    ("fhir", "application/fhir+json")])  # fmt: skip
def test_each_web_export_writes_exactly_one_audit_event_naming_its_format(client, drafted, alice, fmt, content_type):
    from clinic.notes.models import AuditEvent

    services.sign_note(drafted, alice, version=drafted.version)
    client.force_login(alice)
    response = client.get(reverse("notes:export", args=[drafted.encounter.pk, fmt]))
    assert response.status_code == 200 and response["Content-Type"].startswith(content_type)
    assert [e.detail["format"] for e in AuditEvent.objects.filter(action="export")] == [fmt]


# --- 6. bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_unicode_files_with_a_byte_order_mark_are_decoded_not_called_binary(alice, encoding):
    text = "Doctor: Any pain, Mrs. Müller?\nPatient: Ja, im Knie.\n"
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = codecs.BOM_UTF16_BE + raw
    encounter = services.create_encounter(alice, raw, filename="visit.txt")
    assert encounter.turns[0] == {"speaker": "doctor", "text": "Any pain, Mrs. Müller?"}


def test_nul_in_pasted_text_gets_a_clinician_readable_message(client, alice):
    client.force_login(alice)
    response = client.post(reverse("notes:encounter_new"), {"dialogue": "Doctor: hi\x00\nPatient: hello"})
    page = response.content.decode()
    assert response.status_code == 400 and "unreadable characters" in page and "empty" not in page
    assert not Encounter.objects.exists()


def test_a_paste_over_the_size_limit_gets_the_form_message(client, alice, settings):
    settings.DIALOGUE_MAX_BYTES = 1_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    client.force_login(alice)
    response = client.post(reverse("notes:encounter_new"), {"dialogue": "Doctor: " + "x" * 5_000})
    page = response.content.decode()
    assert response.status_code == 413 and "the limit is 1,000 bytes" in page and 'class="intake"' in page
    assert not Encounter.objects.exists()


def test_unlabelled_paste_is_accepted_with_unknown_speakers(client, alice, monkeypatch):
    monkeypatch.setattr(generate_note_task, "apply_async", lambda **kw: None)
    client.force_login(alice)
    response = client.post(reverse("notes:encounter_new"), {"dialogue": "hi , susan , how are you ?\ni'm fine ."})
    assert response.status_code == 302
    assert [t["speaker"] for t in Encounter.objects.get().turns] == ["unknown", "unknown"]


def _race_sign_and_edit(note_pk: int, reviewed: int, user):
    """Sign at `reviewed` and save an edit based on `reviewed` at the same instant; the signature or None."""
    import threading

    from django.db import connections

    start = threading.Barrier(2)

    def sign():
        start.wait()
        try:
            return services.sign_note(Note.objects.get(pk=note_pk), user, version=reviewed)
        except services.ServiceError:
            return None
        finally:
            connections.close_all()

    def edit():
        start.wait()
        try:
            services.edit_section(Note.objects.get(pk=note_pk), "P", "Edited in the other tab.", author=user,
                                  base_version=reviewed)  # fmt: skip
        except services.ServiceError:
            pass
        finally:
            connections.close_all()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        signed, _ = pool.submit(sign), pool.submit(edit)
        return signed.result()


@pytest.mark.django_db(transaction=True)
def test_sign_racing_an_edit_never_signs_text_the_signer_did_not_review(alice, fake_engine):
    """Issue 17: 3 of 10 races signed an edit the signer never saw. Under the row lock, never."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL (SQLite serialises writers)")
    from tests.clinic.conftest import generate_now

    for _ in range(10):
        encounter = make_encounter(alice)
        generate_now(encounter)
        note = Note.objects.get(encounter=encounter)
        signature = _race_sign_and_edit(note.pk, note.version, alice)
        if signature is not None:  # the sign won: the edit got a conflict and the signed text is what was reviewed
            assert signature.content == note.sections() and Note.objects.get(pk=note.pk).P == note.P
        else:  # the edit won: nothing was signed
            assert Note.objects.get(pk=note.pk).status == "draft"
