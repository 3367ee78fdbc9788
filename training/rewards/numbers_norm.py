"""Spoken numbers to digits, so a note's "BP 152/94" can be found in a dialogue that says it aloud.

Plain functions on strings (no Django, no model): the grounding judge, the evaluation's
ungrounded-content rate and the review page can share one rule.

- cardinals: "fifty-two" -> 52, "a hundred and eight" -> 108, "two thousand" -> 2000;
- decimals and halves: "thirty-eight point six" -> 38.6, "two and a half" -> 2.5;
- clinicians' casual readings: "one fifty two" -> 152, "one oh five" -> 105, and years
  "twenty nineteen" -> 2019;
- "X over Y" -> X/Y (blood pressure), "X out of Y" -> X/Y (murmur grades, pain scores);
- spoken units after a number: "twenty milligrams" -> "20 mg", "ninety six percent" -> "96 %";
- list enumerators are not values: "number one, your diabetes" keeps no 1.

>>> normalise_spoken_numbers("blood pressure was one fifty two over ninety four")
'blood pressure was 152/94'
>>> normalise_spoken_numbers("lisinopril twenty milligrams, oxygen ninety-six percent")
'lisinopril 20 mg, oxygen 96 %'
>>> normalise_spoken_numbers("so number one , your diabetes . the a1c is seven point two")
'so number , your diabetes . the a1c is 7.2'
>>> sorted(spoken_values("about five weeks , temperature of ninety eight point six"))
[5.0, 98.6]
"""

from __future__ import annotations

import re
from functools import lru_cache

from inference.spoken_numbers import SPOKEN_POINT

from .text import _ONES as _CARDINALS
from .text import _TENS

__all__ = ["clinical_values", "normalise_spoken_numbers", "spoken_values"]

# The cardinal words the judges already parse (text.py), split by the role they play in a reading.
_ONES = {word: value for word, value in _CARDINALS.items() if value < 10}
_TEENS = {word: value for word, value in _CARDINALS.items() if value >= 10}
_SMALL = {**_ONES, **_TEENS, **_TENS}
_WORD = "|".join(sorted((*_SMALL, "hundred", "thousand"), key=len, reverse=True))
# A run: number words joined by spaces/hyphens, with the glue words a spoken number uses inside it.
_RUN = re.compile(
    rf"\b(?:a[ -]+(?=(?:hundred|thousand)\b))?(?:{_WORD})\b"
    rf"(?:(?:[\s-]+(?:and[\s-]+a[\s-]+half|and|point|oh|over|out[\s-]+of))*[\s-]+(?:{_WORD})\b"
    rf"|[\s-]+and[\s-]+a[\s-]+half\b)*",
    re.IGNORECASE,
)
# "number one , your diabetes", "problem two is the knee": an enumerator, when the list word is not
# a reading's label ("top number one forty" is 140) and a pause or a new clause follows it.
_ENUMERATOR = re.compile(
    r"(?<!top )(?<!bottom )(?<!upper )(?<!lower )\b(number|problem|issue|item)\s+"
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|\d)\b"
    r"(?=\s*[,.;:?!]|\s+(?:is|was|your|the|for|we|i|you|and|on)\b|\s*$)",
    re.IGNORECASE,
)
_BABY_ASPIRIN = re.compile(r"\bbaby aspirin\b", re.IGNORECASE)  # the 81 mg tablet, by its everyday name
_HALF = re.compile(r"\b(?:a half|half an?)\b(?! (?:hour|day|week|month|year)s?\b)", re.IGNORECASE)  # "half a cc"
# "three to four hundred" -> "300 to 400": the scale said once covers both ends of a range
_SHARED_SCALE = re.compile(r"(?<![\d.])(\d) (to|or) (\d)(00|000)(?=s?\b)")
_HUNDREDS = re.compile(r"(?<![\d.])(\d)( (?:to|or) )(\d) hundreds\b", re.IGNORECASE)  # "in the 3 to 4 hundreds"
_IN_A = re.compile(r"\b(in|for) an? (day|week|month|year)\b", re.IGNORECASE)  # "follow up in a week" = 1 week
_SPOKEN_UNITS = [
    (r"milligrams?|mgs?", "mg"),
    (r"micrograms?|mcg", "mcg"),
    (r"kilograms?|kilos?", "kg"),
    (r"grams?", "g"),
    (r"milliliters?|millilitres?|ccs?|cc", "ml"),
    (r"centimeters?|centimetres?", "cm"),
    (r"millimeters?|millimetres?", "mm"),
    (r"pounds?|lbs?", "lb"),
    (r"percent|per\s+cent|%", "%"),
    (r"degrees?", "°"),
    (r"beats\s+per\s+minute|bpm", "bpm"),
    (r"units?", "units"),
]
_UNIT_AFTER = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?)\s*(" + "|".join(p for p, _ in _SPOKEN_UNITS) + r")(?![a-z])",
    re.IGNORECASE,
)


