"""Realistic offline renderer: long, rambling, speech-recognised visits like ACI-Bench's, no model needed.

What makes it look like the real thing (measured against ACI-Bench train by
``benchmarks/synthesis_gap.py``):

* **Not every fact is said.** `realize()` first decides what this visit states: most visits say no
  vital sign at all (as in ACI-Bench, where most notes have none), some read a few out, some say
  only "your vitals look good"; allergies, family and social history and the differential are
  asked about only in some visits. The case keeps only the stated facts, so the gold facts and the
  clinician-style note (`note_clinical.py`) never hold anything the dialogue does not say.
* **Three kinds of visit**, after ACI-Bench's sources: a conversation (no punctuation at all, like
  its ``aci`` part), an ambient-assistant visit ("hey , dragon , show me the vital signs", the
  doctor introducing the patient to "dax") and a dictated one (the doctor dictating the patient's
  summary and the exam), the latter two in ACI-Bench's spaced style ("how are you ?", "did n't").
* **Speech**: small talk, backchannels ("mm-hmm ."), interruptions ("so what i want to do is-"),
  hedging ("um", "you know", "i guess"), repeated and cut-off words ("i , i", "t- taking"),
  occasional mis-recognised words ("hear rate", "there" for "their"), the doctor dictating the
  exam ("on exam , ...") and reading results out.
* **Speaker tags** are sometimes swapped or missing (speaker ``"unknown"``), and a few visits are
  wholly unlabelled, as a pasted transcript would be.

Every stated fact is still said with one of its surface forms: noise that would break one is
undone for that turn, and each fact also gets its speech-recognised wording as a surface form.
"""

from __future__ import annotations

import dataclasses
import random
import re

from .note_clinical import CONTINUE, system_of
from .numbers import int_words
from .render_offline import _first_person, _join, _lower, missing_facts, social_topic
from .sampler import Case, Fact

Dialogue = list[dict[str, str]]
VISIT_KINDS = ("conversation", "assistant", "dictation")
VISIT_WEIGHTS = (0.52, 0.30, 0.18)  # ACI-Bench train: 35 aci, 20 virtassist, 12 virtscribe
UNKNOWN = "unknown"

# ------------------------------------------------------------------------------------- which facts are said

QUALITATIVE_VITALS = Fact(
    "O",
    "vital",
    "vital signs within normal limits",
    (
        "vital signs within normal limits",
        "vital signs look good",
        "vitals look good",
        "vital signs look great",
        "vitals look stable",
        "vital signs are normal",
    ),
)


def _normal_vitals(vitals: list[Fact]) -> bool:
    limits = {"°C": (36.0, 37.7), "bpm": (55, 100), "mmHg": (95, 139), "/min": (10, 20), "%": (95, 100)}
    for fact in vitals:
        low, high = limits.get(fact.unit or "", (float("-inf"), float("inf")))
        if fact.value is None or not low <= float(fact.value) <= high:
            return False
    return True


# Details of the present illness that fit most complaints: (clinical wording for the note, lay wordings).
HPI_DETAILS: tuple[tuple[str, ...], ...] = (
    ("symptoms are worse at the end of the day", "worse at the end of the day", "by the end of the day it's worse"),
    ("the symptoms have been gradually worsening", "it keeps getting worse", "it's been getting worse"),
    ("over-the-counter remedies have not helped", "over-the-counter stuff but nothing helped"),
    ("no similar episodes in the past", "never had anything like this before", "first time this has happened"),
    ("the symptoms interfere with daily activities", "gets in the way of everything i do"),
    ("coming in at the urging of family", "my family kept telling me to come in"),
    ("rest helps somewhat", "resting helps a little", "rest helps a bit"),
    ("missing work because of the symptoms", "i had to miss some work because of it"),
)
# Normal findings a doctor also dictates, by system: (clinical wording, lay wording).
NORMAL_EXAM: dict[str, tuple[tuple[str, str], ...]] = {
    "Respiratory": (("lungs clear to auscultation bilaterally", "your lungs sound nice and clear"),),
    "Cardiovascular": (
        ("regular rate and rhythm without murmurs", "your heart sounds good"),
        ("no lower extremity edema", "no swelling in your legs"),
    ),
    "Gastrointestinal": (("abdomen soft and non-tender", "your belly is nice and soft"),),
    "Ears, Nose, Mouth, and Throat": (
        ("neck supple without lymphadenopathy", "no swollen glands in your neck"),
        ("oropharynx clear without erythema", "the back of your throat looks fine"),
    ),
    "Neurological": (("cranial nerves grossly intact", "your nerves in your face all look good"),),
    "Musculoskeletal": (("full range of motion of all extremities", "you can move everything fine"),),
    "Skin": (("skin warm and dry without rashes", "your skin looks good"),),
}
# What a doctor adds about a plan item, stated in the visit and so written in the note's plan:
# plan kind -> (clinical wording, the words the doctor says, a sentence that carries them, the fact's kind).
PLAN_DETAILS: dict[str, tuple[str, str, str, str]] = {
    "medication": (
        "we discussed the possible side effects of the medication",
        "the possible side effects",
        "and we went over the possible side effects, so if you notice anything, just give me a call, okay?",
        "education",
    ),
    "test": (
        "we will call the patient with the results",
        "call you with the results",
        "and once those come back, someone from the office will call you with the results.",
        "test",
    ),
    "referral": (
        "the specialist's office will contact the patient to schedule",
        "their office will reach out to you",
        "their office will reach out to you to get that scheduled, but if you do n't hear from them, let us know.",
        "referral",
    ),
}
PLAN_DETAIL_TEXTS = {clinical: said for clinical, _, said, _ in PLAN_DETAILS.values()}
HPI_QUESTIONS = {
    "symptoms are worse at the end of the day": "and is it worse at any particular time of day?",
    "the symptoms have been gradually worsening": "and is it staying the same, or getting better or worse?",
    "over-the-counter remedies have not helped": "have you tried anything for it so far?",
    "no similar episodes in the past": "and has anything like this ever happened to you before?",
    "the symptoms interfere with daily activities": "how much is this affecting your day to day?",
    "coming in at the urging of family": "and what made you decide to come in now?",
    "rest helps somewhat": "does anything make it better?",
    "missing work because of the symptoms": "and has this been affecting work at all?",
}


def _related(text: str, facts: list[Fact]) -> bool:
    words = {w for f in facts for w in re.findall(r"[a-z]{4,}", f.text.lower())}
    return bool(words & set(re.findall(r"[a-z]{4,}", text.lower())))


def _normal_findings(case: Case, rng: random.Random) -> list[Fact]:
    involved = case.of("exam", "chief_complaint", "symptom", "diagnosis", "negative", "imaging")
    busy = {system_of(f.text) for f in involved}
    options = [pair for system, pairs in NORMAL_EXAM.items() if system not in busy for pair in pairs]
    options = [(c, lay) for c, lay in options if not _related(c, involved)]
    severity = case.one("severity")
    if case.specialty_slug != "emergency_medicine" and (severity is None or float(severity.value or 0) <= 5):
        options.append(("alert and in no acute distress", "you look comfortable"))
    chosen = rng.sample(options, min(len(options), rng.choice((0, 1, 2, 2, 3, 4))))
    return [Fact("O", "exam", clinical, (clinical, lay)) for clinical, lay in chosen]


