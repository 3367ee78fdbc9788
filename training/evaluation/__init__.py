"""Evaluation harness: any model reference on any dataset, with bootstrap intervals and a report.

`evaluate(model_ref, examples, *, judge, constrained=False, limit=None, backend=None) -> EvalReport`;
`load_examples(ref)` for JSONL / aci-bench / mts-dialog; `write_report(reports, out_dir)`.
`score_predictions(examples, predictions)` for the standard metrics (ROUGE, concept F1, ungrounded
content, length, runaway, validity) of notes generated elsewhere.
CLI: `python -m training.evaluate --model default --dataset aci-bench:valid --limit 10`;
`python -m training.evaluation.score --dataset aci-bench:valid --predictions notes.jsonl`.
"""

from __future__ import annotations

from .datasets import DatasetError, load_examples, split_note_by_headers
from .harness import EvalReport, ExampleResult, evaluate, resolve_judge
from .metrics import note_metrics, score_predictions
from .report import comparison_table, write_report
from .stats import Estimate, bootstrap_ci

__all__ = [
    "DatasetError",
    "Estimate",
    "EvalReport",
    "ExampleResult",
    "bootstrap_ci",
    "comparison_table",
    "evaluate",
    "load_examples",
    "note_metrics",
    "resolve_judge",
    "score_predictions",
    "split_note_by_headers",
    "write_report",
]
