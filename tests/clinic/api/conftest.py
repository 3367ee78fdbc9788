"""Fixtures for the REST API tests: tokens for the fixed users, a JSON client, encounters in each state.

Encounters are created through `clinic.notes.services` (the same path the API takes). A
"generated" note is written the way the worker writes one (sections, status draft, a
generated revision per section) so review endpoints can be tested without loading the model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from clinic.api.models import ApiToken
from clinic.notes import services
from clinic.notes.models import Note, NoteRevision

DIALOGUE = (
    "Doctor: What brings you in today?\n"
    "Patient: I've had a cough and a fever for three days.\n"
    "Doctor: Your temperature is 38.4 and your lungs sound clear.\n"
    "Patient: Should I take anything?\n"
    "Doctor: Rest, fluids and paracetamol; come back if it lasts a week.\n"
)
GENERATED = {
    "S": "Cough and fever for three days.",
    "O": "Temperature 38.4 C. Lungs clear.",
    "A": "Likely viral upper respiratory infection.",
    "P": "Rest, fluids, paracetamol. Return if symptoms persist beyond a week.",
}


class ApiClient:
    """A Django test client that speaks JSON with a bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None, **kw: Any):
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        call = getattr(self.client, method.lower())
        extra = {**self.headers, **(headers or {})}
        if data is None:
            return call(path, headers=extra, **kw)
        return call(path, data=data, content_type=kw.pop("content_type", "application/json"), headers=extra, **kw)

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def put(self, path: str, body: Any = None, **kw: Any):
        return self.request("PUT", path, body if body is not None else {}, **kw)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice_token(alice) -> str:
    return ApiToken.issue(alice, "alice's script")[1]


@pytest.fixture
def bob_token(bob) -> str:
    return ApiToken.issue(bob, "bob's script")[1]


@pytest.fixture
def as_alice(alice_token) -> ApiClient:
    return ApiClient(alice_token)


@pytest.fixture
def as_bob(bob_token) -> ApiClient:
    return ApiClient(bob_token)


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient(None)


def make_encounter(owner: Any, text: str = DIALOGUE, title: str = "Cough and fever"):
    return services.create_encounter(owner, text, title=title, via="api")


def generate_in_place(encounter: Any, sections: dict[str, str] | None = None) -> Note:
    """What the worker does when a generation finishes, without running the model."""
    sections = sections or GENERATED
    note = Note.objects.get(encounter=encounter)
    for key, text in sections.items():
        setattr(note, key, text)
        NoteRevision.objects.create(
            note=note, section=key, before="", after=text, kind=NoteRevision.Kind.GENERATED, note_version=1
        )
    note.generated = dict(sections)
    note.status = Note.Status.DRAFT
    note.version = 1
    note.generated_at = timezone.now()
    note.model_reference = "HuggingFaceTB/SmolLM2-135M-Instruct"
    note.save()
    return note


@pytest.fixture
def alice_encounter(alice):
    return make_encounter(alice)


@pytest.fixture
def alice_note(alice_encounter) -> Note:
    return generate_in_place(alice_encounter)


@pytest.fixture
def alice_signed_note(alice, alice_note) -> Note:
    services.sign_note(alice_note, alice, via="api")
    alice_note.refresh_from_db()
    return alice_note
