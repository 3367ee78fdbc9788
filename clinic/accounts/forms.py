"""The settings form: it checks the zone's shape; services.set_time_zone owns the rule."""

from __future__ import annotations

from django import forms

from clinic.accounts.zones import validate_time_zone


class TimeZoneForm(forms.Form):
    time_zone = forms.CharField(
        max_length=64,
        validators=[validate_time_zone],
        error_messages={"required": "Choose a time zone from the list."},
    )
