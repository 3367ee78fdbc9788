"""Overlap with a reference note: ROUGE (Google's `rouge-score`, as the ACI-Bench paper) and concept F1.

Shared by the evaluation's standard metrics (training.evaluation.metrics) and the full reward's
content score (`section_overlap`, used by `GroundedReferenceJudge`), so the number GRPO raises is
the number the report shows.

**Concepts** of a text (`concepts`) are a set of strings:
``drug:<generic>`` (drug lexicon, class suffixes, brand names), ``dx:<stem>`` (diagnosis lexicon),
``term:<stem>`` (symptoms, findings, tests, procedures and body sites from `MEDICAL_TERMS`) and
``value:<number><unit>`` for clinical values written with a unit (``20 mg``, ``96 %``, ``5 days``).
Concept F1 is the F1 of the two sets; deterministic, order-free, wording-tolerant.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from rouge_score import rouge_scorer, tokenizers
from rouge_score import tokenize as rouge_tokenize

from . import text as tx
from .grounding import note_drugs
from .numbers_norm import clinical_values

__all__ = ["MEDICAL_TERMS", "concept_f1", "concepts", "rouge", "section_overlap"]


class _CachedPorter:
    """nltk's Porter stemmer behind a cache: real notes repeat words, and stemming is ROUGE's hot loop."""

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stem = lru_cache(maxsize=65536)(porter.PorterStemmer().stem)

    def stem(self, word: str) -> str:
        return self._stem(word)


class _Tokenizer(tokenizers.Tokenizer):
    """rouge-score's default tokenizer with use_stemmer=True, same tokens, cached stems."""

    def __init__(self) -> None:
        self._stemmer = _CachedPorter()

    def tokenize(self, text: str) -> list[str]:
        return rouge_tokenize.tokenize(text, self._stemmer)


def _lcs_table(ref: list[str], can: list[str]) -> list[list[int]]:
    """rouge-score's LCS table, the same numbers, about twice as fast (locals, no 2-D indexing).

    ROUGE-Lsum builds one table per (reference sentence, note sentence) pair; on clinician-length
    notes that is ~75 % of scoring time. Installed over `rouge_scorer._lcs_table` below; a test
    checks it against the original on random token lists.
    """
    prev = [0] * (len(can) + 1)
    table = [prev]
    for token in ref:
        row, left = [0], 0
        for j, other in enumerate(can):
            if token == other:
                left = prev[j] + 1
            elif prev[j + 1] > left:
                left = prev[j + 1]
            row.append(left)
        table.append(row)
        prev = row
    return table


ROUGE_LCS_TABLE = rouge_scorer._lcs_table  # the library's own, kept for the equivalence test
rouge_scorer._lcs_table = _lcs_table

_TOKENIZER = _Tokenizer()
_SCORERS: dict[tuple[str, ...], rouge_scorer.RougeScorer] = {}


def rouge(
    predicted: str, reference: str, types: tuple[str, ...] = ("rouge1", "rouge2", "rougeLsum")
) -> dict[str, float]:
    """ROUGE F1 x 100 of `predicted` against `reference`; Lsum treats each line as a sentence.

    >>> rouge("Cough for 5 days.", "Cough for 5 days.")["rouge1"]
    100.0
    """
    if not predicted.strip() or not reference.strip():
        return dict.fromkeys(types, 0.0)
    if types not in _SCORERS:
        _SCORERS[types] = rouge_scorer.RougeScorer(list(types), tokenizer=_TOKENIZER)
    scores = _SCORERS[types].score(reference, predicted)  # rouge-score takes (target, prediction)
    return {name: round(100 * s.fmeasure, 4) for name, s in scores.items()}


_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+|\n+")


@lru_cache(maxsize=8192)
def _sentence_tokens(text: str) -> tuple[tuple[str, ...], ...]:
    """rouge-score's stemmed tokens, sentence by sentence (lines and '. ' ends)."""
    return tuple(tuple(_TOKENIZER.tokenize(s)) for s in _SENTENCE_END.split(text) if s.strip())


def _ngram_f1(predicted: tuple[tuple[str, ...], ...], reference: tuple[tuple[str, ...], ...], n: int) -> float:
    """ROUGE-n F1 with n-grams counted inside sentences only, so their order does not matter.

    Identical to rouge-score's ROUGE-1; for n > 1 it leaves out the n-grams that span two sentences.
    """

    def grams(sentences: tuple[tuple[str, ...], ...]) -> Counter[tuple[str, ...]]:
        return Counter(g for s in sentences for g in zip(*(s[i:] for i in range(n)), strict=False))

    pred, ref = grams(predicted), grams(reference)
    common = sum((pred & ref).values())
    if not common:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


