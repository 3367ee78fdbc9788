"""Model registry: the evaluation gate, audited promotion, one-step rollback, admin actions."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from clinic.mlops import registry
from clinic.mlops.models import Evaluation, ModelVersion
from clinic.notes.models import AuditEvent
from clinic.notes.services import active_model_reference

pytestmark = pytest.mark.django_db


def _evaluate(version: ModelVersion, means: dict[str, float], *, half: float = 0.05, dataset: str = "holdout") -> None:
    sections = {k: {"mean": m, "low": m - half, "high": m + half} for k, m in means.items()}
    Evaluation.objects.create(
        model_version=version,
        model_reference=version.reference,
        dataset_name=dataset,
        state=Evaluation.State.DONE,
        scores={"sections": sections, "total": {"mean": sum(means.values())}, "json_valid": 1.0},
    )


SAME = {"S": 0.6, "O": 0.5, "A": 0.4, "P": 0.5}


def test_first_promotion_needs_only_a_finished_evaluation(versions, admin_user) -> None:
    base, _ = versions
    with pytest.raises(registry.PromotionBlocked, match="no finished evaluation"):
        registry.promote(base, admin_user)
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    base.refresh_from_db()
    assert base.state == "active" and base.promoted_at is not None
    assert active_model_reference() == base.reference


def test_candidate_within_intervals_is_promoted_and_previous_retired(versions, admin_user) -> None:
    base, cand = versions
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    _evaluate(cand, {**SAME, "A": 0.36})  # worse, but inside the active model's interval
    gate = registry.promote(cand, admin_user)
    assert gate.allowed and len(gate.comparisons) == 4
    base.refresh_from_db()
    assert (base.state, cand.state) == ("retired", "active")
    assert active_model_reference() == cand.reference
    event = AuditEvent.objects.filter(action="promote").first()
    assert event.actor == admin_user and event.detail["previous_id"] == base.pk and event.detail["forced"] is False


def test_section_worse_beyond_its_interval_blocks_promotion(versions, admin_user) -> None:
    base, cand = versions
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    _evaluate(cand, {**SAME, "S": 0.9, "P": 0.3})  # better S does not buy a worse P
    with pytest.raises(registry.PromotionBlocked, match=r"section P mean 0\.300 is below") as info:
        registry.promote(cand, admin_user)
    assert not info.value.gate.allowed
    cand.refresh_from_db()
    assert cand.state == "candidate" and active_model_reference() == base.reference
    assert AuditEvent.objects.filter(action="promote").count() == 1


def test_gate_needs_a_common_dataset(versions, admin_user) -> None:
    base, cand = versions
    _evaluate(base, SAME, dataset="synthetic-holdout")
    registry.promote(base, admin_user)
    _evaluate(cand, SAME, dataset="clinician-holdout")
    gate = registry.check_gate(cand)
    assert not gate.allowed and "share no evaluated dataset" in gate.reasons[0]


def test_gate_checks_every_common_dataset(versions, admin_user) -> None:
    base, cand = versions
    for dataset in ("synthetic-holdout", "clinician-feedback"):
        _evaluate(base, SAME, dataset=dataset)
    registry.promote(base, admin_user)
    _evaluate(cand, SAME, dataset="synthetic-holdout")
    _evaluate(cand, {**SAME, "O": 0.1}, dataset="clinician-feedback")
    gate = registry.check_gate(cand)
    assert not gate.allowed and any(r.startswith("clinician-feedback: section O") for r in gate.reasons)


def test_forced_promotion_needs_a_reason_and_is_audited(versions, admin_user) -> None:
    base, cand = versions
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    _evaluate(cand, {**SAME, "P": 0.1})
    with pytest.raises(registry.RegistryError, match="needs a reason"):
        registry.promote(cand, admin_user, force=True)
    registry.promote(cand, admin_user, force=True, reason="holdout is stale; clinicians asked for it")
    event = AuditEvent.objects.filter(action="promote").first()
    assert event.detail["forced"] is True and event.detail["gate"]["allowed"] is False
    assert event.detail["reason"].startswith("holdout is stale")


def test_rollback_goes_back_one_version_then_to_default(versions, admin_user, settings) -> None:
    settings.SOAP_MODEL = ""
    base, cand = versions
    _evaluate(base, SAME)
    _evaluate(cand, SAME)
    registry.promote(base, admin_user)
    registry.promote(cand, admin_user)
    assert registry.rollback(admin_user, reason="bad notes").pk == base.pk
    assert active_model_reference() == base.reference
    cand.refresh_from_db()
    assert cand.state == "retired"
    assert registry.rollback(admin_user) is None
    assert active_model_reference() is None
    with pytest.raises(registry.RegistryError, match="no active model"):
        registry.rollback(admin_user)
    events = list(AuditEvent.objects.filter(action="rollback").order_by("id"))
    assert [e.detail["rolled_back"] for e in events] == ["cand", "base"]


def test_at_most_one_active_version(versions) -> None:
    base, cand = versions
    ModelVersion.objects.filter(pk=base.pk).update(state="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=cand.pk).update(state="active")


def test_promoting_the_active_version_is_refused(versions, admin_user) -> None:
    base, _ = versions
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    with pytest.raises(registry.RegistryError, match="already the active model"):
        registry.promote(base, admin_user)


def test_admin_actions_promote_and_roll_back(versions, admin_user, client) -> None:
    base, cand = versions
    _evaluate(base, SAME)
    client.force_login(admin_user)
    url = reverse("admin:mlops_modelversion_changelist")
    response = client.post(url, {"action": "promote_selected", "_selected_action": [base.pk]}, follow=True)
    assert "is now active" in response.content.decode()
    base.refresh_from_db()
    assert base.state == "active"
    response = client.post(url, {"action": "promote_selected", "_selected_action": [cand.pk]}, follow=True)
    assert "no finished evaluation" in response.content.decode()
    response = client.post(url, {"action": "rollback_active", "_selected_action": [base.pk]}, follow=True)
    assert "Rolled back" in response.content.decode()
    assert AuditEvent.objects.filter(action="rollback", via="admin").count() == 1


def test_admin_promote_page_shows_gate_and_forces_with_reason(versions, admin_user, client) -> None:
    base, cand = versions
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    _evaluate(cand, {**SAME, "P": 0.1})
    client.force_login(admin_user)
    url = reverse("admin:mlops_modelversion_promote", args=[cand.pk])
    page = client.get(url).content.decode()
    assert "BLOCKED" in page and "section P mean 0.100" in page
    assert "needs a reason" in client.post(url, {"force": "on", "reason": ""}).content.decode()
    client.post(url, {"force": "on", "reason": "urgent fix"})
    cand.refresh_from_db()
    assert cand.state == "active"


def test_job_queued_before_promotion_runs_on_the_promoted_model(versions, admin_user, alice, fake_engine) -> None:
    """Generation reads the active reference when the task starts: no restart, no lost job."""
    from clinic.notes.models import GenerationJob
    from clinic.notes.tasks import generate_note_task
    from tests.clinic.conftest import make_encounter

    base, cand = versions
    _evaluate(base, SAME)
    _evaluate(cand, SAME)
    registry.promote(base, admin_user)
    first = GenerationJob.objects.create(encounter=make_encounter(alice))
    queued = GenerationJob.objects.create(encounter=make_encounter(alice))
    generate_note_task.apply(args=[first.pk])
    registry.promote(cand, admin_user)
    generate_note_task.apply(args=[queued.pk])
    assert [call["model"] for call in fake_engine.calls] == [base.reference, cand.reference]
    queued.refresh_from_db()
    assert queued.state == "done"


def test_scores_from_harness_summary_drop_nan_and_group_sections() -> None:
    from training.evaluation import bootstrap_ci

    summary = {k: bootstrap_ci([0.5, 0.7]).as_dict() for k in "SOAP"}
    summary["fact_recall"] = bootstrap_ci([]).as_dict()
    scores = registry.scores_from_summary(summary)
    assert scores["fact_recall"]["mean"] is None
    assert registry.section_score(scores, "S")["mean"] == pytest.approx(0.6)
    assert registry.section_score({"S": bootstrap_ci([]).as_dict()}, "S") is None


def test_unscored_section_blocks_rather_than_passes(versions, admin_user) -> None:
    base, cand = versions
    _evaluate(base, SAME)
    registry.promote(base, admin_user)
    Evaluation.objects.create(
        model_version=cand, model_reference="x", dataset_name="holdout", state="done", scores={"sections": {}}
    )
    gate = registry.check_gate(cand)
    assert not gate.allowed and "section S missing" in gate.reasons[0]


def _tiny_checkpoint(directory, *, nan: bool):
    import torch
    from safetensors.torch import save_file

    directory.mkdir()
    weight = torch.ones(4, 4)
    if nan:
        weight[1, 2] = float("nan")
    save_file({"lm_head.weight": weight, "steps": torch.tensor([3])}, str(directory / "model.safetensors"))
    return str(directory)


def test_a_checkpoint_with_nan_weights_is_never_registered_or_promoted(tmp_path, admin_user) -> None:
    good = registry.register_checkpoint("run1-step1", _tiny_checkpoint(tmp_path / "step-1", nan=False))
    assert good.reference.endswith("step-1")
    bad_dir = _tiny_checkpoint(tmp_path / "step-2", nan=True)
    with pytest.raises(registry.NonFiniteWeights, match="lm_head.weight.*1 non-finite"):
        registry.register_checkpoint("run1-step2", bad_dir)
    assert not ModelVersion.objects.filter(name="run1-step2").exists()
    smuggled = ModelVersion.objects.create(name="smuggled", reference=bad_dir)  # registered before this check
    _evaluate(smuggled, SAME)
    with pytest.raises(registry.NonFiniteWeights):
        registry.promote(smuggled, admin_user, force=True, reason="trust me")
    smuggled.refresh_from_db()
    assert smuggled.state != "active"


def test_fresh_registry_records_the_shipped_default_as_active_and_can_return_to_it(admin_user) -> None:
    default = registry.ensure_default_version()
    assert default is not None and default.state == "active" and default.reference == "default"
    assert registry.ensure_default_version() is None and ModelVersion.objects.count() == 1  # only once
    assert active_model_reference() == "default"
    candidate = ModelVersion.objects.create(name="run-7 step 40", reference="/ckpt/run-7/step-40")
    _evaluate(default, SAME)  # the gate compares both on the same holdout, the default included
    _evaluate(candidate, SAME)
    registry.promote(candidate, admin_user)
    assert active_model_reference() == "/ckpt/run-7/step-40"
    assert registry.rollback(admin_user) == default
    assert active_model_reference() == "default"
