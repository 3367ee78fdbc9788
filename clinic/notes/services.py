"""Everything a clinician can do to an encounter, in one place the web views and the REST API share.

Views and API endpoints validate input, call one function here and render the result. These
functions own the rules: intake limits, optimistic locking, sign-off locks, amendments and the
audit trail. They raise `ServiceError` subclasses whose messages can be shown to the user as is.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.notes.models import (
    SECTION_NAMES,
    SECTIONS,
    AuditEvent,
    Encounter,
    GenerationJob,
    Note,
    NoteRevision,
    Rating,
    Signature,
)
from clinic.notes.signals import note_signed
from inference.dialogue import DialogueError, parse_dialogue

log = logging.getLogger(__name__)

# A generating job whose worker has not reported for this long is taken for dead (killed, OOM,
# host lost): the UI offers a retry and a redelivered task may restart it. The worker's heartbeat
# beats every 2 s (a cheap one-row UPDATE), so 12 s is six missed beats: a clinician waiting on the
# page learns of a dead worker in seconds, and a busy 2-core host still has slack. Override with
# settings.GENERATION_STALE_SECONDS.
STALE_AFTER_SECONDS = 12
# A queued job that no worker has picked up for this long was most likely never delivered (the
# broker was down or lost the message); it becomes retryable. Longer than any expected backlog on
# `notes`. Override with settings.GENERATION_QUEUE_STALE_SECONDS.
QUEUED_STALE_AFTER_SECONDS = 600
QUEUE_DOWN_MESSAGE = (
    "The note could not be queued: the job queue (broker) is unreachable. The dialogue is saved; "
    "retry generation in a minute."
)
EXPORT_FORMATS = ("text", "json", "fhir")


class ServiceError(Exception):
    """A request the rules refuse; `message` says what happened and what to do instead."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class IntakeError(ServiceError):
    """The dialogue cannot be accepted (empty, too large, binary, malformed). Nothing was stored."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


class VersionConflict(ServiceError):
    """Someone saved the note since the editor loaded it; `current_note` is their version."""

    def __init__(self, current_note: Note, base_version: int | None = None, *, action: str = "edited") -> None:
        self.current_note = current_note
        then = (
            "Review the note again before signing it."
            if action == "reviewed"
            else "Review their version below and apply your change again."
        )
        if action == "own":  # the same clinician's other tab or window: say so, blame no one
            super().__init__(
                f"You saved this section in another tab or window since opening this editor (now version "
                f"{current_note.version}). The saved text is shown below; keep yours or apply it again."
            )
            return
        super().__init__(
            f"This note was changed by someone else (you {action} version {base_version}, it is now at version "
            f"{current_note.version}). {then}"
        )


class NoteLocked(ServiceError):
    """The note is signed: changing it needs an amendment reason."""


class NeedsReview(ServiceError):
    """Flagged items (placeholder, empty, repeated or unsupported text) were neither edited nor acknowledged."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        n = len(missing)
        super().__init__(
            f"{n} flagged item{'s' if n != 1 else ''} still need{'s' if n == 1 else ''} a look: edit the "
            "section, or tick the box to confirm you checked it."
        )


class NoteNotReady(ServiceError):
    """The note cannot do this yet (no generated text, or not signed for export)."""


class InvalidInput(ServiceError):
    """A field value is out of range (unknown section, rating outside 1-5, unknown export format)."""


class NotYourNote(ServiceError):
    """Staff may read every note, but only the encounter's own clinician edits, regenerates or signs it."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Only the clinician who owns this encounter can {what} its note; staff can read it but not change it."
        )


def require_owner(encounter: Encounter, user: Any, what: str) -> None:
    """Refuse a change by anyone but the owner; `None` is the system (worker, feedback loop) and may."""
    if user is not None and getattr(user, "pk", None) != encounter.owner_id:
        raise NotYourNote(what)


class QueueUnavailable(ServiceError):
    """The broker refused the generation message; the encounter is saved and its job is failed but retryable.

    Retrying later helps (HTTP 503). `job` is the failed job, `encounter` the saved encounter.
    """

    def __init__(self, job: GenerationJob) -> None:
        self.job = job
        self.encounter_id = job.encounter_id
        super().__init__(QUEUE_DOWN_MESSAGE)


# --- audit and model choice ------------------------------------------------------------------


def record_audit(
    actor: Any, action: str, encounter: Encounter | None = None, *, via: str = "web", **detail: Any
) -> AuditEvent:
    """Append one audit event; anonymous or missing actors are recorded as the system (None)."""
    if action not in AuditEvent.Action.values:
        raise InvalidInput(f"unknown audit action {action!r}; use one of {', '.join(AuditEvent.Action.values)}")
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(actor=user, action=action, encounter=encounter, via=via, detail=detail)


def active_model_reference() -> str | None:
    """The promoted ModelVersion's reference, else settings.SOAP_MODEL, else None (the default policy)."""
    from clinic.mlops.models import ModelVersion

    active = ModelVersion.objects.filter(state=ModelVersion.State.ACTIVE).only("reference").first()
    if active is not None:
        return active.reference
    return settings.SOAP_MODEL or None


