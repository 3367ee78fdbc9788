"""ReferenceJudge: scores a section against a clinician's signed text, so edited notes become reward data.

score = 0.35 * ROUGE-L F1 + 0.35 * content-token F1 + 0.3 * agreement, where agreement is the
mean of number agreement and drug agreement (Jaccard of the sets; 1 when both sides have none).
Numbers and drugs get their own term because a wrong dose or value is a clinical error that
token overlap barely notices. Empty predicted text scores 0; an empty/absent reference makes the
section unscoreable: the judge returns 1 if the prediction is empty too, else 0.5 (neutral).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from . import text as tx
from .base import Verdict

__all__ = ["ReferenceJudge", "rouge_l_f1", "token_f1"]


def token_f1(predicted: list[str], reference: list[str]) -> float:
    """Bag-of-tokens F1 (SQuAD style)."""
    if not predicted or not reference:
        return 0.0
    common = sum((Counter(predicted) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l_f1(predicted: list[str], reference: list[str]) -> float:
    """ROUGE-L F1 on token lists (longest common subsequence)."""
    if not predicted or not reference:
        return 0.0
    lcs = _lcs(predicted, reference)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(predicted), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def _jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class ReferenceJudge:
    """Deterministic section judge against a reference text (clinician-signed or public dataset note)."""

    name = "reference"

    def __init__(self, *, max_tokens: int = 600) -> None:
        # LCS is quadratic; long aci-bench sections are cut so one judgement stays under ~50 ms.
        self.max_tokens = max_tokens

    def judge(self, dialogue: Any, key: str, predicted: str, reference: str | None) -> Verdict:
        ref = (reference or "").strip()
        pred = (predicted or "").strip()
        if not ref:
            score = 1.0 if not pred else 0.5
            return Verdict(score, f"no reference text for {key}; neutral score", details={"scored": False})
        pred_tokens = [tx.stem(t) for t in tx.tokens(pred)][: self.max_tokens]
        ref_tokens = [tx.stem(t) for t in tx.tokens(ref)][: self.max_tokens]
        if len(tx.content_stems(pred)) < 2:
            return Verdict(0.0, f"{key} is empty or near-empty", details={"scored": True})
        rouge = rouge_l_f1(pred_tokens, ref_tokens)
        f1 = token_f1(
            [t for t in pred_tokens if t not in tx.STOPWORDS], [t for t in ref_tokens if t not in tx.STOPWORDS]
        )
        num_agree = _jaccard(tx.numbers(pred), tx.numbers(ref))
        drug_agree = _jaccard(tx.drugs(pred), tx.drugs(ref))
        agreement = (num_agree + drug_agree) / 2
        score = max(0.0, min(1.0, 0.35 * rouge + 0.35 * f1 + 0.3 * agreement))
        reason = f"ROUGE-L {rouge:.2f}, token F1 {f1:.2f}, numbers {num_agree:.2f}, drugs {drug_agree:.2f}"
        details = {"scored": True, "rouge_l": rouge, "token_f1": f1, "numbers": num_agree, "drugs": drug_agree}
        return Verdict(round(score, 6), reason, details=details)
