"""Issue an API token for a user and print it once: `python manage.py issue_api_token alice --name "EHR bridge"`.

The same as adding a token in the Django admin; for scripts and the README's curl session.
Only the token's hash is stored, so the printed value cannot be shown again. Revoke tokens in
the admin (API tokens -> select -> "Revoke selected tokens") or with `--revoke PREFIX`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from clinic.api.models import ApiToken


class Command(BaseCommand):
    help = "Issue (or revoke) a per-user REST API token; the raw token is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for, shown in the admin")
        parser.add_argument("--quiet", action="store_true", help="print only the token (for TOKEN=$(...))")
        parser.add_argument("--revoke", metavar="PREFIX", help="revoke the user's token(s) starting with PREFIX")

    def handle(self, *args: Any, username: str, name: str, quiet: bool, revoke: str | None, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}; create one first (e.g. `manage.py create_demo_user`)")
        if revoke:
            count = ApiToken.objects.filter(user=user, prefix__startswith=revoke[:12], revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            if not count:
                raise CommandError(f"{username} has no active token starting with {revoke!r}")
            self.stdout.write(f"revoked {count} token(s)")
            return
        _, raw = ApiToken.issue(user, name)
        if quiet:
            self.stdout.write(raw)
        else:
            self.stdout.write(f"API token for {username} ({name}); copy it now, it is not shown again:\n{raw}")
