"""Security hardening of issue 17: login lockout (9), no credentials or search terms in logs (10),
a strict Content-Security-Policy and an idle session timeout (11)."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from clinic.logfilters import RedactQueryStrings, RedactSecrets, redact
from clinic.middleware import LAST_SEEN_KEY
from clinic.notes.models import AuditEvent

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).parents[2] / "templates"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def _login(client: Client, username: str, password: str, url: str = "/accounts/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


# --- 9. login throttling ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_account_even_against_the_right_one(client, staff, settings, url):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    for _ in range(5):
        assert _login(client, "staff", "wrong", url).status_code == 200
    response = _login(client, "staff", "staff-password-1", url)
    assert response.status_code == 200 and "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="lockout", detail__username="staff").count() == 1
    assert AuditEvent.objects.filter(action="login_fail").count() == 5  # 4 counted + the refused right one
    cache.clear()  # the window ends
    assert _login(client, "staff", "staff-password-1", url).status_code == 302


def test_one_address_trying_many_accounts_is_locked_out(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 100
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ("x1", "x2", "x3"):
        _login(client, name, "guess")
    assert "Too many failed sign-ins" in _login(client, "alice", "alice-password-1").content.decode()
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert _login(other, "alice", "alice-password-1").status_code == 302


def test_a_success_clears_the_accounts_failures(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(2):
        _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 302
    client.logout()
    for _ in range(2):
        _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 302


# --- 10. no credentials or search terms in logs ----------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQtMQ==", "Token soap_abcdefghijklmnop", "Digest username=alice, pw=hunter2"],
)
def test_a_non_bearer_authorization_header_is_never_logged(client, settings, caplog, header):
    settings.DEBUG = True
    with caplog.at_level(logging.DEBUG):
        response = client.get("/api/v1/encounters", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    secret = header.split(" ", 1)[1]
    assert all(secret not in r.getMessage() and "hunter2" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("line", "leak"),
    [
        ("Unexpected auth - 'Basic YWxpY2U6c2VjcmV0'", "YWxpY2U6c2VjcmV0"),
        ("headers: {'Authorization': 'Bearer soap_0123456789abcdef'}", "soap_0123456789abcdef"),
        ("POST /login password=hunter2&x=1", "hunter2"),
    ],
)
def test_the_log_filter_masks_credentials_in_any_record(line, leak):
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "%s", (line,), None)
    RedactSecrets().filter(record)
    assert leak not in record.getMessage() and "redacted" in record.getMessage() and leak not in redact(line)


def test_the_access_log_keeps_the_path_and_drops_search_terms():
    line = ("GET /?q=Maria+Gonzalez&status= HTTP/1.1", 200, 9)
    record = logging.LogRecord("django.server", logging.INFO, __file__, 1, '"%s" %s %s', line, None)
    RedactQueryStrings().filter(record)
    assert record.getMessage() == '"GET /?[query] HTTP/1.1" 200 9'


def test_gunicorn_access_log_format_has_no_query_or_referer():
    conf = (Path(__file__).parents[2] / "gunicorn.conf.py").read_text()
    fmt = re.search(r"access_log_format = '(.*)'", conf)[1]
    assert "%(U)s" in fmt and not {"%(r)s", "%(q)s", "%(f)s"} & set(re.findall(r"%\(\w\)s", fmt))


# --- 11. CSP and idle timeout ----------------------------------------------------------------


def test_every_page_carries_a_strict_content_security_policy(client, alice):
    client.force_login(alice)
    for url in ("/", reverse("notes:encounter_new"), "/accounts/login/", "/api/v1/health"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_templates_have_no_inline_script_style_or_handler_the_policy_would_block():
    for path in TEMPLATES.rglob("*.html"):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html.replace('type="application/json"', "src")), path
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|hx-on|js:", html), path
    assert "includeIndicatorStyles" in (TEMPLATES / "clinic/base.html").read_text()


def test_an_idle_session_is_signed_out_and_polling_does_not_keep_it_alive(client, alice, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 1800
    client.force_login(alice)
    assert client.get("/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 1000
    session.save()
    assert client.get("/").status_code == 200  # 17 minutes idle: still in, and the clock restarts
    assert client.session[LAST_SEEN_KEY] > time.time() - 5
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 1801
    session.save()
    response = client.get("/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302  # signed out


def test_polling_requests_do_not_count_as_activity(client, alice, settings):
    from tests.clinic.conftest import make_encounter

    encounter = make_encounter(alice)
    client.force_login(alice)
    client.get("/")
    session = client.session
    session[LAST_SEEN_KEY] = stamp = int(time.time()) - 600
    session.save()
    client.get(reverse("notes:job_status", args=[encounter.pk]), HTTP_HX_REQUEST="true")
    assert client.session[LAST_SEEN_KEY] == stamp
