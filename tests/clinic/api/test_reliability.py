"""API faults of issue 17: a broker outage answers 503, a stale job ends the polling loop."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from clinic.notes.models import Encounter, GenerationJob
from clinic.notes.tasks import generate_note_task

from .conftest import DIALOGUE, make_encounter
from .test_errors_and_auth import assert_error


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(generate_note_task, "apply_async", refuse)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("idempotency_key", [None, "key"])
def test_create_with_broker_down_is_503_with_the_saved_encounter_to_retry(as_alice, broker_down, idempotency_key):
    headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotency_key else {}
    response = as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE}, headers=headers)
    error = assert_error(response, 503, "queue_unavailable")
    assert response["Retry-After"] == "30" and "generate" in error["message"]
    encounter = Encounter.objects.get()
    assert response.json()["links"]["encounter"] == f"/api/v1/encounters/{encounter.pk}"
    job = GenerationJob.objects.get()
    assert job.state == "failed" and job.retryable
    polled = as_alice.get(f"/api/v1/jobs/{job.pk}").json()
    assert polled["state"] == "failed" and polled["retryable"] is True


@pytest.mark.django_db(transaction=True)
def test_generate_with_broker_down_is_503_and_no_job_stays_queued(alice, as_alice, broker_down):
    encounter = make_encounter(alice)
    response = as_alice.post(f"/api/v1/encounters/{encounter.pk}/generate")
    assert_error(response, 503, "queue_unavailable")
    assert not GenerationJob.objects.filter(state="queued").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["generating", "queued"])
def test_polling_a_stale_job_reports_failed_so_the_loop_ends(alice, as_alice, settings, state):
    settings.GENERATION_STALE_SECONDS = 30
    settings.GENERATION_QUEUE_STALE_SECONDS = 30
    encounter = make_encounter(alice)
    old = timezone.now() - timedelta(seconds=300)
    job = GenerationJob.objects.create(encounter=encounter, state=state, started_at=old, heartbeat_at=old)
    GenerationJob.objects.filter(pk=job.pk).update(created_at=old)
    body = as_alice.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["state"] == "failed" and body["stale"] is True and body["retryable"] is True
    assert "retry generation" in body["error"]
    retried = as_alice.post(f"/api/v1/encounters/{encounter.pk}/generate").json()
    assert retried["id"] != job.pk and retried["state"] == "queued" and retried["stale"] is False


@pytest.mark.django_db
def test_sign_needs_the_reviewed_version(as_alice, alice_note):
    error = assert_error(as_alice.post(f"/api/v1/notes/{alice_note.pk}/sign", {}), 422)
    assert error["fields"][0]["field"] == "version"
    assert as_alice.post(f"/api/v1/notes/{alice_note.pk}/sign", {"version": 1}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/rating", {"score": True}),
        ("/rating", {"score": "3"}),
        ("/rating", {"score": 3.5}),
        ("/rating", {"score": "yes"}),
        ("/sections/S", {"text": "x", "version": "1"}),
        ("/sections/S", {"text": "x", "version": True}),
        ("/sign", {"version": "1"}),
    ],
)
def test_schemas_refuse_loosely_typed_numbers(as_alice, alice_note, path, body):
    method = as_alice.post if path == "/sign" else as_alice.put
    assert_error(method(f"/api/v1/notes/{alice_note.pk}{path}", body), 422)
    alice_note.refresh_from_db()
    assert alice_note.status == "draft" and alice_note.version == 1 and not alice_note.ratings.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("generate", ["yes", 1, "true"])
def test_create_refuses_a_generate_flag_that_is_not_a_boolean(as_alice, generate):
    assert_error(as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE, "generate": generate}), 422)
    assert not Encounter.objects.exists()


@pytest.mark.django_db
def test_staff_token_reads_but_cannot_edit_or_sign_another_clinicians_note(staff, alice_note):
    from clinic.api.models import ApiToken

    from .conftest import ApiClient

    as_staff = ApiClient(ApiToken.issue(staff, "audit")[1])
    note = f"/api/v1/notes/{alice_note.pk}"
    assert as_staff.get(note).status_code == 200
    assert_error(as_staff.put(note + "/sections/P", {"text": "Staff plan.", "version": 1}), 403, "not_owner")
    assert_error(as_staff.post(note + "/sign", {"version": 1}), 403, "not_owner")
    assert_error(as_staff.post(f"/api/v1/encounters/{alice_note.encounter_id}/generate"), 403, "not_owner")
    alice_note.refresh_from_db()
    assert alice_note.status == "draft" and alice_note.version == 1


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["text", "json", "fhir"])
def test_each_api_export_writes_exactly_one_audit_event_naming_its_format(as_alice, alice_signed_note, fmt):
    from clinic.notes.models import AuditEvent

    response = as_alice.get(f"/api/v1/notes/{alice_signed_note.pk}/export?format={fmt}")
    assert response.status_code == 200, response.content
    events = AuditEvent.objects.filter(action="export")
    assert [(e.detail["format"], e.via) for e in events] == [(fmt, "api")]
    if fmt == "fhir":
        assert response["Content-Type"].startswith("application/fhir+json")
        assert response.json()["resourceType"] == "DocumentReference"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "transcript",
    [
        "[" * 5000 + "]" * 5000,
        '{"tu\\u0072ns": [{"speaker": "Doctor", "text": "Hi"}, {"speaker": 3, "text": "x"}]}',
    ],
)
def test_hostile_json_transcripts_are_a_clear_4xx_not_500(as_alice, transcript):
    response = as_alice.post("/api/v1/encounters", {"transcript": transcript, "filename": "t.json"})
    assert 400 <= response.status_code < 500 and response.json()["error"]["message"]
    assert not Encounter.objects.exists()


@pytest.mark.django_db
def test_a_deeply_nested_request_body_is_a_clear_4xx_not_500(as_alice):
    response = as_alice.post("/api/v1/encounters", '{"turns": ' + "[" * 5000 + "]" * 5000 + "}")
    assert 400 <= response.status_code < 500 and response.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_writes_to_unknown_api_paths_get_the_json_404_not_a_csrf_page(alice, method):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = getattr(client, method)("/api/v1/no-such-thing", data="{}", content_type="application/json")
    assert_error(response, 404, "not_found")
