"""The REST API at /api/v1/: encounters, generation jobs and notes, for EHR integrations and scripts.

Endpoints stay thin: validate with a schema, find the object through the one ownership rule
(`Encounter.objects.visible_to`), call a function in `clinic.notes.services`, shape the answer.
Other people's objects are 404, never 403, so ids leak nothing. The schema is at
/api/v1/schema and browsable docs at /api/v1/docs (served from ninja's bundled static files).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Header, NinjaAPI, Path, Query
from pydantic import BaseModel, BeforeValidator, Field

from clinic.api.auth import BearerToken, PerTokenRateLimit, SessionAuth
from clinic.api.errors import ApiError, error_response, install_handlers
from clinic.api.idempotency import run_once
from clinic.api.schemas import (
    ConflictOut,
    EncounterCreatedOut,
    EncounterDetailOut,
    EncounterIn,
    EncounterPage,
    ErrorOut,
    JobOut,
    NoteDetailOut,
    NoteOut,
    NotePage,
    RatingIn,
    RatingOut,
    SectionKey,
    SectionUpdateIn,
    SignatureOut,
    SignIn,
)
from clinic.api.serializers import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    encounter_out,
    job_out,
    links,
    note_detail_out,
    note_out,
    paginate,
)
from clinic.notes import services
from clinic.notes.models import AuditEvent, Encounter, GenerationJob, Note

MAX_ID = 2**63 - 1
READ_ERRORS = frozenset({400, 401, 403, 404, 413, 422, 429})
WRITE_ERRORS = READ_ERRORS | {409}

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
NoteStatus = Literal["pending", "draft", "signed"]


def _iso_only(value: object) -> object:
    """Refuse bare numbers, which pydantic would read as Unix timestamps; the schema says ISO 8601."""
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"[-+]?[\d.eE+-]+", value.strip())):
        raise ValueError("use an ISO 8601 date-time such as 2025-01-31T09:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]

api = NinjaAPI(
    title="SOAP notes API",
    version="1",
    description=(
        "Create encounters from doctor-patient dialogues, generate SOAP notes, review, edit, sign, rate and "
        "export them. Authenticate with `Authorization: Bearer <token>` (an admin issues tokens in the Django "
        'admin) or the web app\'s session. Every error is `{"error": {"code", "message", "fields"}}`.'
    ),
    urls_namespace="api",
    openapi_url="/schema",
    docs_url="/docs",
    auth=[BearerToken(), SessionAuth()],
    throttle=[PerTokenRateLimit()],
)
install_handlers(api)


# --- domain errors -> HTTP --------------------------------------------------------------


@api.exception_handler(services.VersionConflict)
def _conflict(request: HttpRequest, exc: services.VersionConflict) -> HttpResponse:
    return error_response(
        409,
        exc.message,
        code="version_conflict",
        fields=[{"field": "version", "message": f"stale; the note is at version {exc.current_note.version}"}],
        extra={"current": _current(exc.current_note)},
    )


@api.exception_handler(services.IntakeError)
def _intake(request: HttpRequest, exc: services.IntakeError) -> HttpResponse:
    field = getattr(request, "_dialogue_field", "transcript")
    return error_response(
        422, exc.message, code="invalid_dialogue", fields=[{"field": field, "message": exc.message, "line": exc.line}]
    )


@api.exception_handler(services.NoteLocked)
def _locked(request: HttpRequest, exc: services.NoteLocked) -> HttpResponse:
    return error_response(409, exc.message, code="note_signed", fields=[{"field": "reason", "message": exc.message}])


@api.exception_handler(services.NoteNotReady)
def _not_ready(request: HttpRequest, exc: services.NoteNotReady) -> HttpResponse:
    return error_response(409, exc.message, code="note_not_ready")


@api.exception_handler(services.NotYourNote)
def _not_owner(request: HttpRequest, exc: services.NotYourNote) -> HttpResponse:
    return error_response(403, exc.message, code="not_owner")


@api.exception_handler(services.QueueUnavailable)
def _queue_down(request: HttpRequest, exc: services.QueueUnavailable) -> HttpResponse:
    note_id = Note.objects.filter(encounter_id=exc.encounter_id).values_list("id", flat=True).first()
    return error_response(
        503,
        exc.message + f" Then POST /api/v1/encounters/{exc.encounter_id}/generate.",
        code="queue_unavailable",
        extra={"links": links(exc.encounter_id, note_id, exc.job.pk)},
        headers={"Retry-After": "30"},
    )


@api.exception_handler(services.ServiceError)
def _service(request: HttpRequest, exc: services.ServiceError) -> HttpResponse:
    return error_response(422, exc.message)


def _current(note: Note) -> dict[str, Any]:
    return NoteOut.model_validate(note_out(note)).model_dump(mode="json")


# --- ownership ----------------------------------------------------------------------------


def _encounters(request: HttpRequest) -> Any:
    return Encounter.objects.visible_to(request.auth)


def _notes(request: HttpRequest) -> Any:
    return Note.objects.filter(encounter__in=_encounters(request)).select_related("encounter")


def _ensure_aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # an offset that pushes year 1 or 9999 past the calendar's edge
        return datetime.min.replace(tzinfo=UTC) if value.year < 5000 else datetime.max.replace(tzinfo=UTC)


def _text_param(value: str | None, name: str) -> str | None:
    if value is not None and "\x00" in value:
        raise ApiError(422, f"{name} contains a NUL character.", fields=[{"field": name, "message": "NUL character"}])
    return value


# --- meta ---------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok"]


@api.get("/health", auth=None, throttle=[], response=HealthOut, tags=["meta"], url_name="health")
def health(request: HttpRequest) -> dict[str, str]:
    """Liveness probe; needs no authentication."""
    return {"status": "ok"}


# --- encounters ---------------------------------------------------------------------------


@api.post(
    "/encounters",
    response={202: EncounterCreatedOut, 201: EncounterCreatedOut, WRITE_ERRORS | {503}: ErrorOut},
    tags=["encounters"],
    url_name="encounter_list",
)
def create_encounter(
    request: HttpRequest,
    payload: EncounterIn,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="Makes retries safe, e.g. a UUID.")
    ] = None,
) -> HttpResponse:
    """Store a dialogue and (by default) queue its note: 202 with the job's URL to poll.

    With `generate: false` the encounter is stored without a job (201). Send an
    `Idempotency-Key` to make retries safe: the same key and body return the first answer.
    """
    request._dialogue_field = "turns" if payload.turns is not None else "transcript"  # type: ignore[attr-defined]
    user = request.auth

    def create() -> tuple[int, dict[str, Any]]:
        if payload.turns is not None:
            raw = json.dumps([t.model_dump() for t in payload.turns], ensure_ascii=False)
            encounter = services.create_encounter(user, raw, title=payload.title, source="api", via="api")
        else:
            encounter = services.create_encounter(
                user, payload.transcript or "", filename=payload.filename, title=payload.title, via="api"
            )
        job = services.request_generation(encounter, actor=user, via="api") if payload.generate else None
        encounter = Encounter.objects.select_related("note").prefetch_related("jobs").get(pk=encounter.pk)
        body = {
            "encounter": encounter_out(encounter, detail=True),
            "job": job_out(job) if job else None,
            "links": links(encounter.pk, encounter.note.pk, job.pk if job else None),
        }
        return (202 if job else 201), EncounterCreatedOut.model_validate(body).model_dump(mode="json")

    status, body, replayed = run_once(user, idempotency_key, payload.model_dump(mode="json"), create)
    if not replayed and body["job"] is not None:
        # Under an Idempotency-Key the message is sent when run_once commits; a refused send failed the job.
        job = GenerationJob.objects.get(pk=body["job"]["id"])
        if job.state == GenerationJob.State.FAILED and job.error == services.QUEUE_DOWN_MESSAGE:
            raise services.QueueUnavailable(job)
    response = JsonResponse(body, status=status)
    response["Location"] = body["links"]["job"] or body["links"]["encounter"]
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@api.get("/encounters", response={200: EncounterPage, READ_ERRORS: ErrorOut}, tags=["encounters"])
def list_encounters(
    request: HttpRequest,
    status: Annotated[NoteStatus | None, Query(description="The note's status.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words in the title.")] = None,
    created_after: Annotated[IsoDateTime | None, Query()] = None,
    created_before: Annotated[IsoDateTime | None, Query()] = None,
    page: PageNumber = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """Your encounters, newest first, with each note's status and the latest generation job."""
    qs = _encounters(request).select_related("note").prefetch_related("jobs").order_by("-created_at", "-id")
    if status:
        qs = qs.filter(note__status=status)
    if _text_param(q, "q"):
        qs = qs.filter(title__icontains=q)
    if after := _ensure_aware(created_after, "created_after"):
        qs = qs.filter(created_at__gte=after)
    if before := _ensure_aware(created_before, "created_before"):
        qs = qs.filter(created_at__lt=before)
    items, meta = paginate(request, qs, page, page_size)
    return {**meta, "items": [encounter_out(e) for e in items]}


