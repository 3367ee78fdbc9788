"""The catalog loads, is big enough, and rejects malformed data with a message naming the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.synthesis import CatalogError, load_catalog
from training.synthesis.catalog import CATALOG_DIR, LabSpec, parse_range


def test_catalog_has_thirty_specialties_and_over_400_conditions():
    catalog = load_catalog()
    assert len(catalog.specialties) >= 30
    assert len(catalog.conditions()) >= 400
    assert all(len(s.conditions) >= 10 for s in catalog.specialties)


def test_every_condition_has_facts_for_each_soap_section():
    for spec, cond in load_catalog().conditions():
        assert cond.sx and cond.exam and cond.ddx and len(cond.plan) >= 2, f"{spec.slug}: {cond.name}"


def test_lab_and_range_mini_language():
    lab = LabSpec.parse("Hemoglobin=88-105 g/L")
    assert (lab.low, lab.high, lab.unit, lab.decimals) == (88, 105, "g/L", 0)
    assert LabSpec.parse("CRP=1.5-12.25 mg/L").decimals == 2
    assert LabSpec.parse("Rapid strep antigen=positive").result == "positive"
    with pytest.raises(ValueError, match="low bound above"):
        parse_range("9-3")


def _copy_with(tmp_path: Path, text: str) -> Path:
    shutil.copy(CATALOG_DIR / "pools.yaml", tmp_path / "pools.yaml")
    (tmp_path / "broken.yaml").write_text(text)
    return tmp_path


GOOD = """specialty: Test
conditions:
- name: Test condition
  sx: ["cough|a cough"]
  exam: ["lungs clear"]
  ddx: ["asthma"]
  plan: ["rx:honey", "fu:follow-up in 1 week"]
"""


def test_minimal_valid_catalog_loads(tmp_path):
    catalog = load_catalog(_copy_with(tmp_path, GOOD))
    assert [c.name for _, c in catalog.conditions()] == ["Test condition"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (GOOD.replace("neg", "x") + "  vitals: [feverish]\n", "vital profile 'feverish'"),
        (GOOD + '  neg: ["cough|no cough"]\n', "contradicts symptom"),
        (GOOD + '  labs: ["Hemoglobin 12"]\n', "must look like 'Name=lo-hi unit'"),
        (GOOD + '  dur: "three days"\n', "duration 'three days'"),
        (GOOD + "  sex: X\n", "Test condition"),
        (GOOD.replace('"rx:honey"', '"zz:honey"'), "unknown prefix 'zz'"),
        (GOOD.replace('sx: ["cough|a cough"]', "sx: []"), "sx"),
        ("specialty: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_catalog_is_rejected_naming_the_problem(tmp_path, edit, message):
    with pytest.raises(CatalogError, match="broken.yaml|catalog is inconsistent") as info:
        load_catalog(_copy_with(tmp_path, edit))
    assert message in str(info.value)


def test_duplicate_condition_across_specialties_is_rejected(tmp_path):
    _copy_with(tmp_path, GOOD)
    (tmp_path / "other.yaml").write_text(GOOD)
    with pytest.raises(CatalogError, match="appears in both"):
        load_catalog(tmp_path)
