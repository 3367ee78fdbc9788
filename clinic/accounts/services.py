"""A clinician's settings: read the stored time zone, save a new one (validated and audited)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction

from clinic.accounts.models import Profile
from clinic.accounts.zones import available_zones, validate_time_zone
from clinic.notes.models import AuditEvent
from clinic.notes.services import InvalidInput, record_audit


def stored_time_zone(user: Any) -> str:
    """The IANA zone the user saved, or "" (none saved, signed out, or a zone this server no longer has).

    Reads `user.profile`, which Django caches on the user object: the middleware and the templates of
    one request share a single query.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    try:
        zone = user.profile.time_zone
    except ObjectDoesNotExist:
        return ""
    return zone if zone in available_zones() else ""


def set_time_zone(user: Any, zone: str, *, via: str = "web") -> bool:
    """Store `zone` as the user's time zone and audit the change; False when it was already stored.

    Raises InvalidInput (nothing saved) when `zone` is not an IANA name this server knows.
    """
    try:
        validate_time_zone(zone)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages)) from exc
    if not zone:
        raise InvalidInput("Choose a time zone from the list.")
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        before = profile.time_zone
        if before == zone:
            return False
        profile.time_zone = zone  # validated above: full_clean would check the zone again and query user uniqueness
        profile.save(update_fields=["time_zone", "updated_at"])
        record_audit(user, AuditEvent.Action.SETTINGS, via=via, setting="time_zone", before=before, after=zone)
    return True
