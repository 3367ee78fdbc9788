"""Synthetic vs real: the gap between synthetic visits and ACI-Bench train, side by side.

    python benchmarks/synthesis_gap.py --n 1000 --seed 0
    python benchmarks/synthesis_gap.py --n 1000 --json var/benchmarks/synthesis_gap.json

Renders N visits of each synthetic style (realistic, the default, and tidy, the earlier one) with
the same case seeds as `python -m training.synthesis --seed S`, and prints a markdown table of
dialogue length (words; tokens of the default model's tokenizer when it is in var/models), turns,
vocabulary, fillers, note section lengths (characters), notes that state vital signs, notes with
content the dialogue never states and turns without a speaker label, next to ACI-Bench train
(67 visits, `load_examples("aci-bench:train")`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.evaluation.datasets import load_examples  # noqa: E402
from training.rewards.grounding import ungrounded  # noqa: E402
from training.synthesis import RealisticRenderer, SynthesisConfig, render_range  # noqa: E402
from training.synthesis.gap import corpus_stats, vocabulary  # noqa: E402

DEFAULT_TOKENIZER = ROOT / "var" / "models" / "smollm2-135m-instruct" / "tokenizer.json"


def grounding(examples: list[dict[str, Any]]) -> dict[str, float]:
    """Shares of reference notes with a number, or any number/drug/diagnosis, the dialogue never states
    (the grounding rule of training.rewards.grounding, spoken numbers normalised)."""
    numbers = anything = 0
    for example in examples:
        note = "\n".join(str(v or "") for v in example["reference"].values())
        found = ungrounded(note, example["dialogue"])
        numbers += bool(found.ungrounded_values)
        anything += bool(found.count)
    n = max(len(examples), 1)
    return {"ungrounded_numbers": numbers / n, "ungrounded_any": anything / n}


def token_counter(path: Path | None) -> Callable[[str], int] | None:
    if path is None or not path.exists():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text).ids)


def _q(values: list[float] | None) -> str:
    return " / ".join(f"{v:,.0f}" for v in values) if values else "–"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def table(columns: dict[str, dict[str, Any]]) -> str:
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("visits", lambda s: str(s["visits"])),
        ("dialogue words p10 / median / p90", lambda s: _q(s["words"])),
        ("dialogue tokens p10 / median / p90", lambda s: _q(s["tokens"])),
        ("turns p10 / median / p90", lambda s: _q(s["turns"])),
        ("word types per 20,000 words", lambda s: f"{s['types_per_20k']:,}" if s["types_per_20k"] else "–"),
        ("ACI-Bench train word types used", lambda s: _pct(s.get("reference_types_covered"))),
        ("ACI-Bench train running words whose type is used", lambda s: _pct(s.get("reference_words_covered"))),
        ("fillers per 100 words", lambda s: f"{s['fillers_per_100_words']:.2f}"),
        *[
            (f"note {key} characters median / p90", lambda s, key=key: _q(s["sections"][key]))
            for key in ("S", "O", "A", "P")
        ],
        ("notes that state vital signs", lambda s: _pct(s["notes_with_vitals"])),
        ("notes with a number the dialogue never states", lambda s: _pct(s["ungrounded_numbers"])),
        ("notes with any number, drug or diagnosis never stated", lambda s: _pct(s["ungrounded_any"])),
        ("turns without a speaker label", lambda s: _pct(s["unlabeled_turns"])),
        ("visits with an unlabelled turn", lambda s: _pct(s["visits_with_unlabeled_turns"])),
        ("turns given to the wrong speaker", lambda s: _pct(s.get("swapped_turns"))),
    ]
    names = list(columns)
    lines = ["| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label, show in rows:
        lines.append(f"| {label} | " + " | ".join(show(columns[name]) for name in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="synthetic visits per style")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="tokenizer.json for token counts")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    count = token_counter(args.tokenizer)
    real = load_examples("aci-bench:train")
    reference = vocabulary(real)
    columns: dict[str, dict[str, Any]] = {}
    for style in ("realistic", "tidy"):
        started = time.perf_counter()
        config = SynthesisConfig(n=args.n, train=args.n, holdout=0, seed=args.seed, threshold=None, style=style)
        renderer = RealisticRenderer() if style == "realistic" else None
        examples = render_range(config, 0, args.n, renderer=renderer)
        stats = corpus_stats(examples, reference_vocab=reference, count_tokens=count)
        stats["swapped_turns"] = renderer.swapped_turns / max(renderer.turns, 1) if renderer else 0.0
        stats["render_seconds"] = round(time.perf_counter() - started, 1)
        stats |= grounding(examples)
        columns[f"synthetic, {style}"] = stats
    aci = corpus_stats(real, reference_vocab=reference, count_tokens=count)
    aci["swapped_turns"] = None  # not annotated in ACI-Bench
    aci |= grounding(real)
    columns["ACI-Bench train"] = aci
    print(f"python benchmarks/synthesis_gap.py --n {args.n} --seed {args.seed}\n")
    print(table(columns))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(columns, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
