"""Show times in the signed-in clinician's own zone (issue 19)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from clinic.accounts.services import stored_time_zone


class TimeZoneMiddleware:
    """Activate the user's saved zone for the request, so `{{ when|date }}` renders in it.

    Signed-out requests and users who saved no zone keep settings.TIME_ZONE (UTC); for the latter
    clinic.js shows the browser's zone instead. Deactivated afterwards: a thread serves other users next.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = stored_time_zone(getattr(request, "user", None))
        if not zone:
            timezone.deactivate()
            return self.get_response(request)
        timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
