"""Request and response bodies of the REST API.

The note's sections are `inference.schema.SOAPNote` itself, so the API schema, the model's
constrained-decoding schema and the format reward all describe one object.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, model_validator

from inference.schema import SOAPNote, Turn

SectionKey = Literal["S", "O", "A", "P"]


def _storable(value: Any, where: str = "") -> None:
    """Reject text no database can store: NUL characters and lone UTF-16 surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'text'} contains a NUL character; remove it")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where or 'text'} contains an unpaired surrogate; send valid UTF-8 text") from None
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _storable(getattr(value, name), f"{where}.{name}" if where else name)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _storable(item, f"{where}.{i}")


def _json_int(value: Any) -> Any:
    """An integer as JSON writes one: 3 or 3.0 (JSON Schema's integer), never true, "3" or "yes"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer (a number such as 3), not a string or a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, and every string must be storable text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _storable_text(self) -> Strict:
        _storable(self)
        return self


# --- errors -------------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str = Field(description="The offending input, e.g. 'turns.0.text' or 'transcript'.")
    message: str
    type: str | None = None
    line: int | None = Field(default=None, description="For dialogue errors: the 1-based line that failed.")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'not_found', 'invalid', 'version_conflict'.")
    message: str = Field(description="What went wrong and how to fix it.")
    fields: list[FieldError] = Field(default_factory=list)


class ErrorOut(BaseModel):
    error: ErrorDetail


# --- encounters and jobs ------------------------------------------------------------------


class EncounterIn(Strict):
    """A dialogue as JSON turns or as a raw transcript (labelled text, WebVTT, SRT, or JSON text)."""

    # Exactly one of turns/transcript; the schema says so too (oneOf), so generated clients know.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["turns"]}, {"required": ["transcript"]}]}
    )

    turns: list[Turn] = Field(default=None, min_length=1, description="The dialogue as {speaker, text} turns.")  # type: ignore[assignment]
    transcript: StrictStr = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        description="The dialogue as raw text: 'Doctor: ...' lines, WebVTT, SRT or a JSON list of turns.",
    )
    filename: StrictStr = Field(  # type: ignore[assignment]
        default=None,
        max_length=255,
        description="Original file name; its extension (.vtt, .srt, .json) picks the parser.",
    )
    title: StrictStr = Field(default="", max_length=200)
    generate: StrictBool = Field(default=True, description="Queue note generation right away (202 with the job's URL).")

    @model_validator(mode="after")
    def _one_source(self) -> EncounterIn:
        if (self.turns is None) == (self.transcript is None):
            raise ValueError("send exactly one of 'turns' (a list of {speaker, text}) or 'transcript' (raw text)")
        return self


class Links(BaseModel):
    encounter: str
    note: str | None
    job: str | None = None


class JobOut(BaseModel):
    id: int
    encounter_id: int
    state: Literal["queued", "generating", "done", "failed"]
    stale: bool = Field(
        default=False,
        description="True when the job's worker stopped reporting or no worker picked it up: it is reported as "
        "'failed' and retryable; POST /encounters/{id}/generate to start a new attempt.",
    )
    tokens: int
    partial_text: str
    error: str = Field(description="Why the job failed, empty unless state is 'failed'.")
    retryable: bool
    backend: str
    model_reference: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: Links


class NoteSummary(BaseModel):
    id: int
    status: Literal["pending", "draft", "signed"]
    version: int


class EncounterOut(BaseModel):
    id: int
    title: str
    source: str
    filename: str
    created_at: datetime
    updated_at: datetime
    note: NoteSummary | None
    latest_job: JobOut | None
    links: Links


class EncounterDetailOut(EncounterOut):
    turns: list[Turn]


class EncounterCreatedOut(BaseModel):
    encounter: EncounterDetailOut
    job: JobOut | None
    links: Links


# --- notes --------------------------------------------------------------------------------


class RevisionOut(BaseModel):
    id: int
    section: SectionKey
    kind: Literal["generated", "edit", "amendment"]
    before: str
    after: str
    reason: str
    author: str | None
    note_version: int
    created_at: datetime


class SignatureOut(BaseModel):
    id: int
    signer: str
    note_version: int
    content: SOAPNote
    signed_at: datetime


class RatingOut(BaseModel):
    id: int
    author: str
    score: int = Field(ge=1, le=5)
    comment: str
    created_at: datetime
    updated_at: datetime


class NoteOut(BaseModel):
    id: int
    encounter_id: int
    status: Literal["pending", "draft", "signed"]
    version: int = Field(description="Send this back as 'version' when you edit a section (optimistic locking).")
    sections: SOAPNote
    model_reference: str
    generated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    links: Links


class NoteDetailOut(NoteOut):
    generated: SOAPNote | None = Field(description="The note exactly as the model produced it, before any edit.")
    revisions: list[RevisionOut]
    signatures: list[SignatureOut]
    ratings: list[RatingOut]


class SectionUpdateIn(Strict):
    text: StrictStr = Field(max_length=100_000, description="The section's new text.")
    version: JsonInt = Field(
        ge=0, description="The note version you edited; a stale one gets 409 with the current note."
    )
    reason: StrictStr = Field(default="", max_length=2000, description="Required to amend a signed note.")


class ConflictOut(ErrorOut):
    current: NoteOut | None = Field(
        default=None, description="On a version conflict: the note as it is now, to merge your change into."
    )


class RatingIn(Strict):
    score: JsonInt = Field(ge=1, le=5, description="1 (unusable) to 5 (sign as is).")
    comment: StrictStr = Field(default="", max_length=5000)


class SignIn(Strict):
    version: JsonInt = Field(
        ge=0, description="The note version you reviewed; if someone else changed the note since, 409."
    )


# --- pagination ---------------------------------------------------------------------------


class Page(BaseModel):
    count: int
    page: int
    page_size: int
    next: str | None
    previous: str | None


class EncounterPage(Page):
    items: list[EncounterOut]


class NotePage(Page):
    items: list[NoteOut]
