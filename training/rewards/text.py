"""Text normalisation and clinical-content extraction shared by the deterministic judges.

Plain functions on strings: lowercase word tokens, numbers (digits and English number words,
"thirty-eight point five" -> 38.5), drug names (a small lexicon plus the suffixes that name drug
classes: -pril, -olol, -statin ...), and diagnosis words. They are deliberately conservative:
a false "unsupported drug" costs a correct note reward, so only clear drug/diagnosis tokens count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_NUMBER = re.compile(r"(?<![a-z0-9])(\d+(?:[.,]\d+)?)")


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _wordlist(
    """a an the and or of to in on at for with without by from as is are was were be been being it its this that these
    those he she they them his her their patient pt has have had having do does did not no yes i you we our your my me
    also about over under than then so but if into out up down per which who whom what when where how some any all
    there here very just s t"""
)

_UNITS = {
    "c": "c",
    "°c": "c",
    "celsius": "c",
    "f": "f",
    "°f": "f",
    "mmhg": "mmhg",
    "bpm": "bpm",
    "mg": "mg",
    "mcg": "mcg",
    "g": "g",
    "kg": "kg",
    "lb": "lb",
    "lbs": "lb",
    "ml": "ml",
    "l": "l",
    "%": "%",
    "percent": "%",
    "units": "units",
    "iu": "units",
    "mmol": "mmol",
    "mg/dl": "mg/dl",
    "mmol/l": "mmol/l",
    "days": "day",
    "day": "day",
    "weeks": "week",
    "week": "week",
    "months": "month",
    "month": "month",
    "years": "year",
    "year": "year",
    "hours": "hour",
    "hour": "hour",
}

_ONES = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_WORDS = set(_ONES) | set(_TENS) | set(_SCALES) | {"point", "and", "a", "half"}

# Common drugs whose names carry no class suffix; the suffix rule catches most of the rest.
DRUGS = _wordlist(
    """acetaminophen paracetamol ibuprofen naproxen aspirin diclofenac celecoxib metformin insulin glipizide glyburide
    sitagliptin empagliflozin dapagliflozin liraglutide semaglutide warfarin apixaban rivaroxaban dabigatran heparin
    enoxaparin clopidogrel amoxicillin augmentin doxycycline azithromycin clarithromycin ciprofloxacin levofloxacin
    nitrofurantoin trimethoprim sulfamethoxazole cephalexin ceftriaxone vancomycin metronidazole clindamycin
    prednisone prednisolone methylprednisolone dexamethasone hydrocortisone albuterol salbutamol ipratropium tiotropium
    montelukast fluticasone budesonide furosemide hydrochlorothiazide chlorthalidone spironolactone amlodipine
    nifedipine diltiazem verapamil digoxin amiodarone levothyroxine methimazole gabapentin pregabalin tramadol
    morphine oxycodone hydrocodone codeine fentanyl buprenorphine naloxone sertraline fluoxetine citalopram
    escitalopram paroxetine venlafaxine duloxetine bupropion mirtazapine trazodone amitriptyline nortriptyline
    lithium quetiapine olanzapine risperidone aripiprazole haloperidol lorazepam diazepam alprazolam clonazepam
    zolpidem melatonin ondansetron metoclopramide omeprazole pantoprazole esomeprazole lansoprazole famotidine
    ranitidine loperamide docusate senna lactulose polyethylene methotrexate hydroxychloroquine allopurinol colchicine
    febuxostat sumatriptan topiramate levetiracetam lamotrigine valproate carbamazepine phenytoin donepezil memantine
    tamsulosin finasteride sildenafil tadalafil oxybutynin cetirizine loratadine diphenhydramine fexofenadine
    epinephrine nitroglycerin isosorbide hydralazine clonidine spironolactone potassium iron ferrous folic vitamin
    cyclobenzaprine baclofen tizanidine methocarbamol acyclovir valacyclovir oseltamivir fluconazole terbinafine
    nystatin mupirocin permethrin ivermectin adalimumab etanercept infliximab estradiol progesterone medroxyprogesterone
    norethindrone levonorgestrel testosterone alendronate calcitriol ranolazine tacrolimus cyclosporine phenelzine
    tranexamic rifampin isoniazid ethambutol pyrazinamide dapsone quinine chloroquine mesalamine sulfasalazine
    azathioprine mycophenolate insulin glargine lispro metoprolol propranolol carvedilol bisoprolol atenolol"""
)
_DRUG_SUFFIXES = (
    "pril",
    "sartan",
    "olol",
    "statin",
    "dipine",
    "prazole",
    "tidine",
    "cillin",
    "mycin",
    "floxacin",
    "cycline",
    "azole",
    "vir",
    "mab",
    "nib",
    "gliptin",
    "gliflozin",
    "glutide",
    "oxetine",
    "triptan",
    "parin",
    "semide",
    "thiazide",
    "sone",
    "olone",
    "azepam",
    "barbital",
)
# Words that end like a drug but are not one.
_NOT_DRUGS = frozenset({"person", "reason", "season", "poison", "comparison", "crimson", "unison", "olive", "vanir"})

# Diagnosis words a hallucinating model writes; present in a note but absent from the dialogue
# and the gold facts, they count as unsupported. Multi-word names are matched as phrases.
DIAGNOSES = _wordlist(
    """pneumonia bronchitis asthma copd emphysema tuberculosis influenza covid sepsis cellulitis appendicitis
    cholecystitis pancreatitis hepatitis cirrhosis gastritis gerd ulcer colitis diverticulitis gastroenteritis
    diabetes hypertension hypotension hyperlipidemia hypothyroidism hyperthyroidism anemia leukemia lymphoma cancer
    carcinoma melanoma tumor tumour fracture sprain arthritis osteoarthritis gout lupus psoriasis eczema dermatitis
    migraine stroke epilepsy seizure dementia parkinson depression anxiety schizophrenia bipolar insomnia
    otitis sinusitis pharyngitis tonsillitis conjunctivitis glaucoma cataract uti pyelonephritis nephrolithiasis
    prostatitis endometriosis preeclampsia angina infarction arrhythmia fibrillation embolism
    thrombosis dvt aneurysm meningitis encephalitis obesity osteoporosis"""
)


def normalise(text: str) -> str:
    """Lowercase, unify dashes and the degree sign, collapse whitespace."""
    text = text.lower().replace("–", "-").replace("—", "-").replace("º", "°")
    return re.sub(r"\s+", " ", text).strip()


def tokens(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """Word tokens of `text` (lowercase), optionally without stopwords."""
    found = _WORD.findall(normalise(text))
    if drop_stopwords:
        found = [tok for tok in found if tok not in STOPWORDS]
    return found


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """A very light stemmer (plural and -ing/-ed) so 'coughing' meets 'cough' and 'pains' meets 'pain'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


