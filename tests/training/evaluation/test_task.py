"""The Celery evaluation task and the admin: Evaluation rows, report files, idempotence, failure."""

from __future__ import annotations

import json

import pytest

from clinic.mlops.models import Dataset, Evaluation, Example, ModelVersion
from clinic.mlops.tasks.evaluation import run_evaluation, run_evaluation_task
from tests.training.rewards.cases import BRONCHITIS, HYPERTENSION

from .test_harness import ScriptedBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def holdout():
    dataset = Dataset.objects.create(name="eval-holdout")
    for ex in (BRONCHITIS, HYPERTENSION):
        Example.objects.create(
            dataset=dataset,
            key=ex["key"],
            dialogue=ex["dialogue"],
            reference=ex["reference"],
            facts=ex["facts"],
            split="holdout",
        )
    Example.objects.create(dataset=dataset, key="train-only", dialogue=[], reference={}, split="train")
    return dataset


def test_task_stores_scores_report_and_version_metrics(holdout, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    version = ModelVersion.objects.create(name="cand", reference="scripted")
    evaluation = Evaluation.objects.create(model_version=version, model_reference="scripted", dataset_name=holdout.name)
    backend = ScriptedBackend([json.dumps(BRONCHITIS["reference"]), "garbage"])
    result = run_evaluation(evaluation, backend=backend)
    evaluation.refresh_from_db()
    assert result["examples"] == 2  # the holdout split only
    assert evaluation.state == Evaluation.State.DONE
    assert evaluation.scores["json_valid"]["mean"] == 0.5
    assert evaluation.scores["sections"]["S"]["mean"] == 0.5
    assert evaluation.scores["unsupported_per_note"]["n"] == 1
    assert "Total reward" in evaluation.report_markdown
    assert (tmp_path / "reports" / f"evaluation-{evaluation.pk}" / "sections.png").exists()
    version.refresh_from_db()
    assert version.metrics[f"eval:{holdout.name}"]["total"] == pytest.approx(2.5)


def test_task_is_idempotent_and_tolerates_missing_rows(holdout):
    done = Evaluation.objects.create(model_reference="x", dataset_name=holdout.name, state=Evaluation.State.DONE)
    assert run_evaluation_task(done.pk)["skipped"] == "already done"
    assert run_evaluation_task(999_999) is None


def test_bad_dataset_marks_the_evaluation_failed(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    evaluation = Evaluation.objects.create(model_reference="x", dataset_name="no-such-dataset")
    with pytest.raises(ValueError):
        run_evaluation(evaluation, backend=ScriptedBackend([]))
    evaluation.refresh_from_db()
    assert evaluation.state == Evaluation.State.FAILED
    assert "neither a file nor a public dataset" in evaluation.error


def test_admin_shows_report_and_queues_on_create(
    admin_client, holdout, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    settings.VAR_DIR = tmp_path
    evaluation = Evaluation.objects.create(model_reference="scripted", dataset_name=holdout.name)
    run_evaluation(evaluation, backend=ScriptedBackend([json.dumps(BRONCHITIS["reference"])] * 2))
    page = admin_client.get(f"/admin/mlops/evaluation/{evaluation.pk}/change/")
    assert page.status_code == 200
    assert b"data:image/png;base64," in page.content and b"Total reward" in page.content
    listing = admin_client.get("/admin/mlops/evaluation/")
    assert b"3.000" in listing.content  # 5 for its own note, 1 for the other case's note

    sent = []
    monkeypatch.setattr(
        "clinic.mlops.tasks.evaluation.run_evaluation_task.apply_async", lambda args, queue: sent.append((args, queue))
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/mlops/evaluation/add/",
            {"model_reference": "default", "dataset_name": "aci-bench:valid", "config": '{"limit": 2}'},
        )
    assert response.status_code == 302
    created = Evaluation.objects.latest("pk")
    assert sent == [([created.pk], "training")]
    assert created.state == Evaluation.State.QUEUED
