"""LLM dialogue renderer over any OpenAI-compatible chat endpoint (vLLM in production).

The model gets the case's facts and is asked for a natural visit that states all of them and
no other clinical facts. Each result is parsed into turns and checked against the facts (every
fact's surface form must appear); a result that misses facts gets one repair round (the missing
facts are listed back to the model), and is dropped if still incomplete. Requests run
concurrently with retries (backoff and jitter) on transient errors only, and every finished case
is appended to a checkpoint file so an interrupted run resumes without paying for it twice.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx

from inference.http import HTTPCallError, RetryPolicy, asend_with_retries

from .render_offline import missing_facts
from .sampler import Case

_TURN = re.compile(r"^\s*\**\s*(doctor|patient|parent|dr\.?)\s*\**\s*:\s*\**\s*(.+)$", re.IGNORECASE)
SYSTEM_PROMPT = (
    "You write realistic doctor-patient consultation transcripts for training clinical documentation models. "
    "Write only the transcript, one turn per line, each line starting with 'Doctor:' or '{speaker}:'."
)


class LLMRendererError(RuntimeError):
    """The endpoint failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def parse_turns(text: str, speaker: str) -> list[dict[str, str]]:
    """Lines 'Doctor: ...' / 'Patient: ...' to turns; continuation lines join the previous turn."""
    turns: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _TURN.match(line)
        if match:
            role = match.group(1).lower()
            turns.append({"speaker": "doctor" if role.startswith("d") else speaker, "text": match.group(2).strip()})
        elif line.strip() and turns:
            turns[-1]["text"] += " " + line.strip()
    return turns


def build_prompt(case: Case) -> str:
    who = "the patient's parent" if case.speaker == "parent" else "the patient"
    lines = [
        f"Write a consultation between a doctor and {who} ({case.patient_name}, {case.age}, "
        f"{'female' if case.sex == 'F' else 'male'}) in {case.specialty.lower()}.",
        "The conversation must state every fact below, using the exact wording given (either the clinical or the lay",
        "wording in brackets), and must not add any other symptom, finding, result, diagnosis or treatment.",
        "Make it natural: greeting, open questions, the patient in lay words,",
        "the doctor explaining the diagnosis and summarising the plan.",
        "Facts:",
    ]
    for fact in case.facts:
        forms = " | ".join(f'"{form}"' for form in fact.surface_forms[:3])
        lines.append(f"- [{fact.section}/{fact.kind}] {forms}")
    return "\n".join(lines)


class LLMRenderer:
    """``LLMRenderer(base_url, model).render_many(cases)`` -> one dialogue per case ([] = dropped)."""

    name = "llm"

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        concurrency: int = 8,
        retries: int = 3,
        timeout: float = 120.0,
        temperature: float = 0.8,
        max_tokens: int = 2048,
        repair: bool = True,
        checkpoint: str | Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency, self.retries, self.timeout = concurrency, retries, timeout
        self.temperature, self.max_tokens, self.repair = temperature, max_tokens, repair
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.transport = transport
        self.stats = {"requests": 0, "retries": 0, "repaired": 0, "dropped": 0, "resumed": 0}

    # public -----------------------------------------------------------------------------------
    def render(self, case: Case) -> list[dict[str, str]]:
        return self.render_many([case])[0]

    def render_many(self, cases: list[Case]) -> list[list[dict[str, str]]]:
        return asyncio.run(self._render_all(cases))

    # internals --------------------------------------------------------------------------------
    def _load_checkpoint(self) -> dict[int, list[dict[str, str]]]:
        done: dict[int, list[dict[str, str]]] = {}
        if self.checkpoint and self.checkpoint.exists():
            for line in self.checkpoint.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash; that case is simply rendered again
                done[int(row["seed"])] = row["dialogue"]
        return done

    async def _render_all(self, cases: list[Case]) -> list[list[dict[str, str]]]:
        done = self._load_checkpoint()
        results: list[list[dict[str, str]] | None] = [done.get(c.seed) for c in cases]
        self.stats["resumed"] += sum(r is not None for r in results)
        semaphore = asyncio.Semaphore(self.concurrency)
        lock = asyncio.Lock()
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=self.transport) as client:
            await self._check_health(client)

            async def one(i: int, case: Case) -> None:
                async with semaphore:
                    dialogue = await self._render_case(client, case)
                results[i] = dialogue
                if self.checkpoint:
                    async with lock:
                        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                        with self.checkpoint.open("a", encoding="utf-8") as handle:
                            handle.write(json.dumps({"seed": case.seed, "dialogue": dialogue}) + "\n")

            await asyncio.gather(*(one(i, c) for i, c in enumerate(cases) if results[i] is None))
        return [r or [] for r in results]

    async def _check_health(self, client: httpx.AsyncClient) -> None:
        try:
            response = await client.get("/models")
        except httpx.HTTPError as exc:
            raise LLMRendererError(
                f"cannot reach {self.base_url}/models ({exc}); start the server (e.g. `vllm serve MODEL`) "
                "or fix --llm-base-url",
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            raise LLMRendererError(f"{self.base_url}/models answered {response.status_code}", retryable=False)
        if not self.model:
            data = response.json().get("data") or []
            if not data:
                raise LLMRendererError(f"{self.base_url} serves no model; pass model=...", retryable=False)
            self.model = data[0]["id"]

    async def _chat(self, client: httpx.AsyncClient, messages: list[dict[str, str]], seed: int) -> str:
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed % (2**31),
        }

        async def send() -> httpx.Response:
            self.stats["requests"] += 1
            return await client.post("/chat/completions", json=payload)

        def count_retry(_attempt: int, _error: HTTPCallError) -> None:
            self.stats["retries"] += 1

        try:
            response = await asend_with_retries(
                send, RetryPolicy(retries=self.retries), url=f"{self.base_url}/chat/completions", on_retry=count_retry
            )
        except HTTPCallError as exc:
            raise LLMRendererError(
                f"chat completion failed after {exc.attempts} tries: {exc.message}", retryable=exc.retryable
            ) from exc
        return response.json()["choices"][0]["message"]["content"] or ""

    async def _render_case(self, client: httpx.AsyncClient, case: Case) -> list[dict[str, str]]:
        speaker = "Parent" if case.speaker == "parent" else "Patient"
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT.format(speaker=speaker)},
            {"role": "user", "content": build_prompt(case)},
        ]
        text = await self._chat(client, messages, case.seed)
        dialogue = parse_turns(text, case.speaker)
        missing = missing_facts(case.facts, dialogue) if dialogue else [f.text for f in case.facts]
        if missing and self.repair:
            self.stats["repaired"] += 1
            messages += [
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": "Rewrite the whole transcript so that it also states these facts, in these exact words: "
                    + "; ".join(f'"{m}"' for m in missing),
                },
            ]
            text = await self._chat(client, messages, case.seed + 1)
            dialogue = parse_turns(text, case.speaker)
            missing = missing_facts(case.facts, dialogue) if dialogue else ["(no turns)"]
        if missing:
            self.stats["dropped"] += 1
            return []
        return dialogue

    def stats_dict(self) -> dict[str, Any]:
        return dict(self.stats)
