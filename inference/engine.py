"""`generate_note`: a dialogue in, a validated SOAP note out, or a GenerationError that says why not.

The one function the app (Celery task), the CLI and the evaluation call. Greedy decoding,
constrained to the note schema by default (each section closed at a sentence end once it has used
its share of max_new_tokens), so the output always parses; an unconstrained generation is parsed
with `parse_note` and rejected with the parser's reason when it is not a note. A generation that
runs out of tokens is `Truncated`, never returned as a note.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from inference.backends.base import Backend, Completion, SamplingParams, get_backend
from inference.errors import GenerationError, InputTooLong, InvalidOutput, Truncated
from inference.parsing import parse_note
from inference.prompts import build_messages
from inference.schema import SOAPNote, Turn

# Fits a full clinician-length note: ACI-Bench's notes are 573 tokens at the median, 933 at p90.
DEFAULT_MAX_NEW_TOKENS = 1024
# on_progress is called at most this often (seconds), plus once at the end.
PROGRESS_INTERVAL = 0.25


@dataclass(frozen=True)
class GenerationResult:
    """A generated note and how it was made."""

    note: SOAPNote
    raw: str
    tokens: int
    model_reference: str
    backend: str
    seconds: float
    prompt_tokens: int = 0
    finish_reason: str = "stop"


def default_max_new_tokens() -> int:
    return int(os.environ.get("SOAP_MAX_NEW_TOKENS", DEFAULT_MAX_NEW_TOKENS))


# No run of this many tokens may repeat inside a note (inference.constrained.RepetitionGuard).
DEFAULT_NO_REPEAT_NGRAM = 20


def default_no_repeat_ngram() -> int:
    return int(os.environ.get("SOAP_NO_REPEAT_NGRAM", DEFAULT_NO_REPEAT_NGRAM))


def _switched_off(variable: str) -> bool:
    """Whether an on-by-default rule's environment switch (SOAP_GROUNDED_NUMBERS, ...) is set to off."""
    return os.environ.get(variable, "1").strip().lower() in ("0", "false", "off", "no")


def stated_numbers(dialogue: list[Any] | str) -> frozenset[str] | None:
    """The numbers a note may write for this dialogue (None when SOAP_GROUNDED_NUMBERS=0 turns it off)."""
    if _switched_off("SOAP_GROUNDED_NUMBERS"):
        return None
    from inference.constrained import dialogue_numbers
    from inference.prompts import format_dialogue

    return dialogue_numbers(dialogue if isinstance(dialogue, str) else format_dialogue(dialogue))


def dialogue_findings(dialogue: list[Any] | str) -> str:
    """The findings the note's Objective opens with ("" when none is said or SOAP_DICTATED_FINDINGS=0)."""
    if _switched_off("SOAP_DICTATED_FINDINGS"):
        return ""
    from inference.findings import dictated_findings

    return dictated_findings(dialogue)


def _backend_name(backend: str | None) -> str:
    return backend or os.environ.get("SOAP_BACKEND", "transformers")


def _check_dialogue(turns: Iterable[Turn | Mapping[str, Any]] | str) -> list[Any] | str:
    if isinstance(turns, str):
        if not turns.strip():
            raise GenerationError("the dialogue is empty; paste the conversation between doctor and patient", False)
        return turns
    turns = list(turns)
    if not turns:
        raise GenerationError("the dialogue has no turns; paste the conversation between doctor and patient", False)
    return turns


_DANGLING = re.compile(r"\s*[,;]\s*$")


def completion_to_result(
    completion: Completion, *, model_reference: str, backend: str, seconds: float, max_new_tokens: int
) -> GenerationResult:
    """Validate one completion into a GenerationResult; raises Truncated or InvalidOutput."""
    if completion.finish_reason == "length":
        raise Truncated(
            f"the model used all {max_new_tokens} new tokens before closing the note; raise max_new_tokens "
            "(SOAP_MAX_NEW_TOKENS); constrained decoding closes sections at sentence ends by their token budget",
            raw=completion.text,
            tokens=completion.num_tokens,
        )
    parsed = parse_note(completion.text)
    if parsed.note is None:
        raise InvalidOutput(
            f"the model's output is not a SOAP note: {parsed.reason}", raw=completion.text, reason=parsed.reason or ""
        )
    # A section the decoding closed in a looping list ends on its comma ("tired, fatigued, tired,"): drop it.
    note = SOAPNote(**{k: _DANGLING.sub("", v) for k, v in parsed.note.as_dict().items()})
    return GenerationResult(
        note=note,
        raw=completion.text,
        tokens=completion.num_tokens,
        model_reference=model_reference,
        backend=backend,
        seconds=seconds,
        prompt_tokens=completion.prompt_tokens,
        finish_reason=completion.finish_reason,
    )


def _check_fits(impl: Backend, messages: Any, max_new_tokens: int) -> None:
    prompt_tokens = impl.count_tokens(messages)
    context = impl.context_length
    if prompt_tokens is not None and context and prompt_tokens + max_new_tokens > context:
        raise InputTooLong(
            f"the dialogue is too long: the prompt is {prompt_tokens} tokens and the note needs up to "
            f"{max_new_tokens} more, but the model's context holds {context}; shorten the dialogue by about "
            f"{prompt_tokens + max_new_tokens - context} tokens or lower max_new_tokens",
            prompt_tokens=prompt_tokens,
            limit=context,
        )


