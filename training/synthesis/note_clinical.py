"""Gold notes in the clinicians' style of ACI-Bench, written only from the facts a visit states.

The shape follows the ACI-Bench notes as `training.evaluation.datasets` loads them (the all-caps
headers CHIEF COMPLAINT, HISTORY OF PRESENT ILLNESS, REVIEW OF SYSTEMS, PHYSICAL EXAMINATION,
RESULTS, ASSESSMENT AND PLAN are dropped there, so they are not written here either, and synthetic
and real references look alike to a model trained on both):

* S: the chief complaint line, the history of present illness in prose, review of systems as
  ``• System: Endorses ... Denies ...`` lines;
* O: vital signs only when the visit stated them, ``• System: finding`` examination lines, then
  results read out;
* A: a one-line summary, the diagnosis and its ``• Medical Reasoning:`` line;
* P: ``• Medical Treatment / Additional Testing / Specialist Referrals / Patient Education and
  Counseling:`` lines, the patient's agreement and the follow-up.

Every sentence is built from the case's facts (with their clinical wording), so a fact is in the
note exactly when it is in `case.facts`, and `case.facts` holds only what the dialogue states.
"""

from __future__ import annotations

import re

from .render_offline import _cap, _join, _lower
from .sampler import Case, Fact

CONTINUE = "continue current medications for "  # the plan line of a chronic problem the visit reviewed
# keyword -> system, first match wins (checked against the lower-cased fact text)
_SYSTEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Constitutional",
        ("fever", "chill", "shiver", "rigor", "weight", "fatigue", "tired", "night sweat", "appetite", "malaise"),
    ),
    ("Eyes", ("eye", "vision", "visual", "conjunctiv", "pupil", "retina", "fundus")),
    ("Ears, Nose, Mouth, and Throat", ("ear", "hearing", "throat", "nose", "nasal", "sinus", "tonsil", "mouth")),
    ("Cardiovascular", ("chest pain", "palpitation", "heart", "murmur", "edema", "swelling of", "pulse", "carotid")),
    ("Respiratory", ("cough", "breath", "wheez", "lung", "sputum", "crackle", "respirat", "chest")),
    (
        "Gastrointestinal",
        ("nause", "vomit", "diarrh", "constipat", "abdom", "stool", "bowel", "heartburn", "reflux", "liver"),
    ),
    ("Genitourinary", ("urin", "bladder", "kidney", "prostat", "testic", "vagin", "pelvic", "menstru", "period")),
    (
        "Musculoskeletal",
        ("joint", "back", "knee", "shoulder", "hip", "muscle", "ankle", "wrist", "neck", "spine", "gait", "limb"),
    ),
    ("Skin", ("rash", "skin", "itch", "lesion", "wound", "blister", "hives")),
    (
        "Neurological",
        ("headache", "dizz", "numb", "tingl", "weakness", "seizure", "memory", "speech", "reflex", "tremor"),
    ),
    ("Psychiatric", ("mood", "anxi", "depress", "sleep", "suicid", "focus", "attention", "mental", "hallucin")),
)


_SYSTEM_PATTERNS = [(name, re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + ")")) for name, words in _SYSTEMS]


def system_of(text: str) -> str:
    """The organ system a symptom or finding belongs to (by keyword at a word start), else General."""
    low = text.lower()
    for name, pattern in _SYSTEM_PATTERNS:
        if pattern.search(low):
            return name
    return "General"


