"""Login throttling and lockout (issue 17 item 9), shared by the clinician login and the admin login.

Counting happens in the authentication backend, so every way in (the login page, /admin/login/,
`authenticate()` anywhere) goes through one rule: after LOGIN_FAILURES_PER_ACCOUNT failed passwords
for one username, or LOGIN_FAILURES_PER_ADDRESS from one address, within LOGIN_LOCKOUT_SECONDS,
further tries are refused unchecked until that window ends, even with the right password. A success
clears the account's counter. Every failure and every lockout is written to the audit trail. The
counters live in the cache (the database cache by default, Redis with CACHE_URL).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest

log = logging.getLogger("clinic.security")


def _limits() -> tuple[int, int, int]:
    return (
        int(getattr(settings, "LOGIN_FAILURES_PER_ACCOUNT", 5)),
        int(getattr(settings, "LOGIN_FAILURES_PER_ADDRESS", 20)),
        int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 900)),
    )


def client_address(request: HttpRequest | None) -> str:
    """The peer address; a proxy's X-Forwarded-For is not trusted (it is the attacker's to write)."""
    return (request.META.get("REMOTE_ADDR") or "unknown") if request is not None else ""


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    per_account, per_address, _ = _limits()
    account = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    keys = [(f"login-fail:u:{account}", per_account)]
    if address:
        keys.append((f"login-fail:a:{address}", per_address))
    return keys


def locked_out(username: str, address: str) -> bool:
    """True while the username or the address has used up its failed tries."""
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(username, address))


def _count_failure(username: str, address: str) -> bool:
    """Add one failure to both counters; True when this failure locks the account or the address."""
    _, _, window = _limits()
    locks = False
    for key, limit in _keys(username, address):
        cache.add(key, 0, timeout=window)  # the window starts at the first failure
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
        locks = locks or count == limit
    return locks


def _audit(action: str, username: str, address: str, **detail: Any) -> None:
    from clinic.notes.services import record_audit

    record_audit(None, action, via="web", username=username[:150], address=address, **detail)


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that refuses, without checking the password, while a lockout is in force."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:  # fmt: skip
        name = username if username is not None else kwargs.get("username", "")
        if name and locked_out(str(name), client_address(request)):
            if request is not None:
                request.login_locked_out = True  # type: ignore[attr-defined]
            raise PermissionDenied("too many failed sign-ins")  # authenticate() stops at the first PermissionDenied
        return super().authenticate(request, username=username, password=password, **kwargs)


@receiver(user_login_failed)
def _on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    username, address = str(credentials.get("username") or ""), client_address(request)
    if request is not None and getattr(request, "login_locked_out", False):
        _audit("login_fail", username, address, locked=True)
        return
    if _count_failure(username, address):
        log.warning("login locked out for %s minutes after repeated failures (address %s)", _limits()[2] // 60, address)
        _audit("lockout", username, address, minutes=_limits()[2] // 60)
    else:
        _audit("login_fail", username, address)


@receiver(user_logged_in)
def _on_login(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    cache.delete(_keys(user.get_username(), "")[0][0])


LOCKED_MESSAGE = (
    "Too many failed sign-ins for this account or from this address. Wait {minutes} minutes and try again, "
    "or ask an administrator to reset your password."
)


class _LockoutMessage:
    """Replace 'wrong password' with the lockout message when the backend refused because of a lockout."""

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()  # type: ignore[misc]
        except ValidationError:
            if self.request is not None and getattr(self.request, "login_locked_out", False):
                raise ValidationError(LOCKED_MESSAGE.format(minutes=_limits()[2] // 60), code="locked") from None
            raise


class ThrottledAuthenticationForm(_LockoutMessage, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_LockoutMessage, AdminAuthenticationForm):
    pass