@lru_cache(maxsize=8192)
def _content_stems(text: str) -> tuple[str, ...]:
    return tuple(stem(tok) for tok in tokens(text, drop_stopwords=True))


@lru_cache(maxsize=8192)
def stem_sequence(text: str) -> tuple[str, ...]:
    """All word tokens of `text`, stemmed (cached: judges ask the same texts many times)."""
    return tuple(stem(tok) for tok in tokens(text))


@lru_cache(maxsize=8192)
def _stem_set(text: str) -> frozenset[str]:
    return frozenset(stem_sequence(text))


def content_stems(text: str) -> list[str]:
    """Stemmed content words (no stopwords) of `text`."""
    return list(_content_stems(text))


def _words_to_numbers(words: list[str]) -> list[float]:
    """Parse runs of English number words ('one hundred and twenty', 'thirty-eight point five')."""
    values: list[float] = []
    i = 0
    while i < len(words):
        if words[i] not in _ONES and words[i] not in _TENS:
            i += 1
            continue
        total, current, decimals, in_decimal = 0.0, 0.0, "", False
        while i < len(words) and words[i] in _NUMBER_WORDS:
            word = words[i]
            if word == "point":
                in_decimal = True
            elif in_decimal and word in _ONES and _ONES[word] < 10:
                decimals += str(_ONES[word])
            elif word in _ONES:
                current += _ONES[word]
            elif word in _TENS:
                current += _TENS[word]
            elif word in _SCALES:
                current = max(current, 1) * _SCALES[word]
                if word == "thousand":
                    total, current = total + current, 0.0
            elif word == "half" and not in_decimal:
                current += 0.5  # "two and a half"
            i += 1
        value = float(total + current)
        if decimals:
            value += float("0." + decimals)
        values.append(value)
    return values


_ENUMERATOR = re.compile(r"(?m)^\s*(?:\d{1,2}[.)]|[-*•])\s+")


@lru_cache(maxsize=8192)
def numbers(text: str) -> frozenset[float]:
    """All numeric values in `text`, from digits ('38.5', '120/80' -> 120 and 80) and number words.

    List enumerators ('1. ', '2) ') are not values and are skipped.
    """
    norm = normalise(_ENUMERATOR.sub(" ", text))
    found = {float(match.replace(",", ".")) for match in _NUMBER.findall(norm)}
    for clause in re.split(r"[,.;:!?()\n]", norm.replace("-", " ")):  # a pause ends a spoken number
        found.update(_words_to_numbers(re.findall(r"[a-z]+", clause)))
    return frozenset(found)


def number_unit_pairs(text: str) -> list[tuple[float, str]]:
    """Numbers written with a unit right after them ('500 mg', '38.5°C', '5 days'); unit '' when none."""
    pairs: list[tuple[float, str]] = []
    for match in re.finditer(r"(\d+(?:\.\d+)?)\s*(°?\s?[a-z%/]+)?", normalise(text)):
        raw_unit = (match.group(2) or "").replace(" ", "")
        pairs.append((float(match.group(1)), _UNITS.get(raw_unit, "")))
    return pairs


def is_drug(token: str) -> bool:
    token = token.lower()
    if token in DRUGS:
        return True
    return len(token) >= 7 and token not in _NOT_DRUGS and token.endswith(_DRUG_SUFFIXES)


@lru_cache(maxsize=8192)
def drugs(text: str) -> frozenset[str]:
    """Drug names in `text` (lexicon plus drug-class suffixes)."""
    return frozenset(tok for tok in tokens(text) if is_drug(tok))


@lru_cache(maxsize=8192)
def diagnoses(text: str) -> frozenset[str]:
    """Diagnosis words in `text` from the built-in lexicon (single words, lightly stemmed)."""
    return frozenset(stem(tok) for tok in tokens(text) if tok in DIAGNOSES or stem(tok) in DIAGNOSES)


def contains_phrase(haystack: str, phrase: str) -> bool:
    """Whether the words of `phrase` occur consecutively in `haystack` (word-boundary, stem-tolerant)."""
    needle = stem_sequence(phrase)
    if not needle or not set(needle) <= _stem_set(haystack):
        return False
    hay = stem_sequence(haystack)
    n = len(needle)
    return any(hay[i : i + n] == needle for i in range(len(hay) - n + 1))


def coverage(haystack_stems: Iterable[str], phrase: str) -> float:
    """Fraction of the content words of `phrase` present anywhere in `haystack_stems`."""
    want = set(_content_stems(phrase))
    if not want:
        return 0.0
    have = set(haystack_stems)
    return len(want & have) / len(want)
