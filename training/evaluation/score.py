"""Score JSONL files of generated notes against a dataset, without a model: the standard metrics table.

    python -m training.evaluation.score --dataset aci-bench:valid --predictions notes.jsonl \\
        [--predictions other.jsonl ...] [--label base --label sft] [--out report.md] [--workers 2]

Input lines are those of `python -m inference generate --jsonl IN OUT`: {"line", "key", "note",
"tokens", "seconds", "error"}, plus "raw", "finish_reason" or "truncated" when present. A line is
matched to its example by key ("D2N068" or "aci-valid-D2N068"); for MTS-Dialog generated from its
CSV (no key) by the CSV line's ID; else by the input's row order ("line"). An example with no line
scores as a missing note (invalid, ROUGE 0) and is counted; a file matching no example is refused. A line with an
error is an invalid note; an error that says Truncated (or finish_reason "length") counts as runaway.

Prints a Markdown table, one row per predictions file plus the clinicians' own notes (the
calibration row: ROUGE 100 by construction; their ungrounded rate is the floor to compare with),
then per-section ROUGE. --out writes the Markdown, and the same path with .json the full summaries
and per-note metrics. Metric definitions: training/evaluation/metrics.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from inference.schema import SECTION_KEYS

from .datasets import _MTS_FILES, DatasetError, datasets_dir, load_examples
from .metrics import CLINICIANS, note_metrics, reference_predictions, summarise

__all__ = ["align", "csv_line_keys", "main", "markdown_table", "read_predictions", "score_files"]


class PredictionsError(ValueError):
    """A predictions file that cannot be read; the message names the file, the line and the fix."""


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The lines of a predictions JSONL, each with its `line` number (1-based) when it carries none."""
    rows = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PredictionsError(f"{path} line {number}: not JSON ({exc.msg}).") from exc
                if not isinstance(row, dict):
                    raise PredictionsError(f"{path} line {number}: expected an object with 'note' or 'error'.")
                row.setdefault("line", number)
                rows.append(row)
    except OSError as exc:
        raise PredictionsError(f"cannot read predictions {path}: {exc}") from exc
    if not rows:
        raise PredictionsError(f"{path} holds no predictions.")
    return rows


def _prediction(row: Mapping[str, Any]) -> dict[str, Any]:
    error = row.get("error")
    truncated = bool(row.get("truncated")) or (isinstance(error, str) and error.startswith("Truncated"))
    return {
        "note": row.get("note"),
        "raw": row.get("raw"),
        "finish_reason": row.get("finish_reason") or ("length" if truncated else None),
        "truncated": truncated,
        "error": error,
    }


def csv_line_keys(dataset: str) -> dict[int, str]:
    """{CSV line number: example key} for a public dataset, numbered as `inference generate --jsonl in.csv` does.

    MTS-Dialog rows carry no key the generator copies, and the loader skips rows it cannot map, so
    a line's position is not its example's; its ID is. Empty for other datasets.
    """
    name, _, split = dataset.partition(":")
    if name != "mts-dialog":
        return {}
    path = datasets_dir() / "mts-dialog" / _MTS_FILES.get(split or "valid", "")
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {line: f"mts-{split or 'valid'}-{row.get('ID')}" for line, row in enumerate(csv.DictReader(fh), 2)}


def align(
    examples: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], line_keys: Mapping[int, str] | None = None
) -> tuple[list[dict], int]:
    """Predictions in the order of `examples`, matched by key, else line (via `line_keys`), else row order.

    Returns them and how many examples have none.
    """
    by_key = {str(row["key"]): row for row in rows if row.get("key")}
    if not by_key and line_keys:
        by_key = {line_keys[int(row["line"])]: row for row in rows if int(row.get("line") or 0) in line_keys}
    keyed = bool(by_key)
    first_line = min(int(row.get("line") or 0) for row in rows)
    by_position = {int(row.get("line") or 0) - first_line: row for row in rows}
    out, missing = [], 0
    for position, example in enumerate(examples):
        key = str(example.get("key", ""))
        short = key.rsplit("-", 1)[-1]  # "aci-valid-D2N068" was generated from the CSV row "D2N068"
        row = (by_key.get(key) or by_key.get(short)) if keyed else by_position.get(position)
        if row is None:
            missing += 1
            out.append({"note": None, "error": "missing: no prediction for this example"})
        else:
            out.append(_prediction(row))
    return out, missing


def _note_metrics(pair: tuple[Mapping[str, Any], Mapping[str, Any]]) -> dict[str, Any]:
    return note_metrics(*pair)


