"""Small fixed examples (short dialogues, gold notes, facts) so real-model tests stay fast on CPU."""

from __future__ import annotations

import json

import pytest

EXAMPLES = [
    {
        "key": "cough-1",
        "dialogue": [
            {"speaker": "doctor", "text": "What brings you in?"},
            {"speaker": "patient", "text": "A dry cough for five days."},
            {"speaker": "doctor", "text": "Your temperature is 38.1."},
        ],
        "reference": {"S": "Dry cough for 5 days.", "O": "Temp 38.1 C.", "A": "Viral bronchitis.", "P": "Rest."},
        "facts": [{"section": "S", "kind": "symptom", "text": "dry cough", "surface_forms": ["dry cough", "cough"]}],
        "specialty": "general", "condition": "bronchitis", "split": "train", "source": "synthetic", "seed": 1,
    },
    {
        "key": "bp-1",
        "dialogue": [
            {"speaker": "doctor", "text": "How are the headaches?"},
            {"speaker": "patient", "text": "Worse in the mornings."},
            {"speaker": "doctor", "text": "Blood pressure is 160 over 95."},
        ],
        "reference": {"S": "Morning headaches.", "O": "BP 160/95.", "A": "Hypertension.", "P": "Start amlodipine."},
        "facts": [{"section": "O", "kind": "vital", "text": "BP 160/95", "surface_forms": ["160/95", "160 over 95"]}],
        "specialty": "cardiology", "condition": "hypertension", "split": "train", "source": "synthetic", "seed": 2,
    },
    {
        "key": "rash-1",
        "dialogue": [
            {"speaker": "doctor", "text": "Tell me about the rash."},
            {"speaker": "patient", "text": "It itches and started yesterday."},
        ],
        "reference": {"S": "Itchy rash since yesterday.", "O": "", "A": "Contact dermatitis.", "P": "Hydrocortisone."},
        "facts": [{"section": "S", "kind": "symptom", "text": "itchy rash", "surface_forms": ["rash", "itch"]}],
        "specialty": "dermatology", "condition": "dermatitis", "split": "train", "source": "synthetic", "seed": 3,
    },
]  # fmt: skip


@pytest.fixture
def examples() -> list[dict]:
    return [dict(e) for e in EXAMPLES]


@pytest.fixture
def examples_file(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    return path
