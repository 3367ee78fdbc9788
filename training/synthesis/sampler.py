"""Case sampler: one consistent, seeded patient case with gold facts and a reference SOAP note.

A case is drawn first and the dialogue rendered from it afterwards, so every dialogue carries the
exact facts it states (which makes a verifiable, fact-based reward possible). Facts are chosen
together: vital signs come from the condition's profiles (a febrile case has a fever
temperature), background history comes with its medicine, allergies never clash with what the
plan prescribes, and sex- or age-specific conditions get plausible demographics.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from inference.schema import SECTION_KEYS

from .catalog import PLAN_PREFIXES, Catalog, Condition, Specialty, split_forms
from .numbers import casual_words, format_number, int_words, number_words

# An allergy rules out every drug of its class (a penicillin-allergic case is never given amoxicillin).
ALLERGY_CLASHES: dict[str, tuple[str, ...]] = {
    "penicillin": (
        "penicillin",
        "amoxicillin",
        "ampicillin",
        "augmentin",
        "piperacillin",
        "nafcillin",
        "dicloxacillin",
    ),
    "sulfa": ("sulfamethoxazole", "sulfasalazine", "sulfadiazine"),
    "codeine": ("codeine",),
    "latex": (),
    "shellfish": (),
}


@dataclass(frozen=True)
class Fact:
    """One gold fact: its SOAP section, kind, canonical clinical text and the ways it may be said."""

    section: str
    kind: str
    text: str
    surface_forms: tuple[str, ...]
    value: float | int | None = None
    unit: str | None = None

    @property
    def lay(self) -> str:
        """The first lay wording (the clinical text when there is none)."""
        return self.surface_forms[1] if len(self.surface_forms) > 1 else self.text

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "section": self.section,
            "kind": self.kind,
            "text": self.text,
            "surface_forms": list(self.surface_forms),
        }
        if self.value is not None:
            data["value"] = self.value
        if self.unit is not None:
            data["unit"] = self.unit
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fact:
        return cls(
            section=data["section"],
            kind=data["kind"],
            text=data["text"],
            surface_forms=tuple(data.get("surface_forms") or (data["text"],)),
            value=data.get("value"),
            unit=data.get("unit"),
        )


def _fact(section: str, kind: str, item: str) -> Fact:
    forms = split_forms(item)
    return Fact(section, kind, forms[0], tuple(forms))


@dataclass
class Case:
    """A sampled patient case. `facts` are the gold facts; the rest are rendering hints."""

    seed: int
    specialty: str
    specialty_slug: str
    condition: str
    age: int
    sex: str
    patient_name: str
    doctor: str
    speaker: str
    lay_diagnosis: str
    occupation: str
    small_talk: tuple[str, str]
    facts: list[Fact] = field(default_factory=list)
    # "tidy": the compact S/O/A/P lists below; "clinical": ACI-Bench style prose (note_clinical.py)
    note_style: str = "tidy"

    def of(self, *kinds: str, section: str | None = None) -> list[Fact]:
        """Facts of the given kinds (all when none), optionally restricted to one section."""
        return [f for f in self.facts if (not kinds or f.kind in kinds) and (section is None or f.section == section)]

    def one(self, kind: str) -> Fact | None:
        found = self.of(kind)
        return found[0] if found else None

    def reference_note(self) -> dict[str, str]:
        """The gold SOAP note, in the contract's JSON shape {S, O, A, P}."""
        if self.note_style == "clinical":
            from .note_clinical import clinical_note

            return clinical_note(self)
        return {"S": self._subjective(), "O": self._objective(), "A": self._assessment(), "P": self._plan()}

    def fact_dicts(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.facts]

    def _subjective(self) -> str:
        demo, chief = self.one("demographic"), self.one("chief_complaint")
        duration, onset, severity = self.one("duration"), self.one("onset"), self.one("severity")
        assert demo and chief and duration and onset and severity
        opening = (
            f"{demo.text} presenting with {chief.text} for {duration.text}, {onset.text}, severity {severity.text}."
        )
        if self.speaker != "patient":
            opening += f" History given by the {self.speaker}."
        parts = [opening[0].upper() + opening[1:]]
        lists = [
            ("Associated symptoms", "symptom"),
            ("Denies", "negative"),
            ("Past medical history", "history"),
            ("Current medications", "medication"),
            ("Allergies", "allergy"),
            ("Social history", "social"),
            ("Family history", "family"),
        ]
        for label, kind in lists:
            items = [f.text for f in self.of(kind, section="S")]
            if items:
                parts.append(f"{label}: {'; '.join(items)}.")
            elif kind == "medication":
                parts.append("Current medications: none.")
        return " ".join(parts)

    def _objective(self) -> str:
        parts = []
        vitals = [f.text for f in self.of("vital")]
        if vitals:
            parts.append(f"Vitals: {', '.join(vitals)}.")
        for label, kind in (("Exam", "exam"), ("Labs", "lab"), ("Imaging/studies", "imaging")):
            items = [f.text for f in self.of(kind)]
            if items:
                parts.append(f"{label}: {'; '.join(items)}.")
        return " ".join(parts)

    def _assessment(self) -> str:
        diagnosis = self.one("diagnosis")
        assert diagnosis
        text = f"{diagnosis.text}."
        ddx = [f.text for f in self.of("differential")]
        if ddx:
            text += f" Differential diagnoses considered: {', '.join(ddx)}."
        return text

    def _plan(self) -> str:
        items = [f.text for f in self.facts if f.section == "P"]
        return "\n".join(f"{i}. {item[0].upper() + item[1:]}" for i, item in enumerate(items, 1))

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["facts"] = self.fact_dicts()
        return data


