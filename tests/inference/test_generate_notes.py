"""`generate_notes`: many dialogues in batches; one bad dialogue or note never costs the others.

A scripted backend stands in for the model here (what each prompt "generates" is fixed by the
test); the real default model runs the same path in tests/inference/test_cli.py (--batch-size).
"""

from __future__ import annotations

import json

import pytest

import inference.engine as engine
from inference.backends.base import Backend, Completion
from inference.errors import GenerationError, InputTooLong, InvalidOutput, Truncated

NOTE = json.dumps({"S": "Headache for two days.", "O": "Afebrile.", "A": "Tension headache.", "P": "Rest."})


class ScriptedBackend(Backend):
    """Answers each prompt by the first keyword found in its text; records the batch sizes it saw."""

    name = "scripted"
    model_reference = "scripted"
    context_length = 4096

    def __init__(self) -> None:
        self.batches: list[int] = []

    def count_tokens(self, prompt):  # noqa: ANN001, ANN201
        return 5000 if "LONG" in json.dumps(prompt) else 100

    def generate(self, prompts, params):  # noqa: ANN001, ANN201
        self.batches.append(len(prompts))
        out = []
        for prompt in prompts:
            text = json.dumps(prompt)
            if "TRUNCATE" in text:
                out.append(Completion(text='{"S": "hea', token_ids=[1] * params.max_new_tokens, finish_reason="length"))
            elif "PROSE" in text:
                out.append(Completion(text="The patient is well.", token_ids=[1, 2, 3], finish_reason="stop"))
            else:
                out.append(Completion(text=NOTE, token_ids=list(range(20)), finish_reason="stop"))
        return out


@pytest.fixture
def scripted(monkeypatch):
    backend = ScriptedBackend()
    monkeypatch.setattr(engine, "get_backend", lambda name, model: backend)
    return backend


def _dialogue(text: str) -> list[dict[str, str]]:
    return [{"speaker": "doctor", "text": "What brings you in?"}, {"speaker": "patient", "text": text}]


def test_each_dialogue_gets_its_own_result_or_error_in_order(scripted):
    dialogues = [
        _dialogue("Headache."),
        _dialogue("TRUNCATE me"),
        [],
        _dialogue("LONG transcript"),
        _dialogue("PROSE please"),
        _dialogue("Cough."),
        "   ",
    ]
    results = engine.generate_notes(dialogues, batch_size=2, max_new_tokens=64)
    assert len(results) == len(dialogues)
    assert results[0].note.as_dict()["A"] == "Tension headache." and results[0].tokens == 20
    assert isinstance(results[1], Truncated) and "64 new tokens" in str(results[1])
    assert isinstance(results[2], GenerationError) and "no turns" in str(results[2])
    assert isinstance(results[3], InputTooLong) and "too long" in str(results[3])
    assert isinstance(results[4], InvalidOutput) and "not a SOAP note" in str(results[4])
    assert results[5].note.as_dict()["S"] == "Headache for two days."
    assert isinstance(results[6], GenerationError) and "empty" in str(results[6])
    # The 4 dialogues that reached the model went in batches of at most 2, never one by one.
    assert scripted.batches == [2, 2]


def test_batch_size_must_be_positive(scripted):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        engine.generate_notes([_dialogue("x")], batch_size=0)
