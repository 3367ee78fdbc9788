"""Turn what a clinician pastes or uploads into a list of `Turn`s (docs/architecture.md, Dialogue).

Accepted inputs, detected from the file name when given, else from the content:

- speaker-labelled text: ``Doctor: ...``, ``Patient: ...``, ``Dr. Smith: ...``, ``[doctor] ...``,
  ``D:``/``P:``, ``Pt:``, ``Nurse:``; an unlabelled line continues the previous turn;
- text with no speaker label at all (a speech-recognition transcript: "hi , susan , how are you ?"):
  each line is a turn of speaker ``unknown``; one long line is cut into turns at sentence ends;
- JSON: a list of ``{"speaker", "text"}`` objects (also ``role``/``content``), or an object
  holding that list under ``turns``/``dialogue``/``messages``;
- WebVTT (``<v Doctor>`` voice tags or ``Doctor:`` inside cues) and SRT subtitles; consecutive
  cues of one speaker merge into one turn, because subtitles cut sentences at arbitrary places.

Every failure raises `DialogueError` whose message names the line (1-based) and the fix, so the
intake form can show it next to the input. No Django here: the API, the web app and training
all call the same parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from inference.schema import Turn

__all__ = ["DialogueError", "detect_format", "dialogue_to_text", "normalise_speaker", "parse_dialogue"]

FORMATS = ("text", "json", "vtt", "srt")
UNKNOWN_SPEAKER = "unknown"
# A single unlabelled line longer than this is a whole visit on one line: cut it at sentence ends,
# so evidence links and prompts see turn-sized pieces.
_ONE_LINE_SPLIT_CHARS = 300
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


class DialogueError(ValueError):
    """The input is not a dialogue this parser understands; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.message = f"Line {line}: {message}" if line is not None else message
        super().__init__(self.message)


# Aliases a clinician types for the two main roles; anything else is kept, lowercased.
_DOCTOR = {"d", "dr", "doc", "doctor", "physician", "clinician", "provider", "gp", "md", "np", "pa", "consultant"}
_PATIENT = {"p", "pt", "patient", "pat", "client"}
_MAX_LABEL = 40

_TIMESTAMP = re.compile(r"^\s*[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?[\])]?\s*[-–]?\s*")
_BRACKET_LABEL = re.compile(r"^\s*\[(?P<label>[^\]\n]{1,40})\]\s*:?\s*(?P<text>.*)$")
_COLON_LABEL = re.compile(r"^\s*[-*>]*\s*\**(?P<label>[A-Za-z][A-Za-z0-9 .'()_/-]{0,39}?)\**\s*:\**\s*(?P<text>.*)$")
_VTT_TIMING = re.compile(r"^\s*(?:\d+:)?\d{2}:\d{2}\.\d{3}\s+-->\s+(?:\d+:)?\d{2}:\d{2}\.\d{3}(?:\s+.*)?$")
_SRT_TIMING = re.compile(r"^\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s+-->\s+\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*(?:.*)?$")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>", re.IGNORECASE)
_TAG = re.compile(r"</?[^>]+>")


def normalise_speaker(label: str) -> str:
    """Map a typed label to a role: 'Dr. Smith' -> 'doctor', 'Pt' -> 'patient', 'NURSE' -> 'nurse'."""
    cleaned = re.sub(r"[*_\[\]():.]", " ", label).strip().lower()
    cleaned = re.sub(r"\s+", " ", cleaned)
    if not cleaned:
        return ""
    first = cleaned.split(" ")[0]
    if cleaned in _DOCTOR or first in {"dr", "doctor", "doc"}:
        return "doctor"
    if cleaned in _PATIENT or first in {"patient", "pt"}:
        return "patient"
    if first in _OTHER_ROLES and first != "speaker":
        return first  # 'Nurse Kelly' is the nurse; the name adds nothing the note needs
    return cleaned


# fmt: off
_OTHER_ROLES = frozenset({
    "nurse", "mother", "father", "parent", "caregiver", "carer", "interpreter", "translator", "son", "daughter",
    "wife", "husband", "spouse", "partner", "relative", "family", "friend", "student", "resident", "intern",
    "scribe", "pharmacist", "assistant", "guardian", "sister", "brother", "therapist", "paramedic", "speaker",
})
# fmt: on
# Words that start sentences with a colon ('Yes: ...', 'Note: ...'): never a speaker on their own.
_NOT_SPEAKERS = {"yes", "no", "ok", "okay", "so", "well", "note", "also", "but", "and", "then", "now", "time", "date"}


def _is_label(label: str) -> bool:
    """True when `label` plausibly names a speaker rather than starting a sentence ('Note: ...')."""
    role = normalise_speaker(label)
    words = role.split()
    if not words or len(label) > _MAX_LABEL:
        return False
    if role in {"doctor", "patient"} or words[0] in _OTHER_ROLES:
        return len(words) <= 4
    if words[0] in _NOT_SPEAKERS or any(ch.isdigit() for ch in label):
        return False
    return len(words) <= 3 and all(word[:1].isupper() for word in label.replace(".", " ").split())


