"""Authentication, rate limits and the one error shape, for every kind of failure."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from clinic.api.models import ApiToken
from clinic.notes.models import Encounter

from .conftest import DIALOGUE, ApiClient

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_request_without_credentials_is_401_with_a_hint(anonymous):
    error = assert_error(anonymous.get("/api/v1/encounters"), 401, "unauthorized")
    assert "Bearer" in error["message"]


def test_unknown_token_is_401(alice):
    assert_error(ApiClient("soap_not-a-real-token").get("/api/v1/encounters"), 401)


def test_revoked_token_is_401(alice):
    token, raw = ApiToken.issue(alice, "old laptop")
    client = ApiClient(raw)
    assert client.get("/api/v1/encounters").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert_error(client.get("/api/v1/encounters"), 401)


def test_token_use_is_recorded(alice, as_alice):
    as_alice.get("/api/v1/encounters")
    assert ApiToken.objects.get(user=alice).last_used_at is not None


def test_session_reads_work_and_writes_need_csrf(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/api/v1/encounters").status_code == 200
    body = {"transcript": DIALOGUE, "generate": False}
    refused = browser.post("/api/v1/encounters", body, content_type="application/json")
    assert_error(refused, 403, "csrf_failed")
    assert not Encounter.objects.exists()
    browser.get("/api/v1/docs")  # any page that sets the CSRF cookie
    csrf = browser.cookies.get("csrftoken")
    assert csrf is not None
    accepted = browser.post(
        "/api/v1/encounters", body, content_type="application/json", headers={"X-CSRFToken": csrf.value}
    )
    assert accepted.status_code == 201, accepted.content


def test_wrong_token_does_not_fall_back_to_the_session(alice):
    browser = Client()
    browser.force_login(alice)
    assert_error(browser.get("/api/v1/encounters", headers={"Authorization": "Bearer soap_wrong"}), 401)


def test_rate_limit_is_per_token_with_retry_after(settings, alice, as_alice, as_bob, monkeypatch):
    from types import SimpleNamespace

    from clinic.api import auth

    # The limiter counts per clock minute: freeze its clock 10 s into a minute, so the test never
    # straddles a minute boundary (which would reset the count mid-test).
    minute = 1_000_000_020.0  # a multiple of 60
    clock = SimpleNamespace(now=minute + 10)
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: clock.now))
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert as_alice.get("/api/v1/encounters").status_code == 200
    limited = as_alice.get("/api/v1/encounters")
    assert_error(limited, 429, "rate_limited")
    assert int(limited["Retry-After"]) == 50  # the rest of this minute
    assert as_bob.get("/api/v1/encounters").status_code == 200
    clock.now += 50  # the next minute: alice may call again
    assert as_alice.get("/api/v1/encounters").status_code == 200


def test_unknown_url_is_json_404(as_alice):
    assert_error(as_alice.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(as_alice):
    response = as_alice.request("DELETE", "/api/v1/encounters")
    error = assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"] and "POST" in error["message"]


def test_malformed_json_is_400_and_stores_nothing(as_alice):
    response = as_alice.post("/api/v1/encounters", '{"transcript": "Doctor: hi', content_type="application/json")
    error = assert_error(response, 400, "malformed_json")
    assert error["fields"][0]["field"] == "body"
    assert not Encounter.objects.exists()


def test_wrong_type_is_422_naming_the_field(as_alice):
    error = assert_error(as_alice.post("/api/v1/encounters", {"transcript": 42}), 422, "invalid")
    assert [f["field"] for f in error["fields"]] == ["transcript"]
    assert "transcript" in error["message"]


def test_nested_wrong_type_names_the_path(as_alice):
    error = assert_error(as_alice.post("/api/v1/encounters", {"turns": [{"speaker": "doctor", "text": 5}]}), 422)
    assert "turns.0.text" in [f["field"] for f in error["fields"]]


def test_unknown_field_is_422(as_alice):
    error = assert_error(as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE, "colour": "red"}), 422)
    assert "colour" in [f["field"] for f in error["fields"]]


def test_nul_characters_are_refused_before_the_database(as_alice):
    assert_error(as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE, "title": "a\x00b"}), 422)
    assert not Encounter.objects.exists()


def test_body_over_the_limit_is_413_and_stores_nothing(settings, as_alice):
    settings.API_MAX_BODY_BYTES = 2_000
    error = assert_error(as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE * 20}), 413, "payload_too_large")
    assert "2000" in error["message"]
    assert not Encounter.objects.exists()


def test_unhandled_error_is_json_500(monkeypatch, as_alice):
    from clinic.notes import services

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "create_encounter", broken)
    error = assert_error(as_alice.post("/api/v1/encounters", {"transcript": DIALOGUE}), 500, "server_error")
    assert "disk on fire" not in error["message"]


def test_health_needs_no_auth(anonymous):
    assert anonymous.get("/api/v1/health").json() == {"status": "ok"}