def generate_notes(
    dialogues: Sequence[Iterable[Turn | Mapping[str, Any]] | str],
    *,
    model: str | None = None,
    backend: str | None = None,
    max_new_tokens: int | None = None,
    constrained: bool = True,
    batch_size: int = 8,
    few_shot: bool = False,
) -> list[GenerationResult | GenerationError]:
    """`generate_note` for many dialogues, `batch_size` prompts per backend call.

    One entry per dialogue, in order: the result, or the GenerationError that dialogue raised (an
    empty or too-long dialogue, a truncated or invalid note), so one bad record never costs the
    others. Each result's `seconds` is its batch's wall time.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    max_new_tokens = max_new_tokens or default_max_new_tokens()
    impl: Backend = get_backend(_backend_name(backend), model)
    params = SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=0.0,
        constrained=constrained,
        no_repeat_ngram=default_no_repeat_ngram(),
    )
    out: list[GenerationResult | GenerationError | None] = [None] * len(dialogues)
    ready: list[tuple[int, Any]] = []
    numbers: dict[int, frozenset[str] | None] = {}
    findings: dict[int, str] = {}
    for i, turns in enumerate(dialogues):
        try:
            dialogue = _check_dialogue(turns)
            messages = build_messages(dialogue, few_shot=few_shot)
            _check_fits(impl, messages, max_new_tokens)
            numbers[i] = stated_numbers(dialogue)
            findings[i] = dialogue_findings(dialogue) if constrained else ""
            ready.append((i, messages))
        except GenerationError as exc:
            out[i] = exc
    for lo in range(0, len(ready), batch_size):
        chunk = ready[lo : lo + batch_size]
        start = time.monotonic()
        stated = [numbers[i] for i, _ in chunk]
        grounded = None if any(n is None for n in stated) else tuple(n for n in stated if n is not None)
        said = tuple(findings[i] for i, _ in chunk) if constrained else None
        completions = impl.generate(
            [messages for _, messages in chunk], replace(params, grounded_numbers=grounded, findings=said)
        )
        seconds = time.monotonic() - start
        for (i, _), completion in zip(chunk, completions, strict=True):
            try:
                out[i] = completion_to_result(
                    completion,
                    model_reference=impl.model_reference,
                    backend=impl.name,
                    seconds=seconds,
                    max_new_tokens=max_new_tokens,
                )
            except GenerationError as exc:
                out[i] = exc
    return [r for r in out if r is not None]


def generate_note(
    turns: Iterable[Turn | Mapping[str, Any]] | str,
    *,
    model: str | None = None,
    backend: str | None = None,
    max_new_tokens: int | None = None,
    constrained: bool = True,
    on_progress: Callable[[str, int], None] | None = None,
    few_shot: bool = False,
) -> GenerationResult:
    """Generate one note for `turns` (Turn objects, {speaker, text} dicts, or formatted text).

    on_progress(text_so_far, n_tokens) is called during generation, throttled, so a UI can show
    live tokens. few_shot adds one worked example to the prompt; off by default because the 135M
    default model copies the example's facts into the note (see prompts.build_messages).
    Raises InputTooLong, Truncated, InvalidOutput, BackendUnavailable (all GenerationError).
    """
    dialogue = _check_dialogue(turns)
    max_new_tokens = max_new_tokens or default_max_new_tokens()
    impl: Backend = get_backend(_backend_name(backend), model)
    messages = build_messages(dialogue, few_shot=few_shot)
    params = SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=0.0,
        constrained=constrained,
        no_repeat_ngram=default_no_repeat_ngram(),
    )
    numbers = stated_numbers(dialogue)
    if numbers is not None:
        params = replace(params, grounded_numbers=(numbers,))
    if constrained:
        params = replace(params, findings=(dialogue_findings(dialogue),))
    _check_fits(impl, messages, max_new_tokens)
    start = time.monotonic()
    if on_progress is None:
        completion = impl.generate([messages], params)[0]
    else:
        completion = _generate_with_progress(impl, messages, params, on_progress)
    seconds = time.monotonic() - start
    return completion_to_result(
        completion,
        model_reference=impl.model_reference,
        backend=impl.name,
        seconds=seconds,
        max_new_tokens=max_new_tokens,
    )


def _generate_with_progress(
    impl: Backend, messages: list[dict[str, str]], params: SamplingParams, on_progress: Callable[[str, int], None]
) -> Completion:
    """Stream one completion, reporting the text so far at most every PROGRESS_INTERVAL seconds."""
    text, n, last = "", 0, time.monotonic()
    stream = impl.stream(messages, params)
    while True:
        try:
            delta = next(stream)
        except StopIteration as stop:
            completion: Completion = stop.value
            break
        text += delta
        n += 1
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL:
            on_progress(text, n)
            last = now
    on_progress(completion.text, completion.num_tokens)
    return completion