def realize(case: Case, rng: random.Random) -> Case:
    """The case as this visit says it: only the stated facts, and a clinician-style note.

    Vital signs: none in about 60 % of visits, a few or all read out in about 30 %, "vitals look
    good" in the rest when they are normal (ACI-Bench train: 25 of 67 notes state vital signs).
    Visits also say things the tidy ones never did, each one a fact the note then carries: details
    of the present illness, normal exam findings of uninvolved systems, what the doctor adds about
    a prescription, test or referral, and chronic problems reviewed ("continue current medications").
    """
    vitals = case.of("vital")
    draw = rng.random()
    if draw < 0.60 or not vitals:
        said_vitals: list[Fact] = []
    elif draw < 0.90 or not _normal_vitals(vitals):
        keep = rng.choice((1, 2, 2, 3, 5))
        order = {"mmHg": 0, "bpm": 1, "%": 2, "°C": 3, "/min": 4}
        chosen = sorted(vitals, key=lambda f: order.get(f.unit or "", 9) + rng.random() * 2)[:keep]
        said_vitals = [f for f in vitals if f in chosen]
    else:
        said_vitals = [QUALITATIVE_VITALS]
    keep_allergy = rng.random() < 0.45
    keep_family = rng.random() < 0.5
    keep_ddx = rng.random() < 0.5
    keep_severity = rng.random() < 0.75
    facts: list[Fact] = []
    for fact in case.facts:
        if fact.kind == "vital":
            continue
        if (
            (fact.kind == "allergy" and not keep_allergy)
            or (fact.kind == "family" and not keep_family)
            or (fact.kind == "differential" and not keep_ddx)
            or (fact.kind == "severity" and not keep_severity)
            or (fact.kind == "social" and rng.random() < 0.35)
        ):
            continue
        facts.append(fact)
        detail = PLAN_DETAILS.get(fact.kind) if fact.section == "P" else None
        admitted = any(w in fact.text.lower() for w in ("admit", "admission", "emergency", "urgent", "same-day"))
        if detail and not admitted and rng.random() < 0.6 and not any(f.text == detail[0] for f in facts):
            facts.append(Fact("P", detail[3], detail[0], detail[:2]))
    # details of the present illness, none that touches a denied symptom or an onset it would contradict
    details = [d for d in HPI_DETAILS if not _related(d[0], case.of("negative"))]
    if case.age < 18 or "retired" in case.occupation:
        details = [d for d in details if "work" not in d[0]]
    at = max((i for i, f in enumerate(facts) if f.section == "S"), default=0) + 1
    for detail in rng.sample(details, min(len(details), rng.choice((0, 1, 2, 2, 3)))):
        facts.insert(at, Fact("S", "hpi", detail[0], detail))
    if case.age >= 18 and rng.random() < 0.65:  # how it first showed itself, in the patient's words
        said, note, key = rng.choice(STORIES)
        facts.insert(at, Fact("S", "story", note, (note, key)))
    # chronic problems the visit also reviews get their own problem in the plan ("continue current medications")
    for fact in case.of("history"):
        if rng.random() < 0.5:
            text = f"{CONTINUE}{_lower(fact.text)}"
            facts.append(Fact("P", "plan", text, (text, "continue your current medications")))
    # vital signs sit with the objective facts, before the exam; normal findings after it
    first_o = next((i for i, f in enumerate(facts) if f.section == "O"), len(facts))
    last_exam = max((i for i, f in enumerate(facts) if f.kind == "exam"), default=first_o - 1) + 1
    facts[last_exam:last_exam] = _normal_findings(case, rng)
    facts[first_o:first_o] = said_vitals
    if not any(f.section == "O" for f in facts):  # a condition without exam findings: read the vitals
        facts[first_o:first_o] = vitals
    return dataclasses.replace(case, facts=facts, note_style="clinical")


# ------------------------------------------------------------------------------------- speech-recognised text

_NT = re.compile(r"\b(\w+)n't\b")
_SENT_END = re.compile(r"(?<=[a-z0-9%)'\"])\.(?=\s|$)")
_SPACE_PUNCT = re.compile(r"\s*([,?!;])\s*")
_ELLIPSIS = re.compile(r"\s*(\.\.\.|…)\s*")
_NO_PUNCT = re.compile(r"[,?!;\"]")


def speech(text: str, punct: str) -> str:
    """Text as ACI-Bench's transcripts write it: lower case, "n't" split off, and punctuation either
    spaced out ("spaced": "okay , so how are you ?") or gone ("none"); "plain" leaves it as written."""
    if punct == "plain":
        return text
    out = _NT.sub(r"\1 n't", text.lower())
    out = out.replace("gonna", "gon na").replace("wanna", "wan na").replace("gotta", "got ta")
    if punct == "none":
        out = _ELLIPSIS.sub(" ", out)
        out = _SENT_END.sub(" ", out)
        out = _NO_PUNCT.sub(" ", out)
    else:
        out = _ELLIPSIS.sub(" ... ", out)
        out = _SENT_END.sub(" .", out)
        out = _SPACE_PUNCT.sub(r" \1 ", out)
    return re.sub(r"\s+", " ", out).strip()


_MISHEARD = {
    "their": "there",
    "there": "their",
    "your": "you're",
    "then": "than",
    "here": "hear",
    "right": "write",
    "whether": "weather",
    "since": "sense",
    "week": "weak",
    "heart": "hear",
    "patience": "patients",
    "accept": "except",
    "break": "brake",
    "see": "sea",
    "aisle": "isle",
    "too": "to",
}
_HEDGES = ("um, ", "uh, ", "you know, ", "i mean, ", "so, ", "well, ", "like, ")


