"""Command line: fetch the default model, generate notes, serve an OpenAI-compatible endpoint.

    python -m inference fetch
    python -m inference generate dialogue.txt [--backend transformers] [--model REF] [--max-new-tokens N]
    python -m inference generate --jsonl in.jsonl out.jsonl        (or in.csv with a 'dialogue' column)
    python -m inference serve --port 8001 [--model REF]

generate prints the note as JSON; errors go to stderr with exit status 2 (bad input) or 1 (generation).
--jsonl input lines are a list of {speaker, text} turns, an object with a `dialogue` field (a turn list or
text), or a JSON string; each output line is {"line", "key", "note", "tokens", "seconds", "error"}.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _fetch(args: argparse.Namespace) -> int:
    from inference.models import fetch_default

    print(fetch_default())
    return 0


_EMPTY_LABEL = re.compile(r"^\s*\[[A-Za-z _-]{1,40}\]\s*$", re.MULTILINE)


def _turns(value: Any, filename: str | None = None, *, dataset: bool = False) -> list[Any]:
    from inference.dialogue import parse_dialogue

    if isinstance(value, str):
        if dataset:
            # Dataset transcripts (aci-bench) hold a few empty "[doctor]" turns, which the intake parser
            # rightly rejects from a clinician; in a batch over a dataset they carry nothing, so drop them.
            value = _EMPTY_LABEL.sub("", value)
        return parse_dialogue(value, filename=filename)
    return parse_dialogue(json.dumps(value), filename="dialogue.json")


def _records(path: Path) -> Iterator[tuple[int, str | None, Any]]:
    """(line number, key, dialogue value) for each record of a JSONL or CSV file."""
    if path.suffix.lower() == ".csv":
        csv.field_size_limit(1 << 30)
        with path.open(newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh), start=2):
                if "dialogue" not in row:
                    raise SystemExit(f"{path}: the CSV needs a 'dialogue' column (found {', '.join(row)})")
                yield i, row.get("encounter_id") or row.get("key") or row.get("ID"), row["dialogue"]
        return
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield i, None, exc
                continue
            if isinstance(value, dict):
                yield i, value.get("key") or value.get("encounter_id"), value.get("dialogue", value)
            else:
                yield i, None, value


def _generate_one(args: argparse.Namespace) -> int:
    from inference.dialogue import DialogueError
    from inference.engine import generate_note
    from inference.errors import GenerationError

    path = Path(args.file)
    try:
        text = sys.stdin.read() if args.file == "-" else path.read_text(encoding="utf-8")
        turns = _turns(text, filename=None if args.file == "-" else path.name)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    except DialogueError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        result = generate_note(turns, **_options(args))
    except GenerationError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.note.as_dict(), ensure_ascii=False, indent=2))
    print(
        f"{result.tokens} tokens in {result.seconds:.1f} s ({result.backend}, {result.model_reference})",
        file=sys.stderr,
    )
    return 0


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": args.model,
        "backend": args.backend,
        "max_new_tokens": args.max_new_tokens,
        "constrained": not args.unconstrained,
    }


def _generate_jsonl(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from inference.dialogue import DialogueError
    from inference.engine import generate_notes

    src, dst = Path(args.jsonl[0]), Path(args.jsonl[1])
    if not src.is_file():
        print(f"error: input file {src} does not exist", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print(f"error: --batch-size must be at least 1, got {args.batch_size}", file=sys.stderr)
        return 2
    records = list(_records(src))
    if args.limit:
        records = records[: args.limit]
    failures = 0
    bar = tqdm(total=len(records), desc="notes", unit="note", file=sys.stderr)
    with dst.open("w", encoding="utf-8") as out, bar:
        for lo in range(0, len(records), args.batch_size):
            chunk = records[lo : lo + args.batch_size]
            rows: list[dict[str, Any]] = []
            dialogues: list[Any] = []
            for line, key, value in chunk:
                row: dict[str, Any] = {"line": line, "key": key, "note": None, "tokens": 0, "seconds": 0.0}
                row["error"] = None
                rows.append(row)
                try:
                    if isinstance(value, Exception):
                        raise DialogueError(f"invalid JSON: {value}", line)
                    dialogues.append((row, _turns(value, dataset=True)))
                except DialogueError as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"
            batch = [turns for _, turns in dialogues]
            results = generate_notes(batch, batch_size=args.batch_size, **_options(args)) if batch else []
            for (row, _), result in zip(dialogues, results, strict=True):
                if isinstance(result, Exception):
                    row["error"] = f"{type(result).__name__}: {result}"
                    # what the model wrote before it ran out or broke the format: evaluation measures it
                    row["raw"] = getattr(result, "raw", None)
                    row["finish_reason"] = "length" if type(result).__name__ == "Truncated" else "error"
                else:
                    row.update(note=result.note.as_dict(), tokens=result.tokens, seconds=round(result.seconds, 2))
                    row["finish_reason"] = result.finish_reason
            for row in rows:  # in input order, written as each batch finishes
                failures += row["error"] is not None
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(len(chunk))
    print(f"{len(records) - failures}/{len(records)} notes written to {dst}", file=sys.stderr)
    return 1 if failures else 0


def _generate(args: argparse.Namespace) -> int:
    if args.jsonl:
        return _generate_jsonl(args)
    if not args.file:
        print("error: give a dialogue FILE (or - for stdin), or --jsonl IN OUT", file=sys.stderr)
        return 2
    return _generate_one(args)


def _serve(args: argparse.Namespace) -> int:
    from inference.server import serve

    serve(args.model, args.host, args.port, served_name=args.served_model_name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference", description="SOAP note generation.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and convert the default model (idempotent)")
    fetch.set_defaults(func=_fetch)

    gen = sub.add_parser("generate", help="generate a note for a dialogue file, or a batch with --jsonl")
    gen.add_argument("file", nargs="?", help="dialogue file (text, JSON, WebVTT, SRT) or - for stdin")
    gen.add_argument("--jsonl", nargs=2, metavar=("IN", "OUT"), help="one dialogue per line in (JSONL or CSV)")
    gen.add_argument("--backend", default=None, help="transformers (default), openai or vllm")
    gen.add_argument("--model", default=None, help="model reference (default: SmolLM2-135M-Instruct)")
    gen.add_argument("--max-new-tokens", type=int, default=None, help="token budget of the note (default 1024)")
    gen.add_argument("--unconstrained", action="store_true", help="no grammar: parse the free output instead")
    gen.add_argument("--limit", type=int, default=None, help="with --jsonl: only the first N records")
    gen.add_argument("--batch-size", type=int, default=8, help="with --jsonl: dialogues per model call (default 8)")
    gen.set_defaults(func=_generate)

    srv = sub.add_parser("serve", help="OpenAI-compatible server over the transformers backend")
    srv.add_argument("--port", type=int, default=8001)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--model", default=None)
    srv.add_argument("--served-model-name", default=None)
    srv.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
