"""Datasets in the database: the task, resume without duplicates, commands, admin and statistics page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from clinic.mlops.models import Dataset, Example
from clinic.mlops.synthesis_store import save_examples
from clinic.mlops.tasks.synthesis import run_synthesis
from training.synthesis import OfflineRenderer, SynthesisConfig, SynthesisError

pytestmark = pytest.mark.django_db


def _dataset(name: str = "syn-test", **overrides) -> Dataset:
    config = {"n": 60, "train": 50, "holdout": 10, "threshold": None, "chunk_size": 20} | overrides
    return Dataset.objects.create(name=name, config={"synthesis": SynthesisConfig(**config).as_dict()})


@pytest.fixture(autouse=True)
def _var_dir(tmp_path, settings):
    settings.VAR_DIR = tmp_path


def test_run_synthesis_stores_examples_report_and_progress():
    dataset = _dataset()
    run_synthesis(dataset)
    dataset.refresh_from_db()
    assert dataset.state == "ready"
    assert dataset.examples.count() == 60
    assert dataset.examples.filter(split="holdout").count() == 10
    assert dataset.progress["phase"] == "store" and dataset.progress["done"] == 60
    assert dataset.config["report"]["stored"] == 60
    row = dataset.examples.first()
    assert set(row.reference) == {"S", "O", "A", "P"} and row.facts and row.source == "synthetic"


class _Crashing(OfflineRenderer):
    """Dies part-way through, as a killed worker would."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.left = after

    def render(self, case):
        self.left -= 1
        if self.left < 0:
            raise SynthesisError("worker died")
        return super().render(case)


def test_interrupted_synthesis_resumes_and_never_duplicates():
    dataset = _dataset()
    with pytest.raises(SynthesisError):
        run_synthesis(dataset, renderer=_Crashing(after=45))
    dataset.refresh_from_db()
    assert dataset.state == "failed" and "worker died" in dataset.error
    run_synthesis(dataset)
    run_synthesis(dataset)  # a duplicate delivery of the same task
    dataset.refresh_from_db()
    assert dataset.state == "ready" and dataset.examples.count() == 60
    assert dataset.config["report"]["timing"]["resumed_cases"] == 60
    assert dataset.config["report"]["inserted"] == 0


def test_save_examples_skips_existing_keys():
    dataset = _dataset()
    examples = [
        {"key": f"k{i}", "dialogue": [{"speaker": "doctor", "text": "hi"}], "reference": dict.fromkeys("SOAP", "")}
        for i in range(5)
    ]
    assert save_examples(dataset, examples[:3]) == 3
    assert save_examples(dataset, examples) == 2
    assert Example.objects.filter(dataset=dataset).count() == 5


def test_invalid_stored_config_fails_the_dataset_with_a_message():
    dataset = Dataset.objects.create(name="bad", config={"synthesis": {"n": 0}})
    with pytest.raises(SynthesisError, match="at least one"):
        run_synthesis(dataset)
    dataset.refresh_from_db()
    assert dataset.state == "failed" and "at least one" in dataset.error


def test_synthesize_command_then_export_and_import_round_trip(tmp_path, capsys):
    call_command("synthesize", "--name", "cmd", "--n", "40", "--threshold", "none")
    out = capsys.readouterr().out
    assert '"stored": 40' in out
    dataset = Dataset.objects.get(name="cmd")
    assert dataset.examples.filter(split="holdout").count() == round(40 * 4028 / 23967)
    path = tmp_path / "cmd.jsonl"
    call_command("export_dataset", "cmd", str(path))
    lines = path.read_text().splitlines()
    assert len(lines) == 40 and set(json.loads(lines[0])) >= {"key", "dialogue", "reference", "facts", "split"}
    call_command("import_dataset", str(path), "--name", "copy")
    call_command("import_dataset", str(path), "--name", "copy")  # idempotent
    copy = Dataset.objects.get(name="copy")
    assert copy.examples.count() == 40 and copy.kind == "imported"
    exported = {json.loads(line)["key"]: json.loads(line) for line in lines}
    for row in copy.examples.all():
        assert exported[row.key]["reference"] == row.reference


def test_synthesize_command_refuses_a_changed_configuration():
    call_command("synthesize", "--name", "fixed", "--n", "20", "--threshold", "none")
    with pytest.raises(CommandError, match="different configuration"):
        call_command("synthesize", "--name", "fixed", "--n", "30", "--threshold", "none")


def test_import_with_a_bad_line_stores_nothing(tmp_path):
    good = {"key": "a", "dialogue": [{"speaker": "doctor", "text": "hi"}], "reference": dict.fromkeys("SOAP", "x")}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + "{not json\n")
    with pytest.raises(CommandError, match="bad.jsonl:2"):
        call_command("import_dataset", str(path), "--name", "bad-import")
    assert not Example.objects.exists() and not Dataset.objects.filter(name="bad-import").exists()
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_dataset", str(tmp_path / "missing.jsonl"), "--name", "x")


def test_admin_lists_progress_and_launches_synthesis(
    client, admin_user, django_capture_on_commit_callbacks, monkeypatch
):
    dataset = _dataset()
    Dataset.objects.filter(pk=dataset.pk).update(
        state="running", progress={"phase": "render", "done": 20, "total": 60, "rate": 10.0, "eta_seconds": 4}
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:mlops_dataset_changelist"))
    assert page.status_code == 200
    assert "render: 20 / 60 (33%)" in page.content.decode()
    sent = []
    monkeypatch.setattr("clinic.mlops.tasks.synthesis.synthesize_dataset.apply_async", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:mlops_dataset_changelist"),
            {"action": "launch_synthesis", "_selected_action": [dataset.pk]},
            follow=True,
        )
    assert "synthesis queued" in response.content.decode()
    assert sent == [{"args": [dataset.pk], "queue": "training", "task_id": sent[0]["task_id"]}]
    assert Dataset.objects.get(pk=dataset.pk).state == "queued"


def test_statistics_page_for_staff_only(client, staff, alice):
    dataset = _dataset()
    run_synthesis(dataset)
    url = reverse("mlops:synthesis_stats", args=[dataset.pk])
    client.force_login(alice)
    assert client.get(url).status_code == 302
    client.force_login(staff)
    page = client.get(url).content.decode()
    assert 'id="n-conditions"' in page and "Dialogue length" in page and "duplicate rate 0.0" in page
    assert client.get(reverse("mlops:synthesis_stats", args=[9999])).status_code == 404


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_celery_worker_runs_the_task_from_the_training_queue(tmp_path, settings):
    """The management command enqueues, a real worker (its own process) synthesises, --wait reports."""
    queue = f"training-test-{uuid.uuid4().hex[:8]}"
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
        broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    else:
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        broker = settings.CELERY_BROKER_URL
    env = os.environ | {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "SOAP_VAR_DIR": str(tmp_path),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    cwd = Path(settings.BASE_DIR)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "clinic", "worker", "-Q", queue, "--pool", "solo", "-l", "WARNING"],
        env=env,
        cwd=cwd,
    )
    try:
        command = [
            sys.executable,
            "manage.py",
            "synthesize",
            "--name",
            "via-worker",
            "--n",
            "30",
            "--threshold",
            "none",
        ]
        done = subprocess.run(
            [*command, "--enqueue", "--wait", "--queue", queue, "--timeout", "150"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=200,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"queued on `{queue}`" in done.stdout and '"stored": 30' in done.stdout
        dataset = Dataset.objects.get(name="via-worker")
        assert dataset.state == "ready" and dataset.examples.count() == 30
        assert dataset.progress["phase"] == "store"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