# --- intake ----------------------------------------------------------------------------------


_NOT_TEXT = (
    "looks like a binary file, not a text transcript (it has unreadable characters); upload a .txt, .json, .vtt or .srt"
)


def _decode(raw: str | bytes, filename: str | None) -> str:
    name = f"'{filename}'" if filename else "The dialogue"
    limit = settings.DIALOGUE_MAX_BYTES
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise IntakeError(f"{name} is {size:,} bytes; the limit is {limit:,} bytes. Split it or trim it and try again.")
    if isinstance(raw, bytes):
        raw = _decode_bytes(raw, name)
    if "\x00" in raw:
        if filename:
            raise IntakeError(f"{name} {_NOT_TEXT}")
        raise IntakeError(
            f"The text has unreadable characters (a NUL character at position {raw.index(chr(0)) + 1:,}); "
            "copy the dialogue again from its source, or save it as a .txt file and upload that."
        )
    if not raw.strip():
        raise IntakeError(f"{name} is empty; paste the conversation or upload a transcript")
    return raw


# Byte order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)


def _decode_bytes(raw: bytes, name: str) -> str:
    """UTF-8, or UTF-16/32 when a byte order mark says so (Windows editors save "Unicode" as UTF-16)."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), None)
    if encoding is None and b"\x00" in raw:
        raise IntakeError(f"{name} {_NOT_TEXT}")
    try:
        return raw.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f"{name} is not {encoding or 'UTF-8'} text (byte {exc.start} cannot be decoded); "
            "save it as UTF-8 text and retry"
        ) from None


def _source_for(filename: str | None, via: str) -> str:
    if filename:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "txt"
        return ext if ext in Encounter.Source.values else Encounter.Source.TEXT
    return Encounter.Source.API if via == "api" else Encounter.Source.PASTE


def _default_title(turns: list[dict[str, str]], filename: str | None) -> str:
    if filename:
        return filename[:200]
    first = next((t["text"] for t in turns if t["speaker"] == "patient"), turns[0]["text"])
    return (first[:77] + "...") if len(first) > 80 else first


_PARSER_JSON_ERROR = re.compile(r"invalid JSON \((?P<what>[^,]+)[^)]*?column (?P<col>\d+)\)")


def _for_clinicians(message: str, line: int | None) -> str:
    """A JSON parser's words ("Expecting ',' delimiter") in words a clinician can act on."""
    match = _PARSER_JSON_ERROR.search(message)
    if not match:
        return message
    where = f"line {line}, character {match.group('col')}" if line else f"character {match.group('col')}"
    return (
        f"The JSON transcript is damaged near {where} (a comma, quote or bracket is missing or extra). "
        "Fix it there, or paste the dialogue as text with one 'Doctor:' or 'Patient:' line per turn."
    )


def create_encounter(
    owner: Any,
    raw_text: str | bytes,
    *,
    filename: str | None = None,
    title: str = "",
    source: str | None = None,
    via: str = "web",
) -> Encounter:
    """Check and parse a dialogue, then store the encounter with a pending note; nothing is stored on error."""
    text = _decode(raw_text, filename)
    try:
        turns = [turn.model_dump() for turn in parse_dialogue(text, filename)]
    except DialogueError as exc:
        raise IntakeError(_for_clinicians(exc.message, exc.line), exc.line) from None
    source = source or _source_for(filename, via)
    if source not in Encounter.Source.values:
        raise InvalidInput(f"unknown source {source!r}; use one of {', '.join(Encounter.Source.values)}")
    with transaction.atomic():
        encounter = Encounter.objects.create(
            owner=owner,
            title=(title.strip() or _default_title(turns, filename))[:200],
            dialogue_raw=text,
            turns=turns,
            source=source,
            filename=(filename or "")[:255],
        )
        Note.objects.create(encounter=encounter)
        record_audit(owner, AuditEvent.Action.CREATE, encounter, via=via, turns=len(turns), source=source)
    return encounter


# --- generation ------------------------------------------------------------------------------