def _rows(examples: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]], workers: int) -> list:
    pairs = list(zip(examples, predictions, strict=True))
    if workers <= 1 or len(pairs) < 8:
        return [_note_metrics(p) for p in pairs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_note_metrics, pairs, chunksize=max(1, len(pairs) // (4 * workers))))


def score_files(
    examples: Sequence[Mapping[str, Any]],
    files: Sequence[Path],
    labels: Sequence[str],
    *,
    workers: int = 1,
    line_keys: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """One entry per predictions file, then the clinicians' row: {label, file, missing, summary, notes}."""
    out = []
    for path, label in zip(files, labels, strict=True):
        predictions, missing = align(examples, read_predictions(path), line_keys)
        if missing == len(examples):
            keys = [str(ex.get("key")) for ex in examples[:2]]
            raise PredictionsError(
                f"{path}: no line matches an example of the dataset (its keys look like {keys}); "
                "check --dataset/--split/--limit against the file the notes were generated from."
            )
        if missing:
            print(
                f"warning: {path}: {missing} of {len(examples)} examples have no note (scored as invalid)",
                file=sys.stderr,
            )
        rows = _rows(examples, predictions, workers)
        out.append({"label": label, "file": str(path), "missing": missing, "summary": summarise(rows), "notes": rows})
    rows = _rows(examples, reference_predictions(examples), workers)
    out.append({"label": CLINICIANS, "file": None, "missing": 0, "summary": summarise(rows), "notes": rows})
    return out


def _pct(est: Mapping[str, Any] | None) -> str:
    if not est or est.get("mean") is None:
        return "n/a"
    return f"{100 * est['mean']:.0f} %"


def _ci(est: Mapping[str, Any] | None, scale: float = 1.0) -> str:
    if not est or est.get("mean") is None:
        return "n/a"
    return f"{scale * est['mean']:.1f} [{scale * est['low']:.1f}, {scale * est['high']:.1f}]"


def markdown_table(scored: Sequence[Mapping[str, Any]], dataset: str) -> str:
    """The main table (one row per file, the clinicians' row last) and the per-section ROUGE table."""
    head = (
        "| model | notes | valid | finished | truncated / loop | ROUGE-1 [95 % CI] | ROUGE-2 | ROUGE-Lsum "
        "| ROUGE-1 finished | concept F1 | ungrounded numbers [95 % CI] | ungrounded drugs / dx "
        "| notes with ungrounded | median chars | full reward 0-5 [95 % CI] |"
    )
    lines = [f"Dataset `{dataset}`.", "", head, "|" + " --- |" * 15]
    for entry in scored:
        s = entry["summary"]
        missing = f" ({entry['missing']} missing)" if entry["missing"] else ""
        lines.append(
            f"| {entry['label']} | {s['notes']}{missing} | {_pct(s['valid'])} | {_pct(s['finished'])} "
            f"| {_pct(s['truncated'])} / {_pct(s['loop'])} | {_ci(s['rouge1'])} | {_ci(s['rouge2'])} "
            f"| {_ci(s['rougeLsum'])} | {_ci(s['rouge1_finished'])} | {_ci(s['concept_f1'], 100)} "
            f"| {_ci(s['ungrounded_values'], 100)} % "
            f"| {_pct(s['ungrounded_drugs'])} / {_pct(s['ungrounded_diagnoses'])} "
            f"| {_pct(s['ungrounded_notes'])} | {s['chars_median']:.0f} | {_ci(s['total_grounded'])} |"
        )
    lines += ["", "Per section, ROUGE-1 / ROUGE-2 / ROUGE-Lsum (sections with a reference):", ""]
    lines += ["| model | " + " | ".join(SECTION_KEYS) + " |", "|" + " --- |" * (len(SECTION_KEYS) + 1)]
    for entry in scored:
        s = entry["summary"]
        cells = []
        for key in SECTION_KEYS:
            ests = [s.get(f"{name}_{key}") or {} for name in ("rouge1", "rouge2", "rougeLsum")]
            cells.append("n/a" if ests[0].get("mean") is None else " / ".join(f"{e['mean']:.1f}" for e in ests))
        lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="aci-bench[:split], mts-dialog[:split] or an Example JSONL")
    parser.add_argument("--split", default=None, help="only examples of this split (JSONL datasets)")
    parser.add_argument("--limit", type=int, default=None, help="the dataset's first N examples")
    parser.add_argument(
        "--predictions", action="append", required=True, type=Path, help="JSONL of notes (repeat to compare)"
    )
    parser.add_argument("--label", action="append", default=None, help="row label per --predictions (default: stem)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here, and the JSON beside it")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="scoring processes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    labels = args.label or [p.stem for p in args.predictions]
    if len(labels) != len(args.predictions):
        print(f"error: {len(labels)} --label for {len(args.predictions)} --predictions; one each.", file=sys.stderr)
        return 2
    try:
        examples = load_examples(args.dataset, split=args.split, limit=args.limit)
        line_keys = csv_line_keys(args.dataset)
        scored = score_files(examples, args.predictions, labels, workers=args.workers, line_keys=line_keys)
    except (DatasetError, PredictionsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    markdown = markdown_table(scored, args.dataset)
    print(markdown)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown + "\n")
        args.out.with_suffix(".json").write_text(json.dumps({"dataset": args.dataset, "scored": scored}, indent=1))
        print(f"\nwrote {args.out} and {args.out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