# ---------------------------------------------------------------------------------------------- sampling


def _vital_facts(catalog: Catalog, condition: Condition, age: int, rng: random.Random) -> list[Fact]:
    profiles = catalog.pools.vital_profiles
    ranges = dict(profiles["normal"].model_dump())
    age_profile = "infant" if age < 2 else "child" if age < 12 else "elderly" if age >= 70 else None
    for name in ([age_profile] if age_profile else []) + list(condition.vitals):
        ranges.update({k: v for k, v in profiles[name].model_dump().items() if v is not None})
    temp = round(rng.uniform(*ranges["temp"]), 1)
    hr, rr, spo2 = (rng.randint(*ranges[k]) for k in ("hr", "rr", "spo2"))
    sbp = rng.randint(*ranges["sbp"])
    dbp = min(rng.randint(*ranges["dbp"]), sbp - 25)  # a pulse pressure under 25 would read as an error
    return [
        Fact("O", "vital", f"T {temp:.1f} °C", (f"{temp:.1f}", number_words(temp, 1)), temp, "°C"),
        Fact("O", "vital", f"HR {hr} bpm", (str(hr), casual_words(hr), int_words(hr)), hr, "bpm"),
        Fact(
            "O",
            "vital",
            f"BP {sbp}/{dbp} mmHg",
            (f"{sbp}/{dbp}", f"{sbp} over {dbp}", f"{casual_words(sbp)} over {int_words(dbp)}"),
            sbp,
            "mmHg",
        ),
        Fact("O", "vital", f"RR {rr}/min", (str(rr), int_words(rr)), rr, "/min"),
        Fact(
            "O",
            "vital",
            f"SpO2 {spo2}% on room air",
            (f"{spo2}%", f"{spo2} percent", f"{int_words(spo2)} percent"),
            spo2,
            "%",
        ),
    ]


def _lab_facts(condition: Condition, rng: random.Random) -> list[Fact]:
    facts = []
    for spec in condition.lab_specs:
        if spec.result is not None:
            text = f"{spec.name}: {spec.result}"
            forms = (
                text,
                f"{spec.name} {spec.result}",
                f"{spec.name} was {spec.result}",
                f"{spec.name} came back {spec.result}",
            )
            facts.append(Fact("O", "lab", text, forms))
            continue
        assert spec.low is not None and spec.high is not None
        value = round(rng.uniform(spec.low, spec.high), spec.decimals)
        shown = format_number(value, spec.decimals)
        unit = f" {spec.unit}" if spec.unit else ""
        forms = (f"{spec.name} {shown}{unit}", f"{shown}{unit}", shown, number_words(value, spec.decimals))
        facts.append(
            Fact(
                "O",
                "lab",
                f"{spec.name} {shown}{unit}",
                forms,
                value if spec.decimals else int(value),
                spec.unit or None,
            )
        )
    return facts


def _plan_fact(item: str) -> Fact:
    prefix, sep, rest = item.partition(":")
    if sep and " " not in prefix and prefix in PLAN_PREFIXES:
        return _fact("P", PLAN_PREFIXES[prefix], rest)
    return _fact("P", "plan", item)


