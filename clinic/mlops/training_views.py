"""Live view of a TrainingRun for staff: metrics table and inline-SVG charts, refreshed with htmx."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from clinic.mlops.models import TrainingRun
from clinic.mlops.tasks.training import fail_if_worker_died
from training.charts import Chart

CHARTS = (
    ("reward_mean", "reward (mean)"),
    ("format_valid", "format validity"),
    ("signal_groups", "groups with signal"),
    ("kl", "KL to reference"),
    ("step_seconds", "step time (s)"),
    ("sft_loss", "SFT loss"),
)
ACTIVE = ("queued", "running")


def line_chart_svg(points: list[tuple[int, float]], title: str) -> str:
    """A small inline SVG line chart of one metric per step (training.charts, no JavaScript, no CDN)."""
    return Chart(title, size=(3.4, 1.7)).line({title: points}, xlabel="step").inline_svg()


@staff_member_required
@require_GET
def training_run_live(request, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    fail_if_worker_died(run)  # else a run whose worker was killed would say "running" for good
    steps = list(run.steps.order_by("step").values_list("step", "metrics"))
    charts = []
    for key, title in CHARTS:
        pts = [(s, float(m[key])) for s, m in steps if isinstance(m.get(key), int | float)]
        if pts:
            charts.append(line_chart_svg(pts, title))
    context = {"run": run, "charts": charts, "last": steps[-1][1] if steps else {}, "active": run.state in ACTIVE,
               "log_tail": run.log[-4000:]}  # fmt: skip
    if request.htmx:
        response = render(request, "mlops/_training_run_live.html", context)
        return response if run.state in ACTIVE else HttpResponseStopPolling(response.content)
    return render(request, "mlops/training_run_live.html", context)


@staff_member_required
@require_POST
def training_run_cancel(request, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    if run.state in ACTIVE:
        TrainingRun.objects.filter(pk=pk).update(cancel_requested=True)
    return redirect("mlops:training_run_live", pk=pk)