def detect_format(text: str, filename: str | None = None) -> str:
    """One of FORMATS: from the file extension when there is one, else sniffed from the content."""
    if filename:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if ext in {"json", "vtt", "srt"}:
            return ext
        if ext in {"txt", "text", "md", ""}:
            return "text"
        raise DialogueError(f"'{filename}' has an unsupported extension; upload a .txt, .json, .vtt or .srt file")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("WEBVTT"):
        return "vtt"
    if stripped[:1] in "[{":
        try:
            json.loads(stripped)
        except RecursionError:
            return "json"  # nested past Python's recursion limit: JSON, refused by the parser with a message
        except ValueError:
            # '[doctor] hello' is labelled text, not broken JSON; only '{' or '[{' commit to JSON.
            if stripped.startswith("{") or re.match(r"\[\s*[{\]]", stripped):
                return "json"
            return "text"
        return "json"
    lines = stripped.splitlines()[:3]
    if len(lines) >= 2 and lines[0].strip().isdigit() and "-->" in lines[1]:
        return "srt"
    return "text"


def parse_dialogue(text: str, filename: str | None = None) -> list[Turn]:
    """Parse a pasted or uploaded dialogue into turns; raise `DialogueError` naming the failing line."""
    if not isinstance(text, str):
        raise DialogueError(f"expected the dialogue as text, got {type(text).__name__}")
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise DialogueError("the input contains NUL bytes: it looks like a binary file, not a transcript")
    if not text.strip():
        raise DialogueError("the dialogue is empty: paste the conversation or upload a transcript file")
    fmt = detect_format(text, filename)
    parser = {"text": _parse_labelled, "json": _parse_json, "vtt": _parse_vtt, "srt": _parse_srt}[fmt]
    turns = parser(text)
    if not turns:
        raise DialogueError("no dialogue turns found: start each turn with a speaker label such as 'Doctor:'")
    return turns


def dialogue_to_text(turns: Iterable[Turn | Mapping[str, Any]]) -> str:
    """Render turns as 'Doctor: ...' lines, the form prompts and the review page show."""
    lines = []
    for turn in turns:
        speaker, said = (turn.speaker, turn.text) if isinstance(turn, Turn) else (turn["speaker"], turn["text"])
        lines.append(f"{str(speaker).strip().capitalize()}: {' '.join(str(said).split())}")
    return "\n".join(lines)


# --- speaker-labelled text -------------------------------------------------------------------


def _split_label(line: str) -> tuple[str, str] | None:
    """(role, text) when the line starts with a speaker label, else None."""
    line = _TIMESTAMP.sub("", line, count=1) if _TIMESTAMP.match(line) else line
    for pattern in (_BRACKET_LABEL, _COLON_LABEL):
        match = pattern.match(line)
        if match and _is_label(match["label"]):
            return normalise_speaker(match["label"]), match["text"].strip()
    return None


def _parse_unlabelled(text: str) -> list[Turn]:
    """No line carries a speaker label: one turn per line, speaker unknown (the note is still drafted)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) == 1 and len(lines[0]) > _ONE_LINE_SPLIT_CHARS:
        lines = [part for part in _SENTENCE_END.split(lines[0]) if part.strip()]
    return [_turn(UNKNOWN_SPEAKER, line, None) for line in lines]


def _parse_labelled(text: str) -> list[Turn]:
    if not any(_split_label(line) for line in text.split("\n") if line.strip()):
        return _parse_unlabelled(text)
    turns: list[tuple[str, list[str], int]] = []  # role, text parts, first line
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        labelled = _split_label(line)
        if labelled:
            role, said = labelled
            turns.append((role, [said] if said else [], number))
        elif turns:
            turns[-1][1].append(line.strip())
        else:
            preview = line.strip()[:60]
            raise DialogueError(
                f"'{preview}' has no speaker label; start each turn with a label such as 'Doctor:' or 'Patient:'",
                number,
            )
    return [_turn(role, " ".join(parts), line) for role, parts, line in turns]


def _turn(role: str, said: str, line: int | None) -> Turn:
    said = " ".join(said.split())
    if not role:
        raise DialogueError("the speaker label is empty; write who speaks, e.g. 'Doctor:'", line)
    if not said:
        raise DialogueError(f"the {role}'s turn has no text; remove the label or add what was said", line)
    return Turn(speaker=role, text=said)


# --- JSON --------------------------------------------------------------------------------------


def _element_lines(text: str) -> list[int]:
    """1-based start line of each element of the top-level JSON array (for error messages).

    Raises ValueError when `text` does not start with that array where expected.
    """
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    lines: list[int] = []
    while True:
        while pos < len(text) and text[pos] in " \t\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return lines
        lines.append(text.count("\n", 0, pos) + 1)
        _, pos = decoder.raw_decode(text, pos)


_MAX_JSON_DEPTH = 20  # a dialogue is a list of flat objects; anything deeper is not one


def _too_deep(text: str) -> bool:
    """True when brackets nest deeper than a dialogue ever does (checked before json.loads can recurse)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > _MAX_JSON_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _turn_lines(text: str, key: str | None) -> list[int]:
    """Line of each turn, for messages; [] when the text cannot be mapped (e.g. a key written with escapes)."""
    try:
        if key is None:
            return _element_lines(text)
        match = re.search(r'"' + re.escape(key) + r'"\s*:\s*\[', text)
        if match is None:
            return []
        body = text[match.end() - 1 :]
        offset = text.count("\n", 0, match.end() - 1)
        return [offset + n for n in _element_lines(body)]
    except (ValueError, RecursionError):
        return []


