"""The clinician's settings page (issue 19: the time zone times are shown in)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinic.accounts import services
from clinic.accounts.forms import TimeZoneForm
from clinic.accounts.zones import zone_choices
from clinic.notes.services import ServiceError


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    stored = services.stored_time_zone(request.user)
    form = TimeZoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        zone = form.cleaned_data["time_zone"]
        try:
            services.set_time_zone(request.user, zone)
        except ServiceError as exc:
            form.add_error("time_zone", exc.message)
        else:
            messages.success(request, f"Saved: times now show in {zone}.")
            return redirect("accounts:settings")
    selected = form.data.get("time_zone", "") if form.is_bound else stored or settings.TIME_ZONE
    context = {"form": form, "stored": stored, "selected": selected, "zones": zone_choices(), "now": timezone.now()}
    return render(request, "accounts/settings.html", context, status=400 if form.errors else 200)
