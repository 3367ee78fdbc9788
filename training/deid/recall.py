"""Recall of the de-identifier on a suite of identifiers, per kind: the table in docs/reliability.md.

    .venv/bin/python -m training.deid.recall              # the suite in tests/training/deid_suite.py
    .venv/bin/python -m training.deid.recall --misses     # also list every identifier that survived

An identifier counts as caught when no case-insensitive occurrence of it survives in the scrubbed
sentence (a partial scrub such as "Helena [NAME-1]" for "Helena Kowalczyk" is a miss for
"Helena"). Each sentence is scrubbed as a one-turn dialogue, the way the feedback export scrubs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterable

from training.deid import DeidError, deidentify_example


def scrub_one(text: str) -> str | None:
    """The scrubbed sentence, or None when the residual check refused it (it would never be stored)."""
    try:
        return deidentify_example([{"speaker": "patient", "text": text}], {}).dialogue[0]["text"]
    except DeidError:
        return None


def measure(suite: Iterable[tuple[str, str, list[str]]]) -> tuple[dict[str, list[int]], list[tuple[str, str, str]]]:
    """{kind: [caught, total, refused sentences]} and the misses as (kind, identifier, scrubbed text)."""
    table: dict[str, list[int]] = {}
    misses: list[tuple[str, str, str]] = []
    for kind, text, identifiers in suite:
        row = table.setdefault(kind, [0, 0, 0])
        out = scrub_one(text)
        if out is None:
            row[2] += 1
        for identifier in identifiers:
            row[1] += 1
            if out is None or identifier.lower() not in out.lower():
                row[0] += 1  # refused examples are never stored, so nothing leaks
            else:
                misses.append((kind, identifier, out))
    return table, misses


def render(table: dict[str, list[int]]) -> str:
    lines = [
        "| kind | identifiers | caught | recall | sentences refused by the residual check |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    caught = total = refused = 0
    for kind, (c, t, r) in table.items():
        lines.append(f"| {kind} | {t} | {c} | {100 * c / t:.1f} % | {r} |")
        caught, total, refused = caught + c, total + t, refused + r
    lines.append(f"| **all** | **{total}** | **{caught}** | **{100 * caught / total:.1f} %** | {refused} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="tests.training.deid_suite", help="module with SUITE")
    parser.add_argument("--misses", action="store_true", help="list every identifier that survived")
    args = parser.parse_args(argv)
    suite = importlib.import_module(args.suite).SUITE
    table, misses = measure(suite)
    print(render(table))
    if args.misses:
        for kind, identifier, out in misses:
            print(f"MISS [{kind}] {identifier!r} in {out!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
