"""The one outbound-HTTP retry seam: every call to an OpenAI-compatible server goes through here.

`send_with_retries(send, policy, url=...)` (and `asend_with_retries` for asyncio) call `send()`
until it answers below HTTP 400, retrying only what can pass on its own: connection errors,
timeouts and HTTP 408/409/429/5xx, with exponential backoff and full jitter (a random wait in
[0, min(max_delay, backoff * 2**attempt)], AWS's "full jitter"). Anything else fails at once.
The error, `HTTPCallError`, says through `retryable` whether trying again later can help and
carries the last response (None when the server was never reached), so each caller can turn it
into its own domain error (BackendUnavailable, JudgeUnavailable, LLMRendererError).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class HTTPCallError(Exception):
    """An outbound HTTP call failed. `retryable`: the same call may succeed later; `response` is the
    last answer (None when the server could not be reached); `attempts` is how many calls were made."""

    def __init__(
        self, message: str, *, retryable: bool, response: httpx.Response | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.response = response
        self.attempts = attempts

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts after the first, waits drawn with full jitter."""

    retries: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        ceiling = min(self.max_delay, self.backoff * 2**attempt)
        return (rng or random).uniform(0.0, ceiling)


OnRetry = Callable[[int, HTTPCallError], None]


def _settle(
    url: str,
    attempt: int,
    policy: RetryPolicy,
    response: httpx.Response | None,
    exc: Exception | None,
    on_retry: OnRetry | None,
) -> httpx.Response | float:
    """The response of a successful attempt, else the seconds to wait before the next one; raises
    HTTPCallError when retrying cannot help or the retries are used up."""
    if exc is not None:
        error = HTTPCallError(
            f"cannot reach {url} after {attempt + 1} attempt(s): {type(exc).__name__}: {exc}",
            retryable=True,
            attempts=attempt + 1,
        )
    else:
        assert response is not None
        if response.status_code < 400:
            return response
        status = response.status_code
        error = HTTPCallError(
            f"{url} answered HTTP {status} (attempt {attempt + 1}): {response.text[:300]}",
            retryable=status in RETRY_STATUS,
            response=response,
            attempts=attempt + 1,
        )
    if not error.retryable or attempt >= policy.retries:
        raise error from exc
    if on_retry:
        on_retry(attempt, error)
    return policy.delay(attempt)


def send_with_retries(
    send: Callable[[], httpx.Response],
    policy: RetryPolicy,
    *,
    url: str,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], None] | None = None,
) -> httpx.Response:
    """`send()`'s response (status < 400), or HTTPCallError once retrying cannot help or is used up."""
    for attempt in range(policy.retries + 1):
        response: httpx.Response | None = None
        exc: httpx.TransportError | None = None
        try:
            response = send()
        except httpx.TransportError as caught:  # connection refused/reset, timeouts, protocol errors
            exc = caught
        outcome = _settle(url, attempt, policy, response, exc, on_retry)
        if isinstance(outcome, httpx.Response):
            return outcome
        (sleep or time.sleep)(outcome)
    raise AssertionError("unreachable")


async def asend_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: RetryPolicy,
    *,
    url: str,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> httpx.Response:
    """The asyncio twin of `send_with_retries` (same rules, waits with asyncio.sleep)."""
    for attempt in range(policy.retries + 1):
        response: httpx.Response | None = None
        exc: httpx.TransportError | None = None
        try:
            response = await send()
        except httpx.TransportError as caught:
            exc = caught
        outcome = _settle(url, attempt, policy, response, exc, on_retry)
        if isinstance(outcome, httpx.Response):
            return outcome
        await (sleep or asyncio.sleep)(outcome)
    raise AssertionError("unreachable")
