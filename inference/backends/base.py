"""The backend interface: generate a batch (n samples per prompt) and stream one completion.

A prompt is either a list of chat messages ({role, content}; the backend applies the model's chat
template) or an already rendered prompt string. `generate` returns the completions flattened and
grouped by prompt: prompt 0's n samples, then prompt 1's, and so on (TRL's GRPO convention).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from inference.errors import GenerationError

Prompt = str | list[dict[str, str]]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy (the app); training uses temperature 1.0 and n > 1.

    constrained=True with json_schema None constrains to the SOAP note schema (inference.schema.
    bounded_note_schema) with each section's length budgeted in tokens (inference.constrained.
    SectionBudget); a json_schema constrains to that schema alone.
    """

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    constrained: bool = True
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    logprobs: bool = False
    # Forbid repeating any run of this many generated tokens (0 = off): the app's greedy notes use it
    # against runaway loops; training rollouts leave it off so the policy is sampled as it is.
    no_repeat_ngram: int = 0
    # Per prompt, the digit runs its dialogue states (inference.constrained.dialogue_numbers): the note may
    # write no other number. None = unchecked (training rollouts, free chat).
    grounded_numbers: tuple[frozenset[str], ...] | None = None
    # Per prompt, the findings its visit says aloud (inference.findings.dictated_findings): constrained note
    # decoding opens the Objective with them (inference.constrained.FindingsPrefix). None = the model writes
    # the Objective alone (training rollouts, free chat).
    findings: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.no_repeat_ngram < 0 or self.no_repeat_ngram == 1:
            raise ValueError(f"no_repeat_ngram must be 0 (off) or at least 2, got {self.no_repeat_ngram}")
        if self.n > 1 and self.temperature == 0:
            raise ValueError("n > 1 with temperature 0 gives n identical samples; set temperature > 0 (e.g. 1.0)")

    def schema(self) -> dict[str, Any] | None:
        """The JSON schema to constrain to, or None when unconstrained."""
        if not self.constrained:
            return None
        if self.json_schema is not None:
            return self.json_schema
        from inference.schema import bounded_note_schema

        return bounded_note_schema()

    @property
    def budgets_sections(self) -> bool:
        """Whether decoding should close sections at sentence ends by their token budget (the note schema)."""
        return self.constrained and self.json_schema is None


@dataclass
class Completion:
    """One generated sample. finish_reason 'length' means max_new_tokens ran out first."""

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    logprobs: list[float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        """Generated tokens: the ids when known, else the count the server reported."""
        return self.completion_tokens if self.completion_tokens is not None else len(self.token_ids)


class Backend:
    """Base class of generation backends. Subclasses implement `generate`, `stream` and `count_tokens`."""

    name: str = "base"
    model_reference: str = ""
    context_length: int | None = None

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        raise NotImplementedError

    def stream(self, prompt: Prompt, params: SamplingParams) -> Generator[str, None, Completion]:
        """Text deltas of one sample as they are generated; the generator returns the final Completion."""
        completion = self.generate([prompt], params)[0]
        yield completion.text
        return completion

    def count_tokens(self, prompt: Prompt) -> int | None:
        """Prompt length in tokens, or None when the backend cannot tell before generating."""
        return None


BACKENDS = ("transformers", "openai", "vllm")


def get_backend(name: str | None = None, model_ref: str | None = None, **options: Any) -> Backend:
    """A backend by name ('transformers', 'openai', 'vllm'), cached per (name, model, options) per process."""
    name = (name or "transformers").strip().lower()
    if name == "transformers":
        from inference.backends.transformers import TransformersBackend

        return TransformersBackend.shared(model_ref, **options)
    if name == "openai":
        from inference.backends.openai import OpenAIBackend

        return OpenAIBackend(model_ref, **options)
    if name == "vllm":
        from inference.backends.vllm import VLLMBackend

        return VLLMBackend.shared(model_ref, **options)
    raise GenerationError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}", retryable=False)
