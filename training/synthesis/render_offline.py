"""Offline dialogue renderer: a natural, varied visit that states every fact of a case, no model needed.

The visit follows the shape of a real consultation (greeting and small talk, open question,
history of the presenting complaint, closed questions for pertinent negatives, background
history, examination with vitals read aloud, results, the doctor's explanation, the plan
summarised, questions and goodbye). Variety comes from many phrasings per step, lay and
clinical wordings, numbers said in digits or words, patients who correct themselves, fillers,
and shuffled block order, so that dialogues of the same condition are not near-duplicates.

Every fact is stated with one of its surface forms; `missing_facts()` checks this and the
renderer appends a doctor line for any fact a template failed to carry (counted in `fallbacks`).
"""

from __future__ import annotations

import random
import re

from .numbers import int_words
from .sampler import Case, Fact

Dialogue = list[dict[str, str]]
_MG = re.compile(r"\b(\d+(?:\.\d+)?) ?(mg|mcg|g|ml|units)\b")
_VERBS = {"live", "share", "smoke", "quit", "never", "don't", "drink", "work", "used", "walk", "eat", "play", "run"}
_UNIT_WORDS = {"mg": "milligrams", "mcg": "micrograms", "g": "grams", "ml": "millilitres", "units": "units"}


def missing_facts(case_facts: list[Fact] | list[dict], dialogue: Dialogue) -> list[str]:
    """Texts of the facts that no surface form of which appears in the dialogue (case-insensitive)."""
    text = " ".join(turn["text"] for turn in dialogue).lower()
    missing = []
    for fact in case_facts:
        forms = fact.surface_forms if isinstance(fact, Fact) else fact["surface_forms"]
        label = fact.text if isinstance(fact, Fact) else fact["text"]
        if not any(form.lower() in text for form in forms):
            missing.append(label)
    return missing


def social_topic(text: str) -> str:
    """What a social-history fact is about: smoking, alcohol, work, home or other (picks the question)."""
    text = text.lower()
    if "smok" in text or "cigar" in text or "tobacco" in text:
        return "smoking"
    if any(w in text for w in ("alcohol", "drink", "wine", "beer")):
        return "alcohol"
    if text.startswith(("works as", "retired", "university")) or "school" in text or "daycare" in text:
        return "work"
    return "home" if text.startswith("lives") else "other"