def _period(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


_VITAL_LABELS = {
    "°C": "Temperature",
    "bpm": "Heart Rate",
    "mmHg": "Blood Pressure",
    "/min": "Respiratory Rate",
    "%": "Oxygen Saturation",
}
_SOCIAL_VERBS = ("works", "drinks", "lives", "smokes", "quit", "uses", "walks", "plays", "runs", "eats", "attends")


class _Note:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.he, self.his = ("she", "her") if case.sex == "F" else ("he", "his")
        adult = case.age >= 18
        self.noun = ("female" if case.sex == "F" else "male") if adult else ("girl" if case.sex == "F" else "boy")
        demo = case.one("demographic")
        self.age = f"{case.age}-year-old" if demo is None else demo.text.split(" ")[0]
        self.name = case.patient_name

    def texts(self, kind: str) -> list[str]:
        return [_lower(f.text) for f in self.case.of(kind)]

    def summary(self, history: bool = True) -> str:
        chief = self.case.one("chief_complaint")
        history = self.texts("history") if history else []
        text = f"{self.name} is a {self.age} {self.noun}"
        if history:
            text += f" with a past medical history significant for {_join(history)},"
        return f"{text} who presents today for evaluation of {_lower(chief.text) if chief else 'a new problem'}."

    # S ------------------------------------------------------------------------------------------
    def subjective(self) -> str:
        case, he, his = self.case, self.he, self.his
        chief = case.one("chief_complaint")
        lines = [_period(_cap(chief.text))] if chief else []
        lines.append(self.summary())
        hpi: list[str] = []
        if case.speaker == "parent":
            hpi.append("History is provided by the patient's parent.")
        duration, onset, severity = case.one("duration"), case.one("onset"), case.one("severity")
        if duration:
            start = f"The symptoms began {duration.text} ago"
            hpi.append(f"{start} with a {onset.text}." if onset else f"{start}.")
        elif onset:
            hpi.append(f"The symptoms had a {onset.text}.")
        hpi += [fact.text for fact in case.of("story")]  # already a sentence (render_realistic.STORIES)
        if severity:
            hpi.append(f"The patient rates the severity at {severity.text}.")
        symptoms = self.texts("symptom")
        if symptoms:
            hpi.append(f"{_cap(he)} also reports {_join(symptoms)}.")
        negatives = self.texts("negative")
        if negatives:
            hpi.append(f"{_cap(he)} denies {_join(negatives)}.")
        for i, detail in enumerate(self.texts("hpi")):
            hpi.append(f"{('The patient reports', f'{_cap(he)} notes', f'{_cap(he)} states')[i % 3]} {detail}.")
        lines.append(" ".join(hpi))
        reviewed = [f.text[len(CONTINUE) :] for f in case.of("plan", section="P") if f.text.startswith(CONTINUE)]
        if reviewed:
            lines.append(" ".join(f"Regarding {his} {problem}, {he} reports doing well." for problem in reviewed))
        background: list[str] = []
        meds = [f.text for f in case.of("medication", section="S")]
        if meds:
            background.append(f"{_cap(his)} current medications include {_join(meds)}.")
        allergy = case.one("allergy")
        if allergy:
            background.append(f"Allergies: {allergy.text}.")
        notable = []
        for social in self.texts("social"):
            if social.startswith(_SOCIAL_VERBS):
                background.append(f"{_cap(he)} {social}.")
            elif social.startswith(("retired ", "university ")):
                background.append(f"{_cap(he)} is a {social}.")
            else:
                notable.append(social)
        if notable:
            background.append(f"Social history is notable for {_join(notable)}.")
        family = self.texts("family")
        if family:
            background.append(f"Family history is significant for {_join(family)}.")
        if background:
            lines.append(" ".join(background))
        ros = self.review_of_systems(chief, case.of("symptom"), case.of("negative"))
        return "\n".join(lines + ros)

    def review_of_systems(self, chief: Fact | None, symptoms: list[Fact], negatives: list[Fact]) -> list[str]:
        systems: dict[str, dict[str, list[str]]] = {}
        for fact, key in [(chief, "Endorses")] * bool(chief) + [(f, "Endorses") for f in symptoms]:
            assert fact is not None
            systems.setdefault(system_of(fact.text), {}).setdefault(key, []).append(_lower(fact.text))
        for fact in negatives:
            systems.setdefault(system_of(fact.text), {}).setdefault("Denies", []).append(_lower(fact.text))
        out = []
        for system, parts in systems.items():
            said = " ".join(f"{key} {_join(items)}." for key, items in parts.items())
            out.append(f"• {system}: {said}")
        return out

    # O ------------------------------------------------------------------------------------------
    def objective(self) -> str:
        lines = []
        for fact in self.case.of("vital"):
            if fact.value is None:  # a qualitative statement ("vital signs within normal limits")
                lines.append(_period(_cap(fact.text)))
                continue
            label = _VITAL_LABELS.get(fact.unit or "", "Vital sign")
            value = fact.text.split(" ", 1)[1] if " " in fact.text else fact.text
            lines.append(f"• {label}: {value}.")
        exams: dict[str, list[str]] = {}
        for fact in self.case.of("exam"):
            exams.setdefault(system_of(fact.text), []).append(_period(_cap(fact.text)))
        lines += [f"• {system}: {' '.join(items)}" for system, items in exams.items()]
        results = []
        for fact in self.case.of("lab"):
            results.append(_period(_cap(fact.text)))
        for fact in self.case.of("imaging"):
            study, _, finding = fact.text.partition(": ")
            results.append(_period(f"{_cap(study)} reveals {finding}" if finding else _cap(fact.text)))
        if results:
            lines.append("Results:")
            lines += results
        return "\n".join(lines)

    # A ------------------------------------------------------------------------------------------
    def assessment(self) -> str:
        case = self.case
        diagnosis = case.one("diagnosis")
        lines = [self.summary(history=False)]
        if diagnosis is None:
            return "\n".join(lines)
        lines.append(_period(_cap(diagnosis.text)))
        evidence = []
        chief = case.one("chief_complaint")
        if chief:
            evidence.append(_lower(chief.text))
        evidence += self.texts("symptom")[:1]
        reasoning = f"The patient's {_join(evidence)}" if evidence else "The presentation"
        duration = case.one("duration")
        if duration:
            reasoning += f" over the past {duration.text}"
        findings = self.texts("exam")[:1] + [_lower(f.text) for f in (case.of("lab") + case.of("imaging"))[:1]]
        if findings:
            reasoning += f", together with {_join(findings)},"
        reasoning += f" are consistent with {_lower(diagnosis.text)}."
        lines.append(f"• Medical Reasoning: {reasoning}")
        ddx = self.texts("differential")
        if ddx:
            lines.append(f"• Differential Diagnosis: {_cap(_join(ddx))} were considered and are less likely.")
        for fact in case.of("plan", section="P"):
            if fact.text.startswith(CONTINUE):
                lines.append(_period(_cap(fact.text[len(CONTINUE) :])))
                lines.append("• Medical Reasoning: The patient reports doing well with this.")
        return "\n".join(lines)

    # P ------------------------------------------------------------------------------------------
    def plan(self) -> str:
        labels = {
            "medication": "Medical Treatment",
            "plan": "Medical Treatment",
            "test": "Additional Testing",
            "referral": "Specialist Referrals",
            "education": "Patient Education and Counseling",
        }
        lines, follow = [], []
        for fact in self.case.facts:
            if fact.section != "P":
                continue
            if fact.kind == "follow_up":
                follow.append(_period(_cap(fact.text)))
            else:
                lines.append(f"• {labels.get(fact.kind, 'Medical Treatment')}: {_period(_cap(fact.text))}")
        lines.append(
            "Patient Agreements: The patient understands and agrees with the recommended medical treatment plan."
        )
        return "\n".join(lines + follow)


def clinical_note(case: Case) -> dict[str, str]:
    """The gold note {S, O, A, P} in ACI-Bench's style, from `case.facts` only."""
    note = _Note(case)
    return {"S": note.subjective(), "O": note.objective(), "A": note.assessment(), "P": note.plan()}
