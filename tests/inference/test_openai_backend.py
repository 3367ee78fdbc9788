"""The openai backend against a real OpenAI-compatible server process (`python -m inference serve`),
and its retry/fallback logic at the HTTP seam."""

from __future__ import annotations

import json

import httpx
import pytest

from inference.backends.base import SamplingParams
from inference.backends.openai import OpenAIBackend
from inference.engine import generate_note
from inference.errors import BackendUnavailable, GenerationError, InputTooLong
from inference.parsing import parse_note
from inference.prompts import build_messages
from inference.schema import bounded_note_schema

from .conftest import DIALOGUE


@pytest.mark.slow
def test_note_through_the_server_is_constrained_and_valid(server_url, monkeypatch):
    monkeypatch.setenv("SOAP_OPENAI_BASE_URL", server_url)
    result = generate_note(DIALOGUE, backend="openai", max_new_tokens=256)
    assert result.backend == "openai" and result.model_reference == "default"
    assert parse_note(result.raw, strict=True).ok and 0 < result.tokens <= 256


@pytest.mark.slow
def test_server_answers_arbitrary_chat_streams_and_reports_length(server_url):
    backend = OpenAIBackend(base_url=server_url)
    assert backend.health() and backend.model == "default"
    messages = [{"role": "user", "content": "Is fever a symptom? Answer yes or no."}]
    (free,) = backend.generate([messages], SamplingParams(max_new_tokens=4, constrained=False))
    assert free.text and free.finish_reason == "length" and free.completion_tokens == 4

    # a hard 30-character cap: the base model can run on without a sentence end, and this test is about streaming
    capped = SamplingParams(max_new_tokens=256, json_schema=bounded_note_schema(30))
    stream = backend.stream(build_messages(DIALOGUE[:2]), capped)
    deltas = []
    while True:
        try:
            deltas.append(next(stream))
        except StopIteration as stop:
            completion = stop.value
            break
    assert len(deltas) > 3 and "".join(deltas) == completion.text and completion.finish_reason == "stop"


@pytest.mark.slow
def test_server_rejects_bad_requests_with_openai_style_errors(server_url):
    url = f"{server_url}/chat/completions"
    bad_schema = {"type": "json_schema", "json_schema": {"schema": "not a schema"}}
    cases = [
        ({"messages": []}, 400, "'messages' must be a non-empty list"),
        ({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}, 404, "'gpt-9' does not exist"),
        (
            {"messages": [{"role": "user", "content": "hi"}], "response_format": bad_schema},
            400,
            "must be a JSON schema",
        ),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9000}, 400, "maximum context length"),
    ]
    for body, status, message in cases:
        response = httpx.post(url, json=body, timeout=30)
        assert response.status_code == status, body
        assert message in response.json()["error"]["message"]
    with pytest.raises(InputTooLong):
        OpenAIBackend(base_url=server_url).generate(
            [[{"role": "user", "content": "hi"}]], SamplingParams(max_new_tokens=9000)
        )


def _backend(handler, **kwargs) -> OpenAIBackend:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIBackend("m", base_url="http://llm.test/v1", client=client, backoff=0.001, **kwargs)


def _ok(content: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"index": 0, "message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        },
    )


def test_transient_failures_are_retried_with_backoff_then_succeed():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"error": {"message": "loading"}})
        return _ok("hello")

    (completion,) = _backend(handler).generate(["hi"], SamplingParams(constrained=False))
    assert completion.text == "hello" and completion.completion_tokens == 3 and len(calls) == 3


def test_exhausted_retries_say_what_failed_and_that_retrying_may_help():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(BackendUnavailable, match=r"cannot reach .* after 3 attempt\(s\).*SOAP_OPENAI_BASE_URL") as info:
        _backend(handler, max_retries=2).generate(["hi"], SamplingParams())
    assert info.value.retryable


def test_client_errors_are_not_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    with pytest.raises(GenerationError, match="HTTP 401: bad key") as info:
        _backend(handler).generate(["hi"], SamplingParams())
    assert not info.value.retryable and len(calls) == 1


def test_server_without_structured_output_is_asked_again_without_it():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "response_format" in body:
            return httpx.Response(400, json={"error": {"message": "response_format is not supported"}})
        return _ok('{"S": "a", "O": "b", "A": "c", "P": "d"}')

    backend = _backend(handler)
    (completion,) = backend.generate(["hi"], SamplingParams(max_new_tokens=100))
    assert parse_note(completion.text).ok and not backend.supports_response_format
    sent = bodies[0]["response_format"]["json_schema"]["schema"]
    assert sent["required"] == ["S", "O", "A", "P"] and "maxLength" not in sent["properties"]["S"]
    assert "response_format" not in bodies[1]