def _mishear(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    for i, word in enumerate(words):
        bare = word.lower().strip(",.?!")
        if bare in _MISHEARD and rng.random() < rate:
            words[i] = word.lower().replace(bare, _MISHEARD[bare])
    return " ".join(words)


def _disfluent(text: str, rng: random.Random) -> str:
    """Repeated or cut-off words and hedges inside a patient's turn."""
    words = text.split(" ")
    if len(words) < 4:
        return text
    draw = rng.random()
    i = rng.randrange(1, len(words) - 1)
    word = words[i]
    if draw < 0.35 and word.isalpha() and len(word) <= 4:
        words[i] = f"{word}, {word}"
    elif draw < 0.55 and word.isalpha() and len(word) > 3:
        words[i] = f"{word[0]}- {word}"
    elif draw < 0.85 and words[i - 1].endswith(","):
        words[i] = rng.choice(_HEDGES) + word
    elif draw < 0.95:
        words[i] = f"{rng.choice(('i guess', 'kind of', 'sort of', 'like'))} {word}"
    return " ".join(words)


# ------------------------------------------------------------------------------------- the visit


SMALL_TALK: tuple[tuple[str, ...], ...] = (
    (
        "i saw on your chart that you just got back from a trip. where'd you go?",
        "oh, we drove down the coast to see my brother. beautiful drive, but my back was not happy with me "
        "after eight hours in the car.",
        "i bet. road trips are great until about hour three.",
    ),
    (
        "how's that puppy of yours doing? last time you were telling me all about him.",
        "oh, he's a handful. he chewed through a pair of my good shoes last week, but he's a sweetheart.",
        "that's puppies for you. they grow out of it, mostly.",
    ),
    (
        "are you ready for the cold weather that's supposed to be coming in?",
        "not at all. i still have n't even found my winter coat, it's somewhere in the garage.",
        "ha, same. i keep pretending summer is n't over.",
    ),
    (
        "did you see they finally opened that new coffee place across the street?",
        "i did, i stopped in on the way here. it's a little pricey, but the muffins are really good.",
        "good to know, i'll have to try it on my lunch break.",
    ),
    (
        "how are things at home? everybody doing okay?",
        "yeah, everybody's good. busy, but good. my sister's been staying with us for a bit, so the house is full.",
        "that's nice, though. a full house can be fun.",
        "most days, yeah.",
    ),
    (
        "are you still doing that book club you told me about?",
        "i am, we just finished a mystery novel, and honestly i did n't see the ending coming at all.",
        "oh, i love that. you'll have to send me the name of it.",
    ),
    (
        "i heard the traffic on the highway was terrible this morning.",
        "oh, it was bad. there was an accident right by the exit, so we were just sitting there for twenty minutes.",
        "ugh, i'm sorry. well, you made it.",
    ),
    (
        "how was your weekend, by the way?",
        "oh, it was good. we went up to the lake, and the weather actually held up for once, so that was nice.",
        "that sounds great. i was stuck doing yard work all weekend, so i'm a little jealous.",
        "ha, well, somebody's got to do it.",
    ),
    (
        "did you have any trouble finding parking today?",
        "a little bit, yeah. they've got that whole section closed off for the construction, so i had to go around "
        "the block a couple of times.",
        "yeah, i'm sorry about that. it's been like that for weeks now. they keep telling us it'll be done soon.",
    ),
    (
        "are you staying busy these days?",
        "oh, you know, always. between work and everything at home i feel like i never sit down.",
        "i hear you. it's been one of those months for me too.",
    ),
    (
        "did you watch the game last night?",
        "i did, i stayed up way too late for it. what a finish, right?",
        "i know, i could n't believe that last play. my whole family was yelling at the tv.",
        "same here, same here.",
    ),
    (
        "how's the new place working out? last time you said you were moving.",
        "oh, it's good, it's good. still a lot of boxes everywhere, but we're getting there, you know, slowly.",
        "moving is the worst. i still have boxes from when i moved and that was years ago.",
    ),
    (
        "it's really coming down out there, huh?",
        "yeah, i got soaked just walking in from the car. i forgot my umbrella, of course.",
        "of course, that's how it always goes. well, make yourself comfortable.",
    ),
    (
        "any fun plans coming up for the holidays?",
        "uh, we're supposed to go see family, but we'll see, it's a long drive and i'm not sure i'm up for it.",
        "well, hopefully we can get you feeling better before then.",
    ),
    (
        "how's the garden doing this year?",
        "oh, the tomatoes are going crazy. i've been giving them away to all the neighbors.",
        "you'll have to bring me some next time.",
        "i will, i will.",
    ),
    (
        "sorry to keep you waiting, it's been a crazy morning.",
        "oh, no problem at all. i had my phone, so i was fine.",
        "well, thank you for your patience.",
    ),
    (
        "did you get a chance to get away at all this summer?",
        "not really, no. we talked about it, but with work it just did n't happen.",
        "maybe next year then.",
    ),
)
ANECDOTES = (
    "i kind of thought it would just go away on its own, you know, but it did n't",
    "i was n't going to come in, but a friend of mine kept telling me to get it checked out",
    "i looked it up online, which was probably a mistake, because then i got all worried",
    "at first i just figured i was getting older or something",
    "i tried to just push through it, you know, keep going to work and everything",
    "it's been kind of hard to keep up with everything at home because of it",
    "i've been meaning to make an appointment for a while now, honestly",
    "it got to the point where i could n't really ignore it anymore",
)
ASIDES = (
    ("sorry, this computer is being slow today. bear with me one second.", "no problem."),
    ("do you mind if i turn the light up a little bit? it's kind of dim in here.", "oh, go ahead."),
    ("sorry, someone's knocking, one second. okay, all set, where were we?", "you were asking about my history."),
    ("sorry, i'm just going to close this window here, it's a little loud out there.", "oh, sure."),
    ("excuse me one second, let me just pull up your chart here.", "take your time."),
    ("is it warm in here, or is it just me?", "it's a little warm, yeah."),
    ("sorry, my phone keeps buzzing, let me just turn that off.", "no worries."),
)
REACTIONS = (
    "okay. well, i'm glad you came in, that was the right call.",
    "alright, that's helpful. let me just make a note of that.",
    "okay, and thank you for being honest with me about that.",
    "mm-hmm, i understand. that's a lot to deal with on top of everything else.",
    "okay, that's good to hear.",
    "alright, well, that's really helpful to know.",
    "okay. i'm sorry you've been dealing with all of that, that sounds really frustrating.",
    "mm-hmm, okay. that makes sense.",
    "okay, i hear you. a lot of my patients tell me the same thing, so you're definitely not alone there.",
    "got it. okay, and i appreciate you being so detailed, that really helps me.",
    "alright. well, let's see what we can do to get you feeling better.",
    "okay, that's fair. life gets busy, i totally understand.",
)
# How the patient's trouble first showed itself: (what the patient says, the note's sentence, the words of it
# the note's sentence rests on). Said by adults only; the note's HPI carries it, as clinicians' notes do.
STORIES: tuple[tuple[str, str, str], ...] = (
    (
        "it started around the time we had that big storm, i remember because the power was out and i was just "
        "sitting there in the dark thinking, huh, that's weird.",
        "The symptoms started around the time of the recent storm, when the power was out.",
        "the power was out",
    ),
    (
        "the first time i really paid attention to it was at church, of all places, and i had to step outside for "
        "a bit.",
        "The patient first noticed the symptoms at church and had to step outside.",
        "at church",
    ),
    (
        "i was out in the yard pulling weeds, and afterwards i kind of just sat down on the porch and did n't get "
        "up for a while.",
        "The patient first noticed the symptoms after pulling weeds in the yard.",
        "pulling weeds",
    ),
    (
        "i was on the phone with my sister, and she could tell something was off just from my voice.",
        "The patient's sister noticed that something was off during a phone call.",
        "on the phone with my sister",
    ),
    (
        "i first noticed it one morning when i was getting ready for work, and i just kind of ignored it.",
        "The patient first noticed the symptoms one morning while getting ready for work and initially ignored them.",
        "getting ready for work",
    ),
    (
        "it really hit me when i was at the grocery store, of all places, just standing in line at the checkout.",
        "The symptoms first became noticeable while the patient was standing in line at the grocery store.",
        "at the grocery store",
    ),
    (
        "i was at my niece's birthday party, and i remember thinking, okay, something's not right here.",
        "The patient first noticed the symptoms at a niece's birthday party.",
        "birthday party",
    ),
    (
        "i was driving home from work, and by the time i got home i just wanted to lie down.",
        "The symptoms started while the patient was driving home from work.",
        "driving home from work",
    ),
    (
        "i was helping a friend move some furniture that weekend, so at first i figured it was just from that.",
        "The patient initially attributed the symptoms to helping a friend move furniture.",
        "helping a friend move some furniture",
    ),
    (
        "we were on vacation when it started, so i did n't want to ruin the trip by making a big deal about it.",
        "The symptoms started while the patient was on vacation.",
        "on vacation",
    ),
    (
        "honestly, i was sitting on the couch watching tv, not doing anything at all, and there it was.",
        "The symptoms started while the patient was sitting on the couch watching television.",
        "watching tv",
    ),
)
STORY_SAID = {note: said for said, note, _ in STORIES}
RAMBLES = (
    "i've been meaning to call about it for a while, but every time i'd pick up the phone something else came up.",
    "my sister thinks i worry too much, but i'd rather know, you know?",
    "and i hate sitting in waiting rooms, no offense, so i kept putting it off.",
    "i even started keeping notes on my phone, but i'm not very good at remembering to do it.",
    "it's one of those things, you do n't think about it until it's right in front of you.",
    "i'm usually pretty good about this stuff, so it's been kind of frustrating, honestly.",
    "and the weather going back and forth like it has been does n't help, i swear.",
    "i told myself if it was n't better by the weekend, i'd come in, and well, here i am.",
    "i do n't know, maybe it's nothing, but i figured better safe than sorry.",
    "my kids are always on me about going to the doctor, so here i am.",
    "and work has been crazy, we're short staffed, so everybody's picking up extra shifts.",
    "i've been trying to cook at home more, you know, less takeout, but it's hard with my schedule.",
    "i actually almost canceled today because of the traffic, but i'm glad i did n't.",
    "it's just one of those things where you keep thinking it'll go away on its own.",
    "and my neighbor had something similar, so of course that got me thinking.",
    "i've got a wedding coming up next month, so i'd really like to get this sorted out before then.",
    "and, you know, with work being what it is, i just have n't had a lot of time to take care of myself.",
    "my schedule has been all over the place lately, so that probably does n't help either.",
    "i've been trying to get out and walk a little more, like around the block after dinner, when the weather's nice.",
    "and the pharmacy near me changed their hours, so it's been kind of a pain to get over there.",
    "i keep telling myself i'm going to get better about it, and then, you know, life happens.",
    "my dog has been keeping me busy too, he's got a lot of energy, so we're out a lot.",
    "i had a bunch of family in town the last couple of weeks, so things have been a little hectic.",
    "i mean, i try, i really do, but some days are better than others.",
    "and, uh, my insurance changed at the start of the year, so i was n't sure what was covered for a while there.",
    "i was going to write it all down before i came in, and of course i forgot the list at home.",
)
EXPLANATIONS = (
    "everybody's a little different, but most people start to feel better once we get the treatment going, and "
    "if you're not improving the way we'd like, i want to hear from you.",
    "i'm going to give you a printout of everything we talked about today, because i know it's hard to remember "
    "it all once you leave the office.",
    "and please do n't hesitate to send me a message through the portal if anything comes up, that's what it's "
    "there for.",
    "the good news is you came in early, and we have a lot of options, so we're going to start with the simplest "
    "ones and go from there.",
    "so, you know, this is something that we see fairly often, and the good news is that there's a lot we can do "
    "for it. the most important thing is that we follow the plan we talk about today, and that you let me know if "
    "anything changes or if you're not getting better the way we expect.",
    "i know it's a lot to take in, so i'm going to go through it step by step, and you can stop me at any point "
    "if something does n't make sense, okay?",
    "and i want to be clear, you did the right thing coming in. it's much easier to deal with these things when we "
    "catch them and get a plan in place, rather than waiting.",
    "so, what we'll do is take this one step at a time. we'll start with the things that are easiest for you to do "
    "at home, and then we'll see how you respond and adjust from there.",
)
# A patient's questions about the plan and the doctor's answers, none of which a note would carry.
QUESTIONS = (
    (
        "is this something i'm going to have to deal with forever?",
        "not necessarily. a lot of it depends on how you respond to what we're starting today, and we'll "
        "reassess at your next visit and go from there.",
    ),
    (
        "is it okay if i keep up with my normal routine?",
        "within reason, yes. listen to your body, and if something does n't feel right, back off a bit and let me "
        "know.",
    ),
    (
        "will my insurance cover all of this?",
        "that's a great question. the front desk can help you check on that before you leave today, they're really "
        "good with that stuff.",
    ),
    (
        "how long until i start feeling better?",
        "it's hard to say exactly, everybody's a little different, but you should start to notice some improvement "
        "over the next little while. if not, i want to hear about it.",
    ),
    (
        "should i be worried about this?",
        "i do n't want you to worry. it's something we take seriously, but it's also something we know how to "
        "manage, and we're going to keep a close eye on it together.",
    ),
    (
        "is there anything i can do on my end?",
        "honestly, the biggest thing is just sticking with the plan and keeping track of how you're feeling, so "
        "when we talk next time we have a good picture of how things are going.",
    ),
)
# What a doctor says around a plan item that a note would not carry (no claim about the plan itself).
ELABORATIONS = {
    "medication": (
        "it can take a little while to kick in, so give it some time before you decide whether it's working or not.",
        "i know nobody likes adding another pill, but i really think this is going to help.",
    ),
    "test": (
        "that'll just give us a better picture of what's going on.",
        "it's nothing to be nervous about, it's pretty quick, and it'll really help us figure out the next step.",
    ),
    "referral": (
        "they're really good over there, and they'll be able to take a closer look at this for you.",
        "i've sent a lot of my patients to them and people are always happy with them.",
    ),
    "other": (
        "i know that's easier said than done, but it really does make a difference.",
        "and, you know, just be kind to yourself while you're dealing with all of this.",
    ),
}
BACKCHANNELS = ("mm-hmm.", "okay.", "yeah.", "right.", "uh-huh.", "mm-hmm, okay.", "sure.", "got it.")


# The doctor's requests while examining and the patient's replies that fit them.
EXAM_CHECKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("does it hurt when i press here?", ("a little bit, yeah.", "ow, yeah, right there.", "not really, no.")),
    ("can you take a deep breath for me? and out.", ("okay.", "mm-hmm.")),
    ("can you push against my hand? good, and the other side.", ("like this?", "okay.")),
    ("just relax for me, you're doing great.", ("okay.", "i'm trying.")),
    ("can you follow my finger with your eyes?", ("okay.", "mm-hmm.")),
)
ACKS = (
    "okay. i appreciate that.",
    "okay, that makes me feel a little better.",
    "alright.",
    "okay, that's good to know.",
    "mm-hmm, that makes sense.",
    "okay. thank you for explaining that.",
)


