"""Celery tasks on queue `training`, one module per capability (each owned separately)."""

from __future__ import annotations

import importlib

for _name in ("synthesis", "evaluation", "training", "feedback"):
    try:
        importlib.import_module(f"clinic.mlops.tasks.{_name}")
    except ModuleNotFoundError as exc:  # a capability not written yet
        if exc.name != f"clinic.mlops.tasks.{_name}":
            raise
