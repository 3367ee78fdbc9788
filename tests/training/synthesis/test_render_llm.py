"""LLM renderer, tested at its HTTP seam (httpx.MockTransport plays the OpenAI-compatible server)."""

from __future__ import annotations

import json

import httpx
import pytest

from training.synthesis import OfflineRenderer, load_catalog, missing_facts, sample_case
from training.synthesis.render_llm import LLMRenderer, LLMRendererError, build_prompt, parse_turns


def _transcript(dialogue) -> str:
    return "\n".join(f"{'Doctor' if t['speaker'] == 'doctor' else 'Patient'}: {t['text']}" for t in dialogue)


class FakeServer:
    """Answers /models and /chat/completions from a queue of behaviours."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.chats: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "big-model"}]})
        self.chats.append(json.loads(request.content))
        reply = self.replies.pop(0)
        if isinstance(reply, int):
            return httpx.Response(reply, json={"error": "busy"})
        return httpx.Response(200, json={"choices": [{"message": {"content": reply}}]})


@pytest.fixture
def case():
    return sample_case(load_catalog(), 77)


def _renderer(server, **kw) -> LLMRenderer:
    return LLMRenderer("http://llm.test/v1", transport=httpx.MockTransport(server), retries=2, **kw)


def test_complete_transcript_is_parsed_and_kept(case):
    good = _transcript(OfflineRenderer().render(case))
    server = FakeServer([good])
    renderer = _renderer(server)
    [dialogue] = renderer.render_many([case])
    assert missing_facts(case.facts, dialogue) == []
    assert server.chats[0]["model"] == "big-model"  # discovered from /models
    assert case.one("diagnosis").text in server.chats[0]["messages"][1]["content"]


def test_missing_facts_get_one_repair_round_then_the_case_is_dropped(case):
    good = _transcript(OfflineRenderer().render(case))
    incomplete = "Doctor: Hello.\nPatient: Hi."
    repaired = _renderer(FakeServer([incomplete, good]))
    assert repaired.render(case) and repaired.stats["repaired"] == 1
    server = FakeServer([incomplete, incomplete])
    dropped = _renderer(server)
    assert dropped.render(case) == [] and dropped.stats["dropped"] == 1
    assert "exact words" in server.chats[1]["messages"][-1]["content"]


def test_transient_errors_are_retried_and_permanent_ones_are_not(case, monkeypatch):
    monkeypatch.setattr("training.synthesis.render_llm.asyncio.sleep", _no_sleep)
    good = _transcript(OfflineRenderer().render(case))
    renderer = _renderer(FakeServer([503, 429, good]))
    assert renderer.render(case) and renderer.stats["retries"] == 2
    with pytest.raises(LLMRendererError, match="400") as info:
        _renderer(FakeServer([400])).render(case)
    assert info.value.retryable is False


async def _no_sleep(_seconds):
    return None


def test_checkpoint_resumes_without_new_requests(tmp_path, case):
    good = _transcript(OfflineRenderer().render(case))
    path = tmp_path / "llm.jsonl"
    _renderer(FakeServer([good]), checkpoint=path).render(case)
    server = FakeServer([])
    resumed = _renderer(server, checkpoint=path)
    assert resumed.render(case) and server.chats == [] and resumed.stats["resumed"] == 1


def test_unreachable_server_is_a_retryable_error_with_a_hint(case):
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(LLMRendererError, match="start the server") as info:
        LLMRenderer("http://nowhere.test/v1", transport=httpx.MockTransport(refuse)).render(case)
    assert info.value.retryable


def test_parse_turns_and_prompt(case):
    turns = parse_turns("**Doctor:** Hi\nPatient: pain\nstill talking\nDr.: ok", "patient")
    assert turns == [
        {"speaker": "doctor", "text": "Hi"},
        {"speaker": "patient", "text": "pain still talking"},
        {"speaker": "doctor", "text": "ok"},
    ]
    prompt = build_prompt(case)
    assert all(f.surface_forms[0] in prompt for f in case.facts)


@pytest.mark.slow
def test_against_the_real_openai_compatible_server_and_default_model(default_model_dir, case):
    """The inference package's own server (in-process ASGI) with SmolLM2-135M: the HTTP contract holds
    end to end. A 135M model cannot state ~30 facts in 40 tokens, so the case is repaired once then dropped."""
    from inference.server import create_app

    app = create_app(str(default_model_dir))
    renderer = LLMRenderer(
        "http://inference.test/v1", transport=httpx.ASGITransport(app=app), max_tokens=40, retries=0, timeout=300
    )
    assert renderer.render(case) == []
    assert renderer.model  # discovered from /v1/models
    assert renderer.stats["requests"] == 2 and renderer.stats["repaired"] == 1 and renderer.stats["dropped"] == 1
