"""Cases are reproducible, consistent (no contradictory facts) and carry a contract-shaped reference."""

from __future__ import annotations

import random

import pytest

from inference.schema import SOAPNote
from training.synthesis import check_case, load_catalog, sample_case
from training.synthesis.sampler import ALLERGY_CLASHES


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_same_seed_same_case_and_different_seed_differs(catalog):
    assert sample_case(catalog, 123).as_json() == sample_case(catalog, 123).as_json()
    assert sample_case(catalog, 123).as_json() != sample_case(catalog, 124).as_json()
    assert sample_case(catalog, random.Random(5)).as_json() == sample_case(catalog, random.Random(5)).as_json()


def test_every_condition_samples_consistent_cases(catalog):
    for spec, cond in catalog.conditions():
        for seed in (1, 2):
            case = sample_case(catalog, seed, condition=cond.name)
            assert check_case(case) == [], f"{spec.slug}/{cond.name}: {check_case(case)}"
            assert cond.age[0] <= case.age <= max(cond.age[1], 1)
            if cond.sex != "any":
                assert case.sex == cond.sex


def test_febrile_conditions_get_a_fever_temperature(catalog):
    febrile = [c for _, c in catalog.conditions() if "febrile" in c.vitals or "highfever" in c.vitals]
    assert febrile
    for cond in febrile:
        for seed in range(3):
            temp = next(f.value for f in sample_case(catalog, seed, condition=cond.name).of("vital") if f.unit == "°C")
            assert temp >= 38.4, cond.name


def test_allergy_never_clashes_with_prescribed_drugs(catalog):
    for seed in range(1500):
        case = sample_case(catalog, seed)
        allergy = case.one("allergy").text.lower()
        drugs = " ".join(f.text.lower() for f in case.of("medication"))
        for key, names in ALLERGY_CLASHES.items():
            if key in allergy:
                assert not any(name in drugs for name in names), (case.condition, allergy, drugs)


def test_reference_note_is_a_valid_soap_note_containing_its_facts(catalog):
    case = sample_case(catalog, 42)
    note = SOAPNote(**case.reference_note())
    for fact in case.facts:
        if fact.kind not in ("onset", "duration", "severity", "demographic", "chief_complaint"):
            assert fact.text.lower() in getattr(note, fact.section).lower(), fact
    assert case.one("diagnosis").text in note.A


def test_unknown_condition_is_a_clear_error(catalog):
    with pytest.raises(KeyError, match="not in the catalog"):
        sample_case(catalog, 1, condition="Dragon pox")
