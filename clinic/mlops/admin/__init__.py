"""Admin for datasets, runs, model versions and evaluations, one module per capability."""

from __future__ import annotations

import importlib

for _name in ("synthesis", "evaluation", "training", "feedback"):
    try:
        importlib.import_module(f"clinic.mlops.admin.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"clinic.mlops.admin.{_name}":
            raise
