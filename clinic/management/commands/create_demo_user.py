"""Create (or reset) the demo clinician and print the login: `python manage.py create_demo_user`."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"


def ensure_demo_user(username: str = DEMO_USERNAME, password: str | None = None) -> tuple[str, str]:
    """Make sure a clinician `username` exists with a known password; returns (username, password).

    The password comes from DEMO_PASSWORD when set, else a fresh random one each start, so a
    forgotten demo password is never a problem and no fixed password ships with the product.
    """
    password = password or os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(9)
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
    user.set_password(password)
    user.is_active = True
    user.save()
    return username, password


class Command(BaseCommand):
    help = "Create or reset the demo clinician account and print its username and password."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default=DEMO_USERNAME)
        parser.add_argument("--password", default=None, help="Default: $DEMO_PASSWORD or a random one.")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = ensure_demo_user(options["username"], options["password"])
        self.stdout.write(self.style.SUCCESS(f"Demo login: username={username} password={password}"))