@api.get(
    "/encounters/{encounter_id}",
    response={200: EncounterDetailOut, READ_ERRORS: ErrorOut},
    tags=["encounters"],
    url_name="encounter_detail",
)
def get_encounter(request: HttpRequest, encounter_id: ObjectId) -> dict[str, Any]:
    """One encounter with its parsed dialogue."""
    encounter = get_object_or_404(_encounters(request).select_related("note"), pk=encounter_id)
    services.record_audit(request.auth, AuditEvent.Action.VIEW, encounter, via="api", what="encounter")
    return encounter_out(encounter, detail=True)


@api.post(
    "/encounters/{encounter_id}/generate",
    response={202: JobOut, WRITE_ERRORS | {503}: ErrorOut},
    tags=["encounters"],
    url_name="encounter_generate",
)
def generate(request: HttpRequest, encounter_id: ObjectId) -> tuple[int, dict[str, Any]]:
    """Queue (another) generation for an unsigned note; returns the running job if one is in progress."""
    encounter = get_object_or_404(_encounters(request), pk=encounter_id)
    job = services.request_generation(encounter, actor=request.auth, via="api")
    return 202, job_out(job)


@api.get("/jobs/{job_id}", response={200: JobOut, READ_ERRORS: ErrorOut}, tags=["jobs"], url_name="job_detail")
def get_job(request: HttpRequest, job_id: ObjectId) -> dict[str, Any]:
    """Poll a generation job: state (queued, generating, done, failed), tokens so far, error and whether to retry."""
    job = get_object_or_404(GenerationJob.objects.filter(encounter__in=_encounters(request)), pk=job_id)
    return job_out(job)


