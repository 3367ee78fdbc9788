"""Time zones the app accepts: the IANA names Python's zoneinfo knows on this machine (system tzdata)."""

from __future__ import annotations

import functools
import zoneinfo

from django.core.exceptions import ValidationError


@functools.cache
def available_zones() -> frozenset[str]:
    """Every IANA zone name zoneinfo can load here (read from disk once per process)."""
    return frozenset(zoneinfo.available_timezones())


def zone_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The zones grouped by region ("America", "Europe", ...) for a select; bare names like UTC go last."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(available_zones()):
        region = name.split("/", 1)[0] if "/" in name else "Other"
        groups.setdefault(region, []).append((name, name.replace("_", " ")))
    other = groups.pop("Other", [])
    return [*sorted(groups.items()), *([("Other", other)] if other else [])]


def validate_time_zone(value: str) -> None:
    """Refuse anything that is not an IANA zone name zoneinfo knows (the empty string means "not chosen")."""
    if value and value not in available_zones():
        raise ValidationError(
            "'%(value)s' is not a time zone this server knows; choose one from the list (an IANA name such as "
            "America/Chicago or Europe/Paris).",
            code="invalid_time_zone",
            params={"value": value[:64]},
        )
