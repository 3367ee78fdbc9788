"""Numbers as a person says them ("thirty-eight point six", "one fifty-two over ninety-four")."""

from __future__ import annotations

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def int_words(n: int) -> str:
    """Cardinal words for 0..9999: 108 -> 'one hundred and eight'.

    >>> int_words(58)
    'fifty-eight'
    """
    if n < 0:
        return "minus " + int_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" and {int_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{int_words(thousands)} thousand" + (f" {int_words(rest)}" if rest else "")


def number_words(value: float | int, decimals: int = 0) -> str:
    """Spoken form of a number with the given decimals: 38.6 -> 'thirty-eight point six'."""
    if decimals <= 0:
        return int_words(int(round(value)))
    text = f"{value:.{decimals}f}"
    whole, frac = text.split(".")
    return f"{int_words(int(whole))} point {' '.join(_ONES[int(d)] for d in frac)}"


def casual_words(n: int) -> str:
    """How clinicians read a three-digit reading aloud: 152 -> 'one fifty-two', 108 -> 'a hundred and eight'."""
    if 100 <= n < 200:
        rest = n - 100
        if rest == 0:
            return "a hundred"
        if rest < 10:
            return f"a hundred and {_ONES[rest]}"
        return f"one {int_words(rest)}"
    return int_words(n)


def format_number(value: float | int, decimals: int = 0) -> str:
    return f"{value:.{decimals}f}" if decimals > 0 else str(int(round(value)))
