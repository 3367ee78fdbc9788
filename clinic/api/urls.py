"""/api/v1/: ninja's URL patterns, each wrapped so every error has one JSON shape, then a JSON 404."""

from __future__ import annotations

from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

from clinic.api.errors import json_errors, not_found
from clinic.api.views import api

_patterns, _app, _namespace = api.urls
app_name = "api"


def _wrap(pattern: URLPattern) -> URLPattern:
    pattern.callback = json_errors(pattern.callback)
    return pattern


# csrf_exempt: the catch-all changes nothing, and a POST/PUT to an unknown path must get the JSON 404,
# not Django's HTML CSRF page (ninja's own views are exempt and check CSRF for session auth themselves).
urlpatterns = [*(_wrap(p) for p in _patterns), re_path(r"^(?P<path>.*)$", csrf_exempt(json_errors(not_found)))]
