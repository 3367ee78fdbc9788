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
import re
import threading
from collections.abc import Callable
from typing import Any

import torch
from transformers import LogitsProcessor

from inference.vitals import VITAL_NAMES, fits, stated_name, stated_vitals, vital_before, vital_values

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


# --- section budgets in tokens -------------------------------------------------------------------

_token_text_cache: dict[tuple[int, int], list[str]] = {}
# A word before a full stop that does not end a sentence.
_ABBREVIATIONS = frozenset({"dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "approx", "no", "st", "pt", "hx", "fig"})


def token_texts(tokenizer: Any, vocab_size: int) -> list[str]:
    """Every token id's text (cached per tokenizer): what SectionBudget reads the JSON structure from."""
    key = (id(tokenizer), vocab_size)
    with _cache_lock:
        if key not in _token_text_cache:
            n = min(vocab_size, len(tokenizer))
            texts = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False)
            _token_text_cache[key] = list(texts) + [""] * (vocab_size - n)
        return _token_text_cache[key]


_TRAILING_NUMBER = re.compile(r"(\d+(?:\.\d+)?)$")


def ends_sentence(text: str, stated: frozenset[str] | None = None) -> bool:
    """Whether a section's text so far (JSON-escaped) ends a sentence: a safe place to close it.

    A full stop after a digit could be a decimal point ("38." of "38.4") and one after an abbreviation
    ("Dr.") ends nothing, so neither counts; closing there would cut the note mid-value. Given the
    numbers the dialogue states (`stated`: the note may write no others, GroundedNumbers), a full stop
    after a number that no stated decimal continues ("1." when no "1.x" was said) does end a sentence.
    """
    text = text.rstrip()
    while text.endswith("\\n"):
        text = text[:-2].rstrip()
    if not text or text[-1] not in ".!?":
        return False
    before = text[:-1]
    if not before:
        return False
    if before[-1].isdigit():
        number = _TRAILING_NUMBER.search(before)
        if stated is None or number is None or "." in number.group(1):
            return False
        return not any(n.startswith(number.group(1) + ".") for n in stated)
    word = before.split()[-1].lower() if before.split() else ""
    return word.lstrip("(") not in _ABBREVIATIONS


class _RowState:
    """Where one row's JSON output stands: inside which string, and tokens used per section."""

    __slots__ = (
        "in_string", "escape", "strings", "used", "value", "section_text", "sentence_start", "spent", "subjective",
        "clause_start", "clauses", "word_token",
    )  # fmt: skip

    def __init__(self) -> None:
        self.in_string = False
        self.escape = False
        self.strings = 0  # strings opened so far: keys are the 1st, 3rd, ...; values the 2nd, 4th, ...
        self.used: list[int] = [0, 0, 0, 0]
        self.value = ""  # the tail of the section text being written
        self.section_text = ""  # the whole text of the string being written
        self.sentence_start = 0  # where in section_text the sentence being written began
        self.spent = [False, False, False, False]  # section has started repeating itself: close it
        self.subjective = ""  # the finished S text: an Objective sentence that restates it closes O
        self.clause_start = 0  # where in section_text the clause being written began
        self.clauses: dict[tuple[str, ...], int] = {}  # the section's clauses so far, by their words
        self.word_token = False  # the last token starts a word (" that", "#"), not inside one ("education")

    @property
    def section(self) -> int | None:
        """Index of the section whose value string is open, else None."""
        if self.in_string and self.strings % 2 == 0 and self.strings >= 2:
            return min(self.strings // 2 - 1, 3)
        return None

    def feed(self, text: str) -> None:
        section = self.section
        if section is not None:
            self.used[section] += 1
        self.word_token = bool(text) and not text[0].isalnum()
        for ch in text:
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    if self.section == 0:
                        self.subjective = self.section_text
                    self.in_string = False
                    continue
                if self.section is not None:
                    self.value = (self.value + ch)[-64:]
                    self.section_text += ch
            elif ch == '"':
                self.in_string = True
                self.strings += 1
                self.value = ""
                self.section_text = ""
                self.sentence_start = 0
                self.clause_start = 0
                self.clauses = {}

    def sentence_repeats(self) -> bool:
        """At a sentence end: whether the sentence just written mostly restates earlier ones of its section.

        In the Objective the Subjective counts as earlier too: exam and results never retell the history
        (none of the 768 Objective sentences of ACI-Bench train+valid's clinician notes does, checked),
        while a small model opens O with "The patient is a 58-year-old male with a history of ..." again.
        Assessment and Plan are not checked against S: clinicians' assessments restate the history.
        Advances the sentence start, so each sentence is judged once. See `repeats_earlier`.
        """
        sentence = self.section_text[self.sentence_start :]
        if not _words(sentence):
            return False
        earlier = self.section_text[: self.sentence_start]
        if self.section == 1 and self.subjective:
            earlier = f"{self.subjective} {earlier}"
        self.sentence_start = len(self.section_text)
        return repeats_earlier(sentence, earlier)

    def clause_repeats(self) -> bool:
        """Whether a clause ended by a comma or semicolon since the last call is the CLAUSE_REPEATS-th time its
        section says it word for word: the list loop a small model falls into ("tired, fatigued, tired, tired,
        ..."; "normal bilateral, normal bilateral, ...") has no sentence end for the restating rule to judge.

        Clauses run between commas, semicolons, sentence ends and newlines; all are counted, only a comma or
        semicolon can end the section. A lone connective ("however") does not count. Clinicians' sections that
        say a clause a third time: 1 of ACI-Bench train+valid's 347, 1 of MTS-Dialog train+valid's 1,301 (test);
        the shipped adapter's notes that do: 9 of 100 for the synthetic holdout (4 of them lists that ran out
        of tokens), 2 of 20 for ACI-Bench valid, 5 of 100 for MTS-Dialog valid.
        """
        text, fired = self.section_text, False
        for end in _CLAUSE_END.finditer(text, self.clause_start):
            words = tuple(_words(text[self.clause_start : end.start()]))
            self.clause_start = end.end()
            if not words or (len(words) == 1 and words[0] in _CONNECTIVES):
                continue
            self.clauses[words] = count = self.clauses.get(words, 0) + 1
            fired = fired or (end.group() in ",;" and count >= CLAUSE_REPEATS)
        return fired

    def runs_on(self) -> bool:
        """Whether the clause being written has gone RUN_ON_WORDS words without a comma, semicolon, sentence
        end or newline (call after `clause_repeats`, which finds the clause start). Checked after a token that
        starts a word (" that", "#"): the tokenizer puts spaces before words, so no token is known to end one,
        and one that starts a word ends no word mid-way ("the patient reports that the patient reports that
        ...", MTS-Dialog valid 82, ran out of tokens before this check looked past the text's last character).

        The loop no other rule sees: a token run with no punctuation at all ("#Studenteducation#Student
        support#Studenteducation#..."; 3 of the shipped adapter's 100 synthetic-holdout notes ran out of
        tokens so). The longest clause of a clinician note in ACI-Bench train+valid and MTS-Dialog is 52
        words (test).
        """
        clause = self.section_text[self.clause_start :]
        if not clause or (clause[-1].isalnum() and not self.word_token):
            return False
        return len(_words(clause)) >= RUN_ON_WORDS


RUN_ON_WORDS = 64  # a clause this long, with no punctuation, closes its section (_RowState.runs_on)
_WORD = re.compile(r"[a-z0-9']+")
_CLAUSE_END = re.compile(r"[,;!?]|\.(?!\d)|\\n")
_CONNECTIVES = frozenset({"however", "also", "then", "and", "but", "so", "yes", "no", "okay", "otherwise"})
CLAUSE_REPEATS = 3  # a clause said this many times in a section, ended by a comma or semicolon, closes it


def _words(text: str) -> list[str]:
    """Lower-case words of JSON-escaped section text (an escaped newline is a space)."""
    return _WORD.findall(text.replace("\\n", " ").lower())


REPEAT_SHARE = 0.6  # a sentence whose word trigrams were this much said before in its section restates it
REPEAT_MIN_WORDS = 6


def repeats_earlier(sentence: str, earlier: str) -> bool:
    """Whether `sentence` restates `earlier` text: REPEAT_SHARE of its word trigrams already occur there.

    The loop a small model falls into is a sentence said again with a word or two changed ("He notes
    that he is doing well with his current strategy." after "He reports he is doing well with his current
    strategy."): exact n-gram bans (RepetitionGuard) do not catch it. A shorter sentence (under
    REPEAT_MIN_WORDS words) counts only when it is word for word an earlier one ("Denies sleep apnea."
    twice): short findings legitimately share words ("Left knee pain." after "Right knee pain.").

    >>> repeats_earlier("He notes that he is doing well with his current strategy.",
    ...                 "He reports he is doing well with his current strategy.")
    True
    >>> repeats_earlier("Left knee swelling after a fall three weeks ago.", "Right knee pain since the fall.")
    False
    >>> repeats_earlier("Denies sleep apnea.", "Denies chest pain. Denies sleep apnea.")
    True
    >>> repeats_earlier("Left knee pain.", "Right knee pain.")
    False
    """

    said = _words(sentence)
    if len(said) < REPEAT_MIN_WORDS:
        return len(said) >= 2 and said in (_words(s) for s in _SENTENCE_END.split(earlier))
    before = _words(earlier)
    seen = {tuple(before[i : i + 3]) for i in range(len(before) - 2)}
    grams = [tuple(said[i : i + 3]) for i in range(len(said) - 2)]
    return sum(g in seen for g in grams) >= REPEAT_SHARE * len(grams)


_SENTENCE_END = re.compile(r"[.!?](?:\s|\\n)+")


def section_allowance(budgets: list[int], row: _RowState, section: int) -> int:
    """Tokens section `section` may use: its own budget plus what the sections before it left unused."""
    return budgets[section] + sum(budgets[j] - row.used[j] for j in range(section))


def close_reason(state: _RowState, budgets: list[int], stated: frozenset[str] | None = None) -> str | None:
    """After a token: whether the open section must close now ('budget', 'repeating') or not (None).

    Only at a sentence end; 'repeating' when the sentence just ended restates earlier ones of its
    section (judged once per sentence), 'budget' when the section has used its allowance. Shared by
    the transformers processor below and the vLLM one (inference.backends.vllm_processors).
    """
    section = state.section
    if section is None:
        return None
    if (state.clause_repeats() or state.runs_on()) and not state.spent[section]:
        state.spent[section] = True
        return "repeating"
    if not ends_sentence(state.value, stated):
        return None
    if not state.spent[section] and state.sentence_repeats():
        state.spent[section] = True
        return "repeating"
    if state.spent[section] or state.used[section] >= section_allowance(budgets, state, section):
        return "budget"
    return None


def must_continue(state: _RowState, minimums: list[int]) -> bool:
    """Whether the open section is still below its minimum length, so it may not close yet."""
    section = state.section
    return section is not None and state.used[section] < minimums[section]


def _mask_row(scores: torch.Tensor, r: int, keep: torch.Tensor) -> bool:
    """Keep only `keep` in row r (in place), unless that would leave the row no token; True if masked."""
    allowed = torch.isfinite(scores[r]) & keep
    if bool(allowed.any()):
        scores[r] = scores[r].masked_fill(~allowed, float("-inf"))
        return True
    return False


class SectionBudget(LogitsProcessor):
    """Closes a note section at its next sentence end once it has used its share of the token budget.

    Runs after the grammar mask. Section k may use `budgets[k]` tokens plus whatever the sections
    before it left unused; past that, as soon as its text ends a sentence, only tokens that close the
    string are allowed (the grammar then writes the next key). A section is never cut mid-word or
    mid-number, and a note that still runs out of tokens finishes as 'length' and is reported
    truncated by the caller, never clipped.

    A section that starts restating itself (`repeats_earlier`: a sentence whose word trigrams mostly
    occurred earlier in the section) is closed at that sentence's end too, whatever budget is left:
    the small default model, once out of things to say, rewords its last sentence until the budget
    ends (ACI-Bench valid: 85 % of the SFT adapter's notes did). `closed_repeating` counts these.
    """

    def __init__(
        self,
        tokenizer: Any,
        vocab_size: int,
        budgets: list[int],
        rows: int,
        prompt_tokens: list[int] | None = None,
        stated: list[frozenset[str]] | None = None,
    ) -> None:
        from inference.schema import section_token_minimums

        self.texts = token_texts(tokenizer, vocab_size)
        self.budgets = budgets
        # per row: S may not close before its floor (inference.schema.section_token_minimums)
        self.minimums = [
            section_token_minimums(budgets, prompt_tokens[r] if prompt_tokens else None) for r in range(rows)
        ]
        # per row, the numbers the dialogue states (with GroundedNumbers on): "1." then ends a sentence
        self.stated = stated if stated is not None and len(stated) == rows else [None] * rows
        self.held = [0] * rows  # steps a section was kept open below its minimum
        self.rows = [_RowState() for _ in range(rows)]
        self._closing = _closing_mask(tokenizer, vocab_size, self.texts)
        self._quotes = _quote_mask(tokenizer, vocab_size, self.texts)
        self._prompt_len: int | None = None
        self.closed_early = [0] * rows
        self.closed_repeating = [0] * rows

    def allowance(self, row: _RowState, section: int) -> int:
        return section_allowance(self.budgets, row, section)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self._prompt_len is None:
            self._prompt_len = input_ids.shape[1]
            return scores
        last = input_ids[:, -1].tolist()
        closing = self._closing.to(scores.device)
        quotes = self._quotes.to(scores.device)
        for r, state in enumerate(self.rows):
            state.feed(self.texts[last[r]] if last[r] < len(self.texts) else "")
            reason = close_reason(state, self.budgets, self.stated[r])
            if reason == "repeating":
                self.closed_repeating[r] += 1
            if reason is not None:
                self.closed_early[r] += _mask_row(scores, r, closing)
            elif must_continue(state, self.minimums[r]):
                self.held[r] += _mask_row(scores, r, ~quotes)
        return scores


class _Request:
    __slots__ = ("budgets", "minimums", "output_ids", "seen", "stated", "state")

    def __init__(
        self, budgets: list[int], output_ids: list[int], prompt_tokens: int | None, stated: frozenset[str] | None
    ) -> None:
        from inference.schema import section_token_minimums

        self.stated = stated
        self.budgets = budgets
        self.minimums = section_token_minimums(budgets, prompt_tokens)
        self.output_ids = output_ids  # the engine's running list of this request's generated ids
        self.seen = 0
        self.state = _RowState()


class BatchSectionBudget:
    """SectionBudget's rule over a batch whose requests come and go (vLLM's persistent batch).

    `requests` maps a batch row to its budgets and the engine's live list of its generated ids (the
    engine appends to it; -1 marks a token still in flight); rows without an entry are untouched.
    `apply` reads the tokens each row gained since the last call and, where `close_reason` says
    so, lets the row write only tokens that close the section's string. The vLLM logits processor
    (inference.backends.vllm_processors) keeps `requests` in step with the engine's batch.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.requests: dict[int, _Request] = {}
        self._texts: list[str] = []
        self._closing: torch.Tensor | None = None
        self._quotes: torch.Tensor | None = None
        self.closed = 0  # rows forced to close a section, over the processor's life
        self.held = 0  # steps a section was kept open below its minimum

    @staticmethod
    def request(
        budgets: list[int], output_ids: list[int], prompt_tokens: int | None = None, stated: Any = None
    ) -> _Request:
        numbers = frozenset(str(n) for n in stated) if stated is not None else None
        return _Request([int(b) for b in budgets], output_ids, prompt_tokens, numbers)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.requests:
            return logits
        width = logits.shape[1]
        if self._closing is None or self._quotes is None or len(self._texts) != width:
            self._texts = token_texts(self.tokenizer, width)
            self._closing = _closing_mask(self.tokenizer, width, self._texts).to(logits.device)
            self._quotes = _quote_mask(self.tokenizer, width, self._texts).to(logits.device)
        for index, request in self.requests.items():
            ids, state = request.output_ids, request.state
            fed = False
            while request.seen < len(ids) and ids[request.seen] >= 0:
                token = ids[request.seen]
                state.feed(self._texts[token] if token < width else "")
                request.seen += 1
                fed = True
            if not fed:
                continue
            if close_reason(state, request.budgets, request.stated) is not None:
                self.closed += _mask_row(logits, index, self._closing)
            elif must_continue(state, request.minimums):
                self.held += _mask_row(logits, index, ~self._quotes)
        return logits


_quote_cache: dict[tuple[int, int], torch.Tensor] = {}


def _quote_mask(tokenizer: Any, vocab_size: int, texts: list[str]) -> torch.Tensor:
    """Tokens holding a double quote: inside a string, any of them ends it (`"`, `."`, `",` ...)."""
    key = (id(tokenizer), vocab_size)
    with _cache_lock:
        if key not in _quote_cache:
            _quote_cache[key] = torch.tensor(['"' in t for t in texts], dtype=torch.bool)
        return _quote_cache[key]


_closing_cache: dict[tuple[int, int], torch.Tensor] = {}


def _closing_mask(tokenizer: Any, vocab_size: int, texts: list[str]) -> torch.Tensor:
    key = (id(tokenizer), vocab_size)
    with _cache_lock:
        if key not in _closing_cache:
            _closing_cache[key] = torch.tensor([t.startswith('"') for t in texts], dtype=torch.bool)
        return _closing_cache[key]


# --- the Objective opens with the findings said in the visit -------------------------------------

FINDINGS_SECTION = 1  # the Objective


def is_findings_text(findings: Any) -> bool:
    """Whether `findings` can be forced into a JSON string as it is: text with no quote, backslash or control
    character (what `inference.findings.dictated_findings` writes; the vLLM request check uses this)."""
    return isinstance(findings, str) and not any(c in '"\\' or ord(c) < 32 or ord(c) == 127 for c in findings)


def findings_ids(tokenizer: Any, findings: str | None, vocab_size: int) -> list[int]:
    """The token ids that write `findings` inside a JSON string ([] for none or for text a token cannot write)."""
    if not findings:
        return []
    escaped = json.dumps(findings, ensure_ascii=False)[1:-1]
    ids = list(tokenizer(escaped, add_special_tokens=False)["input_ids"])
    return ids if ids and max(ids) < vocab_size else []


class _FindingsRow:
    """One row's place in its findings: not started, forcing token k, due to close the string, or done."""

    __slots__ = ("ids", "pos", "state")

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.pos = -1  # -1: the Objective is not open yet; k < len(ids): force ids[k]; len(ids): close; past: done
        self.state = _RowState()

    def step(self, text: str) -> int | None:
        """After a token whose text is `text`: the token id to force next, CLOSE_STRING, or None (free)."""
        self.state.feed(text)
        if not self.ids:
            return None
        if self.pos == -1 and self.state.section == FINDINGS_SECTION:
            # the Objective's string just opened; a token that already wrote text into it leaves the row alone
            self.pos = 0 if self.state.section_text == "" else len(self.ids) + 1
        if self.pos < 0 or self.pos > len(self.ids):
            return None
        self.pos += 1
        return self.ids[self.pos - 1] if self.pos <= len(self.ids) else CLOSE_STRING


CLOSE_STRING = -1


def _force(scores: torch.Tensor, r: int, action: int | None, closing: torch.Tensor) -> bool:
    """Apply a _FindingsRow action to row r of `scores`; True if it forced a findings token."""
    if action is None:
        return False
    if action == CLOSE_STRING:
        _mask_row(scores, r, closing)
        return False
    row = torch.full_like(scores[r], float("-inf"))
    row[action] = 0.0
    scores[r] = row
    return True


class FindingsPrefix(LogitsProcessor):
    """Opens each row's Objective with the findings its visit says aloud (inference.findings), then closes it.

    When a row's grammar opens the Objective's string, the next tokens are forced to write that row's
    findings, whatever the other rules would allow (every word of them is the visit's; see
    `inference.findings.dictated_findings`), and then only a token that closes the string may follow. A row
    with no findings, or whose Objective opened with a token that already wrote text, is left alone. Runs
    after every other mask (grammar, section budget, numbers); the grammar accepts any text inside a
    string, and the findings hold no quote, backslash or control character. `forced[r]` counts the
    tokens forced in row r. BatchFindingsPrefix is the same rule for vLLM's batch.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, findings: list[str | None]) -> None:
        self.texts = token_texts(tokenizer, vocab_size)
        self.rows = [_FindingsRow(findings_ids(tokenizer, text, vocab_size)) for text in findings]
        self.forced = [0] * len(findings)
        self._closing = _closing_mask(tokenizer, vocab_size, self.texts)
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self._started:  # the first call comes before any generated token
            self._started = True
            return scores
        last = input_ids[:, -1].tolist()
        closing = self._closing.to(scores.device)
        for r, row in enumerate(self.rows):
            action = row.step(self.texts[last[r]] if last[r] < len(self.texts) else "")
            self.forced[r] += _force(scores, r, action, closing)
        return scores


class _FindingsRequest:
    __slots__ = ("findings", "output_ids", "row", "seen")

    def __init__(self, findings: str, output_ids: list[int]) -> None:
        self.findings = findings
        self.row: _FindingsRow | None = None  # tokenised at the first apply, when the vocabulary width is known
        self.output_ids = output_ids  # the engine's running list of this request's generated ids
        self.seen = 0


class BatchFindingsPrefix:
    """FindingsPrefix's rule over a batch whose requests come and go (vLLM's persistent batch).

    `requests` maps a batch row to its findings and the engine's live list of its generated ids (-1 marks a
    token still in flight); `apply` reads the tokens each row gained since the last call, as
    BatchSectionBudget does. The vLLM logits processor (inference.backends.vllm_processors) keeps
    `requests` in step with the engine's batch.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.requests: dict[int, _FindingsRequest] = {}
        self._texts: list[str] = []
        self._closing: torch.Tensor | None = None
        self.forced = 0  # tokens forced, over the processor's life

    @staticmethod
    def request(findings: str, output_ids: list[int]) -> _FindingsRequest:
        return _FindingsRequest(str(findings), output_ids)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.requests:
            return logits
        width = logits.shape[1]
        if self._closing is None or len(self._texts) != width:
            self._texts = token_texts(self.tokenizer, width)
            self._closing = _closing_mask(self.tokenizer, width, self._texts).to(logits.device)
        for index, request in self.requests.items():
            if request.row is None:
                request.row = _FindingsRow(findings_ids(self.tokenizer, request.findings, width))
            ids = request.output_ids
            action = None
            while request.seen < len(ids) and ids[request.seen] >= 0:
                token = ids[request.seen]
                action = request.row.step(self._texts[token] if token < width else "")
                request.seen += 1
            self.forced += _force(logits, index, action, self._closing)
        return logits


