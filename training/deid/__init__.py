"""De-identification of dialogues and notes before anything reaches training data.

Pure Python (no Django, no network, no model) so it runs inside the web worker, a Ray actor
or a notebook alike. `deidentify_example` scrubs one example's dialogue and notes together so
that the same identifier gets the same placeholder everywhere in that example: a name said in
the dialogue and repeated in the signed note both become ``[NAME-1]``.

What is removed (HIPAA Safe Harbor categories that occur in clinical conversations): personal
names (found from context such as "my name is", titles, greetings, relatives, non-role speaker
labels, plus a built-in list of common first and last names), dates more specific than a year,
ages over 89 (aggregated to "90+"), phone and fax numbers, emails, URLs, IP addresses, street
addresses and places of residence, ZIP codes, and record/account/SSN/ID numbers.

Placeholders rather than realistic surrogates: a placeholder can never collide with a real
person and makes a leak obvious on review, at the cost of slightly unnatural training text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from training.deid.lexicon import (
    AMBIGUOUS_NAMES,
    COMMON_FIRST_NAMES,
    COMMON_LAST_NAMES,
    EPONYM_CONTEXT,
    FIRST_NAMES_EXTENDED,
    LAST_NAMES_EXTENDED,
    NAME_FOLLOWERS,
    NAMES_LOWER,
    NOT_AFTER_RELATIVE,
    NOT_NAMES,
    NOT_NAMES_EXTENDED,
    ROLE_SPEAKERS,
    US_STATES,
)

__all__ = ["DeidError", "Deidentifier", "DeidResult", "deidentify_example", "find_residual_identifiers"]


class DeidError(ValueError):
    """Scrubbed text still looks like it carries an identifier; the caller must not store it."""


# --- structured identifiers -------------------------------------------------------------------

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_WEEKDAY = r"(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?\s+)?"
_YEAR = r"(?:19|20)\d{2}"
_ORDINAL = (
    r"(?:(?:twenty|thirty)[- ])?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|tenth|eleventh|"
    r"twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth"
)
# Upper-case letters of the Latin, Greek and Cyrillic scripts: names are not only ASCII (Zoë Ølstad).
_UPPER = "[" + "".join(sorted({c for c in map(chr, range(0x41, 0x530)) if c.isupper()})) + "]"

_DATE_PATTERNS = [
    # 2024-03-14, 2024/03/14
    rf"\b{_YEAR}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b",
    # 03/14/2024, 3-14-24, 14.03.2024
    r"\b(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|[12]\d|3[01])[/.-](?:\d{4}|\d{2})\b",
    # Tuesday, March 14th, 2024 / March 14 2024 / Mar. 14 / March the 14th
    rf"\b{_WEEKDAY}{_MONTHS}\s+(?:the\s+)?{_DAY}(?:,?\s+{_YEAR})?\b",
    # 14 March 2024 / the 14th of March, 2024 / 14th of March
    rf"\b{_WEEKDAY}(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTHS}(?:,?\s+{_YEAR})?\b",
    # March 2024 / March of 2024
    rf"\b{_MONTHS}\s+(?:of\s+)?{_YEAR}\b",
    # 3/14 (month/day) only after a date cue, to spare ratios such as 120/80
    r"(?<=\bon )(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])\b(?!/)",
    r"(?:(?<=\bDOB )|(?<=\bDOB: ))(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])\b(?!/)",
    # 14-Mar-2024, 02-NOV-21, 3 mar 2023
    rf"(?i:\b{_DAY}[-\s]{_MONTHS}[-\s](?:\d{{4}}|\d{{2}})\b)",
    # transcripts in lower case, spelled-out days: "june 5th", "january the 9th", "march fourteenth"
    rf"(?i:\b{_WEEKDAY}{_MONTHS}\s+(?:the\s+)?(?:{_ORDINAL}|{_DAY}\b)(?:,?\s+{_YEAR})?)",
    rf"(?i:\b(?:the\s+)?(?:{_ORDINAL}|{_DAY})\s+of\s+{_MONTHS}(?:,?\s+{_YEAR})?)",
    rf"(?i:\b{_MONTHS}\s+(?:of\s+)?{_YEAR}\b)",
    # month/year: "started insulin 11/2019"
    rf"\b(?:0?[1-9]|1[0-2])/{_YEAR}\b",
]

_EMAIL = r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"
# said aloud: "john dot smith at gmail dot com", "maria.lopez AT hospital DOT org"
_SPELLED_EMAIL = (
    r"(?i:\b[\w.+-]+(?:\s+(?:dot|underscore|dash|hyphen)\s+[\w+-]+)*\s+at\s+[\w-]+(?:\s+dot\s+[\w-]+)*"
    r"\s+dot\s+(?:com|org|net|edu|gov|co|uk|io|us|ca|de|fr|es|nl|au|info|me)\b)"
)
_URL = r"\b(?:https?://|www\.)[^\s<>\"')\]]+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|edu|health|io|us)(?:/[^\s<>\"')\]]*)?"
_IPV4 = r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
_IPV6 = r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4})?\b"
_SSN = (
    r"\b\d{3}-\d{2}-\d{4}\b|(?<=SSN )\d{9}\b|(?i:(?<=social security number )|(?<=social security )|(?<=ssn: ))\d{9}\b"
)
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_SPELLED_PHONE = rf"(?i:\b{_DIGIT_WORD}(?:[\s,.-]+{_DIGIT_WORD}){{6,}}\b)"
_PAGER = r"(?i:(?<=pager )|(?<=beeper )|(?<=bleep )|(?<=extension )|(?<=ext\. )|(?<=ext ))\d[\d-]{3,}\b"
_PHONE = (
    r"(?:(?<=\s)|(?<=^)|(?<=[(:,]))(?:\+?1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]?\d{3}[\s.-]\d{4}\b(?:\s*(?:x|ext\.?)\s*\d{1,5})?"
    r"|\+\d{1,3}(?:[\s.-]\d{1,4}){2,5}\b"
    r"|\b1-8(?:00|33|44|55|66|77|88)-\d{3}-\d{4}\b"
)
_ID_CUE = (
    r"(?:MRN|medical record(?: number| no\.?| #)?|record(?: number| no\.?| #)|chart(?: number| no\.?| #)|"
    r"account(?: number| no\.?| #)?|acct\.?(?: #| no\.?)?|patient id|member id|member number|policy(?: number| #)?|"
    r"insurance id|subscriber id|group(?: number| #)|license(?: number| #)?|DL|passport(?: number| #)?|"
    r"claim(?: number| #)|case(?: number| #)|encounter(?: number| #)|visit(?: number| #)|ID|NPI|DEA|"
    r"serial(?: number| #)?|device id|vin|plate(?: number)?|medicare(?: number| id)?|medicaid(?: number| id)?)"
)
_ID_WITH_CUE = (
    rf"(?i:\b{_ID_CUE})(?:\s*(?:is|was|:|#|number|no\.?|=))*\s*(?P<id>[A-Za-z]{{0,4}}[-#]?\d[\dA-Za-z-]{{3,}})"
)
_LONG_NUMBER = r"\b\d{7,}\b|\b\d[\d -]{6,}\d\b"  # 7+ digits, or 8+ characters with separators
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Loop|Row|Alley)"
)
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|Room|Rm|Floor|Fl|#)\.?\s*#?\s*[\w-]+)?"
_CITY_STATE_ZIP = r"(?:,?\s+(?:[A-Z][a-z]+\s){0,2}[A-Z][a-z]+,?\s+(?:[A-Z]{2}|[A-Z][a-z]+)(?:\s+\d{5}(?:-\d{4})?)?)?"
_MEASURE = (
    r"(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|blocks?|miles?|km|meters?|feet|steps?|flights?|"
    r"times?|mg|pills?|tablets?|tabs?|capsules?|puffs?|units?|cups?|glasses?|drinks?|cigarettes?|packs?|kids?)"
)
_ADDRESS = (
    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][\w'’]*\.?\s+){{1,4}}{_STREET_SUFFIX}\b\.?{_UNIT}"
    rf"{_CITY_STATE_ZIP}"
    r"|\b(?i:P\.?\s?O\.?\s+Box)\s+\d+"
    # lower case, as speech recognition writes it: "42 maple street" (not "20 minutes down the road")
    rf"|(?i:\b\d{{1,6}}[a-z]?\s+(?!{_MEASURE}\b)(?:[a-z][\w'’]*\s+){{1,3}}"
    r"(?:street|avenue|road|lane|drive|court|boulevard|terrace|circle|parkway|st|ave|rd|ln|blvd)\b\.?)"
    # street-first countries: "77 Rue de Rivoli", "12 Calle Mayor"
    r"|(?i:\b\d{1,5},?\s+(?:rue|avenue|boulevard|chemin|calle|avenida|rua|via|viale|piazza|strasse|straße|ulica)"
    r"(?:\s+[^\W\d_][\w'’-]*){1,4})"
)
# UK and Canadian postcodes, and a European postcode written before its town after a comma
_POSTCODE = rf"\b[A-Z]{{1,2}}\d[A-Z\d]?\s+\d[A-Z]{{2}}\b|\b[A-Z]\d[A-Z]\s\d[A-Z]\d\b|(?<=, )\d{{4,5}}(?=\s+{_UPPER})"
_ZIP = (
    rf"(?:(?<=\b(?:{'|'.join(sorted(US_STATES))}) )|(?i:(?<=zip )|(?<=zip: )|(?<=zip code )|(?<=zip code is )|"
    r"(?<=postal code )|(?<=zipcode )))\d{5}(?:-\d{4})?\b|\b\d{5}-\d{4}\b"
)
_RESIDENCE = (
    r"(?i:\b(?:(?:live|lives|living|lived|moved|move|staying|stay|grew up|born|from|reside|resides)\s+"
    r"(?:here\s+)?(?:in|to|at|from|near|outside|over in)|(?:I'm|I am|we're|we are|he's|she's|originally|came|comes)"
    r"\s+from)\s+)"
    rf"(?P<place>(?:{_UPPER}[^\W\d_]+)(?:\s+{_UPPER}[^\W\d_]+){{0,2}})"
)

_WORD_AGES = "|".join(["ninety", "a hundred", "one hundred", "hundred"])
_AGE_UNIT = r"(?:[- ]?(?:years?|yrs?|yo\b|y/o|y\.o\.)(?:[- ]old)?)"
_AGE_NUMBER = r"(?:9\d|1[01]\d)(?!\+)"
_AGE_PATTERNS = [
    rf"\b(?P<n>{_AGE_NUMBER}){_AGE_UNIT}",
    rf"(?i:\b(?:aged?|age:|I'm|I am|she's|he's|she is|he is|turned|turning|will be|she'll be|he'll be|I'll be)\s+)"
    rf"(?P<n>{_AGE_NUMBER})\b"
    r"(?!\s*(?:%|percent|kg|kilos?|lbs?|pounds|mg|mmhg|bpm|degrees|over|/|\.\d|minutes|mins|days|weeks|times))",
    rf"(?i:\b(?P<n>(?:{_WORD_AGES})(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?)"
    rf"(?:[- ]and[- ]\w+)?{_AGE_UNIT})",
]

# --- names --------------------------------------------------------------------------------------

_NAME_TOKEN = rf"{_UPPER}(?:[^\W\d_]|['’-](?=[^\W\d_]))+"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof|Rev)\.?|Miss|Doctor|Professor|Nurse|Sister|Father|Officer|Judge|Coach)"
_RELATIVE = (
    r"(?:wife|husband|partner|spouse|son|daughter|mother|mom|mum|father|dad|brother|sister|boyfriend|girlfriend|"
    r"fianc[eé]e?|friend|neighbou?r|caregiver|carer|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|"
    r"aunt|uncle|cousin|niece|nephew|boss|coworker|colleague|roommate|kid|child|baby|stepson|stepdaughter|"
    r"doctor|physician|therapist|cardiologist|oncologist|surgeon|dentist|pharmacist|nurse|GP|PCP)"
)
_NAME_CONTEXTS = [
    rf"\b{_TITLE}\s+(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN})?)",
    rf"(?i:\b(?:my name is|my name's|name is|name's|call me|goes by|I'm|I am|this is|"
    rf"speaking with|talking to|ask for|asked for)\s+)(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN})?)",
    rf"(?i:\b(?:my|his|her|your|their|our)\s+{_RELATIVE},?\s+)(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN})?)",
    rf"(?i:\b(?:hi|hello|hey|good morning|good afternoon|good evening|morning|afternoon|evening|thanks|thank you|"
    rf"bye|goodbye|welcome|nice to meet you|see you|take care)),?\s+(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN})?)",
    rf"(?i:\b(?:patient name|name|emergency contact|next of kin|guardian|signed by|attending|referred by|"
    rf"contact person)\s*:\s*)(?P<name>{_NAME_TOKEN}(?:,?\s+{_NAME_TOKEN}){{0,2}})",
    # copy lists: "Cc: Leopold Vanderbilt, Oksana Petrenko"
    rf"(?i:\b(?:cc|copies to|copy to)\s*:\s*)(?P<name>{_NAME_TOKEN}(?:,?\s+(?:and\s+)?{_NAME_TOKEN}){{0,7}})",
    # lower-case transcripts: "my name is maria lopez"
    r"(?i:\bmy name is\s+)(?P<lname>[a-z][a-z'-]+(?:\s+[a-z][a-z'-]+)?)",
]
_LOWER_WORD = r"[^\W\d_][^\W\d_'’-]*"
# Lower-case transcripts ("my husband reginald", "hi , susan ,", "mister thompson"): the word after the
# cue is a name when the name lists know it, or when it stands between commas after a relative.
_LOWER_NAME_CONTEXTS = [
    rf"(?i:\b(?:my|his|her|your|their|our)\s+{_RELATIVE}\s*(?P<comma>,)?\s*)(?P<w>{_LOWER_WORD})(?P<after>\s*,)?"
    rf"(?:\s+(?P<w2>{_LOWER_WORD}))?",
    rf"(?i:\b(?:hi|hello|hey|morning|afternoon|evening|thanks|thank you|bye|goodbye|welcome)\s*,?\s*)"
    rf"(?P<w>{_LOWER_WORD})(?:\s+(?P<w2>{_LOWER_WORD}))?",
    rf"(?i:\b(?:mister|missus|mr|mrs|ms|miss|dr|doctor)\.?\s+)(?P<w>{_LOWER_WORD})(?:\s+(?P<w2>{_LOWER_WORD}))?",
]


@dataclass
class DeidResult:
    """One scrubbed example plus what was replaced (counts per kind; never the originals)."""

    dialogue: list[dict[str, str]]
    notes: dict[str, dict[str, str]]
    counts: dict[str, int] = field(default_factory=dict)


class Deidentifier:
    """Scrubs texts with one consistent placeholder map (one instance per example).

    Call `learn_names` on every text of the example first (so a name found in one place is
    replaced in all), then `scrub` each text.
    """

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        self.names: set[str] = set()
        self.places: set[str] = set()
        self.counts: dict[str, int] = {}

    # -- placeholders
    def placeholder(self, kind: str, original: str) -> str:
        key = (kind, _normalise(kind, original))
        if key not in self._placeholders:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            self._placeholders[key] = f"[{kind}-{self._counters[kind]}]"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return self._placeholders[key]

    # -- learning names from context
    def learn_speaker(self, speaker: str) -> None:
        """A speaker label that is not a role ("maria lopez", "Dr Patel") is a name."""
        words = re.findall(r"[A-Za-z][A-Za-z'’-]+", speaker)
        if not words or speaker.strip().lower() in ROLE_SPEAKERS:
            return
        for word in words:
            if word.lower() not in ROLE_SPEAKERS and word.lower().rstrip(".") not in _TITLE_WORDS:
                self._add_name(word.capitalize(), force=True)

    def learn_names(self, text: str) -> None:
        for pattern in _NAME_CONTEXTS:
            for match in re.finditer(pattern, text):
                groupdict = match.groupdict()
                if groupdict.get("lname"):
                    for word in groupdict["lname"].split():
                        if word.lower() in _LOWER_STOP:
                            break
                        self._add_name(word.capitalize(), force=True)
                    continue
                if re.match(EPONYM_CONTEXT, text[match.end() :]):
                    continue
                for word in re.split(r"[\s,]+", groupdict["name"]):
                    if not self._add_name(word):
                        break
        for pattern in _LOWER_NAME_CONTEXTS:
            for match in re.finditer(pattern, text):
                word, second = match.group("w"), match.group("w2")
                groups = match.groupdict()
                apposition = bool(groups.get("comma") and groups.get("after"))  # "my mom, evangeline, ..."
                verb_follows = "comma" in groups and bool(second) and second.lower() in NAME_FOLLOWERS
                unsure = word.lower() in _LOWER_STOP or word.lower() in NOT_AFTER_RELATIVE
                if word.lower() in NAMES_LOWER or ((apposition or verb_follows) and not unsure):
                    self._add_name(word.capitalize(), force=True)
                    surname = second and second.lower() in NAMES_LOWER and second.lower() not in _LOWER_STOP
                    if surname and not groups.get("after"):
                        self._add_name(second.capitalize(), force=True)
        for match in re.finditer(_RESIDENCE, text):
            place = match.group("place")
            words = place.split()
            while words and words[-1] in NOT_NAMES:
                words.pop()
            if words and words[0] not in NOT_NAMES:
                self.places.add(" ".join(words))
        # A common first name followed by a capitalised word: that word is the surname.
        for match in re.finditer(rf"\b(?P<first>{_NAME_TOKEN})\s+(?P<last>{_NAME_TOKEN})", text):
            first, last = match.group("first"), match.group("last")
            known_first = first in COMMON_FIRST_NAMES or first in self.names or first in FIRST_NAMES_EXTENDED
            known_last = last in LAST_NAMES_EXTENDED and not first.isupper()  # "Tamsin Holloway"
            ordinary = (
                {first, last} & (NOT_NAMES | NOT_NAMES_EXTENDED) or first.lower() in AMBIGUOUS_NAMES and not known_first
            )
            if (known_first or known_last) and not ordinary and not re.match(EPONYM_CONTEXT, text[match.end() :]):
                self._add_name(first, force=True)
                self._add_name(last, force=True)

    def _add_name(self, word: str, *, force: bool = False) -> bool:
        word = word.strip("'’.,-")
        if len(word) < 2 or word in NOT_NAMES or word.lower() in _TITLE_WORDS:
            return False
        if word.isupper() and not force:  # acronyms (ECG, COPD) after a greeting are not names
            return False
        self.names.add(word)
        return True

    # -- scrubbing
    def scrub(self, text: str) -> str:
        if not text:
            return text
        text = self._sub(_SPELLED_EMAIL, "EMAIL", text)
        text = self._sub(_EMAIL, "EMAIL", text)
        text = self._sub(_URL, "URL", text)
        text = self._sub(_IPV4, "IP", text)
        text = self._sub(_IPV6, "IP", text)
        text = self._sub(_SSN, "ID", text)
        text = self._sub_group(_ID_WITH_CUE, "id", "ID", text)
        text = self._sub(_ADDRESS, "ADDRESS", text)
        text = self._sub(_ZIP, "ZIP", text)
        text = self._sub(_POSTCODE, "ZIP", text)
        text = self._sub(_SPELLED_PHONE, "PHONE", text)
        text = self._sub(_PAGER, "PHONE", text)
        text = self._sub(_PHONE, "PHONE", text)
        for pattern in _DATE_PATTERNS:
            text = self._sub(pattern, "DATE", text)
        text = self._sub(_LONG_NUMBER, "ID", text)
        for pattern in _AGE_PATTERNS:
            text = re.sub(pattern, self._age_repl, text)
        text = self._sub_names(text)
        return text

    def scrub_speaker(self, speaker: str) -> str:
        if speaker.strip().lower() in ROLE_SPEAKERS:
            return speaker
        return self._sub_names(speaker, ignore_case=True)

    def _sub(self, pattern: str, kind: str, text: str) -> str:
        return re.sub(pattern, lambda m: self.placeholder(kind, m.group(0)), text)

    def _sub_group(self, pattern: str, group: str, kind: str, text: str) -> str:
        def repl(match: re.Match[str]) -> str:
            start, end = match.span(group)
            offset = match.start()
            whole = match.group(0)
            return whole[: start - offset] + self.placeholder(kind, match.group(group)) + whole[end - offset :]

        return re.sub(pattern, repl, text)

    def _age_repl(self, match: re.Match[str]) -> str:
        start, end = match.span("n")
        offset = match.start()
        whole = match.group(0)
        self.counts["AGE"] = self.counts.get("AGE", 0) + 1
        return whole[: start - offset] + "90+" + whole[end - offset :]

    def _sub_names(self, text: str, *, ignore_case: bool = False) -> str:
        for place in sorted(self.places, key=len, reverse=True):
            text = re.sub(rf"\b{re.escape(place)}\b", lambda m: self.placeholder("LOCATION", m.group(0)), text)
        known = self.names | _listed_names_in(text)
        if not known:
            return text
        # Case-insensitive replacement for learnt names, except ones that are also English words.
        insensitive = sorted((n for n in known if n.lower() not in AMBIGUOUS_NAMES), key=len, reverse=True)
        sensitive = sorted((n for n in known if n.lower() in AMBIGUOUS_NAMES), key=len, reverse=True)
        if insensitive:
            pattern = r"(?<![\[\w-])(" + "|".join(map(re.escape, insensitive)) + r")(?![\w\]])"
            text = re.sub(pattern, lambda m: self.placeholder("NAME", m.group(0)), text, flags=re.IGNORECASE)
        if sensitive:
            pattern = r"(?<![\[\w-])(" + "|".join(map(re.escape, sensitive)) + r")(?![\w\]])"
            flags = re.IGNORECASE if ignore_case else 0
            text = re.sub(pattern, lambda m: self.placeholder("NAME", m.group(0)), text, flags=flags)
        return text


_TITLE_WORDS = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "prof", "professor", "nurse", "sister", "father", "rev",
    "officer", "judge", "coach",
}  # fmt: skip
_LOWER_STOP = {
    "and", "i", "im", "i'm", "the", "a", "an", "is", "was", "here", "today", "for", "from", "with", "um", "uh",
    "so", "but", "yes", "no", "ok", "okay", "doctor", "nurse", "patient", "calling", "about", "my", "in", "at",
}  # fmt: skip


def _normalise(kind: str, original: str) -> str:
    if kind in {"PHONE", "ID", "ZIP"}:
        return re.sub(r"\D", "", original) or original.lower()
    return re.sub(r"\s+", " ", original.strip().lower().rstrip("."))


def _listed_names_in(text: str) -> set[str]:
    """Capitalised words from the built-in name lists, unless they are eponyms ("Parkinson's disease")."""
    found: set[str] = set()
    for match in re.finditer(rf"\b{_UPPER}[^\W\d_'’]+\b", text):
        word = match.group(0)
        if word.lower() in AMBIGUOUS_NAMES or word in NOT_NAMES:
            continue
        if (word in COMMON_FIRST_NAMES or word in COMMON_LAST_NAMES) and not re.match(
            EPONYM_CONTEXT, text[match.end() :]
        ):
            found.add(word)
    return found


_RESIDUAL_CHECKS = {
    "email": re.compile(_EMAIL),
    "spelled-out email": re.compile(r"(?i)\bat\s+[\w-]+\s+dot\s+(?:com|org|net|edu|gov)\b"),
    "date": re.compile(r"(?i)\b\d{1,2}-(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*-\d{2,4}\b"),
    "phone": re.compile(r"\(?\b[2-9]\d{2}\)?[\s.-]\d{3}[\s.-]\d{4}\b"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "url": re.compile(r"\b(?:https?://|www\.)\S+"),
    "long number": re.compile(r"\b\d{7,}\b"),
}


def find_residual_identifiers(text: str) -> list[str]:
    """Kinds of identifier that a scrubbed text still contains (a last check before storing)."""
    return [kind for kind, pattern in _RESIDUAL_CHECKS.items() if pattern.search(text)]


def deidentify_example(
    dialogue: Sequence[Mapping[str, Any]],
    notes: Mapping[str, Mapping[str, str] | None],
) -> DeidResult:
    """Scrub one example's dialogue and its notes with one consistent placeholder map.

    `dialogue` is a list of {speaker, text}; `notes` maps a label ("generated", "signed") to a
    {S, O, A, P} dict (None entries are kept as None). Raises `DeidError` if any output still
    matches a residual-identifier check, so callers never store a half-scrubbed example.
    """
    scrubber = Deidentifier()
    turns = [{"speaker": str(t.get("speaker", "")), "text": _clean(t.get("text", ""))} for t in dialogue]
    note_items = {
        label: None if note is None else {key: _clean(value) for key, value in note.items()}
        for label, note in notes.items()
    }
    for turn in turns:
        scrubber.learn_speaker(turn["speaker"])
    # One pass over all texts joined by a separator no pattern can cross: a few regex passes per
    # example instead of a few per turn (about 20x faster on long dialogues).
    texts = _all_texts(turns, note_items)
    joined = _SEPARATOR.join(texts)
    scrubber.learn_names(joined)
    scrubbed = scrubber.scrub(joined).split(_SEPARATOR)
    if len(scrubbed) != len(texts):  # cannot happen unless a pattern matched the separator
        scrubbed = [scrubber.scrub(text) for text in texts]
    parts = iter(scrubbed)
    out_turns = [{"speaker": scrubber.scrub_speaker(t["speaker"]), "text": next(parts)} for t in turns]
    out_notes: dict[str, Any] = {
        label: None if note is None else {key: next(parts) for key in note} for label, note in note_items.items()
    }
    result = DeidResult(dialogue=out_turns, notes=out_notes, counts=dict(scrubber.counts))
    if find_residual_identifiers(_SEPARATOR.join(scrubbed)):
        for where, text in _labelled_texts(result):
            leftovers = find_residual_identifiers(text)
            if leftovers:
                raise DeidError(
                    f"de-identification left {', '.join(leftovers)} in {where}; the example was not stored. "
                    "Add the pattern to training/deid and re-run the collection."
                )
    return result


_SEPARATOR = "\n\x00\n"


def _clean(value: Any) -> str:
    return str(value if value is not None else "").replace("\x00", "")


def _all_texts(turns: Iterable[Mapping[str, str]], notes: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    texts = [t["text"] for t in turns]
    for note in notes.values():
        if note:
            texts.extend(str(v) for v in note.values())
    return texts


def _labelled_texts(result: DeidResult) -> list[tuple[str, str]]:
    out = [(f"dialogue turn {i + 1}", t["text"]) for i, t in enumerate(result.dialogue)]
    for label, note in result.notes.items():
        if note:
            out.extend((f"{label} note section {key}", str(value)) for key, value in note.items())
    return out
