"""Datasets, training runs, model versions and evaluations (the admin's side of the product).

These rows hold plain JSON that `training/` and `inference/` produce and consume; ORM objects
never cross into those packages.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Dataset(models.Model):
    class Kind(models.TextChoices):
        SYNTHETIC = "synthetic", "Synthetic"
        CLINICIAN = "clinician", "Clinician (de-identified)"
        IMPORTED = "imported", "Imported"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SYNTHETIC)
    description = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="How it was made (seed, renderer, counts).")
    state = models.CharField(max_length=12, default="ready", help_text="queued, running, ready, failed")
    progress = models.JSONField(default=dict, blank=True, help_text="done, total, rate, eta for the admin.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Example(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        HOLDOUT = "holdout", "Holdout"

    class Source(models.TextChoices):
        SYNTHETIC = "synthetic", "Synthetic"
        CLINICIAN = "clinician", "Clinician"
        PUBLIC = "public", "Public dataset"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="examples")
    key = models.CharField(max_length=64, help_text="Stable id within the dataset; re-runs never duplicate it.")
    dialogue = models.JSONField(help_text="List of {speaker, text}.")
    reference = models.JSONField(help_text="Reference SOAP note {S, O, A, P}.")
    facts = models.JSONField(default=list, blank=True, help_text="Gold facts with their SOAP section.")
    specialty = models.CharField(max_length=100, blank=True, db_index=True)
    condition = models.CharField(max_length=200, blank=True, db_index=True)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SYNTHETIC)
    seed = models.BigIntegerField(null=True, blank=True)
    weight = models.FloatField(default=1.0)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "key"], name="example_key_unique_in_dataset")]


class ModelVersion(models.Model):
    class State(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=500, help_text="Model reference the inference loader resolves.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    training_run = models.ForeignKey(
        "TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    step = models.PositiveIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CANDIDATE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="at_most_one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class TrainingRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        GRPO = "grpo", "GRPO"
        SFT = "sft", "Supervised warm start"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.GRPO)
    preset = models.CharField(max_length=50, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Overrides on the preset, validated before start.")
    resolved_config = models.JSONField(default=dict, blank=True, help_text="The exact configuration the run used.")
    datasets = models.ManyToManyField(Dataset, blank=True, related_name="training_runs")
    base_model = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    mode = models.CharField(max_length=8, default="local", help_text="local or ray")
    celery_task_id = models.CharField(max_length=64, blank=True)
    ray_job_id = models.CharField(max_length=100, blank=True)
    output_dir = models.CharField(max_length=500, blank=True)
    last_checkpoint = models.CharField(max_length=500, blank=True)
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Stamped by the worker while it runs; stale means the worker died."
    )

    def __str__(self) -> str:
        return f"{self.name} [{self.state}]"


class TrainingStep(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    metrics = models.JSONField(help_text="Reward mean/std per section and total, KL, clip fraction, ...")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="one_metrics_row_per_step")]


class Evaluation(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="evaluations"
    )
    model_reference = models.CharField(max_length=500)
    dataset_name = models.CharField(max_length=200, help_text="A Dataset name or a public dataset reference.")
    config = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    scores = models.JSONField(default=dict, blank=True, help_text="Per-section means with 95% intervals, validity.")
    report_markdown = models.TextField(blank=True)
    report_dir = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)


class PreferencePair(models.Model):
    """A generated note and the note its clinician signed: reward data from real use."""

    example = models.OneToOneField(Example, on_delete=models.CASCADE, related_name="preference")
    generated = models.JSONField()
    signed = models.JSONField()
    edit_stats = models.JSONField(default=dict, blank=True, help_text="Per-section change ratio and chars changed.")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
