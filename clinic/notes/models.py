"""Encounters, generated notes, their revisions, signatures, ratings and the audit trail.

Nothing a reviewer wrote is overwritten in place: every section edit appends a NoteRevision,
and `Note.version` is the optimistic-locking counter that the browser and the API send back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import QuerySet

from inference.schema import SECTION_KEYS as SECTIONS  # re-exported: views and tasks import them from here
from inference.schema import SECTION_NAMES


class EncounterQuerySet(models.QuerySet["Encounter"]):
    def visible_to(self, user: object) -> QuerySet[Encounter]:
        """The one ownership rule: clinicians see their own encounters, staff see all."""
        if getattr(user, "is_staff", False):
            return self.all()
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)


class Encounter(models.Model):
    class Source(models.TextChoices):
        PASTE = "paste", "Pasted text"
        TEXT = "txt", "Text file"
        JSON = "json", "JSON file"
        VTT = "vtt", "WebVTT transcript"
        SRT = "srt", "SRT transcript"
        API = "api", "API"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="encounters")
    title = models.CharField(max_length=200, blank=True)
    dialogue_raw = models.TextField(help_text="The dialogue exactly as pasted or uploaded.")
    turns = models.JSONField(help_text="Parsed dialogue: a list of {speaker, text}.")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PASTE)
    filename = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EncounterQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or f"Encounter {self.pk}"


class Note(models.Model):
    """The current text of an encounter's note; history lives in NoteRevision."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for generation"
        DRAFT = "draft", "Draft"
        SIGNED = "signed", "Signed"

    encounter = models.OneToOneField(Encounter, on_delete=models.CASCADE, related_name="note")
    S = models.TextField(blank=True)
    O = models.TextField(blank=True)  # noqa: E741 - the contract's section key
    A = models.TextField(blank=True)
    P = models.TextField(blank=True)
    generated = models.JSONField(null=True, blank=True, help_text="The note exactly as the model produced it.")
    model_version = models.ForeignKey(
        "mlops.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    model_reference = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    version = models.PositiveIntegerField(default=0, help_text="Optimistic-locking counter; bumps on every change.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    generated_at = models.DateTimeField(null=True, blank=True)

    def sections(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in SECTIONS}

    def __str__(self) -> str:
        return f"Note for {self.encounter}"


class GenerationJob(models.Model):
    """One attempt to generate a note; failed attempts stay for the record and can be retried."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        GENERATING = "generating", "Generating"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED, db_index=True)
    partial_text = models.TextField(blank=True, help_text="Tokens generated so far, for the live view.")
    tokens = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    backend = models.CharField(max_length=32, blank=True)
    model_reference = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class NoteRevision(models.Model):
    class Kind(models.TextChoices):
        GENERATED = "generated", "Generated"
        EDIT = "edit", "Edit"
        AMENDMENT = "amendment", "Amendment after signing"

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="revisions")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    section = models.CharField(max_length=1, choices=[(s, SECTION_NAMES[s]) for s in SECTIONS])
    before = models.TextField(blank=True)
    after = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.EDIT)
    reason = models.TextField(blank=True, help_text="Required for amendments.")
    note_version = models.PositiveIntegerField(help_text="Note.version after this revision.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]


class Signature(models.Model):
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    note_version = models.PositiveIntegerField()
    content = models.JSONField(help_text="The S/O/A/P text exactly as signed.")
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["signed_at"]


class Rating(models.Model):
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="ratings")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["note", "author"], name="one_rating_per_author"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="rating_1_to_5"),
        ]


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        CREATE = "create", "Created"
        GENERATE = "generate", "Generated"
        EDIT = "edit", "Edited"
        SIGN = "sign", "Signed"
        AMEND = "amend", "Amended"
        EXPORT = "export", "Exported"
        RATE = "rate", "Rated"
        PROMOTE = "promote", "Promoted model"
        ROLLBACK = "rollback", "Rolled back model"
        LOGIN_FAIL = "login_fail", "Failed sign-in"
        LOCKOUT = "lockout", "Sign-in locked out"
        SETTINGS = "settings", "Changed settings"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=10, choices=Action.choices, db_index=True)
    encounter = models.ForeignKey(Encounter, null=True, blank=True, on_delete=models.CASCADE, related_name="audit")
    detail = models.JSONField(default=dict, blank=True)
    via = models.CharField(max_length=8, default="web", help_text="web, api, admin or worker")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
