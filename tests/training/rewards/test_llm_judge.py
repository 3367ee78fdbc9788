"""LLMJudge over real HTTP: a scripted server process for the failure modes, the real inference server once."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from training.rewards import LLMJudge, VerdictCache, reward

from .cases import HYPERTENSION
from .conftest import free_port

NOTE = HYPERTENSION["reference"]


def count(base: str, mode: str) -> int:
    return httpx.get(f"{base}/count/{mode}").json()["count"]


def make(base: str, mode: str, tmp_path, **kw) -> LLMJudge:
    options = {"retries": 1, "parse_retries": 1, "backoff": 0.01, "cache": tmp_path / "cache.sqlite3"} | kw
    return LLMJudge(f"{base}/{mode}/v1", "test-judge", **options)


def test_pass_and_fail_verdicts_score_one_and_zero(judge_server, tmp_path):
    assert make(judge_server, "pass", tmp_path).judge("d", "A", "Uncontrolled hypertension.", "x").score == 1.0
    verdict = make(judge_server, "fail", tmp_path, cache=False).judge("d", "A", "Uncontrolled hypertension.", "x")
    assert (verdict.score, verdict.reason, verdict.error) == (0.0, "invents a drug", False)


def test_garbage_answer_is_retried_then_a_judge_error_never_a_pass(judge_server, tmp_path):
    before = count(judge_server, "garbage")
    verdict = make(judge_server, "garbage", tmp_path).judge("d", "P", "Increase amlodipine to 10 mg.", "x")
    assert verdict.error and verdict.score == 0.0
    assert "not verdict JSON" in verdict.reason
    assert count(judge_server, "garbage") - before == 2  # first answer + one parse retry


def test_timeout_is_retried_then_reported_as_judge_error(judge_server, tmp_path):
    judge = make(judge_server, "sleep", tmp_path, timeout=0.3)
    began = time.perf_counter()
    verdict = judge.judge("d", "S", "Morning headaches for three weeks.", "x")
    assert verdict.error and verdict.score == 0.0
    assert "did not answer after 2 tries" in verdict.reason
    assert time.perf_counter() - began < 3


def test_server_error_is_retried_with_backoff(judge_server, tmp_path):
    verdict = make(judge_server, "flaky", tmp_path, retries=2).judge("d", "O", "BP 162/98 mmHg, HR 78.", "x")
    assert (verdict.score, verdict.error) == (1.0, False)


def test_empty_section_fails_without_a_request(judge_server, tmp_path):
    before = count(judge_server, "pass")
    verdict = make(judge_server, "pass", tmp_path).judge("d", "O", "  n/a ", "BP 162/98")
    assert verdict.score == 0.0 and "near-empty" in verdict.reason
    assert count(judge_server, "pass") == before


def test_cache_answers_repeats_without_requests(judge_server, tmp_path):
    judge = make(judge_server, "pass", tmp_path)
    judge.judge("dialogue", "S", "Morning headaches.", "ref")
    before = count(judge_server, "pass")
    again = make(judge_server, "pass", tmp_path).judge("dialogue", "S", "Morning headaches.", "ref")
    assert again.score == 1.0 and again.details == {"cached": True}
    assert count(judge_server, "pass") == before
    assert VerdictCache(tmp_path / "cache.sqlite3").get("missing") is None


def test_whole_note_judged_in_parallel_through_reward(judge_server, tmp_path):
    judge = make(judge_server, "sleep", tmp_path, timeout=10, cache=False)
    began = time.perf_counter()
    result = reward(HYPERTENSION["dialogue"], __import__("json").dumps(NOTE), NOTE, judge)
    elapsed = time.perf_counter() - began
    assert result.total == 5.0
    assert elapsed < 6, f"four 3-second sections took {elapsed:.1f}s: not parallel"


def test_bad_url_is_a_clear_error():
    with pytest.raises(ValueError, match="http"):
        LLMJudge("localhost:8000")


@pytest.mark.slow
def test_against_the_real_inference_server(tmp_path, default_model_dir):
    """The judge speaks to `python -m inference serve` (a real OpenAI-compatible process)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("inference server did not become healthy in 120 s")
        judge = LLMJudge(f"http://127.0.0.1:{port}/v1", "default", max_tokens=64, cache=False, timeout=240, retries=0)
        verdict = judge.judge(HYPERTENSION["dialogue"], "A", NOTE["A"], NOTE["A"])
        # A 135M judge decides poorly, but through constrained decoding its answer is the verdict JSON.
        assert not verdict.error, verdict.reason
        assert verdict.score in (0.0, 1.0)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
