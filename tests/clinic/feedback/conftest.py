"""Fixtures for the feedback-loop tests: signed notes carrying identifiers, made through the services.

A "generated" note is written the way the worker writes one (sections, generated JSON, status
draft, generated_at) so that review, signing and collection run without loading the model;
the real model path is in test_feedback_e2e.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from clinic.mlops.models import ModelVersion
from clinic.notes import services
from clinic.notes.models import Note

DIALOGUE = (
    "Doctor: Good morning, Mrs. Kowalczyk. I'm Dr. Ramanathan.\n"
    "Patient: Morning. My name is Helena Kowalczyk, born 03/03/1931, so I'm 93 years old.\n"
    "Doctor: Is your phone still (617) 555-0142 and your email helena.k@gmail.com?\n"
    "Patient: Yes. I live at 42 Maple Street, Apt 3B, Springfield, IL 62704. My MRN is 00482913.\n"
    "Doctor: What brings you in?\n"
    "Patient: I get dizzy when I stand up, for two weeks now. My daughter Agnes drives me.\n"
    "Doctor: Your blood pressure is 142/88 sitting and 118/70 standing. Pulse 78.\n"
)
GENERATED = {
    "S": "Helena Kowalczyk, 93 years old, reports dizziness on standing for two weeks.",
    "O": "BP 142/88 sitting, 118/70 standing. Pulse 78.",
    "A": "Dizziness.",
    "P": "Follow up with Dr. Ramanathan. Call (617) 555-0142 with results.",
}
IDENTIFIERS = [
    "Kowalczyk", "Helena", "Ramanathan", "03/03/1931", "93 years", "555-0142", "helena.k@gmail.com", "Maple",
    "Springfield", "62704", "00482913", "Agnes",
]  # fmt: skip


def make_generated(owner: Any, dialogue: str = DIALOGUE, generated: dict[str, str] | None = None, **kw: Any) -> Note:
    """An encounter whose note is in draft, as the generation worker leaves it."""
    encounter = services.create_encounter(owner, dialogue)
    note = encounter.note
    generated = dict(generated or GENERATED)
    for key, value in generated.items():
        setattr(note, key, value)
    note.generated = generated
    note.model_reference = kw.get("model_reference", "default-policy")
    note.model_version = kw.get("model_version")
    note.status = Note.Status.DRAFT
    note.version = 1
    note.generated_at = timezone.now()
    note.save()
    return note


@pytest.fixture
def sign(django_capture_on_commit_callbacks):
    """Sign a note and run the post-commit hooks, as a real request would."""

    def _sign(note: Note, signer: Any):
        with django_capture_on_commit_callbacks(execute=True):
            return services.sign_note(note, signer)

    return _sign


@pytest.fixture
def signed_edited_note(alice, sign):
    note = make_generated(alice)
    services.edit_section(
        note, "A", "Orthostatic hypotension in Mrs. Kowalczyk.", author=alice, base_version=note.version
    )
    sign(note, alice)
    return note


@pytest.fixture
def versions(db):
    base = ModelVersion.objects.create(name="base", reference="var/models/base")
    cand = ModelVersion.objects.create(name="cand", reference="var/models/cand", parent=base)
    return base, cand
