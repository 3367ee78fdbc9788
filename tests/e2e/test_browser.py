"""End to end in a real browser: Chromium (Playwright) against a live server and a real Celery worker
running the real default model. Log in, paste a dialogue, wait for the note, edit, sign, see history.
Saves screenshots of the main pages to docs/screenshots/.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from inference.models import DEFAULT_ADAPTER_DIR
from tests.clinic.workers import broker_for_tests, start_worker, stop_worker

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


def close_live_server_sessions(blocker) -> None:
    """Wait for the live server's request threads to drop their PostgreSQL sessions, so the test
    database can be dropped at the end of the run; end the ones that linger (idle, test database only)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with blocker.unblock(), connection.cursor() as cursor:
        for _ in range(20):
            cursor.execute(query)
            if not cursor.fetchall():
                return
            time.sleep(0.25)
        cursor.execute(f"SELECT pg_terminate_backend(pid) FROM ({query} AND state = 'idle') AS lingering")


@pytest.fixture
def browser(django_db_blocker):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session", autouse=True)
def _end_live_server_sessions(django_db_setup, django_db_blocker):
    """Once, after the last browser test: between tests, ending "idle" sessions also ended ones the next
    test still needed ("terminating connection due to administrator command")."""
    yield
    close_live_server_sessions(django_db_blocker)


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def new_page(browser, viewport=None, timezone_id=None):
    """A page whose documents all carry axe-core (injected by the browser, so the app's CSP is untouched)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci (scripts/setup.sh does)")
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000}, timezone_id=timezone_id)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def assert_accessible(page, state: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation (WCAG 2.1 A/AA and best practice)."""
    # htmx fades swapped content in (opacity) for a moment; axe measuring mid-fade sees low contrast.
    page.wait_for_function("() => !document.querySelector('.htmx-swapping, .htmx-settling, .htmx-added')")
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'best-practice']}})"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical") or v["id"].startswith("landmark")  # duplicate landmarks too
    ]
    assert not bad, f"axe on {state}: {bad}"


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.mark.django_db(transaction=True)
def test_clinician_drafts_edits_and_signs_a_note(browser, live_server, alice, staff, default_model_dir, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "worker.log"
    with broker_for_tests(tmp_path) as broker:
        # The shipped default (base + the trained adapter), as `make run` serves it: the screenshots show
        # its note (tests/conftest.py sets the base for every other test).
        worker = start_worker(broker, log, SOAP_DEFAULT_ADAPTER=str(DEFAULT_ADAPTER_DIR))
        try:
            page = new_page(browser)
            login(page, live_server.url, "alice", "alice-password-1")

            # A real visit: ACI-Bench valid D2N068, 73 turns (one generation serves every check below).
            page.click("text=New encounter")
            page.fill("input[name=title]", "Heart failure follow-up (ACI-Bench D2N068)")
            page.fill("textarea[name=dialogue]", aci_visit(0)[0])
            page.screenshot(path=str(SCREENSHOTS / "new-encounter.png"), full_page=False)
            page.click("form.intake button[type=submit]")
            page.wait_for_selector("#note-area.job, #section-S", timeout=30_000)
            if page.locator("#note-area.job").count():  # queued or generating: polled every second
                assert_accessible(page, "generating")
            try:  # the live view: sections fill in as the model writes them, with the elapsed time
                page.wait_for_selector(".job-generating .partial-section:not(.waiting)", timeout=120_000)
                area = page.locator("#note-area").inner_text()
                assert '{"S"' not in area and page.locator(".job-generating .elapsed").count() == 1
                page.screenshot(path=str(SCREENSHOTS / "generating.png"))
            except Exception:  # noqa: BLE001 - generation may already be done; the screenshot is a bonus
                pass
            page.wait_for_selector("#section-S", timeout=300_000)
            page.wait_for_selector("#model-banner")
            supported = page.locator(".sentence[data-supported=yes]").first
            if supported.count():  # show the evidence highlight in the screenshot
                supported.hover()
            page.screenshot(path=str(SCREENSHOTS / "review-desktop.png"), full_page=False)
            phone = new_page(browser, PHONE)
            login(phone, live_server.url, "alice", "alice-password-1")
            phone.goto(page.url)
            phone.wait_for_selector("#section-S")
            assert no_horizontal_scroll(phone)
            phone.screenshot(path=str(SCREENSHOTS / "review-phone.png"), full_page=True)
            phone.context.close()

            sentence = page.locator(".sentence[data-turns]:not([data-turns=''])").first
            if sentence.count():
                sentence.hover()
                assert page.locator(".turn.evidence").count() >= 1

            page.click("#section-A button:has-text('Edit')")
            page.fill("#section-A textarea", "Compensated heart failure.")
            page.click("#section-A button:has-text('Save')")
            page.wait_for_selector("#section-A .sentence:has-text('Compensated heart failure.')")
            page.wait_for_selector("#history:has-text('Compensated heart failure.')")

            page.click("#sign-button")
            page.wait_for_selector("#sign-gate")
            boxes = page.locator("#sign-gate input[name=acknowledge]")
            for i in range(boxes.count()):  # what the demo model wrote that needs a look, each checked
                boxes.nth(i).check()
            page.click("#confirm-sign")
            page.wait_for_selector("text=Signed by")
            assert page.locator("#section-A button:has-text('Amend')").count() == 1
            history = page.locator("#history")
            assert "Edit" in history.inner_text() and "Generated" in history.inner_text()
            page.screenshot(path=str(SCREENSHOTS / "signed.png"), full_page=True)

            page.goto(f"{live_server.url}/")
            page.wait_for_selector("text=Heart failure follow-up")
            assert "Signed" in page.locator("table.encounters").inner_text()
            page.screenshot(path=str(SCREENSHOTS / "encounters.png"))

            staff_page = new_page(browser, {"width": 1400, "height": 900})
            login(staff_page, live_server.url, "staff", "staff-password-1")
            staff_page.goto(f"{live_server.url}/audit/")
            text = staff_page.locator("table").inner_text()
            assert "Signed" in text and "Edited" in text and "alice" in text
            staff_page.screenshot(path=str(SCREENSHOTS / "audit.png"))
        finally:
            stop_worker(worker)


def aci_visit(index: int = 0) -> tuple[str, dict]:
    """An ACI-Bench valid visit as '[speaker] text' lines (index 0 is D2N068, 73 turns), and its clinician note."""
    from training.evaluation.datasets import load_examples

    example = load_examples("aci-bench:valid")[index]
    return "\n".join(f"[{t['speaker']}] {t['text']}" for t in example["dialogue"]), example["reference"]


@pytest.mark.django_db(transaction=True)
def test_review_page_gates_sign_off_and_works_by_keyboard_and_on_a_phone(browser, live_server, alice, staff):
    """No worker: a stored draft on the 73-turn visit, with placeholders and an invented dose, exercises the
    review page itself (evidence scroll, per-section editing, sign gate, keyboard, phone, axe-core)."""
    from clinic.notes.evidence import _Dialogue, default_semantic
    from clinic.notes.models import Note
    from tests.clinic.conftest import make_encounter

    dialogue, _ = aci_visit(0)
    encounter = make_encounter(alice, dialogue, title="Heart failure follow-up")
    Note.objects.filter(encounter=encounter).update(
        S="Fatigue and lightheadedness for about 5 weeks. He has been eating more salt lately.",
        O="O",
        A="A",
        P="Increase Lasix to 80 mg once a day. Start warfarin 5 mg daily.",
        status="draft",
        version=1,
        model_reference="default",
    )
    # The app embeds a visit's turns while its note is generated (prepare_in_background); do that here.
    semantic = default_semantic()
    assert semantic is not None
    semantic.similarities(["warm up"], _Dialogue.of(encounter.turns).texts)
    base = live_server.url
    page = new_page(browser)
    login(page, base, "alice", "alice-password-1")
    assert_accessible(page, "encounter list")
    page.goto(f"{base}/encounters/new/")
    assert_accessible(page, "new encounter")
    page.goto(f"{base}/encounters/{encounter.pk}/")
    page.wait_for_selector("#section-P .sentence")
    assert "Demo model" in page.locator("#model-banner").inner_text()
    assert page.locator("input[name=score]:checked").count() == 0
    assert_accessible(page, "review")

    # Evidence: "5 weeks" is supported by "about five weeks"; the invented warfarin dose is flagged in text too.
    weeks = page.locator(".sentence", has_text="5 weeks")
    assert weeks.get_attribute("data-supported") == "yes"
    warfarin = page.locator(".sentence", has_text="warfarin")
    assert warfarin.get_attribute("data-supported") == "no" and "possibly unsupported" in warfarin.inner_text()
    # Hover the Lasix sentence: only the dialogue pane scrolls, to the "increase your lasix to 80 mg" turn.
    lasix = page.locator(".sentence", has_text="Lasix")
    page.evaluate("() => window.scrollTo(0, 0)")
    lasix.scroll_into_view_if_needed()
    page_y = page.evaluate("() => window.scrollY")
    lasix.hover()
    best = page.locator(".turn.evidence-best")
    assert "lasix to 80 mg" in best.inner_text()
    assert page.evaluate("() => document.getElementById('dialogue').scrollTop") > 0
    assert page.evaluate("() => window.scrollY") == page_y
    box, pane = best.bounding_box(), page.locator("#dialogue").bounding_box()
    assert pane["y"] <= box["y"] <= pane["y"] + pane["height"], "the best turn is scrolled into the pane"
    lasix.click()
    assert "lasix to 80 mg" in page.locator(".turn.evidence-best").inner_text()

    # One-click copy of a section and of the whole note (clinicians paste into the EHR).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.get_by_role("button", name="Copy Plan", exact=True).click()
    page.wait_for_selector("#section-P button.copied")
    assert page.evaluate("() => navigator.clipboard.readText()").startswith("Increase Lasix to 80 mg")
    page.click("#copy-note")
    page.wait_for_selector("#copy-note.copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("SUBJECTIVE\nFatigue") and "\n\nPLAN\nIncrease Lasix" in copied

    # Keyboard: skip link to the note; four uniquely named Edit buttons; focus into the editor and back.
    page.reload()
    page.wait_for_selector("#section-P .sentence")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the note"
    sections = ("Subjective", "Objective", "Assessment", "Plan")
    names = [page.get_by_role("button", name=f"Edit {n}", exact=True).count() for n in sections]
    assert names == [1, 1, 1, 1]
    page.get_by_role("button", name="Edit Assessment", exact=True).click()
    page.wait_for_selector("#section-A textarea")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'editor-A'")
    page.get_by_role("button", name="Edit Objective", exact=True).click()  # a second editor open on the page
    page.wait_for_selector("#section-O textarea")
    assert_accessible(page, "editing")
    page.fill("#section-A textarea", "Congestive heart failure with fluid retention.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Save Assessment, by keyboard
    page.wait_for_selector("#section-A .sentence")
    page.wait_for_function("() => document.activeElement && document.activeElement.matches('#section-A .edit-button')")
    page.fill("#section-O textarea", "Neck: JVD 8 cm. Rales at both bases.")
    page.click("#section-O button[type=submit]")
    page.wait_for_selector("#section-O .sentence")  # saved: no conflict with her own Assessment save
    assert page.locator(".conflict").count() == 0

    # Two tabs editing different sections merge.
    other = new_page(browser)
    login(other, base, "alice", "alice-password-1")
    other.goto(f"{base}/encounters/{encounter.pk}/")
    other.click("#section-S .edit-button")
    page.click("#section-P .edit-button")
    other.fill("#section-S textarea", "Fatigue and lightheadedness for about 5 weeks.")
    other.click("#section-S button[type=submit]")
    other.wait_for_selector("#section-S .sentence")
    page.fill("#section-P textarea", "Increase Lasix to 80 mg once a day.")
    page.click("#section-P button[type=submit]")
    page.wait_for_selector("#section-P .sentence")
    assert page.locator(".conflict").count() == 0
    note = Note.objects.get(encounter=encounter)
    assert note.S.endswith("5 weeks.") and note.P == "Increase Lasix to 80 mg once a day."
    other.context.close()

    # Phone before signing: stacked, no horizontal scroll, the search box usable.
    phone = new_page(browser, PHONE, timezone_id="America/New_York")  # a clinician away from UTC
    login(phone, base, "alice", "alice-password-1")
    assert no_horizontal_scroll(phone)
    assert "EST" in phone.locator("table.encounters time").first.inner_text()  # the browser's zone, not UTC
    assert phone.locator("input[name=q]").bounding_box()["width"] > 200
    phone.goto(f"{base}/encounters/{encounter.pk}/")
    phone.wait_for_selector("#section-P .sentence")
    assert no_horizontal_scroll(phone)
    dialogue_box, note_box = phone.locator("#dialogue").bounding_box(), phone.locator("#note").bounding_box()
    assert dialogue_box["y"] + dialogue_box["height"] <= note_box["y"] + 1, "dialogue and note are stacked"
    assert_accessible(phone, "phone review")
    phone.context.close()

    # Sign gate, by keyboard: it lists what is left (the edited placeholders are gone from it); nothing signs unticked.
    page.reload()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the second skip link: straight to sign-off
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to sign-off"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "sign-button"
    page.keyboard.press("Enter")
    page.wait_for_selector("#sign-gate")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'sign-gate-title'")
    assert_accessible(page, "sign gate")
    items = page.locator("#sign-gate input[name=acknowledge]")
    gate = page.locator("#sign-gate").inner_text()
    assert items.count() >= 1 and "Objective holds only a placeholder" not in gate and "warfarin" not in gate
    assert "Assessment" not in gate  # edited from "A" to a real assessment
    page.click("#confirm-sign")
    page.wait_for_selector("#sign-gate-error")
    assert Note.objects.get(encounter=encounter).status == "draft"
    for i in range(items.count()):
        items.nth(i).check()
    page.click("#confirm-sign")
    page.wait_for_selector("text=Signed by")
    assert_accessible(page, "signed")
    from clinic.notes.models import AuditEvent

    assert AuditEvent.objects.get(action="sign", encounter=encounter).detail["acknowledged"]

    audit = new_page(browser)
    login(audit, base, "staff", "staff-password-1")
    audit.goto(f"{base}/audit/")
    assert "acknowledged" in audit.locator("table").inner_text()
    assert_accessible(audit, "audit")
    audit.context.close()
    page.context.close()


@pytest.mark.django_db(transaction=True)
def test_saved_time_zone_is_used_over_the_browsers_and_the_settings_page_is_accessible(
    browser, live_server, alice, bob
):
    """Issue 19: alice saved America/Chicago and reads in a Tokyo browser: the review page shows Chicago time.
    bob has saved nothing: Settings preselects his browser's zone, saves it, and refuses an unknown one."""
    from datetime import UTC, datetime

    from clinic.accounts.models import Profile
    from clinic.accounts.services import set_time_zone
    from clinic.notes.models import Encounter, Note
    from tests.clinic.conftest import make_encounter

    set_time_zone(alice, "America/Chicago")
    encounter = make_encounter(alice, title="Cough for two weeks")
    Note.objects.filter(encounter=encounter).update(
        S="Dry cough for two weeks.", O="Lungs clear.", A="Viral bronchitis.", P="Rest and fluids.", status="draft",
        version=1, model_reference="default",
    )  # fmt: skip
    Encounter.objects.filter(pk=encounter.pk).update(created_at=datetime(2026, 1, 15, 18, 30, tzinfo=UTC))
    base = live_server.url

    page = new_page(browser, timezone_id="Asia/Tokyo")
    login(page, base, "alice", "alice-password-1")
    assert page.locator("html").get_attribute("data-time-zone") == "America/Chicago"
    assert "2026-01-15 12:30 CST" in page.locator("table.encounters time").first.inner_text()
    page.goto(f"{base}/encounters/{encounter.pk}/")
    page.wait_for_selector("#section-S .sentence")
    created = page.locator("hgroup time").inner_text()
    assert created == "2026-01-15 12:30 CST", created  # the saved zone, not Tokyo's (2026-01-16 03:30 JST)
    page.context.close()

    settings = new_page(browser, timezone_id="America/Denver")
    login(settings, base, "bob", "bob-password-1")
    settings.get_by_role("link", name="Settings", exact=True).click()
    settings.wait_for_selector("#time-zone-browser:not([hidden])")
    assert settings.locator("select[name=time_zone]").input_value() == "America/Denver"  # from Intl, by clinic.js
    assert_accessible(settings, "settings, first visit")
    settings.click("form.settings button[type=submit]")
    settings.wait_for_selector("text=Saved: times now show in America/Denver.")
    assert Profile.objects.get(user=bob).time_zone == "America/Denver"
    assert settings.locator("html").get_attribute("data-time-zone") == "America/Denver"
    assert_accessible(settings, "settings, saved")

    # A zone the server does not know (a tampered form): a clear error, nothing saved.
    settings.evaluate(
        "() => { const s = document.querySelector('select[name=time_zone]');"
        " s.add(new Option('Mars/Olympus Mons', 'Mars/Olympus_Mons')); s.value = 'Mars/Olympus_Mons'; }"
    )
    settings.click("form.settings button[type=submit]")
    settings.wait_for_selector("#time-zone-error")
    assert "'Mars/Olympus_Mons' is not a time zone" in settings.locator("#time-zone-error").inner_text()
    assert Profile.objects.get(user=bob).time_zone == "America/Denver"
    assert_accessible(settings, "settings, error")
    settings.context.close()
