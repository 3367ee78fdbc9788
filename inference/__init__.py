"""Dialogue in, validated SOAP note out: schema, prompts, parsing, model loading, backends, engine.

Importing the package is cheap (no torch); the heavy names load on first use:
`from inference import generate_note, parse_note, SOAPNote, build_messages, load_model`.
"""

from __future__ import annotations

from typing import Any

from inference.errors import BackendUnavailable, GenerationError, InputTooLong, InvalidOutput, Truncated
from inference.schema import SECTION_KEYS, SECTION_NAMES, SOAPNote, Turn, note_json_schema

_LAZY = {
    "generate_note": "inference.engine",
    "GenerationResult": "inference.engine",
    "parse_note": "inference.parsing",
    "ParseResult": "inference.parsing",
    "build_messages": "inference.prompts",
    "load_model": "inference.models",
    "fetch_default": "inference.models",
    "resolve_model": "inference.models",
    "DEFAULT_MODEL_REF": "inference.models",
    "get_backend": "inference.backends.base",
    "SamplingParams": "inference.backends.base",
    "Completion": "inference.backends.base",
}

__all__ = [
    "SECTION_KEYS",
    "SECTION_NAMES",
    "SOAPNote",
    "Turn",
    "note_json_schema",
    "GenerationError",
    "InputTooLong",
    "Truncated",
    "InvalidOutput",
    "BackendUnavailable",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'inference' has no attribute {name!r}")
