"""A small OpenAI-compatible server over the transformers backend.

    python -m inference serve --port 8001 [--model REF] [--host 127.0.0.1]

Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (any messages, not only notes;
`response_format` {type: json_schema} or {type: json_object} turns on constrained decoding;
`stream: true` sends server-sent events). It is the real server process that the `openai` backend
and the LLM judge are tested against, and a CPU stand-in for `vllm serve`. llama.cpp's server
would serve the GGUF directly but cannot be built cheaply here (no compiler toolchain budget,
no internet beyond package registries).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from inference.backends.base import SamplingParams
from inference.backends.transformers import TransformersBackend
from inference.errors import GenerationError, InputTooLong
from inference.schema import bounded_note_schema

DEFAULT_MAX_TOKENS = 512


class RequestError(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def _error(message: str, status: int = 400, code: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": code, "code": status}}, status_code=status)


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("'messages' must be a non-empty list of {role, content} objects")
    messages = []
    for i, message in enumerate(raw):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a string 'role'")
        content = message.get("content")
        if isinstance(content, list):  # OpenAI content parts: keep the text parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise RequestError(f"messages[{i}].content must be a string or a list of text parts")
        messages.append({"role": message["role"], "content": content})
    return messages


def _schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise RequestError("'response_format' must be an object")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise RequestError("response_format.json_schema.schema must be a JSON schema object")
        return schema
    raise RequestError(f"response_format.type {kind!r} is not supported; use 'json_schema', 'json_object' or 'text'")


def _params(body: dict[str, Any], backend: TransformersBackend, prompt_tokens: int) -> SamplingParams:
    room = int(backend.context_length or 0) - prompt_tokens
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or min(DEFAULT_MAX_TOKENS, max(room, 1))
    schema = _schema(body)
    if schema == bounded_note_schema():
        # The SOAP note schema itself (what our openai backend sends): decode it as the in-process path
        # does, with each section's length budgeted in tokens and closed at a sentence end.
        schema, constrained = None, True
    else:
        constrained = schema is not None
    try:
        return SamplingParams(
            max_new_tokens=int(max_tokens),
            temperature=float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0),
            top_p=float(body.get("top_p") or 1.0),
            n=int(body.get("n") or 1),
            seed=body.get("seed"),
            constrained=constrained,
            json_schema=schema,
            logprobs=bool(body.get("logprobs")),
        )
    except (TypeError, ValueError) as exc:
        raise RequestError(f"invalid sampling parameters: {exc}") from exc


def create_app(model_ref: str | None = None, *, served_name: str | None = None) -> FastAPI:
    """The ASGI app; loads the model at once so /health answers only when it can generate."""
    backend = TransformersBackend.shared(model_ref)
    name = served_name or backend.model_reference
    app = FastAPI(title="SOAP inference server (OpenAI-compatible)")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "device": str(backend.device)}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "soap-clinic",
                    "max_model_len": backend.context_length,
                }
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error("the request body is not valid JSON")
        if not isinstance(body, dict):
            return _error("the request body must be a JSON object")
        if body.get("model") not in (None, "", name):
            return _error(
                f"the model {body.get('model')!r} does not exist; this server serves {name!r}", 404, "model_not_found"
            )
        try:
            messages = _messages(body)
            prompt_tokens = backend.count_tokens(messages)
            params = _params(body, backend, prompt_tokens)
            backend.check_fits(prompt_tokens, params.max_new_tokens)
        except RequestError as exc:
            return _error(exc.message, exc.status, exc.code)
        except InputTooLong as exc:
            return _error(f"maximum context length exceeded: {exc}", 400)
        except ValueError as exc:  # a schema the grammar compiler rejects
            return _error(f"invalid request: {exc}")
        if body.get("stream"):
            return StreamingResponse(_sse(backend, messages, params, name), media_type="text/event-stream")
        from starlette.concurrency import run_in_threadpool

        try:
            completions = await run_in_threadpool(backend.generate, [messages], params)
        except GenerationError as exc:
            return _error(str(exc), 503 if exc.retryable else 400)
        except ValueError as exc:
            return _error(f"invalid request: {exc}")
        choices = []
        for i, c in enumerate(completions):
            choice: dict[str, Any] = {
                "index": i,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
            }
            if c.logprobs is not None:
                tokens = [backend.tokenizer.decode([t]) for t in c.token_ids]
                choice["logprobs"] = {
                    "content": [{"token": t, "logprob": lp} for t, lp in zip(tokens, c.logprobs, strict=False)]
                }
            choices.append(choice)
        generated = sum(c.num_tokens for c in completions)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": generated,
                "total_tokens": prompt_tokens + generated,
            },
        }

    return app


def _sse(
    backend: TransformersBackend, messages: list[dict[str, str]], params: SamplingParams, name: str
) -> Iterator[str]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        data = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(data)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    stream = backend.stream(messages, params)
    try:
        while True:
            try:
                delta = next(stream)
            except StopIteration as stop:
                yield chunk({}, stop.value.finish_reason)
                break
            yield chunk({"content": delta})
    except GenerationError as exc:
        yield f"data: {json.dumps({'error': {'message': str(exc)}})}\n\n"
    yield "data: [DONE]\n\n"


def serve(model_ref: str | None, host: str, port: int, served_name: str | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(model_ref, served_name=served_name), host=host, port=port, log_level="warning")
