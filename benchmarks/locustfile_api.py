"""Locust scenario for the REST API: clinicians reading and editing their notes, now and then a new encounter.

Started by `benchmarks/load_api.py`, which seeds the database and passes the clients'
credentials in LOAD_API_CLIENTS (a JSON file: one {token, notes: [{id, version}], encounters}
per client). Each simulated clinician works on their own notes, so every section update sends
the version it last saw and must succeed; a 409 here is a lost update and counts as an error.
Every request's latency is appended to LOAD_API_SAMPLES (JSON lines) so the orchestrator can
compute exact percentiles over reads and updates together.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid

from locust import FastHttpUser, between, events, task

_clients = json.loads(open(os.environ["LOAD_API_CLIENTS"]).read())  # noqa: SIM115
_next_client = itertools.count()
_samples: list[tuple[str, str, float, int, bool]] = []
_lock = threading.Lock()
DIALOGUE = (
    "Doctor: Good morning, what brings you in?\n"
    "Patient: My ankle has been swollen since I twisted it on Saturday.\n"
    "Doctor: Any numbness? Can you bear weight?\n"
    "Patient: No numbness, but walking hurts.\n"
    "Doctor: There is swelling over the lateral malleolus; I'll order an X-ray and you should rest and ice it.\n"
)


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response, exception, **kwargs):  # noqa: ANN001
    status = getattr(response, "status_code", 0) or 0
    with _lock:
        _samples.append((request_type, name, float(response_time), int(status), exception is None))


@events.quitting.add_listener
def _dump(environment, **kwargs):  # noqa: ANN001
    path = os.environ.get("LOAD_API_SAMPLES")
    if not path:
        return
    with open(path, "a") as out:
        for method, name, ms, status, ok in _samples:
            out.write(json.dumps({"method": method, "name": name, "ms": ms, "status": status, "ok": ok}) + "\n")


class Clinician(FastHttpUser):
    # Think time between a clinician's requests; load_api.py --think sets it (default 0.5-1.5 s).
    wait_time = between(*(float(x) for x in os.environ.get("LOAD_API_THINK", "0.5,1.5").split(",")))

    def on_start(self) -> None:
        me = _clients[next(_next_client) % len(_clients)]
        self.auth = {"Authorization": f"Bearer {me['token']}"}
        self.notes = {n["id"]: n["version"] for n in me["notes"]}
        self.jobs: list[int] = []
        # Earlier phases may have edited these notes: start from the versions the server has now,
        # as a clinician's editor does when it opens a note.
        for note_id in list(self.notes):
            self.read_one(note_id)

    def read_one(self, note_id: int) -> None:
        with self.client.get(
            f"/api/v1/notes/{note_id}", headers=self.auth, name="GET /notes/{id}", catch_response=True
        ) as r:
            if r.status_code == 200:
                self.notes[note_id] = r.json()["version"]
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(8)
    def read_note(self) -> None:
        self.read_one(random.choice(list(self.notes)))

    @task(3)
    def list_encounters(self) -> None:
        self.client.get("/api/v1/encounters?page_size=20", headers=self.auth, name="GET /encounters")

    @task(2)
    def list_draft_notes(self) -> None:
        self.client.get("/api/v1/notes?status=draft&page_size=20", headers=self.auth, name="GET /notes?status=draft")

    @task(6)
    def update_section(self) -> None:
        note_id = random.choice(list(self.notes))
        section = random.choice("SOAP")
        body = {"text": f"Reviewed {uuid.uuid4().hex[:8]}: findings as discussed.", "version": self.notes[note_id]}
        with self.client.put(
            f"/api/v1/notes/{note_id}/sections/{section}",
            json=body,
            headers=self.auth,
            name="PUT /notes/{id}/sections/{k}",
            catch_response=True,
        ) as r:
            if r.status_code == 200:
                self.notes[note_id] = r.json()["version"]
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(2)
    def poll_job(self) -> None:
        if not self.jobs:
            return
        self.client.get(f"/api/v1/jobs/{random.choice(self.jobs)}", headers=self.auth, name="GET /jobs/{id}")

    @task(1)
    def create_encounter(self) -> None:
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}
        body = {"transcript": DIALOGUE, "title": "Ankle sprain"}
        with self.client.post(
            "/api/v1/encounters", json=body, headers=headers, name="POST /encounters", catch_response=True
        ) as r:
            if r.status_code == 202:
                self.jobs.append(r.json()["job"]["id"])
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")
