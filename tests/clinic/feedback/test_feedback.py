"""Signed notes become de-identified clinician examples and preference pairs."""

from __future__ import annotations

import io
import json

import pytest
from django.db.models.signals import pre_save

from clinic.mlops import feedback
from clinic.mlops.models import Dataset, Example, PreferencePair
from clinic.mlops.tasks.feedback import propose_training_run
from clinic.notes import services
from tests.clinic.feedback.conftest import IDENTIFIERS, make_generated
from tests.training.deid_suite import IDENTIFIER_CASES
from training.deid import Deidentifier

pytestmark = pytest.mark.django_db


def _leaks(blob: str, identifiers: list[str]) -> list[str]:
    return [i for i in identifiers if i.lower() in blob.lower()]


def test_signed_edited_note_becomes_deidentified_example_and_pair(signed_edited_note) -> None:
    example = Example.objects.get()
    assert example.dataset.kind == Dataset.Kind.CLINICIAN
    assert example.source == Example.Source.CLINICIAN
    assert example.reference["A"].startswith("Orthostatic hypotension in Mrs. [NAME-")
    assert example.reference["O"] == "BP 142/88 sitting, 118/70 standing. Pulse 78."
    assert [t["speaker"] for t in example.dialogue][:2] == ["doctor", "patient"]
    pair = PreferencePair.objects.get(example=example)
    assert pair.generated["A"] == "Dizziness."
    stats = pair.edit_stats
    assert stats["sections_edited"] == ["A"] and stats["edited"] is True
    assert stats["sections"]["A"]["chars_changed"] > 20 and stats["sections"]["S"]["chars_changed"] == 0
    assert 0 < stats["sections"]["A"]["change_ratio"] <= 1
    assert stats["seconds_to_sign"] >= 0
    stored = json.dumps([example.dialogue, example.reference, example.meta, pair.generated, pair.signed])
    assert _leaks(stored, IDENTIFIERS) == []


def test_same_person_gets_same_placeholder_in_dialogue_and_reference(signed_edited_note) -> None:
    example = Example.objects.get()
    surname = example.reference["A"].split("Mrs. ")[1].rstrip(".")
    assert f"Mrs. {surname}" in example.dialogue[0]["text"]
    assert surname in example.reference["S"]


def test_scrubbed_export_contains_none_of_the_suite_identifiers(alice, sign) -> None:
    lines = [f"{'Patient' if i % 2 else 'Doctor'}: {text}" for i, (text, _) in enumerate(IDENTIFIER_CASES)]
    suite_ids = [identifier for _, ids in IDENTIFIER_CASES for identifier in ids]
    generated = {"S": " ".join(t for t, _ in IDENTIFIER_CASES[:20]), "O": "BP 120/80.", "A": "Well.", "P": "Return."}
    note = make_generated(alice, "\n".join(lines) + "\n", generated)
    services.edit_section(note, "P", " ".join(t for t, _ in IDENTIFIER_CASES[20:]), author=alice, base_version=1)
    sign(note, alice)
    out = io.StringIO()
    assert feedback.export_jsonl(feedback.clinician_dataset(), out) == 1
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert set(records[0]) == set(feedback.EXPORT_FIELDS)
    content = json.dumps([{k: v for k, v in r.items() if k != "key"} for r in records])
    assert _leaks(content, suite_ids) == []
    assert "[NAME-" in content and "[PHONE-" in content and "[DATE-" in content


def test_nothing_unscrubbed_reaches_a_row_even_transiently(alice, sign) -> None:
    """The scrub happens before the Example is built: every save sees scrubbed text only."""
    seen: list[str] = []

    def capture(sender, instance, **kwargs):
        seen.append(json.dumps([getattr(instance, f, None) for f in ("dialogue", "reference", "generated", "signed")]))

    pre_save.connect(capture, sender=Example, dispatch_uid="t-ex")
    pre_save.connect(capture, sender=PreferencePair, dispatch_uid="t-pp")
    try:
        sign(make_generated(alice), alice)
    finally:
        pre_save.disconnect(sender=Example, dispatch_uid="t-ex")
        pre_save.disconnect(sender=PreferencePair, dispatch_uid="t-pp")
    assert len(seen) == 2
    assert all(_leaks(blob, IDENTIFIERS) == [] for blob in seen)


def test_failed_scrub_stores_nothing_and_signing_still_succeeds(alice, sign, monkeypatch, caplog) -> None:
    monkeypatch.setattr(Deidentifier, "scrub", lambda self, text: text)
    note = make_generated(alice)
    signature = sign(note, alice)
    assert signature.pk and note.status == "signed"
    assert not Example.objects.exists()
    assert "not added to training data" in caplog.text


def test_resigning_after_amendment_updates_the_same_example(signed_edited_note, alice, sign) -> None:
    note = signed_edited_note
    services.edit_section(note, "P", "Start fludrocortisone.", author=alice, base_version=note.version, reason="typo")
    sign(note, alice)
    example = Example.objects.get()
    assert example.reference["P"] == "Start fludrocortisone."
    assert PreferencePair.objects.get().edit_stats["sections_edited"] == ["A", "P"]