def _medication_fact(section: str, item: str) -> Fact:
    forms = split_forms(item)
    drug = forms[0].split(" ")[0]
    return Fact(section, "medication", forms[0], tuple(dict.fromkeys([*forms, drug])))


def _clashes(allergy: str, texts: list[str]) -> bool:
    lowered = " ".join(texts).lower()
    for key, drugs in ALLERGY_CLASHES.items():
        if key in allergy.lower() and any(drug in lowered for drug in drugs):
            return True
    return False


def _choose_allergy(catalog: Catalog, condition: Condition, drug_texts: list[str], rng: random.Random) -> str:
    options = [
        a
        for a in catalog.pools.allergies
        if not _clashes(a, drug_texts) and not any(word.lower() in a.lower() for word in condition.avoid)
    ]
    return rng.choice(options or catalog.pools.allergies[:1])


def _subset(items: list[str], rng: random.Random, keep: float, minimum: int) -> list[str]:
    chosen = [item for item in items if rng.random() < keep]
    if len(chosen) < min(minimum, len(items)):
        chosen = rng.sample(items, min(minimum, len(items)))
        chosen.sort(key=items.index)
    return chosen


def _demographic(age: int, sex: str, speaker: str) -> Fact:
    child, adult = ("girl", "woman") if sex == "F" else ("boy", "man")
    noun = child if age < 18 else adult
    text = f"{age}-year-old {noun}"
    return Fact("S", "demographic", text, (text, str(age), int_words(age)), age, "years")


def _duration(condition: Condition, rng: random.Random) -> Fact:
    low, high, unit = condition.duration_range
    value = rng.randint(low, high)
    unit_word = unit[:-1] if value == 1 else unit
    text = f"{value} {unit_word}"
    spoken = f"{'one' if value == 1 else int_words(value)} {unit_word}"
    forms = (text, spoken) + ((f"a {unit_word}", f"an {unit_word}") if value == 1 else ())
    return Fact("S", "duration", text, forms, value, unit)


def sample_case(catalog: Catalog, rng: random.Random | int, *, condition: str | None = None) -> Case:
    """Draw one consistent case. `rng` is a Random or a seed; the same seed gives the same case.

    `condition` (a condition name) pins the condition; otherwise it is drawn uniformly so every
    condition is covered evenly.
    """
    seed = rng if isinstance(rng, int) else rng.randrange(2**53)
    rng = random.Random(seed)
    pairs = catalog.conditions()
    if condition is not None:
        matches = [(s, c) for s, c in pairs if c.name.lower() == condition.lower()]
        if not matches:
            raise KeyError(f"condition {condition!r} is not in the catalog; see load_catalog().conditions()")
        spec, cond = matches[0]
    else:
        spec, cond = rng.choice(pairs)
    return _compose(catalog, spec, cond, seed, rng)


