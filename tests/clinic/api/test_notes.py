"""Reading, editing (optimistic locking), signing, rating and exporting notes."""

from __future__ import annotations

import base64
import json

import pytest

from clinic.notes.models import Note, NoteRevision, Rating

from .conftest import GENERATED, make_encounter
from .test_errors_and_auth import assert_error

pytestmark = pytest.mark.django_db


def url(note: Note, tail: str = "") -> str:
    return f"/api/v1/notes/{note.pk}{tail}"


def test_read_note_with_sections_version_and_history(as_alice, alice_note):
    body = as_alice.get(url(alice_note)).json()
    assert body["sections"] == GENERATED and body["generated"] == GENERATED
    assert body["status"] == "draft" and body["version"] == 1
    assert {r["section"] for r in body["revisions"]} == {"S", "O", "A", "P"}
    assert body["links"]["encounter"] == f"/api/v1/encounters/{alice_note.encounter_id}"


def test_edit_appends_a_revision_and_bumps_the_version(alice, as_alice, alice_note):
    response = as_alice.put(url(alice_note, "/sections/A"), {"text": "Acute viral bronchitis.", "version": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["sections"]["A"] == "Acute viral bronchitis."
    edit = NoteRevision.objects.get(note=alice_note, kind="edit")
    assert (edit.section, edit.before, edit.after, edit.author) == (
        "A",
        GENERATED["A"],
        "Acute viral bronchitis.",
        alice,
    )
    assert body["revisions"][-1]["author"] == "alice"


def test_stale_version_is_409_with_the_current_note(as_alice, alice_note):
    as_alice.put(url(alice_note, "/sections/S"), {"text": "First edit.", "version": 1})
    stale = as_alice.put(url(alice_note, "/sections/P"), {"text": "Second edit.", "version": 1})
    error = assert_error(stale, 409, "version_conflict")
    assert error["fields"][0]["field"] == "version"
    current = stale.json()["current"]
    assert current["version"] == 2 and current["sections"]["S"] == "First edit."
    assert GENERATED["P"] == Note.objects.get(pk=alice_note.pk).P


def test_edit_before_generation_is_409_not_ready(as_alice, alice_encounter):
    note = Note.objects.get(encounter=alice_encounter)
    assert_error(as_alice.put(url(note, "/sections/S"), {"text": "x", "version": 0}), 409, "note_not_ready")


def test_unknown_section_is_422(as_alice, alice_note):
    error = assert_error(as_alice.put(url(alice_note, "/sections/X"), {"text": "x", "version": 1}), 422)
    assert error["fields"][0]["field"] == "section"


def test_signed_note_needs_a_reason_and_keeps_an_amendment(as_alice, alice_signed_note):
    version = alice_signed_note.version
    refused = as_alice.put(url(alice_signed_note, "/sections/P"), {"text": "Add chest X-ray.", "version": version})
    assert_error(refused, 409, "note_signed")
    amended = as_alice.put(
        url(alice_signed_note, "/sections/P"),
        {"text": "Add chest X-ray.", "version": version, "reason": "Missed order"},
    )
    assert amended.status_code == 200
    assert NoteRevision.objects.get(note=alice_signed_note, kind="amendment").reason == "Missed order"


def test_sign_records_the_signature(alice, as_alice, alice_note):
    response = as_alice.post(url(alice_note, "/sign"), {"version": 1})
    assert response.status_code == 200, response.content
    assert response.json()["signer"] == "alice" and response.json()["content"] == GENERATED
    assert Note.objects.get(pk=alice_note.pk).status == "signed"
    assert_error(as_alice.post(url(alice_note, "/sign"), {"version": 2}), 409, "note_signed")


def test_sign_with_a_stale_version_is_409(as_alice, alice_note):
    as_alice.put(url(alice_note, "/sections/S"), {"text": "Changed.", "version": 1})
    assert_error(as_alice.post(url(alice_note, "/sign"), {"version": 1}), 409, "version_conflict")
    assert Note.objects.get(pk=alice_note.pk).status == "draft"


def test_rating_is_set_then_replaced(alice, as_alice, alice_note):
    assert as_alice.put(url(alice_note, "/rating"), {"score": 3, "comment": "Plan too vague"}).json()["score"] == 3
    assert as_alice.put(url(alice_note, "/rating"), {"score": 4}).status_code == 200
    assert Rating.objects.get(note=alice_note, author=alice).score == 4
    error = assert_error(as_alice.put(url(alice_note, "/rating"), {"score": 6}), 422)
    assert error["fields"][0]["field"] == "score"


def test_export_needs_a_signed_note(as_alice, alice_note):
    assert_error(as_alice.get(url(alice_note, "/export?format=text")), 409, "note_not_ready")


def test_export_text_and_json(as_alice, alice_signed_note):
    text = as_alice.get(url(alice_signed_note, "/export?format=text"))
    assert text["Content-Type"].startswith("text/plain") and GENERATED["P"] in text.content.decode()
    data = as_alice.get(url(alice_signed_note, "/export?format=json"))
    assert data["Content-Type"] == "application/json" and data.json()["note"] == GENERATED


def test_export_fhir_document_reference(as_alice, alice_signed_note):
    response = as_alice.get(url(alice_signed_note, "/export?format=fhir"))
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    doc = response.json()
    assert doc["resourceType"] == "DocumentReference" and doc["status"] == "current" and doc["docStatus"] == "final"
    assert doc["type"]["coding"][0] == {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}
    assert doc["authenticator"] == {"display": "alice"}
    plain, as_json = (c["attachment"] for c in doc["content"])
    assert plain["contentType"].startswith("text/plain") and as_json["contentType"] == "application/json"
    assert GENERATED["A"] in base64.b64decode(plain["data"]).decode()
    assert json.loads(base64.b64decode(as_json["data"]))["note"] == GENERATED
    assert plain["size"] == len(base64.b64decode(plain["data"]))


def test_fhir_marks_edits_after_signing_as_amended(as_alice, alice_signed_note):
    as_alice.put(
        url(alice_signed_note, "/sections/P"),
        {"text": "Add chest X-ray.", "version": alice_signed_note.version, "reason": "Missed order"},
    )
    assert as_alice.get(url(alice_signed_note, "/export?format=fhir")).json()["docStatus"] == "amended"


def test_unknown_export_format_is_422(as_alice, alice_signed_note):
    error = assert_error(as_alice.get(url(alice_signed_note, "/export?format=pdf")), 422)
    assert error["fields"][0]["field"] == "format"


def test_note_list_filters(alice, as_alice, alice_note):
    make_encounter(alice, title="Still pending")
    body = as_alice.get("/api/v1/notes?status=draft").json()
    assert [n["id"] for n in body["items"]] == [alice_note.pk]
    assert as_alice.get("/api/v1/notes").json()["count"] == 2
    only = as_alice.get(f"/api/v1/notes?encounter={alice_note.encounter_id}").json()
    assert [n["id"] for n in only["items"]] == [alice_note.pk]
