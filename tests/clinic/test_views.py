"""Clinician web views: ownership on every URL, intake, live status, in-place editing, sign-off, exports, audit."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse

from clinic.notes.models import AuditEvent, Encounter, GenerationJob, Note, NoteRevision
from clinic.notes.urls import urlpatterns
from clinic.notes.views import concerns_for
from tests.clinic.conftest import DIALOGUE, generate_now, make_encounter

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url_kwargs(pattern, pk: int) -> dict:
    names = set(pattern.pattern.converters)
    values = {"pk": pk, "key": "S", "fmt": "text"}
    return {name: values[name] for name in names}


def test_every_encounter_url_is_404_for_another_clinician(client, drafted, bob):
    client.force_login(bob)
    checked = 0
    for pattern in urlpatterns:
        if "pk" not in pattern.pattern.converters:
            continue
        url = reverse(f"notes:{pattern.name}", kwargs=url_kwargs(pattern, drafted.encounter.pk))
        for method in (client.get, client.post):
            response = method(url, {"text": "x", "base_version": 0, "score": 5}, **HTMX)
            assert response.status_code in (404, 405), (url, method.__name__, response.status_code)
            checked += response.status_code == 404
    assert checked >= len([p for p in urlpatterns if "pk" in p.pattern.converters])
    drafted.refresh_from_db()
    assert drafted.S.startswith("Dry cough") and drafted.status == "draft" and not drafted.ratings.exists()


def test_every_page_requires_login(client, drafted):
    for pattern in urlpatterns:
        kwargs = url_kwargs(pattern, drafted.encounter.pk)
        url = reverse(f"notes:{pattern.name}", kwargs=kwargs)
        responses = [client.get(url), client.post(url)]
        assert all(r.status_code == 405 or "login" in r.get("Location", "") for r in responses), pattern.name
        assert any(r.status_code == 302 for r in responses), pattern.name
    assert get_resolver()  # the project urlconf loads


def test_staff_see_everyones_encounters(client, drafted, staff):
    client.force_login(staff)
    assert client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).status_code == 200
    assert b"alice" in client.get(reverse("notes:encounter_list")).content


def test_paste_creates_encounter_and_queues_generation(client, alice, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("clinic.notes.tasks.generate_note_task.apply_async", lambda **kw: sent.append(kw))
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notes:encounter_new"), {"title": "Cough", "dialogue": DIALOGUE})
    encounter = Encounter.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "notes:encounter_detail", args=[encounter.pk]
    )
    assert encounter.owner == alice and encounter.title == "Cough"
    job = GenerationJob.objects.get()
    assert job.state == "queued" and sent == [{"args": [job.pk], "task_id": job.celery_task_id, "queue": "notes"}]


def test_upload_vtt_file(client, alice):
    client.force_login(alice)
    vtt = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Doctor>Any pain?\n\n"
        b"00:00:02.000 --> 00:00:03.000\n<v Patient>No.\n"
    )
    response = client.post(reverse("notes:encounter_new"), {"file": SimpleUploadedFile("visit.vtt", vtt)})
    assert response.status_code == 302
    assert Encounter.objects.get().turns == [
        {"speaker": "doctor", "text": "Any pain?"},
        {"speaker": "patient", "text": "No."},
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dialogue": ""}, "empty"),
        ({"dialogue": "hello there\nDoctor: hi"}, "Line 1"),
        ({"file": ("scan.txt", b"\x00\x01\x02binary")}, "binary"),
        ({"file": ("big.txt", b"Doctor: " + b"x" * 2000)}, "limit is 1,000 bytes"),
        ({"dialogue": "Doctor: hi", "file": ("a.txt", b"Doctor: hi")}, "not both"),
    ],
)
def test_bad_intake_shows_a_clear_error_and_stores_nothing(client, alice, settings, data, message):
    settings.DIALOGUE_MAX_BYTES = 1000
    client.force_login(alice)
    if "file" in data:
        name, body = data["file"]
        data = {**data, "file": SimpleUploadedFile(name, body)}
    response = client.post(reverse("notes:encounter_new"), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Encounter.objects.exists() and not GenerationJob.objects.exists()


def test_status_polls_while_queued_and_stops_with_the_note_when_done(client, alice, fake_engine):
    client.force_login(alice)
    encounter = make_encounter(alice)
    job = GenerationJob.objects.create(encounter=encounter)
    url = reverse("notes:job_status", args=[encounter.pk])
    response = client.get(url, **HTMX)
    assert (
        response.status_code == 200 and b'hx-trigger="every 1s"' in response.content and b"Queued" in response.content
    )
    GenerationJob.objects.filter(pk=job.pk).update(state="generating", tokens=12, partial_text='{"S": "Dry')
    response = client.get(url, **HTMX)
    assert b"12 tokens so far" in response.content and b"Dry" in response.content  # the section so far, not raw JSON
    assert b"{&quot;S&quot;" not in response.content
    GenerationJob.objects.filter(pk=job.pk).update(state="queued")
    generate_now(encounter)
    response = client.get(url, **HTMX)
    assert response.status_code == 286 and b'id="section-S"' in response.content and b"every 1s" not in response.content
    assert response["HX-Trigger"] == "noteChanged"


def test_failed_job_stops_polling_and_offers_retry(client, alice):
    client.force_login(alice)
    encounter = make_encounter(alice)
    GenerationJob.objects.create(encounter=encounter, state="failed", error="the model's output is not a SOAP note")
    response = client.get(reverse("notes:job_status", args=[encounter.pk]), **HTMX)
    assert (
        response.status_code == 286
        and b"not a SOAP note" in response.content
        and b"Retry generation" in response.content
    )
    response = client.post(reverse("notes:generate", args=[encounter.pk]), **HTMX)
    assert b"every 1s" in response.content and encounter.jobs.filter(state="queued").count() == 1


def test_review_page_shows_dialogue_note_and_evidence_attributes(client, drafted, alice):
    client.force_login(alice)
    response = client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="turn-1"' in html and "Dry cough for two weeks." in html
    assert 'data-turns="1' in html  # S's first sentence is best supported by the patient's turn (ranked first)
    assert 'class="sentence unsupported"' in html  # "Blood pressure 150/95." appears nowhere in the dialogue
    assert AuditEvent.objects.filter(action="view", actor=alice).exists()


def test_edit_in_place_saves_and_triggers_history_refresh(client, drafted, alice):
    client.force_login(alice)
    url = reverse("notes:section", args=[drafted.encounter.pk, "A"])
    form = client.get(url + "?edit=1", **HTMX)
    assert b"<textarea" in form.content and f'value="{drafted.version}"'.encode() in form.content
    response = client.post(url, {"text": "Acute viral bronchitis.", "base_version": drafted.version}, **HTMX)
    assert response.status_code == 200 and response["HX-Trigger"] == "noteChanged"
    assert b"Acute viral bronchitis." in response.content and b"<textarea" not in response.content
    history = client.get(reverse("notes:history", args=[drafted.encounter.pk]), **HTMX).content.decode()
    assert "Acute viral bronchitis." in history and "alice" in history


def test_conflicting_save_shows_the_other_version_and_keeps_it(client, drafted, alice):
    url = reverse("notes:section", args=[drafted.encounter.pk, "P"])
    base = drafted.version
    client.force_login(alice)
    client.post(url, {"text": "Other tab's plan.", "base_version": base}, **HTMX)  # her other tab saves first
    response = client.post(url, {"text": "Alice's plan.", "base_version": base}, **HTMX)
    html = response.content.decode()
    assert "Conflict" in html and "Other tab&#x27;s plan." in html and "Alice&#x27;s plan." in html
    assert Note.objects.get(pk=drafted.pk).P == "Other tab's plan."
    response = client.post(url, {"text": "Alice's plan.", "base_version": base}, follow=False)
    assert response.status_code == 409


def test_sign_locks_and_amend_requires_reason(client, drafted, alice):
    client.force_login(alice)
    data = {"version": drafted.version, "acknowledge": [c.id for c in concerns_for(drafted.encounter)]}
    response = client.post(reverse("notes:sign", args=[drafted.encounter.pk]), data, **HTMX)
    assert b"Signed by" in response.content and b"Amend" in response.content
    drafted.refresh_from_db()
    url = reverse("notes:section", args=[drafted.encounter.pk, "A"])
    assert b"Reason for amendment" in client.get(url + "?edit=1", **HTMX).content
    response = client.post(url, {"text": "Pneumonia.", "base_version": drafted.version}, **HTMX)
    assert b"give a reason" in response.content and Note.objects.get(pk=drafted.pk).A == "Viral bronchitis."
    client.post(url, {"text": "Pneumonia.", "base_version": drafted.version, "reason": "X-ray"}, **HTMX)
    assert NoteRevision.objects.filter(kind="amendment", reason="X-ray", after="Pneumonia.").exists()


def test_rating_saves_and_rejects_out_of_range(client, drafted, alice):
    client.force_login(alice)
    url = reverse("notes:rate", args=[drafted.encounter.pk])
    assert b"Rating saved" in client.post(url, {"score": 4, "comment": "good"}, **HTMX).content
    assert drafted.ratings.get().score == 4
    response = client.post(url, {"score": 9})
    assert response.status_code == 400 and drafted.ratings.get().score == 4


def test_export_only_after_signing(client, drafted, alice):
    client.force_login(alice)
    url = reverse("notes:export", args=[drafted.encounter.pk, "json"])
    assert client.get(url).status_code == 302
    data = {"version": drafted.version, "acknowledge": [c.id for c in concerns_for(drafted.encounter)]}
    client.post(reverse("notes:sign", args=[drafted.encounter.pk]), data)
    response = client.get(url)
    assert response.status_code == 200 and json.loads(response.content)["note"]["A"] == "Viral bronchitis."
    assert "attachment" in response["Content-Disposition"]
    text = client.get(reverse("notes:export", args=[drafted.encounter.pk, "text"]))
    assert text["Content-Type"].startswith("text/plain") and b"PLAN" in text.content


def test_list_search_status_filter_and_pagination(client, alice, bob, fake_engine):
    client.force_login(alice)
    for i in range(23):
        make_encounter(alice, title=f"Visit {i:02d}")
    generate_now(make_encounter(alice, title="Migraine follow-up"))
    make_encounter(bob, title="Bob's secret")
    page1 = client.get(reverse("notes:encounter_list")).content.decode()
    assert "Page 1 of 2" in page1 and "Bob&#x27;s secret" not in page1
    page2 = client.get(reverse("notes:encounter_list"), {"page": 2}).content.decode()
    assert "Visit 00" in page2
    found = client.get(reverse("notes:encounter_list"), {"q": "migraine"}, **HTMX).content.decode()
    assert "Migraine follow-up" in found and "Visit 01" not in found and "<html" not in found
    drafts = client.get(reverse("notes:encounter_list"), {"status": "draft"}).content.decode()
    assert "Migraine follow-up" in drafts and "Visit 05" not in drafts


def test_audit_trail_is_visible_to_staff_only(client, drafted, alice, staff):
    client.force_login(alice)
    client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk]))
    assert client.get(reverse("notes:audit")).status_code == 302
    client.force_login(staff)
    response = client.get(reverse("notes:audit"), {"encounter": drafted.encounter.pk})
    html = response.content.decode()
    assert response.status_code == 200 and "Viewed" in html and "Created" in html and "alice" in html