def job_is_stale(job: GenerationJob, now: Any = None) -> bool:
    """True when a job claims to be running but its worker stopped reporting (killed or lost)."""
    if job.state not in (GenerationJob.State.QUEUED, GenerationJob.State.GENERATING):
        return False
    now = now or timezone.now()
    if job.state == GenerationJob.State.GENERATING:
        stale_after = timedelta(seconds=getattr(settings, "GENERATION_STALE_SECONDS", STALE_AFTER_SECONDS))
        return (job.heartbeat_at or job.started_at or job.created_at) < now - stale_after
    # Queued: never picked up. A task waiting to retry a transient error stamps heartbeat_at, so
    # its wait does not count.
    stale_after = timedelta(seconds=getattr(settings, "GENERATION_QUEUE_STALE_SECONDS", QUEUED_STALE_AFTER_SECONDS))
    return (job.heartbeat_at or job.created_at) < now - stale_after


def stale_reason(job: GenerationJob) -> str:
    """What the page and the API say about a stale job."""
    if job.state == GenerationJob.State.QUEUED:
        return (
            "No worker picked this job up (the job queue or the workers may be down); "
            "the dialogue is saved: retry generation."
        )
    return "The worker stopped responding (it was restarted or killed); the dialogue is saved: retry generation."


def latest_job(encounter: Encounter) -> GenerationJob | None:
    return encounter.jobs.order_by("-created_at", "-id").first()


def request_generation(encounter: Encounter, *, actor: Any = None, via: str = "web") -> GenerationJob:
    """Queue a generation for the encounter (or return the one already running) once the row is committed.

    Raises QueueUnavailable when the broker refuses the message (only detectable here when this call
    owns the transaction; inside an outer one the job is failed as retryable at commit instead).
    """
    require_owner(encounter, actor, "regenerate")
    with transaction.atomic():
        note = Note.objects.select_for_update().get(encounter=encounter)
        if note.status == Note.Status.SIGNED:
            raise NoteLocked("This note is signed; amend its sections instead of generating a new note.")
        running = encounter.jobs.filter(
            state__in=[GenerationJob.State.QUEUED, GenerationJob.State.GENERATING]
        ).order_by("-created_at")
        for job in running:
            if not job_is_stale(job):
                return job
            job.error = stale_reason(job).split(";")[0] + "; a new attempt was queued."
            job.state = GenerationJob.State.FAILED
            job.retryable = True
            job.finished_at = timezone.now()
            job.save(update_fields=["state", "error", "retryable", "finished_at"])
        job = GenerationJob.objects.create(
            encounter=encounter, celery_task_id=str(uuid.uuid4()), backend=settings.SOAP_BACKEND
        )
        record_audit(actor, AuditEvent.Action.GENERATE, encounter, via=via, job=job.pk)
        transaction.on_commit(lambda: _send(job))
    if getattr(job, "send_failed", False):
        raise QueueUnavailable(job)
    return job


def _send(job: GenerationJob) -> None:
    """Publish the job's task; when the broker refuses, fail the job as retryable instead of leaving it queued.

    Runs after commit, so the worker always finds the job. A job whose message was accepted but then
    lost stays queued until `job_is_stale` says so and the page offers a retry.
    """
    from kombu.exceptions import OperationalError

    from clinic.notes.tasks import generate_note_task

    try:
        generate_note_task.apply_async(args=[job.pk], task_id=job.celery_task_id, queue="notes")
    except (OperationalError, OSError) as exc:
        log.warning("generation job %s could not be queued: %s: %s", job.pk, type(exc).__name__, exc)
        job.state, job.error, job.retryable = GenerationJob.State.FAILED, QUEUE_DOWN_MESSAGE, True
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "error", "retryable", "finished_at"])
        job.send_failed = True  # type: ignore[attr-defined]


# --- review: edit, sign, rate, export --------------------------------------------------------


def _locked_note(note: Note) -> Note:
    return Note.objects.select_for_update().select_related("encounter").get(pk=note.pk)


def _refresh(target: Note, source: Note) -> None:
    for field in (*SECTIONS, "status", "version", "updated_at"):
        setattr(target, field, getattr(source, field))


def _check_section_unchanged(note: Note, section: str, base: int, author: Any) -> None:
    """Optimistic locking per section: a save conflicts only when *this* section changed after `base`.

    Saves to other sections in between (the same clinician's other editor on the page, or a colleague's)
    merge. A change of this section is never overwritten silently; when it was the same clinician's own
    (another tab), the message says so instead of blaming someone else.
    """
    later = note.revisions.filter(section=section, note_version__gt=base)
    signed_since = note.signatures.filter(note_version__gt=base).exists()  # the text was signed off meanwhile
    if (
        base > note.version
        or signed_since
        or later.filter(author__isnull=True).exists()
        or later.exclude(author=author).exists()
    ):
        raise VersionConflict(note, base)
    if later.exists():
        raise VersionConflict(note, base, action="own")


