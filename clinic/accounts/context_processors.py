from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clinic.accounts.services import stored_time_zone


def time_zone(request: HttpRequest) -> dict[str, Any]:
    """`user_time_zone`: the zone the user saved, or "" (then clinic.js shows the browser's zone)."""
    return {"user_time_zone": stored_time_zone(getattr(request, "user", None))}
