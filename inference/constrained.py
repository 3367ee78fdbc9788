"""Constrained decoding: a JSON schema becomes a token mask applied at every decoding step.

Two grammar engines sit behind one interface, both installed: xgrammar (default) and llguidance.
Measured on this CPU with the default model (docs/performance.md, "Generation"): computing the
mask costs ~0.03 ms a token with xgrammar and ~0.15 ms with llguidance, against ~50-100 ms for a
forward pass of the 135M model, so either is far inside the 20% budget; xgrammar also compiles the
note schema faster and is what vLLM uses by default, so the two paths behave alike. Choose with
`SOAP_GRAMMAR_ENGINE=llguidance`.

`JSONConstraint.processor(batch)` returns a transformers LogitsProcessor with one matcher per
row, so batches and n samples per prompt each follow their own grammar state.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import torch
from transformers import LogitsProcessor

GRAMMAR_ENGINES = ("xgrammar", "llguidance")
# json.dumps' default separators: what the few-shot example shows and what the model writes unprompted.
SEPARATORS = (", ", ": ")


class _Matcher:
    """One row's grammar state: accept(token), fill(bitmask, row), done()."""

    def accept(self, token: int) -> bool:
        raise NotImplementedError

    def fill(self, bitmask: torch.Tensor, row: int) -> None:
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError


class _XGrammarMatcher(_Matcher):
    def __init__(self, compiled: Any) -> None:
        import xgrammar as xgr

        self._m = xgr.GrammarMatcher(compiled)

    def accept(self, token: int) -> bool:
        return bool(self._m.accept_token(token))

    def fill(self, bitmask: torch.Tensor, row: int) -> None:
        self._m.fill_next_token_bitmask(bitmask, row)

    def done(self) -> bool:
        return bool(self._m.is_terminated())


class _LLGuidanceMatcher(_Matcher):
    def __init__(self, tokenizer: Any, grammar: str) -> None:
        import llguidance

        self._m = llguidance.LLMatcher(tokenizer, grammar)

    def accept(self, token: int) -> bool:
        return bool(self._m.consume_token(token))

    def fill(self, bitmask: torch.Tensor, row: int) -> None:
        import llguidance.torch

        llguidance.torch.fill_next_token_bitmask(self._m, bitmask, row)

    def done(self) -> bool:
        return bool(self._m.is_stopped())


class JSONConstraint:
    """A JSON schema compiled for one tokenizer; cheap to turn into per-call logits processors."""

    def __init__(self, tokenizer: Any, schema: dict[str, Any], *, vocab_size: int, engine: str | None = None) -> None:
        engine = engine or os.environ.get("SOAP_GRAMMAR_ENGINE", "xgrammar")
        if engine not in GRAMMAR_ENGINES:
            raise ValueError(f"unknown grammar engine {engine!r}; choose one of {', '.join(GRAMMAR_ENGINES)}")
        self.engine = engine
        self.vocab_size = vocab_size
        if engine == "xgrammar":
            import xgrammar as xgr

            info = _xgr_info(tokenizer, vocab_size)
            self._compiled = xgr.GrammarCompiler(info).compile_json_schema(
                json.dumps(schema), any_whitespace=False, separators=SEPARATORS
            )
        else:
            import llguidance

            self._lltok = _llg_tokenizer(tokenizer, vocab_size)
            self._grammar = llguidance.LLMatcher.grammar_from_json_schema(
                schema,
                defaults={
                    "whitespace_flexible": False,
                    "item_separator": SEPARATORS[0],
                    "key_separator": SEPARATORS[1],
                },
            )
            probe = llguidance.LLMatcher(self._lltok, self._grammar)
            if probe.is_error():
                raise ValueError(f"llguidance rejected the schema: {probe.get_error()}")

    def matcher(self) -> _Matcher:
        if self.engine == "xgrammar":
            return _XGrammarMatcher(self._compiled)
        return _LLGuidanceMatcher(self._lltok, self._grammar)

    def processor(
        self, batch_size: int, on_step: Callable[[torch.Tensor], None] | None = None
    ) -> GrammarLogitsProcessor:
        return GrammarLogitsProcessor([self.matcher() for _ in range(batch_size)], self.vocab_size, on_step=on_step)


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks every row's logits to the tokens its grammar allows next. One instance per generate() call."""

    def __init__(
        self, matchers: list[_Matcher] | None, vocab_size: int, on_step: Callable[[torch.Tensor], None] | None = None
    ) -> None:
        self.matchers = matchers
        self.vocab_size = vocab_size
        self.on_step = on_step
        self._bitmask = None
        if matchers:
            import xgrammar as xgr

            self._bitmask = xgr.allocate_token_bitmask(len(matchers), vocab_size)
        self._prompt_len: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self._prompt_len is None:
            self._prompt_len = input_ids.shape[1]
        elif self.matchers:
            last = input_ids[:, -1].tolist()
            for row, matcher in enumerate(self.matchers):
                if not matcher.done() and not matcher.accept(last[row]):
                    raise RuntimeError(f"grammar rejected token {last[row]} in row {row}; the mask was not applied")
        if self.on_step is not None and input_ids.shape[1] > self._prompt_len:
            self.on_step(input_ids[:, self._prompt_len :])
        if not self.matchers:
            return scores
        import xgrammar as xgr

        assert self._bitmask is not None
        self._bitmask.fill_(-1)
        for row, matcher in enumerate(self.matchers):
            if not matcher.done():
                matcher.fill(self._bitmask, row)
        if scores.device.type in ("cpu", "cuda"):
            xgr.apply_token_bitmask_inplace(scores, self._bitmask.to(scores.device, non_blocking=True))
        else:
            cpu = scores.to("cpu")
            xgr.apply_token_bitmask_inplace(cpu, self._bitmask)
            scores = cpu.to(scores.device)
        return scores


_info_cache: dict[tuple[int, int], Any] = {}
_llg_cache: dict[tuple[int, int], Any] = {}
_compiled_cache: dict[tuple[int, str, str], JSONConstraint] = {}
_cache_lock = threading.Lock()


def _xgr_info(tokenizer: Any, vocab_size: int) -> Any:
    import xgrammar as xgr

    key = (id(tokenizer), vocab_size)
    if key not in _info_cache:
        _info_cache[key] = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    return _info_cache[key]


def _llg_tokenizer(tokenizer: Any, vocab_size: int) -> Any:
    import llguidance.hf

    key = (id(tokenizer), vocab_size)
    if key not in _llg_cache:
        _llg_cache[key] = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
    return _llg_cache[key]


def get_constraint(
    tokenizer: Any, schema: dict[str, Any], *, vocab_size: int, engine: str | None = None
) -> JSONConstraint:
    """A compiled constraint, cached per (tokenizer, schema, engine): compiling takes ~0.5 s."""
    engine = engine or os.environ.get("SOAP_GRAMMAR_ENGINE", "xgrammar")
    key = (id(tokenizer), json.dumps(schema, sort_keys=True), engine)
    with _cache_lock:
        if key not in _compiled_cache:
            _compiled_cache[key] = JSONConstraint(tokenizer, schema, vocab_size=vocab_size, engine=engine)
        return _compiled_cache[key]
