"""Markdown + HTML evaluation reports with matplotlib charts, one or several models side by side.

`write_report(reports, out_dir)` writes into `out_dir` (var/reports/<id>/ in the app):
``summary.json``, ``results-<n>.jsonl`` (every example: raw output, scores, reasons), ``sections.png``
(per-section mean with 95 % intervals per model), ``rewards.png`` (distribution of total reward per
model), ``metrics.png`` (ROUGE, concept F1, ungrounded and runaway rates per model, the clinicians'
notes beside them), ``report.md`` and ``report.html``. It returns the Markdown.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.schema import SECTION_KEYS

from .harness import EvalReport
from .metrics import CLINICIANS as CLINICIANS_LABEL

__all__ = ["comparison_table", "write_report"]

_ROUGE_LABELS = (("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rougeLsum", "ROUGE-Lsum"))
_ROWS = [
    ("json_valid", "JSON valid (lenient)"),
    ("json_valid_strict", "JSON valid (strict)"),
    ("json_valid_constrained", "JSON valid (second pass, constrained decoding)"),
    ("S", "S score"),
    ("O", "O score"),
    ("A", "A score"),
    ("P", "P score"),
    ("total", "Total reward (0-5)"),
    ("total_constrained", "Total reward, constrained (0-5)"),
    ("fact_recall", "Fact recall"),
    ("unsupported_per_note", "Unsupported items per valid note"),
    ("unsupported_note_rate", "Valid notes with unsupported content"),
    ("output_tokens", "Output tokens"),
    ("truncated", "Hit max_new_tokens"),
    ("latency_s", "Seconds per note"),
    # the standard metrics (training.evaluation.metrics); the clinicians' column calibrates them
    ("rouge1", "ROUGE-1 F1 x100, whole note"),
    ("rouge2", "ROUGE-2 F1 x100, whole note"),
    ("rougeLsum", "ROUGE-Lsum F1 x100, whole note"),
    ("rouge1_finished", "ROUGE-1, finished notes only"),
    *[(f"{name}_{key}", f"{label} {key}") for key in SECTION_KEYS for name, label in _ROUGE_LABELS],
    ("concept_f1", "Concept F1 (drugs, diagnoses, terms, values)"),
    ("ungrounded_values", "Ungrounded numbers (share of numbers, valid notes)"),
    ("ungrounded_drugs", "Ungrounded drugs (share of drugs)"),
    ("ungrounded_diagnoses", "Ungrounded diagnoses (share of diagnoses)"),
    ("ungrounded_notes", "Notes with ungrounded content"),
    ("chars", "Note length (characters)"),
    ("loop", "Repetition loop"),
    ("runaway", "Runaway (hit max_new_tokens or loop)"),
    ("finished", "Finished (valid, no runaway)"),
    ("total_grounded", "Full reward, grounded judge (0-5)"),
]
_CALIBRATED = {"ungrounded_values", "ungrounded_drugs", "ungrounded_diagnoses", "ungrounded_notes", "chars"}


def _cell(est: dict[str, Any] | None) -> str:
    if not est or not est.get("n") or est.get("mean") is None or math.isnan(est["mean"]):
        return "n/a"
    digits = 0 if abs(est["mean"]) >= 100 else 1 if abs(est["mean"]) >= 10 else 3
    return f"{est['mean']:.{digits}f} [{est['low']:.{digits}f}, {est['high']:.{digits}f}]"


def _calibration(reports: Sequence[EvalReport]) -> dict[str, Any] | None:
    return next((r.calibration for r in reports if r.calibration), None)


def comparison_table(reports: Sequence[EvalReport]) -> str:
    """One Markdown table: a row per metric, a column per model (mean [95 % CI]).

    With the clinicians' notes scored (EvalReport.calibration) a last column gives their own value
    for the metrics that calibrate a model's (ungrounded rates, length).
    """
    summaries = [r.summary() for r in reports]
    calibration = _calibration(reports)
    header = "| metric | " + " | ".join(f"`{r.model_reference}`" for r in reports)
    header += " | clinicians' notes |" if calibration else " |"
    lines = [header, "|" + " --- |" * (len(reports) + 1 + bool(calibration))]
    for key, label in _ROWS:
        if all(key not in s for s in summaries):
            continue
        row = f"| {label} | " + " | ".join(_cell(s.get(key)) for s in summaries) + " |"
        if calibration:
            row += f" {_cell(calibration.get(key)) if key in _CALIBRATED else ''} |"
        lines.append(row)
    extra = f" {calibration['notes']} |" if calibration else ""
    lines.append("| examples | " + " | ".join(str(s["examples"]) for s in summaries) + " |" + extra)
    lines.append(
        "| generation / judge errors | "
        + " | ".join(f"{s['generation_errors']} / {s['judge_errors']}" for s in summaries)
        + " |"
        + (" |" if calibration else "")
    )
    return "\n".join(lines)


def _charts(reports: Sequence[EvalReport], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    files = []
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(reports))
    x = np.arange(len(SECTION_KEYS))
    for i, report in enumerate(reports):
        summary = report.summary()
        means = [summary[k]["mean"] if summary[k]["n"] else 0.0 for k in SECTION_KEYS]
        lows = [
            max(0.0, m - (summary[k]["low"] if summary[k]["n"] else 0.0))
            for m, k in zip(means, SECTION_KEYS, strict=True)
        ]
        highs = [
            max(0.0, (summary[k]["high"] if summary[k]["n"] else 0.0) - m)
            for m, k in zip(means, SECTION_KEYS, strict=True)
        ]
        ax.bar(x + i * width, means, width, yerr=[lows, highs], capsize=4, label=report.model_reference[-40:])
    ax.set_xticks(x + width * (len(reports) - 1) / 2, list(SECTION_KEYS))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean judge score (95% CI)")
    ax.set_title(f"Per-section scores: {reports[0].dataset}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sections.png", dpi=100)
    plt.close(fig)
    files.append("sections.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 5, 21)
    for report in reports:
        ax.hist([r.total for r in report.results], bins=bins, alpha=0.5, label=report.model_reference[-40:])
    ax.set_xlabel("total reward (format + S + O + A + P)")
    ax.set_ylabel("notes")
    ax.set_title("Reward distribution")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rewards.png", dpi=100)
    plt.close(fig)
    files.append("rewards.png")
    if any(r.results and r.results[0].metrics for r in reports):
        files.append(_metrics_chart(reports, out, plt, np))
    return files


def _metrics_chart(reports: Sequence[EvalReport], out: Path, plt: Any, np: Any) -> str:
    """metrics.png: ROUGE and concept F1 per model; ungrounded and runaway rates beside the clinicians'."""
    summaries = [(r.model_reference[-40:], r.summary()) for r in reports]
    calibration = _calibration(reports)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, names, scale, bars in (
        (left, ["rouge1", "rouge2", "rougeLsum", "concept_f1"], [1, 1, 1, 100], summaries),
        (
            right,
            ["ungrounded_values", "ungrounded_notes", "runaway", "valid"],
            [100] * 4,
            summaries + ([(CLINICIANS_LABEL, calibration)] if calibration else []),
        ),
    ):
        x = np.arange(len(names))
        width = 0.8 / max(1, len(bars))
        for i, (label, summary) in enumerate(bars):
            means = [(summary.get(n) or {}).get("mean") or 0.0 for n in names]
            axis.bar(x + i * width, [m * f for m, f in zip(means, scale, strict=True)], width, label=label)
        axis.set_xticks(x + width * (len(bars) - 1) / 2, names, fontsize=8)
        axis.set_ylim(0, 100)
        axis.legend(fontsize=7)
    left.set_title("ROUGE F1 x100, concept F1 x100")
    right.set_title("% of numbers / notes")
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=100)
    plt.close(fig)
    return "metrics.png"


