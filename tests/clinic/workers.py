"""Start a real Celery worker subprocess against the test database and the configured broker.

Used by the slow worker tests and the browser tests. With the embedded SQLite broker each test
gets its own broker file, so a developer's running `runapp` worker never steals the message; with
Redis (CI) the configured broker is used as is.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

from clinic.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """A DATABASE_URL for the database this test process is using (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def broker_for_tests(tmp_path: Path) -> Iterator[str]:
    """Point this process's Celery app at the test broker; yields its URL for the worker."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("sqla+sqlite"):
        url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    old = app.conf.broker_url
    _reset(url)
    try:
        yield url
    finally:
        _reset(old)


def _reset(url: str) -> None:
    # Only drop this app's references: kombu keeps producer pools in a global registry keyed by
    # connection, so closing them here would break a later test that sends to the same broker.
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def start_worker(broker_url: str, log_path: Path, **env: str) -> subprocess.Popen:
    """A `celery worker -Q notes` process (solo pool) on the test database; its output goes to log_path."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": broker_url,
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        **env,
    }
    log = open(log_path, "ab")  # noqa: SIM115 - the worker writes to it for its whole life
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "clinic", "worker", "-Q", "notes", "--pool", "solo",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for(condition: Callable[[], object], timeout: float, what: str, log_path: Path | None = None) -> object:
    """Poll `condition` until truthy; fail with `what` and the worker's log tail on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n--- worker log ---\n{tail}")
