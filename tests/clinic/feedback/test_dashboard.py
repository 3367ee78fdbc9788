"""The staff dashboard: edit rate per model version, chars changed, time to sign, ratings, charts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.mlops.dashboard import collect_stats
from clinic.mlops.models import ModelVersion
from clinic.notes import services
from tests.clinic.feedback.conftest import make_generated

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(alice, bob, sign):
    """v1 wrote two notes (one edited in A and P), v2 one unedited note; two ratings."""
    v1 = ModelVersion.objects.create(name="v1", reference="ref-v1")
    v2 = ModelVersion.objects.create(name="v2", reference="ref-v2")
    edited = make_generated(alice, model_version=v1, model_reference="ref-v1")
    services.edit_section(edited, "A", "A much better assessment.", author=alice, base_version=edited.version)
    services.edit_section(edited, "P", "Plan.", author=alice, base_version=edited.version)
    sign(edited, alice)
    sign(make_generated(bob, model_version=v1, model_reference="ref-v1"), bob)
    clean = make_generated(alice, model_version=v2, model_reference="ref-v2")
    sign(clean, alice)
    services.rate_note(edited, alice, 2)
    services.rate_note(clean, alice, 5)
    return v1, v2


def test_stats_per_model_version(history) -> None:
    stats = collect_stats(30)
    rows = {m["name"]: m for m in stats["models"]}
    assert rows["v1"]["signed"] == 2 and rows["v1"]["edit_rate"] == 0.5
    assert rows["v2"]["edit_rate"] == 0.0 and rows["v2"]["rating_mean"] == 5.0
    assert rows["v1"]["rating_mean"] == 2.0
    assert rows["v1"]["chars_changed"]["A"] > 0 and rows["v1"]["chars_changed"]["S"] == 0
    assert rows["v1"]["median_seconds_to_sign"] is not None
    assert stats["sections_fixed"]["A"] == pytest.approx(1 / 3)
    assert stats["sections_ranked"][:2] == ["A", "P"]
    assert stats["total_signed"] == 3


def test_staff_sees_dashboard(history, staff, client) -> None:
    client.force_login(staff)
    page = client.get(reverse("mlops:dashboard"), {"days": "30"}).content.decode()
    assert "v1" in page and "v2" in page and "50%" in page
    assert reverse("mlops:dashboard_chart", args=["edit-rate"]) in page
    assert "cdn" not in page.lower()


def _expected_numbers(name: str, stats: dict) -> list[str]:
    """The labels each chart must show for the numbers it was given."""
    timeline = stats["timeline"]
    if name == "edit-rate":
        return [f"{100 * r:.0f}%" for points in timeline["edit_rate"].values() for _, r in points]
    if name == "ratings":
        return [f"{s:.1f}" for _, s in timeline["rating"]]
    return [f"{100 * stats['sections_fixed'][k]:.0f}%" for k in "SOAP"]


@pytest.mark.parametrize("name", ["edit-rate", "ratings", "sections"])
def test_charts_are_svg_and_show_the_numbers_they_were_given(history, staff, client, name) -> None:
    import re

    client.force_login(staff)
    response = client.get(reverse("mlops:dashboard_chart", args=[name]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response.content.lstrip().startswith(b"<?xml") and b"<svg" in response.content
    svg = response.content.decode()
    shown = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    expected = _expected_numbers(name, collect_stats(30))
    assert expected, "the history fixture gives every chart data"
    for number in expected:
        assert number in shown, f"{name} chart does not show {number}; it shows {shown}"
    if name == "edit-rate":  # one labelled line per model version, v1 edited half its notes, v2 none
        assert {"v1", "v2"} <= set(shown) and "50%" in shown and "0%" in shown
    if name == "ratings":  # the two ratings (2 and 5) land in one bucket: their mean
        assert "3.5" in shown
    if name == "sections":  # A and P fixed in one of three signed notes, S and O never
        assert shown.count("33%") == 2 and shown.count("0%") == 2


def test_charts_render_with_no_data(staff, client) -> None:
    client.force_login(staff)
    response = client.get(reverse("mlops:dashboard_chart", args=["edit-rate"]))
    assert response.status_code == 200 and b"no signed notes yet" in response.content


def test_unknown_chart_is_404(staff, client) -> None:
    client.force_login(staff)
    assert client.get(reverse("mlops:dashboard_chart", args=["nope"])).status_code == 404


def test_clinicians_and_anonymous_users_are_kept_out(alice, client) -> None:
    url = reverse("mlops:dashboard")
    assert client.get(url).status_code == 302
    client.force_login(alice)
    assert client.get(url).status_code == 403
    assert client.get(reverse("mlops:dashboard_chart", args=["ratings"])).status_code == 403


def test_bad_period_falls_back_to_default(staff, client) -> None:
    client.force_login(staff)
    response = client.get(reverse("mlops:dashboard"), {"days": "lots"})
    assert response.status_code == 200 and "last 90 days" in response.content.decode()
