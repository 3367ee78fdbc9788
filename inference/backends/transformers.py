"""In-process generation with transformers, on CPU or CUDA, batched, with constrained decoding.

Sampling warpers (temperature, top-p) are applied after the grammar mask, never before: a top-p
cut taken before masking can leave a row with no allowed token at all.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from inference.backends.base import Backend, Completion, Prompt, SamplingParams
from inference.cache import ModelLRU
from inference.constrained import (
    FindingsPrefix,
    GrammarLogitsProcessor,
    GroundedNumbers,
    RepetitionGuard,
    SectionBudget,
    get_constraint,
)
from inference.errors import GenerationError, InputTooLong
from inference.models import load_model, model_reference
from inference.prompts import render_prompt

OnTokens = Callable[[list[list[int]]], None]


class TransformersBackend(Backend):
    """transformers `generate` over a model loaded once per process (inference.models.load_model)."""

    name = "transformers"
    # Bounded like the model cache: a worker that evaluates or promotes many models keeps the newest few.
    _shared: ModelLRU[tuple[Any, ...], TransformersBackend] = ModelLRU()

    def __init__(
        self,
        model_ref: str | None = None,
        *,
        device: str | None = None,
        dtype: Any = None,
        static_cache: bool = False,
        max_cache_len: int | None = None,
        grammar_engine: str | None = None,
    ) -> None:
        model, tokenizer = load_model(model_ref, device=device, dtype=dtype)
        self._bind(model, tokenizer, model_reference(model_ref), static_cache, max_cache_len, grammar_engine)

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        tokenizer: Any,
        reference: str,
        *,
        static_cache: bool = False,
        max_cache_len: int | None = None,
        grammar_engine: str | None = None,
    ) -> TransformersBackend:
        """A backend over a model already in memory (the learner's live policy): no second copy is loaded."""
        self = cls.__new__(cls)
        self._bind(model, tokenizer, reference, static_cache, max_cache_len, grammar_engine)
        return self

    def _bind(
        self,
        model: Any,
        tokenizer: Any,
        reference: str,
        static_cache: bool,
        max_cache_len: int | None,
        grammar_engine: str | None,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.model_reference = reference
        self.device = next(model.parameters()).device
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        self.vocab_size = int(model.config.vocab_size)
        # On CUDA a static KV cache makes transformers compile the decode step into CUDA graphs, which a
        # trainer's in-place optimiser updates keep valid (same parameter storage).
        self.static_cache = static_cache
        self.max_cache_len = max_cache_len
        self.grammar_engine = grammar_engine
        eos = model.generation_config.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
        self.stop_ids.discard(None)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # One generate() at a time per model: bounded memory, and seeds that mean something.
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, model_ref: str | None = None, **options: Any) -> TransformersBackend:
        key = (model_reference(model_ref), tuple(sorted((k, str(v)) for k, v in options.items())))
        return cls._shared.get_or_create(key, lambda: cls(model_ref, **options))

    def render(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else render_prompt(self.tokenizer, prompt)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.tokenizer(self.render(prompt), add_special_tokens=False)["input_ids"])

    def check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        context = int(self.context_length or 0)
        if prompt_tokens + max_new_tokens > context:
            raise InputTooLong(
                f"the prompt is {prompt_tokens} tokens and the note needs up to {max_new_tokens} more, but the model's "
                f"context holds {context}; shorten the dialogue (about "
                f"{prompt_tokens + max_new_tokens - context} tokens too long) or lower max_new_tokens",
                prompt_tokens=prompt_tokens,
                limit=context,
            )

    def _processors(
        self, params: SamplingParams, rows: int, on_tokens: OnTokens | None, prompt_tokens: list[int] | None = None
    ) -> LogitsProcessorList:
        def on_step(generated: torch.Tensor) -> None:
            if on_tokens is not None:
                on_tokens(generated.tolist())

        schema = params.schema()
        if schema is not None:
            constraint = get_constraint(self.tokenizer, schema, vocab_size=self.vocab_size, engine=self.grammar_engine)
            grammar = constraint.processor(rows, on_step=on_step if on_tokens else None)
        else:
            grammar = GrammarLogitsProcessor(None, self.vocab_size, on_step=on_step if on_tokens else None)
        processors = LogitsProcessorList([grammar])
        stated = None
        if params.grounded_numbers is not None:
            stated = [numbers for numbers in params.grounded_numbers for _ in range(params.n)]
        if params.budgets_sections:
            from inference.schema import SECTION_KEYS, section_token_budgets

            budgets = section_token_budgets(params.max_new_tokens)
            section_budgets = [budgets[k] for k in SECTION_KEYS]
            processors.append(
                SectionBudget(self.tokenizer, self.vocab_size, section_budgets, rows, prompt_tokens, stated)
            )
        if stated is not None and len(stated) == rows:
            processors.append(GroundedNumbers(self.tokenizer, self.vocab_size, stated))
        if params.no_repeat_ngram:  # after the numbers: a repeat ban that would leave no token gives way (D2N083
            # wrote "ibuprofen 60 mg" when the ban took the "0" of a stated 600 and the numbers rule then gave way)
            processors.append(RepetitionGuard(params.no_repeat_ngram, rows))
        if params.findings is not None and params.budgets_sections:
            findings: list[str | None] = [text for text in params.findings for _ in range(params.n)]
            if len(findings) == rows:  # last of the masks: it overrides them while it writes
                processors.append(FindingsPrefix(self.tokenizer, self.vocab_size, findings))
        if params.temperature > 0:
            if params.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                processors.append(TopPLogitsWarper(params.top_p))
        return processors

    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams, *, on_tokens: OnTokens | None = None
    ) -> list[Completion]:
        """Completions for every prompt, n each, grouped by prompt. Raises InputTooLong before generating."""
        if not prompts:
            return []
        texts = [self.render(p) for p in prompts for _ in range(params.n)]
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        lengths = encoded["attention_mask"].sum(dim=1).tolist()
        self.check_fits(max(lengths), params.max_new_tokens)
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        # A fresh GenerationConfig, not the checkpoint's: its top_k/top_p defaults would run before the grammar mask.
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=params.temperature > 0,
            pad_token_id=self.pad_id,
            eos_token_id=sorted(self.stop_ids),
            return_dict_in_generate=True,
            output_scores=params.logprobs,
        )
        kwargs: dict[str, Any] = {
            "generation_config": config,
            "logits_processor": self._processors(params, len(texts), on_tokens, lengths),
        }
        if self.static_cache:
            config.cache_implementation = "static"
            if self.max_cache_len:
                # Size the static cache for the longest call to come, not this one: transformers then reuses
                # one cache shape, so the compiled decode step is not recompiled as prompts grow.
                config.max_cache_len = self.max_cache_len
        with self._lock, torch.inference_mode():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            try:
                out = self.model.generate(**encoded, **kwargs)
            except RuntimeError as exc:
                if "out of memory" in str(exc).lower():
                    raise GenerationError(f"out of memory generating {len(texts)} sequences: {exc}", True) from exc
                raise
        new = out.sequences[:, encoded["input_ids"].shape[1] :].tolist()
        step_logprobs = None
        if params.logprobs and out.scores:
            scores = torch.stack(out.scores, dim=1).float().log_softmax(dim=-1)  # (rows, steps, vocab)
            ids = out.sequences[:, encoded["input_ids"].shape[1] :].unsqueeze(-1)
            step_logprobs = scores.gather(-1, ids).squeeze(-1).tolist()
        return [self._completion(row, new[row], lengths[row], step_logprobs) for row in range(len(texts))]

    def _completion(
        self, row: int, ids: list[int], prompt_tokens: int, logprobs: list[list[float]] | None
    ) -> Completion:
        finish, extra = "length", {}
        for i, tok in enumerate(ids):
            if tok in self.stop_ids:
                # which stop id ended it: a model with several EOS ids is trained on the one it sampled
                ids, finish, extra = ids[:i], "stop", {"stop_token_id": int(tok)}
                break
        return Completion(
            text=self.tokenizer.decode(ids, skip_special_tokens=True),
            token_ids=ids,
            finish_reason=finish,  # type: ignore[arg-type]
            logprobs=logprobs[row][: len(ids)] if logprobs is not None else None,
            prompt_tokens=prompt_tokens,
            extra=extra,
        )

    def stream(self, prompt: Prompt, params: SamplingParams) -> Generator[str, None, Completion]:
        """Text deltas of one sample as tokens arrive (generation runs in a helper thread); returns the Completion."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        single = SamplingParams(**{**params.__dict__, "n": 1}) if params.n != 1 else params

        def on_tokens(rows: list[list[int]]) -> None:
            events.put(("tokens", rows[0]))

        def run() -> None:
            try:
                events.put(("done", self.generate([prompt], single, on_tokens=on_tokens)[0]))
            except BaseException as exc:  # handed to the consumer, re-raised there
                events.put(("error", exc))

        thread = threading.Thread(target=run, name="soap-stream", daemon=True)
        thread.start()
        sent = ""
        while True:
            kind, value = events.get()
            if kind == "error":
                raise value
            ids = value.token_ids if kind == "done" else [t for t in value if t not in self.stop_ids]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            # A partial multi-byte character decodes to U+FFFD; wait for the next token before sending it.
            if kind != "done" and text.endswith("\ufffd"):
                continue
            if text.startswith(sent) and len(text) > len(sent):
                yield text[len(sent) :]
                sent = text
            if kind == "done":
                thread.join()
                return value
