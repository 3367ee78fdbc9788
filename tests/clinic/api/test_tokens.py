"""Issuing and revoking tokens: in the admin (shown once) and from the command line."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from clinic.api.models import ApiToken, hash_token

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_admin_issues_a_token_and_shows_it_once(admin_user, alice):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post("/admin/api/apitoken/add/", {"user": alice.pk, "name": "EHR bridge"}, follow=True)
    assert response.status_code == 200
    shown = re.findall(r"soap_[A-Za-z0-9_-]{20,}", response.content.decode())
    assert len(set(shown)) == 1
    token = ApiToken.objects.get(user=alice)
    assert token.token_hash == hash_token(shown[0]) and shown[0] not in token.token_hash
    assert ApiClient(shown[0]).get("/api/v1/encounters").status_code == 200
    # the change page never shows it again
    page = browser.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert shown[0] not in page


def test_admin_revoke_action_locks_the_token_out(admin_user, alice):
    token, raw = ApiToken.issue(alice, "old")
    browser = Client()
    browser.force_login(admin_user)
    browser.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiClient(raw).get("/api/v1/encounters").status_code == 401


def test_command_issues_and_revokes(alice):
    out = io.StringIO()
    call_command("issue_api_token", "alice", "--name", "script", "--quiet", stdout=out)
    raw = out.getvalue().strip()
    assert ApiClient(raw).get("/api/v1/encounters").status_code == 200
    call_command("issue_api_token", "alice", "--revoke", raw[:12], stdout=io.StringIO())
    assert ApiClient(raw).get("/api/v1/encounters").status_code == 401


def test_command_names_a_missing_user():
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("issue_api_token", "nobody")