class RealisticRenderer:
    """``RealisticRenderer().render_case(case) -> (stated case, dialogue)``; ``render(case)`` gives the
    dialogue alone. The stated case holds only the facts the visit says and writes its note in the
    clinicians' style."""

    name = "offline-realistic"

    def __init__(self) -> None:
        self.fallbacks = 0
        self.unlabeled_turns = 0
        self.swapped_turns = 0
        self.turns = 0

    def render(self, case: Case) -> Dialogue:
        return self.render_case(case)[1]

    def render_case(self, case: Case) -> tuple[Case, Dialogue]:
        rng = random.Random(case.seed ^ 0x2545F491)
        stated = realize(case, rng)
        visit = _RealVisit(stated, rng)
        clean = visit.run()
        for text in missing_facts(stated.facts, clean):
            self.fallbacks += 1
            clean.append({"speaker": "doctor", "text": f"and just for the record, {text}."})
        punct = {"conversation": "none", "assistant": "spaced", "dictation": "spaced"}[visit.kind]
        if rng.random() < 0.08:  # some transcripts arrive punctuated and cased, as typed or cleaned up
            punct = "plain"
        dialogue = self._speak(stated, clean, punct, rng)
        stated = _with_spoken_forms(stated, punct)
        dialogue = self._label_noise(dialogue, stated, rng)
        self.turns += len(dialogue)
        assert not missing_facts(stated.facts, dialogue), missing_facts(stated.facts, dialogue)
        return stated, dialogue

    def _speak(self, case: Case, clean: Dialogue, punct: str, rng: random.Random) -> Dialogue:
        out = []
        for turn in clean:
            text = turn["text"]
            said = _said_in(case.facts, text)
            noisy = text
            if turn["speaker"] != "doctor" and rng.random() < 0.35:
                noisy = _disfluent(noisy, rng)
            noisy = _mishear(noisy, rng, 0.04)
            spoken = speech(noisy, punct)
            if not all(_said(f, spoken, punct) for f in said):
                spoken = speech(text, punct)
            out.append({"speaker": turn["speaker"], "text": spoken})
        return out

    def _label_noise(self, dialogue: Dialogue, case: Case, rng: random.Random) -> Dialogue:
        draw = rng.random()
        other = {"doctor": case.speaker, case.speaker: "doctor"}
        if draw < 0.06:  # a pasted transcript without any speaker labels
            self.unlabeled_turns += len(dialogue)
            return [{"speaker": UNKNOWN, "text": t["text"]} for t in dialogue]
        out = [dict(t) for t in dialogue]
        if draw < 0.26:  # a diarisation slip or two: turns given to the wrong speaker
            for i in rng.sample(range(len(out)), min(len(out), rng.randint(1, 3))):
                out[i]["speaker"] = other.get(out[i]["speaker"], out[i]["speaker"])
                self.swapped_turns += 1
        elif draw < 0.40:  # a few turns the recogniser could not attribute
            for i in rng.sample(range(len(out)), min(len(out), rng.randint(1, 4))):
                out[i]["speaker"] = UNKNOWN
                self.unlabeled_turns += 1
        return out


def _said_in(facts: list[Fact], text: str) -> list[Fact]:
    low = text.lower()
    return [f for f in facts if any(form.lower() in low for form in f.surface_forms)]


def _said(fact: Fact, spoken: str, punct: str) -> bool:
    low = spoken.lower()
    return any(form.lower() in low or speech(form, punct) in low for form in fact.surface_forms)