def edit_section(
    note: Note,
    section: str,
    text: str,
    *,
    author: Any,
    base_version: int,
    via: str = "web",
    reason: str = "",
    per_section: bool = False,
) -> NoteRevision:
    """Save one section against the version the editor saw; after sign-off only as an amendment with a reason.

    Raises VersionConflict when someone saved in between (never a silent overwrite); with `per_section`
    (the review page) only when this section changed or the note was signed meanwhile. NoteLocked
    when the note is signed and no reason is given, NoteNotReady before the note is generated.
    Saving unchanged text appends nothing and returns the section's latest revision.
    """
    if section not in SECTIONS:
        raise InvalidInput(f"unknown section {section!r}; use one of {', '.join(SECTIONS)}")
    if not isinstance(text, str):
        raise InvalidInput(f"section text must be a string, got {type(text).__name__}")
    text = text.replace("\r\n", "\n").strip()
    with transaction.atomic():
        current = _locked_note(note)
        require_owner(current.encounter, author, "edit")
        if current.status == Note.Status.PENDING:
            raise NoteNotReady("The note has not been generated yet; wait for generation or retry it.")
        if per_section:
            _check_section_unchanged(current, section, int(base_version), author)
        elif int(base_version) != current.version:
            raise VersionConflict(current, int(base_version))
        amending = current.status == Note.Status.SIGNED
        if amending and not reason.strip():
            raise NoteLocked("This note is signed. To change it, give a reason: the change is kept as an amendment.")
        before = getattr(current, section)
        if before == text:
            _refresh(note, current)
            existing = current.revisions.filter(section=section).last()
            if existing is not None:
                return existing
        setattr(current, section, text)
        current.version += 1
        current.save(update_fields=[section, "version", "updated_at"])
        kind = NoteRevision.Kind.AMENDMENT if amending else NoteRevision.Kind.EDIT
        revision = NoteRevision.objects.create(
            note=current,
            author=author,
            section=section,
            before=before,
            after=text,
            kind=kind,
            reason=reason.strip(),
            note_version=current.version,
        )
        action = AuditEvent.Action.AMEND if amending else AuditEvent.Action.EDIT
        record_audit(author, action, current.encounter, via=via, section=section, version=current.version)
    _refresh(note, current)
    return revision


def _changed_by_others(note: Note, reviewed: int, signer: Any) -> bool:
    """True when a version after `reviewed` was made by anyone but the signer (another clinician, the model).

    The signer's own later edits were on their screen when they pressed Sign, so they do not count:
    the review page updates one section in place and its Sign button may still carry the older version.
    """
    if reviewed > note.version:
        return True
    later = note.revisions.filter(note_version__gt=reviewed)
    if later.exclude(author=signer).exists() or later.filter(author__isnull=True).exists():
        return True
    return note.signatures.filter(note_version__gt=reviewed).exclude(signer=signer).exists()


def sign_note(
    note: Note,
    signer: Any,
    *,
    version: int | None = None,
    own_edits_seen: bool = False,
    via: str = "web",
    to_review: dict[str, str] | None = None,
    acknowledged: Collection[str] = (),
) -> Signature:
    """Sign the note at `version`, the version the signer reviewed; locks further edits and sends `note_signed`.

    Checked under the note's row lock, so an edit racing the signature either lands before it (and
    the sign is refused with VersionConflict) or after it (as an amendment). With `own_edits_seen`
    (the review page, which saves sections in place) later versions made only by the signer pass.
    `version=None` signs the note as it stands: internal callers only; the web and the API send it.
    `to_review` maps the ids of the items the review page flagged (clinic.notes.review) to their description;
    each must be in `acknowledged` (NeedsReview otherwise), and the acknowledged ones go into the audit trail.
    """
    with transaction.atomic():
        current = _locked_note(note)
        require_owner(current.encounter, signer, "sign")
        if current.status == Note.Status.PENDING:
            raise NoteNotReady("There is no note to sign yet; wait for generation to finish.")
        stale = version is not None and int(version) != current.version
        if stale and (not own_edits_seen or _changed_by_others(current, int(version or 0), signer)):
            raise VersionConflict(current, version, action="reviewed")
        missing = [text for key, text in (to_review or {}).items() if key not in acknowledged]
        if missing:
            raise NeedsReview(missing)
        last = current.signatures.last()
        if current.status == Note.Status.SIGNED and last is not None and last.note_version == current.version:
            signed_at = timezone.localtime(last.signed_at)  # the web user's zone (clinic.accounts), else UTC
            raise NoteLocked(f"This note was already signed by {last.signer} at {signed_at:%Y-%m-%d %H:%M %Z}.")
        current.status = Note.Status.SIGNED
        current.version += 1
        current.save(update_fields=["status", "version", "updated_at"])
        signature = Signature.objects.create(
            note=current, signer=signer, note_version=current.version, content=current.sections()
        )
        extra = {"acknowledged": list(to_review.values())} if to_review else {}
        record_audit(signer, AuditEvent.Action.SIGN, current.encounter, via=via, version=current.version, **extra)
    _refresh(note, current)
    for receiver, result in note_signed.send_robust(sender=Note, note=current, signature=signature):
        if isinstance(result, Exception):
            log.error("note_signed receiver %r failed for note %s: %r", receiver, current.pk, result)
    return signature


