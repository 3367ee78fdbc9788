"""Helpers for the clinician-app tests: encounters made through the services, notes filled through
the real generation task with `inference.engine.generate_note` replaced at its seam."""

from __future__ import annotations

import pytest

from clinic.notes import services
from clinic.notes.models import Encounter, GenerationJob, Note
from clinic.notes.tasks import generate_note_task
from inference.engine import GenerationResult
from inference.schema import SOAPNote

DIALOGUE = (
    "Doctor: Good morning, what brings you in today?\n"
    "Patient: I've had a dry cough for two weeks and a fever of 38.5 last night.\n"
    "Doctor: Any shortness of breath or chest pain?\n"
    "Patient: No chest pain, a little breathless climbing stairs.\n"
    "Doctor: Your oxygen saturation is 97 percent and your lungs sound clear.\n"
    "Doctor: This looks like viral bronchitis. Rest, fluids, and paracetamol for the fever. Come back if it lasts "
    "another week.\n"
)

NOTE = SOAPNote(
    S="Dry cough for two weeks. Fever of 38.5 last night. Mild breathlessness on stairs; no chest pain.",
    O="Oxygen saturation 97 percent. Lungs clear. Blood pressure 150/95.",
    A="Viral bronchitis.",
    P="Rest, fluids, paracetamol for fever. Return if the cough lasts another week.",
)


def fake_result(note: SOAPNote = NOTE) -> GenerationResult:
    return GenerationResult(
        note=note, raw=note.model_dump_json(), tokens=57, model_reference="default", backend="fake", seconds=0.1
    )


@pytest.fixture
def fake_engine(monkeypatch):
    """Replace the model call (the I/O seam) with a function returning `fake_engine.result` or raising it."""

    class Engine:
        def __init__(self) -> None:
            self.calls: list[dict] = []
            self.outcomes: list[object] = []  # consumed in order; when empty, a good note

        def __call__(self, turns, **kwargs):
            self.calls.append({"turns": turns, **kwargs})
            if kwargs.get("on_progress"):
                kwargs["on_progress"]('{"S": "Dry', 3)
            outcome = self.outcomes.pop(0) if self.outcomes else fake_result()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

    engine = Engine()
    monkeypatch.setattr("inference.engine.generate_note", engine)
    return engine


def make_encounter(owner, text: str = DIALOGUE, **kwargs) -> Encounter:
    return services.create_encounter(owner, text, **kwargs)


def generate_now(encounter: Encounter) -> GenerationJob:
    """Queue a job without sending it, then run the real task body in this process."""
    job = GenerationJob.objects.create(encounter=encounter)
    generate_note_task.apply(args=[job.pk])
    job.refresh_from_db()
    return job


@pytest.fixture
def drafted(alice, fake_engine) -> Note:
    """Alice's encounter with a generated draft note."""
    encounter = make_encounter(alice)
    generate_now(encounter)
    return Note.objects.get(encounter=encounter)
