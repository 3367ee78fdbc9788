"""Spoken numbers to digits: the one implementation lives in `inference.spoken_numbers`.

Kept here so the evidence flagger's imports stay as they were; generation uses the same function to
know which numbers a dialogue states (inference.constrained.GroundedNumbers).
"""

from __future__ import annotations

from inference.spoken_numbers import normalize_spoken_numbers

__all__ = ["normalize_spoken_numbers"]
