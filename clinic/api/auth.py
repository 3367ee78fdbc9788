"""Who is calling, and how often.

Two ways in: a per-user bearer token (`Authorization: Bearer soap_...`) that an admin issues
and revokes in the Django admin, for EHR integrations and scripts; and the web app's session
cookie, for the browser, where writes must carry the CSRF token as usual. Rate limits are per
token (per user for sessions), a fixed one-minute window counted in the Django cache so every
gunicorn worker shares it.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer
from ninja.throttling import BaseThrottle
from ninja.utils import check_csrf

from clinic.api.errors import ApiError
from clinic.api.models import ApiToken, hash_token

# Writing last_used_at on every request would turn each read into a write; once a minute is
# enough to tell an admin whether a token is still in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`: looks the token up by hash, refuses revoked ones."""

    def __call__(self, request: HttpRequest) -> object | None:
        # ninja's own check logs any other scheme's header ("Basic <password>") at ERROR in DEBUG; a
        # credential must never reach a log, so other schemes are refused here without a word.
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> object | None:
        if not token:
            return None
        found = (
            ApiToken.objects.select_related("user")
            .filter(token_hash=hash_token(token), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if found is None:
            return None
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class SessionAuth(APIKeyCookie):
    """The browser's Django session; unsafe methods must carry the CSRF token, as Django's forms do.

    A request that sends an Authorization header is judged by that header alone, so a wrong
    token gets 401 rather than falling back to a cookie the client did not mean to use.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> object | None:
        if request.headers.get("Authorization"):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if check_csrf(request) is not None:
            raise ApiError(
                403,
                "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header, "
                "or use a bearer token.",
                code="csrf_failed",
            )
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> object | None:  # pragma: no cover - unused
        return None


class PerTokenRateLimit(BaseThrottle):
    """At most API_RATE_LIMIT_PER_MINUTE requests per token (or session user) per clock minute."""

    window = 60

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request: HttpRequest) -> str:
        token = getattr(request, "api_token", None)
        if token is not None:
            return f"t{token.pk}"
        user = getattr(request, "auth", None) or getattr(request, "user", None)
        return f"u{getattr(user, 'pk', 'anon')}"

    def allow_request(self, request: HttpRequest) -> bool:
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        if limit <= 0:
            return True
        now = time.time()
        bucket = int(now // self.window)
        key = f"api-rate:{self.ident(request)}:{bucket}"
        # add() creates the counter only if absent, so concurrent first requests don't reset it.
        cache.add(key, 0, timeout=self.window + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=self.window + 5)
            count = 1
        if count > limit:
            self._wait = max(1.0, (bucket + 1) * self.window - now)
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