def _parse_json(text: str) -> list[Turn]:
    if _too_deep(text):
        raise DialogueError(
            f'the JSON nests deeper than {_MAX_JSON_DEPTH} levels; send a flat list of {{"speaker", "text"}} objects', 1
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DialogueError(f"invalid JSON ({exc.msg}, column {exc.colno})", exc.lineno) from None
    except RecursionError:
        raise DialogueError('the JSON nests too deeply; send a flat list of {"speaker", "text"} objects', 1) from None
    key = None
    if isinstance(data, dict):
        for key in ("turns", "dialogue", "messages", "conversation"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise DialogueError('JSON must be a list of {"speaker", "text"} objects (or hold one under \'turns\')', 1)
    if not isinstance(data, list):
        raise DialogueError('JSON must be a list of {"speaker", "text"} objects', 1)
    lines = _turn_lines(text, key)
    turns = []
    for index, item in enumerate(data):
        line = lines[index] if index < len(lines) else None
        if not isinstance(item, dict):
            raise DialogueError(
                f"turn {index + 1} is {type(item).__name__}, expected an object with speaker and text", line
            )
        speaker = item.get("speaker", item.get("role"))
        said = item.get("text", item.get("content"))
        if not isinstance(speaker, str) or not isinstance(said, str):
            raise DialogueError(f"turn {index + 1} needs string fields 'speaker' and 'text'", line)
        turns.append(_turn(normalise_speaker(speaker), said, line))
    return turns


# --- WebVTT and SRT ----------------------------------------------------------------------------


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line of their first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _cue_turns(cues: list[tuple[int, str]], fmt: str) -> list[Turn]:
    """Attach speakers to cue payloads and merge consecutive cues of one speaker."""
    merged: list[tuple[str, list[str], int]] = []
    for line, payload in cues:
        voice = _VOICE.search(payload)
        role = normalise_speaker(voice.group(1)) if voice else ""
        said = _TAG.sub("", payload).strip()
        if not role:
            labelled = _split_label(said.lstrip("- "))
            if labelled:
                role, said = labelled
        if not said:
            continue
        if not role:
            if not merged:
                raise DialogueError(
                    f"the first {fmt} cue has no speaker; use '<v Doctor>' or start the text with 'Doctor:'", line
                )
            role = merged[-1][0]
        if merged and merged[-1][0] == role:
            merged[-1][1].append(said)
        else:
            merged.append((role, [said], line))
    return [_turn(role, " ".join(parts), line) for role, parts, line in merged]


def _parse_vtt(text: str) -> list[Turn]:
    blocks = _blocks(text)
    if not blocks or not blocks[0][1][0].strip().startswith("WEBVTT"):
        raise DialogueError("a WebVTT file must start with 'WEBVTT'", 1)
    cues: list[tuple[int, str]] = []
    for start, lines in blocks[1:]:
        head = lines[0].strip()
        if head.startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing_at = 0 if "-->" in lines[0] else 1
        if timing_at >= len(lines) or not _VTT_TIMING.match(lines[timing_at]):
            got = lines[min(timing_at, len(lines) - 1)].strip()[:60]
            raise DialogueError(
                f"expected a cue timing like '00:00:01.000 --> 00:00:04.000', got '{got}'", start + timing_at
            )
        cues.append((start + timing_at + 1, " ".join(ln.strip() for ln in lines[timing_at + 1 :])))
    return _cue_turns(cues, "WebVTT")


def _parse_srt(text: str) -> list[Turn]:
    cues: list[tuple[int, str]] = []
    for start, lines in _blocks(text):
        if not lines[0].strip().isdigit():
            raise DialogueError(f"expected a subtitle number, got '{lines[0].strip()[:60]}'", start)
        if len(lines) < 2 or not _SRT_TIMING.match(lines[1]):
            got = lines[1].strip()[:60] if len(lines) > 1 else ""
            raise DialogueError(f"expected a timing like '00:00:01,000 --> 00:00:04,000', got '{got}'", start + 1)
        cues.append((start + 2, " ".join(ln.strip() for ln in lines[2:])))
    return _cue_turns(cues, "SRT")