def _split(run: str) -> list[str]:
    return [w for w in re.split(r"[\s-]+", run.lower()) if w]


def _cardinal(words: list[str], i: int) -> tuple[float | None, int]:
    """One number starting at words[i]; returns (value, next index) or (None, i)."""
    if i < len(words) and words[i] == "a" and i + 1 < len(words) and words[i + 1] in ("hundred", "thousand"):
        words = [*words[:i], "one", *words[i + 1 :]]
    if i >= len(words) or words[i] not in _SMALL:
        return None, i
    first = words[i]
    nxt = words[i + 1] if i + 1 < len(words) else ""
    # "one fifty two" (152), "one oh five" (105): a digit then a two-digit reading, no "hundred".
    if first in _ONES and first != "zero" and (nxt in _TENS or nxt in _TEENS or nxt == "oh"):
        rest, j = _two_digits(words, i + 1)
        if rest is not None:
            return _ONES[first] * 100 + rest, j
    # "nineteen ninety", "twenty twenty one": a year read as two pairs.
    if first in ("nineteen", "twenty") and (nxt in _TENS or nxt in _TEENS):
        rest, j = _two_digits(words, i + 1)
        if rest is not None and (first == "nineteen" or rest <= 40):
            return _SMALL[first] * 100 + rest, j
    total, current, last, j = 0.0, 0.0, "", i
    follows = {
        "tens": ("", "hundred", "thousand", "and"),
        "teens": ("", "hundred", "thousand", "and"),
        "ones": ("", "tens", "hundred", "thousand", "and"),
        "hundred": ("", "ones", "teens", "tens"),
        "thousand": ("ones", "teens", "tens", "hundred"),
        "and": ("hundred", "thousand"),
    }
    while j < len(words):
        word = words[j]
        kind = "tens" if word in _TENS else "teens" if word in _TEENS else "ones" if word in _ONES else word
        if kind not in follows or last not in follows[kind]:
            break
        if kind == "and" and not (j + 1 < len(words) and words[j + 1] in _SMALL):
            break  # "one hundred and a half" is not "one hundred and eight"
        if kind == "hundred":
            current = max(current, 1) * 100
        elif kind == "thousand":
            total, current = total + max(current, 1) * 1000, 0.0
        elif kind != "and":
            current += _SMALL[word]
        last, j = kind, j + 1
    return total + current, j


def _two_digits(words: list[str], i: int) -> tuple[int | None, int]:
    """A two-digit reading: 'fifty two', 'fifteen', 'oh five'."""
    word = words[i] if i < len(words) else ""
    if word == "oh" and i + 1 < len(words) and words[i + 1] in _ONES:
        return _ONES[words[i + 1]], i + 2
    if word in _TEENS:
        return _TEENS[word], i + 1
    if word in _TENS:
        if i + 1 < len(words) and words[i + 1] in _ONES and words[i + 1] != "zero":
            return _TENS[word] + _ONES[words[i + 1]], i + 2
        return _TENS[word], i + 1
    return None, i


def _fmt(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _convert_run(run: str) -> str:
    """Digits for one run of number words ('one fifty two over ninety four' -> '152/94')."""
    words = _split(run)
    out: list[str] = []
    i = 0
    while i < len(words):
        value, j = _cardinal(words, i)
        if value is None:
            out.append(words[i])
            i += 1
            continue
        if j + 1 < len(words) and words[j] == "point" and words[j + 1] in _ONES:
            digits = ""
            j += 1
            while j < len(words) and words[j] in _ONES:
                digits += str(_ONES[words[j]])
                j += 1
            out.append(f"{_fmt(value)}.{digits}")
        elif words[j : j + 3] == ["and", "a", "half"]:
            out.append(_fmt(value + 0.5))
            j += 3
        else:
            out.append(_fmt(value))
        i = j
    text = " ".join(out)
    text = re.sub(r"(\d) (?:over|out of) (\d)", r"\1/\2", text)
    return text


@lru_cache(maxsize=4096)
def normalise_spoken_numbers(text: str) -> str:
    """`text` with spoken numbers written as digits and spoken units abbreviated (see the module doc).

    >>> normalise_spoken_numbers("a hundred and eight, one oh five, two and a half, twenty nineteen")
    '108, 105, 2.5, 2019'
    >>> normalise_spoken_numbers("a three out of six murmur, eight centimeters")
    'a 3/6 murmur, 8 cm'
    >>> normalise_spoken_numbers("a thousand milligrams, half a cc, three to four hundreds, the baby aspirin")
    '1000 mg, 0.5 ml, 300 to 400s, the aspirin 81 mg'
    >>> normalise_spoken_numbers("see you in a week, twice a day")
    'see you in 1 week, twice a day'
    >>> normalise_spoken_numbers("top number one forty , bottom number ninety . number two is your knee")
    'top number 140 , bottom number 90 . number is your knee'
    >>> normalise_spoken_numbers("your temperature is ninety eight . two")
    'your temperature is 98.2'
    """
    text = _ENUMERATOR.sub(lambda m: m.group(1), text)
    text = _BABY_ASPIRIN.sub("aspirin 81 mg", text)
    text = _RUN.sub(lambda m: _convert_run(m.group(0)), text)
    text = SPOKEN_POINT.sub(r"\1.\2", text)  # "ninety eight . two" -> 98.2, as inference.spoken_numbers reads it
    text = _HALF.sub("0.5", text)
    text = _IN_A.sub(r"\1 1 \2", text)
    text = _HUNDREDS.sub(r"\g<1>00\g<2>\g<3>00s", text)
    text = _SHARED_SCALE.sub(lambda m: f"{m.group(1)}{m.group(4)} {m.group(2)} {m.group(3)}{m.group(4)}", text)
    units = {re.compile(rf"^(?:{p})$", re.I): u for p, u in _SPOKEN_UNITS}

    def unit(match: re.Match[str]) -> str:
        spoken = match.group(2)
        short = next((u for pattern, u in units.items() if pattern.match(spoken)), spoken)
        return f"{match.group(1)} {short}"

    return _UNIT_AFTER.sub(unit, text)


_VALUE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)")


