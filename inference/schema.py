"""The SOAP note and dialogue contracts (../shared/ARCHITECTURE.md).

`SOAPNote` is the one definition of the model's output: exactly the keys S, O, A, P, each a
plain-text string. Its JSON schema drives constrained decoding and the REST API's schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

SECTION_KEYS: tuple[str, ...] = ("S", "O", "A", "P")
SECTION_NAMES: dict[str, str] = {"S": "Subjective", "O": "Objective", "A": "Assessment", "P": "Plan"}


class SOAPNote(BaseModel):
    """One SOAP note: exactly four plain-text sections."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="SOAPNote")

    S: StrictStr = Field(description="Subjective: the patient's complaints and history, as stated in the dialogue.")
    O: StrictStr = Field(description="Objective: vital signs, examination findings, test results.")  # noqa: E741
    A: StrictStr = Field(description="Assessment: diagnoses and clinical reasoning.")
    P: StrictStr = Field(description="Plan: tests, treatments, referrals, education and follow-up.")

    def as_dict(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in SECTION_KEYS}


def note_json_schema() -> dict[str, Any]:
    """The JSON schema of SOAPNote, with every key required and no others allowed."""
    return SOAPNote.model_json_schema()


class Turn(BaseModel):
    """One turn of a dialogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speaker: StrictStr = Field(min_length=1, description="Who speaks, normalised: 'doctor', 'patient' or another role.")
    text: StrictStr = Field(min_length=1)


Dialogue = list[Turn]


def bounded_note_schema(max_section_chars: int | None = None, *, min_section_chars: int = 1) -> dict[str, Any]:
    """A decoding-only variant of the note schema: every section a string of bounded length.

    The canonical `SOAPNote` schema stays clean (API, storage); constrained decoding uses this one so
    the grammar itself forces the object to close within the token budget: each generated token
    carries at least one character, so four sections of at most `max_section_chars` characters plus
    the fixed JSON punctuation always fit `max_new_tokens` (see `section_budget`). Without it the
    135M default model can ramble inside one string until the budget ends and the note is lost.
    """
    section: dict[str, Any] = {"type": "string", "minLength": min_section_chars}
    if max_section_chars is not None:
        section["maxLength"] = max(max_section_chars, min_section_chars)
    return {
        "title": "SOAPNote",
        "type": "object",
        "properties": {key: {**section, "description": SOAPNote.model_fields[key].description} for key in SECTION_KEYS},
        "required": list(SECTION_KEYS),
        "additionalProperties": False,
    }


# Tokens spent on the fixed JSON punctuation of a compact note, {"S":"...","O":"...","A":"...","P":"..."},
# plus the end-of-turn token, rounded up generously.
NOTE_OVERHEAD_TOKENS = 32


def section_budget(max_new_tokens: int, *, chars_per_token: float | None = None) -> int:
    """The per-section maxLength (characters) that keeps a constrained note within `max_new_tokens`.

    chars_per_token=1.0 is a guarantee (no token is shorter than one character, escapes aside);
    a larger value trades that guarantee for longer sections (English averages ~4 characters a token).
    Default: the environment's SOAP_SECTION_CHARS_PER_TOKEN, else 1.0.
    """
    if chars_per_token is None:
        import os

        chars_per_token = float(os.environ.get("SOAP_SECTION_CHARS_PER_TOKEN", "1.0"))
    usable = max(max_new_tokens - NOTE_OVERHEAD_TOKENS, 4 * 4)
    return max(int(usable * chars_per_token) // len(SECTION_KEYS), 4)
