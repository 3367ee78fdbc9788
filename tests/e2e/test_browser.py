"""End to end in a real browser: Chromium (Playwright) against a live server and a real Celery worker
running the real default model. Log in, paste a dialogue, wait for the note, edit, sign, see history.
Saves screenshots of the main pages to docs/screenshots/.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.clinic.conftest import DIALOGUE
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
    close_live_server_sessions(django_db_blocker)


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
        worker = start_worker(broker, log, SOAP_MAX_NEW_TOKENS="96")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda dialog: dialog.accept())
            login(page, live_server.url, "alice", "alice-password-1")

            page.click("text=New encounter")
            page.fill("input[name=title]", "Cough and fever")
            page.fill("textarea[name=dialogue]", DIALOGUE)
            page.screenshot(path=str(SCREENSHOTS / "new-encounter.png"), full_page=True)
            page.click("form.intake button[type=submit]")
            page.wait_for_selector("#note-area.job, #section-S", timeout=30_000)
            try:  # the live view: queued, then generating with tokens so far
                page.wait_for_selector(".job-generating .partial", timeout=60_000)
                page.screenshot(path=str(SCREENSHOTS / "generating.png"))
            except Exception:  # noqa: BLE001 - generation may already be done; the screenshot is a bonus
                pass
            page.wait_for_selector("#section-S", timeout=240_000)
            page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)

            sentence = page.locator(".sentence[data-turns]:not([data-turns=''])").first
            if sentence.count():
                sentence.hover()
                assert page.locator(".turn.evidence").count() >= 1

            page.click("#section-A button:has-text('Edit')")
            page.fill("#section-A textarea", "Acute viral bronchitis.")
            page.click("#section-A button:has-text('Save')")
            page.wait_for_selector("#section-A .sentence:has-text('Acute viral bronchitis.')")
            page.wait_for_selector("#history:has-text('Acute viral bronchitis.')")

            page.click("#sign-button")
            page.wait_for_selector("text=Signed by")
            assert page.locator("#section-A button:has-text('Amend')").count() == 1
            history = page.locator("#history")
            assert "Edit" in history.inner_text() and "Generated" in history.inner_text()
            page.screenshot(path=str(SCREENSHOTS / "signed.png"), full_page=True)

            page.goto(f"{live_server.url}/")
            page.wait_for_selector("text=Cough and fever")
            assert "Signed" in page.locator("table.encounters").inner_text()
            page.screenshot(path=str(SCREENSHOTS / "encounters.png"))

            staff_page = browser.new_page(viewport={"width": 1400, "height": 900})
            login(staff_page, live_server.url, "staff", "staff-password-1")
            staff_page.goto(f"{live_server.url}/audit/")
            text = staff_page.locator("table").inner_text()
            assert "Signed" in text and "Edited" in text and "alice" in text
            staff_page.screenshot(path=str(SCREENSHOTS / "audit.png"))
        finally:
            stop_worker(worker)
