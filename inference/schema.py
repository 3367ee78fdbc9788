"""The SOAP note, dialogue and example contracts (docs/architecture.md).

`SOAPNote` is the one definition of the model's output: exactly the keys S, O, A, P, each a
plain-text string. Its JSON schema drives constrained decoding and the REST API's schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

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
    """A decoding-only variant of the note schema: every section a non-empty string, no other key.

    The canonical `SOAPNote` schema stays clean (API, storage); constrained decoding uses this one.
    No character cap by default: a cap in characters cuts a section mid-word ("shortness-s") long before
    a clinician-length note (1,500-3,000 characters) is written. Length is budgeted in tokens instead,
    by `SectionBudget` (inference.constrained), which closes a section that has used its share at the
    next sentence end; a note that still runs out of tokens is reported truncated, never clipped.
    `max_section_chars` remains for callers that want a hard cap (tests, toy budgets).
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


# Tokens spent on the fixed JSON punctuation of a compact note, {"S": "...", "O": "...", "A": "...", "P": "..."},
# plus the end-of-turn token, rounded up generously.
NOTE_OVERHEAD_TOKENS = 32

# Each section's share of a note's tokens, measured on the 67 ACI-Bench train clinician notes (S 41 %,
# O 20 %, A 17 %, P 22 %), rounded; what a section leaves unused passes to the sections after it.
SECTION_TOKEN_SHARES: dict[str, float] = {"S": 0.40, "O": 0.20, "A": 0.17, "P": 0.23}


# The share of the budget held back so that a section past its allowance can finish its sentence.
SENTENCE_SLACK = 0.15


# The shortest Subjective worth signing: ACI-Bench train's clinicians write at least 64 tokens there in
# 9 notes of 10 (10th percentile; median 227). The trained default closed S after two or three words on
# 9 of 20 ACI-Bench valid visits ("Cardiovascular issues.") although every visit's history is in its
# dialogue, so S may not close before this many tokens (SectionBudget). The other sections get no
# floor: a visit without an exam has a short Objective, and a floor there would ask for invented findings.
# The floor is for whole visits: it scales with the prompt at ACI-Bench train's 10th percentile of S
# tokens per prompt token (0.042), and a prompt under 1,000 tokens (a short exchange, an MTS-Dialog
# snippet; ACI-Bench train's shortest visit is longer) gets none: on 10 MTS-Dialog valid snippets a
# 16-token floor made the model pad S with invented details ("3 times a day with 3 sprays").
SUBJECTIVE_MIN_TOKENS = 64
SUBJECTIVE_MIN_PER_PROMPT_TOKEN = 0.04
SUBJECTIVE_FLOOR_MIN_PROMPT = 1000


def section_token_minimums(budgets: list[int], prompt_tokens: int | None = None) -> list[int]:
    """Tokens each section (S, O, A, P) must write before it may close, for its `budgets` and prompt."""
    floor = min(SUBJECTIVE_MIN_TOKENS, budgets[0] // 3)
    if prompt_tokens is not None:
        floor = min(floor, int(SUBJECTIVE_MIN_PER_PROMPT_TOKEN * prompt_tokens))
        if prompt_tokens < SUBJECTIVE_FLOOR_MIN_PROMPT:
            floor = 0
    return [floor, 0, 0, 0]


def section_token_budgets(max_new_tokens: int) -> dict[str, int]:
    """Tokens each section may use before it is closed at its next sentence end (see SectionBudget)."""
    usable = max(max_new_tokens - NOTE_OVERHEAD_TOKENS, 4 * 4) * (1.0 - SENTENCE_SLACK)
    return {key: max(int(usable * SECTION_TOKEN_SHARES[key]), 4) for key in SECTION_KEYS}


# --- training/evaluation examples -----------------------------------------------------------------


class ExampleError(ValueError):
    """A dict that is not a valid `Example`; the message names the field and what it must be."""


class Fact(BaseModel):
    """One gold fact of an example: the section it belongs to and its text (more keys are kept)."""

    model_config = ConfigDict(extra="allow")

    section: Literal["S", "O", "A", "P"]
    text: StrictStr


class Example(BaseModel):
    """One dialogue with its reference note: the line format of every dataset (synthesis, training,
    evaluation, the clinic's export). `reference` may hold only some sections (MTS-Dialog's
    references are one section each); `key` may be left out and loaders then name the example by
    file and line. Keys beyond these (e.g. the clinic's `weight`) are kept as they are."""

    model_config = ConfigDict(extra="allow")

    key: StrictStr = ""
    dialogue: list[Turn] = Field(min_length=1)
    reference: dict[Literal["S", "O", "A", "P"], StrictStr] = Field(min_length=1)
    facts: list[Fact] = Field(default_factory=list)
    specialty: StrictStr = ""
    condition: StrictStr = ""
    split: StrictStr = "train"
    source: StrictStr = ""
    seed: int | None = None

    @field_validator("dialogue")
    @classmethod
    def _turns_say_something(cls, dialogue: list[Turn]) -> list[Turn]:
        for i, turn in enumerate(dialogue):
            if not turn.text.strip():
                raise ValueError(f"dialogue turn {i} has only whitespace")
        return dialogue

    @classmethod
    def check(cls, data: Any, *, default_key: str = "") -> Example:
        """`data` as an Example, or ExampleError with one plain sentence saying what is wrong.

        `default_key` names an example that has no key (loaders pass "<file stem>-<line>")."""
        if not isinstance(data, Mapping):
            raise ExampleError(f"an example must be a JSON object, got {type(data).__name__}")
        values = dict(data)
        if default_key and not values.get("key"):
            values["key"] = default_key
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ExampleError(_example_problem(exc)) from None

    def as_dict(self) -> dict[str, Any]:
        """The plain dict of the JSONL line format (unknown extra keys included)."""
        return self.model_dump(mode="json")


def _example_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = err["loc"]
    field = str(loc[0]) if loc else ""
    if field == "dialogue":
        if len(loc) > 1 and isinstance(loc[1], int):
            return f"dialogue turn {loc[1]} must be {{speaker, text}} with non-empty strings"
        inner = (err.get("ctx") or {}).get("error")
        if inner is not None:
            return str(inner)
        return "'dialogue' must be a non-empty list of {speaker, text} turns"
    if field == "reference":
        return "'reference' must be a note {S, O, A, P} with at least one section, each a string"
    if field == "facts":
        which = f" {loc[1]}" if len(loc) > 1 else "s"
        return f"fact{which} must have a section in S/O/A/P and a text"
    return f"{field or 'example'}: {err['msg']} (got {err.get('input')!r})"
