"""A clinician's own settings, one row per user, made the first time they save one."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clinic.accounts.zones import validate_time_zone


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA zone name (America/Chicago) the pages show times in; empty: the browser's zone.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Settings of {self.user}"
