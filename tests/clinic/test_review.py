"""The review page a clinician can trust (issue 19): sign gate, per-section editing, generation view, wording."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.notes import services
from clinic.notes.evidence import note_evidence
from clinic.notes.models import AuditEvent, GenerationJob, Note, NoteRevision
from clinic.notes.review import model_notice, partial_sections, sign_concerns
from clinic.notes.views import concerns_for
from tests.clinic.conftest import make_encounter

HTMX = {"HTTP_HX_REQUEST": "true"}
TURNS = [
    {"speaker": "patient", "text": "I've had a dry cough for two weeks."},
    {"speaker": "doctor", "text": "Your lungs sound clear. Rest and fluids."},
]


@pytest.fixture(autouse=True)
def _lexical_evidence(monkeypatch):
    monkeypatch.setenv("SOAP_EVIDENCE_EMBEDDINGS", "0")  # these tests are about the page, not the model


def test_placeholder_empty_duplicate_and_unsupported_sentences_need_a_look():
    sections = {"S": "Dry cough for two weeks. Dry cough for two weeks.", "O": "O", "A": "Not documented", "P": ""}
    sections_more = {**sections, "P": "Start lisinopril."}
    kinds = [(c.section, c.kind) for c in sign_concerns(sections, note_evidence(sections, TURNS))]
    assert kinds == [("S", "duplicate"), ("O", "placeholder"), ("A", "placeholder"), ("P", "empty")]
    concerns = sign_concerns(sections_more, note_evidence(sections_more, TURNS))
    assert concerns[-1].kind == "unsupported" and "lisinopril" in concerns[-1].detail


def test_a_clean_note_has_nothing_to_check():
    sections = {"S": "Dry cough for two weeks.", "O": "Lungs clear.", "A": "Dry cough.", "P": "Rest and fluids."}
    assert sign_concerns(sections, note_evidence(sections, TURNS)) == []


def test_concern_ids_change_with_the_text_they_describe():
    one = sign_concerns({"S": "", "O": "O", "A": "x", "P": "y"}, {})
    two = sign_concerns({"S": "", "O": "...", "A": "x", "P": "y"}, {})
    assert one[0].id == two[0].id and one[1].id != two[1].id


def test_partial_json_becomes_sections_as_far_as_written():
    assert partial_sections('{"S": "Cough for 3 days.", "O": "Temp 38.\\u00') == {
        "S": "Cough for 3 days.",
        "O": "Temp 38.",
    }
    assert partial_sections('{"S": "He said \\"ow\\"\\nthen') == {"S": 'He said "ow"\nthen'}
    assert partial_sections("") == {}


def test_demo_models_are_named_and_flagged():
    assert model_notice("default", registered=False)["demo"] is True
    assert "SmolLM2" in model_notice("default", registered=False)["label"]
    assert model_notice("/models/ckpt-7", registered=True)["demo"] is False
    assert model_notice("/models/unknown", registered=False)["demo"] is True


@pytest.fixture
def gated(drafted):
    Note.objects.filter(pk=drafted.pk).update(O="O", A="A")
    drafted.refresh_from_db()
    return drafted


def sign_url(note):
    return reverse("notes:sign", args=[note.encounter.pk])


def test_sign_gate_lists_each_concern_and_refuses_until_all_are_acknowledged(client, gated, alice):
    client.force_login(alice)
    gate = client.get(sign_url(gated), {"version": gated.version}, **HTMX).content.decode()
    concerns = concerns_for(gated.encounter)
    assert {c.kind for c in concerns} >= {"placeholder"} and all(c.id in gate for c in concerns)
    assert "Objective holds only a placeholder" in gate and 'name="version"' in gate
    partly = {"version": gated.version, "acknowledge": [concerns[0].id]}
    refused = client.post(sign_url(gated), partly, **HTMX).content.decode()
    assert "still need a look" in refused and Note.objects.get(pk=gated.pk).status == "draft"
    everything = {"version": gated.version, "acknowledge": [c.id for c in concerns]}
    signed = client.post(sign_url(gated), everything, **HTMX).content.decode()
    assert "Signed by" in signed and Note.objects.get(pk=gated.pk).status == "signed"
    event = AuditEvent.objects.get(action="sign", encounter=gated.encounter)
    assert len(event.detail["acknowledged"]) == len(concerns)
    assert any("Objective" in item and "placeholder" in item for item in event.detail["acknowledged"])


def test_editing_a_flagged_section_removes_it_from_the_gate(client, gated, alice):
    client.force_login(alice)
    url = reverse("notes:section", args=[gated.encounter.pk, "O"])
    client.post(url, {"text": "Lungs clear.", "base_version": gated.version}, **HTMX)
    assert "O" not in {c.section for c in concerns_for(Note.objects.get(pk=gated.pk).encounter)}


def test_review_page_states_the_model_and_preselects_no_rating(client, drafted, alice):
    client.force_login(alice)
    page = client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).content.decode()
    assert "Demo model." in page and "SmolLM2" in page
    assert 'type="radio" name="score" value="5" checked' not in page and " checked>" not in page
    assert 'Edit<span class="visually-hidden"> Subjective</span>' in page
    assert 'id="dialogue" aria-labelledby="dialogue-title" tabindex="0"' in page
    assert "Skip to the note" in page and 'role="status"' in page


def test_saving_a_second_section_on_the_same_page_merges(client, drafted, alice):
    client.force_login(alice)
    base = drafted.version  # both editors were opened at this version
    section = lambda key: reverse("notes:section", args=[drafted.encounter.pk, key])  # noqa: E731
    a = client.post(section("A"), {"text": "Acute bronchitis.", "base_version": base}, **HTMX)
    p = client.post(section("P"), {"text": "Fluids.", "base_version": base}, **HTMX)
    assert b"Conflict" not in a.content and b"Conflict" not in p.content
    note = Note.objects.get(pk=drafted.pk)
    assert (note.A, note.P) == ("Acute bronchitis.", "Fluids.")


def test_someone_elses_change_to_the_same_section_is_a_conflict_showing_their_version(client, drafted, alice, staff):
    base = drafted.version  # a colleague (here: staff, writing directly) changes A after Alice opened her editor
    Note.objects.filter(pk=drafted.pk).update(A="Pneumonia.", version=base + 1)
    NoteRevision.objects.create(note=drafted, author=staff, section="A", after="Pneumonia.", note_version=base + 1)
    client.force_login(alice)
    url = reverse("notes:section", args=[drafted.encounter.pk, "A"])
    page = client.post(url, {"text": "Bronchitis.", "base_version": base}, **HTMX).content.decode()
    assert "changed by someone else" in page and "Pneumonia." in page and "Bronchitis." in page
    assert Note.objects.get(pk=drafted.pk).A == "Pneumonia."


def test_own_change_in_another_tab_is_not_blamed_on_someone_else(drafted, alice):
    base = drafted.version
    services.edit_section(drafted, "A", "Tab one.", author=alice, base_version=base, per_section=True)
    with pytest.raises(services.VersionConflict, match="another tab or window"):
        services.edit_section(drafted, "A", "Tab two.", author=alice, base_version=base, per_section=True)


def test_generating_view_shows_sections_and_elapsed_time_not_json(client, alice):
    client.force_login(alice)
    encounter = make_encounter(alice)
    GenerationJob.objects.create(
        encounter=encounter, state="generating", tokens=9, partial_text='{"S": "Dry cough", "O'
    )
    page = client.get(reverse("notes:job_status", args=[encounter.pk]), **HTMX).content.decode()
    assert "Dry cough" in page and "&quot;S&quot;" not in page and 'class="elapsed"' in page
    assert "aria-live" not in page and 'data-announce="Generating the note."' in page


def test_regenerate_asks_first_only_when_the_clinician_edited(client, drafted, alice):
    client.force_login(alice)
    detail = reverse("notes:encounter_detail", args=[drafted.encounter.pk])
    assert "hx-confirm" not in client.get(detail).content.decode().split('id="regenerate-button"')[1].split(">")[0]
    services.edit_section(drafted, "P", "Fluids.", author=alice, base_version=drafted.version)
    assert "hx-confirm" in client.get(detail).content.decode().split('id="regenerate-button"')[1].split(">")[0]


def test_amended_after_signing_is_said_in_words(client, drafted, alice):
    services.sign_note(drafted, alice)
    services.edit_section(drafted, "P", "Fluids.", author=alice, base_version=drafted.version, reason="typo")
    client.force_login(alice)
    page = client.get(reverse("notes:encounter_detail", args=[drafted.encounter.pk])).content.decode()
    assert "amended after signing" in page and "Review and sign amended note" in page


def test_intake_errors_speak_to_clinicians(client, alice):
    client.force_login(alice)
    page = client.post(reverse("notes:encounter_new"), {"dialogue": '[{"speaker": "doctor" "text": "hi"}]'})
    text = page.content.decode()
    assert "damaged near line 1" in text and "Expecting" not in text and "delimiter" not in text


def test_a_dead_worker_is_noticed_within_seconds():
    from clinic.notes import tasks

    assert services.STALE_AFTER_SECONDS <= 15 and tasks.HEARTBEAT_SECONDS * 5 <= services.STALE_AFTER_SECONDS