# --- runaway repetition --------------------------------------------------------------------------


class RepetitionGuard(LogitsProcessor):
    """Forbids a token that would repeat an n-gram the note itself already holds (generated text only).

    A small model decoding greedily can fall into a loop ("The patient reports the symptoms are due to
    his high blood pressure." forty times) and run to the token limit: measured on ACI-Bench valid, the
    SFT adapter's unconstrained notes all did. Clinicians' notes hardly ever repeat a run of
    `n` (default 20) tokens, and the dialogue is not counted, so copying a phrase from the visit
    stays free. A ban that would leave a row no allowed token (the grammar forcing one) is skipped.
    """

    def __init__(self, n: int, rows: int) -> None:
        if n < 2:
            raise ValueError(f"the repeated n-gram size must be at least 2, got {n}")
        self.n = n
        self._seen: list[dict[tuple[int, ...], set[int]]] = [{} for _ in range(rows)]
        self._prompt_len: int | None = None
        self.blocked = [0] * rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self._prompt_len is None:
            self._prompt_len = input_ids.shape[1]
        generated = input_ids.shape[1] - self._prompt_len
        if generated < self.n - 1:
            return scores
        tail = input_ids[:, -self.n :].tolist() if generated >= self.n else None
        recent = input_ids[:, -(self.n - 1) :].tolist()
        for r, seen in enumerate(self._seen):
            if tail is not None:  # record the n-gram that the last token completed
                seen.setdefault(tuple(tail[r][:-1]), set()).add(tail[r][-1])
            banned = seen.get(tuple(recent[r]))
            if not banned:
                continue
            idx = torch.tensor(sorted(banned), device=scores.device)
            allowed = torch.isfinite(scores[r])
            allowed[idx] = False
            if bool(allowed.any()):
                scores[r, idx] = float("-inf")
                self.blocked[r] += 1
        return scores


