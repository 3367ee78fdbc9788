"""Admin for the model registry (promote, forced promote, rollback) and clinician preference pairs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from clinic.mlops import registry
from clinic.mlops.models import ModelVersion, PreferencePair


class PromoteForm(forms.Form):
    force = forms.BooleanField(
        required=False, help_text="Promote even though the gate failed (audited with your reason)."
    )
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("force") and not (data.get("reason") or "").strip():
            raise forms.ValidationError("A forced promotion needs a reason; it is kept in the audit trail.")
        return data


@admin.action(description="Promote selected candidate (evaluation gate applies)")
def promote_selected(modeladmin: ModelVersionAdmin, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one model version to promote.", messages.ERROR)
        return
    candidate = queryset.get()
    try:
        gate = registry.promote(candidate, request.user, via="admin")
    except registry.PromotionBlocked as exc:
        modeladmin.message_user(request, f"{exc} Use 'Promote…' on the version's page to force it.", messages.ERROR)
        return
    except registry.RegistryError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    modeladmin.message_user(request, f"{candidate.name} is now active ({'; '.join(gate.reasons)}).", messages.SUCCESS)


@admin.action(description="Roll back the active model to the previous version")
def rollback_active(modeladmin: ModelVersionAdmin, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
    try:
        previous = registry.rollback(request.user, via="admin")
    except registry.RegistryError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    target = previous.name if previous else "the default model (no active version)"
    modeladmin.message_user(request, f"Rolled back: generation now uses {target}.", messages.SUCCESS)


class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "reference", "parent", "training_run", "step", "created_at", "promoted_at")
    list_filter = ("state",)
    search_fields = ("name", "reference")
    readonly_fields = ("state", "promoted_at", "created_at", "gate_summary", "promote_link")
    actions = [promote_selected, rollback_active]

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "<int:pk>/promote/",
                self.admin_site.admin_view(self.promote_view),
                name="mlops_modelversion_promote",
            )
        ]
        return extra + super().get_urls()

    @admin.display(description="Evaluation gate")
    def gate_summary(self, obj: ModelVersion) -> str:
        if obj.pk is None:
            return "-"
        gate = registry.check_gate(obj)
        return ("PASS: " if gate.allowed else "BLOCKED: ") + "; ".join(gate.reasons)

    @admin.display(description="Promote")
    def promote_link(self, obj: ModelVersion) -> str:
        if obj.pk is None or obj.state == ModelVersion.State.ACTIVE:
            return "-"
        return format_html('<a href="{}">Promote…</a>', reverse("admin:mlops_modelversion_promote", args=[obj.pk]))

    def promote_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Shows the gate's per-section comparison and promotes (or force-promotes with a reason)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        candidate = get_object_or_404(ModelVersion, pk=pk)
        form = PromoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            force = form.cleaned_data["force"]
            if force and not request.user.is_superuser:
                raise PermissionDenied("Only a superuser can force a promotion past the gate.")
            try:
                registry.promote(candidate, request.user, force=force, reason=form.cleaned_data["reason"], via="admin")
            except registry.RegistryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{candidate.name} is now active.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:mlops_modelversion_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promote {candidate.name}",
            "candidate": candidate,
            "active": registry.active_version(),
            "gate": registry.check_gate(candidate),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "mlops/promote.html", context)


class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ("id", "model_version", "edited", "sections_edited", "chars_changed", "created_at")
    list_filter = ("model_version",)
    readonly_fields = ("example", "generated", "signed", "edit_stats", "model_version", "created_at")

    @admin.display(boolean=True)
    def edited(self, obj: PreferencePair) -> bool:
        return bool(obj.edit_stats.get("edited"))

    @admin.display(description="Sections edited")
    def sections_edited(self, obj: PreferencePair) -> str:
        return ", ".join(obj.edit_stats.get("sections_edited", [])) or "-"

    @admin.display(description="Chars changed")
    def chars_changed(self, obj: PreferencePair) -> int:
        return int(obj.edit_stats.get("chars_changed", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # pairs come only from signed notes, after de-identification


for _model, _admin in ((ModelVersion, ModelVersionAdmin), (PreferencePair, PreferencePairAdmin)):
    if not admin.site.is_registered(_model):
        admin.site.register(_model, _admin)
