"""The examination findings and results a clinician says aloud during a visit, as note sentences.

Real visits carry their Objective in the doctor's own words: "so on exam you do have some tenderness
over the medial portion of your knee", "looking at your x-ray, there's no fracture", "your blood
pressure today is a little elevated". The 135M default model rarely writes them: on ACI-Bench valid its
Objective retold the history ("The patient is a twin, so are these her first two babies.") and scored
ROUGE-1 11.8 against the clinicians' Objective. Constrained decoding therefore opens the Objective with
the findings said in the visit (`inference.constrained.FindingsPrefix`), and the model writes the other
sections after reading them.

`dictated_findings(turns)` keeps the doctor's sentences (or any speaker's, when the transcript has no
speaker labels) that name an examination, a measurement or a result and are not a question, an
instruction, the history or the plan; removes fillers and false starts; writes spoken numbers as digits
("three out of six" -> "3/6"); and turns the second person into note form ("your lungs are clear" ->
"the lungs are clear", "you have a positive straight leg raise" -> "a positive straight leg raise").
Every word it writes is the visit's (or "the", "/"), so it can state nothing the visit does not.
A visit whose exam is not said aloud gives "" and the model writes the Objective as before.
Django-free and model-free: a pure function of the dialogue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from inference.spoken_numbers import normalize_spoken_numbers

# The most characters of findings the Objective opens with: about the Objective's token budget at the
# default 1,024 new tokens (168 tokens); ACI-Bench train's clinicians write a median 368 characters there.
FINDINGS_MAX_CHARS = 700

# What makes a sentence a finding: an examination, a measurement, a test or a sign.
_FINDING = re.compile(
    r"\b(exam(?:ination|ined|ining)?|x-?rays?|ekg|ecg|echo(?:cardiogram)?|labs?|lab work|blood work|results?|mri|"
    r"ct|cat scan|ultrasound|vitals?|vital signs|blood pressure|heart rate|pulse|temperature|oxygen|saturation|"
    r"a1c|hemoglobin|cholesterol|ldl|creatinine|tender(?:ness)?|swelling|swollen|edema|murmur|lungs?|"
    r"auscultation|wheez\w*|crackles|rales|range of motion|strength|sensation|reflexes|rash|lesion|erythema|"
    r"effusion|fracture|bruising|ecchymosis|abdomen|distended|pulses|capillary refill|thyroid|lymph|"
    r"regular rate|rhythm|bowel sounds|gait|incision|wound|drainage)\b",
    re.IGNORECASE,
)
# What a finding says about its subject: a sign, a judgement or a number ("On the x-ray and the exam." says none).
_SUBSTANCE = re.compile(
    r"\d|\b(no|not|nor|without|negative|positive|normal|abnormal|elevated|high|low|good|fine|stable|clear|"
    r"intact|tender(?:ness)?|pain|swelling|swollen|edema|murmur|crackles|wheez\w*|rales|rash|erythema|bruising|"
    r"ecchymosis|effusion|fracture|dislocation|mass|lesion|enlarged|decreased|increased|limited|full|"
    r"mild|moderate|severe|regular|irregular|soft|distended|warm|redness|fluid|bruit|adenopathy|"
    r"lymphadenopathy|thyromegaly|distention|distension|nourished|shows?|showed|reveals?|revealed|"
    r"demonstrat\w*|\w+itis|\w+osis|\w+emia)\b",
    re.IGNORECASE,
)
# Talk to the patient, questions and what the doctor will do: not findings.
_DIRECTED = re.compile(
    r"\b(let's|let me|lemme|i'm going to|i am going to|i'm gon na|i want to|i'd like to|can you|could you|"
    r"would you|show me|hey dragon|take a look|look at|we'll|we will|we're going to|going to|gon na|i'll|"
    r"i will|you should|make sure|do you|did you|have you|are you|tell me|wanted to|want you|i know|"
    r"remember|i just|talk about|been having|you've been|you have been|you said|you mentioned|you told|"
    r"template|hear me|wan na|please|my (?!exam)\w+|i'm doing|thank you|go ahead)\b",
    re.IGNORECASE,
)
# The history and the assessment and plan have their own sections.
_OTHER_SECTION = re.compile(
    r"\b(presents?|presenting|history|year-old|year old|here today|comes? in|in summary|assessment|"
    r"impression|i think|diagnos\w*|plan|recommend\w*|prescri\w*|refer\w*|follow up|follow-up|come back|"
    r"schedule|order(?:ed)?|start you|continue|increase|decrease|medication|surgery)\b",
    re.IGNORECASE,
)
_FILLERS = re.compile(
    r"(?<![\w'])(uh|um|uhm|umm|er|mm-hmm|mhm|hmm|you know|i mean|kind of|sort of)(?![\w'])\s*,?\s*", re.IGNORECASE
)
_LEAD = re.compile(r"^(?:(?:so|and|now|well|okay|ok|alright|all right|yeah|yes|but|also|then)\b[\s,]*)+", re.IGNORECASE)
_REWRITES = [
    (re.compile(r"^(?:(?:so|and|okay|alright|now)\b[\s,]*)*(?:we'll|i'll|we will|i will) say(?: that)?\s*", re.I), ""),
    (re.compile(r"\b(\w+)-(?=[\s.,]|$)"), r"\1"),  # a cut word: "you- that's good", "in the past-."
    (re.compile(r"\b(\d+(?:\.\d+)?) out of (\d+)\b"), r"\1/\2"),  # "2 out of 6" -> "2/6"
    (re.compile(r"\bi (?:do |can |also )?(?:appreciate|hear|feel|see|notice|note)\b(?: that)?\s*", re.I), ""),
    (re.compile(r"\byou (?:do |also |still )?have\b,?\s*", re.I), ""),
    (re.compile(r"\byour\b", re.I), "the"),
]
_SPACING = [
    (re.compile(r"\s+([,.;:?!%])"), r"\1"),  # ACI-Bench's " ," and " ."
    (re.compile(r"\b(\w+) n't\b"), r"\1n't"),  # "do n't"
    (re.compile(r"\s+'(s|re|ve|ll|d|m)\b"), r"'\1"),
    (re.compile(r",(\s*,)+"), ","),
    (re.compile(r"\s{2,}"), " "),
    (re.compile(r"\b(\w+)(?:,? \1\b)+", re.I), r"\1"),  # a word said twice: "the, the", "no no"
]
_SENTENCE = re.compile(r"(?<=[.?!])\s+")
# "so we'll say you have some mild tenderness ...": the doctor dictating, not a promise to the patient
_DICTATION = re.compile(r"\b(?:we'll|i'll|we will|i will) say(?: that)?\b", re.IGNORECASE)
# A long spoken run (speech recognition often writes no full stops) is judged clause by clause: split at
# commas, at "okay"/"alright"/"so", and before an examiner's cue ("looking at", "listening to").
_CLAUSE = re.compile(
    r"\s*,\s*|\s+(?=(?:okay|alright|all right|so|now|looking at|listening to|feeling|on (?:my |your |the )?exam)\b)",
    re.IGNORECASE,
)
_LONG_WORDS = 30
_DANGLING = re.compile(r"(?:[\s,]+(?:and|but|or|so|the|to|that|which|with|of|a))+[.]?$", re.IGNORECASE)
# A question the transcript did not mark with "?" ("so is it tender ..."), after any "so", "okay".
_QUESTION = re.compile(
    r"^(?:(?:so|and|okay|alright|now|um|uh)\b[\s,]*)*(?:is|are|do|does|did|can|could|how|what|where|when|why|"
    r"have|has|any)\b",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\"\\]")
_MAX_WORDS = 60  # a longer "sentence" is an unpunctuated transcript run, not one finding
_MIN_WORDS = 3


def _note_form(sentence: str) -> str:
    """One spoken finding as a note sentence: fillers out, numbers as digits, second person out."""
    text = _FILLERS.sub("", sentence)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    for pattern, replacement in _SPACING:
        text = pattern.sub(replacement, text)
    text = _CONTROL.sub(" ", text)
    text = _LEAD.sub("", text.strip(" ,;")).strip(" ,;")
    text = _DANGLING.sub("", text).strip(" ,;")
    text = re.sub(r"\bi\b", "I", text)
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!" else text.rstrip("?") + "."


def is_finding(sentence: str) -> bool:
    """Whether one spoken sentence states an examination finding or a result (see the module docstring)."""
    sentence = _DICTATION.sub("", sentence)
    words = sentence.split()
    if not _MIN_WORDS < len(words) <= _MAX_WORDS or sentence.rstrip().endswith("?") or _QUESTION.match(sentence):
        return False
    return bool(_FINDING.search(sentence)) and not _DIRECTED.search(sentence) and not _OTHER_SECTION.search(sentence)


def dictated_findings(turns: Iterable[Any] | str, max_chars: int = FINDINGS_MAX_CHARS) -> str:
    """The findings said in a visit, in the order said, as note sentences ("" when none is said).

    `turns` is a list of turns (Turn objects or {speaker, text} dicts); the doctor's turns are read, or
    every turn when no speaker is labelled doctor. Plain text (no turns) gives "". At most `max_chars`
    characters, whole sentences only; a sentence said twice is kept once.
    """
    if isinstance(turns, str):
        return ""
    said = [(_field(t, "speaker").lower(), _field(t, "text")) for t in turns]
    doctor = any(speaker == "doctor" for speaker, _ in said)
    out: list[str] = []
    seen: set[str] = set()
    length = 0
    for speaker, text in said:
        if doctor and speaker != "doctor":
            continue
        for sentence in _sentences(text):
            if not is_finding(sentence):
                continue
            written = _note_form(sentence)
            key = written.lower()
            if len(written.split()) < _MIN_WORDS or key in seen or not _SUBSTANCE.search(written):
                continue
            if length + len(written) + 1 > max_chars:
                return " ".join(out)
            seen.add(key)
            out.append(written)
            length += len(written) + 1
    return " ".join(out)


def _sentences(text: str) -> list[str]:
    """A turn's sentences; one over _LONG_WORDS words is split into its clauses (see _CLAUSE)."""
    out: list[str] = []
    text = normalize_spoken_numbers(text)
    for sentence in _SENTENCE.split(text.strip()):
        if len(sentence.split()) <= _LONG_WORDS:
            out.append(sentence)
            continue
        out.extend(clause for clause in _CLAUSE.split(sentence) if clause.strip())
    return out


def _field(turn: Any, name: str) -> str:
    """A turn's speaker or text, from a Turn object or a {speaker, text} dict."""
    value = turn.get(name, "") if isinstance(turn, Mapping) else getattr(turn, name, "")
    return str(value or "")
