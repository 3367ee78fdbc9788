"""The standard note metrics, per note and per model: pure functions, no model, no GPU.

Per note (`note_metrics`):

- **ROUGE-1/2/Lsum** F1 x 100 (Google's `rouge-score`, Porter stemming, as in the ACI-Bench paper):
  of the whole note (the sections joined with newlines; Lsum takes each line as a sentence) and of
  each section. Sections whose reference is None (MTS-Dialog's partial references) are left out of
  both the whole note and the section means. An invalid note scores 0.
- **Concept F1**: F1 of the concept sets of note and reference (drugs, diagnoses, medical terms,
  values with units; `training.rewards.overlap.concepts`).
- **Ungrounded content**: distinct clinical values, drugs and diagnoses of the note that the dialogue
  never states, after spoken numbers in the dialogue are digits (`training.rewards.grounding`, the
  rule the reward uses; dates, ages, enumerators, ordinals, scale denominators and names like
  COVID-19 are not values).
- **Length** in characters of the note's text (sections joined with newlines; the raw output when
  the note is invalid).
- **Runaway**: truncated (finish_reason "length", or the prediction says truncated) or a repetition
  loop (`repetition_loop`: a 10-word sequence 4+ times, or 20 %+ of the 10-word sequences repeats;
  the clinicians' ACI-Bench notes reach at most 2 and 5 %).
- **Validity**: the note parses as a SOAPNote (`inference.parsing.parse_note`, lenient).
- **Total**: the full reward (format + S + O + A + P, 0..5) with the grounded reference judge.

Per model (`summarise`): means with bootstrap 95 % intervals; ungrounded rates are pooled over valid
notes (ungrounded values / values) with a bootstrap over notes, the measure of issue 14.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from inference.schema import SECTION_KEYS
from training.rewards import text as tx
from training.rewards.grounding import GroundedReferenceJudge, ungrounded

from .stats import bootstrap_ci, bootstrap_ratio

__all__ = [
    "CLINICIANS",
    "note_metrics",
    "reference_predictions",
    "repetition_loop",
    "score_predictions",
    "summarise",
]

CLINICIANS = "clinicians' notes"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")
_JUDGE = GroundedReferenceJudge()


def repetition_loop(text: str, *, n: int = 10, max_repeats: int = 4, max_share: float = 0.2) -> bool:
    """Whether `text` loops: a word n-gram occurs `max_repeats`+ times, or `max_share` of n-grams are repeats.

    >>> repetition_loop("Follow up in 2 weeks. " * 8)
    True
    >>> repetition_loop("Cough for 5 days. No fever. Lungs clear. Rest and fluids.")
    False
    """
    words = tx.tokens(text)
    if len(words) < n + 1:
        return False
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    repeats = sum(count - 1 for count in grams.values())
    return max(grams.values()) >= max_repeats or repeats / (len(words) - n + 1) >= max_share


def _note(prediction: Mapping[str, Any]) -> tuple[dict[str, str] | None, str]:
    """(sections or None, raw text) from a prediction's `note` (dict or JSON/text) and `raw`."""
    from inference.parsing import parse_note

    note = prediction.get("note")
    raw = prediction.get("raw")
    if isinstance(note, Mapping):
        text = json.dumps(dict(note), ensure_ascii=False)
    elif isinstance(note, str):
        text = note
    else:
        text = raw if isinstance(raw, str) else ""
    parsed = parse_note(text) if text else None
    if parsed is not None and parsed.ok:
        return parsed.note.as_dict(), raw if isinstance(raw, str) else text
    return None, raw if isinstance(raw, str) else text


