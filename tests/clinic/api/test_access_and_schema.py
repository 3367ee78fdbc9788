"""Ownership on every endpoint (others' objects are 404), and the published OpenAPI schema and docs."""

from __future__ import annotations

import re

import pytest

from clinic.api.views import api
from clinic.notes.models import GenerationJob
from inference.schema import note_json_schema

from .test_errors_and_auth import assert_error

pytestmark = pytest.mark.django_db

# Every operation that takes an object id, with a body that would succeed for the owner.
OWNED = {
    ("GET", "/encounters/{encounter_id}"): None,
    ("POST", "/encounters/{encounter_id}/generate"): {},
    ("GET", "/jobs/{job_id}"): None,
    ("GET", "/notes/{note_id}"): None,
    ("PUT", "/notes/{note_id}/sections/{section}"): {"text": "Changed.", "version": 1},
    ("POST", "/notes/{note_id}/sign"): {"version": 1},
    ("PUT", "/notes/{note_id}/rating"): {"score": 4},
    ("GET", "/notes/{note_id}/export"): None,
}
UNOWNED = {("GET", "/health"), ("GET", "/encounters"), ("POST", "/encounters"), ("GET", "/notes")}


def operations() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return {(m.upper(), p.removeprefix("/api/v1")) for p, ops in schema["paths"].items() for m in ops}


def test_every_operation_is_covered_by_the_ownership_test():
    assert operations() == set(OWNED) | UNOWNED


@pytest.fixture
def alice_objects(alice_note):
    job = GenerationJob.objects.create(encounter=alice_note.encounter)
    return {"encounter_id": alice_note.encounter_id, "job_id": job.pk, "note_id": alice_note.pk, "section": "S"}


@pytest.mark.parametrize(("method", "path"), sorted(OWNED))
def test_other_users_objects_are_404(as_bob, as_alice, alice_objects, alice_note, method, path):
    target = "/api/v1" + path.format(**alice_objects)
    body = OWNED[(method, path)]
    before = alice_note.sections(), alice_note.version
    assert_error(as_bob.request(method, target, body), 404, "not_found")
    alice_note.refresh_from_db()
    assert (alice_note.sections(), alice_note.version) == before
    # and the owner does reach it (export needs a signed note, so 409 proves it was found)
    assert as_alice.request(method, target, body).status_code in {200, 202, 409}


def test_lists_show_only_your_own(as_bob, alice_note):
    assert as_bob.get("/api/v1/encounters").json()["count"] == 0
    assert as_bob.get("/api/v1/notes").json()["count"] == 0
    assert as_bob.get(f"/api/v1/notes?encounter={alice_note.encounter_id}").json()["count"] == 0


def test_staff_see_every_encounter(staff, alice_note):
    from clinic.api.models import ApiToken

    from .conftest import ApiClient

    client = ApiClient(ApiToken.issue(staff, "audit")[1])
    assert client.get(f"/api/v1/notes/{alice_note.pk}").status_code == 200


def test_schema_is_openapi_3_with_the_inference_note_schema(anonymous):
    response = anonymous.get("/api/v1/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    published = schema["components"]["schemas"]["SOAPNote"]
    expected = note_json_schema()
    assert published["properties"] == expected["properties"]
    assert sorted(published["required"]) == sorted(expected["required"])
    assert published["additionalProperties"] is False
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer"}
    assert schemes["SessionAuth"]["in"] == "cookie"
    export = schema["paths"]["/api/v1/notes/{note_id}/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/plain", "application/json", "application/fhir+json"}


def test_docs_are_served_without_a_cdn(anonymous):
    html = anonymous.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []
