"""The clinical catalog: specialties, conditions and shared pools, validated at load.

The catalog is data (``catalog/*.yaml``), written tersely so that 400+ conditions stay reviewable:

* ``catalog/pools.yaml`` holds what many conditions share: vital-sign profiles (febrile,
  hypertensive, ...), comorbidities with the medicine that goes with each, social and family
  history, allergies, generic plan items, names.
* ``catalog/<specialty>.yaml`` lists that specialty's conditions. Every fact is one string,
  ``"clinical wording|lay wording|another lay wording"``; labs are ``"Name=lo-hi unit"``
  (numeric range, sampled) or ``"Name=result"`` (qualitative); plan items may carry a kind
  prefix (``rx:``, ``test:``, ``ref:``, ``edu:``, ``fu:``).

``load_catalog()`` parses and validates everything with pydantic and fails with a message that
names the file, the condition and the field, so a bad edit never reaches the sampler.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CATALOG_DIR = Path(__file__).with_name("catalog")
VITAL_KEYS = ("temp", "hr", "sbp", "dbp", "rr", "spo2")
PLAN_PREFIXES = {"rx": "medication", "test": "test", "ref": "referral", "edu": "education", "fu": "follow_up"}
_RANGE = re.compile(r"^(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)$")
_LAB = re.compile(r"^(?P<name>[^=]+)=(?P<result>[^|]+?)\s*$")
_DURATION = re.compile(r"^(\d+)-(\d+) (hours|days|weeks|months|years)$")


class CatalogError(ValueError):
    """The catalog files are invalid; the message names the file and field to fix."""


def split_forms(item: str) -> list[str]:
    """``"clinical|lay|lay2"`` -> ``["clinical", "lay", "lay2"]`` (stripped, empty forms dropped)."""
    return [part.strip() for part in item.split("|") if part.strip()]


def parse_range(text: str) -> tuple[float, float, int]:
    """``"3.5-5.1"`` -> (3.5, 5.1, decimals): the decimals of the wider-precision bound."""
    match = _RANGE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a range like '3.5-5.1'")
    lo, hi = match.group(1), match.group(2)
    decimals = max(len(b.split(".")[1]) if "." in b else 0 for b in (lo, hi))
    low, high = float(lo), float(hi)
    if low > high:
        raise ValueError(f"range {text!r} has its low bound above its high bound")
    return low, high, decimals


class LabSpec(BaseModel):
    """One lab or measurement: a numeric range sampled per case, or a fixed qualitative result."""

    name: str
    low: float | None = None
    high: float | None = None
    decimals: int = 0
    unit: str = ""
    result: str | None = None

    @classmethod
    def parse(cls, item: str) -> LabSpec:
        match = _LAB.match(item)
        if not match:
            raise ValueError(f"lab {item!r} must look like 'Name=lo-hi unit' or 'Name=result'")
        name, result = match.group("name").strip(), match.group("result").strip()
        head, _, unit = result.partition(" ")
        if _RANGE.match(head):
            low, high, decimals = parse_range(head)
            return cls(name=name, low=low, high=high, decimals=decimals, unit=unit.strip())
        return cls(name=name, result=result)


class VitalProfile(BaseModel):
    """Ranges that override the normal vital signs (a febrile case has a fever temperature)."""

    model_config = ConfigDict(extra="forbid")

    temp: tuple[float, float] | None = None
    hr: tuple[int, int] | None = None
    sbp: tuple[int, int] | None = None
    dbp: tuple[int, int] | None = None
    rr: tuple[int, int] | None = None
    spo2: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> VitalProfile:
        for key in VITAL_KEYS:
            bounds = getattr(self, key)
            if bounds is not None and bounds[0] > bounds[1]:
                raise ValueError(f"vital {key} range {bounds} has its low bound above its high bound")
        return self


class Comorbidity(BaseModel):
    """A background condition with the medicine that treats it, so history and meds agree."""

    model_config = ConfigDict(extra="forbid")

    hx: str
    med: str | None = None
    min_age: int = 18


class Condition(BaseModel):
    """One condition and the facts a real visit for it would produce (terse strings, see module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=3)
    lay: str = Field("", description="How a doctor explains the diagnosis in plain words.")
    age: tuple[int, int] = (18, 80)
    sex: Literal["M", "F", "any"] = "any"
    dur: str = Field("2-14 days", description="Symptom duration range, e.g. '3-10 days'.")
    onset: Literal["sudden", "gradual"] = "gradual"
    sev: tuple[int, int] = (3, 7)
    vitals: list[str] = Field(default_factory=list, description="Vital profiles from pools.yaml, applied in order.")
    sx: list[str] = Field(min_length=1, description="Symptoms; the first is the chief complaint.")
    neg: list[str] = Field(default_factory=list)
    hx: list[str] = Field(default_factory=list)
    meds: list[str] = Field(default_factory=list)
    fam: list[str] = Field(default_factory=list)
    soc: list[str] = Field(default_factory=list)
    exam: list[str] = Field(min_length=1)
    labs: list[str] = Field(default_factory=list)
    img: list[str] = Field(default_factory=list)
    ddx: list[str] = Field(min_length=1)
    plan: list[str] = Field(min_length=2)
    avoid: list[str] = Field(default_factory=list, description="Allergy classes the plan rules out (e.g. penicillin).")

    @field_validator("age", mode="before")
    @classmethod
    def _age(cls, value: object) -> object:
        if isinstance(value, str):
            low, high, _ = parse_range(value)
            return (int(low), int(high))
        return value

    @field_validator("sev", mode="before")
    @classmethod
    def _sev(cls, value: object) -> object:
        if isinstance(value, str):
            low, high, _ = parse_range(value)
            return (int(low), int(high))
        return value

    @field_validator("dur")
    @classmethod
    def _dur(cls, value: str) -> str:
        match = _DURATION.match(value)
        if not match or int(match.group(1)) > int(match.group(2)) or int(match.group(1)) < 1:
            raise ValueError(f"duration {value!r} must look like '3-10 days' (hours, days, weeks, months or years)")
        return value

    @field_validator("labs")
    @classmethod
    def _labs(cls, value: list[str]) -> list[str]:
        for item in value:
            LabSpec.parse(item)
        return value

    @field_validator("plan")
    @classmethod
    def _plan(cls, value: list[str]) -> list[str]:
        for item in value:
            prefix, sep, _rest = item.partition(":")
            if sep and " " not in prefix and prefix not in PLAN_PREFIXES:
                raise ValueError(
                    f"plan item {item!r} has unknown prefix {prefix!r}; use one of {sorted(PLAN_PREFIXES)}"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Condition:
        if not 0 <= self.age[0] <= self.age[1] <= 100:
            raise ValueError(f"age range {self.age} must be within 0-100 and ordered")
        if not 1 <= self.sev[0] <= self.sev[1] <= 10:
            raise ValueError(f"severity range {self.sev} must be within 1-10 and ordered")
        symptoms = {form.lower() for item in self.sx for form in split_forms(item)}
        for item in self.neg:
            clash = symptoms & {form.lower() for form in split_forms(item)}
            if clash:
                raise ValueError(f"pertinent negative {item!r} contradicts symptom(s) {sorted(clash)}")
        return self

    @property
    def duration_range(self) -> tuple[int, int, str]:
        match = _DURATION.match(self.dur)
        assert match is not None  # validated above
        return int(match.group(1)), int(match.group(2)), match.group(3)

    @property
    def lab_specs(self) -> list[LabSpec]:
        return [LabSpec.parse(item) for item in self.labs]


class Specialty(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    slug: str
    conditions: list[Condition] = Field(min_length=1)


class Pools(BaseModel):
    """Shared pools the sampler draws from (see pools.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vital_profiles: dict[str, VitalProfile]
    comorbidities: list[Comorbidity]
    allergies: list[str]
    smoking: list[str]
    alcohol: list[str]
    occupations: list[str]
    living: list[str]
    family: list[str]
    generic_plan: list[str]
    follow_up: list[str]
    first_names_f: list[str]
    first_names_m: list[str]
    surnames: list[str]
    doctors: list[str]
    small_talk: list[list[str]]

    @model_validator(mode="after")
    def _normal_profile(self) -> Pools:
        normal = self.vital_profiles.get("normal")
        if normal is None or any(getattr(normal, key) is None for key in VITAL_KEYS):
            raise ValueError(f"vital_profiles.normal must define every vital sign {VITAL_KEYS}")
        return self


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    specialties: list[Specialty]
    pools: Pools

    def conditions(self) -> list[tuple[Specialty, Condition]]:
        """Every (specialty, condition) pair, in file order."""
        return [(spec, cond) for spec in self.specialties for cond in spec.conditions]

    @model_validator(mode="after")
    def _references(self) -> Catalog:
        names: dict[str, str] = {}
        for spec in self.specialties:
            for cond in spec.conditions:
                for profile in cond.vitals:
                    if profile not in self.pools.vital_profiles:
                        raise ValueError(
                            f"{spec.slug}: condition {cond.name!r} uses vital profile {profile!r}, "
                            f"which pools.yaml does not define (known: {sorted(self.pools.vital_profiles)})"
                        )
                key = cond.name.lower()
                if key in names:
                    raise ValueError(f"condition {cond.name!r} appears in both {names[key]} and {spec.slug}")
                names[key] = spec.slug
        return self


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML ({exc}); fix the syntax at the line shown") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path.name}: must be a mapping at the top level")
    return data


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Load and validate the catalog (cached for the default directory).

    Raises CatalogError naming the file, condition and field when anything is malformed.
    """
    if directory is None:
        return _load_default()
    return _load(Path(directory))


@functools.cache
def _load_default() -> Catalog:
    return _load(CATALOG_DIR)


def _load(directory: Path) -> Catalog:
    pools_path = directory / "pools.yaml"
    if not pools_path.exists():
        raise CatalogError(f"{directory}: missing pools.yaml (shared vital profiles, history and plan pools)")
    try:
        pools = Pools.model_validate(_read_yaml(pools_path))
    except ValidationError as exc:
        raise CatalogError(f"pools.yaml is invalid: {exc}") from exc
    specialties = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "pools.yaml":
            continue
        data = _read_yaml(path)
        conditions = []
        for index, raw in enumerate(data.get("conditions") or []):
            try:
                conditions.append(Condition.model_validate(raw))
            except ValidationError as exc:
                label = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
                raise CatalogError(f"{path.name}: condition {label!r} is invalid: {exc}") from exc
        try:
            specialties.append(Specialty(name=data.get("specialty", ""), slug=path.stem, conditions=conditions))
        except ValidationError as exc:
            raise CatalogError(f"{path.name}: {exc}") from exc
    if not specialties:
        raise CatalogError(f"{directory}: no specialty files (*.yaml besides pools.yaml)")
    try:
        return Catalog(specialties=specialties, pools=pools)
    except ValidationError as exc:
        raise CatalogError(f"catalog is inconsistent: {exc}") from exc
