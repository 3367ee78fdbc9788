"""Admin for datasets and examples: launch (or resume) synthesis, watch its progress, see statistics."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from clinic.mlops.models import Dataset, Example
from clinic.mlops.tasks.synthesis import launch
from training.synthesis import SynthesisConfig, SynthesisError


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "state", "progress_display", "example_count", "statistics", "updated_at")
    list_filter = ("kind", "state")
    search_fields = ("name", "description")
    readonly_fields = ("state", "progress_display", "error", "created_at", "updated_at", "statistics")
    actions = ("launch_synthesis",)
    fields = ("name", "kind", "description", "config", "state", "progress_display", "error", "statistics")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_examples=Count("examples"))

    @admin.display(description="examples", ordering="_examples")
    def example_count(self, obj: Dataset) -> int:
        return getattr(obj, "_examples", None) or obj.examples.count()

    @admin.display(description="progress")
    def progress_display(self, obj: Dataset) -> str:
        p = obj.progress or {}
        if not p:
            return "-"
        total = p.get("total") or 0
        done = p.get("done") or 0
        pct = 100 * done / total if total else 0
        eta = p.get("eta_seconds")
        eta_text = (
            f", ETA {eta // 60:.0f} min {eta % 60:.0f} s" if isinstance(eta, int | float) and done < total else ""
        )
        return format_html(
            "{}: {} / {} ({}%), {} per s{}", p.get("phase", ""), done, total, f"{pct:.0f}", p.get("rate", 0), eta_text
        )

    @admin.display(description="statistics")
    def statistics(self, obj: Dataset) -> str:
        if not obj.pk:
            return "-"
        return format_html('<a href="{}">report</a>', reverse("mlops:synthesis_stats", args=[obj.pk]))

    @admin.action(description="Launch (or resume) synthesis on the training queue")
    def launch_synthesis(self, request, queryset) -> None:
        for dataset in queryset:
            raw = (dataset.config or {}).get("synthesis")
            if raw is None:
                raw = SynthesisConfig.scaled(1000).as_dict()
                dataset.config = (dataset.config or {}) | {"synthesis": raw}
                dataset.save(update_fields=["config"])
            try:
                SynthesisConfig(**raw)
            except (TypeError, SynthesisError) as exc:
                self.message_user(request, f"{dataset.name}: invalid config['synthesis']: {exc}", messages.ERROR)
                continue
            task_id = launch(dataset)
            self.message_user(request, f"{dataset.name}: synthesis queued (task {task_id})", messages.SUCCESS)


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("key", "dataset", "specialty", "condition", "split", "source", "created_at")
    list_filter = ("split", "source", "dataset", "specialty")
    search_fields = ("key", "condition", "specialty")
    list_select_related = ("dataset",)
    readonly_fields = ("created_at",)
    show_full_result_count = False
