"""Creating encounters (turns or transcript), idempotent retries, polling jobs, listing and filtering."""

from __future__ import annotations

import uuid

import pytest

from clinic.api.models import IdempotencyRecord
from clinic.notes.models import Encounter, GenerationJob, Note

from .conftest import DIALOGUE, generate_in_place, make_encounter
from .test_errors_and_auth import assert_error

pytestmark = pytest.mark.django_db

TURNS = [
    {"speaker": "doctor", "text": "What brings you in?"},
    {"speaker": "patient", "text": "Headache since yesterday."},
]
VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Doctor>How are you?\n\n"
    "00:00:04.000 --> 00:00:06.000\n<v Patient>Tired.\n"
)


def test_create_from_turns_answers_202_with_the_job_to_poll(alice, as_alice):
    response = as_alice.post("/api/v1/encounters", {"turns": TURNS, "title": "Headache"})
    assert response.status_code == 202, response.content
    body = response.json()
    job = GenerationJob.objects.get()
    assert response["Location"] == body["links"]["job"] == f"/api/v1/jobs/{job.pk}"
    assert body["job"]["state"] == "queued"
    encounter = Encounter.objects.get()
    assert encounter.owner == alice and encounter.source == "api" and encounter.title == "Headache"
    assert encounter.turns == TURNS
    assert body["encounter"]["turns"] == TURNS
    assert body["encounter"]["note"] == {"id": encounter.note.pk, "status": "pending", "version": 0}

    polled = as_alice.get(body["links"]["job"]).json()
    assert polled["state"] == "queued" and polled["tokens"] == 0 and polled["error"] == ""


def test_create_from_labelled_transcript_parses_speakers(as_alice):
    body = as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE}).json()
    turns = body["encounter"]["turns"]
    assert [t["speaker"] for t in turns] == ["doctor", "patient", "doctor", "patient", "doctor"]
    assert turns[1]["text"].startswith("I've had a cough")


def test_create_from_webvtt_file(as_alice):
    body = as_alice.post("/api/v1/encounters", {"transcript": VTT, "filename": "visit.vtt"}).json()
    assert body["encounter"]["source"] == "vtt"
    assert [t["speaker"] for t in body["encounter"]["turns"]] == ["doctor", "patient"]


def test_unparseable_transcript_is_422_naming_the_line_and_stores_nothing(as_alice):
    response = as_alice.post("/api/v1/encounters", {"transcript": "just some words\nDoctor: then a label"})
    error = assert_error(response, 422, "invalid_dialogue")
    assert error["fields"][0]["field"] == "transcript"
    assert not Encounter.objects.exists() and not GenerationJob.objects.exists()


def test_turns_and_transcript_together_are_refused(as_alice):
    error = assert_error(as_alice.post("/api/v1/encounters", {"turns": TURNS, "transcript": DIALOGUE}), 422)
    assert "exactly one" in error["message"] or "exactly one" in error["fields"][0]["message"]


def test_without_generation_answers_201_and_queues_nothing(as_alice):
    response = as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE, "generate": False})
    assert response.status_code == 201
    assert response.json()["job"] is None
    assert not GenerationJob.objects.exists()


def test_retry_with_idempotency_key_returns_the_first_result(as_alice):
    key = str(uuid.uuid4())
    first = as_alice.post("/api/v1/encounters", {"turns": TURNS}, headers={"Idempotency-Key": key})
    again = as_alice.post("/api/v1/encounters", {"turns": TURNS}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Encounter.objects.count() == 1 and GenerationJob.objects.count() == 1


def test_idempotency_key_reused_with_another_body_is_refused(as_alice):
    key = "visit-42"
    as_alice.post("/api/v1/encounters", {"turns": TURNS}, headers={"Idempotency-Key": key})
    other = as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE}, headers={"Idempotency-Key": key})
    assert_error(other, 422, "idempotency_key_reused")
    assert Encounter.objects.count() == 1


def test_idempotency_keys_are_per_user(as_alice, as_bob):
    for client in (as_alice, as_bob):
        assert client.post("/api/v1/encounters", {"turns": TURNS}, headers={"Idempotency-Key": "k1"}).status_code == 202
    assert Encounter.objects.count() == 2 and IdempotencyRecord.objects.count() == 2


def test_failed_create_does_not_burn_the_key(as_alice):
    key = "k-retry"
    bad = {"transcript": "nonsense\nDoctor: hi"}  # a first line with no label, then labels
    assert as_alice.post("/api/v1/encounters", bad, headers={"Idempotency-Key": key}).status_code == 422
    assert not IdempotencyRecord.objects.exists()
    fixed = as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE}, headers={"Idempotency-Key": key})
    assert fixed.status_code == 202


def test_list_is_paginated_newest_first(alice, as_alice):
    made = [make_encounter(alice, title=f"Visit {i}") for i in range(5)]
    page1 = as_alice.get("/api/v1/encounters?page_size=2").json()
    assert page1["count"] == 5 and page1["previous"] is None
    assert [e["id"] for e in page1["items"]] == [made[4].pk, made[3].pk]
    page3 = as_alice.get(page1["next"].replace("page=2", "page=3")).json()
    assert [e["id"] for e in page3["items"]] == [made[0].pk] and page3["next"] is None
    assert_error(as_alice.get("/api/v1/encounters?page=4&page_size=2"), 404, "page_not_found")
    error = assert_error(as_alice.get("/api/v1/encounters?page_size=1000"), 422)
    assert error["fields"][0]["field"] == "page_size"


def test_list_filters_by_status_and_title(alice, as_alice):
    draft = make_encounter(alice, title="Knee pain")
    generate_in_place(draft)
    make_encounter(alice, title="Sore throat")
    only_draft = as_alice.get("/api/v1/encounters?status=draft").json()
    assert [e["id"] for e in only_draft["items"]] == [draft.pk]
    assert [e["title"] for e in as_alice.get("/api/v1/encounters?q=throat").json()["items"]] == ["Sore throat"]
    assert as_alice.get("/api/v1/encounters?created_after=2999-01-01T00:00:00Z").json()["count"] == 0


def test_regenerate_a_signed_note_is_409(as_alice, alice_signed_note):
    response = as_alice.post(f"/api/v1/encounters/{alice_signed_note.encounter_id}/generate")
    assert_error(response, 409, "note_signed")


def test_regenerate_returns_the_running_job_instead_of_a_second(as_alice, alice_encounter):
    first = as_alice.post(f"/api/v1/encounters/{alice_encounter.pk}/generate")
    second = as_alice.post(f"/api/v1/encounters/{alice_encounter.pk}/generate")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert Note.objects.get(encounter=alice_encounter).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_encounter(alice_token):
    """Two clients racing with one key: the unique (user, key) row makes the loser replay the winner."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL (SQLite serialises writers)")
    from .conftest import ApiClient

    body = {"transcript": DIALOGUE, "generate": False}

    def attempt(_: int):
        try:
            response = ApiClient(alice_token).post("/api/v1/encounters", body, headers={"Idempotency-Key": "race"})
            return response.status_code, response.json()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert {status for status, _ in results} == {201}
    assert len({body["encounter"]["id"] for _, body in results}) == 1
    assert Encounter.objects.count() == 1
