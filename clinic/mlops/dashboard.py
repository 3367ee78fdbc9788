"""Staff dashboard of the feedback loop: how much clinicians edit each model's notes, and ratings.

Figures come from PreferencePair.edit_stats (computed once when a note is signed) and Rating
rows; charts are rendered server-side as SVG by training.charts (no CDN) from the same numbers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.mlops.models import PreferencePair
from inference.schema import SECTION_KEYS, SECTION_NAMES
from training.charts import Chart

DEFAULT_DAYS = 90


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; signed-in non-staff get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The feedback dashboard is for staff.")
        return view(request, *args, **kwargs)

    return wrapper


def _days(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("days", DEFAULT_DAYS)), 3650))
    except ValueError:
        return DEFAULT_DAYS


def _label(model_version: Any, reference: str | None) -> str:
    if model_version is not None:
        return model_version.name
    return reference or "default"


def collect_stats(days: int = DEFAULT_DAYS, now: datetime | None = None) -> dict[str, Any]:
    """All dashboard figures for the last `days` days, as plain data (templates and charts read this)."""
    from clinic.notes.models import Rating

    now = now or timezone.now()
    since = now - timedelta(days=days)
    pairs = list(PreferencePair.objects.filter(created_at__gte=since).select_related("model_version"))
    ratings = list(Rating.objects.filter(created_at__gte=since).select_related("note__model_version"))

    per_model: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"signed": 0, "edited": 0, "chars": defaultdict(list), "seconds": [], "ratings": []}
    )
    for pair in pairs:
        stats = pair.edit_stats or {}
        row = per_model[_label(pair.model_version, stats.get("model_reference"))]
        row["signed"] += 1
        row["edited"] += 1 if stats.get("edited") else 0
        for key in SECTION_KEYS:
            row["chars"][key].append(stats.get("sections", {}).get(key, {}).get("chars_changed", 0))
        if stats.get("seconds_to_sign") is not None:
            row["seconds"].append(stats["seconds_to_sign"])
    for rating in ratings:
        per_model[_label(rating.note.model_version, rating.note.model_reference)]["ratings"].append(rating.score)

    models = []
    for name, row in sorted(per_model.items()):
        models.append(
            {
                "name": name,
                "signed": row["signed"],
                "edit_rate": row["edited"] / row["signed"] if row["signed"] else None,
                "chars_changed": {k: statistics.fmean(v) if v else 0.0 for k, v in row["chars"].items()}
                or dict.fromkeys(SECTION_KEYS, 0.0),
                "median_seconds_to_sign": statistics.median(row["seconds"]) if row["seconds"] else None,
                "rating_mean": statistics.fmean(row["ratings"]) if row["ratings"] else None,
                "ratings": len(row["ratings"]),
            }
        )
    sections_fixed = {
        key: (sum(1 for p in pairs if (p.edit_stats or {}).get("sections", {}).get(key, {}).get("edited")) / len(pairs))
        if pairs
        else 0.0
        for key in SECTION_KEYS
    }
    return {
        "days": days,
        "since": since,
        "models": models,
        "sections_fixed": sections_fixed,
        "sections_ranked": sorted(SECTION_KEYS, key=lambda k: -sections_fixed[k]),
        "timeline": _timeline(pairs, ratings, since, now),
        "total_signed": len(pairs),
        "total_ratings": len(ratings),
    }


def _timeline(pairs: list[Any], ratings: list[Any], since: datetime, now: datetime) -> dict[str, Any]:
    """Edit rate and mean rating per period (days for spans up to 31 days, else weeks), per model."""
    span = (now - since).days
    width = timedelta(days=1 if span <= 31 else 7)

    def bucket(moment: datetime) -> int:
        return int((moment - since) / width)

    edits: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for pair in pairs:
        label = _label(pair.model_version, (pair.edit_stats or {}).get("model_reference"))
        edits[label][bucket(pair.created_at)].append(1 if (pair.edit_stats or {}).get("edited") else 0)
    scores: dict[int, list[int]] = defaultdict(list)
    for rating in ratings:
        scores[bucket(rating.created_at)].append(rating.score)
    return {
        "width_days": width.days,
        "since": since,
        "edit_rate": {
            label: sorted((b, sum(v) / len(v)) for b, v in buckets.items()) for label, buckets in edits.items()
        },
        "rating": sorted((b, statistics.fmean(v)) for b, v in scores.items()),
    }


@require_GET
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    days = _days(request)
    return render(request, "mlops/dashboard.html", {"stats": collect_stats(days), "days": days})


@require_GET
@staff_required
def chart(request: HttpRequest, name: str) -> HttpResponse:
    """One dashboard chart as SVG: edit-rate, ratings or sections."""
    renderers = {"edit-rate": _chart_edit_rate, "ratings": _chart_ratings, "sections": _chart_sections}
    if name not in renderers:
        raise Http404(f"no chart named {name!r}; use one of {', '.join(renderers)}")
    stats = collect_stats(_days(request))
    response = HttpResponse(renderers[name](stats), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=60"
    return response


def _x_dates(timeline: dict[str, Any], buckets: list[int]) -> list[datetime]:
    return [timeline["since"] + timedelta(days=b * timeline["width_days"]) for b in buckets]


def _chart_edit_rate(stats: dict[str, Any]) -> bytes:
    timeline = stats["timeline"]
    series = {
        label: list(zip(_x_dates(timeline, [b for b, _ in points]), [100 * r for _, r in points], strict=True))
        for label, points in sorted(timeline["edit_rate"].items())
    }
    chart = Chart(f"Edit rate per model version, last {stats['days']} days")
    chart.line(series, ylabel="notes edited before signing (%)", ylim=(0, 105), fmt="{:.0f}%",
               empty="no signed notes yet", dates=True)  # fmt: skip
    return chart.svg()


def _chart_ratings(stats: dict[str, Any]) -> bytes:
    timeline = stats["timeline"]
    points = timeline["rating"]
    series = {"mean rating": list(zip(_x_dates(timeline, [b for b, _ in points]), [s for _, s in points], strict=True))}
    chart = Chart("Clinician ratings over time")
    chart.line(series, ylabel="mean rating (1-5)", ylim=(1, 5.2), fmt="{:.1f}", empty="no ratings yet", dates=True)
    return chart.svg()


def _chart_sections(stats: dict[str, Any]) -> bytes:
    shares = [100 * stats["sections_fixed"][k] for k in SECTION_KEYS]
    chart = Chart("Which sections clinicians fix")
    chart.bars([SECTION_NAMES[k] for k in SECTION_KEYS], {"signed notes": shares},
               ylabel="signed notes with this section edited (%)", ylim=(0, 105), fmt="{:.0f}%")  # fmt: skip
    return chart.svg()
