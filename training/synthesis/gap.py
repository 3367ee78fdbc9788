"""How far synthetic visits are from real ones: shape statistics of a set of Example dicts.

`corpus_stats(examples)` measures what `benchmarks/synthesis_gap.py` prints side by side for
synthetic data and ACI-Bench train: dialogue length (words, and tokens when a tokenizer is given),
turns per visit, vocabulary (types per 20,000 words, the share of a reference vocabulary covered,
fillers per 100 words), note section lengths, the share of notes that state vital signs and the
share of turns without a speaker label.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*|\d+(?:\.\d+)?")
FILLERS = re.compile(r"\b(?:um+|uh+|hmm+|mm-hmm|uh-huh|you know|i mean|i guess|kind of|sort of)\b")
# A vital sign named and then given a value or a verdict in the same sentence ("Blood pressure: 128/72",
# "vital signs look good"); "high blood pressure" as a history item or a drug for it does not count.
VITALS = re.compile(
    r"\b(?:blood pressure|bp|heart rate|pulse rate|temperature|oxygen saturation|o2 sat\w*|spo2|"
    r"respiratory rate|vital signs|vitals)\b[^.\n]{0,40}?(?:\d|normal|elevated|good|great|stable|within|fine)",
    re.I,
)
SPEAKER_ROLES = ("doctor", "patient", "parent")
TTR_WINDOW = 20_000


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def dialogue_text(example: dict[str, Any]) -> str:
    return "\n".join(f"[{turn['speaker']}] {turn['text']}" for turn in example["dialogue"])


def states_vitals(note: dict[str, Any] | str) -> bool:
    text = note if isinstance(note, str) else "\n".join(str(v or "") for v in note.values())
    return bool(VITALS.search(text))


def quantiles(values: Sequence[float], qs: Sequence[float] = (0.1, 0.5, 0.9)) -> list[float]:
    ordered = sorted(values)
    if not ordered:
        return [0.0 for _ in qs]
    return [ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))] for q in qs]


def corpus_stats(
    examples: Iterable[dict[str, Any]],
    *,
    reference_vocab: Counter[str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> dict[str, Any]:
    """Shape statistics of `examples`; `reference_vocab` (word counts, e.g. ACI-Bench train's from
    `vocabulary()`) adds the share of its words (types, and running words) that `examples` use too."""
    examples = list(examples)
    visit_words, turns, tokens, fillers = [], [], [], 0
    stream: list[str] = []
    unlabeled = unlabeled_visits = 0
    sections: dict[str, list[int]] = {k: [] for k in "SOAP"}
    vitals = 0
    for example in examples:
        text = " ".join(turn["text"] for turn in example["dialogue"])
        said = words(text)
        visit_words.append(len(said))
        stream += said
        fillers += len(FILLERS.findall(text.lower()))
        turns.append(len(example["dialogue"]))
        if count_tokens is not None:
            tokens.append(count_tokens(dialogue_text(example)))
        missing = sum(turn["speaker"] not in SPEAKER_ROLES for turn in example["dialogue"])
        unlabeled += missing
        unlabeled_visits += bool(missing)
        reference = example["reference"]
        for key in "SOAP":
            sections[key].append(len(reference.get(key) or ""))
        vitals += states_vitals(reference)
    n = max(len(examples), 1)
    vocab = set(stream)
    window = stream[:TTR_WINDOW]
    stats: dict[str, Any] = {
        "visits": len(examples),
        "words": quantiles(visit_words),
        "tokens": quantiles(tokens) if tokens else None,
        "turns": quantiles(turns),
        "types_per_20k": len(set(window)) if len(window) == TTR_WINDOW else None,
        "vocabulary": len(vocab),
        "fillers_per_100_words": round(100 * fillers / max(len(stream), 1), 2),
        "sections": {key: quantiles(values, (0.5, 0.9)) for key, values in sections.items()},
        "notes_with_vitals": round(vitals / n, 3),
        "unlabeled_turns": round(unlabeled / max(sum(turns), 1), 3),
        "visits_with_unlabeled_turns": round(unlabeled_visits / n, 3),
    }
    if reference_vocab:
        shared = vocab & set(reference_vocab)
        stats["reference_types_covered"] = round(len(shared) / len(reference_vocab), 3)
        total = sum(reference_vocab.values())
        stats["reference_words_covered"] = round(sum(reference_vocab[w] for w in shared) / total, 3)
    return stats


def vocabulary(examples: Iterable[dict[str, Any]]) -> Counter[str]:
    """Word counts over the dialogues of `examples`."""
    return Counter(w for example in examples for turn in example["dialogue"] for w in words(turn["text"]))
