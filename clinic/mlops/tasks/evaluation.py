"""Celery task: evaluate a model reference on a dataset (queue `training`) and store the report.

The task takes the Evaluation's primary key. `Evaluation.dataset_name` is a Dataset name in the
database (its holdout split by default, `config["split"]` to choose) or a public/JSONL reference
that `training.evaluation.load_examples` understands (`aci-bench:valid`, `mts-dialog:valid`, a path).
`Evaluation.config` may set: limit, max_new_tokens, batch_size, judge (auto|fact|reference|llm),
judge_url, constrained, constrained_too, backend, split. Safe to run twice: a finished evaluation
is left as it is; a re-run of a failed one overwrites its scores and report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.mlops.models import Dataset, Evaluation
from inference.errors import GenerationError

logger = logging.getLogger(__name__)

_OPTIONS = ("limit", "max_new_tokens", "batch_size", "constrained", "constrained_too", "few_shot")


def report_dir(evaluation: Evaluation) -> Path:
    return Path(settings.VAR_DIR) / "reports" / f"evaluation-{evaluation.pk}"


def examples_for(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Plain Example dicts for the evaluation's dataset (the DB first, then public/JSONL references)."""
    from training.evaluation import load_examples

    split = evaluation.config.get("split")
    dataset = Dataset.objects.filter(name=evaluation.dataset_name).first()
    if dataset is None:
        return load_examples(evaluation.dataset_name, split=split, limit=evaluation.config.get("limit"))
    rows = dataset.examples.filter(split=split or "holdout").order_by("pk")
    if evaluation.config.get("limit"):
        rows = rows[: int(evaluation.config["limit"])]
    fields = ("key", "dialogue", "reference", "facts", "specialty", "condition", "split", "source", "seed")
    examples = [{f: getattr(row, f) for f in fields} for row in rows]
    if not examples:
        raise ValueError(
            f"Dataset {dataset.name!r} has no {split or 'holdout'!r} examples; pick another split in config['split']."
        )
    return examples


def run_evaluation(evaluation: Evaluation, *, backend: Any = None) -> dict[str, Any]:
    """Evaluate in this process (the task body; tests call it with a backend object)."""
    from training.evaluation import evaluate, resolve_judge, write_report

    config = evaluation.config or {}
    Evaluation.objects.filter(pk=evaluation.pk).update(state=Evaluation.State.RUNNING, error="")
    try:
        examples = examples_for(evaluation)
        judge = resolve_judge(
            config.get("judge", "auto"),
            config.get("judge_url") or settings.SOAP_JUDGE_BASE_URL,
            config.get("judge_model", "judge"),
        )
        model = evaluation.model_reference or (evaluation.model_version.reference if evaluation.model_version else None)
        report = evaluate(
            model or None,
            examples,
            judge=judge,
            backend=backend or config.get("backend") or settings.SOAP_BACKEND,
            dataset=evaluation.dataset_name,
            **{k: config[k] for k in _OPTIONS if k in config},
        )
        out = report_dir(evaluation)
        markdown = write_report([report], out, title=f"Evaluation {evaluation.pk}: {model or 'default'}")
    except (ValueError, OSError, SoftTimeLimitExceeded, RuntimeError, GenerationError) as exc:
        Evaluation.objects.filter(pk=evaluation.pk).update(
            state=Evaluation.State.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    summary = report.summary()
    # the agreed shape for the promotion gate: per-section estimates also under "sections"
    summary["sections"] = {key: summary[key] for key in ("S", "O", "A", "P")}
    Evaluation.objects.filter(pk=evaluation.pk).update(
        state=Evaluation.State.DONE,
        scores=summary,
        report_markdown=markdown,
        report_dir=str(out),
        config={**config, "resolved": report.config},
        finished_at=timezone.now(),
        error="",
    )
    if evaluation.model_version_id:
        from clinic.mlops.models import ModelVersion

        version = ModelVersion.objects.get(pk=evaluation.model_version_id)
        version.metrics = {
            **version.metrics,
            f"eval:{evaluation.dataset_name}": {
                k: summary[k]["mean"] for k in ("total", "json_valid", "S", "O", "A", "P")
            },
        }
        version.save(update_fields=["metrics"])
    logger.info("evaluation %s done: total %.3f", evaluation.pk, summary["total"]["mean"])
    return {"evaluation": evaluation.pk, "total": summary["total"]["mean"], "examples": summary["examples"]}


@shared_task(
    name="clinic.mlops.tasks.evaluation.run_evaluation_task",
    queue="training",
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 300,
)
def run_evaluation_task(evaluation_id: int) -> dict[str, Any] | None:
    """Run the Evaluation with this id; None when it is gone or already done (idempotent)."""
    evaluation = Evaluation.objects.filter(pk=evaluation_id).select_related("model_version").first()
    if evaluation is None:
        logger.warning("evaluation %s is gone; nothing to run", evaluation_id)
        return None
    if evaluation.state == Evaluation.State.DONE:
        return {"evaluation": evaluation.pk, "skipped": "already done"}
    return run_evaluation(evaluation)


def launch(evaluation: Evaluation) -> None:
    """Queue the evaluation once the current transaction commits."""
    Evaluation.objects.filter(pk=evaluation.pk).update(state=Evaluation.State.QUEUED, error="")
    transaction.on_commit(lambda: run_evaluation_task.apply_async(args=[evaluation.pk], queue="training"))