@lru_cache(maxsize=4096)
def spoken_values(text: str) -> frozenset[float]:
    """Every numeric value stated in `text` once spoken numbers are digits ('152/94' gives 152 and 94)."""
    norm = _THOUSANDS.sub("", normalise_spoken_numbers(text)).replace(",", " ")
    return frozenset(float(v) for v in _VALUE.findall(norm))


# --- numbers that are clinical values --------------------------------------------------------------
# A note states numbers that are not measurements: dates and years (from the chart), ages in the
# header, list enumerators, ordinals ("2nd toe") and names with digits (COVID-19, A1c, B12, C5-6,
# SpO2). None of them is a value the dialogue must state, so they are blanked before counting.
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_NOT_VALUES = [
    re.compile(p, re.IGNORECASE | re.MULTILINE)
    for p in (
        r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",  # 03/04/2021
        r"\b\d{4}-\d{2}-\d{2}\b",  # 2021-03-04
        r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b",  # 10/2020
        rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+(?:19|20)\d{{2}})?",  # March 3rd, 2021
        rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b",  # 3rd of March
        r"\b(?:19|20)\d{2}s?\b",  # years: 2019, the 1990s
        r"\b\d{1,2}:\d{2}\b",  # times: 2:00
        r"\b\d{1,3}(?:\+\d)?[- ](?:year|yr|month|week|day)s?[- ]old\b",  # 58-year-old, 34+3-week-old
        r"\baged?\s+\d{1,3}\b",
        r"\b\d{1,3}\s*(?:yo|y/o|y\.o\.)",
        r"\b\d+(?:st|nd|rd|th)\b",  # ordinals
        r"\b[a-z]+-?\d+[a-z]*(?:-[a-z]?\d+[a-z]*)*\b",  # covid-19, a1c, b-12, c5-6, c7-t1, spo2, g5p5, x3
        r"^\s*(?:#?\d{1,2}[.)]|#\d{1,2})(?=\s)",  # list enumerators at a line start
        r"(?:#|\b(?:number|problem|issue)\s+)\d{1,2}\b",
    )
]
_SCALE = re.compile(r"\b(\d{1,2}(?:\.\d)?)(?:\s*-\s*\d{1,2})?\s*/\s*(4|5|6|10)\b")
_NOTE_VALUE = re.compile(r"(?<![\w.$])(\d+(?:\.\d+)?)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SPACES = re.compile(r"[^\S\n]+")


def _blank(text: str) -> str:
    for pattern in _NOT_VALUES:
        text = pattern.sub(" ", text)

    # "7/10" pain, "2/6" murmur, "5/5" strength: the denominator is the scale, not a stated value.
    def numerator(match: re.Match[str]) -> str:
        if float(match.group(1)) > float(match.group(2)):
            return match.group(0)
        return match.group(0)[: match.start(2) - match.start(0)].rstrip("/ ") + " "

    return _SCALE.sub(numerator, text)


@lru_cache(maxsize=4096)
def clinical_values(text: str) -> tuple[float, ...]:
    """Numeric values a note states as clinical facts, in order, without dates, ages, names or scales.

    >>> clinical_values("58-year-old seen 03/04/2021 for COVID-19. BP 152/94, SpO2 96%. Murmur 2/6.")
    (152.0, 94.0, 96.0, 2.0)
    >>> clinical_values("1. Hypertension: lisinopril 20 mg, A1c 7.2, 50,000 units.")
    (20.0, 7.2, 50000.0)
    """
    blanked = _blank(_THOUSANDS.sub("", _SPACES.sub(" ", text)))
    return tuple(float(v) for v in _NOTE_VALUE.findall(blanked))