def note_metrics(example: Mapping[str, Any], prediction: Mapping[str, Any]) -> dict[str, Any]:
    """Every per-note metric of one prediction ({note, raw?, finish_reason?, truncated?, error?}).

    >>> ex = {"dialogue": [{"speaker": "doctor", "text": "cough for five days"}],
    ...       "reference": {"S": "Cough for 5 days.", "O": "", "A": "Bronchitis.", "P": "Rest."}}
    >>> m = note_metrics(ex, {"note": {"S": "Cough for 5 days.", "O": "SpO2 88%.", "A": "Bronchitis.", "P": "Rest."}})
    >>> m["valid"], m["ungrounded_values"], m["runaway"]
    (True, [88.0], False)
    """
    reference = example.get("reference") or {}
    keys = [k for k in SECTION_KEYS if reference.get(k) is not None]
    sections, raw = _note(prediction)
    finish = str(prediction.get("finish_reason") or "")
    truncated = finish == "length" or bool(prediction.get("truncated"))
    out: dict[str, Any] = {
        "key": str(example.get("key", "")),
        "valid": sections is not None,
        "error": prediction.get("error"),
        "truncated": truncated,
    }
    text = "\n".join(sections[k] for k in SECTION_KEYS) if sections else raw
    out["chars"] = len(text)
    out["loop"] = repetition_loop(text)
    out["runaway"] = truncated or out["loop"]
    from training.rewards.overlap import concept_f1, rouge

    if sections is None:
        out.update(dict.fromkeys(ROUGE_TYPES, 0.0), concept_f1=0.0, total=0.0)
        out["sections"] = {k: dict.fromkeys(ROUGE_TYPES, 0.0) for k in keys if str(reference[k]).strip()}
        return out
    whole_ref = "\n".join(str(reference[k]) for k in keys)
    whole_pred = "\n".join(sections[k] for k in keys)
    out.update(rouge(whole_pred, whole_ref))
    out["sections"] = {k: rouge(sections[k], str(reference[k])) for k in keys if str(reference[k]).strip()}
    out["concept_f1"] = concept_f1(whole_pred, whole_ref)
    found = ungrounded(text, example.get("dialogue"))
    out |= {
        "values": found.values,
        "drugs": found.drugs,
        "diagnoses": found.diagnoses,
        "ungrounded_values": found.ungrounded_values,
        "ungrounded_drugs": found.ungrounded_drugs,
        "ungrounded_diagnoses": found.ungrounded_diagnoses,
    }
    verdicts = {k: _JUDGE.judge(example.get("dialogue"), k, sections[k], reference.get(k)) for k in SECTION_KEYS}
    out["total"] = 1.0 + sum(v.score for v in verdicts.values())
    return out


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-model summary of `note_metrics` rows: {metric: {mean, low, high, n}} plus counts."""
    valid = [r for r in rows if r["valid"]]
    out: dict[str, Any] = {
        "notes": len(rows),
        "valid": bootstrap_ci([float(r["valid"]) for r in rows]).as_dict(),
        "finished": bootstrap_ci([float(r["valid"] and not r["runaway"]) for r in rows]).as_dict(),
        "truncated": bootstrap_ci([float(r["truncated"]) for r in rows]).as_dict(),
        "loop": bootstrap_ci([float(r["loop"]) for r in rows]).as_dict(),
        "runaway": bootstrap_ci([float(r["runaway"]) for r in rows]).as_dict(),
        "chars": bootstrap_ci([float(r["chars"]) for r in rows]).as_dict(),
        "total_grounded": bootstrap_ci([r["total"] for r in rows]).as_dict(),
    }
    out["chars_median"] = float(sorted(r["chars"] for r in rows)[len(rows) // 2]) if rows else None
    for name in ROUGE_TYPES:
        out[name] = bootstrap_ci([r[name] for r in rows]).as_dict()
        out[f"{name}_finished"] = bootstrap_ci([r[name] for r in rows if r["valid"] and not r["runaway"]]).as_dict()
        for key in SECTION_KEYS:
            scored = [r["sections"][key][name] for r in rows if key in r["sections"]]
            out[f"{name}_{key}"] = bootstrap_ci(scored).as_dict()
    out["concept_f1"] = bootstrap_ci([r["concept_f1"] for r in rows if r["concept_f1"] is not None]).as_dict()
    for kind in ("values", "drugs", "diagnoses"):
        out[f"ungrounded_{kind}"] = bootstrap_ratio(
            [float(len(r[f"ungrounded_{kind}"])) for r in valid], [float(r[kind]) for r in valid]
        ).as_dict()
    any_items = [r for r in valid if r["values"] or r["drugs"] or r["diagnoses"]]
    out["ungrounded_notes"] = bootstrap_ci(
        [float(bool(r["ungrounded_values"] or r["ungrounded_drugs"] or r["ungrounded_diagnoses"])) for r in any_items]
    ).as_dict()
    out["errors"] = sum(r.get("error") is not None for r in rows)
    return out


def reference_predictions(examples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The clinicians' own notes as predictions, for the calibration row (ROUGE 100; their ungrounded rate)."""
    return [{"note": {k: str((ex.get("reference") or {}).get(k) or "") for k in SECTION_KEYS}} for ex in examples]


def score_predictions(
    examples: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Score predictions aligned with `examples`: {"summary": summarise(...), "notes": [note_metrics ...]}."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples; align them by key first.")
    rows = [note_metrics(ex, pred) for ex, pred in zip(examples, predictions, strict=True)]
    return {"summary": summarise(rows), "notes": rows}