def test_unedited_note_counts_as_not_edited(alice, sign) -> None:
    sign(make_generated(alice), alice)
    stats = PreferencePair.objects.get().edit_stats
    assert stats["edited"] is False and stats["chars_changed"] == 0


def test_sweep_collects_notes_the_hook_missed(alice) -> None:
    note = make_generated(alice)
    services.sign_note(note, alice)  # post-commit hooks not run: the hook "missed" it
    assert not Example.objects.exists()
    assert feedback.collect_missing() == {"collected": 1, "failed": 0, "present": 0}
    assert feedback.collect_missing() == {"collected": 0, "failed": 0, "present": 1}
    assert Example.objects.count() == 1


def test_split_is_deterministic_and_key_hides_the_note_id(settings) -> None:
    key = feedback.example_key(12345)
    assert key == feedback.example_key(12345) and "12345" not in key
    settings.FEEDBACK_HOLDOUT_PERCENT = 100
    assert feedback.split_for(key) == "holdout"
    settings.FEEDBACK_HOLDOUT_PERCENT = 0
    assert feedback.split_for(key) == "train"


def test_edit_stats_without_generated_note_counts_everything_as_written() -> None:
    stats = feedback.edit_stats(None, {"S": "abc", "O": "", "A": "", "P": ""})
    assert stats["sections_edited"] == ["S"] and stats["sections"]["S"]["chars_changed"] == 3


def test_mixed_examples_weight_each_dataset(signed_edited_note, settings) -> None:
    Example.objects.update(split="train", weight=1.5)
    synthetic = Dataset.objects.create(name="synthetic-v1", kind=Dataset.Kind.SYNTHETIC)
    Example.objects.create(dataset=synthetic, key="s1", dialogue=[{"speaker": "doctor", "text": "Hi."}],
                           reference={"S": "", "O": "", "A": "", "P": ""})  # fmt: skip
    rows = feedback.mixed_examples({"synthetic-v1": 1.0, settings.FEEDBACK_DATASET: 2.0})
    assert sorted((r["source"], r["weight"]) for r in rows) == [("clinician", 3.0), ("synthetic", 1.0)]
    assert len(feedback.mixed_examples({"synthetic-v1": 0.0, settings.FEEDBACK_DATASET: 1.0})) == 1
    with pytest.raises(ValueError, match="no Dataset named nope"):
        feedback.mixed_examples({"nope": 1.0})


def test_run_proposal_is_off_by_default(signed_edited_note) -> None:
    assert propose_training_run()["proposed"] is False


def test_run_proposed_once_enough_new_signed_notes(alice, sign, settings) -> None:
    settings.FEEDBACK_AUTO_PROPOSE = True
    settings.FEEDBACK_MIN_NEW_EXAMPLES = 2
    settings.FEEDBACK_HOLDOUT_PERCENT = 0
    sign(make_generated(alice), alice)
    assert propose_training_run() == {"proposed": False, "reason": "1 new clinician examples, need 2"}
    sign(make_generated(alice), alice)
    result = propose_training_run()
    assert result["proposed"] is True and result["new_examples"] == 2
    assert propose_training_run()["proposed"] is False  # nothing new since that proposal
    from clinic.mlops.models import TrainingRun

    run = TrainingRun.objects.get(pk=result["run_id"])
    assert run.state == "queued" and run.config == {} and "Not started" in run.log
    assert result["dataset_weights"] == {settings.FEEDBACK_DATASET: 1.0}
    assert [d.name for d in run.datasets.all()] == [settings.FEEDBACK_DATASET]


def test_weighted_training_set_repeats_examples_by_weight(settings) -> None:
    clinician = Dataset.objects.create(name=settings.FEEDBACK_DATASET, kind=Dataset.Kind.CLINICIAN)
    synthetic = Dataset.objects.create(name="synthetic-v1", kind=Dataset.Kind.SYNTHETIC)
    note = {"S": "s", "O": "o", "A": "a", "P": "p"}
    turns = [{"speaker": "doctor", "text": "Hi."}]
    for i in range(10):
        Example.objects.create(dataset=synthetic, key=f"s{i}", dialogue=turns, reference=note)
    Example.objects.create(dataset=clinician, key="c0", dialogue=turns, reference=note, source="clinician")
    rows = feedback.weighted_training_set({"synthetic-v1": 0.5, settings.FEEDBACK_DATASET: 3.0}, seed=1)
    keys = [r["key"] for r in rows]
    assert keys.count("c0") == 1 and {"c0#2", "c0#3"} <= set(keys)
    assert 1 <= sum(k.startswith("s") for k in keys) <= 9
    assert rows == feedback.weighted_training_set({"synthetic-v1": 0.5, settings.FEEDBACK_DATASET: 3.0}, seed=1)
    assert all("weight" not in r for r in rows)


def test_long_dialogue_is_collected_by_the_task_not_the_request(alice, sign, settings) -> None:
    from clinic.celery import app

    settings.FEEDBACK_INLINE_MAX_CHARS = 10
    app.conf.task_always_eager = True
    try:
        sign(make_generated(alice), alice)
    finally:
        app.conf.task_always_eager = False
    example = Example.objects.get()
    assert example.source == "clinician" and "Kowalczyk" not in json.dumps(example.dialogue)