_TERMS = """
    pain ache cough fever chill sweat fatigue tired weakness dizziness lightheaded syncope headache nausea vomiting
    diarrhea constipation bloating cramp heartburn dysphagia appetite weight dyspnea breath wheeze wheezing sputum
    phlegm congestion sneeze rash itch swelling edema numbness tingling bruise bleeding palpitation chest abdomen
    abdominal back neck shoulder elbow wrist hand finger hip knee ankle foot toe spine lumbar cervical thoracic
    head eye ear nose throat mouth tongue tooth skin joint muscle bone tendon ligament lung heart kidney liver
    bladder bowel stomach prostate breast uterus ovary thyroid lymph node nodes tenderness tender erythema
    effusion crackles rales rhonchi murmur gallop bruit jvd distention pulse pulses reflex reflexes strength
    sensation gait range motion flexion extension swollen warmth deformity laceration wound abrasion ulcer
    lesion mass nodule cyst infection inflammation allergy allergies smoking alcohol tobacco exercise diet
    sleep stress mood anxiety depression insomnia pressure glucose sugar cholesterol hemoglobin a1c creatinine
    potassium sodium platelet wbc urinalysis culture biopsy xray mri ct ultrasound echocardiogram ekg ecg
    electrocardiogram colonoscopy endoscopy mammogram scan imaging labs blood urine stool referral physical
    therapy injection surgery procedure vaccine vaccination steroid antibiotic inhaler brace splint cast sling
    crutches ice elevation rest compression fracture sprain strain tear arthroscopy replacement stent
    catheterization dialysis oxygen saturation temperature tachycardia bradycardia ejection fraction
    regurgitation stenosis hernia gallbladder appendix colon polyp neuropathy radiculopathy sciatica
    tendonitis tendinitis bursitis carpal tunnel meniscus rotator cuff
"""
MEDICAL_TERMS = frozenset(tx.stem(w) for w in _TERMS.split())
_VALUE_UNIT = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(mg|mcg|g|kg|lb|lbs|pounds|ml|l|%|percent|mmhg|bpm|cm|mm|°f?|°c?|units?|iu|"
    r"days?|weeks?|months?|years?|hours?|minutes?|times?)(?![a-z])",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def concepts(text: str) -> frozenset[str]:
    """The concept set of `text` (see the module docstring).

    >>> sorted(concepts("Lasix 80 mg daily for congestive heart failure; 1+ pitting edema."))
    ['drug:furosemide', 'term:edema', 'term:heart', 'value:80mg']
    """
    found = {f"drug:{d}" for d in note_drugs(text)}
    found |= {f"dx:{d}" for d in tx.diagnoses(text)}
    found |= {f"term:{s}" for s in (tx.stem(w) for w in tx.tokens(text)) if s in MEDICAL_TERMS}
    values = set(clinical_values(text))
    for number, unit in _VALUE_UNIT.findall(tx.normalise(text)):
        if float(number) in values:
            unit = {"lbs": "lb", "pounds": "lb", "percent": "%", "iu": "units", "unit": "units"}.get(unit, unit)
            found.add(f"value:{float(number):g}{tx.stem(unit.lower())}")
    return frozenset(found)


def concept_f1(predicted: str, reference: str) -> float | None:
    """F1 of the concept sets; None when neither text has a concept (nothing to compare)."""
    pred, ref = concepts(predicted), concepts(reference)
    if not pred and not ref:
        return None
    common = len(pred & ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def section_overlap(predicted: str, reference: str) -> dict[str, float]:
    """The full reward's content score of one section, in [0, 1], with its parts.

    score = 0.4 x ROUGE-1 + 0.3 x ROUGE-2 + 0.3 x concept F1 (1 when neither side has a concept).
    ROUGE-1 rewards covering the reference's words, ROUGE-2 their phrasing, concepts the clinical
    content a wrong word would miss. All three are bags, so reordering sentences costs (almost)
    nothing; ROUGE-Lsum would too but its LCS costs ~50 ms a section in pure Python, too slow for
    a reward called on every rollout.
    """
    pred, ref = _sentence_tokens(predicted), _sentence_tokens(reference)
    r1, r2 = _ngram_f1(pred, ref, 1), _ngram_f1(pred, ref, 2)
    f1 = concept_f1(predicted, reference)
    concept = 1.0 if f1 is None else f1
    return {"rouge1": r1, "rouge2": r2, "concepts": concept, "score": 0.4 * r1 + 0.3 * r2 + 0.3 * concept}