def rate_note(note: Note, author: Any, score: int, comment: str = "", *, via: str = "web") -> Rating:
    """Set the author's 1-5 rating and comment for the note (one per author; a new rating replaces theirs)."""
    try:
        score = int(score)
    except (TypeError, ValueError):
        raise InvalidInput(f"rating {score!r} is not a whole number from 1 to 5") from None
    if not 1 <= score <= 5:
        raise InvalidInput(f"rating {score} is out of range; choose 1 (poor) to 5 (excellent)")
    if note.status == Note.Status.PENDING:
        raise NoteNotReady("There is no note to rate yet; wait for generation to finish.")
    with transaction.atomic():
        rating, _ = Rating.objects.update_or_create(
            note=note, author=author, defaults={"score": score, "comment": comment.strip()}
        )
        record_audit(author, AuditEvent.Action.RATE, note.encounter, via=via, score=score)
    return rating


def export_note(note: Note, fmt: str, actor: Any, *, via: str = "web") -> tuple[str, str]:
    """(content_type, body) of a signed note as plain text, JSON or a FHIR R4 DocumentReference.

    The one export path of the web app and the API: it writes exactly one audit event, naming the format.
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    note.refresh_from_db()
    signature = note.signatures.select_related("signer").last()
    if note.status != Note.Status.SIGNED or signature is None:
        raise NoteNotReady("Only signed notes can be exported; review and sign the note first.")
    if fmt == "json":
        content_type, body = "application/json", _export_json(note, signature)
    elif fmt == "fhir":
        content_type, body = _export_fhir(note, signature)
    else:
        content_type, body = "text/plain; charset=utf-8", _export_text(note, signature)
    record_audit(actor, AuditEvent.Action.EXPORT, note.encounter, via=via, format=fmt, version=note.version)
    return content_type, body


def _export_json(note: Note, signature: Signature) -> str:
    payload = {
        "encounter": note.encounter.pk,
        "title": note.encounter.title,
        "note": note.sections(),
        "note_version": note.version,
        "signed_by": signature.signer.get_username(),
        "signed_at": signature.signed_at.isoformat(),
        "signed_version": signature.note_version,
        "amended_after_signing": note.version != signature.note_version,
        "model_reference": note.model_reference,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _export_text(note: Note, signature: Signature) -> str:
    encounter = note.encounter
    lines = [encounter.title or f"Encounter {encounter.pk}", ""]
    for key in SECTIONS:
        lines += [f"{SECTION_NAMES[key].upper()}", getattr(note, key) or "(none)", ""]
    lines.append(f"Signed by {signature.signer.get_username()} at {signature.signed_at:%Y-%m-%d %H:%M} UTC")
    if note.version != signature.note_version:
        lines.append("Amended after signing; see the revision history.")
    return "\n".join(lines) + "\n"


def _export_fhir(note: Note, signature: Signature) -> tuple[str, str]:
    from clinic.api import fhir  # the resource's shape lives with the API that documents it

    encounter = note.encounter
    resource = fhir.document_reference(
        fhir.FhirNote(
            note_id=note.pk,
            encounter_id=encounter.pk,
            version=note.version,
            status=note.status,
            amended=signature.note_version != note.version,
            text=_export_text(note, signature),
            json_text=_export_json(note, signature),
            title=encounter.title,
            author=encounter.owner.get_username(),
            signer=signature.signer.get_username(),
            signed_at=signature.signed_at,
            created_at=note.created_at,
            updated_at=note.updated_at,
            encounter_at=encounter.created_at,
        )
    )
    return fhir.FHIR_JSON, json.dumps(resource, ensure_ascii=False)
