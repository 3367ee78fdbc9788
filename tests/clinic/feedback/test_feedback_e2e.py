"""End to end on CPU with the real default model: a signed, edited note -> de-identified dataset ->
a few training steps -> evaluation of the candidate -> promotion -> the next note comes from it.

Training uses the project's trainer (`training.grpo.loop.train`) in its supervised mode for one
step: the smallest real update of the weights that fits the suite's CPU budget (a GRPO step with
rollouts costs minutes here; the GRPO loop itself is tested in tests/training/grpo).
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from clinic.mlops import feedback, registry
from clinic.mlops.models import Evaluation, ModelVersion
from clinic.notes import services
from clinic.notes.models import GenerationJob, Note
from clinic.notes.tasks import generate_note_task
from tests.clinic.feedback.conftest import DIALOGUE, IDENTIFIERS

# transaction=True: the generation task's heartbeat thread writes through its own connection.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _changed(base_dir, checkpoint, name: str = "model.norm.weight") -> bool:
    """Whether one tensor differs between the base model and the checkpoint (read lazily, not loaded whole)."""
    import torch
    from safetensors import safe_open

    def tensor(directory):
        with safe_open(str(directory / "model.safetensors"), framework="pt") as fh:
            key = next(k for k in fh.keys() if k.endswith(name))  # noqa: SIM118 - safe_open has no __iter__
            return fh.get_tensor(key).float()

    return not torch.equal(tensor(base_dir), tensor(checkpoint))


@pytest.fixture
def checkpoint_dir():
    path = django_settings.VAR_DIR / "test" / f"feedback-e2e-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_signed_note_to_promoted_checkpoint(alice, admin_user, sign, default_model_dir, checkpoint_dir, settings):
    settings.SOAP_MAX_NEW_TOKENS = 256  # room for the base model's four sections to close at sentence ends
    settings.SOAP_MODEL = ""

    began = time.monotonic()
    # 1. The default model drafts a note; the clinician edits and signs it.
    encounter = services.create_encounter(alice, DIALOGUE)
    job = GenerationJob.objects.create(encounter=encounter)
    assert generate_note_task.apply(args=[job.pk]).get() == "done"
    note = Note.objects.get(encounter=encounter)
    assert note.model_reference == "default" and note.model_version is None
    services.edit_section(
        note, "A", "Orthostatic hypotension in Mrs. Kowalczyk.", author=alice, base_version=note.version
    )
    sign(note, alice)

    print(f"[feedback-e2e] {time.monotonic() - began:.1f}s")  # phase timings, shown with -s
    # 2. It is now a de-identified clinician example.
    dataset = feedback.clinician_dataset()
    examples = [feedback.example_to_dict(e) for e in dataset.examples.all()]
    assert len(examples) == 1 and examples[0]["source"] == "clinician"
    blob = str(examples)
    assert [i for i in IDENTIFIERS if i.lower() in blob.lower()] == []
    assert examples[0]["reference"]["A"].startswith("Orthostatic hypotension")

    print(f"[feedback-e2e] {time.monotonic() - began:.1f}s")  # phase timings, shown with -s
    # 3. Train on it with the project's trainer (training.grpo.loop, supervised phase: the CPU-sized
    #    run of this test), mixing the clinician data at weight 2 (two copies of the example).
    from training.config import build_config
    from training.grpo.loop import train

    mix = feedback.weighted_training_set({dataset.name: 2.0}, split="")
    assert len(mix) == 2
    overrides = {"kind": "sft", "steps": 1, "sft_batch_size": 2, "output_dir": str(checkpoint_dir)}
    run = train(build_config("tiny-cpu", {**overrides, "model": str(default_model_dir)}), mix)
    assert run.state == "succeeded" and run.last_checkpoint
    checkpoint = Path(run.last_checkpoint)
    assert (checkpoint / "config.json").is_file() and _changed(default_model_dir, checkpoint)
    candidate = ModelVersion.objects.create(name="feedback-e2e", reference=str(checkpoint))

    print(f"[feedback-e2e] {time.monotonic() - began:.1f}s")  # phase timings, shown with -s
    # 4. Evaluate the candidate on the clinician data with the real harness and reference judge.
    from training.evaluation import evaluate

    report = evaluate(candidate.reference, examples, judge="reference", constrained=True, max_new_tokens=256)
    summary = report.summary()
    Evaluation.objects.create(
        model_version=candidate,
        model_reference=candidate.reference,
        dataset_name=dataset.name,
        state=Evaluation.State.DONE,
        scores=registry.scores_from_summary(summary),
    )
    assert summary["json_valid"]["mean"] == 1.0

    print(f"[feedback-e2e] {time.monotonic() - began:.1f}s")  # phase timings, shown with -s
    # A note requested before the promotion is still queued: it must not be lost.
    next_encounter = services.create_encounter(alice, DIALOGUE)
    queued = GenerationJob.objects.create(encounter=next_encounter)

    # 5. Promote (audited); generation switches without a restart.
    gate = registry.promote(candidate, admin_user, reason="feedback e2e")
    assert gate.allowed
    assert services.active_model_reference() == str(checkpoint)

    print(f"[feedback-e2e] {time.monotonic() - began:.1f}s")  # phase timings, shown with -s
    # 6. The queued job runs after promotion and its note comes from the promoted checkpoint.
    assert generate_note_task.apply(args=[queued.pk]).get() == "done"
    fresh = Note.objects.get(encounter=next_encounter)
    assert fresh.model_reference == str(checkpoint)
    assert fresh.model_version == candidate
    assert all(fresh.sections()[k] is not None for k in "SOAP")
