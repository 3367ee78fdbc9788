"""The dataset statistics page: coverage, dialogue lengths, facts per section, duplicate rate."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from clinic.mlops.models import Dataset
from clinic.mlops.synthesis_store import iter_examples
from training.synthesis import coverage_report, load_catalog


@require_GET
@staff_member_required
def synthesis_stats(request, pk: int):
    dataset = get_object_or_404(Dataset, pk=pk)
    report = (dataset.config or {}).get("report")
    if not report or "dialogue_words" not in report:  # imported or older datasets: compute now
        catalog = load_catalog() if dataset.kind == Dataset.Kind.SYNTHETIC else None
        report = coverage_report(iter_examples(dataset), catalog=catalog)
    histogram = report.get("dialogue_words", {}).get("histogram", [])
    peak = max((row["count"] for row in histogram), default=0) or 1
    specialties = sorted((report.get("specialties") or {}).items(), key=lambda kv: -kv[1])
    top = max((count for _, count in specialties), default=0) or 1
    return render(
        request,
        "mlops/synthesis_stats.html",
        {
            "dataset": dataset,
            "report": report,
            "histogram": [row | {"pct": round(100 * row["count"] / peak)} for row in histogram],
            "specialties": [(name, count, round(100 * count / top)) for name, count in specialties],
            "dedup": report.get("dedup") or {},
            "catalog": report.get("catalog") or {},
        },
    )
