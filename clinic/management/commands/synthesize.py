"""Synthesise a train/holdout dataset through the Celery task on queue `training`.

python manage.py synthesize --n 24000 --renderer offline            # run the task here, eagerly
python manage.py synthesize --n 24000 --enqueue --wait              # a worker runs it; wait and report
python manage.py synthesize --name syn-v1 --n 24000                  # re-run: resumes, never duplicates
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from clinic.mlops.models import Dataset
from clinic.mlops.tasks.synthesis import launch, run_synthesis
from training.synthesis import SynthesisConfig, SynthesisError


def _threshold(value: str) -> float | None:
    return None if value.lower() in ("none", "off", "exact") else float(value)


class Command(BaseCommand):
    help = "Synthesise doctor-patient dialogues with gold notes and facts into a Dataset (resumable)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", default=None, help="Dataset name (slug); default syn-<n>-s<seed>.")
        parser.add_argument("--n", type=int, default=24000, help="Cases rendered before de-duplication.")
        parser.add_argument("--train", type=int, default=None, help="Train size (default 19,939 at n=24000, scaled).")
        parser.add_argument(
            "--holdout", type=int, default=None, help="Holdout size (default 4,028 at n=24000, scaled)."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--renderer", choices=["offline", "llm"], default="offline")
        parser.add_argument("--threshold", type=_threshold, default=0.97, help="Cosine dedup threshold, or 'none'.")
        parser.add_argument("--by-condition", action="store_true", help="Holdout conditions disjoint from train.")
        parser.add_argument("--llm-base-url", default="", help="OpenAI-compatible base URL for --renderer llm.")
        parser.add_argument("--llm-model", default="", help="Model name on that server.")
        parser.add_argument("--llm-concurrency", type=int, default=8)
        parser.add_argument(
            "--enqueue", action="store_true", help="Send to the `training` queue instead of running here."
        )
        parser.add_argument("--queue", default="training", help="Celery queue for --enqueue (default training).")
        parser.add_argument("--wait", action="store_true", help="With --enqueue: wait for the worker and report.")
        parser.add_argument("--timeout", type=float, default=6 * 3600, help="Seconds --wait waits.")

    def handle(self, *args: Any, **opts: Any) -> None:
        config = self._config(opts)
        name = opts["name"] or f"syn-{config.n}-s{config.seed}"
        dataset, created = Dataset.objects.get_or_create(
            name=name, defaults={"kind": Dataset.Kind.SYNTHETIC, "state": "queued"}
        )
        previous = (dataset.config or {}).get("synthesis")
        if previous and previous != config.as_dict():
            raise CommandError(
                f"dataset {name!r} was made with a different configuration ({previous}); "
                "use another --name or the same options to resume it"
            )
        dataset.config = (dataset.config or {}) | {"synthesis": config.as_dict()}
        dataset.description = dataset.description or f"Synthetic dialogues ({config.renderer} renderer)"
        dataset.save()
        self.stdout.write(f"{'created' if created else 'resuming'} dataset {name} (id {dataset.pk})")
        if opts["enqueue"] or opts["wait"]:
            task_id = launch(dataset, queue=opts["queue"])
            self.stdout.write(f"queued on `{opts['queue']}` as task {task_id}")
            if not opts["wait"]:
                return
            dataset = self._wait(dataset, opts["timeout"])
        else:
            try:
                run_synthesis(dataset)
            except SynthesisError as exc:
                raise CommandError(str(exc)) from exc
            dataset.refresh_from_db()
        self._report(dataset)

    def _config(self, opts: dict[str, Any]) -> SynthesisConfig:
        overrides: dict[str, Any] = {
            "seed": opts["seed"],
            "renderer": opts["renderer"],
            "threshold": opts["threshold"],
            "holdout_by_condition": opts["by_condition"],
        }
        if opts["renderer"] == "llm":
            overrides["llm"] = {
                "base_url": opts["llm_base_url"],
                "model": opts["llm_model"],
                "concurrency": opts["llm_concurrency"],
            }
        try:
            if opts["n"] == 24000 and opts["train"] is None and opts["holdout"] is None:
                return SynthesisConfig(n=24000, **overrides)  # the recipe's 19,939 / 4,028
            config = SynthesisConfig.scaled(opts["n"], **overrides)
            if opts["train"] is not None or opts["holdout"] is not None:
                train = opts["train"] if opts["train"] is not None else config.train
                holdout = opts["holdout"] if opts["holdout"] is not None else config.holdout
                config = SynthesisConfig.scaled(opts["n"], train=train, holdout=holdout, **overrides)
            return config
        except SynthesisError as exc:
            raise CommandError(str(exc)) from exc

    def _wait(self, dataset: Dataset, timeout: float) -> Dataset:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            dataset.refresh_from_db()
            if dataset.state in ("ready", "failed"):
                break
            if dataset.progress != last and dataset.progress:
                p = dataset.progress
                done, total, rate, eta = p.get("done"), p.get("total"), p.get("rate"), p.get("eta_seconds")
                self.stdout.write(f"  {p.get('phase')}: {done}/{total} ({rate}/s, eta {eta} s)")
                last = dataset.progress
            time.sleep(2)
        else:
            raise CommandError(
                f"dataset {dataset.name} not ready after {timeout:.0f} s; is a worker consuming `training`?"
            )
        if dataset.state == "failed":
            raise CommandError(f"synthesis of {dataset.name} failed: {dataset.error}")
        return dataset

    def _report(self, dataset: Dataset) -> None:
        report = dataset.config.get("report", {})
        summary = {
            "dataset": dataset.name,
            "stored": report.get("stored"),
            "splits": report.get("splits"),
            "specialties": report.get("n_specialties"),
            "conditions": report.get("n_conditions"),
            "dedup": report.get("dedup"),
            "dialogue_words": {k: v for k, v in (report.get("dialogue_words") or {}).items() if k != "histogram"},
            "facts_per_section": report.get("facts_per_section"),
            "timing": report.get("timing"),
        }
        self.stdout.write(json.dumps(summary, indent=2))
