"""The one outbound-HTTP retry seam (inference.http), used by the OpenAI backend, the LLM judge and
the LLM renderer."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from inference.http import HTTPCallError, RetryPolicy, asend_with_retries, send_with_retries

URL = "http://llm.test/v1/chat/completions"


def _sender(answers):
    """send() that answers the given statuses (or raises ConnectError for 'down') in order."""
    calls = []

    def send():
        answer = answers[len(calls)]
        calls.append(answer)
        request = httpx.Request("POST", URL)
        if answer == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(answer, text=f"status {answer}", request=request)

    return send, calls


def test_transient_failures_are_retried_with_full_jitter_then_succeed():
    send, calls = _sender(["down", 503, 429, 200])
    waits, retried = [], []
    policy = RetryPolicy(retries=3, backoff=0.5)
    response = send_with_retries(
        send, policy, url=URL, sleep=waits.append, on_retry=lambda a, e: retried.append((a, e.retryable))
    )
    assert response.status_code == 200 and calls == ["down", 503, 429, 200]
    assert retried == [(0, True), (1, True), (2, True)]
    assert all(0.0 <= w <= 0.5 * 2**i for i, w in enumerate(waits)) and len(waits) == 3


def test_a_request_the_server_refuses_fails_at_once_and_says_retrying_will_not_help():
    send, calls = _sender([400, 200])
    with pytest.raises(HTTPCallError) as info:
        send_with_retries(send, RetryPolicy(retries=3), url=URL, sleep=lambda s: None)
    assert calls == [400] and info.value.retryable is False and info.value.status == 400
    assert "HTTP 400" in str(info.value) and info.value.response is not None


def test_exhausted_retries_say_retrying_later_may_help():
    send, calls = _sender(["down", "down", "down"])
    with pytest.raises(HTTPCallError, match="cannot reach") as info:
        send_with_retries(send, RetryPolicy(retries=2), url=URL, sleep=lambda s: None)
    assert len(calls) == 3 and info.value.retryable and info.value.response is None and info.value.attempts == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    send, calls = _sender([503, 503])
    with pytest.raises(HTTPCallError) as info:
        send_with_retries(send, RetryPolicy(retries=1), url=URL, sleep=lambda s: None)
    assert info.value.retryable and info.value.status == 503 and info.value.attempts == 2


def test_delay_is_capped_and_random():
    policy = RetryPolicy(backoff=1.0, max_delay=4.0)
    rng = random.Random(0)
    draws = [policy.delay(10, rng) for _ in range(200)]
    assert max(draws) <= 4.0 and min(draws) >= 0.0 and len(set(draws)) == 200
    assert max(draws) > 3.0 and min(draws) < 1.0  # spread over the whole [0, cap] window


def test_async_twin_follows_the_same_rules():
    send_sync, calls = _sender([502, 200])
    waits = []

    async def send():
        return send_sync()

    async def sleep(seconds):
        waits.append(seconds)

    response = asyncio.run(asend_with_retries(send, RetryPolicy(retries=1), url=URL, sleep=sleep))
    assert response.status_code == 200 and calls == [502, 200] and len(waits) == 1
    send_sync, calls = _sender([404])
    with pytest.raises(HTTPCallError) as info:
        asyncio.run(asend_with_retries(send, RetryPolicy(retries=3), url=URL, sleep=sleep))
    assert calls == [404] and not info.value.retryable