def _spoken_dose(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        number = match.group(1)
        words = int_words(int(number)) if "." not in number else number
        return f"{words} {_UNIT_WORDS[match.group(2)]}"

    return _MG.sub(repl, text)


def _first_person(text: str) -> str:
    """Lay social-history wordings are verb phrases ("live with my wife"); give them a subject."""
    return f"I {text}" if text.split(" ", 1)[0] in _VERBS else text


def _lower(text: str) -> str:
    """Lower-case a leading capital unless the word is an acronym (ECG, TSH, CRP)."""
    return text[:1].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class OfflineRenderer:
    """Renders a Case to a dialogue: ``OfflineRenderer().render(case) -> list[{speaker, text}]``."""

    name = "offline"

    def __init__(self) -> None:
        self.fallbacks = 0

    def render(self, case: Case) -> Dialogue:
        visit = _Visit(case, random.Random(case.seed ^ 0x5F3759DF))
        dialogue = visit.run()
        for text in missing_facts(case.facts, dialogue):
            self.fallbacks += 1
            dialogue.append({"speaker": "doctor", "text": f"And for the record: {text}."})
        return dialogue


class _Visit:
    def __init__(self, case: Case, rng: random.Random) -> None:
        self.case, self.rng = case, rng
        self.turns: Dialogue = []
        self.pt = case.speaker
        self.child = case.speaker == "parent"
        self.first = case.patient_name.split()[0]

    # helpers ------------------------------------------------------------------------------------
    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def say(self, speaker: str, text: str) -> None:
        if speaker != "doctor" and self.rng.random() < 0.08:
            text = self.pick("Um, ", "Well, ", "Hmm, ", "Honestly, ", "You know, ") + text[:1].lower() + text[1:]
        self.turns.append({"speaker": speaker, "text": _cap(text.strip())})

    def doc(self, text: str) -> None:
        self.say("doctor", text)

    def pat(self, text: str) -> None:
        self.say(self.pt, text)

    def form(self, fact: Fact, lay: bool = True) -> str:
        """One surface form; lay wordings favoured for the patient's side."""
        forms = fact.surface_forms
        if lay and len(forms) > 1 and self.rng.random() < 0.8:
            return self.rng.choice(forms[1:])
        return self.rng.choice(forms) if self.rng.random() < 0.3 else forms[0]

    @property
    def they(self) -> str:
        return ("she" if self.case.sex == "F" else "he") if self.child else "you"

    # the visit -----------------------------------------------------------------------------------
    def run(self) -> Dialogue:
        self.greeting()
        self.presenting_complaint()
        blocks = [self.history, self.medications, self.allergies, self.social, self.family]
        self.rng.shuffle(blocks)
        if self.rng.random() < 0.5:
            blocks.insert(0, blocks.pop(blocks.index(self.history)))
        for block in blocks:
            block()
        self.negatives_if_late()
        self.examination()
        self.results()
        self.assessment()
        self.plan()
        self.closing()
        return self.turns

    def greeting(self) -> None:
        c, doctor = self.case, self.case.doctor
        if self.child:
            self.doc(self.pick("Hello there, come on in. And who do we have here?", f"Hi, I'm {doctor}. Who's this?"))
            relation = "daughter" if c.sex == "F" else "son"
            self.pat(f"This is {self.first}, my {relation}.")
        else:
            self.doc(
                self.pick(
                    f"Good morning, {self.first}. I'm {doctor}, nice to meet you.",
                    f"Hi, {c.patient_name.split()[1]}? Come on in, I'm {doctor}.",
                    f"Hello {self.first}, good to see you again.",
                    f"Afternoon! {self.first}, is it? Have a seat.",
                    f"Hi there, I'm {doctor}. You must be {self.first}.",
                )
            )
            self.pat(self.pick("Hi, doctor.", "Hello, thanks for seeing me.", "Nice to meet you.", "Hi. Thanks."))
        if self.rng.random() < 0.65:
            self.doc(c.small_talk[0])
            self.pat(c.small_talk[1])
        demo = self.case.one("demographic")
        assert demo is not None
        age = self.pick(str(c.age), int_words(c.age))
        if self.child:
            self.doc(self.pick(f"And how old is {self.first} now?", "How old is your little one?"))
            self.pat(self.pick(f"{_cap(age)}.", f"{self.they.capitalize()} just turned {age}."))
        elif self.rng.random() < 0.5:
            self.doc(self.pick("Can I just confirm your age?", "And how old are you now?", "Remind me of your age?"))
            self.pat(self.pick(f"I'm {age}.", f"{_cap(age)}.", f"{_cap(age)}, I'm afraid.", f"Just turned {age}."))
        else:
            self.doc(self.pick(f"I see from your chart you're {age}.", f"So you're {age}, is that right?"))
            self.pat(self.pick("That's right.", "Yes.", "Yep, that's me."))

    def presenting_complaint(self) -> None:
        case = self.case
        chief = case.one("chief_complaint")
        assert chief is not None
        self.doc(
            self.pick(
                "What brings you in today?",
                "So, what's been going on?",
                "How can I help you today?",
                "Tell me what's been bothering you.",
                "What can I do for you?",
                f"What's brought {self.first} in today?" if self.child else "What seems to be the problem?",
            )
        )
        lay = self.form(chief)
        self.pat(
            self.pick(
                f"Well, {lay}.", f"So basically, {lay}.", f"{_cap(lay)}. That's the main thing.", f"It's {lay}, mostly."
            )
        )
        if lay.lower() != chief.text.lower() and self.rng.random() < 0.55:
            self.doc(
                self.pick(f"Okay, so {chief.text}.", f"Right, what we'd call {chief.text}.", f"I see, {chief.text}.")
            )
        self.onset_duration()
        self.severity()
        self.associated()
        self.late_negatives = self.rng.random() < 0.3
        if not self.late_negatives:
            self.negatives()

    def onset_duration(self) -> None:
        duration, onset = self.case.one("duration"), self.case.one("onset")
        assert duration is not None and onset is not None
        dur = self.rng.choice(duration.surface_forms[:2])
        how = self.rng.choice(onset.surface_forms[2:])
        self.doc(
            self.pick(
                "When did this start?",
                "How long has this been going on?",
                "And how long has it been?",
                "When did you first notice it?",
            )
        )
        if self.rng.random() < 0.18 and isinstance(duration.value, int) and duration.value > 1:
            wrong = int_words(duration.value - 1 if self.rng.random() < 0.5 else duration.value + 1)
            self.pat(f"Maybe {wrong} {duration.unit}... no, actually, it's been {dur} now.")
        else:
            self.pat(
                self.pick(f"About {dur} now.", f"It's been {dur}.", f"Going on {dur}, I'd say.", f"Roughly {dur}.")
            )
        if how in ("suddenly", "gradually", "slowly"):
            phrase = self.pick(f"It came on {how}.", f"Started {how}, really.")
        else:
            phrase = self.pick(f"It came on {how}.", f"It started {how}.", f"Honestly, it was {how}.")
        if self.rng.random() < 0.5:
            self.doc(self.pick("Did it come on suddenly or gradually?", "Did it start all at once or build up?"))
        self.pat(phrase)

    def severity(self) -> None:
        sev = self.case.one("severity")
        assert sev is not None
        self.doc(
            self.pick(
                "On a scale of one to ten, how bad is it?",
                "If ten is the worst you can imagine, where would you put it?",
                "How severe would you say it is, zero to ten?",
                "How much is it bothering you, out of ten?",
            )
        )
        form = self.rng.choice(sev.surface_forms[1:])
        self.pat(self.pick(f"I'd say {form}.", f"Probably {form}.", f"Hmm, {form} on a bad day.", f"About {form}."))

    def associated(self) -> None:
        symptoms = self.case.of("symptom")
        if not symptoms:
            return
        self.doc(
            self.pick(
                "Anything else you've noticed?",
                "Have you had any other symptoms?",
                "What else has been going on?",
                "Anything else along with that?",
            )
        )
        for i, fact in enumerate(symptoms):
            lay = self.form(fact)
            lead = ("And " if i else "") + self.pick("also ", "there's ", "I've noticed ", "", "oh, and ")
            self.pat(f"{lead}{lay}." if lead.strip() else f"{_cap(lay)}.")
            if lay.lower() != fact.text.lower() and self.rng.random() < 0.35:
                self.doc(self.pick(f"Mm-hm, {fact.text}.", f"Okay, noted: {fact.text}.", f"So {fact.text}. Got it."))

    def negatives(self) -> None:
        negs = self.case.of("negative")
        if not negs:
            return
        if len(negs) > 1 and self.rng.random() < 0.4:
            self.doc(f"Any {_join([self.form(n) for n in negs])}?")
            self.pat(self.pick("No, none of those.", "No to all of that.", "No, nothing like that.", "Nope, none."))
            return
        for fact in negs:
            lay = self.form(fact)
            style = self.rng.random()
            if style < 0.5:
                self.doc(self.pick(f"Any {lay}?", f"Have you had any {lay}?", f"What about {lay}?"))
                self.pat(self.pick("No.", "No, not at all.", "Not that I've noticed.", "No, thankfully.", "None."))
            else:
                self.doc(self.pick("Anything else I should ask about?", "Anything you've not had that you'd expect?"))
                self.pat(
                    self.pick(
                        f"No {lay}, if that's what you're wondering.",
                        f"{self.they.capitalize()} hasn't had any {lay}."
                        if self.child
                        else f"I haven't had any {lay}.",
                        f"There's been no {lay}.",
                    )
                )

    def negatives_if_late(self) -> None:
        if self.late_negatives:
            whom = ("her" if self.case.sex == "F" else "him") if self.child else "you"
            self.doc(f"Before I examine {whom}, a few more questions.")
            self.negatives()

    def history(self) -> None:
        items = self.case.of("history")
        self.doc(
            self.pick(
                "Any medical problems I should know about?",
                "Do you have any ongoing health conditions?",
                "Any past medical history?",
                "Have you had any operations or long-term conditions?",
            )
        )
        if not items:
            self.pat(self.pick("No, I've been pretty healthy.", "Nothing really.", "Not that I know of."))
            return
        forms = [self.form(f) for f in items]
        self.pat(self.pick(f"Just {_join(forms)}.", f"Well, there's {_join(forms)}.", f"I have {_join(forms)}."))
        if self.rng.random() < 0.4:
            self.doc(f"So {_join([f.text for f in items])}. Okay.")

    def medications(self) -> None:
        meds = self.case.of("medication", section="S")
        self.doc(
            self.pick(
                "What medications are you taking?",
                "Are you on any regular medicines?",
                "Any tablets or prescriptions at the moment?",
            )
        )
        if not meds:
            self.pat(self.pick("Nothing regular.", "None at all.", "Just the odd painkiller, nothing regular."))
            return
        spoken = [_spoken_dose(m.text) if self.rng.random() < 0.5 else m.text for m in meds]
        self.pat(
            self.pick(
                f"I take {_join(spoken)}.", f"{_cap(_join(spoken))}.", f"Let me check my list... {_join(spoken)}."
            )
        )

    def allergies(self) -> None:
        allergy = self.case.one("allergy")
        assert allergy is not None
        self.doc(self.pick("Any allergies to medications?", "Are you allergic to anything?", "Any drug allergies?"))
        form = self.form(allergy)
        if form == "none":
            self.pat(self.pick("None.", "None that I know of. So none.", "No, none."))
        else:
            self.pat(f"{_cap(form)}." if len(form.split()) > 1 else self.pick(f"{_cap(form)}.", f"Just {form}."))

    def social(self) -> None:
        for fact in self.case.of("social"):
            topic = social_topic(fact.text)
            if topic == "smoking":
                question = self.pick("Do you smoke?", "Any smoking?", "What about cigarettes?")
            elif topic == "alcohol":
                question = self.pick("How much alcohol do you drink?", "Do you drink at all?", "And alcohol?")
            elif topic == "work":
                question = self.pick("What do you do for work?", "What's your job?", "Are you working at the moment?")
            elif topic == "home":
                question = self.pick("Who's at home with you?", "Who do you live with?")
            else:
                question = self.pick(
                    "Anything else going on lately, travel, habits, anything like that?",
                    "Anything in your routine I should know about?",
                )
            self.doc(question)
            # Patients answer in their own words; the clinical wording ("never smoker") is the note's.
            spoken = self.rng.choice(fact.surface_forms[1:]) if len(fact.surface_forms) > 1 else fact.text
            self.pat(f"{_cap(_first_person(spoken))}.")

    def family(self) -> None:
        facts = self.case.of("family")
        self.doc(
            self.pick(
                "Anything that runs in the family?",
                "Any family history of medical problems?",
                "What about your family's health?",
            )
        )
        if not facts:
            self.pat(self.pick("Not really, no.", "Nothing I know of."))
            return
        forms = [self.form(f, lay=not self.child) for f in facts]
        self.pat(f"{_cap(_join(forms))}.")

    def examination(self) -> None:
        self.doc(
            self.pick(
                "Okay, let me examine you now.",
                "Let's have a look at you.",
                "I'd like to do a quick examination.",
                "Can you hop up on the table for me?",
            )
        )
        vitals = self.case.of("vital")
        order = vitals[:]
        self.rng.shuffle(order)
        labels = {
            "°C": "temperature",
            "bpm": "heart rate",
            "mmHg": "blood pressure",
            "/min": "breathing rate",
            "%": "oxygen level",
        }
        phrases = []
        for fact in order:
            label = labels.get(fact.unit or "", "reading")
            value = self.rng.choice(fact.surface_forms)
            phrases.append(self.pick(f"{label} {value}", f"{label} is {value}", f"your {label} is {value}"))
        if self.rng.random() < 0.5:
            self.doc(
                f"{self.pick('The nurse took your vitals:', 'Your vitals are:', 'So, vital signs:')} {_join(phrases)}."
            )
        else:
            half = len(phrases) // 2
            self.doc(f"{_cap(_join(phrases[:half]))}.")
            self.pat(self.pick("Is that okay?", "Is that normal?", "Hmm.", "Okay."))
            self.doc(f"{_cap(_join(phrases[half:]))}.")
        for fact in self.case.of("exam"):
            clinical = fact.text
            line = self.pick(
                f"On exam, {clinical}.",
                f"I'm noting {clinical}.",
                f"{_cap(clinical)}.",
                f"Let me check... {clinical}.",
            )
            if len(fact.surface_forms) > 1 and self.rng.random() < 0.5:
                line += f" In other words, {fact.surface_forms[1]}."
            self.doc(line)
            if self.rng.random() < 0.15:
                self.pat(self.pick("Ouch.", "Is that bad?", "Okay.", "That's a bit uncomfortable."))

    def results(self) -> None:
        labs, imaging = self.case.of("lab"), self.case.of("imaging")
        if not labs and not imaging:
            return
        self.doc(
            self.pick("I also have some results here.", "Let's go over the tests.", "Some of your results are back.")
        )
        for fact in labs:
            if fact.value is None:
                self.doc(self.pick(*fact.surface_forms[2:]) + ".")
                continue
            name = _lower(fact.text.partition(f" {fact.surface_forms[2]}")[0])
            value = self.rng.choice(fact.surface_forms[1:3])
            self.doc(
                self.pick(f"Your {name} came back at {value}.", f"{_cap(name)} is {value}.", f"The {name} was {value}.")
            )
        for fact in imaging:
            study, _, finding = fact.text.partition(": ")
            study = _lower(study)
            if finding:
                self.doc(
                    self.pick(
                        f"The {study} showed {finding}.",
                        f"Your {study}: {finding}.",
                        f"On the {study} there's {finding}.",
                    )
                )
            else:
                self.doc(f"{_cap(fact.text)}.")
        if self.rng.random() < 0.4:
            self.pat(self.pick("What does all that mean?", "Is that bad?", "Okay, I'm not sure I follow."))

    def assessment(self) -> None:
        diagnosis = self.case.one("diagnosis")
        assert diagnosis is not None
        lay = self.case.lay_diagnosis
        opener = self.pick(
            "So, putting this together,",
            "Based on all of that,",
            "Okay. My impression is that",
            "From what you've told me and the exam,",
        )
        explain = f", which is {lay}" if lay != diagnosis.text and self.rng.random() < 0.8 else ""
        self.doc(f"{opener} {self.they} {'have' if self.they == 'you' else 'has'} {_lower(diagnosis.text)}{explain}.")
        ddx = [self.form(f, lay=False) for f in self.case.of("differential")]
        if ddx:
            self.doc(
                self.pick(
                    f"I did think about {_join(ddx)}, but the picture fits less well.",
                    f"Other possibilities would be {_join(ddx)}, though they're less likely.",
                    f"We should keep {_join(ddx)} in mind, but I don't think that's it.",
                )
            )
        self.pat(
            self.pick(
                "Oh. Is that serious?",
                "That makes sense, actually.",
                "I was worried it was something worse.",
                "Okay. What do we do about it?",
            )
        )

    def plan(self) -> None:
        items = [f for f in self.case.facts if f.section == "P"]
        self.doc(self.pick("Here's what I'd suggest.", "So here's the plan.", "Let's talk about next steps."))
        words = ["First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth"]
        numbered = self.rng.random() < 0.4
        for i, fact in enumerate(items):
            lay = fact.kind in ("education", "follow_up") and len(fact.surface_forms) > 1 and self.rng.random() < 0.6
            text = fact.surface_forms[1] if lay else fact.text
            if numbered and i < len(words):
                line = f"{words[i]}, {text}."
            elif fact.kind == "medication":
                line = self.pick(
                    f"For medication: {text}.", f"Medication-wise, {text}.", f"I'm prescribing this: {text}."
                )
            elif fact.kind == "test":
                line = self.pick(f"I'm ordering {text}.", f"We'll arrange {text}.", f"Test-wise: {text}.")
            elif fact.kind == "referral":
                line = self.pick(f"Referral: {text}.", f"I'm also arranging this: {text}.")
            elif fact.kind == "follow_up":
                line = self.pick(f"And {text}." if lay else f"Last thing: {text}.", f"{_cap(text)}, okay?")
            else:
                line = self.pick(f"Also, {text}.", f"{_cap(text)}.", f"One more thing: {text}.")
            self.doc(line)
            if self.rng.random() < 0.2:
                self.pat(self.pick("Okay.", "Got it.", "Right.", "Mm-hm.", "How long will that take?"))
        if self.rng.random() < 0.5:
            self.pat(self.pick("So, just to check I've got it all...", "Can you go over that once more?"))
            self.doc(f"Sure. In short: {'; '.join(f.text for f in items[:3])}, and the rest as we discussed.")

    def closing(self) -> None:
        if self.rng.random() < 0.5:
            self.pat(
                self.pick(
                    "Can I still go to work?",
                    "Is there anything I should avoid?",
                    "Should I be worried?",
                    "Can I take something for the pain in the meantime?",
                )
            )
            self.doc(
                self.pick(
                    "Let's take it step by step; call us if anything changes.",
                    "Within reason, yes, and listen to your body.",
                    "Not at this stage, but do ring if it gets worse.",
                )
            )
        self.pat(self.pick("Thank you, doctor.", "Thanks so much.", "Great, thanks for your time.", "Okay, thank you."))
        self.doc(
            self.pick(
                "Take care.", f"You're welcome, {self.first}. Take care.", "See you soon.", "Look after yourself."
            )
        )
