"""Admin for Evaluations: create one (it is queued on save), re-run failed ones, read the report.

The report's charts live under var/reports/<id>/ (not a static path), so the change page inlines
them as data URIs beside the Markdown summary.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from clinic.mlops.models import Evaluation
from clinic.mlops.tasks.evaluation import launch


@admin.action(description="Run selected evaluations (again) on the training queue")
def run_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Evaluation]) -> None:
    started = 0
    for evaluation in queryset:
        if evaluation.state == Evaluation.State.RUNNING:
            continue
        Evaluation.objects.filter(pk=evaluation.pk).update(state=Evaluation.State.QUEUED)
        launch(evaluation)
        started += 1
    modeladmin.message_user(request, f"Queued {started} evaluation(s); running ones were left alone.", messages.INFO)


def _mean(evaluation: Evaluation, key: str) -> str:
    est = (evaluation.scores or {}).get(key) or {}
    return "-" if est.get("mean") is None else f"{est['mean']:.3f}"


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("id", "model_reference", "dataset_name", "state", "total", "json_valid", "created_at")
    list_filter = ("state", "dataset_name")
    search_fields = ("model_reference", "dataset_name")
    actions = [run_selected]
    readonly_fields = ("state", "scores_table", "report", "report_dir", "error", "created_at", "finished_at")
    fields = ("model_version", "model_reference", "dataset_name", "config", *readonly_fields)

    @admin.display(description="Total reward")
    def total(self, obj: Evaluation) -> str:
        return _mean(obj, "total")

    @admin.display(description="JSON valid")
    def json_valid(self, obj: Evaluation) -> str:
        return _mean(obj, "json_valid")

    @admin.display(description="Scores (mean [95% CI])")
    def scores_table(self, obj: Evaluation) -> str:
        rows = [
            (key, f"{est['mean']:.3f} [{est['low']:.3f}, {est['high']:.3f}] (n={est['n']})")
            for key, est in (obj.scores or {}).items()
            if isinstance(est, dict) and est.get("mean") is not None and "low" in est
        ]
        if not rows:
            return "-"
        return format_html("<table>{}</table>", format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows))

    @admin.display(description="Report")
    def report(self, obj: Evaluation) -> str:
        if not obj.report_markdown:
            return "-"
        images = []
        for name in ("sections.png", "rewards.png"):
            path = Path(obj.report_dir) / name
            if obj.report_dir and path.is_file():
                images.append((base64.b64encode(path.read_bytes()).decode(), name))
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>{}',
            obj.report_markdown.split("\n![")[0],
            format_html_join("", '<img src="data:image/png;base64,{}" alt="{}" style="max-width:700px">', images),
        )

    def save_model(self, request: HttpRequest, obj: Evaluation, form: Any, change: bool) -> None:
        if not obj.model_reference and obj.model_version is not None:
            obj.model_reference = obj.model_version.reference
        super().save_model(request, obj, form, change)
        if not change:
            launch(obj)
            self.message_user(request, "Evaluation queued on the training queue.", messages.INFO)