def _compose(catalog: Catalog, spec: Specialty, cond: Condition, seed: int, rng: random.Random) -> Case:
    pools = catalog.pools
    sex = cond.sex if cond.sex != "any" else rng.choice("MF")
    age = max(1, rng.randint(*cond.age))
    speaker = "parent" if age < 13 else "patient"
    first = rng.choice(pools.first_names_f if sex == "F" else pools.first_names_m)
    facts: list[Fact] = [_demographic(age, sex, speaker)]

    chief, *others = cond.sx
    facts.append(_fact("S", "chief_complaint", chief))
    onset = ("sudden onset", "sudden", "suddenly", "all of a sudden", "out of nowhere")
    gradual = ("gradual onset", "gradual", "gradually", "slowly", "little by little")
    facts.append(
        Fact("S", "onset", onset[0], onset) if cond.onset == "sudden" else Fact("S", "onset", gradual[0], gradual)
    )
    facts.append(_duration(cond, rng))
    sev = rng.randint(*cond.sev)
    facts.append(
        Fact(
            "S", "severity", f"{sev}/10", (f"{sev}/10", f"{sev} out of 10", f"{int_words(sev)} out of ten"), sev, "/10"
        )
    )
    facts += [_fact("S", "symptom", s) for s in _subset(others, rng, 0.8, 1)]
    facts += [_fact("S", "negative", s) for s in _subset(cond.neg, rng, 0.75, 1)]

    history = list(cond.hx)
    meds = list(cond.meds)
    seen = {split_forms(h)[0].lower() for h in history}
    for comorbidity in rng.sample(pools.comorbidities, rng.choice((0, 1, 1, 2))):
        key = split_forms(comorbidity.hx)[0].lower()
        male_only = "prostat" in key
        if (
            age < comorbidity.min_age
            or key in seen
            or (male_only and sex == "F")
            or key.split()[0] in cond.name.lower()
        ):
            continue
        seen.add(key)
        history.append(comorbidity.hx)
        if comorbidity.med:
            meds.append(comorbidity.med)
    facts += [_fact("S", "history", h) for h in history]
    facts += [_medication_fact("S", m) for m in meds]

    plan = [_plan_fact(p) for p in cond.plan]
    drug_texts = [p.text for p in plan] + [split_forms(m)[0] for m in meds]
    facts.append(_fact("S", "allergy", _choose_allergy(catalog, cond, drug_texts, rng)))

    social = list(cond.soc)
    joined = " ".join(social).lower()
    if age >= 16:
        if "smok" not in joined and "tobacco" not in joined:
            social.append(rng.choice(pools.smoking))
        if "alcohol" not in joined and "drink" not in joined:
            social.append(rng.choice(pools.alcohol))
    occupation = rng.choice(pools.occupations) if age >= 18 else ("attends school" if age >= 5 else "attends daycare")
    if age >= 18:
        if occupation.startswith(("retired", "university")):
            social.append(f"{occupation}|I'm a {occupation}")
        else:
            social.append(f"works as a {occupation}|I'm a {occupation}|I work as a {occupation}")
        if rng.random() < 0.5:
            social.append(rng.choice(pools.living))
    facts += [_fact("S", "social", s) for s in social]
    family = list(cond.fam) or ([rng.choice(pools.family)] if rng.random() < 0.6 else [])
    facts += [_fact("S", "family", f) for f in family]

    facts += _vital_facts(catalog, cond, age, rng)
    facts += [_fact("O", "exam", e) for e in cond.exam]
    facts += _lab_facts(cond, rng)
    facts += [Fact("O", "imaging", i, tuple(dict.fromkeys([i, i.partition(": ")[2] or i]))) for i in cond.img]

    facts.append(
        Fact("A", "diagnosis", cond.name, tuple(dict.fromkeys([cond.name, *([cond.lay] if cond.lay else [])])))
    )
    facts += [_fact("A", "differential", d) for d in cond.ddx[:3]]

    if rng.random() < 0.6:
        plan.append(_plan_fact(rng.choice(pools.generic_plan)))
    if not any(p.kind == "follow_up" for p in plan):
        plan.append(_plan_fact(rng.choice(pools.follow_up)))
    facts += plan

    return Case(
        seed=seed,
        specialty=spec.name,
        specialty_slug=spec.slug,
        condition=cond.name,
        age=age,
        sex=sex,
        patient_name=f"{first} {rng.choice(pools.surnames)}",
        doctor=rng.choice(pools.doctors),
        speaker=speaker,
        lay_diagnosis=cond.lay or cond.name,
        occupation=occupation,
        small_talk=tuple(rng.choice(pools.small_talk)),  # type: ignore[arg-type]
        facts=facts,
    )


def check_case(case: Case) -> list[str]:
    """Contradictions in a case (empty when consistent); the sampler must never produce any."""
    problems = []
    symptoms = {form.lower() for f in case.of("chief_complaint", "symptom") for form in f.surface_forms}
    for neg in case.of("negative"):
        if symptoms & {form.lower() for form in neg.surface_forms}:
            problems.append(f"negative {neg.text!r} contradicts a stated symptom")
    allergy = case.one("allergy")
    drugs = [f.text for f in case.facts if f.kind == "medication"]
    if allergy and _clashes(allergy.text, drugs):
        problems.append(f"allergy {allergy.text!r} clashes with a medication in {drugs}")
    temp = next((f.value for f in case.of("vital") if f.unit == "°C"), None)
    if temp is not None and any(n.text.lower() in ("fever", "no fever") for n in case.of("negative")) and temp >= 38.0:
        problems.append(f"temperature {temp} contradicts a denied fever")
    bp = next((f for f in case.of("vital") if f.unit == "mmHg"), None)
    if bp is not None:
        sbp, dbp = (int(x) for x in bp.surface_forms[0].split("/"))
        if dbp >= sbp:
            problems.append(f"blood pressure {bp.text} has diastolic >= systolic")
    for section in SECTION_KEYS:
        if not any(f.section == section for f in case.facts):
            problems.append(f"section {section} has no facts")
    return problems
