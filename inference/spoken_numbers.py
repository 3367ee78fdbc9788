"""Spoken numbers and units to digits and short units, so a dialogue and a note compare like with like.

A visit is said aloud ("three days", "every six hours", "one fifty-two over ninety-four",
"twenty milligrams") and a note is written ("3 days", "every 6 hours", "152/94", "20 mg"). The
evidence flagger runs both sides through `normalize_spoken_numbers`, so the same fact gives the
same tokens. Django-free and model-free: a pure function of the text.

Left alone on purpose: list enumerators ("number one", "number two"), "one" as a pronoun ("the one
on the left", "no one"), and anything that is not a run of number words.
"""

from __future__ import annotations

import re

_ONES = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
_VALUE_WORDS = {**_ONES, **_TEENS, **_TENS}
_RUN_WORDS = set(_VALUE_WORDS) | set(_SCALES) | {"and", "point", "a"}

# Written units, longest first so "milligrams" wins over "grams".
_UNITS = [
    (r"milligrams?|mgs", "mg"),
    (r"micrograms?|mcgs", "mcg"),
    (r"kilograms?|kilos?|kgs", "kg"),
    (r"grams?", "g"),
    (r"millilit(?:er|re)s?|mls", "ml"),
    (r"centimet(?:er|re)s?|cms", "cm"),
    (r"millimet(?:er|re)s?", "mm"),
    (r"pounds|lbs", "lb"),
    (r"per ?cent", "%"),
    (r"beats per minute", "bpm"),
]
_UNIT_AFTER_NUMBER = re.compile(r"(?<=\d)\s*(?:" + "|".join(p for p, _ in _UNITS) + r")\b", re.IGNORECASE)
_UNIT_LOOKUP = [(re.compile(rf"^(?:{p})$", re.IGNORECASE), short) for p, short in _UNITS]
_GLUED_UNIT = re.compile(r"(?<=\d)(mg|mcg|kg|ml|cm|mm|lb)\b", re.IGNORECASE)
_OVER = re.compile(r"\b(\d+(?:\.\d+)?)\s+(?:over|out of)\s+(\d+(?:\.\d+)?)\b", re.IGNORECASE)
# "one" that is not a quantity: "the one", "no one", "someone", "one of", "that one".
_PRONOUN_BEFORE = {"the", "no", "this", "that", "which", "any", "every", "each", "another", "other", "little", "number"}


def _short_unit(word: str) -> str:
    for pattern, short in _UNIT_LOOKUP:
        if pattern.match(word):
            return short
    return word


def _parse_run(words: list[str]) -> tuple[str, int] | None:
    """The number that `words` begins with and how many words it used; None when it begins with none."""
    parts = [w.lower() for w in words]
    if not parts or (parts[0] not in _VALUE_WORDS and not (parts[0] == "a" and parts[1:2] == ["hundred"])):
        return None
    # Casual three-digit readings: "one fifty-two" = 152, "one twelve" = 112 (blood pressures, weights).
    if parts[0] in _ONES and 1 <= _ONES[parts[0]] <= 9 and len(parts) > 1 and (parts[1] in _TENS or parts[1] in _TEENS):
        value, used = _ONES[parts[0]] * 100 + _VALUE_WORDS[parts[1]], 2
        if parts[1] in _TENS and len(parts) > 2 and parts[2] in _ONES and _ONES[parts[2]] > 0:
            value, used = value + _ONES[parts[2]], 3
        return str(value), used
    total, current, used, last = 0, 0, 0, ""
    for word in parts:
        if word == "a" and used == 0:
            used, last = 1, "a"
            continue
        if word in _VALUE_WORDS:
            value = _VALUE_WORDS[word]
            # "two three" or "twenty thirty" are two numbers, not one; "twenty two" is one.
            if last in _ONES or last in _TEENS or (last in _TENS and word not in _ONES):
                break
            if last == "and" and current % 100 and word:
                break
            current += value
        elif word in _SCALES:
            if last not in _VALUE_WORDS and last != "a":
                break
            if word == "hundred":
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * 1000, 0
        elif word == "and":
            if last not in _SCALES:
                break
        else:
            break
        used, last = used + 1, word
    if last == "and":
        used -= 1
    result = str(total + current)
    # "thirty-eight point five" -> 38.5
    if used < len(parts) - 1 and parts[used] == "point" and parts[used + 1] in _ONES:
        digits = []
        index = used + 1
        while index < len(parts) and parts[index] in _ONES:
            digits.append(str(_ONES[parts[index]]))
            index += 1
        result, used = f"{result}.{''.join(digits)}", index
    return result, used


_RUN = re.compile(
    r"\b(?:"
    + "|".join(sorted(_RUN_WORDS, key=len, reverse=True))
    + r")\b(?:[ -]+\b(?:"
    + "|".join(sorted(_RUN_WORDS, key=len, reverse=True))
    + r")\b)*",
    re.IGNORECASE,
)
_PREVIOUS_WORD = re.compile(r"([A-Za-z]+)\W*$")


def _convert_run(run: str, previous: str, following: str) -> str:
    """Digits for the number words of one run ("fifty two and a half" -> "52 and a half")."""
    words = re.split(r"[ -]+", run)
    out: list[str] = []
    index = 0
    while index < len(words):
        lowered = words[index].lower()
        before = (out[-1] if out else previous).lower()
        after = words[index + 1].lower() if index + 1 < len(words) else following.lower()
        keep = (
            (lowered == "one" and (before in _PRONOUN_BEFORE or after == "of"))
            or (before == "number" and lowered in _VALUE_WORDS)  # an enumerator, not a quantity
            or lowered == "oh"  # "oh" alone is an exclamation; it counts only inside a reading
        )
        parsed = None if keep else _parse_run(words[index:])
        if parsed is None or (lowered == "a" and parsed[1] == 1):
            out.append(words[index])
            index += 1
            continue
        out.append(parsed[0])
        index += parsed[1]
    return " ".join(out)


# A decimal point the transcript wrote as a full stop between two numbers ("ninety eight . two" -> 98.2):
# in ACI-Bench train+valid 13 of the 16 such pairs are decimals the clinician's note writes (98.2, 7.5, 12.5).
# Not before a fraction or another digit ("a 9 . 9/10 pain").
SPOKEN_POINT = re.compile(r"\b(\d+) \. (\d{1,2})\b(?![\d/.])")


def normalize_spoken_numbers(text: str) -> str:
    """Number words to digits, spoken units to short ones, "X over Y" to "X/Y".

    >>> normalize_spoken_numbers("fever for three days, Tylenol twenty milligrams every six hours")
    'fever for 3 days, Tylenol 20 mg every 6 hours'
    >>> normalize_spoken_numbers("it was one fifty-two over ninety-four")
    'it was 152/94'
    >>> normalize_spoken_numbers("your temperature is ninety eight . two")
    'your temperature is 98.2'
    """

    def replace(match: re.Match[str]) -> str:
        previous = _PREVIOUS_WORD.search(text[: match.start()])
        following = re.match(r"\W*([A-Za-z]+)", text[match.end() :])
        return _convert_run(
            match.group(0), previous.group(1) if previous else "", following.group(1) if following else ""
        )

    text = _RUN.sub(replace, text)
    text = _OVER.sub(r"\1/\2", text)
    text = SPOKEN_POINT.sub(r"\1.\2", text)
    text = _GLUED_UNIT.sub(lambda m: " " + m.group(1).lower(), text)
    return _UNIT_AFTER_NUMBER.sub(lambda m: " " + _short_unit(m.group(0).strip()), text)
