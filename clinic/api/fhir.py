"""FHIR R4 DocumentReference wrapping a SOAP note, for EHRs that import documents.

The note travels twice in `content`: as text/plain (what a clinician reads in any EHR viewer)
and as application/json (the {S, O, A, P} object, for systems that want sections). Type is
LOINC 11506-3 "Progress note"; docStatus follows the note: preliminary until signed, final
when signed, amended when edited after signing.

Reference: https://hl7.org/fhir/R4/documentreference.html
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LOINC = "http://loinc.org"
PROGRESS_NOTE = {"system": LOINC, "code": "11506-3", "display": "Progress note"}
CLINICAL_NOTE_CATEGORY = {
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
    "code": "clinical-note",
    "display": "Clinical Note",
}
IDENTIFIER_SYSTEM = "urn:soap-clinic:note"
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class FhirNote:
    """What the DocumentReference needs, as plain data (no ORM objects)."""

    note_id: int
    encounter_id: int
    version: int
    status: str  # pending, draft or signed
    amended: bool
    text: str
    json_text: str
    title: str
    author: str
    signer: str | None
    signed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    encounter_at: datetime


def _attachment(content_type: str, body: str, title: str, created: datetime) -> dict[str, Any]:
    raw = body.encode("utf-8")
    return {
        "contentType": content_type,
        "language": "en",
        "data": base64.b64encode(raw).decode("ascii"),
        "size": len(raw),
        # FHIR's attachment hash is the base64 of the SHA-1 of the data.
        "hash": base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii"),
        "title": title,
        "creation": created.isoformat(),
    }


def doc_status(status: str, amended: bool) -> str:
    if status == "signed":
        return "amended" if amended else "final"
    return "preliminary"


def document_reference(note: FhirNote) -> dict[str, Any]:
    """Build the DocumentReference resource (a JSON-ready dict)."""
    title = note.title or f"Encounter {note.encounter_id}"
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": f"soap-note-{note.note_id}",
        "meta": {"versionId": str(note.version), "lastUpdated": note.updated_at.isoformat()},
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": str(note.note_id)}],
        "status": "current",
        "docStatus": doc_status(note.status, note.amended),
        "type": {"coding": [PROGRESS_NOTE], "text": "SOAP progress note"},
        "category": [{"coding": [CLINICAL_NOTE_CATEGORY]}],
        "date": note.updated_at.isoformat(),
        "author": [{"display": note.author}],
        "description": f"SOAP note: {title}",
        "content": [
            {"attachment": _attachment("text/plain; charset=utf-8", note.text, f"{title} (text)", note.updated_at)},
            {"attachment": _attachment("application/json", note.json_text, f"{title} (JSON)", note.updated_at)},
        ],
        "context": {
            "period": {"start": note.encounter_at.isoformat()},
            "related": [{"identifier": {"system": "urn:soap-clinic:encounter", "value": str(note.encounter_id)}}],
        },
    }
    if note.signer:
        resource["authenticator"] = {"display": note.signer}
    return resource
