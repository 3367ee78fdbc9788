"""What the review page checks before a note is signed, and how it reads a note that is still being written.

Plain functions of the note text and its evidence (no database): `sign_concerns` lists what a
clinician must edit or explicitly acknowledge before signing (placeholder, empty, duplicated and
unsupported sentences), `partial_sections` fills the sections from the model's unfinished JSON while
it streams, `model_notice` says which model drafted the note and whether it is a demo model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from clinic.notes.evidence import SectionEvidence
from clinic.notes.models import SECTION_NAMES, SECTIONS

# A section that says only one of these says nothing: the model's echo of the heading, or a filler.
PLACEHOLDERS = frozenset({
    "s", "o", "a", "p", "...", "…", "-", "--", "n/a", "na", "none", "tbd", "todo", "xxx", "placeholder",
    "subjective", "objective", "assessment", "plan", "not documented", "not recorded", "not discussed",
    "not available", "no data", "see above",
})  # fmt: skip
_FOLD = re.compile(r"[^a-z0-9/….]+")


@dataclass(frozen=True)
class Concern:
    """One thing to look at before signing; `id` is stable for the same text, so an acknowledgement
    applies to exactly what the clinician saw."""

    id: str
    section: str
    kind: str  # empty | placeholder | duplicate | unsupported
    text: str
    detail: str

    @property
    def section_name(self) -> str:
        return SECTION_NAMES[self.section]


def _fold(text: str) -> str:
    return _FOLD.sub(" ", text.lower()).strip(" .")


def _concern(section: str, kind: str, text: str, detail: str) -> Concern:
    digest = hashlib.blake2b(f"{section}|{kind}|{text}".encode(), digest_size=5).hexdigest()
    return Concern(f"{section}-{kind}-{digest}", section, kind, text, detail)


def is_placeholder(text: str) -> bool:
    folded = _fold(text)
    return folded in PLACEHOLDERS or folded.rstrip(":") in PLACEHOLDERS or (bool(text.strip()) and not folded)


def sign_concerns(sections: dict[str, str], evidence: dict[str, SectionEvidence]) -> list[Concern]:
    """Everything to edit or acknowledge before signing, in note order."""
    concerns: list[Concern] = []
    seen: dict[str, str] = {}
    for key in SECTIONS:
        text = (sections.get(key) or "").strip()
        if not text:
            concerns.append(_concern(key, "empty", "", f"{SECTION_NAMES[key]} is empty."))
            continue
        if is_placeholder(text):
            concerns.append(
                _concern(key, "placeholder", text, f"{SECTION_NAMES[key]} holds only a placeholder (“{text}”).")
            )
            continue
        for sentence in evidence[key].sentences if key in evidence else []:
            folded = _fold(sentence.text)
            if len(folded.split()) >= 3 and folded in seen:
                where = "earlier in this section" if seen[folded] == key else f"in {SECTION_NAMES[seen[folded]]}"
                concerns.append(
                    _concern(key, "duplicate", sentence.text, f"Repeated: the same sentence appears {where}.")
                )
            elif len(folded.split()) >= 3:
                seen[folded] = key
            if sentence.supported is False:
                reason = sentence.reason or "no turn of the dialogue says this"
                concerns.append(_concern(key, "unsupported", sentence.text, f"Possibly unsupported: {reason}."))
    return concerns


_KEY = re.compile(r'"(?P<key>[SOAP])"\s*:\s*"')


def partial_sections(raw: str) -> dict[str, str]:
    """The sections of a JSON note that is still being generated ('{"S": "Cough for 3 da'), as far as written.

    The last section is cut mid-string; a half-written escape at the very end is dropped.
    """
    out: dict[str, str] = {}
    for match in _KEY.finditer(raw or ""):
        start = match.end()
        index, escaped = start, False
        while index < len(raw):
            char = raw[index]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                break
            index += 1
        body = raw[start:index]
        for cut in range(0, 7):  # an unfinished "\u00e9" or "\" at the end: drop it
            candidate = body[: len(body) - cut] if cut else body
            try:
                out[match.group("key")] = json.loads(f'"{candidate}"')
                break
            except json.JSONDecodeError:
                continue
    return out


DEMO_REFERENCES = ("default", "base", "")


def model_notice(reference: str, registered: bool) -> dict[str, object]:
    """Which model drafted the note, and whether it is a small demo model (the default or the base, or
    a model the registry does not know) that a clinician must check line by line."""
    reference = (reference or "").strip()
    if reference == "default":
        label = "the built-in demo model (SmolLM2-135M with the project's LoRA adapter)"
    elif reference == "base":
        label = "the untrained base model (SmolLM2-135M-Instruct)"
    else:
        label = reference
    demo = reference in DEMO_REFERENCES or not registered
    return {"reference": reference or "default", "label": label, "demo": demo}
