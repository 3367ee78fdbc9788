"""Import a JSONL file of examples into a Dataset (validated first; a bad line stores nothing).

python manage.py import_dataset var/exports/syn.jsonl --name syn-copy
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from clinic.mlops.models import Dataset
from clinic.mlops.synthesis_store import import_examples
from training.synthesis import SynthesisError, coverage_report, read_jsonl


class Command(BaseCommand):
    help = "Load examples from JSONL into a dataset; re-importing never duplicates keys."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")
        parser.add_argument("--name", required=True, help="Dataset name (created if missing).")
        parser.add_argument("--kind", choices=[k for k, _ in Dataset.Kind.choices], default=Dataset.Kind.IMPORTED)

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["path"])
        if not path.is_file():
            raise CommandError(f"{path} does not exist; give the path of a .jsonl export")
        try:
            examples = list(read_jsonl(path))  # validate every line before touching the database
        except (SynthesisError, UnicodeDecodeError) as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        dataset, _ = Dataset.objects.get_or_create(name=opts["name"], defaults={"kind": opts["kind"]})
        inserted = import_examples(dataset, examples)
        dataset.config = (dataset.config or {}) | {"report": coverage_report(examples), "imported_from": str(path)}
        dataset.state = "ready"
        dataset.save()
        self.stdout.write(
            f"imported {inserted} new examples into {dataset.name} ({len(examples) - inserted} already there)"
        )
