"""TrainingRun admin: launch with a preset + overrides (validated before start), live charts, cancel."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from clinic.mlops.models import TrainingRun
from clinic.mlops.tasks.training import launch
from training.config import PRESETS, ConfigError, build_config


class TrainingRunForm(forms.ModelForm):
    preset = forms.ChoiceField(choices=[(p, p) for p in sorted(PRESETS)], initial="tiny-cpu")

    class Meta:
        model = TrainingRun
        fields = ("name", "kind", "preset", "config", "datasets", "base_model", "mode")
        help_texts = {"config": 'Overrides on the preset, e.g. {"steps": 5, "sft_steps": 2, "beta": 0}. '
                                "`python -m training.train --help-config` lists every setting."}  # fmt: skip

    def clean(self):
        data = super().clean()
        if not isinstance(data.get("config") or {}, dict):  # checked first: dict() of a list is a 500
            raise forms.ValidationError('config must be a JSON object of setting: value, e.g. {"steps": 5}.')
        overrides = dict(data.get("config") or {})
        overrides.setdefault("kind", data.get("kind") or "grpo")
        overrides.setdefault("mode", data.get("mode") or "local")
        try:
            build_config(data.get("preset"), overrides)
        except ConfigError as exc:
            raise forms.ValidationError(f"Invalid training configuration: {exc}") from None
        return data


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    form = TrainingRunForm
    list_display = ("name", "kind", "preset", "state", "progress", "mode", "created_at")
    list_filter = ("state", "kind", "mode")
    search_fields = ("name",)
    readonly_fields = ("state", "progress", "cancel_requested", "output_dir", "last_checkpoint", "error",
                       "resolved_config", "started_at", "finished_at", "live", "log")  # fmt: skip
    actions = ("cancel_runs", "relaunch_runs")

    def get_fields(self, request, obj=None):
        base = ["name", "kind", "preset", "config", "datasets", "base_model", "mode"]
        return base if obj is None else base + list(self.readonly_fields)

    @admin.display(description="progress")
    def progress(self, obj: TrainingRun) -> str:
        return f"{obj.current_step} / {obj.total_steps or '?'}"

    @admin.display(description="live")
    def live(self, obj: TrainingRun) -> str:
        if not obj.pk:
            return "-"
        return format_html('<a href="{}">charts and metrics</a>', reverse("mlops:training_run_live", args=[obj.pk]))

    def save_model(self, request, obj, form, change) -> None:
        obj.preset = form.cleaned_data["preset"]
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            launch(obj)
            self.message_user(request, f"{obj.name}: queued on the training queue", messages.SUCCESS)

    @admin.action(description="Cancel (stops after the current step, keeps the last checkpoint)")
    def cancel_runs(self, request, queryset) -> None:
        n = queryset.exclude(state__in=["succeeded", "failed", "cancelled"]).update(cancel_requested=True)
        self.message_user(request, f"cancel requested for {n} run(s)", messages.SUCCESS)

    @admin.action(description="Resume / relaunch (continues from the last checkpoint)")
    def relaunch_runs(self, request, queryset) -> None:
        for run in queryset:
            TrainingRun.objects.filter(pk=run.pk).update(state="queued", cancel_requested=False, error="")
            launch(run)
        self.message_user(request, f"{queryset.count()} run(s) queued", messages.SUCCESS)
