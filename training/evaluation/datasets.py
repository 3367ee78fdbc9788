"""Evaluation datasets as plain Example dicts (the shared format of training.synthesis).

A dataset reference is one of:

- a path to a JSONL file of Example dicts (`manage.py export_dataset` / `training.synthesis` output);
- ``aci-bench[:valid|train]`` (default valid): full visit dialogues with clinicians' notes, read from
  the repo's ``data/aci-bench`` (or ``$SOAP_DATASETS_DIR/aci-bench``). The note is mapped to S/O/A/P
  with the dataset's own section files (S = subjective; O = objective_exam + objective_results;
  A and P = assessment_and_plan split line by line, see `_split_assessment_plan`), falling back to the
  note's headers (`split_note_by_headers`);
- ``mts-dialog[:valid|train|test1|test2]``: short conversations with one note section; only that
  section has a reference (the others are None and are left out of the section means).

Clinic datasets in the database are turned into the same dicts by the Celery task in clinic/.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from inference.schema import SECTION_KEYS, Example, ExampleError

__all__ = ["DatasetError", "datasets_dir", "load_examples", "split_note_by_headers"]

csv.field_size_limit(sys.maxsize)


class DatasetError(ValueError):
    """A dataset reference that cannot be loaded; the message names it and what would work."""


def datasets_dir() -> Path:
    env = os.environ.get("SOAP_DATASETS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data"


# Headers in aci-bench style notes, lowercased, to the SOAP section they open.
_HEADERS = {
    "chief complaint": "S",
    "history of present illness": "S",
    "hpi": "S",
    "review of systems": "S",
    "past medical history": "S",
    "past surgical history": "S",
    "medications": "S",
    "current medications": "S",
    "allergies": "S",
    "social history": "S",
    "family history": "S",
    "subjective": "S",
    "physical examination": "O",
    "physical exam": "O",
    "exam": "O",
    "vital signs": "O",
    "vitals": "O",
    "results": "O",
    "objective": "O",
    "assessment and plan": "A",
    "assessment": "A",
    "impression": "A",
    "plan": "P",
    "instructions": "P",
    "patient instructions": "P",
}
_HEADER_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z /&]{1,40}?)\s*:?\s*$")


def split_note_by_headers(note: str) -> dict[str, str]:
    """Split a prose note with upper-case headers (CHIEF COMPLAINT, PHYSICAL EXAM, PLAN ...) into S/O/A/P.

    Text before any known header goes to S. Assessment-and-plan blocks go to A unless a separate
    PLAN header follows (aci-bench writes them together; then P is empty).
    """
    sections: dict[str, list[str]] = {k: [] for k in SECTION_KEYS}
    current = "S"
    for line in note.splitlines():
        match = _HEADER_LINE.match(line)
        header = match.group(1).strip().lower() if match and line.strip().isupper() else None
        if header in _HEADERS:
            current = _HEADERS[header]
            continue
        if line.strip():
            sections[current].append(line.strip())
    return {k: "\n".join(v) for k, v in sections.items()}


_PLAN_LINE = re.compile(
    r"^(plan|treatment|medical treatment|additional testing|patient education|patient agreements?|"
    r"recommendations?|instructions|follow[- ]?up|the patient will|i will|we will)\b"
)


def _drop_headers(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.strip().isupper())


_BULLET_LABEL = re.compile(r"^[•*\-–]\s*([A-Za-z][A-Za-z /&-]{2,40}):")
_NARRATIVE_MIN_WORDS = 12


def _split_assessment_plan(text: str) -> tuple[str, str]:
    """aci-bench writes 'ASSESSMENT AND PLAN' as one block; split it into A and P without repeating text.

    The rule, in order, line by line:
    1. a line that opens with a plan cue ('Plan', 'Medical Treatment', 'Additional Testing', 'Patient
       Education', 'Recommendations', 'Instructions', 'Follow-up', 'The patient will', 'I will', 'We will')
       goes to P, and so does any other labelled bullet ('• Specialist Referrals: ...') except
       '• Medical Reasoning:', which goes to A;
    2. if that leaves P empty (a block of short diagnosis lines and narrative paragraphs, as in the
       orthopaedic visits), short lines (under 12 words: the diagnoses) go to A and the narrative
       paragraphs (what was discussed, prescribed and arranged) go to P;
    3. if one side is still empty, the first line is A and the rest P.
    A and P never hold the same text: a reference that repeats a block teaches a small model to repeat
    itself, the looping that the first real-data run showed.
    """
    lines = _drop_headers(text).splitlines()
    assessment: list[str] = []
    plan: list[str] = []
    for line in lines:
        stripped = line.strip()
        low = stripped.lstrip("•*-– ").lower()
        label = _BULLET_LABEL.match(stripped)
        is_plan = bool(_PLAN_LINE.match(low)) or bool(label and label.group(1).strip().lower() != "medical reasoning")
        (plan if is_plan else assessment).append(stripped)
    if not plan:
        assessment, plan = [], []
        for line in lines:
            stripped = line.strip()
            (plan if len(stripped.split()) >= _NARRATIVE_MIN_WORDS else assessment).append(stripped)
    if not assessment or not plan:
        both = [line.strip() for line in lines if line.strip()]
        assessment, plan = both[:1], both[1:]
    return "\n".join(assessment), "\n".join(plan)


_VITALS_HEADER = re.compile(r"^\s*VITAL(?:S| SIGNS)\s*:?\s*$")


def _split_vitals(subjective: str) -> tuple[str, str]:
    """(subjective without its VITALS block, the block): measured signs are objective data.

    ACI-Bench's section files keep the VITALS block of some notes inside `subjective` (23 of 67 train
    notes); SOAP puts vital signs under O, where the model is asked to write them.
    """
    keep: list[str] = []
    vitals: list[str] = []
    in_vitals = False
    for line in subjective.splitlines():
        stripped = line.strip()
        if _VITALS_HEADER.match(stripped):
            in_vitals = True
            continue
        if in_vitals and stripped and stripped.isupper() and len(stripped.split()) <= 5:
            in_vitals = False  # the next header ends the block
        (vitals if in_vitals else keep).append(line)
    return "\n".join(keep), "\n".join(v for v in vitals if v.strip())


def _aci_sections(root: Path, split: str) -> dict[str, dict[str, str]]:
    parts: dict[str, dict[str, list[str]]] = {}
    for name, key in (
        ("subjective", "S"),
        ("objective_exam", "O"),
        ("objective_results", "O"),
        ("assessment_and_plan", "AP"),
    ):
        path = root / f"{split}_{name}.json"
        if not path.exists():
            continue
        for item in json.loads(path.read_text())["data"]:
            # `file` looks like "D2N068-virtassist"; the id is its first part
            encounter = str(item["file"]).split("-")[0]
            parts.setdefault(encounter, {}).setdefault(key, []).append(str(item["tgt"]).strip())
    out = {}
    for encounter, got in parts.items():
        a, p = _split_assessment_plan("\n".join(got.get("AP", [])))
        subjective, vitals = _split_vitals("\n".join(got.get("S", [])))
        out[encounter] = {
            "S": _drop_headers(subjective),
            "O": _drop_headers("\n".join([vitals, *got.get("O", [])]).strip()),
            "A": a,
            "P": p,
        }
    return out


_LABEL = re.compile(
    r"^\s*(?:\[(?P<bracket>[a-z_ ]+)\]|(?P<colon>doctor|patient|guest_family|guest_clinician)\s*:)\s*(?P<text>.*)$",
    re.I,
)


def _turns(text: str) -> list[dict[str, str]]:
    """Turns of a public transcript ('[doctor] ...' or 'Doctor: ...' lines). Lenient on purpose:
    aci-bench has empty turns that the strict intake parser (inference.dialogue) rightly refuses."""
    turns: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _LABEL.match(line)
        if match:
            speaker = (match.group("bracket") or match.group("colon")).strip().lower()
            turns.append({"speaker": speaker, "text": match.group("text").strip()})
        elif line.strip() and turns:
            turns[-1]["text"] = f"{turns[-1]['text']} {line.strip()}".strip()
    turns = [t for t in turns if t["text"]]
    if not turns:
        raise DatasetError(f"no speaker-labelled turns in transcript starting {text[:60]!r}")
    return turns


def _load_aci(split: str) -> list[dict[str, Any]]:
    root = datasets_dir() / "aci-bench"
    path = root / f"{split}.csv"
    if not path.exists():
        raise DatasetError(f"aci-bench split {split!r} not found at {path}; set SOAP_DATASETS_DIR or use 'valid'.")
    sections = _aci_sections(root, split)
    examples = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            eid = row["encounter_id"]
            reference = sections.get(eid) or split_note_by_headers(row["note"])
            examples.append(
                {
                    "key": f"aci-{split}-{eid}",
                    "dialogue": _turns(row["dialogue"]),
                    "reference": reference,
                    "facts": [],
                    "specialty": "",
                    "condition": "",
                    "split": split,
                    "source": "public",
                    "seed": None,
                }
            )
    return examples


_MTS_FILES = {
    "train": "MTS-Dialog-TrainingSet.csv",
    "valid": "MTS-Dialog-ValidationSet.csv",
    "test1": "MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv",
    "test2": "MTS-Dialog-TestSet-2-MEDIQA-Sum-2023.csv",
}
_MTS_SECTIONS = {
    "GENHX": "S",
    "CC": "S",
    "ROS": "S",
    "PASTMEDICALHX": "S",
    "PASTSURGICAL": "S",
    "MEDICATIONS": "S",
    "ALLERGY": "S",
    "FAM/SOCHX": "S",
    "OTHER_HISTORY": "S",
    "GYNHX": "S",
    "IMMUNIZATIONS": "S",
    "EXAM": "O",
    "IMAGING": "O",
    "LABS": "O",
    "PROCEDURES": "O",
    "ASSESSMENT": "A",
    "DIAGNOSIS": "A",
    "PLAN": "P",
    "DISPOSITION": "P",
    "EDCOURSE": "P",
}


def _load_mts(split: str) -> list[dict[str, Any]]:
    if split not in _MTS_FILES:
        raise DatasetError(f"mts-dialog has splits {', '.join(_MTS_FILES)}; got {split!r}.")
    path = datasets_dir() / "mts-dialog" / _MTS_FILES[split]
    if not path.exists():
        raise DatasetError(f"mts-dialog file not found at {path}; set SOAP_DATASETS_DIR.")
    examples: list[dict[str, Any]] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            header = (row.get("section_header") or "").strip().upper()
            key = _MTS_SECTIONS.get(header)
            if key is None:
                continue
            try:
                dialogue = _turns(row["dialogue"].replace("Doctor:", "\nDoctor:").replace("Patient:", "\nPatient:"))
            except DatasetError:
                continue  # a few rows have no speaker labels at all
            reference: dict[str, str | None] = dict.fromkeys(SECTION_KEYS)
            reference[key] = row["section_text"].strip()
            examples.append(
                {
                    "key": f"mts-{split}-{row.get('ID', len(examples))}",
                    "dialogue": dialogue,
                    "reference": reference,
                    "facts": [],
                    "specialty": "",
                    "condition": header.lower(),
                    "split": split,
                    "source": "public",
                    "seed": None,
                }
            )
    return examples


def _load_jsonl(path: Path, split: str | None) -> list[dict[str, Any]]:
    examples = []
    with path.open() as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{path} line {number}: not JSON ({exc.msg}); expected one Example per line."
                ) from exc
            try:
                example = Example.check(item, default_key=f"{path.stem}-{number}").as_dict()
            except ExampleError as exc:
                raise DatasetError(f"{path} line {number}: {exc}.") from None
            if split is None or item.get("split", split) == split:
                examples.append(example)
    return examples


def load_examples(ref: str, *, split: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Examples for a dataset reference (see the module docstring); the first `limit` of them."""
    name, _, sub = ref.partition(":")
    if name == "aci-bench":
        examples = _load_aci(sub or split or "valid")
    elif name == "mts-dialog":
        examples = _load_mts(sub or split or "valid")
    else:
        path = Path(ref)
        if not path.exists():
            raise DatasetError(
                f"Dataset {ref!r} is neither a file nor a public dataset; use a JSONL path, "
                "'aci-bench[:valid|train]' or 'mts-dialog[:valid|train|test1|test2]'."
            )
        examples = _load_jsonl(path, split)
    if not examples:
        raise DatasetError(f"Dataset {ref!r} (split {split!r}) holds no examples.")
    return examples[:limit] if limit else examples
