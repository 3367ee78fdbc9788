"""Web middleware of the hardening work (issue 17): oversized form posts answered in words."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve


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
