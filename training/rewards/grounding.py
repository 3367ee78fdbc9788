"""Grounding: is what a note states supported by the dialogue? Usable on any dialogue, gold facts or not.

One rule for the reward (`GroundingJudge`, `GroundedReferenceJudge`) and for the evaluation's
ungrounded-content rate (training.evaluation.metrics), so training and measurement agree.

A note's **items** are its clinical values (numbers without dates, ages, enumerators, ordinals,
scale denominators and names like COVID-19: `numbers_norm.clinical_values`), its drug names
(lexicon, class suffixes, common brand names mapped to the generic) and its diagnosis words (the
lexicon in `text.DIAGNOSES`). An item is **grounded** when the dialogue states it:

- a value, once spoken numbers in the dialogue are digits ("one fifty two over ninety four" -> 152/94);
- a drug, by generic or brand name ("Lasix" in the dialogue grounds "furosemide" in the note);
- a diagnosis, by its word or a lay phrase for it ("high blood pressure" grounds "hypertension").

Section score (GroundingJudge) = max(0, 1 - item_penalty x ungrounded items), item_penalty 0.25:
one invented dose or vital sign costs a quarter of the section, four cost all of it.

**Runaway text** (`repeated_share`): the share of a section's 8-word runs that already occurred
earlier in it. A small model decoding a long visit tends to restate a sentence until its budget
ends; the full reward multiplies each section by (1 - repeated share), so a looping note scores
below a shorter one that stops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from inference.spoken_numbers import normalize_spoken_numbers
from inference.vitals import misplaced_vitals, stated_vitals

from . import text as tx
from .base import Verdict, dialogue_text
from .numbers_norm import clinical_values, spoken_values

__all__ = [
    "BRANDS",
    "repeated_share",
    "GroundedReferenceJudge",
    "GroundingJudge",
    "Support",
    "Ungrounded",
    "note_drugs",
    "support",
    "ungrounded",
]

# Brand (and common short) names to the generic the drug lexicon knows.
BRANDS = {
    "lasix": "furosemide",
    "norvasc": "amlodipine",
    "lipitor": "atorvastatin",
    "zocor": "simvastatin",
    "crestor": "rosuvastatin",
    "pravachol": "pravastatin",
    "glucophage": "metformin",
    "coumadin": "warfarin",
    "eliquis": "apixaban",
    "xarelto": "rivaroxaban",
    "plavix": "clopidogrel",
    "synthroid": "levothyroxine",
    "zoloft": "sertraline",
    "prozac": "fluoxetine",
    "lexapro": "escitalopram",
    "celexa": "citalopram",
    "tylenol": "acetaminophen",
    "advil": "ibuprofen",
    "motrin": "ibuprofen",
    "aleve": "naproxen",
    "prilosec": "omeprazole",
    "protonix": "pantoprazole",
    "nexium": "esomeprazole",
    "pepcid": "famotidine",
    "flonase": "fluticasone",
    "singulair": "montelukast",
    "neurontin": "gabapentin",
    "lyrica": "pregabalin",
    "toprol": "metoprolol",
    "lopressor": "metoprolol",
    "coreg": "carvedilol",
    "zestril": "lisinopril",
    "prinivil": "lisinopril",
    "cozaar": "losartan",
    "diovan": "valsartan",
    "flomax": "tamsulosin",
    "proscar": "finasteride",
    "ventolin": "albuterol",
    "proair": "albuterol",
    "keflex": "cephalexin",
    "cipro": "ciprofloxacin",
    "zithromax": "azithromycin",
    "medrol": "methylprednisolone",
    "jardiance": "empagliflozin",
    "farxiga": "dapagliflozin",
    "ozempic": "semaglutide",
    "victoza": "liraglutide",
    "januvia": "sitagliptin",
    "lantus": "glargine",
    "humalog": "lispro",
    "imitrex": "sumatriptan",
    "topamax": "topiramate",
    "ambien": "zolpidem",
    "xanax": "alprazolam",
    "ativan": "lorazepam",
    "klonopin": "clonazepam",
    "valium": "diazepam",
    "zofran": "ondansetron",
    "flexeril": "cyclobenzaprine",
    "ultram": "tramadol",
    "percocet": "oxycodone",
    "norco": "hydrocodone",
    "vicodin": "hydrocodone",
    "augmentin": "amoxicillin",
    "bactrim": "sulfamethoxazole",
    "macrobid": "nitrofurantoin",
    "wellbutrin": "bupropion",
    "cymbalta": "duloxetine",
    "effexor": "venlafaxine",
    "celebrex": "celecoxib",
    "mobic": "meloxicam",
    "humira": "adalimumab",
    "aspirin": "aspirin",
}

# Lay phrases that state a diagnosis in a patient's (or a dictating doctor's) words, by lexicon word.
LAY_TERMS = {
    "hypertension": ("blood pressure", "hypertensive"),
    "hypotension": ("blood pressure",),
    "hyperlipidemia": ("cholesterol", "lipid"),
    "diabetes": ("sugar", "diabetic", "a1c", "glucose", "insulin"),
    "gerd": ("reflux", "heartburn"),
    "uti": ("urinary tract infection", "bladder infection"),
    "dvt": ("blood clot", "clot"),
    "thrombosis": ("blood clot", "clot"),
    "embolism": ("blood clot", "clot"),
    "infarction": ("heart attack",),
    "fracture": ("broke", "broken", "break", "fractured", "crack"),
    "sprain": ("sprained", "twisted", "rolled"),
    "depression": ("depressed", "down", "sad"),
    "anxiety": ("anxious", "nervous", "worry", "worried", "stress"),
    "arthritis": ("arthritic", "joint"),
    "osteoarthritis": ("arthritis", "arthritic", "joint"),
    "anemia": ("anemic", "iron", "blood count", "hemoglobin"),
    "obesity": ("weight",),
    "insomnia": ("sleep",),
    "migraine": ("headache",),
    "nephrolithiasis": ("kidney stone",),
    "cholecystitis": ("gallbladder",),
    "pneumonia": ("lung infection",),
    "hypothyroidism": ("thyroid",),
    "hyperthyroidism": ("thyroid",),
    "sinusitis": ("sinus",),
    "otitis": ("ear infection",),
    "pharyngitis": ("sore throat", "strep"),
    "tonsillitis": ("tonsil",),
    "conjunctivitis": ("pink eye",),
    "gastroenteritis": ("stomach bug", "stomach flu"),
    "dementia": ("memory",),
    "tumor": ("mass", "growth", "lump"),
    "carcinoma": ("cancer", "malignan"),
    "cancer": ("carcinoma", "malignan", "tumor"),
    "fibrillation": ("afib", "a fib", "irregular heart"),
    "arrhythmia": ("irregular heart", "afib", "palpitation"),
    "angina": ("chest pain",),
    "cellulitis": ("skin infection",),
    "dermatitis": ("rash",),
    "eczema": ("rash",),
    "copd": ("emphysema", "chronic obstructive"),
    "seizure": ("seizing", "convuls"),
    "covid": ("coronavirus",),
}


@dataclass(frozen=True)
class Support:
    """What a dialogue states: its values (spoken numbers as digits), drugs (generic) and text."""

    values: frozenset[float]
    drugs: frozenset[str]
    text: str
    vitals: frozenset[str] = frozenset()  # "blood pressure=120": values stated as a vital (inference.vitals)


@lru_cache(maxsize=256)
def _support(said: str) -> Support:
    norm = tx.normalise(said)
    drugs = set(tx.drugs(said)) | {BRANDS[w] for w in tx.tokens(said) if w in BRANDS}
    vitals = stated_vitals(said) | stated_vitals(normalize_spoken_numbers(said))  # as dialogue_numbers does
    return Support(
        values=spoken_values(said), drugs=frozenset(drugs), text=f" {' '.join(tx.tokens(norm))} ", vitals=vitals
    )


def support(dialogue: Any) -> Support:
    """The grounding support of a dialogue (a string, Turns or {speaker, text} dicts); cached per text."""
    return _support(dialogue_text(dialogue))


def note_drugs(text: str) -> frozenset[str]:
    """Drug names in `text` as generics (lexicon, class suffixes, brand names)."""
    return frozenset(set(tx.drugs(text)) | {BRANDS[w] for w in tx.tokens(text) if w in BRANDS})


def _diagnosis_said(dx_stem: str, said: Support) -> bool:
    words = said.text
    if f" {dx_stem}" in words:  # the stem starts a word: "hypertension", "hypertensive"
        return True
    word = next((w for w in tx.DIAGNOSES if tx.stem(w) == dx_stem), dx_stem)
    return any(f" {phrase}" in words for phrase in LAY_TERMS.get(word, ()))


@dataclass
class Ungrounded:
    """A note's (or section's) items and those the dialogue does not state."""

    values: int = 0
    drugs: int = 0
    diagnoses: int = 0
    ungrounded_values: list[float] = field(default_factory=list)
    ungrounded_drugs: list[str] = field(default_factory=list)
    ungrounded_diagnoses: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[str]:
        return (
            [f"number {v:g}" for v in self.ungrounded_values]
            + [f"drug {d}" for d in self.ungrounded_drugs]
            + [f"diagnosis {d}" for d in self.ungrounded_diagnoses]
        )

    @property
    def count(self) -> int:
        return len(self.ungrounded_values) + len(self.ungrounded_drugs) + len(self.ungrounded_diagnoses)


def ungrounded(text: str, dialogue: Any, *, known: Iterable[str] = ()) -> Ungrounded:
    """The items of `text` (distinct values, drugs, diagnoses) and which of them `dialogue` does not state.

    `known` is further text the writer may rely on (gold facts, a chart header). Distinct values:
    a note that repeats "20 mg" three times states one value.

    >>> u = ungrounded("BP 182/110 today. Continue lisinopril 20 mg.", "doctor: keep the lisinopril twenty milligrams")
    >>> u.items, u.values
    (['number 110', 'number 182'], 3)
    """
    said = support(dialogue if not known else f"{dialogue_text(dialogue)}\n" + "\n".join(known))
    values = set(clinical_values(text))
    # a stated number written as a vital sign the visit does not state it as ("Temperature: 2" in a visit
    # that says "type 2"; "Blood pressure: 58" from the age) is not grounded either
    misfits = {value for _, value in misplaced_vitals(text, said.vitals)}
    drugs = note_drugs(text)
    dxs = tx.diagnoses(text)
    return Ungrounded(
        values=len(values),
        drugs=len(drugs),
        diagnoses=len(dxs),
        ungrounded_values=sorted((values - said.values) | (misfits & values)),
        ungrounded_drugs=sorted(drugs - said.drugs),
        ungrounded_diagnoses=sorted(d for d in dxs if not _diagnosis_said(d, said)),
    )


def repeated_share(text: str, *, n: int = 8) -> float:
    """Share of the word n-grams of `text` that repeat an earlier one (0 = no repetition, toward 1 = a loop).

    >>> repeated_share("Cough for 5 days. No fever. Lungs are clear. Rest and fluids for now.")
    0.0
    >>> round(repeated_share("Follow up in two weeks with the clinic. " * 5), 2)
    0.76
    """
    words = tx.tokens(text)
    if len(words) <= n:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        repeats += gram in seen
        seen.add(gram)
    return repeats / (len(words) - n + 1)


class GroundingJudge:
    """Scores a section by how much of its content the dialogue supports; needs no reference or facts.

    score = max(0, 1 - item_penalty x ungrounded items). An empty section states nothing
    unsupported and scores 1: this judge measures support only, so on its own it would reward
    saying nothing; `GroundedReferenceJudge` multiplies it with a content score.
    """

    name = "grounding"

    def __init__(self, *, item_penalty: float = 0.25, known: Iterable[str] = ()) -> None:
        self.item_penalty = item_penalty
        self.known = tuple(known)

    def judge(self, dialogue: Any, key: str, predicted: str, reference: str | None = None) -> Verdict:
        found = ungrounded(predicted or "", dialogue, known=self.known)
        score = max(0.0, 1.0 - self.item_penalty * found.count)
        reason = "everything stated is in the dialogue"
        if found.count:
            reason = f"not in the dialogue: {', '.join(found.items[:6])}"
        return Verdict(round(score, 6), reason, details={"ungrounded": found.items})


class GroundedReferenceJudge:
    """The full reward's judge (`judge=grounded`): content against the reference x grounding in the dialogue.

    Per section: score = content x grounding x (1 - repeated share), where content =
    `overlap.section_overlap` (ROUGE-1, ROUGE-2 and concept F1 against the reference section),
    grounding = `GroundingJudge` and the repeated share is `repeated_share` (a loop scores near 0).
    Multiplied, not added: a section that copies the reference's wording but
    invents a blood pressure must lose, and a grounded but empty section must not win.
    A section without a reference keeps the neutral content 0.5 (1 when the prediction is empty too),
    so on a dialogue with no reference at all the judge still penalises invented content.
    """

    name = "grounded"

    def __init__(self, *, item_penalty: float = 0.25) -> None:
        self.grounding = GroundingJudge(item_penalty=item_penalty)

    def judge(self, dialogue: Any, key: str, predicted: str, reference: str | None) -> Verdict:
        from .overlap import section_overlap

        pred, ref = (predicted or "").strip(), (reference or "").strip()
        if not ref:
            content, content_reason, parts = (1.0 if not pred else 0.5), "no reference (neutral)", {}
        elif len(tx.content_stems(pred)) < 2:
            return Verdict(0.0, f"{key} is empty or near-empty", details={"scored": True})
        else:
            parts = section_overlap(pred, ref)
            content = parts["score"]
            content_reason = (
                f"ROUGE-1 {parts['rouge1']:.2f}, ROUGE-2 {parts['rouge2']:.2f}, concepts {parts['concepts']:.2f}"
            )
        grounded = self.grounding.judge(dialogue, key, pred)
        repeated = repeated_share(pred)
        score = max(0.0, min(1.0, content * grounded.score * (1.0 - repeated)))
        details: dict[str, Any] = {"scored": bool(ref), "content": content, "grounding": grounded.score, **parts}
        details["ungrounded"] = grounded.details["ungrounded"]
        details["repeated"] = round(repeated, 6)
        reason = f"{content_reason}; grounding {grounded.score:.2f} ({grounded.reason})"
        if repeated:
            reason += f"; {repeated:.0%} of its 8-word runs repeat"
        return Verdict(round(score, 6), reason, details=details)
