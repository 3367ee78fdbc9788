"""`manage.py runapp`: migrate, demo login, web server and worker in one command; Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_runapp_serves_the_app_with_a_worker_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {**os.environ, "SOAP_VAR_DIR": str(tmp_path), "DEMO_PASSWORD": "demo-pass-123", "PYTHONUNBUFFERED": "1"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ENV"):
        env.pop(name, None)  # the embedded default: SQLite + SQLite broker under SOAP_VAR_DIR
    log = tmp_path / "runapp.log"
    with open(log, "wb") as out:
        # Started as a non-interactive shell starts a background job (`make run &`): SIGINT ignored
        # on entry, which Python keeps; runapp must still stop on Ctrl-C. Own session: cleanup by group.
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runapp", "--port", str(port), "--skip-model"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and status != 200:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status
            except OSError:
                time.sleep(0.5)
        output = log.read_text(errors="replace")
        assert status == 200, output[-3000:]
        assert "Demo login: username=demo password=demo-pass-123" in output
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.5)
        output = log.read_text(errors="replace")
        assert re.search(r"\[queues\].*notes", output, re.S) and "ready." in output, output[-3000:]
        assert (tmp_path / "clinic.sqlite3").exists() and (tmp_path / "broker.sqlite3").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # runapp gives its children 15 s to stop, then kills them; the rest is slack for a loaded machine
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # runapp and its web server and worker: leave nothing behind
            raise
    assert code == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
