"""Clinician views: thin wrappers of form -> services -> page or htmx partial.

Every view that takes an encounter id goes through `owned_encounter`, the one ownership check
(`Encounter.objects.visible_to`): another clinician's ids are a 404, never a 403 that leaks existence.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from clinic.notes import review, services
from clinic.notes.evidence import SectionEvidence, default_semantic, note_evidence, prepare_in_background
from clinic.notes.forms import IntakeForm, RatingForm, SearchForm, SectionForm
from clinic.notes.models import SECTION_NAMES, SECTIONS, AuditEvent, Encounter, GenerationJob, Note, NoteRevision

PAGE_SIZE = 20


def owned_encounter(request: HttpRequest, pk: int) -> Encounter:
    """The encounter if the user may see it, else 404 (the single ownership rule of every view)."""
    queryset = Encounter.objects.visible_to(request.user).select_related("note", "owner")
    return get_object_or_404(queryset, pk=pk)


def job_context(encounter: Encounter) -> dict[str, Any]:
    job = services.latest_job(encounter)
    stale = bool(job and services.job_is_stale(job))
    reason = services.stale_reason(job) if job and stale else ""
    return {"encounter": encounter, "job": job, "stale": stale, "stale_reason": reason}


def evidence_for(encounter: Encounter, sections: dict[str, str]) -> dict[str, SectionEvidence]:
    """Evidence with the sentence-embedding model when it is available (see clinic/notes/evidence.py)."""
    return note_evidence(sections, encounter.turns, semantic=default_semantic())


def concerns_for(encounter: Encounter, evidence: dict[str, SectionEvidence] | None = None) -> list[review.Concern]:
    """What the sign gate asks about; nothing while the note is pending or signed as it stands."""
    note = encounter.note
    signature = note.signatures.last()
    if note.status == Note.Status.PENDING or (signature is not None and signature.note_version == note.version):
        return []
    return review.sign_concerns(note.sections(), evidence or evidence_for(encounter, note.sections()))


def _edited_since_generation(note: Note) -> bool:
    generated = note.revisions.filter(kind=NoteRevision.Kind.GENERATED).order_by("-note_version").first()
    return note.revisions.filter(
        kind=NoteRevision.Kind.EDIT, note_version__gt=generated.note_version if generated else 0
    ).exists()


def note_context(encounter: Encounter, user: Any) -> dict[str, Any]:
    note = encounter.note
    jobs = job_context(encounter)
    job = jobs["job"]
    running = bool(job and job.state in (GenerationJob.State.QUEUED, GenerationJob.State.GENERATING))
    if note.status == Note.Status.PENDING or (running and not jobs["stale"]):
        return {"note": note, "show_job": True, **jobs, **generation_progress(job)}
    evidence = evidence_for(encounter, note.sections())
    sections = [{"key": k, "name": SECTION_NAMES[k], "text": getattr(note, k), "ev": evidence[k]} for k in SECTIONS]
    rating = note.ratings.filter(author=user).first() if getattr(user, "is_authenticated", False) else None
    return {
        "note": note,
        "sections": sections,
        "signature": note.signatures.select_related("signer").last(),
        "concerns": concerns_for(encounter, evidence),
        "model": review.model_notice(note.model_reference, note.model_version_id is not None),
        "edited": _edited_since_generation(note),
        "rating": rating,
        "rating_form": RatingForm(
            initial={"score": rating.score if rating else None, "comment": rating.comment if rating else ""}
        ),  # fmt: skip
        **jobs,
    }


def generation_progress(job: GenerationJob | None) -> dict[str, Any]:
    """The sections written so far (parsed from the partial JSON) and the seconds since the job started."""
    if job is None:
        return {"partial": {}, "elapsed": 0}
    began = job.started_at or job.created_at
    partial = review.partial_sections(job.partial_text)
    sections = [{"key": k, "name": SECTION_NAMES[k], "text": partial.get(k)} for k in SECTIONS]
    return {"partial": sections, "elapsed": max(0, int((timezone.now() - began).total_seconds()))}


@require_GET
@login_required
def encounter_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    encounters = Encounter.objects.visible_to(request.user).select_related("note", "owner")
    if form.is_valid():
        if q := form.cleaned_data["q"].strip():
            encounters = encounters.filter(Q(title__icontains=q) | Q(dialogue_raw__icontains=q))
        if status := form.cleaned_data["status"]:
            encounters = encounters.filter(note__status=status)
    page = Paginator(encounters, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "clinic/_encounter_rows.html" if request.htmx else "clinic/encounter_list.html"
    return render(request, template, {"page": page, "form": form, "query": request.GET.urlencode()})


@require_http_methods(["GET", "POST"])
@login_required
def encounter_new(request: HttpRequest) -> HttpResponse:
    form = IntakeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        raw, filename = form.raw_and_filename()
        try:
            encounter = services.create_encounter(
                request.user, raw, filename=filename, title=form.cleaned_data["title"]
            )
        except services.IntakeError as exc:
            form.add_error("file" if filename else "dialogue", exc.message)
        else:
            try:
                services.request_generation(encounter, actor=request.user)
            except services.QueueUnavailable as exc:  # the dialogue is saved; its page offers the retry
                messages.error(request, exc.message)
            return redirect("notes:encounter_detail", pk=encounter.pk)
    status = 400 if form.errors else 200
    context = {"form": form, "max_kb": f"{settings.DIALOGUE_MAX_BYTES // 1000:,}"}
    return render(request, "clinic/encounter_new.html", context, status=status)


def intake_too_large(request: HttpRequest, size: int) -> HttpResponse:
    """The intake form with the size message, for a POST too large to read (see clinic.middleware)."""
    form = IntakeForm(data={})  # the body was not read: an empty bound form carries just this message
    form.is_valid()
    form.errors.clear()
    form.add_error(
        None,
        f"The dialogue is {size:,} bytes; the limit is {settings.DIALOGUE_MAX_BYTES:,} bytes. "
        "Split it or trim it and try again.",
    )
    context = {"form": form, "max_kb": f"{settings.DIALOGUE_MAX_BYTES // 1000:,}"}
    return render(request, "clinic/encounter_new.html", context, status=413)


@require_GET
@login_required
def encounter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = owned_encounter(request, pk)
    services.record_audit(request.user, AuditEvent.Action.VIEW, encounter)
    context = note_context(encounter, request.user)
    if context.get("show_job"):  # embed the dialogue's turns while the note is written, not when it is shown
        prepare_in_background(encounter.turns)
    context["revisions"] = encounter.note.revisions.select_related("author").order_by("-created_at", "-id")
    return render(request, "clinic/encounter_detail.html", context)


@require_GET
@login_required
def job_status(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = owned_encounter(request, pk)
    context = note_context(encounter, request.user)
    job = context["job"]
    if not context.get("show_job") or job is None or job.state == GenerationJob.State.DONE:
        response = render(request, "clinic/_note_area.html", context, status=HttpResponseStopPolling.status_code)
        response["HX-Trigger"] = "noteChanged"  # the revision history picks up the generated sections
        return response
    if job.state == GenerationJob.State.FAILED or context["stale"]:
        return render(request, "clinic/_job_status.html", context, status=HttpResponseStopPolling.status_code)
    return render(request, "clinic/_job_status.html", context)


@require_POST
@login_required
def generate(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = owned_encounter(request, pk)
    try:
        services.request_generation(encounter, actor=request.user)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        job = services.latest_job(encounter)
        context = {"note": encounter.note, **job_context(encounter), **generation_progress(job)}
        return render(request, "clinic/_job_status.html", context)
    return redirect("notes:encounter_detail", pk=pk)


def _save_section(request: HttpRequest, note: Note, key: str, context: dict[str, Any]) -> tuple[SectionForm, int]:
    """Validate and save one section; returns the form to show and the HTTP status (200 = saved)."""
    form = SectionForm(request.POST)
    failed = 200 if request.htmx else 400  # htmx swaps only 2xx, and the form must come back with its message
    if not form.is_valid():
        return form, failed
    data = form.cleaned_data
    try:
        services.edit_section(note, key, data["text"], author=request.user, base_version=data["base_version"],
                              reason=data["reason"], per_section=True)  # fmt: skip
    except services.VersionConflict as exc:
        context.update(conflict=exc.message, theirs=getattr(exc.current_note, key))
        form = SectionForm(initial={"text": data["text"], "base_version": exc.current_note.version})
        return form, 200 if request.htmx else 409
    except services.ServiceError as exc:
        form.add_error(None, exc.message)
        return form, failed
    context["saved"] = True
    return form, 200


@require_http_methods(["GET", "POST"])
@login_required
def section(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    """One S/O/A/P section: shown (GET), its edit form (GET ?edit=1), or saved (POST) in place."""
    encounter = owned_encounter(request, pk)
    if key not in SECTIONS:
        raise Http404(f"No section {key!r}")
    note = encounter.note
    context: dict[str, Any] = {"encounter": encounter, "note": note, "key": key, "name": SECTION_NAMES[key]}
    form, status = SectionForm(initial={"text": getattr(note, key), "base_version": note.version}), 200
    if request.method == "POST":
        form, status = _save_section(request, note, key, context)
        if context.get("saved") and not request.htmx:
            return redirect("notes:encounter_detail", pk=pk)
    editing = request.GET.get("edit") == "1" or (request.method == "POST" and not context.get("saved"))
    if not editing:
        context["ev"] = evidence_for(encounter, {key: getattr(note, key)})[key]
    context.update(form=form, editing=editing, text=getattr(note, key))
    response = render(request, "clinic/_section.html", context, status=status)
    if context.get("saved"):
        response["HX-Trigger"] = "noteChanged"
    return response


def _sign_gate(request: HttpRequest, encounter: Encounter, version: str, error: str = "") -> HttpResponse:
    context = {"encounter": encounter, "note": encounter.note, "concerns": concerns_for(encounter), "version": version,
               "gate_error": error, "acknowledged": request.POST.getlist("acknowledge")}  # fmt: skip
    return render(request, "clinic/_sign_gate.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def sign(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the sign gate (what needs a look first); POST: sign, once each flagged item is acknowledged."""
    encounter = owned_encounter(request, pk)
    if request.method == "GET":
        return _sign_gate(request, encounter, request.GET.get("version", str(encounter.note.version)))
    version = request.POST.get("version", "")
    to_review = {c.id: f"{c.section_name}: {c.detail} {c.text}".strip() for c in concerns_for(encounter)}
    try:
        if not version.isdigit():
            raise services.InvalidInput("The sign request did not say which version you reviewed; reload the page.")
        # Sections save in place, so the button may carry a version older than the signer's own last edit.
        services.sign_note(encounter.note, request.user, version=int(version), own_edits_seen=True,
                           to_review=to_review, acknowledged=request.POST.getlist("acknowledge"))  # fmt: skip
    except services.NeedsReview as exc:
        if request.htmx:  # the gate again, in place of the gate (not of the whole note area)
            response = _sign_gate(request, encounter, version, exc.message)
            response["HX-Retarget"], response["HX-Reswap"] = "#signoff", "innerHTML"
            return response
        messages.error(request, exc.message)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
    if not request.htmx:
        return redirect("notes:encounter_detail", pk=pk)
    response = render(request, "clinic/_note_area.html", note_context(encounter, request.user))
    response["HX-Trigger"] = "noteChanged"
    return response


