"""ORM objects -> API bodies, links between resources, and page-number pagination."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse

from clinic.api.errors import ApiError
from clinic.notes.models import Encounter, GenerationJob, Note
from clinic.notes.services import job_is_stale, stale_reason

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _username(user: Any) -> str | None:
    return None if user is None else user.get_username()


def links(encounter_id: int, note_id: int | None, job_id: int | None = None) -> dict[str, str | None]:
    return {
        "encounter": reverse("api:encounter_detail", kwargs={"encounter_id": encounter_id}),
        "note": reverse("api:note_detail", kwargs={"note_id": note_id}) if note_id else None,
        "job": reverse("api:job_detail", kwargs={"job_id": job_id}) if job_id else None,
    }


_UNKNOWN = object()


def job_out(job: GenerationJob, note: Note | None | object = _UNKNOWN) -> dict[str, Any]:
    """A job's state for polling; pass the encounter's note when you already have it."""
    if note is _UNKNOWN:
        note_id = Note.objects.filter(encounter_id=job.encounter_id).values_list("id", flat=True).first()
    else:
        note_id = note.pk if isinstance(note, Note) else None
    # A job whose worker died or whose message never arrived answers "failed" (stale), so a polling
    # loop ends; POST /encounters/{id}/generate then replaces it.
    stale = job_is_stale(job)
    return {
        "id": job.pk,
        "encounter_id": job.encounter_id,
        "state": GenerationJob.State.FAILED if stale else job.state,
        "stale": stale,
        "tokens": job.tokens,
        "partial_text": job.partial_text,
        "error": stale_reason(job) if stale else job.error,
        "retryable": True if stale else job.retryable,
        "backend": job.backend,
        "model_reference": job.model_reference,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "links": links(job.encounter_id, note_id, job.pk),
    }


def _note_of(encounter: Encounter) -> Note | None:
    try:
        return encounter.note
    except Note.DoesNotExist:
        return None


def encounter_out(encounter: Encounter, *, detail: bool = False) -> dict[str, Any]:
    note = _note_of(encounter)
    # list views prefetch jobs, so take the newest from the cache instead of querying again
    jobs = list(encounter.jobs.all())
    latest = max(jobs, key=lambda j: (j.created_at, j.pk), default=None)
    body: dict[str, Any] = {
        "id": encounter.pk,
        "title": encounter.title,
        "source": encounter.source,
        "filename": encounter.filename,
        "created_at": encounter.created_at,
        "updated_at": encounter.updated_at,
        "note": None if note is None else {"id": note.pk, "status": note.status, "version": note.version},
        "latest_job": None if latest is None else job_out(latest, note),
        "links": links(encounter.pk, note.pk if note else None, latest.pk if latest else None),
    }
    if detail:
        body["turns"] = encounter.turns
    return body


def note_out(note: Note) -> dict[str, Any]:
    return {
        "id": note.pk,
        "encounter_id": note.encounter_id,
        "status": note.status,
        "version": note.version,
        "sections": note.sections(),
        "model_reference": note.model_reference,
        "generated_at": note.generated_at,
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "links": links(note.encounter_id, note.pk),
    }


def _generated(note: Note) -> dict[str, str] | None:
    data = note.generated
    if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in "SOAP"):
        return {k: data[k] for k in "SOAP"}
    return None


def note_detail_out(note: Note) -> dict[str, Any]:
    body = note_out(note)
    body["generated"] = _generated(note)
    body["revisions"] = [
        {
            "id": r.pk,
            "section": r.section,
            "kind": r.kind,
            "before": r.before,
            "after": r.after,
            "reason": r.reason,
            "author": _username(r.author),
            "note_version": r.note_version,
            "created_at": r.created_at,
        }
        for r in note.revisions.select_related("author")
    ]
    body["signatures"] = [
        {
            "id": s.pk,
            "signer": _username(s.signer),
            "note_version": s.note_version,
            "content": {k: str(s.content.get(k, "")) for k in "SOAP"},
            "signed_at": s.signed_at,
        }
        for s in note.signatures.select_related("signer")
    ]
    body["ratings"] = [
        {
            "id": r.pk,
            "author": _username(r.author),
            "score": r.score,
            "comment": r.comment,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in note.ratings.select_related("author")
    ]
    return body


def paginate(request: HttpRequest, queryset: QuerySet, page: int, page_size: int) -> tuple[list, dict[str, Any]]:
    """Slice one page; `next`/`previous` are the same URL with the page number changed."""
    count = queryset.count()
    last = max(1, -(-count // page_size))
    if page > last and count:
        raise ApiError(
            404,
            f"Page {page} does not exist; there are {last} pages of {page_size}.",
            code="page_not_found",
            fields=[{"field": "page", "message": f"must be between 1 and {last}"}],
        )
    start = (page - 1) * page_size
    items = list(queryset[start : start + page_size])

    def url(number: int) -> str:
        query: QueryDict = request.GET.copy()
        query["page"] = str(number)
        return f"{request.path}?{query.urlencode()}"

    meta = {
        "count": count,
        "page": page,
        "page_size": page_size,
        "next": url(page + 1) if page < last else None,
        "previous": url(page - 1) if page > 1 else None,
    }
    return items, meta
