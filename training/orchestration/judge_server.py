"""An LLM judge served on a Ray judge actor's own GPU(s): `vllm serve` as a child process.

The published layout gives the section judge its own GPUs (2 of 8). With `judge=llm`,
`judge_serve=MODEL` and `judge_gpus_per_worker=1`, each judge actor starts one OpenAI-compatible
server on the GPU Ray assigned it (Ray sets CUDA_VISIBLE_DEVICES) and scores through it, so a
training run needs no separately deployed judge. Without `judge_serve` the judge actors call
`judge_base_url` (production: the compose stack's `vllm-judge`).

vLLM is not installable on the development machines or the lent GPU machine (its wheel pins
another torch), so only the command and the failure message are tested here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import httpx

from training.orchestration.learner_group import NCCL_ENV, free_port


class JudgeServerError(RuntimeError):
    """The in-cluster judge server could not start; the message says why and what to change."""


def serve_command(model: str, served_name: str, port: int, *, gpus: int = 1) -> list[str]:
    """The `vllm serve` command line for one judge server.

    >>> serve_command("/models/judge-8b", "judge", 8100)[:4]
    ['vllm', 'serve', '/models/judge-8b', '--served-model-name']
    """
    return ["vllm", "serve", model, "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port),
            "--tensor-parallel-size", str(max(1, gpus)), "--gpu-memory-utilization", "0.9"]  # fmt: skip


class JudgeServer:
    """One `vllm serve` child process; `url` is its OpenAI-compatible base URL once `start` returns."""

    def __init__(self, model: str, served_name: str, *, gpus: int = 1, startup_timeout: float = 900.0) -> None:
        self.model, self.served_name, self.gpus, self.startup_timeout = model, served_name, gpus, startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        if shutil.which("vllm") is None:
            raise JudgeServerError(
                "judge_serve needs vLLM on the Ray judge nodes (`pip install vllm`), or leave judge_serve empty and "
                "point judge_base_url at a running judge server."
            )
        env = {**os.environ, **NCCL_ENV}
        self.proc = subprocess.Popen(serve_command(self.model, self.served_name, self.port, gpus=self.gpus), env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise JudgeServerError(f"vllm serve {self.model} exited with code {self.proc.returncode}; see its log.")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2.0).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(2.0)
        self.stop()
        raise JudgeServerError(f"vllm serve {self.model} was not healthy after {self.startup_timeout:.0f} s.")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
