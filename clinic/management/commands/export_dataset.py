"""Export a Dataset's examples as JSONL (one shared example dict per line).

python manage.py export_dataset syn-24000-s0 var/exports/syn.jsonl [--split holdout]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from clinic.mlops.models import Dataset
from clinic.mlops.synthesis_store import iter_examples
from training.synthesis import write_jsonl


class Command(BaseCommand):
    help = "Write a dataset's examples to a JSONL file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("path")
        parser.add_argument("--split", choices=["train", "holdout"], default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        dataset = Dataset.objects.filter(name=opts["name"]).first()
        if dataset is None:
            known = ", ".join(Dataset.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"no dataset named {opts['name']!r} (known: {known})")
        count = write_jsonl(iter_examples(dataset, split=opts["split"]), opts["path"])
        self.stdout.write(f"wrote {count} examples to {opts['path']}")
