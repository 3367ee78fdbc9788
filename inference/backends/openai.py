"""Any OpenAI-compatible chat server (vLLM's `vllm serve` in production, `python -m inference serve` here).

Every request goes through `_request`, i.e. `inference.http.send_with_retries`: a timeout, retries of
transient failures (connection errors, timeouts, 408/429/5xx) with exponential backoff and full
jitter, and a BackendUnavailable that says what failed and whether retrying can help. Structured
output is requested with `response_format: {type: json_schema}`; a server that rejects that field (HTTP 400 naming
response_format) is remembered and asked again without it, and the output is then parsed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Sequence
from typing import Any

import httpx

from inference.backends.base import Backend, Completion, Prompt, SamplingParams
from inference.errors import BackendUnavailable, GenerationError, InputTooLong
from inference.http import RETRY_STATUS, HTTPCallError, RetryPolicy, send_with_retries


class OpenAIBackend(Backend):
    """Chat completions over HTTP; `model_ref` is the served model name (None: the server's first model)."""

    name = "openai"

    def __init__(
        self,
        model_ref: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("SOAP_OPENAI_BASE_URL") or "http://127.0.0.1:8001/v1").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("SOAP_OPENAI_API_KEY", "")
        self.max_retries = max_retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers
        )
        self._model = model_ref if model_ref not in (None, "", "default") else None
        self.supports_response_format = True

    @property
    def model_reference(self) -> str:  # type: ignore[override]
        return self.model

    @property
    def model(self) -> str:
        """The served model name, asked from /v1/models once when not given."""
        if self._model is None:
            data = self._request("GET", "/models").json()
            models = [m["id"] for m in data.get("data", [])]
            if not models:
                raise BackendUnavailable(f"{self.base_url}/models lists no model; start the server with a model")
            self._model = models[0]
        return self._model

    def health(self) -> bool:
        """True when the server answers /models (vLLM and our server both serve it)."""
        try:
            self._request("GET", "/models", retries=0)
            return True
        except BackendUnavailable:
            return False

    # -- HTTP ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json_body: Any = None, retries: int | None = None) -> httpx.Response:
        retries = self.max_retries if retries is None else retries
        url = f"{self.base_url}{path}"
        policy = RetryPolicy(retries=retries, backoff=self.backoff)
        try:
            return send_with_retries(lambda: self.client.request(method, url, json=json_body), policy, url=url)
        except HTTPCallError as exc:
            if exc.response is None:
                cause = exc.__cause__
                raise BackendUnavailable(
                    f"cannot reach the OpenAI-compatible server at {url} after {exc.attempts} attempt(s): "
                    f"{type(cause).__name__}: {cause}; check that it runs (SOAP_OPENAI_BASE_URL)",
                    retryable=True,
                ) from exc
            raise _http_error(url, exc.response) from exc

    def _body(self, prompt: Prompt, params: SamplingParams, *, stream: bool = False) -> dict[str, Any]:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": params.n,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.logprobs:
            body["logprobs"] = True
        schema = params.schema()
        if schema is not None and self.supports_response_format:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "soap_note", "schema": schema}}
        if stream:
            body["stream"] = True
            body["n"] = 1
        return body

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._request("POST", "/chat/completions", json_body=body).json()
        except GenerationError as exc:
            if "response_format" in body and "response_format" in str(exc) and not exc.retryable:
                # The server cannot do structured output: remember, ask again, and rely on parse_note.
                self.supports_response_format = False
                return self._chat({k: v for k, v in body.items() if k != "response_format"})
            raise

    # -- Backend ------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        completions: list[Completion] = []
        for prompt in prompts:
            data = self._chat(self._body(prompt, params))
            usage = data.get("usage") or {}
            choices = sorted(data.get("choices", []), key=lambda c: c.get("index", 0))
            if len(choices) != params.n:
                raise GenerationError(f"{self.base_url} returned {len(choices)} choices for n={params.n}", True)
            for choice in choices:
                completions.append(_completion(choice, usage, params.n))
        return completions

    def stream(self, prompt: Prompt, params: SamplingParams) -> Generator[str, None, Completion]:
        body = self._body(prompt, params, stream=True)
        url = f"{self.base_url}/chat/completions"
        text, finish, count = "", "stop", 0
        try:
            with self.client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _http_error(url, response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    for choice in chunk.get("choices", []):
                        delta = (choice.get("delta") or {}).get("content") or ""
                        if delta:
                            text += delta
                            count += 1
                            yield delta
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise BackendUnavailable(f"stream from {url} failed: {type(exc).__name__}: {exc}", retryable=True) from exc
        return Completion(
            text=text, token_ids=[], finish_reason="length" if finish == "length" else "stop", completion_tokens=count
        )


def _completion(choice: dict[str, Any], usage: dict[str, Any], n: int) -> Completion:
    message = choice.get("message") or {}
    logprobs = None
    content_lp = (choice.get("logprobs") or {}).get("content")
    if content_lp:
        logprobs = [float(item["logprob"]) for item in content_lp]
    tokens = len(logprobs) if logprobs is not None else None
    if tokens is None and n == 1 and "completion_tokens" in usage:
        tokens = int(usage["completion_tokens"])
    return Completion(
        text=message.get("content") or "",
        token_ids=[],
        finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        logprobs=logprobs,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=tokens,
    )


def _http_error(url: str, response: httpx.Response) -> GenerationError:
    try:
        detail = response.json()
        message = (detail.get("error") or {}).get("message") if isinstance(detail.get("error"), dict) else None
        message = message or detail.get("detail") or detail.get("message") or json.dumps(detail)[:500]
    except (ValueError, AttributeError):
        message = response.text[:500]
    status = response.status_code
    text = f"{url} answered HTTP {status}: {message}"
    if status == 400 and ("context" in str(message).lower() or "too long" in str(message).lower()):
        return InputTooLong(text)
    if status in RETRY_STATUS:
        return BackendUnavailable(text + " (retries exhausted)", retryable=True)
    return GenerationError(text, retryable=False)
