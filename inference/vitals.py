"""Vital signs: which numbers a note may write as one.

The grounded-numbers rule lets a note write only numbers its dialogue states, but a small model fills a
vitals template with whatever number the visit said ("Temperature: 2. 2, Pulse: 2" in a visit that
mentions "type two diabetes", "Blood pressure: 58" from the patient's age): every digit is grounded, the
vital sign is invented. A number written right after a vital sign's name ("Temperature: ", "heart rate of
", "BP 120/") must be one the visit states for that vital (`stated_vitals`: said shortly after its name)
and fall in its range. The decoding rule (inference.constrained.NoteNumbers), the grounding check of the
evaluation and the reward (training.rewards.grounding) and the review page's flagger (clinic.notes.evidence)
all read this module. The ranges are wide on purpose (survivable extremes, both temperature scales): they
reject numbers that cannot be the vital at all, not abnormal ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Vital:
    name: str
    names: str  # regex alternation of how notes name it, longest first
    ranges: tuple[tuple[float, float], ...]


VITALS = (
    Vital("oxygen saturation", r"oxygen saturation|o2 sat(?:uration|s)?|spo2|sao2|pulse ox(?:imetry)?|sats", ((50, 100),)),  # noqa: E501
    Vital("temperature", r"temperature|temp", ((32, 43.5), (89.6, 110.3))),  # degrees Celsius or Fahrenheit
    Vital("heart rate", r"heart rate|pulse rate|pulse|hr", ((20, 250),)),
    Vital("respiratory rate", r"respiratory rate|respiration rate|respirations|resp rate|breathing rate|rr", ((4, 70),)),  # noqa: E501
    Vital("blood pressure", r"blood pressure|bp", ((50, 300),)),  # systolic; the diastolic below
)  # fmt: skip
DIASTOLIC = Vital("diastolic blood pressure", r"blood pressure|bp", ((20, 200),))
VITAL_NAMES = frozenset(vital.name for vital in VITALS)  # the names of "name=value" tags (`stated_vitals`)

_LINK = (  # what may stand between a vital's name and its value: "Pulse: Rate: ", "Blood pressure: around "
    r"(?:\s*(?:is|was|of|at|today|reading|measured|rate|systolic|around|about|approximately|:|=|-)\s*){0,4}"
)
_NAMES = "|".join(f"(?P<v{i}>{vital.names})" for i, vital in enumerate(VITALS))
_BEFORE_VALUE = re.compile(rf"\b(?:{_NAMES})\b{_LINK}\s*(?P<systolic>\d+\s*/\s*)?$", re.IGNORECASE)
_VALUE = re.compile(rf"\b(?:{_NAMES})\b{_LINK}\s*(?P<value>\d+(?:\.\d+)?)(?:\s*/\s*(?P<diastolic>\d+))?", re.IGNORECASE)


def vital_before(text: str) -> Vital | None:
    """The vital sign whose value `text` is about to write (it ends "Temperature: ", "BP 120/"), else None.

    >>> vital_before("Vital signs: Temperature: ").name
    'temperature'
    >>> vital_before("Blood pressure is 120/").name
    'diastolic blood pressure'
    >>> vital_before("Pulse ox ").name, vital_before("Continue lisinopril ") is None
    ('oxygen saturation', True)
    """
    match = _BEFORE_VALUE.search(text[-64:])
    if match is None:
        return None
    if match.group("systolic"):
        return DIASTOLIC if match.group(f"v{len(VITALS) - 1}") else None
    return _named(match)


def _named(match: re.Match[str]) -> Vital:
    """The vital whose name a `_BEFORE_VALUE` or `_VALUE` match found."""
    return next(vital for i, vital in enumerate(VITALS) if match.group(f"v{i}"))


def stated_name(vital: Vital) -> str:
    """The name the dialogue's values are kept under: a diastolic is said with its blood pressure."""
    return "blood pressure" if vital is DIASTOLIC else vital.name


