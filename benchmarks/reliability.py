"""Fault and bad-input scenarios of docs/reliability.md, each tried N times against the real services.

    .venv/bin/python benchmarks/reliability.py [--tries 20]

Runs in a throw-away SQLite database (a temporary SOAP_VAR_DIR), with the real Django stack, the
real generation task and the real de-identifier; only the model call is replaced at its seam (the
engine returns a fixed note), and the broker outage is a real one: the broker URL points at a port
where nothing listens. For each scenario it prints tries, failures (the guarantee broken) and
records lost, as the table in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("SOAP_VAR_DIR", tempfile.mkdtemp(prefix="reliability-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from clinic.api.models import ApiToken  # noqa: E402
from clinic.celery import app as celery_app  # noqa: E402
from clinic.notes import services  # noqa: E402
from clinic.notes.models import Encounter, GenerationJob, Note  # noqa: E402
from clinic.notes.tasks import generate_note_task  # noqa: E402
from inference.engine import GenerationResult  # noqa: E402
from inference.schema import SOAPNote  # noqa: E402

DIALOGUE = "Doctor: What brings you in?\nPatient: A cough for two weeks and a fever last night.\n"
NOTE = SOAPNote(S="Cough for two weeks, fever.", O="Not examined.", A="Likely viral.", P="Fluids, rest.")


def fake_engine(turns, **kwargs):
    return GenerationResult(note=NOTE, raw=NOTE.model_dump_json(), tokens=9, model_reference="fake", backend="fake",
                            seconds=0.0)  # fmt: skip


def drafted(owner):
    encounter = services.create_encounter(owner, DIALOGUE)
    job = GenerationJob.objects.create(encounter=encounter)
    generate_note_task.apply(args=[job.pk])
    return Note.objects.get(encounter=encounter)


def broker_outage(owner, token, tries):
    """Creates and regenerations with the broker down: every answer says so, no job stays queued."""
    generate_note_task.__dict__.pop("apply_async", None)  # the real send, which the other scenarios replaced
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    celery_app.conf.broker_transport_options = {}
    celery_app._pool = None  # connections are made afresh from the new URL
    celery_app.amqp._producer_pool = None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    failures = lost = 0
    for i in range(tries):
        before = Encounter.objects.count()
        response = api.post("/api/v1/encounters", {"transcript": DIALOGUE, "title": f"outage {i}"},
                            content_type="application/json")  # fmt: skip
        saved = Encounter.objects.count() == before + 1
        stuck = GenerationJob.objects.filter(encounter__title=f"outage {i}", state="queued").exists()
        failures += response.status_code != 503 or stuck
        lost += not saved
    return tries, failures, lost


def regeneration_race(owner, tries):
    """An edit lands while a regeneration runs: the edit must survive every time."""
    failures = 0
    for _ in range(tries):
        note = drafted(owner)
        job = services.request_generation(note.encounter, actor=owner)
        services.edit_section(note, "P", "Clinician's plan.", author=owner, base_version=note.version)
        generate_note_task.apply(args=[job.pk])
        failures += Note.objects.get(pk=note.pk).P != "Clinician's plan."
    return tries, failures, 0


def sign_race(owner, other_tab_edit, tries):
    """Sign at the reviewed version after someone else's edit landed: never a signature over unseen text."""
    failures = 0
    for _ in range(tries):
        note = drafted(owner)
        reviewed = note.version
        other_tab_edit(note)
        try:
            services.sign_note(note, owner, version=reviewed)
            failures += 1
        except services.VersionConflict:
            pass
    return tries, failures, 0


def killed_worker(owner, tries):
    """A generating job whose worker died: polling says failed, the redelivered message takes over."""
    failures = 0
    sent = []
    generate_note_task.apply_async = lambda **kw: sent.append(kw)  # capture the look-again message
    api_user_token = ApiToken.issue(owner, "poll")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_user_token}")
    for _ in range(tries):
        encounter = services.create_encounter(owner, DIALOGUE)
        stale_after = services.STALE_AFTER_SECONDS
        beat = timezone.now() - timedelta(seconds=stale_after / 6)
        job = GenerationJob.objects.create(encounter=encounter, state="generating", started_at=beat, heartbeat_at=beat)
        sent.clear()
        first = generate_note_task(job.pk)  # redelivered at once: heartbeat still fresh
        GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=stale_after + 5))
        polled = api.get(f"/api/v1/jobs/{job.pk}").json()["state"]
        second = generate_note_task(job.pk)  # the look-again message
        ok = first == "skipped" and len(sent) == 1 and polled == "failed" and second == "done"
        failures += not ok
    return tries, failures, 0


BAD_INPUTS = [
    ("deeply nested JSON transcript", {"transcript": "[" * 5000 + "]" * 5000, "filename": "t.json"}),
    ("JSON key written with escapes", {"transcript": '{"tu\\u0072ns": [{"speaker": 3, "text": "x"}]}'}),
    ("score true", None),
    ("unlabelled transcript", {"transcript": "hi , susan , how are you ?\ni'm good ."}),
    ("NUL in transcript", {"transcript": "Doctor: hi\u0000"}),
    ("generate: 'yes'", {"transcript": DIALOGUE, "generate": "yes"}),
]


def bad_input(owner, token, tries):
    """Hostile bodies and paths: a 4xx (or a 2xx for the unlabelled transcript), never a 5xx."""
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    celery_app.conf.task_always_eager = False
    generate_note_task.apply_async = lambda **kw: None
    note = drafted(owner)
    failures = total = 0
    for _ in range(tries):
        for name, body in BAD_INPUTS:
            if name == "score true":
                response = api.put(f"/api/v1/notes/{note.pk}/rating", {"score": True}, content_type="application/json")
            else:
                response = api.post("/api/v1/encounters", body, content_type="application/json")
            total += 1
            failures += response.status_code >= 500
        for method in ("post", "put"):
            response = getattr(Client(enforce_csrf_checks=True), method)("/api/v1/nope", "{}", "application/json")
            total += 1
            failures += response.status_code != 404 or not response["Content-Type"].startswith("application/json")
    return total, failures, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("bench", password="bench-password-1")
    token = ApiToken.issue(owner, "bench")[1]
    import inference.engine

    inference.engine.generate_note = fake_engine

    def other_tab_edit(note):
        services.edit_section(note, "S", "Changed in another tab.", author=owner, base_version=note.version)

    rows = []
    for name, run in (
        ("regeneration while the clinician edits", lambda: regeneration_race(owner, args.tries)),
        ("sign at a version another edit replaced", lambda: sign_race(owner, other_tab_edit, args.tries)),
        ("worker killed mid-generation", lambda: killed_worker(owner, args.tries)),
        ("hostile input (8 kinds)", lambda: bad_input(owner, token, args.tries)),
        ("broker down on create", lambda: broker_outage(owner, token, args.tries)),
    ):
        start = time.monotonic()
        tries, failures, lost = run()
        rows.append((name, tries, failures, lost, time.monotonic() - start))
    print("| scenario | tries | guarantee broken | records lost | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, tries, failures, lost, seconds in rows:
        print(f"| {name} | {tries} | {failures} | {lost} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