# --- notes --------------------------------------------------------------------------------


@api.get("/notes", response={200: NotePage, READ_ERRORS: ErrorOut}, tags=["notes"], url_name="note_list")
def list_notes(
    request: HttpRequest,
    status: Annotated[NoteStatus | None, Query(description="The note's status.")] = None,
    encounter: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only the note of this encounter.")] = None,
    updated_after: Annotated[IsoDateTime | None, Query()] = None,
    page: PageNumber = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """Your notes, most recently changed first."""
    qs = _notes(request).order_by("-updated_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if encounter:
        qs = qs.filter(encounter_id=encounter)
    if after := _ensure_aware(updated_after, "updated_after"):
        qs = qs.filter(updated_at__gte=after)
    items, meta = paginate(request, qs, page, page_size)
    return {**meta, "items": [note_out(n) for n in items]}


def _note(request: HttpRequest, note_id: int) -> Note:
    return get_object_or_404(_notes(request), pk=note_id)


@api.get(
    "/notes/{note_id}", response={200: NoteDetailOut, READ_ERRORS: ErrorOut}, tags=["notes"], url_name="note_detail"
)
def get_note(request: HttpRequest, note_id: ObjectId) -> dict[str, Any]:
    """A note's current sections, its version (send it back when editing), revisions, signatures and ratings."""
    note = _note(request, note_id)
    services.record_audit(request.auth, AuditEvent.Action.VIEW, note.encounter, via="api", what="note")
    return note_detail_out(note)


@api.put(
    "/notes/{note_id}/sections/{section}",
    response={200: NoteDetailOut, 409: ConflictOut, READ_ERRORS: ErrorOut},
    tags=["notes"],
    url_name="note_section",
)
def update_section(
    request: HttpRequest,
    payload: SectionUpdateIn,
    note_id: ObjectId,
    section: Annotated[SectionKey, Path(description="S, O, A or P")],
) -> dict[str, Any]:
    """Replace one section's text, appending a revision. `version` must be the note's current version,
    else 409 with the current note; a signed note needs a `reason` and the change is kept as an amendment."""
    note = _note(request, note_id)
    services.edit_section(
        note, section, payload.text, author=request.auth, base_version=payload.version, via="api", reason=payload.reason
    )
    return note_detail_out(note)


@api.post(
    "/notes/{note_id}/sign",
    response={200: SignatureOut, 409: ConflictOut, READ_ERRORS: ErrorOut},
    tags=["notes"],
    url_name="note_sign",
)
def sign(request: HttpRequest, note_id: ObjectId, payload: SignIn) -> Any:
    """Sign the note at `version`, the version you reviewed: 409 if someone else changed it since."""
    note = _note(request, note_id)
    signature = services.sign_note(note, request.auth, version=payload.version, via="api")
    return {
        "id": signature.pk,
        "signer": signature.signer.get_username(),
        "note_version": signature.note_version,
        "content": signature.content,
        "signed_at": signature.signed_at,
    }


@api.put(
    "/notes/{note_id}/rating",
    response={200: RatingOut, WRITE_ERRORS: ErrorOut},
    tags=["notes"],
    url_name="note_rating",
)
def rate(request: HttpRequest, payload: RatingIn, note_id: ObjectId) -> Any:
    """Rate the note 1-5 with an optional comment; your earlier rating of this note is replaced."""
    note = _note(request, note_id)
    rating = services.rate_note(note, request.auth, payload.score, payload.comment, via="api")
    return {
        "id": rating.pk,
        "author": rating.author.get_username(),
        "score": rating.score,
        "comment": rating.comment,
        "created_at": rating.created_at,
        "updated_at": rating.updated_at,
    }


_EXPORT_DOC = {
    "responses": {
        200: {
            "description": "The signed note as text, JSON, or a FHIR R4 DocumentReference.",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "application/fhir+json": {"schema": {"type": "object"}},
            },
        }
    }
}


class ExportQuery(BaseModel):
    format: Literal["text", "json", "fhir"] = Field("text", description="text, json or fhir (R4 DocumentReference).")


@api.get(
    "/notes/{note_id}/export",
    response={200: None, WRITE_ERRORS: ErrorOut},
    tags=["notes"],
    url_name="note_export",
    openapi_extra=_EXPORT_DOC,
)
def export(request: HttpRequest, note_id: ObjectId, query: Annotated[ExportQuery, Query()]) -> Any:
    """Export a signed note (409 until it is signed); every export writes one audit event."""
    note = _note(request, note_id)
    content_type, body = services.export_note(note, query.format, request.auth, via="api")
    return HttpResponse(body, content_type=content_type)
