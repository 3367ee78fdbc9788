"""Model registry: the evaluation gate, promotion and one-step rollback, all audited.

Promotion is one transaction that retires the active ModelVersion and activates the candidate
(the `at_most_one_active_model` constraint makes a second active row impossible). Generation
reads the active reference at the start of each task (`active_model_reference()`), so the next
note comes from the promoted model with no restart, and jobs already queued are not lost: they
simply run on whichever model is active when they start.

The gate compares the candidate's and the active model's latest finished Evaluations on every
dataset both were evaluated on (the synthetic holdout, and the clinician holdout when there is
enough clinician data to evaluate): a section blocks promotion when the candidate's mean is
below the active model's 95% interval (worse beyond the interval). With no active model, any
candidate with a finished evaluation passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.mlops.models import Evaluation, ModelVersion
from inference.schema import SECTION_KEYS


class RegistryError(Exception):
    """A registry action cannot be done; the message says why and what to do."""


class NonFiniteWeights(RegistryError):
    """The checkpoint holds NaN or infinite weights (a diverged run): it can never be registered or promoted."""


def check_finite_weights(reference: str) -> None:
    """Raise NonFiniteWeights when the local checkpoint at `reference` holds a NaN or infinite weight.

    A reference that is not a local directory (a hub id, a served model's name) is not ours to
    read and passes. Reads .safetensors and .bin weight files tensor by tensor.
    """
    root = Path(reference)
    if not root.is_dir():
        return
    files = sorted(root.glob("*.safetensors")) or sorted(root.glob("pytorch_model*.bin"))
    for path in files:
        for name, tensor in _tensors(path):
            if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
                bad = int((~tensor.isfinite()).sum())
                raise NonFiniteWeights(
                    f"{reference}: tensor {name!r} in {path.name} has {bad} non-finite values (NaN or inf); "
                    "the run diverged. Use an earlier checkpoint or retrain with a lower learning rate."
                )


def _tensors(path: Path) -> Iterator[tuple[str, Any]]:
    import torch  # heavy: only when a checkpoint is registered or promoted

    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                yield name, handle.get_tensor(name)
    else:
        yield from torch.load(path, map_location="cpu", weights_only=True).items()


def register_checkpoint(name: str, reference: str, **fields: Any) -> ModelVersion:
    """Create or update the candidate ModelVersion `name` for a checkpoint, after checking its weights."""
    check_finite_weights(reference)
    version, _ = ModelVersion.objects.update_or_create(name=name, defaults={"reference": reference, **fields})
    return version


class PromotionBlocked(RegistryError):
    """The gate found a regression (or no evaluation to judge by); `gate` holds the comparison."""

    def __init__(self, message: str, gate: GateResult) -> None:
        super().__init__(message)
        self.gate = gate


@dataclass
class SectionComparison:
    dataset: str
    section: str
    candidate: dict[str, float]
    active: dict[str, float]
    regressed: bool


@dataclass
class GateResult:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    comparisons: list[SectionComparison] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reasons": self.reasons,
            "comparisons": [c.__dict__ for c in self.comparisons],
        }


DEFAULT_VERSION_NAME = "default"


def ensure_default_version() -> ModelVersion | None:
    """On a registry that has never held a version, record the shipped default as the active one.

    The default model (the base with the project's trained adapter, `inference.models.fetch_default`)
    is what generation uses with no active version; recording it makes the registry show what drafts
    notes from the first start, lets a candidate be promoted over it with the usual gate, and lets a
    rollback return to it. Returns the created version, or None when the registry already had one.
    """
    from inference.models import DEFAULT_MODEL_REF, default_adapter

    with transaction.atomic():
        if ModelVersion.objects.select_for_update().exists():
            return None
        adapter = default_adapter()
        return ModelVersion.objects.create(
            name=DEFAULT_VERSION_NAME,
            reference=DEFAULT_MODEL_REF,
            state=ModelVersion.State.ACTIVE,
            promoted_at=timezone.now(),
            metrics={"adapter": adapter.name if adapter else None, "note": "base model + shipped LoRA adapter"},
        )


def active_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(state=ModelVersion.State.ACTIVE).first()


def section_score(scores: dict[str, Any], key: str) -> dict[str, float] | None:
    """{"mean", "low", "high"} for one section from an Evaluation.scores dict.

    Accepts the agreed shape (`scores["sections"][key] = {"mean", "low", "high"}`) and the
    tolerated variants `{"mean", "ci": [low, high]}` or a section at the top level. A bare
    number counts as a zero-width interval.
    """
    value = (scores.get("sections") or {}).get(key, scores.get(key))
    if value is None:
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else {"mean": float(value), "low": float(value), "high": float(value)}
    if value.get("mean") is None or value.get("n") == 0 or math.isnan(float(value["mean"])):
        return None  # the section was never scored (no examples): not evidence either way
    mean = float(value["mean"])
    if "ci" in value:
        low, high = value["ci"]
    else:
        low, high = value.get("low", mean), value.get("high", mean)
    return {"mean": mean, "low": float(low), "high": float(high)}


def scores_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Evaluation.scores from a `training.evaluation` summary: NaN becomes null (PostgreSQL's jsonb
    rejects NaN) and the four sections are also grouped under "sections", the shape the gate reads."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    scores = clean(dict(summary))
    scores["sections"] = {key: scores[key] for key in SECTION_KEYS if key in scores}
    return scores


def latest_evaluations(version: ModelVersion) -> dict[str, Evaluation]:
    """The newest finished Evaluation of a version, per dataset name."""
    latest: dict[str, Evaluation] = {}
    for evaluation in version.evaluations.filter(state=Evaluation.State.DONE).order_by("created_at", "pk"):
        latest[evaluation.dataset_name] = evaluation
    return latest


def check_gate(candidate: ModelVersion, active: ModelVersion | None = None) -> GateResult:
    """Compare a candidate with the active model (or `active`) on their common evaluations."""
    active = active if active is not None else active_version()
    mine = latest_evaluations(candidate)
    if not mine:
        return GateResult(False, [f"{candidate.name} has no finished evaluation; evaluate it on the holdout first"])
    if active is None or active.pk == candidate.pk:
        return GateResult(True, ["no active model to compare with"])
    theirs = latest_evaluations(active)
    common = sorted(set(mine) & set(theirs))
    if not common:
        return GateResult(
            False,
            [
                f"{candidate.name} and {active.name} share no evaluated dataset "
                f"(candidate: {', '.join(sorted(mine))}; active: {', '.join(sorted(theirs)) or 'none'}); "
                "evaluate both on the same holdout"
            ],
        )
    result = GateResult(True)
    for dataset in common:
        for key in SECTION_KEYS:
            cand = section_score(mine[dataset].scores, key)
            act = section_score(theirs[dataset].scores, key)
            if cand is None or act is None:
                result.allowed = False
                result.reasons.append(f"section {key} missing from the {dataset} evaluation scores")
                continue
            regressed = cand["mean"] < act["low"]
            result.comparisons.append(SectionComparison(dataset, key, cand, act, regressed))
            if regressed:
                result.allowed = False
                result.reasons.append(
                    f"{dataset}: section {key} mean {cand['mean']:.3f} is below the active model's "
                    f"95% interval [{act['low']:.3f}, {act['high']:.3f}]"
                )
    if result.allowed:
        result.reasons.append(f"no section worse beyond its interval on {', '.join(common)}")
    return result


def promote(
    candidate: ModelVersion, actor: Any, *, force: bool = False, reason: str = "", via: str = "admin"
) -> GateResult:
    """Make `candidate` the active model; retire the current one. Audited as PROMOTE.

    Raises `PromotionBlocked` when the gate fails and `force` is not set; a forced promotion
    needs a reason, which the audit keeps beside the failed gate.
    """
    from clinic.notes.services import record_audit

    if force and not reason.strip():
        raise RegistryError("a forced promotion needs a reason (it is kept in the audit trail)")
    check_finite_weights(candidate.reference)  # not even `force` promotes a NaN model
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=candidate.pk)
        if locked.state == ModelVersion.State.ACTIVE:
            raise RegistryError(f"{locked.name} is already the active model")
        previous = (
            ModelVersion.objects.select_for_update().filter(state=ModelVersion.State.ACTIVE).exclude(pk=locked.pk)
        ).first()
        gate = check_gate(locked, previous)
        if not gate.allowed and not force:
            raise PromotionBlocked(f"promotion of {locked.name} blocked: " + "; ".join(gate.reasons), gate)
        if previous is not None:
            previous.state = ModelVersion.State.RETIRED
            previous.save(update_fields=["state"])
        locked.state = ModelVersion.State.ACTIVE
        locked.promoted_at = timezone.now()
        locked.save(update_fields=["state", "promoted_at"])
        record_audit(
            actor,
            "promote",
            via=via,
            model_version_id=locked.pk,
            model_version=locked.name,
            reference=locked.reference,
            previous_id=previous.pk if previous else None,
            previous=previous.name if previous else None,
            forced=bool(force and not gate.allowed),
            reason=reason,
            gate=gate.as_dict(),
        )
    candidate.refresh_from_db()
    return gate


def rollback(actor: Any, *, reason: str = "", via: str = "admin") -> ModelVersion | None:
    """Return to the version that was active before the current one, in one action. Audited as ROLLBACK.

    The previous version comes from the audit of the current version's promotion; when there
    was none, generation goes back to the configured default model (returns None).
    """
    from clinic.notes.models import AuditEvent
    from clinic.notes.services import record_audit

    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(state=ModelVersion.State.ACTIVE).first()
        if current is None:
            raise RegistryError("no active model to roll back from; promote a version first")
        event = (
            AuditEvent.objects.filter(action="promote", detail__model_version_id=current.pk)
            .order_by("-created_at", "-id")
            .first()
        )
        previous_id = event.detail.get("previous_id") if event else None
        if event is None:  # promoted outside the registry: fall back to the last one promoted before it
            fallback = (
                ModelVersion.objects.filter(promoted_at__isnull=False, promoted_at__lt=current.promoted_at)
                .exclude(pk=current.pk)
                .order_by("-promoted_at")
                .first()
                if current.promoted_at
                else None
            )
            previous_id = fallback.pk if fallback else None
        previous = ModelVersion.objects.select_for_update().filter(pk=previous_id).first() if previous_id else None
        current.state = ModelVersion.State.RETIRED
        current.save(update_fields=["state"])
        if previous is not None:
            previous.state = ModelVersion.State.ACTIVE
            previous.promoted_at = timezone.now()
            previous.save(update_fields=["state", "promoted_at"])
        record_audit(
            actor,
            "rollback",
            via=via,
            model_version_id=previous.pk if previous else None,
            model_version=previous.name if previous else None,
            rolled_back_id=current.pk,
            rolled_back=current.name,
            reason=reason,
        )
    return previous