@require_POST
@login_required
def rate(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = owned_encounter(request, pk)
    form = RatingForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.rate_note(encounter.note, request.user, form.cleaned_data["score"], form.cleaned_data["comment"])
        except services.ServiceError as exc:
            error = exc.message
    else:
        error = "Choose a rating from 1 to 5."
    context = {"encounter": encounter, **note_context(encounter, request.user), "rating_error": error,
               "rating_saved": error is None}  # fmt: skip
    return render(request, "clinic/_rating.html", context, status=200 if error is None or request.htmx else 400)


@require_GET
@login_required
def history(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = owned_encounter(request, pk)
    revisions = encounter.note.revisions.select_related("author").order_by("-created_at", "-id")
    return render(request, "clinic/_history.html", {"encounter": encounter, "revisions": revisions})


@require_GET
@login_required
def export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    encounter = owned_encounter(request, pk)
    try:
        content_type, body = services.export_note(encounter.note, fmt, request.user)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("notes:encounter_detail", pk=pk)
    response = HttpResponse(body, content_type=content_type)
    extension = "txt" if fmt == "text" else "json"
    response["Content-Disposition"] = f'attachment; filename="encounter-{pk}-note.{extension}"'
    return response


@require_GET
@staff_member_required
def audit(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.select_related("actor", "encounter")
    if encounter_id := request.GET.get("encounter", "").strip():
        events = events.filter(encounter_id=encounter_id) if encounter_id.isdigit() else events.none()
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "clinic/audit.html", {"page": page, "encounter_id": encounter_id})
