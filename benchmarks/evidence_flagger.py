"""Precision and recall of the review page's "possibly unsupported" flag on ACI-Bench clinician notes.

    .venv/bin/python benchmarks/evidence_flagger.py [--split valid] [--thresholds 0.5]

Negatives: every sentence of the clinicians' reference notes (S/O/A/P) of the split. They were
written from the visit, so nearly all are supported and a flag on one is a false positive.
Positives: a copy of each clinician sentence with one invented fact added, in rotation: a number
changed or added, a drug the dialogue never names ("..., and was started on ranolazine"), or a
diagnosis it never names ("..., consistent with sarcoidosis"); half the diagnoses are outside the
judges' lexicon, so they test the rule, not the word list. A flag on one is a true positive.

Rules compared: the old lexical rule (as it was before issue 19), the new rule without the
embedding model, and the new rule with it (what the web app runs). Also times the flagger on
the 73-turn visit D2N068 as the web request does: cold (the visit's turns not yet embedded)
and warm (cached), with torch on 2 threads. Tune `--thresholds` on `--split train`, report on valid.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from clinic.notes import evidence
from clinic.notes.evidence import content_tokens, note_evidence, split_sentences
from clinic.notes.spoken_numbers import normalize_spoken_numbers
from training.evaluation.datasets import load_examples

DRUGS = ("ranolazine", "tacrolimus", "lisinopril", "phenelzine")  # training/rewards/perturb.py's invented drugs
DIAGNOSES = ("sarcoidosis", "pancreatitis", "Lyme disease", "pulmonary embolism", "myasthenia gravis", "gout")
KINDS = ("number", "drug", "diagnosis")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def old_rule_flags(sentences: list[str], turns: list[dict[str, Any]]) -> list[bool]:
    """The lexical rule before issue 19: no number normalisation, no lexicons, no embeddings."""
    turn_tokens = [content_tokens(str(t["text"])) for t in turns]
    said = {t for tokens in turn_tokens for t in tokens if t[0].isdigit()}
    flags = []
    for sentence in sentences:
        tokens = content_tokens(sentence)
        numbers = {t for t in tokens if t[0].isdigit()}
        need = min(2, len(tokens))
        found = any(len(tokens & other) >= need or (tokens & other & numbers) for other in turn_tokens)
        flags.append(bool(tokens) and not (found and numbers <= said))
    return flags


def new_rule_flags(
    semantic: evidence.SemanticSupport | None,
) -> Callable[[list[str], list[dict[str, Any]]], list[bool]]:
    def flags(sentences: list[str], turns: list[dict[str, Any]]) -> list[bool]:
        ev = note_evidence({"x": "\n".join(sentences)}, turns, semantic=semantic)["x"]
        assert len(ev.sentences) == len(sentences), "a benchmark sentence was split again"
        return [s.supported is False for s in ev.sentences]

    return flags


def perturb(sentence: str, kind: str, said: str, rng: random.Random) -> str:
    """The sentence with one invented fact that the dialogue (`said`, normalised, lowercase) lacks."""
    stem = sentence.rstrip(" .;!?")
    if kind == "number":
        fresh = next(n for n in ("17", "23", "37", "43", "67", "83", "97", "113") if n not in said)
        match = _NUMBER.search(sentence)
        if match:
            return sentence[: match.start()] + fresh + sentence[match.end() :]
        return f"{stem}, for {fresh} weeks."
    if kind == "drug":
        drug = rng.choice([d for d in DRUGS if d not in said] or list(DRUGS))
        return f"{stem}, and was started on {drug}."
    dx = rng.choice([d for d in DIAGNOSES if d.lower() not in said] or list(DIAGNOSES))
    return f"{stem}, consistent with {dx}."


def build(split: str, seed: int = 0) -> list[tuple[dict[str, Any], list[str], list[tuple[str, str]]]]:
    rng = random.Random(seed)
    cases = []
    for example in load_examples(f"aci-bench:{split}"):
        said = normalize_spoken_numbers(" ".join(t["text"] for t in example["dialogue"])).lower()
        sentences = [
            s
            for text in example["reference"].values()
            for s in split_sentences(text)
            if content_tokens(normalize_spoken_numbers(evidence._ENUMERATOR.sub("", s)))
        ]
        perturbed = []
        for i, s in enumerate(sentences):
            kind = KINDS[i % len(KINDS)]
            perturbed.append((kind, perturb(s, kind, said, rng)))
        cases.append((example, sentences, perturbed))
    return cases


def score(name: str, rule: Callable[[list[str], list[dict[str, Any]]], list[bool]], cases: list[Any]) -> dict[str, Any]:
    fp = negatives = tp = positives = 0
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for example, sentences, perturbed in cases:
        fp += sum(rule(sentences, example["dialogue"]))
        negatives += len(sentences)
        flags = rule([p for _, p in perturbed], example["dialogue"])
        for (kind, _), flag in zip(perturbed, flags, strict=True):
            totals[kind] += 1
            hits[kind] += flag
        tp += sum(flags)
        positives += len(perturbed)
    return {
        "rule": name,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(positives, 1),
        "flag_rate_clinician": fp / max(negatives, 1),
        "by_kind": {k: hits[k] / max(totals[k], 1) for k in KINDS},
        "negatives": negatives,
        "positives": positives,
    }


def time_long_visit(semantic: evidence.SemanticSupport, cases: list[Any], key: str) -> dict[str, float]:
    """Seconds for the whole note's evidence on visit `key` (else the longest): cold, warm, after one edit."""
    examples = [c[0] for c in cases]
    example = next((e for e in examples if e["key"].endswith(key)), max(examples, key=lambda e: len(e["dialogue"])))
    turns, note = example["dialogue"], example["reference"]
    semantic._turns.clear()
    semantic._sentences.clear()
    start = time.perf_counter()
    note_evidence(note, turns, semantic=semantic)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(5):
        start = time.perf_counter()
        note_evidence(note, turns, semantic=semantic)
        warm.append(time.perf_counter() - start)
    edited = {**note, "A": note["A"] + " Follow up in 2 weeks."}
    start = time.perf_counter()
    note_evidence(edited, turns, semantic=semantic)
    one_new = time.perf_counter() - start
    return {"turns": len(turns), "cold_s": cold, "warm_s": statistics.median(warm), "one_new_sentence_s": one_new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="valid", choices=["valid", "train"])
    parser.add_argument(
        "--thresholds",
        default=str(evidence.SEMANTIC_THRESHOLD),
        help="comma-separated cosine thresholds to compare (embeddings are computed once)",
    )
    parser.add_argument("--time-visit", default="D2N068", help="encounter id of the visit to time (73 turns)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    cases = build(args.split)
    start = time.perf_counter()
    semantic = evidence.SemanticSupport(sentences=1_000_000)
    load_s = time.perf_counter() - start
    rows = [
        score("old lexical rule", old_rule_flags, cases),
        score("new rule, lexical only", new_rule_flags(None), cases),
    ]
    default = evidence.SEMANTIC_THRESHOLD
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        evidence.SEMANTIC_THRESHOLD = threshold
        rows.append(score(f"new rule + embeddings (cos >= {threshold})", new_rule_flags(semantic), cases))
    evidence.SEMANTIC_THRESHOLD = default
    n = rows[0]
    print(f"aci-bench:{args.split}: {len(cases)} notes, {n['negatives']} clinician sentences, "
          f"{n['positives']} perturbed sentences")  # fmt: skip
    print("| rule | precision | recall | flags on clinician sentences | recall: number / drug / diagnosis |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        kinds = " / ".join(f"{r['by_kind'][k]:.0%}" for k in KINDS)
        print(f"| {r['rule']} | {r['precision']:.1%} | {r['recall']:.1%} | {r['flag_rate_clinician']:.1%} | {kinds} |")
    timing = time_long_visit(semantic, cases, args.time_visit)
    print(f"model load {load_s:.1f} s; visit {args.time_visit} ({timing['turns']} turns, whole note): cold "
          f"{timing['cold_s']:.2f} s, warm {timing['warm_s']:.3f} s, after one edited sentence "
          f"{timing['one_new_sentence_s']:.3f} s (torch threads: 2)")  # fmt: skip


if __name__ == "__main__":
    main()
