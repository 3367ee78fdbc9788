"""Admin for encounters and notes: read-mostly, because edits go through services (revisions, audit)."""

from __future__ import annotations

from django.contrib import admin

from clinic.notes.models import AuditEvent, Encounter, GenerationJob, Note, NoteRevision, Rating, Signature


class NoteInline(admin.StackedInline):
    model = Note
    extra = 0
    can_delete = False
    readonly_fields = ("S", "O", "A", "P", "generated", "model_reference", "status", "version", "generated_at")
    exclude = ("model_version",)


class JobInline(admin.TabularInline):
    model = GenerationJob
    extra = 0
    can_delete = False
    fields = ("state", "tokens", "error", "retryable", "backend", "created_at", "finished_at")
    readonly_fields = fields


@admin.register(Encounter)
class EncounterAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "source", "created_at")
    list_filter = ("source", "note__status")
    search_fields = ("title", "dialogue_raw", "owner__username")
    readonly_fields = ("turns", "dialogue_raw", "source", "filename", "created_at", "updated_at")
    inlines = (NoteInline, JobInline)


@admin.register(NoteRevision)
class NoteRevisionAdmin(admin.ModelAdmin):
    list_display = ("note", "section", "kind", "author", "note_version", "created_at")
    list_filter = ("kind", "section")

    def has_change_permission(self, request, obj=None) -> bool:  # history is append-only
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "encounter", "via")
    list_filter = ("action", "via")
    search_fields = ("actor__username",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.register(Signature)
admin.site.register(Rating)