# How a visit says each vital's name (it is spoken: "your pressure is one twenty over eighty", "oxygen 97").
_SAID = {
    "oxygen saturation": r"oxygen\w*|o2|sats?|saturation|pulse ox\w*|spo2",
    "temperature": r"temperature|temp|fever",
    "heart rate": r"heart ?rate|hear rate|pulse|heart ?beat",  # "hear rate": speech recognition
    "respiratory rate": r"respiratory rate|respiration rate|respirations|breathing rate|breaths",
    "blood pressure": r"blood pressure|bp|pressure",
}
_SAID_NAME = {name: re.compile(rf"\b(?:{names})\b", re.IGNORECASE) for name, names in _SAID.items()}
SAID_WINDOW = 80  # characters after a vital's name (within its sentence) in which the visit states its value
_SENTENCE_END = re.compile(r"\.(?!\d)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PRESSURE = re.compile(r"\b(\d{2,3}) ?/ ?(\d{2,3})\b")
_VITALS_BY_NAME = {vital.name: vital for vital in VITALS}


def stated_vitals(text: str) -> frozenset[str]:
    """The vital-sign values a visit states, as "name=value" tags: numbers said within SAID_WINDOW
    characters after the vital's name that the vital can take. `text` has its spoken numbers as digits.

    >>> sorted(stated_vitals("doctor: your blood pressure is 120 over 80. you're type 2, 52 years old"))
    ['blood pressure=120', 'blood pressure=80']
    >>> sorted(stated_vitals("doctor: any fever? patient: 101.2 last night. doctor: heart rate's 72"))
    ['heart rate=72', 'temperature=101.2']
    """
    tags = set()
    for name, said in _SAID_NAME.items():
        vital = _VITALS_BY_NAME[name]
        for mention in said.finditer(text):
            window = _SENTENCE_END.split(text[mention.end() : mention.end() + SAID_WINDOW], maxsplit=1)[0]
            for number in _NUMBER.findall(window):
                value = float(number)
                if fits(vital, value) or (vital.name == "blood pressure" and fits(DIASTOLIC, value)):
                    tags.add(f"{name}={number}")
    for systolic, diastolic in _PRESSURE.findall(text):  # "it was about 180/95": a pressure said as one
        if fits(_VITALS_BY_NAME["blood pressure"], float(systolic)) and fits(DIASTOLIC, float(diastolic)):
            tags |= {f"blood pressure={systolic}", f"blood pressure={diastolic}"}
    return frozenset(tags)


def fits(vital: Vital, value: float) -> bool:
    return any(low <= value <= high for low, high in vital.ranges)


def written_vitals(text: str) -> list[tuple[Vital, float]]:
    """The values `text` writes as vital signs, in order, as (vital, value); a blood pressure's second
    number as DIASTOLIC.

    >>> [(vital.name, value) for vital, value in written_vitals("BP 120/80, pulse 72. Lisinopril 20 mg.")]
    [('blood pressure', 120.0), ('diastolic blood pressure', 80.0), ('heart rate', 72.0)]
    """
    found = []
    for match in _VALUE.finditer(text):
        vital = _named(match)
        found.append((vital, float(match.group("value"))))
        if match.group("diastolic") and vital.name == "blood pressure":
            found.append((DIASTOLIC, float(match.group("diastolic"))))
    return found


def implausible_vitals(text: str) -> list[tuple[str, float]]:
    """Values `text` writes as a vital sign that the vital cannot take, as (vital, value).

    >>> implausible_vitals("Vital signs: Temperature: 2. 2, Pulse: 2, Blood pressure: 128/72.")
    [('temperature', 2.0), ('heart rate', 2.0)]
    >>> implausible_vitals("BP 120/2, heart rate 72, temp 98.6, SpO2 97 %")
    [('diastolic blood pressure', 2.0)]
    """
    return [(vital.name, value) for vital, value in written_vitals(text) if not fits(vital, value)]


def misplaced_vitals(text: str, stated: frozenset[str]) -> list[tuple[str, float]]:
    """Values `text` writes as a vital sign that the visit does not state for that vital, as (vital, value);
    `stated` holds the visit's "name=value" tags (`stated_vitals`). Implausible values are misplaced too.

    >>> misplaced_vitals("Blood pressure: 58. Pulse 72.", stated_vitals("pulse is 72. i'm 58 years old"))
    [('blood pressure', 58.0)]
    """
    said = {name: {float(value) for value in values} for name, values in vital_values(stated).items()}
    return [
        (vital.name, value)
        for vital, value in written_vitals(text)
        if not fits(vital, value) or value not in said.get(stated_name(vital), ())
    ]


def vital_values(stated: Iterable[str]) -> dict[str, frozenset[str]]:
    """The "name=value" tags among `stated` (`stated_vitals`, or `dialogue_numbers`' whole set), by name.

    >>> sorted(vital_values({"72", "heart rate=72", "blood pressure=120", "blood pressure=80"})["blood pressure"])
    ['120', '80']
    """
    values: dict[str, set[str]] = {}
    for tag in stated:
        name, tagged, value = tag.partition("=")
        if tagged:
            values.setdefault(name, set()).add(value)
    return {name: frozenset(found) for name, found in values.items()}
