"""The Celery task and the admin around a run: config validated before start, DB kept in sync, cancel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clinic.mlops.models import Dataset, Example, ModelVersion, TrainingRun, TrainingStep
from clinic.mlops.tasks import training as task_module
from training.grpo import loop

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(examples):
    ds = Dataset.objects.create(name="tiny")
    for e in examples:
        Example.objects.create(dataset=ds, key=e["key"], dialogue=e["dialogue"], reference=e["reference"],
                               facts=e["facts"], split="train")  # fmt: skip
    return ds


def _run(dataset, **kw) -> TrainingRun:
    run = TrainingRun.objects.create(name="t", preset="tiny-cpu", config=kw.pop("config", {"steps": 2}), **kw)
    run.datasets.add(dataset)
    return run


def _fake_train(cfg, examples, *, hooks, **_):
    """Stands in for the model at the seam: two steps, a checkpoint each, honouring should_stop."""
    assert {e["key"].split(":", 1)[1] for e in examples} == {"cough-1", "bp-1", "rash-1"}
    result = loop.RunResult("succeeded", 0, None, cfg.output_dir)
    for step in (1, 2):
        if hooks.should_stop():
            result.state = "cancelled"
            break
        hooks.on_step(step, {"reward_mean": 0.1 * step, "signal_groups": 1, "sample": "x"})
        hooks.on_checkpoint(step, f"{cfg.output_dir}/step-{step}", {"reward_mean": 0.1 * step})
        hooks.on_log(f"step {step}")
        result.step, result.last_checkpoint = step, f"{cfg.output_dir}/step-{step}"
    return result


def test_task_syncs_steps_and_registers_each_checkpoint_as_candidate(dataset, monkeypatch):
    monkeypatch.setattr(loop, "train", _fake_train)
    run = _run(dataset)
    assert task_module.run_training(run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.current_step, run.total_steps, run.state) == (2, 2, "succeeded")
    assert run.resolved_config["preset"] == "tiny-cpu" and run.resolved_config["steps"] == 2
    assert list(TrainingStep.objects.filter(run=run).values_list("step", flat=True)) == [1, 2]
    versions = ModelVersion.objects.filter(training_run=run).order_by("step")
    assert [v.state for v in versions] == ["candidate", "candidate"]
    assert versions.last().reference == run.last_checkpoint.rstrip("/") and "step 2" in run.log
    assert task_module.run_training(run.pk) == "succeeded"  # delivered twice: nothing happens
    assert TrainingStep.objects.filter(run=run).count() == 2


@pytest.mark.slow
def test_cancel_flag_stops_the_real_loop_and_saves_a_checkpoint(dataset, default_model_dir, monkeypatch, settings,
                                                                 tmp_path):  # fmt: skip
    """The real loop (real default model, tiny-cpu): an admin's cancel after step 1 of 3 stops the run
    before step 2, and the step that ran is saved (no scheduled save before step 3) and registered."""
    settings.VAR_DIR = tmp_path
    on_step = task_module._Sync.on_step

    def cancel_after_first_step(self, step, metrics):
        on_step(self, step, metrics)
        TrainingRun.objects.filter(pk=self.run_id).update(cancel_requested=True)

    monkeypatch.setattr(task_module._Sync, "on_step", cancel_after_first_step)
    run = _run(dataset, config={"steps": 3, "prompts_per_step": 1, "max_new_tokens": 4, "beta": 0,
                                "save_every": 3})  # fmt: skip
    assert task_module.run_training(run.pk) == "cancelled"
    run.refresh_from_db()
    assert (run.state, run.current_step, run.total_steps) == ("cancelled", 1, 3)
    assert list(TrainingStep.objects.filter(run=run).values_list("step", flat=True)) == [1]
    assert Path(run.last_checkpoint).name == "step-1" and (Path(run.last_checkpoint) / "trainer_state.json").exists()
    assert ModelVersion.objects.get(training_run=run).step == 1
    assert "cancel requested: stopping before step 2" in run.log


def test_invalid_config_fails_the_run_with_the_reason(dataset):
    run = _run(dataset, config={"num_generations": 1})
    assert task_module.run_training(run.pk) == "failed"
    run.refresh_from_db()
    assert "G must be at least 2" in run.error
    assert task_module.run_training(10_000) == "missing"


def test_admin_form_rejects_bad_overrides_before_anything_starts(admin_client, dataset):
    resp = admin_client.post("/admin/mlops/trainingrun/add/", {
        "name": "bad", "kind": "grpo", "preset": "tiny-cpu", "config": '{"betta": 1}', "datasets": [dataset.pk],
        "mode": "local"})  # fmt: skip
    assert resp.status_code == 200 and "Did you mean" in resp.content.decode()
    assert not TrainingRun.objects.exists()


def test_admin_launch_queues_the_task_and_live_page_shows_charts(admin_client, dataset, monkeypatch,
                                                                 django_capture_on_commit_callbacks):  # fmt: skip
    sent = []
    monkeypatch.setattr(task_module.run_training, "apply_async",
                        lambda args, queue: sent.append((args, queue)) or type("R", (), {"id": "tid"})())  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        resp = admin_client.post("/admin/mlops/trainingrun/add/", {
            "name": "ok", "kind": "grpo", "preset": "tiny-cpu", "config": '{"steps": 1}',
            "datasets": [dataset.pk], "mode": "local"})  # fmt: skip
    assert resp.status_code == 302
    run = TrainingRun.objects.get(name="ok")
    assert sent == [([run.pk], "training")]
    TrainingStep.objects.create(run=run, step=1, metrics={"reward_mean": 0.5, "format_valid": 0.0})
    TrainingStep.objects.create(run=run, step=2, metrics={"reward_mean": 0.7, "format_valid": 0.5})
    page = admin_client.get(f"/mlops/training/{run.pk}/").content.decode()
    assert "<svg" in page and 'hx-trigger="every 3s"' in page
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", page)
    assert {"reward (mean)", "0.5", "0.7", "format validity", "0"} <= set(texts)  # each chart shows its numbers
    admin_client.post(f"/mlops/training/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.cancel_requested
    TrainingRun.objects.filter(pk=run.pk).update(state="cancelled")
    partial = admin_client.get(f"/mlops/training/{run.pk}/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 286  # htmx: stop polling once the run has ended


def test_live_page_is_staff_only(client, alice, dataset):
    run = _run(dataset)
    client.force_login(alice)
    assert client.get(f"/mlops/training/{run.pk}/").status_code == 302


@pytest.mark.slow
def test_task_runs_the_real_model_and_registers_a_loadable_checkpoint(dataset, default_model_dir, settings, tmp_path):
    from inference.models import resolve_model

    settings.VAR_DIR = tmp_path
    run = _run(dataset, config={"steps": 1, "prompts_per_step": 1, "max_new_tokens": 4, "beta": 0, "save_every": 1})
    assert task_module.run_training(run.pk) == "succeeded"
    run.refresh_from_db()
    step = TrainingStep.objects.get(run=run)
    assert step.metrics["groups"] == 1 and "signal_groups" in step.metrics
    version = ModelVersion.objects.get(training_run=run)
    assert version.state == "candidate" and version.reference == run.last_checkpoint
    assert resolve_model(version.reference) == Path(version.reference).resolve()


def test_a_run_whose_worker_died_is_marked_failed_and_a_redelivery_resumes_it(dataset, monkeypatch, settings, client,
                                                                              staff):  # fmt: skip
    from datetime import timedelta

    from django.utils import timezone

    settings.TRAINING_STALE_SECONDS = 60
    monkeypatch.setattr(loop, "train", _fake_train)
    recheck = []
    monkeypatch.setattr(task_module.run_training, "apply_async", lambda **kw: recheck.append(kw))
    run = _run(dataset, state="running", heartbeat_at=timezone.now() - timedelta(seconds=10))
    # redelivered at once after the kill: the dead worker's heartbeat is still fresh, so look again later
    assert task_module.run_training(run.pk) == "running elsewhere"
    assert recheck and 50 <= recheck[0]["countdown"] <= 60
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    assert task_module.run_training(run.pk) == "succeeded"  # the look again: stale, so it resumes

    dead = _run(dataset, state="running", heartbeat_at=timezone.now() - timedelta(seconds=120))
    client.force_login(staff)
    page = client.get(f"/mlops/training/{dead.pk}/").content.decode()
    dead.refresh_from_db()
    assert dead.state == "failed" and "stopped responding" in dead.error and "failed" in page.lower()


def test_the_training_task_acks_late_and_requeues_when_its_worker_is_lost():
    assert task_module.run_training.acks_late and task_module.run_training.reject_on_worker_lost


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"steps": 2.5}', "steps=2.5"),
        ('{"learning_rate": "nan"}', "learning_rate"),
        ('{"steps": 2.5, "learning_rate": "nan"}', "Invalid training configuration"),
        ('{"learning_rate": 1e999}', "finite"),
        ('{"steps": true}', "steps=True"),
        ('["steps", 2]', "JSON object"),
    ],
)
def test_admin_refuses_mistyped_settings_before_queueing(admin_client, dataset, monkeypatch, config, message):
    queued = []
    monkeypatch.setattr(task_module.run_training, "apply_async", lambda **kw: queued.append(kw))
    resp = admin_client.post("/admin/mlops/trainingrun/add/", {
        "name": "typed", "kind": "grpo", "preset": "tiny-cpu", "config": config, "datasets": [dataset.pk],
        "mode": "local"})  # fmt: skip
    assert resp.status_code == 200 and message in resp.content.decode()
    assert not TrainingRun.objects.exists() and queued == []
