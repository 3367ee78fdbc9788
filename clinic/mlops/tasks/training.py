"""Celery task on queue `training`: run a TrainingRun (GRPO or SFT) and keep its row in sync.

The task takes the run's id, is safe to deliver twice (a finished run returns at once; a run that
was interrupted — worker killed, kill -9 — resumes from its last checkpoint, because the loop
resumes from whatever `step-N` exists in the run's directory), writes one TrainingStep row per
step, registers every checkpoint as a candidate ModelVersion whose reference is the checkpoint
directory, and stops cleanly after the current step when an admin sets `cancel_requested`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.heartbeat import Heartbeat
from clinic.mlops.models import Example, TrainingRun, TrainingStep
from clinic.mlops.registry import register_checkpoint

logger = logging.getLogger(__name__)
LOG_LIMIT = 100_000  # characters of the log kept on the row (the full log is train.log in the run dir)
FINISHED = {TrainingRun.State.SUCCEEDED, TrainingRun.State.FAILED, TrainingRun.State.CANCELLED}
HEARTBEAT_SECONDS = 30.0
# A running run whose worker has not stamped it for this long is dead (ten missed beats; a training
# step can hold the GIL for a while). Override with settings.TRAINING_STALE_SECONDS.
STALE_AFTER_SECONDS = 300
DEAD_WORKER_MESSAGE = (
    "The worker running this stopped responding (killed, out of memory or host lost). "
    "Relaunch the run to resume from its last checkpoint."
)


def _stale_after() -> float:
    return float(getattr(settings, "TRAINING_STALE_SECONDS", STALE_AFTER_SECONDS))


def seconds_until_stale(run: TrainingRun) -> float:
    """How long until a RUNNING run's heartbeat counts as stale (0 when it already does)."""
    last = run.heartbeat_at or run.started_at or run.created_at
    return max(0.0, _stale_after() - (timezone.now() - last).total_seconds())


def fail_if_worker_died(run: TrainingRun) -> bool:
    """Mark a RUNNING run whose heartbeat is stale as failed (resumable); True when it did."""
    if run.state != TrainingRun.State.RUNNING or seconds_until_stale(run) > 0:
        return False
    cutoff = timezone.now() - timedelta(seconds=_stale_after())
    not_resumed = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff)  # a redelivery may have resumed it
    updated = TrainingRun.objects.filter(not_resumed, pk=run.pk, state=TrainingRun.State.RUNNING).update(
        state=TrainingRun.State.FAILED, error=DEAD_WORKER_MESSAGE, finished_at=timezone.now()
    )
    if updated:
        run.refresh_from_db()
    return bool(updated)


def run_directory(run: TrainingRun) -> Path:
    return Path(settings.VAR_DIR) / "checkpoints" / f"run-{run.pk}"


def run_examples(run: TrainingRun, split: str) -> list[dict[str, Any]]:
    """The run's datasets as plain Example dicts (COMMON.md); clinician rows carry their weight."""
    rows = Example.objects.filter(dataset__in=run.datasets.all()).order_by("dataset_id", "key")
    if split:
        rows = rows.filter(split=split)
    return [
        {
            "key": f"{r.dataset_id}:{r.key}",
            "dialogue": r.dialogue,
            "reference": r.reference,
            "facts": r.facts,
            "specialty": r.specialty,
            "condition": r.condition,
            "split": r.split,
            "source": r.source,
            "seed": r.seed,
            "weight": r.weight,
        }  # fmt: skip
        for r in rows
    ]


def resolve_run_config(run: TrainingRun):
    """The validated config for `run`: its preset plus overrides, kind, base model and directory."""
    from training.config import build_config

    overrides = dict(run.config or {})
    overrides.setdefault("kind", run.kind)
    overrides.setdefault("mode", run.mode or "local")
    overrides["output_dir"] = str(run_directory(run))
    if run.base_model is not None and "model" not in overrides:
        overrides["model"] = run.base_model.reference
    return build_config(run.preset or "recipe", overrides)


