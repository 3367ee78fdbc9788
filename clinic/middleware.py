"""Web middleware of the hardening work (issue 17): oversized form posts answered in words, a strict
Content-Security-Policy on every response, and an idle timeout for signed-in sessions."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class OversizedPostMiddleware:
    """A web POST over DATA_UPLOAD_MAX_MEMORY_SIZE gets the intake form's message, not Django's bare 400.

    Django raises RequestDataTooBig when the CSRF check first reads the body, before any view; this
    answers from the Content-Length instead, without reading the body. The API has its own JSON 413.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        size = _content_length(request)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.method != "POST" or limit is None or size <= limit or request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            view_name = resolve(request.path_info).view_name
        except Resolver404:
            view_name = ""
        if view_name == "notes:encounter_new":
            if not request.user.is_authenticated:
                return redirect(settings.LOGIN_URL)
            from clinic.notes.views import intake_too_large

            return intake_too_large(request, size)
        return HttpResponse(
            f"The request is {size:,} bytes; the limit is {limit:,} bytes.", status=413, content_type="text/plain"
        )


class ContentSecurityPolicyMiddleware:
    """Send settings.CONTENT_SECURITY_POLICY on every response that has none (no inline script or style runs).

    The app serves its own static files (htmx, Pico, clinic.js) and writes no inline script, style
    attribute or event handler, so `default-src 'self'` holds; data: images are for the API docs' icons.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


# Requests that poll on their own (the live generation status, the training charts) are not the
# user's activity: a page left open must still time out.
_POLLING_VIEWS = frozenset({"notes:job_status", "mlops:training_run_live"})
LAST_SEEN_KEY = "_last_seen"


class IdleSessionTimeoutMiddleware:
    """Sign a session out after settings.SESSION_IDLE_TIMEOUT_SECONDS without a request from its user.

    Bearer-token API calls carry no session and are not affected. An htmx request that finds the
    session expired gets HX-Redirect to the login page, so the page does not swap in a login form.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timeout = getattr(settings, "SESSION_IDLE_TIMEOUT_SECONDS", 0)
        user = getattr(request, "user", None)
        if not timeout or user is None or not user.is_authenticated or not hasattr(request, "session"):
            return self.get_response(request)
        now = time.time()
        last = request.session.get(LAST_SEEN_KEY)
        if isinstance(last, int | float) and now - last > timeout:
            logout(request)
            messages.info(request, f"You were signed out after {timeout // 60} minutes without activity.")
            login = f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = login
                return response
            return redirect(login)
        if not _is_polling(request) or last is None:
            request.session[LAST_SEEN_KEY] = int(now)
        return self.get_response(request)


def _is_polling(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).view_name in _POLLING_VIEWS
    except Resolver404:
        return False
