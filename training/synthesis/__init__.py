"""Synthetic training data: clinical catalog -> consistent cases -> dialogues with gold notes and facts.

Public entry points (plain data in and out, no Django)::

    from training.synthesis import load_catalog, sample_case, OfflineRenderer, synthesize, SynthesisConfig
    case = sample_case(load_catalog(), seed=7)     # Case with .facts and .reference_note()
    dialogue = OfflineRenderer().render(case)      # [{speaker, text}], tidy: states every fact
    stated, dialogue = RealisticRenderer().render_case(case)  # ACI-Bench-like visit; stated.facts = what it says
    result = synthesize(SynthesisConfig(n=24000), checkpoint_dir="var/synthesis/run1")

CLI: ``python -m training.synthesis --n 2000 --out var/synthesis/sample.jsonl``.
"""

from __future__ import annotations

from .catalog import Catalog, CatalogError, Condition, Specialty, load_catalog
from .dedup import DEFAULT_THRESHOLD, DedupReport, Embedder, deduplicate, max_pairwise_similarity
from .note_clinical import clinical_note
from .pipeline import (
    EXAMPLE_KEYS,
    SynthesisConfig,
    SynthesisError,
    SynthesisInterrupted,
    SynthesisResult,
    assign_splits,
    case_seed,
    example_key,
    make_example,
    read_jsonl,
    render_range,
    synthesize,
    validate_example,
    write_jsonl,
)
from .render_offline import OfflineRenderer, missing_facts
from .render_realistic import RealisticRenderer, realize, speech
from .report import coverage_report
from .sampler import Case, Fact, check_case, sample_case

__all__ = [
    "DEFAULT_THRESHOLD",
    "EXAMPLE_KEYS",
    "Case",
    "Catalog",
    "CatalogError",
    "Condition",
    "DedupReport",
    "Embedder",
    "Fact",
    "OfflineRenderer",
    "RealisticRenderer",
    "Specialty",
    "SynthesisConfig",
    "SynthesisError",
    "SynthesisInterrupted",
    "SynthesisResult",
    "assign_splits",
    "case_seed",
    "check_case",
    "clinical_note",
    "coverage_report",
    "deduplicate",
    "example_key",
    "load_catalog",
    "make_example",
    "max_pairwise_similarity",
    "missing_facts",
    "read_jsonl",
    "realize",
    "render_range",
    "sample_case",
    "speech",
    "synthesize",
    "validate_example",
    "write_jsonl",
]
