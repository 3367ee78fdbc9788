"""Signals other parts of the product listen to.

`note_signed` is sent once a signature is committed, with `sender=Note`, `note=` and `signature=`.
The feedback side (clinician edits become reward data) connects to it; the notes app never
imports that code, so signing works whether or not anyone listens.
"""

from __future__ import annotations

from django.dispatch import Signal

note_signed = Signal()