# --- numbers the dialogue states -----------------------------------------------------------------

_DIGIT_RUN = re.compile(r"\d+(?:\.\d+)?")


def dialogue_numbers(dialogue_text: str) -> frozenset[str]:
    """Every number the dialogue states, spoken numbers included ("fifty-two" -> "52"): digit runs, and
    decimals whole ("98.2") as well as their parts, so a note may write 98.2 only if the visit said it."""
    from inference.spoken_numbers import normalize_spoken_numbers

    runs: set[str] = set()
    for text in (dialogue_text, normalize_spoken_numbers(dialogue_text)):
        for value in _DIGIT_RUN.findall(text):
            runs.add(value)
            runs.update(value.split("."))
        runs |= stated_vitals(text)  # "blood pressure=120": what it states as which vital (NoteNumbers)
    return frozenset(runs)


def is_stated_number(text: str) -> bool:
    """True for what `dialogue_numbers` gives: a run of digits ("98"), a decimal said whole ("98.2"), or a
    vital's stated value ("temperature=98.2")."""
    name, tagged, value = text.rpartition("=")
    if tagged and name not in VITAL_NAMES:
        return False
    whole, point, decimals = value.partition(".")
    return whole.isdigit() and (not point or decimals.isdigit())


class GroundedNumbers(LogitsProcessor):
    """A note may only write numbers the dialogue states: each run of digits must be one of them.

    A number in a note that the visit never states (a vital sign, a dose) is worse than no number.
    Digits are single tokens for the default model, so the mask is exact: a digit may start or extend
    a run only if the run stays a prefix of a stated number, and the run may end only where it is a
    whole stated number ("120/80" needs 120 and 80 in the dialogue; "38.4" needs 38 and 4). Tokens that
    carry digits among other characters are treated alike by their digit runs. A step where the rule
    would leave no token (the grammar forcing one) is left alone.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, allowed: list[frozenset[str]]) -> None:
        self.tokenizer = tokenizer
        self.texts = token_texts(tokenizer, vocab_size)
        self.allowed = allowed
        self.rows = rows = len(allowed)
        self._numbers = [NoteNumbers(row) for row in allowed]
        self._prompt_len: int | None = None
        self._digit_ids = [i for i, t in enumerate(self.texts) if any(c.isdigit() for c in t)]
        self._foreign: torch.Tensor | None = None
        self.blocked = [0] * rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self._prompt_len is None:
            self._prompt_len = input_ids.shape[1]
        else:
            last = input_ids[:, -1].tolist()
            for r in range(self.rows):
                self._numbers[r].feed(self.texts[last[r]] if last[r] < len(self.texts) else "")
        if self._foreign is None:
            self._foreign = torch.tensor(
                foreign_ids(self.tokenizer, len(self.texts)), dtype=torch.long, device=scores.device
            )
        for r, numbers in enumerate(self._numbers):
            _mask_ids(scores, r, self._foreign)
            if grounded_mask(scores, r, numbers.run, numbers.now, numbers.now_prefixes, self.texts, self._digit_ids):
                self.blocked[r] += 1
        return scores


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet (one printable character per byte), inverted: character -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return {c: b for b, c in enumerate(chars)}


# Lead bytes of the UTF-8 characters an English note is written in: Latin-1 and Latin Extended-A (° ± µ é),
# Greek (α, μg); 0xE2 only for general punctuation (’ “ ” • …), letterlike (™ ℃), arrows and math (≤ ≥ −).
_NOTE_LEADS = frozenset({0xC2, 0xC3, 0xC4, 0xC5, 0xCE, 0xCF})
_E2_SECOND = frozenset({0x80, 0x81, 0x84, 0x86, 0x88, 0x89})


def _foreign_bytes(data: bytes) -> bool:
    for i, byte in enumerate(data):
        if byte < 0xC0 or byte in _NOTE_LEADS:
            continue  # ASCII, a continuation byte, or the lead of a note character
        if byte == 0xE2 and (i + 1 == len(data) or data[i + 1] in _E2_SECOND):
            continue
        return True
    return False


def foreign_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    """Token ids that write (or start) a character no English note uses: halfwidth katakana, CJK,
    Cyrillic, box drawing, emoji. Judged on the token's bytes, since a byte-level tokenizer also spells
    such characters byte by byte ("ﾎ" is three tokens). Cached per tokenizer, as `token_texts`.

    None of these occurs in ACI-Bench's or MTS-Dialog's notes or dialogues (test). A small model kept from
    the number it wanted ("Temperature: " when the visit said no temperature) otherwise reaches for them
    ("Temperature: ﾎ/mmHg ﾎ/mmHg").
    """
    cache_key = (id(tokenizer), vocab_size)
    with _cache_lock:
        if cache_key not in _foreign_cache:
            _foreign_cache[cache_key] = _foreign_ids(tokenizer, vocab_size)
        return _foreign_cache[cache_key]


_foreign_cache: dict[tuple[int, int], list[int]] = {}


def _foreign_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    convert = getattr(tokenizer, "convert_ids_to_tokens", None)
    if convert is None:
        return []  # not a Hugging Face tokenizer: no byte-level pieces to judge
    decoder = _byte_decoder()
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    pieces = convert(list(range(min(vocab_size, len(tokenizer)))))
    found = []
    for i, piece in enumerate(pieces):
        if i in special or piece is None or not all(c in decoder for c in piece):
            continue  # special and added tokens are not byte-level text
        if _foreign_bytes(bytes(decoder[c] for c in piece)):
            found.append(i)
    return found


def _mask_ids(scores: torch.Tensor, r: int, ids: torch.Tensor) -> None:
    """Mask `ids` in row r, unless that would leave the row no token."""
    keep = torch.isfinite(scores[r])
    keep[ids] = False
    if bool(keep.any()):
        scores[r, ids] = float("-inf")


def _prefixes(numbers: frozenset[str]) -> set[str]:
    return {n[:i] for n in numbers for i in range(1, len(n) + 1)}


# A number, a full stop, a space: the next token may not start a number. A decimal the dialogue never stated
# whole ("2.2") is refused, and a small model then writes it as "2. 2" or "98. 2"; no clinician note in
# ACI-Bench or MTS-Dialog has a digit, full stop, space, digit (test).
_SPLIT_DECIMAL = re.compile(r"\d\. +$")


class NoteNumbers:
    """One note's numbers as it is written: the trailing number run, and what that run may become.

    A number may be any the dialogue states (`allowed`), except right after a vital sign's name
    ("Temperature: ", "BP 120/"): there only a value the dialogue states for that vital and that it can
    take (inference.vitals; `allowed` carries them as "temperature=98.2"), so a small model cannot fill a
    vitals template with the visit's other numbers ("Temperature: 2", "Blood pressure: 58"); and
    none right after a number's full stop and a space (`_SPLIT_DECIMAL`: "98. 2").
    Shared by GroundedNumbers and BatchGroundedNumbers (vLLM).
    """

    __slots__ = ("allowed", "prefixes", "vitals", "run", "tail", "now", "now_prefixes")

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = frozenset(n for n in allowed if "=" not in n)
        self.prefixes = _prefixes(self.allowed)
        self.vitals = vital_values(allowed)  # "blood pressure=120": dialogue_numbers' vital values, by name
        self.run = ""
        self.tail = ""  # the last characters written, for the context of the next number
        self.now, self.now_prefixes = self.allowed, self.prefixes

    def feed(self, text: str) -> None:
        """After a token: a number run in progress keeps the context it started in; otherwise the next
        token may start one, in the context of the text so far."""
        self.run = extend_run(self.run, text)
        self.tail = (self.tail + text)[-64:]
        if not self.run:
            self._context()

    def _context(self) -> None:
        if _SPLIT_DECIMAL.search(self.tail):
            self.now, self.now_prefixes = frozenset(), set()
            return
        vital = vital_before(self.tail)
        if vital is None:
            self.now, self.now_prefixes = self.allowed, self.prefixes
        else:
            said = self.vitals.get(stated_name(vital), frozenset())
            self.now = frozenset(n for n in said if fits(vital, float(n)))
            self.now_prefixes = _prefixes(self.now)


def _step_run(run: str, ch: str) -> tuple[str, str | None]:
    """One character on a note's trailing number: (new run, the value it just ended or None).

    A run is digits with at most one decimal point ("38", "38.", "38.4"); a point is pending until a
    digit follows, and a run that ends on one was a whole number followed by a full stop ("38." -> 38).
    """
    if ch.isdigit():
        return run + ch, None
    if ch == "." and run and "." not in run:
        return run + ".", None
    return "", (run.rstrip(".") or None)


def extend_run(run: str, text: str) -> str:
    """The number a note ends with after it writes `text` ("" once it has ended)."""
    for ch in text:
        run, _ = _step_run(run, ch)
    return run


def _run_ok(run: str, text: str, allowed: frozenset[str], prefixes: set[str]) -> bool:
    """Whether appending token `text` to the current run keeps every number grounded: each digit keeps
    the run a prefix of a stated number, and a number may only end where it is a whole stated one."""
    for ch in text:
        run, ended = _step_run(run, ch)
        if ended is not None and ended not in allowed:
            return False  # a run may not end before it is a whole stated number
        if run and run[-1].isdigit() and run not in prefixes:
            return False
        if run.endswith(".") and run[:-1] not in allowed and run not in prefixes:
            return False  # "38." needs 38 said (a full stop) or a stated 38.x to come
    return True


_dot_cache: dict[int, list[int]] = {}


def _dot_ids(texts: list[str]) -> list[int]:
    """Tokens without a digit that start with a point: after a number they may open its decimals."""
    key = id(texts)
    if key not in _dot_cache:
        _dot_cache[key] = [i for i, t in enumerate(texts) if t[:1] == "." and not any(c.isdigit() for c in t)]
    return _dot_cache[key]


def grounded_mask(
    scores: torch.Tensor,
    r: int,
    run: str,
    allowed: frozenset[str],
    prefixes: set[str],
    texts: list[str],
    digit_ids: list[int],
) -> bool:
    """Mask row r of `scores` (in place) to tokens that keep its numbers grounded; True if it masked any.

    GroundedNumbers' rule, shared with BatchGroundedNumbers (the vLLM processor's). A step where the
    rule would leave no token (the grammar forcing one) is left alone.
    """
    # Only tokens with a digit, or a point after a number, can change what the run means; the rest end
    # it, which is fine exactly when the run is a whole stated number.
    candidates = digit_ids if not run else digit_ids + _dot_ids(texts)
    if run and run.rstrip(".") not in allowed:
        # an unfinished prefix: only tokens that continue it may follow
        banned = torch.ones(scores.shape[1], dtype=torch.bool, device=scores.device)
        keep = [i for i in candidates if texts[i][:1] in "0123456789." and _run_ok(run, texts[i], allowed, prefixes)]
        banned[keep] = False
    else:
        banned = torch.zeros(scores.shape[1], dtype=torch.bool, device=scores.device)
        banned[[i for i in candidates if not _run_ok(run, texts[i], allowed, prefixes)]] = True
    finite = torch.isfinite(scores[r])
    keep_mask = finite & ~banned
    if bool(keep_mask.any()) and not bool(torch.equal(keep_mask, finite)):
        scores[r] = scores[r].masked_fill(~keep_mask, float("-inf"))
        return True
    return False


class _NumbersRequest(NoteNumbers):
    __slots__ = ("output_ids", "seen")

    def __init__(self, allowed: frozenset[str], output_ids: list[int]) -> None:
        super().__init__(allowed)
        self.output_ids = output_ids
        self.seen = 0


class BatchGroundedNumbers:
    """GroundedNumbers' rule over a batch whose requests come and go (vLLM's persistent batch).

    `requests` maps a batch row to the numbers its dialogue states and the engine's live list of its
    generated ids (-1: a token still in flight); rows without an entry are untouched.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.requests: dict[int, _NumbersRequest] = {}
        self._texts: list[str] = []
        self._digit_ids: list[int] = []
        self._foreign = torch.empty(0, dtype=torch.long)
        self.blocked = 0

    @staticmethod
    def request(numbers: Any, output_ids: list[int]) -> _NumbersRequest:
        return _NumbersRequest(frozenset(str(n) for n in numbers), output_ids)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.requests:
            return logits
        width = logits.shape[1]
        if len(self._texts) != width:
            self._texts = token_texts(self.tokenizer, width)
            self._digit_ids = [i for i, t in enumerate(self._texts) if any(c.isdigit() for c in t)]
            self._foreign = torch.tensor(foreign_ids(self.tokenizer, width), dtype=torch.long, device=logits.device)
        for index, request in self.requests.items():
            _mask_ids(logits, index, self._foreign)
            ids = request.output_ids
            while request.seen < len(ids) and ids[request.seen] >= 0:
                token = ids[request.seen]
                request.feed(self._texts[token] if token < width else "")
                request.seen += 1
            if grounded_mask(
                logits, index, request.run, request.now, request.now_prefixes, self._texts, self._digit_ids
            ):
                self.blocked += 1
        return logits