class _Sync:
    """Hooks that mirror the loop's progress into the database."""

    def __init__(self, run: TrainingRun) -> None:
        self.run_id = run.pk
        self.run_name = run.name
        self.parent_id = run.base_model_id

    def on_step(self, step: int, metrics: dict[str, Any]) -> None:
        TrainingStep.objects.update_or_create(run_id=self.run_id, step=step, defaults={"metrics": metrics})
        TrainingRun.objects.filter(pk=self.run_id).update(current_step=step)

    def on_checkpoint(self, step: int, path: str, metrics: dict[str, Any]) -> None:
        keep = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        # A checkpoint with NaN weights raises NonFiniteWeights here: the run fails with that reason.
        register_checkpoint(
            f"{self.run_name}-run{self.run_id}-step{step}",
            path,
            training_run_id=self.run_id,
            step=step,
            metrics=keep,
            parent_id=self.parent_id,
        )
        TrainingRun.objects.filter(pk=self.run_id).update(last_checkpoint=path)

    def on_log(self, line: str) -> None:
        run = TrainingRun.objects.only("log").get(pk=self.run_id)
        TrainingRun.objects.filter(pk=self.run_id).update(log=(run.log + line + "\n")[-LOG_LIMIT:])

    def should_stop(self) -> bool:
        return TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()


@shared_task(
    bind=True,
    name="clinic.mlops.tasks.training.run_training",
    acks_late=True,  # a worker killed mid-run leaves the message to be redelivered...
    reject_on_worker_lost=True,  # ...at once, and the redelivery resumes from the last checkpoint
    soft_time_limit=24 * 3600,
    time_limit=24 * 3600 + 300,
)
def run_training(self: Any, run_id: int) -> str:
    """Run or resume TrainingRun `run_id`; returns its final state."""
    from training import api
    from training.api import ConfigError, DataError, Hooks

    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            logger.info("training run %s is gone; nothing to do", run_id)
            return "missing"
        if run.state in FINISHED:
            return run.state
        if run.state == TrainingRun.State.RUNNING and (wait := seconds_until_stale(run)) > 0:
            # Another worker stamped it recently: a live duplicate, or the one just killed. Look again
            # once its heartbeat would be stale, and resume then if it is.
            if not self.request.is_eager:
                run_training.apply_async(args=[run_id], countdown=wait + 5, queue="training")
            return "running elsewhere"
        try:
            cfg = resolve_run_config(run)
            examples = run_examples(run, cfg.split)
            if not examples:
                raise DataError(f"run {run.name!r} has no {cfg.split or 'any'} examples; attach a dataset with "
                                "examples, or set split to '' to use every split.")  # fmt: skip
        except (ConfigError, DataError, ValueError) as exc:
            run.state, run.error, run.finished_at = TrainingRun.State.FAILED, str(exc), timezone.now()
            run.save(update_fields=["state", "error", "finished_at"])
            return run.state
        run.state = TrainingRun.State.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.resolved_config = cfg.to_dict()
        run.output_dir = cfg.output_dir
        run.total_steps = api.total_steps(cfg)
        run.save(update_fields=["state", "started_at", "heartbeat_at", "resolved_config", "output_dir", "total_steps"])

    sync = _Sync(run)
    hooks = Hooks(on_step=sync.on_step, on_checkpoint=sync.on_checkpoint, on_log=sync.on_log,
                  should_stop=sync.should_stop)  # fmt: skip
    heartbeat = Heartbeat(TrainingRun, run.pk, HEARTBEAT_SECONDS)
    heartbeat.start()
    try:
        # mode=ray: the driver runs here; rollout/judge/learner actors run on the Ray cluster
        result = api.run(cfg, hooks, examples=examples)
    except Exception as exc:  # the run must end in a visible state whatever broke
        logger.exception("training run %s failed", run_id)
        TrainingRun.objects.filter(pk=run_id).update(
            state=TrainingRun.State.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        return TrainingRun.State.FAILED
    finally:
        heartbeat.stopped.set()
    state = TrainingRun.State.CANCELLED if result.state == "cancelled" else TrainingRun.State.SUCCEEDED
    TrainingRun.objects.filter(pk=run_id).update(
        state=state, finished_at=timezone.now(), current_step=result.step, last_checkpoint=result.last_checkpoint or ""
    )
    return state


def launch(run: TrainingRun) -> None:
    """Queue `run` once the surrounding transaction commits (so the worker sees the row)."""

    def send() -> None:
        res = run_training.apply_async(args=[run.pk], queue="training")
        TrainingRun.objects.filter(pk=run.pk).update(celery_task_id=res.id or "")

    transaction.on_commit(send)