def _examples_md(report: EvalReport, limit: int = 3) -> str:
    lines = []
    for r in report.results[:limit]:
        reasons = "; ".join(f"{k}: {r.reasons.get(k, '')}" for k in SECTION_KEYS if r.reasons.get(k))
        lines.append(f"- `{r.key}`: total {r.total:.2f}, valid {r.valid}; {r.format_reason or reasons}"[:600])
    return "\n".join(lines)


def write_report(reports: Sequence[EvalReport], out_dir: Path | str, *, title: str = "Evaluation") -> str:
    """Write the report files (see the module docstring) and return the Markdown."""
    if not reports:
        raise ValueError("write_report needs at least one EvalReport.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    charts = _charts(reports, out)
    (out / "summary.json").write_text(
        json.dumps(
            [
                {"model": r.model_reference, "dataset": r.dataset, "config": r.config, "summary": r.summary()}
                for r in reports
            ],
            indent=2,
        )
    )
    for i, report in enumerate(reports):
        with (out / f"results-{i}.jsonl").open("w") as fh:
            for row in report.as_dict()["results"]:
                fh.write(json.dumps(row) + "\n")
    config = reports[0].config
    md = [
        f"# {title}",
        "",
        f"Dataset `{reports[0].dataset}`, {config['examples']} examples; greedy, max_new_tokens "
        f"{config['max_new_tokens']}, {'constrained' if config['constrained'] else 'unconstrained'} decoding, "
        f"judge `{config['judge']}`, backend `{config['backend']}`. "
        "Mean [bootstrap 95% interval].",
        "",
        comparison_table(reports),
        "",
        *[f"![{name}]({name})" for name in charts],
        "",
        "## First examples",
        "",
        *[f"### `{r.model_reference}`\n\n{_examples_md(r)}\n" for r in reports],
    ]
    markdown = "\n".join(md)
    (out / "report.md").write_text(markdown)
    (out / "report.html").write_text(_html(reports, charts, title))
    return markdown


def _html(reports: Sequence[EvalReport], charts: list[str], title: str) -> str:
    summaries = [r.summary() for r in reports]
    head = "".join(f"<th>{html.escape(r.model_reference)}</th>" for r in reports)
    calibration = _calibration(reports) or {}
    if calibration:
        head += f"<th>{html.escape(CLINICIANS_LABEL)}</th>"
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{_cell(s.get(key))}</td>" for s in summaries)
        + (f"<td>{_cell(calibration.get(key)) if key in _CALIBRATED else ''}</td>" if calibration else "")
        + "</tr>"
        for key, label in _ROWS
        if any(key in s for s in summaries)
    )
    images = "".join(f'<img src="{name}" alt="{name}">' for name in charts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Dataset {html.escape(reports[0].dataset)}</p>"
        f"<table border='1' cellpadding='4'><tr><th>metric</th>{head}</tr>{rows}</table>{images}</body></html>"
    )
