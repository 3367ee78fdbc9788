"""Fixtures shared by the inference tests: one loaded default model, one real OpenAI-compatible server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

DIALOGUE = [
    {"speaker": "doctor", "text": "What brings you in today?"},
    {"speaker": "patient", "text": "I have had a cough and a fever for five days, and I get short of breath."},
    {
        "speaker": "doctor",
        "text": "Your temperature is 38.9 and your oxygen saturation is 93 percent. "
        "I hear crackles in the right lower lung, and the chest x-ray shows a right lower lobe consolidation.",
    },
    {
        "speaker": "doctor",
        "text": "This is pneumonia. I am starting amoxicillin 1 gram three times a day for five days.",
    },
]


@pytest.fixture(scope="session")
def backend(default_model_dir):
    """The in-process transformers backend over the default model, loaded once for the session."""
    from inference.backends.base import get_backend

    return get_backend("transformers", None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(default_model_dir):
    """`python -m inference serve` as a real subprocess on a free port; yields its /v1 base URL."""
    port = _free_port()
    log = open(ROOT / "var" / f"test-inference-server-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the inference server exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the inference server did not become healthy in 180 s; see {log.name}")
            time.sleep(0.5)
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
