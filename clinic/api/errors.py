"""One JSON error shape for every 4xx and 5xx the API answers.

Every failure, whether raised by our code, by django-ninja (validation, authentication,
throttling, unparseable bodies) or by Django itself (unknown URL, wrong method, a body over
the limit, an unhandled exception), reaches the client as

    {"error": {"code": "...", "message": "...", "fields": [{"field": "...", "message": "..."}]}}

so an integration needs one code path for errors. `code` is stable and machine-readable,
`message` is for people and says what to change, `fields` names the offending inputs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

logger = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class ApiError(Exception):
    """A failure the API reports to the client; `status` is the HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: Iterable[dict[str, Any]] = (),
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or STATUS_CODES.get(status, "error")
        self.fields = list(fields)
        self.extra = extra or {}
        self.headers = headers or {}


def error_body(status: int, message: str, *, code: str | None = None, fields: Iterable[dict[str, Any]] = ()) -> dict:
    return {"error": {"code": code or STATUS_CODES.get(status, "error"), "message": message, "fields": list(fields)}}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: Iterable[dict[str, Any]] = (),
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = error_body(status, message, code=code, fields=fields)
    body.update(extra or {})
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_name(loc: Iterable[Any]) -> str:
    """('body', 'payload', 'turns', 0, 'text') -> 'turns.0.text'; ('query', 'page') -> 'page'."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
        if parts and parts[0] in {"payload", "data", "body", "filters"}:
            parts = parts[1:]
    return ".".join(parts) or "body"


def validation_fields(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = []
    for err in errors:
        field = _field_name(err.get("loc", ()))
        fields.append({"field": field, "message": str(err.get("msg", "is invalid")), "type": str(err.get("type", ""))})
    return fields


def install_handlers(api: NinjaAPI) -> None:
    """Replace ninja's default handlers (which answer {"detail": ...}) with the shared shape."""

    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(
            exc.status, exc.message, code=exc.code, fields=exc.fields, extra=exc.extra, headers=exc.headers
        )

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        fields = validation_fields(exc.errors)
        names = ", ".join(sorted({f["field"] for f in fields}))
        return error_response(
            422, f"The request has invalid fields: {names}. See 'fields' for each problem.", fields=fields
        )

    def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        wait = int(exc.wait or 1)
        return error_response(
            429,
            f"Rate limit of {settings.API_RATE_LIMIT_PER_MINUTE} requests per minute exceeded; retry after {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    def on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "Authentication required: send 'Authorization: Bearer <token>' with a token an admin issued you, "
            "or sign in to the web app (session cookie plus X-CSRFToken for writes).",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message = str(exc)
        if exc.status_code == 400 and message.startswith("Cannot parse request body"):
            message = "The request body is not valid JSON: send a JSON object with Content-Type: application/json."
            return error_response(400, message, code="malformed_json", fields=[{"field": "body", "message": message}])
        return error_response(exc.status_code, message)

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "Not found.")

    def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(403, str(exc) or "Forbidden.")

    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return body_too_large()

    def on_unhandled(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "Internal error; it has been logged. Retrying later may help.")

    api.add_exception_handler(Exception, on_unhandled)
    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(Throttled, on_throttled)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(RequestDataTooBig, on_too_big)


def body_too_large() -> JsonResponse:
    limit = settings.API_MAX_BODY_BYTES
    return error_response(
        413,
        f"The request body is larger than the API limit of {limit} bytes (API_MAX_BODY_BYTES); "
        "shorten the dialogue or split it into several encounters.",
        fields=[{"field": "body", "message": f"over {limit} bytes"}],
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a ninja URL view: enforce the body limit and turn Django's own error pages into the shape.

    Ninja answers 405 with a plain-text body and lets Django render unhandled errors; this
    wrapper is the one place that sees every response of the API.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _content_length(request) > settings.API_MAX_BODY_BYTES:
            return body_too_large()
        try:
            response = view(request, *args, **kwargs)
        except RequestDataTooBig:
            return body_too_large()
        except Exception:
            logger.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(500, "Internal error; it has been logged. Retrying later may help.")
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            return _reshape(response)
        return response

    return wrapped


def _reshape(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    if status == 405:
        allowed = response.get("Allow", "")
        new = error_response(405, f"Method not allowed here; use one of: {allowed}.")
        new["Allow"] = allowed
        return new
    message = {404: "Not found."}.get(status, "Request failed.")
    return error_response(status, message)


def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Catch-all for unknown URLs under /api/v1/."""
    return error_response(404, f"No API endpoint at {request.path}; see /api/v1/docs for the list.")