def _with_spoken_forms(case: Case, punct: str) -> Case:
    """Each fact also carries its speech-recognised wording, so `missing_facts` finds it as said."""
    facts = []
    for fact in case.facts:
        spoken = [speech(form, punct) for form in fact.surface_forms]
        forms = tuple(dict.fromkeys([*fact.surface_forms, *spoken]))
        facts.append(dataclasses.replace(fact, surface_forms=forms))
    return dataclasses.replace(case, facts=facts)


_PLAN_VERBS = {
    "step",
    "stop",
    "continue",
    "increase",
    "start",
    "switch",
    "add",
    "avoid",
    "consider",
    "hold",
    "reduce",
    "taper",
    "give",
    "use",
    "apply",
    "take",
    "offer",
    "trial",
    "begin",
    "restart",
    "change",
    "discontinue",
}
_ADULT_WORDS = re.compile(r"\b(work|kids|wedding|schedule|insurance|takeout|shifts|husband|wife)\b")


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def complete_forms(fact: Fact) -> tuple[str, ...]:
    """The surface forms that keep every number of the fact's clinical wording (in digits or words), so
    a note written in that wording states nothing the visit did not say ("a few beers" is not
    "4-6 beers on weekends", "amlodipine" is not "amlodipine 5 mg once daily"), and medicines keep
    their name ("co-amoxiclav" is not "amoxicillin-clavulanate")."""
    wanted = _NUMBER.findall(fact.text)
    drug = fact.text.split(" ", 1)[0].lower() if fact.kind == "medication" else ""
    if fact.value is not None or not (wanted or drug):  # a measured value: its forms are that value said differently
        return fact.surface_forms

    def keeps(form: str) -> bool:
        low = form.lower()
        return drug in low and all(n in low or ("." not in n and int_words(int(n)) in low) for n in wanted)

    return tuple(form for form in fact.surface_forms if keeps(form)) or (fact.text,)


def _merge(turns: Dialogue) -> Dialogue:
    """Consecutive turns of one speaker become one, as a transcript shows them (an interrupted turn,
    ending in "-", stays cut)."""
    out: Dialogue = []
    for turn in turns:
        if out and out[-1]["speaker"] == turn["speaker"] and not out[-1]["text"].endswith("-"):
            out[-1] = {"speaker": turn["speaker"], "text": f"{out[-1]['text']} {turn['text']}"}
        else:
            out.append(dict(turn))
    return out


