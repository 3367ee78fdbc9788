"""Issue 19: times in the clinician's own zone, a per-user setting (clinic.accounts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from clinic.accounts.middleware import TimeZoneMiddleware
from clinic.accounts.models import Profile
from clinic.accounts.services import set_time_zone, stored_time_zone
from clinic.notes import services
from clinic.notes.models import AuditEvent, Encounter, NoteRevision, Signature

pytestmark = pytest.mark.django_db
SETTINGS_URL = "/settings/"
# 18:30 UTC on 15 January is 12:30 CST in Chicago (no daylight saving in January).
WHEN = datetime(2026, 1, 15, 18, 30, 5, tzinfo=UTC)


def zone_seen_by_view(user) -> str:
    """Run the middleware around a view that reports the active zone; return what the view saw."""
    seen = []
    request = RequestFactory().get("/")
    request.user = user

    def view(_request):
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse()

    TimeZoneMiddleware(view)(request)
    return seen[0]


# --- the stored setting ----------------------------------------------------------------------


def test_profile_accepts_an_iana_zone_and_refuses_anything_else(alice):
    Profile(user=alice, time_zone="America/Chicago").full_clean()
    Profile(user=alice, time_zone="").full_clean()  # not chosen yet: the browser's zone
    with pytest.raises(ValidationError, match="'Mars/Olympus_Mons' is not a time zone"):
        Profile(user=alice, time_zone="Mars/Olympus_Mons").full_clean()


def test_saving_a_zone_stores_it_and_audits_the_change(alice):
    assert stored_time_zone(alice) == ""
    assert set_time_zone(alice, "America/Chicago") is True
    alice.refresh_from_db()
    assert stored_time_zone(alice) == "America/Chicago"
    event = AuditEvent.objects.get(action=AuditEvent.Action.SETTINGS)
    assert event.actor == alice and event.encounter is None
    assert event.detail == {"setting": "time_zone", "before": "", "after": "America/Chicago"}
    assert set_time_zone(alice, "America/Chicago") is False  # unchanged: no second event
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SETTINGS).count() == 1


def test_an_unknown_zone_is_refused_and_nothing_is_saved(alice):
    with pytest.raises(services.InvalidInput, match="not a time zone"):
        set_time_zone(alice, "Europe/Atlantis")
    assert not Profile.objects.exists() and not AuditEvent.objects.exists()


# --- middleware --------------------------------------------------------------------------------


def test_middleware_activates_the_users_zone_for_the_request_only(alice):
    set_time_zone(alice, "America/Chicago")
    alice.refresh_from_db()
    assert zone_seen_by_view(alice) == "America/Chicago"
    assert timezone.get_current_timezone_name() == "UTC"  # deactivated after the response


def test_signed_out_requests_and_users_without_a_zone_keep_utc(alice):
    assert zone_seen_by_view(AnonymousUser()) == "UTC"
    assert zone_seen_by_view(alice) == "UTC"


# --- the settings page -----------------------------------------------------------------------


def test_settings_page_needs_login_and_is_in_the_nav(client, alice):
    assert "login" in client.get(SETTINGS_URL)["Location"]
    client.force_login(alice)
    assert f'href="{reverse("accounts:settings")}">Settings</a>' in client.get(reverse("notes:encounter_list")).text


def test_first_visit_offers_the_browsers_zone_as_the_default(client, alice):
    client.force_login(alice)
    page = client.get(SETTINGS_URL).text
    assert "data-browser-default" in page  # clinic.js preselects Intl's zone in this select
    assert '<option value="UTC" selected>' in page and "No time zone saved yet" in page
    assert "data-time-zone" not in page  # no saved zone: clinic.js shows times in the browser's zone


def test_posting_a_zone_saves_it_and_later_pages_use_it(client, alice):
    client.force_login(alice)
    response = client.post(SETTINGS_URL, {"time_zone": "America/Chicago"}, follow=True)
    assert response.redirect_chain == [(SETTINGS_URL, 302)]
    page = response.text
    assert "Saved: times now show in America/Chicago." in page
    assert '<option value="America/Chicago" selected>' in page and "data-browser-default" not in page
    assert '<html lang="en" data-theme="light" data-time-zone="America/Chicago">' in page
    assert Profile.objects.get(user=alice).time_zone == "America/Chicago"


@pytest.mark.parametrize(
    ("posted", "message"),
    [("Mars/Olympus_Mons", "&#x27;Mars/Olympus_Mons&#x27; is not a time zone"), ("", "Choose a time zone")],
)
def test_an_invalid_zone_gets_a_form_error_and_nothing_is_saved(client, alice, posted, message):
    set_time_zone(alice, "Europe/Paris")
    client.force_login(alice)
    response = client.post(SETTINGS_URL, {"time_zone": posted})
    assert response.status_code == 400
    page = response.text
    assert message in page and 'aria-invalid="true"' in page and 'id="time-zone-error"' in page
    assert Profile.objects.get(user=alice).time_zone == "Europe/Paris"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SETTINGS).count() == 1  # the first save only


# --- server-rendered times ---------------------------------------------------------------------


def _signed_at_fixed_times(note, user) -> None:
    services.edit_section(note, "A", "Acute bronchitis.", author=user, base_version=note.version)
    services.sign_note(note, user)
    Encounter.objects.filter(pk=note.encounter_id).update(created_at=WHEN)
    NoteRevision.objects.filter(note=note).update(created_at=WHEN)
    Signature.objects.filter(note=note).update(signed_at=WHEN)
    type(note).objects.filter(pk=note.pk).update(generated_at=WHEN)
    AuditEvent.objects.update(created_at=WHEN)


def test_pages_show_times_in_the_users_zone_with_its_abbreviation(client, drafted, alice, staff):
    _signed_at_fixed_times(drafted, alice)
    set_time_zone(alice, "America/Chicago")
    client.force_login(alice)
    review = client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).text
    assert 'created <time datetime="2026-01-15T12:30:05-06:00">2026-01-15 12:30 CST</time>' in review
    assert "Signed by <strong>alice</strong> at <time" in review and ">2026-01-15 12:30 CST</time> (version" in review
    assert ">2026-01-15 12:30:05 CST</time>" in review  # the revision table
    assert "UTC" not in review
    history = client.get(reverse("notes:history", args=[drafted.encounter.pk])).text
    assert ">2026-01-15 12:30:05 CST</time>" in history  # the htmx refresh of the revision table
    rows = client.get(reverse("notes:encounter_list")).text
    assert ">2026-01-15 12:30 CST</time>" in rows

    set_time_zone(staff, "Europe/Paris")
    client.force_login(staff)
    audit = client.get(reverse("notes:audit")).text
    assert ">2026-01-15 19:30:05 CET</time>" in audit


def test_without_a_saved_zone_pages_render_utc_for_the_browser_to_convert(client, drafted, alice):
    _signed_at_fixed_times(drafted, alice)
    client.force_login(alice)
    review = client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).text
    assert '<time datetime="2026-01-15T18:30:05+00:00">2026-01-15 18:30 UTC</time>' in review


def test_signing_twice_names_the_first_signature_in_the_users_zone(drafted, alice):
    services.sign_note(drafted, alice)
    Signature.objects.filter(note=drafted).update(signed_at=WHEN)
    timezone.activate("America/Chicago")
    try:
        with pytest.raises(services.NoteLocked, match="at 2026-01-15 12:30 CST"):
            services.sign_note(drafted, alice)
    finally:
        timezone.deactivate()
