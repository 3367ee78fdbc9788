"""Which dialogue turns support each sentence of a note: a simple, explainable lexical overlap.

The review page lets a clinician hover or select a note sentence and see the dialogue turns it
came from, and marks sentences with no support as "possibly unsupported". The method is
deliberately simple, so a clinician can predict it:

1. Split each section into sentences (at ``. ! ? ;`` followed by a space, and at line breaks).
2. Reduce each sentence and each turn to *content tokens*: lowercased words of 3+ letters that
   are not stop words, with a crude plural/-ing/-ed strip, plus numbers kept whole ("140/90", "38.5").
3. A turn supports a sentence when they share a number, or at least two content tokens, or
   (for a sentence with only one or two content tokens) all of them. The best three turns by
   shared-token count are kept.
4. A sentence is *unsupported* when no turn supports it, or when it states a number that appears
   nowhere in the dialogue (a likely hallucinated vital or dose). A sentence with no content
   tokens at all ("None.") is neutral.

No Django and no model here: it is a pure function of the note text and the turns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(r"\d+(?:[./:]\d+)*|[a-z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"^\d")
_STOP_WORDS = """the and for with that this have has had was were are is been being not but you your yours
    she her hers his him
    they them their our ours its it's i'm you're don't doesn't didn't can't won't from into onto about over under
    then than there here what when where which who whom why how all any some each few more most other such only own
    same very can will just should could would may might must also too does did doing done patient patients doctor
    reports report reported states stated says said denies denied today yesterday well okay yes no any per
    notes note day days week weeks none nil"""
_STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class Sentence:
    text: str
    turns: tuple[int, ...] = ()
    supported: bool | None = None  # None: nothing checkable in it

    @property
    def turn_attr(self) -> str:
        return " ".join(str(i) for i in self.turns)


@dataclass
class SectionEvidence:
    key: str
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def unsupported(self) -> int:
        return sum(1 for s in self.sentences if s.supported is False)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_tokens(text: str) -> set[str]:
    """Lowercased content words (stemmed) and numbers of `text`."""
    tokens = set()
    for raw in _TOKEN.findall(text.lower()):
        if _NUMBER.match(raw):
            tokens.add(raw)
        elif len(raw) >= 3 and raw not in _STOP:
            tokens.add(_stem(raw))
    return tokens


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text or "") if part and part.strip()]


def _support(sentence: str, turn_tokens: list[set[str]], dialogue_numbers: set[str]) -> Sentence:
    tokens = content_tokens(sentence)
    if not tokens:
        return Sentence(sentence)
    numbers = {t for t in tokens if _NUMBER.match(t)}
    need = min(2, len(tokens))
    scored = []
    for index, other in enumerate(turn_tokens):
        shared = tokens & other
        if len(shared) >= need or (shared & numbers):
            scored.append((len(shared), -index, index))
    best = tuple(sorted(index for _, _, index in sorted(scored, reverse=True)[:3]))
    supported = bool(best) and numbers <= dialogue_numbers
    return Sentence(sentence, best, supported)


def note_evidence(sections: dict[str, str], turns: list[dict[str, Any]]) -> dict[str, SectionEvidence]:
    """Per section, each sentence with the indexes of the turns that support it."""
    turn_tokens = [content_tokens(str(turn.get("text", ""))) for turn in turns]
    dialogue_numbers = {t for tokens in turn_tokens for t in tokens if _NUMBER.match(t)}
    return {
        key: SectionEvidence(key, [_support(s, turn_tokens, dialogue_numbers) for s in split_sentences(text)])
        for key, text in sections.items()
    }
