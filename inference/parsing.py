"""One parser for model output: the note, or a precise reason why there is none.

The app, the evaluation and the format reward in training/ all call `parse_note`, so "parses" means
the same thing everywhere.

- non-strict (the app, unconstrained generation): bare JSON, JSON inside a ``` fence, or the JSON
  between the first `{` and the last `}` of the text (a note wrapped in prose).
- strict (the format reward): exactly one JSON object, whitespace around it allowed, nothing else.

In both modes the object must have exactly the keys S, O, A, P, each a string.

>>> parse_note('{"S": "a", "O": "b", "A": "c", "P": "d"}').ok
True
>>> parse_note('{"S": "a", "O": "b", "A": "c"}').reason
"missing key 'P' (the note needs exactly the keys S, O, A, P)"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from inference.schema import SECTION_KEYS, SOAPNote

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class ParseResult:
    """The parsed note, or None with a human-readable reason."""

    note: SOAPNote | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.note is not None


def _snippet(text: str, limit: int = 40) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _decode(candidate: str) -> tuple[Any, str | None]:
    try:
        return json.loads(candidate), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"


def _validate(obj: Any) -> ParseResult:
    if not isinstance(obj, dict):
        return ParseResult(None, f"expected a JSON object with keys S, O, A, P, got a JSON {type(obj).__name__}")
    missing = [key for key in SECTION_KEYS if key not in obj]
    extra = sorted(str(key) for key in obj if key not in SECTION_KEYS)
    problems = []
    if missing:
        problems.append(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    if extra:
        problems.append(f"unexpected key{'s' if len(extra) > 1 else ''} {', '.join(repr(k) for k in extra)}")
    if problems:
        return ParseResult(None, "; ".join(problems) + " (the note needs exactly the keys S, O, A, P)")
    for key in SECTION_KEYS:
        if not isinstance(obj[key], str):
            kind = "null" if obj[key] is None else type(obj[key]).__name__
            return ParseResult(None, f"section {key!r} must be a string, got {kind}")
    return ParseResult(SOAPNote(**{key: obj[key] for key in SECTION_KEYS}))


def parse_note(text: str, *, strict: bool = False) -> ParseResult:
    """Parse a model completion into a SOAPNote; see the module docstring for what each mode accepts."""
    if not isinstance(text, str):
        return ParseResult(None, f"expected text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        return ParseResult(None, "empty output: no JSON object")
    if strict:
        if not stripped.startswith("{"):
            return ParseResult(None, f"text before the JSON object: {_snippet(stripped.split('{', 1)[0])}")
        try:
            obj, end = json.JSONDecoder().raw_decode(stripped)
        except json.JSONDecodeError as exc:
            return ParseResult(None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        except RecursionError:
            return ParseResult(None, "invalid JSON: nested too deeply")
        if stripped[end:].strip():
            return ParseResult(None, f"text after the JSON object: {_snippet(stripped[end:])}")
        return _validate(obj)

    obj, reason = _decode(stripped)
    if reason is None:
        return _validate(obj)
    fence = _FENCE.search(stripped)
    if fence:
        obj, fence_reason = _decode(fence.group(1).strip())
        return _validate(obj) if fence_reason is None else ParseResult(None, f"in the code fence: {fence_reason}")
    start, end = stripped.find("{"), stripped.rfind("}")
    if start == -1:
        return ParseResult(None, f"no JSON object found (no '{{' in the output, starts with {_snippet(stripped)})")
    if end < start:
        return ParseResult(None, "unterminated JSON object: no closing '}' (the output may have been truncated)")
    obj, inner_reason = _decode(stripped[start : end + 1])
    if inner_reason is not None:
        return ParseResult(None, inner_reason)
    return _validate(obj)