class _RealVisit:
    def __init__(self, case: Case, rng: random.Random) -> None:
        self.case, self.rng = case, rng
        self.kind = rng.choices(VISIT_KINDS, VISIT_WEIGHTS)[0]
        self.turns: Dialogue = []
        self.pt = case.speaker
        self.child = case.speaker == "parent"
        self.first, self.last = case.patient_name.split()[0].lower(), case.patient_name.split()[-1].lower()
        self.he = "she" if case.sex == "F" else "he"
        self.used: set[str] = set()
        self.talk = rng.uniform(0.2, 2.4)  # how chatty this visit is: the spread of real visit lengths

    # helpers ------------------------------------------------------------------------------------
    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def fresh(self, *options: str) -> str:
        """A line not yet said in this visit (any, once all have been)."""
        unused = [o for o in options if o not in self.used] or list(options)
        line = self.rng.choice(unused)
        self.used.add(line)
        return line

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def um(self, p: float = 0.35) -> str:
        return self.pick("um, ", "uh, ", "so, ", "well, ", "you know, ", "uh, so ") if self.chance(p) else ""

    def doc(self, text: str) -> None:
        self.turns.append({"speaker": "doctor", "text": text.strip()})

    def pat(self, text: str) -> None:
        self.turns.append({"speaker": self.pt, "text": text.strip()})

    def nod(self, p: float = 0.5) -> None:
        if self.chance(0.6 * p) and self.turns and self.turns[-1]["speaker"] == "doctor":
            self.pat(self.pick(*BACKCHANNELS))

    def form(self, fact: Fact, lay: bool = True) -> str:
        forms = complete_forms(fact)
        if lay and len(forms) > 1 and self.chance(0.8):
            return _lower(self.rng.choice(forms[1:]))
        return _lower(forms[0])

    @property
    def you(self) -> str:
        return self.he if self.child else "you"

    # the visit -----------------------------------------------------------------------------------
    def run(self) -> Dialogue:
        self.opening()
        self.presenting_complaint()
        blocks = [self.history, self.social, self.family, self.allergies]
        self.rng.shuffle(blocks)
        for block in blocks:
            block()
            if self.chatty(0.2):
                self.aside()
        self.negatives()
        self.examination()
        self.results()
        self.assessment_and_plan()
        self.closing()
        return _merge(self._interrupt(self.turns))

    def chatty(self, p: float = 1.0) -> bool:
        return self.rng.random() < p * self.talk

    def fit(self, pool: tuple) -> tuple:
        """The lines a teenager speaking for themself could say (no job, spouse or kids of their own)."""
        if self.case.age >= 18 or self.child:
            return pool
        return tuple(
            item for item in pool if not _ADULT_WORDS.search(" ".join(item) if isinstance(item, tuple) else item)
        )

    def ramble(self) -> str:
        """Nothing, or a remark or two of the patient's that a note would leave out (chattier visits say more)."""
        said = [self.fresh(*self.fit(RAMBLES)) for _ in range(2) if self.chatty(0.7)]
        return "".join(" " + line for line in said)

    def react(self, p: float = 0.5) -> None:
        """The doctor's remark on what the patient said (chattier visits remark more)."""
        if self.chatty(p) and self.turns and self.turns[-1]["speaker"] != "doctor":
            self.doc(self.fresh(*REACTIONS))

    def story(self) -> str:
        fact = self.case.one("story")
        return " " + STORY_SAID[fact.text] if fact is not None else ""

    def aside(self) -> None:
        doctor, patient = self.rng.choice(ASIDES)
        self.doc(doctor)
        self.pat(patient)

    def small_talk(self) -> None:
        lines = self.rng.choice(self.fit(SMALL_TALK))
        for i, line in enumerate(lines):
            (self.doc if i % 2 == 0 else self.pat)(line)
        if self.chance(0.5):
            first, second = self.case.small_talk
            self.doc(first.lower())
            self.pat(second.lower())

    def age_said(self) -> str:
        return self.pick(str(self.case.age), int_words(self.case.age))

    def intro_line(self) -> str:
        """The doctor's dictated one-liner about the patient (assistant and dictation visits)."""
        history = [self.form(f, lay=False) for f in self.case.of("history")]
        chief = self.case.one("chief_complaint")
        sex = ("female" if self.case.sex == "F" else "male") if self.case.age >= 18 else self.pick("child", "kid")
        line = f"{self.case.patient_name.lower()} is a {self.case.age}-year-old {sex}"
        if history and self.chance(0.7):
            line += f" with a past medical history significant for {_join(history)},"
        return line + f" who presents today with {_lower(chief.text) if chief else 'a new problem'}."

    def opening(self) -> None:
        title = f"{'ms.' if self.case.sex == 'F' else 'mr.'} {self.last}"
        if self.kind == "dictation":
            self.doc(self.intro_line())
            self.doc(self.pick(f"hello, {title}. how are you doing today?", f"hi, {self.first}, good to see you."))
            self.pat(self.pick("i'm okay, i guess.", "oh, i've been better, to be honest.", "doing all right."))
        elif self.kind == "assistant":
            self.doc(self.pick(f"hi, {self.first}, how are you?", f"hey, {self.first}, good to see you."))
            self.pat(self.pick("hey, good to see you.", "i'm doing okay, how are you?", "hi, doctor."))
            self.doc(
                self.pick(
                    "so i know the nurse told you about dax. i'd like to tell dax a little bit about you, okay?",
                    "so, are you ready to get started? i'm going to tell dax a little bit about you.",
                )
            )
            self.pat(self.pick("sure.", "okay.", "mm-hmm."))
            self.doc(self.intro_line())
        else:
            self.doc(
                self.pick(
                    f"hi, {self.first}, how are you doing today?",
                    f"good morning, {self.first}, nice to see you.",
                    f"hey, {self.first}, come on in. how are you?",
                )
            )
            self.pat(self.pick("i'm doing okay, how are you?", "hi, i'm okay.", "oh, hanging in there."))
        for _ in range(self.rng.choice((0, 1, 1, 1, 2)) if self.talk > 0.4 else self.rng.choice((0, 1))):
            self.small_talk()
        if self.child:
            relation = "daughter" if self.case.sex == "F" else "son"
            self.doc(
                self.pick(
                    f"and you're here with your {relation} today. how old is {self.he} now?",
                    f"so how old is {self.first} now?",
                )
            )
            self.pat(self.pick(f"{self.he} just turned {self.age_said()}.", f"{self.age_said()}. can you believe it?"))
        elif self.kind == "conversation":
            if self.chance(0.5):  # the doctor reads it off the chart and goes on
                self.doc(f"so i see here you're {self.age_said()} now.")
                return
            self.doc(
                self.pick(
                    f"so i see here that you're {self.age_said()}, is that right?",
                    "and can you remind me how old you are now?",
                )
            )
            if self.turns[-1]["text"].startswith("so i see"):
                self.pat(self.pick("yep, that's right.", "that's right, unfortunately.", "yes."))
            else:
                self.pat(self.pick(f"i'm {self.age_said()}.", f"{self.age_said()}, if you can believe it."))

    def presenting_complaint(self) -> None:
        chief = self.case.one("chief_complaint")
        if chief is None:
            return
        self.doc(
            self.pick(
                "so, what brings you in today?",
                f"so, {self.first}, tell me what's been going on.",
                "so i understand you've been having some problems. what's been going on?",
                "alright, so what can i do for you today?",
            )
        )
        lay = self.form(chief)
        story = self.pick(*self.fit(ANECDOTES))
        self.pat(
            self.pick(
                f"{self.um(0.8)}so it's {lay}. {story}.",
                f"{self.um(0.8)}well, basically {lay}, and, uh, {story}.",
                f"yeah, so, {lay}. and {story}.",
            )
        )
        self.turns[-1]["text"] += self.story() + self.ramble()
        self.react(0.7)
        if lay != _lower(chief.text) and self.chance(0.6):
            self.doc(self.pick(f"okay. so {_lower(chief.text)}.", f"okay, so what we'd call {_lower(chief.text)}."))
            self.nod(0.6)
        self.onset_duration()
        self.severity()
        self.associated()
        self.details()
        self.recap()

    def details(self) -> None:
        for fact in self.case.of("hpi"):
            self.doc(HPI_QUESTIONS.get(fact.text, "anything else about it i should know?"))
            lay = self.form(fact)
            self.pat(
                self.pick(
                    f"{self.um()}yeah, {lay}.",
                    f"{self.um()}i'd say {lay}, honestly.",
                    f"oh, {lay}, for sure.",
                    f"{self.um(0.9)}{lay}, i think.",
                )
                + self.ramble()
            )
            self.react(0.4)

    def recap(self) -> None:
        """The doctor sums up what was said so far, in the patient's words, and checks it."""
        chief, duration = self.case.one("chief_complaint"), self.case.one("duration")
        if chief is None or not self.chance(0.7):
            return
        since = f" for about {duration.surface_forms[0]}" if duration else ""
        others = [_lower(f.text) for f in self.case.of("symptom")[:2]]
        extra = f", along with {_join(others)}" if others else ""
        self.doc(
            self.pick(
                f"okay. so just to make sure i have this right, you've been dealing with {_lower(chief.text)}{since}"
                f"{extra}, and it's been getting in the way of things. is that fair?",
                f"alright. so it sounds like {_lower(chief.text)}{since}{extra}, and you're here because it's just not "
                "getting any better on its own. does that sound right?",
            )
        )
        self.pat(self.pick("yeah, that's it exactly.", "yeah, that's about right.", "mm-hmm, yeah.") + self.ramble())

    def onset_duration(self) -> None:
        duration, onset = self.case.one("duration"), self.case.one("onset")
        if duration is not None:
            self.doc(
                self.pick(
                    "okay. and when did this all start?",
                    "and how long has this been going on?",
                    "alright. and how long ago did this start?",
                )
            )
            dur = self.rng.choice(duration.surface_forms[:2])
            if self.chance(0.2) and isinstance(duration.value, int) and duration.value > 1:
                wrong = int_words(duration.value - 1 if self.chance(0.5) else duration.value + 1)
                self.pat(f"{self.um()}maybe {wrong} {duration.unit}? no, actually, it's been {dur} now.")
            else:
                self.pat(
                    self.pick(
                        f"{self.um()}it's been about {dur} now.",
                        f"i'd say, um, {dur}? yeah, {dur}.",
                        f"gosh, it's been going on {dur}, i think.",
                    )
                )
        if onset is not None:
            how = self.rng.choice(onset.surface_forms[2:])
            if duration is None or self.chance(0.5):  # else the patient says it in the same breath
                self.doc(
                    self.pick(
                        "and did it come on all of a sudden, or did it kind of build up?",
                        "did it come on suddenly or gradually?",
                    )
                )
            self.pat(
                self.pick(f"{self.um()}it kind of came on {how}.", f"it started {how}, i think.", f"oh, {how}, really.")
            )

    def severity(self) -> None:
        sev = self.case.one("severity")
        if sev is None:
            return
        self.doc(
            self.pick(
                "and on a scale of one to ten, how bad would you say it is?",
                "if you had to rate it, zero to ten, where would you put it?",
            )
        )
        form = self.rng.choice(sev.surface_forms[1:])
        self.pat(
            self.pick(
                f"{self.um()}i'd say {form}.", f"oh, i do n't know. {form}? probably {form}.", f"on a bad day, {form}."
            )
        )

    def associated(self) -> None:
        symptoms = self.case.of("symptom")
        if not symptoms:
            return
        self.doc(
            self.pick(
                "okay. and have you noticed anything else?",
                "any other symptoms along with that?",
                "alright. what else have you been noticing?",
            )
        )
        for i, fact in enumerate(symptoms):
            lay = self.form(fact)
            lead = "and " if i else ""
            self.pat(
                self.pick(
                    f"{lead}{self.um()}{lay}, too.",
                    f"{lead}also, {lay}.",
                    f"{lead}oh, and {lay}, i guess.",
                    f"{lead}yeah, {lay}.",
                )
            )
            if lay != _lower(fact.text) and self.chance(0.4):
                self.doc(self.pick(f"mm-hmm. so {_lower(fact.text)}.", f"okay, {_lower(fact.text)}. got it."))
            elif self.chance(0.4):
                self.doc(self.pick("okay.", "mm-hmm.", "i see.", "okay. and how is that affecting you day to day?"))
                if self.turns[-1]["text"].endswith("?"):
                    self.pat(
                        f"{self.um(0.8)}it's just annoying, you know, it's kind of always there in the background."
                    )

    def negatives(self) -> None:
        negs = self.case.of("negative")
        if not negs:
            return
        if len(negs) > 1 and self.chance(0.7):
            self.doc(
                self.pick(
                    f"any {_join([self.form(n) for n in negs])}?",
                    f"have you had any {_join([self.form(n) for n in negs])}?",
                )
            )
            self.pat(self.pick("no, nothing like that.", "no. no.", "um, no, i do n't think so.", "nope."))
            return
        for fact in negs:
            lay = self.form(fact)
            self.doc(self.pick(f"any {lay}?", f"okay. and any {lay}?", f"have you had any {lay} at all?"))
            self.pat(self.pick("no.", "no, not really.", "um, no.", "no, not that i've noticed."))

    def history(self) -> None:
        items = self.case.of("history")
        meds = self.case.of("medication", section="S")
        for fact in items:
            lay = _lower(fact.text)
            self.doc(
                self.pick(
                    f"and how are you doing with your {lay}?",
                    f"now, in terms of your {lay}, how's that been?",
                    f"and i see you also have {lay}. how's that going?",
                )
            )
            self.pat(
                self.pick(
                    f"{self.um(0.8)}it's been good, i think. i've been trying to, you know, keep on top of it.",
                    f"{self.um()}pretty good, pretty good. no real problems there.",
                    "oh, it's fine, it's been doing well.",
                )
            )
            self.turns[-1]["text"] += self.ramble()
            if self.chatty(0.5):
                self.doc(
                    self.pick(
                        f"okay, good. you know, keeping on top of your {lay} is really important, especially with "
                        "everything else going on, so i'm glad that's been going well.",
                        f"alright, that's great. i know managing {lay} can be a lot of work, so good for you.",
                    )
                )
        if not items:
            self.doc(
                self.pick("and any other medical problems i should know about?", "and otherwise you're pretty healthy?")
            )
            self.pat(self.pick("no, not really.", "yeah, i've been pretty lucky that way."))
        if meds:
            self.doc(
                self.pick(
                    "and what medications are you taking right now?",
                    "are you still taking your medications?",
                    "remind me what you're on right now.",
                )
            )
            spoken = [self.rng.choice(complete_forms(m)) for m in meds]
            self.pat(
                self.pick(
                    f"{self.um()}i take {_join(spoken)}.",
                    f"let me think. {_join(spoken)}, i think that's it.",
                    f"yeah, i'm on {_join(spoken)}.",
                )
            )
        elif self.chance(0.5):
            self.doc("and you're not on any regular medications?")
            self.pat(self.pick("no, nothing regular.", "no, just the occasional, you know, over the counter stuff."))

    def allergies(self) -> None:
        allergy = self.case.one("allergy")
        if allergy is None:
            return
        if self.turns[-1]["speaker"] != "doctor" and self.chance(0.5):  # asked in the same breath as the last
            self.pat(self.pick("and as far as allergies,", "oh, and allergies,"))
        else:
            self.doc(self.pick("any allergies to medications?", "and do you have any allergies?"))
        form = self.form(allergy)
        self.pat(f"{self.um()}{form}." if form != "none" else self.pick("none.", "no, none."))

    def social(self) -> None:
        facts = self.case.of("social")
        questions = {
            "smoking": ("do you smoke at all?", "any smoking?"),
            "alcohol": ("and how much alcohol do you drink?", "do you drink at all?"),
            "work": ("and what do you do for work?", "are you still working?"),
            "home": ("and who's at home with you?", "who do you live with?"),
            "other": (
                "anything else going on lately that i should know about?",
                "anything in your day to day that might be related?",
            ),
        }
        together = len(facts) > 1 and self.chance(0.75)
        if together:  # one question, the patient answers it all in one go
            self.doc(
                self.pick(
                    "and tell me a little bit about yourself, you know, work, home, do you smoke or drink, that "
                    "kind of thing.",
                    "so, socially, what's going on? what do you do for work, any smoking, any alcohol?",
                )
            )
        for fact in facts:
            if not together:
                self.doc(self.pick(*questions[social_topic(fact.text)]))
            forms = complete_forms(fact)
            spoken = self.rng.choice(forms[1:]) if len(forms) > 1 else fact.text
            self.pat(f"{self.um()}{_lower(_first_person(spoken))}.")
            if not together:
                self.nod(0.2)
        self.react(0.3)

    def family(self) -> None:
        facts = self.case.of("family")
        if not facts:
            return
        self.doc(self.pick("and anything that runs in the family?", "any family history of medical problems?"))
        self.pat(f"{self.um()}{_join([self.form(f, lay=not self.child) for f in facts])}.")

    def examination(self) -> None:
        vitals = self.case.of("vital")
        self.doc(
            self.pick(
                "alright, well, let's go ahead and do a quick physical exam, okay?",
                "okay, so i'm going to do a quick physical exam on you now.",
                "alright, why do n't you hop up on the table for me and i'll take a look.",
            )
        )
        if self.chatty(0.5):
            self.doc(
                self.pick(
                    "so i'm going to be calling out some of my exam findings, and i'll let you know what that all "
                    "means when i'm done, okay?",
                    "i'm just going to say out loud what i'm finding as i go, so do n't let that worry you, okay?",
                )
            )
        self.nod(0.5)
        if vitals:
            self.vital_signs(vitals)
        exams = self.case.of("exam")
        for i, fact in enumerate(exams):
            clinical = _lower(fact.text)
            if self.kind == "dictation":
                line = (
                    self.pick(f"on physical exam, {clinical}.", f"physical exam shows {clinical}.")
                    if i == 0
                    else f"{clinical}."
                )
            elif i == 0:
                line = self.pick(
                    f"so on exam, {clinical}.",
                    f"so on my exam, i do appreciate {clinical}.",
                    f"okay, so looking at you, {clinical}.",
                )
            else:
                line = self.pick(f"and {clinical}.", f"i also note {clinical}.", f"{clinical}.")
            if self.kind == "conversation" and self.chance(0.25):
                question, answer = self.rng.choice(EXAM_CHECKS)
                self.doc(question)
                self.pat(self.fresh(*answer))
            self.doc(line)
            self.nod(0.25)

    def vital_signs(self, vitals: list[Fact]) -> None:
        if vitals[0].value is None:  # "your vital signs look good"
            self.doc(self._vitals_fine(vitals[0]))
            return
        labels = {
            "°C": "temperature",
            "bpm": "heart rate",
            "mmHg": "blood pressure",
            "/min": "respiratory rate",
            "%": "oxygen saturation",
        }
        parts = [f"your {labels.get(f.unit or '', 'reading')} is {self.rng.choice(f.surface_forms)}" for f in vitals]
        if self.kind == "assistant":
            self.doc(f"hey, dragon, show me the vital signs. so here in the office today, {_join(parts)}.")
        elif self.kind == "dictation":
            self.doc(
                "vital signs: "
                + ", ".join(f"{labels.get(f.unit or '', 'reading')} {self.rng.choice(f.surface_forms)}" for f in vitals)
                + "."
            )
        else:
            self.doc(f"so i reviewed your vitals, and {_join(parts)}.")
        if self.chance(0.4):
            self.pat(self.pick("is that okay?", "is that normal?", "that's good, right?"))
            self.doc(self.pick("yeah, that's fine.", "that's not bad at all.", "we'll keep an eye on it."))

    def _vitals_fine(self, fact: Fact) -> str:
        said = self.rng.choice(fact.surface_forms[1:])
        if self.kind == "assistant":
            return f"hey, dragon, show me the vital signs. so here in the office, your {said}."
        return self.pick(f"so i reviewed your chart, and your {said}.", f"so your {said} today.")

    def results(self) -> None:
        labs, imaging = self.case.of("lab"), self.case.of("imaging")
        if not labs and not imaging:
            return
        if self.kind == "assistant":
            self.doc("so let's take a look at some of your results, okay?")
            self.nod(0.7)
        else:
            self.doc(
                self.pick(
                    "so i did review the results of your tests.",
                    "now, i got some of your results back.",
                    "alright, so let's go over your results.",
                )
            )
        for fact in labs:
            if fact.value is None:
                said = fact.surface_forms[min(2, len(fact.surface_forms) - 1)]
            else:
                said = fact.surface_forms[0]
            prefix = "hey, dragon, show me the labs. " if self.kind == "assistant" and self.chance(0.5) else ""
            self.doc(f"{prefix}{self.pick('so your ', 'and your ', '')}{_lower(said)}.")
            self.nod(0.3)
        for fact in imaging:
            study, _, finding = fact.text.partition(": ")
            study = _lower(study)
            prefix = f"hey, dragon, show me the {study}. " if self.kind == "assistant" else ""
            if finding:
                self.doc(
                    prefix
                    + self.pick(f"so the {study} showed {finding}.", f"looking at your {study}, there's {finding}.")
                )
            else:
                self.doc(prefix + f"{_lower(fact.text)}.")
        if self.chance(0.5):
            self.pat(self.pick("okay. and what does that mean?", "is that bad?", "okay."))

    def assessment_and_plan(self) -> None:
        diagnosis = self.case.one("diagnosis")
        self.doc(
            self.pick(
                "alright, so let's talk a little bit about my assessment and plan for you.",
                "okay, so, let me tell you what i think is going on.",
                "so, putting all of that together, here's what i'm thinking.",
            )
        )
        self.nod(0.5)
        if diagnosis is not None:
            lay = self.case.lay_diagnosis
            explain = f", which is basically {_lower(lay)}" if lay != diagnosis.text and self.chance(0.7) else ""
            self.doc(
                f"{self.um(0.3)}for your {self.pick('symptoms', 'problem')}, i think {self.you} "
                f"{'have' if self.you == 'you' else 'has'} {_lower(diagnosis.text)}{explain}."
            )
            if self.chatty(0.8):
                self.doc(
                    self.fresh(
                        "and i know that can sound scary when you first hear it, but it's something i see a lot, and "
                        "most people do really well once we have a plan in place.",
                        "it's really common, actually, and it makes sense with everything you've been telling me "
                        "and with what i'm seeing on exam today.",
                        "so that's what i think is behind what you've been feeling, and that's why we're going to "
                        "focus on getting it under control today.",
                    )
                )
        ddx = [self.form(f, lay=False) for f in self.case.of("differential")]
        if ddx:
            self.doc(
                self.pick(
                    f"i did think about {_join(ddx)}, but i do n't think that's what's going on here.",
                    f"we could also be looking at {_join(ddx)}, but those are less likely.",
                )
            )
        self.pat(
            self.pick(
                "okay. is that serious?",
                "okay, that makes sense, actually.",
                "oh, okay.",
                "huh. so what do we do about it?",
            )
        )
        self.doc(self.pick(*EXPLANATIONS))
        for explanation in self.rng.sample(EXPLANATIONS, 4):
            if not self.chatty(0.75):
                break
            self.pat(self.fresh(*ACKS))
            self.doc(explanation)
        self.doc(self.pick("so here's what i'd like to do.", "let's talk about next steps.", "so, for the plan."))
        for fact in [f for f in self.case.facts if f.section == "P"]:
            self.plan_item(fact)
        for question, answer in self.rng.sample(QUESTIONS, min(len(QUESTIONS), int(self.talk * 1.6))):
            if not self.chatty(0.8):
                break
            self.pat(f"{self.um()}{question}")
            self.doc(answer)
        self.pat(self.pick("okay, that sounds good.", "alright, that sounds like a plan.", "okay, i can do that."))

    def plan_item(self, fact: Fact) -> None:
        text = _lower(fact.text)
        if fact.text in PLAN_DETAIL_TEXTS:
            self.doc(PLAN_DETAIL_TEXTS[fact.text])
            self.nod(0.5)
            return
        if fact.kind == "plan" and text.startswith(CONTINUE):
            problem = next((h for h in self.case.of("history") if text.endswith(_lower(h.text))), None)
            lay = self.form(problem) if problem else text[len(CONTINUE) :]
            self.doc(
                self.pick(
                    f"now, for your {lay}, you're doing well with that, so let's just "
                    "continue your current medications, okay?",
                    f"and as far as your {lay}, i would n't change anything. continue your current medications.",
                )
            )
            self.nod(0.6)
            return
        if fact.kind == "medication":
            verb = text.split(" ", 1)[0] in _PLAN_VERBS
            self.doc(
                self.pick(
                    f"so we're going to {text}." if verb else f"so i'm going to start you on {text}.",
                    f"for that, i want to do {text}.",
                    f"i'm going to send in a prescription: {text}.",
                )
            )
            self.nod(0.6)
        elif fact.kind == "test":
            self.doc(self.pick(f"i also want to order {text}.", f"and we'll go ahead and get {text}, just to be sure."))
            if self.chance(0.4) and not any("get ready for that" in t["text"] for t in self.turns):
                self.pat("okay. do i need to do anything to get ready for that?")
                self.doc("no, the front desk will give you all the details.")
        elif fact.kind == "referral":
            self.doc(self.pick(f"i'm also going to refer you to {text}.", f"and i want you to see {text}."))
        elif fact.kind == "follow_up":
            forms = complete_forms(fact)
            lay = len(forms) > 1 and self.chance(0.6)
            said = _lower(forms[1]) if lay else text
            if lay and said.startswith(("i'll", "i ")):
                self.doc(f"and {said}, okay?")
            else:
                self.doc(
                    self.pick(f"and i'd like to {said}.", f"so {said}, okay?") if lay else f"and let's do a {text}."
                )
        else:
            forms = complete_forms(fact)
            said = _lower(forms[1]) if len(forms) > 1 and self.chance(0.5) else text
            self.doc(self.pick(f"and, you know, {said}.", f"also, {said}.", f"one more thing: {said}."))
        if self.chatty(0.8):
            kind = fact.kind if fact.kind in ELABORATIONS else "other"
            self.doc(self.pick(*ELABORATIONS[kind]))
            self.nod(0.6)
        else:
            self.nod(0.35)

    def closing(self) -> None:
        self.doc(self.pick("do you have any questions for me?", "any questions about any of that?"))
        if self.chance(0.4):
            self.pat(
                self.pick(
                    "um, can i still go to work?" if self.case.age >= 18 else "um, can i still go to school?",
                    "is there anything i should avoid?",
                    "should i be worried about this?",
                )
            )
            self.doc(
                self.pick(
                    "within reason, yes. just listen to your body.",
                    "not at this point, but call us if anything changes.",
                    "no, i think we're on the right track.",
                )
            )
        self.pat(self.pick("no, i think that's it.", "nope, you covered everything.", "no, thank you."))
        self.doc(
            self.pick(
                "alright, the nurse will be in to get you checked out. take care.",
                f"okay, {self.first}, take care, and we'll see you soon.",
                "great. it was good to see you.",
            )
        )
        if self.kind == "dictation" and self.chance(0.7):
            self.dictate_plan()

    def dictate_plan(self) -> None:
        """After the patient leaves, the doctor dictates the assessment and plan (as in ACI-Bench's virtscribe)."""
        diagnosis = self.case.one("diagnosis")
        sex = ("female" if self.case.sex == "F" else "male") if self.case.age >= 18 else "child"
        line = f"okay, so, assessment and plan. {self.case.patient_name.lower()} is a {self.case.age}-year-old {sex}"
        if diagnosis is not None:
            line += f" with {_lower(diagnosis.text)}."
        items = [_lower(f.text) for f in self.case.facts if f.section == "P"]
        if items:
            line += f" plan: {'. '.join(items)}."
        self.doc(line + " the patient understands and agrees with the plan. end of dictation.")

    def _interrupt(self, turns: Dialogue) -> Dialogue:
        """Cut some long doctor turns in two with the patient's backchannel or an interruption between."""
        out: Dialogue = []
        for turn in turns:
            text = turn["text"]
            if turn["speaker"] == "doctor" and len(text.split()) > 14 and self.chance(0.15) and ", " in text:
                cut = text.index(", ", len(text) // 3) if ", " in text[len(text) // 3 :] else -1
                if cut > 0:
                    head, tail = text[:cut], text[cut + 2 :]
                    before = missing_facts(self.case.facts, [turn])
                    split = [{"speaker": "doctor", "text": head + "-"}, {"speaker": "doctor", "text": tail}]
                    if missing_facts(self.case.facts, split) == before:
                        out.append(split[0])
                        out.append({"speaker": self.pt, "text": self.pick(*BACKCHANNELS, "sorry, go ahead.")})
                        out.append(split[1])
                        continue
            out.append(turn)
        return out
