"""Evaluate one or more models on a dataset and write a report.

    python -m training.evaluate --model default --dataset aci-bench:valid --limit 10 --max-new-tokens 256
    python -m training.evaluate --model default --model var/runs/r1/checkpoint-200 \\
        --dataset var/datasets/holdout.jsonl --split holdout --limit 20 --constrained-too

Datasets: a JSONL of Example dicts, `aci-bench[:valid|train]`, `mts-dialog[:valid|...]`. Judges: `auto`
(fact judge for examples with gold facts, reference judge otherwise), `fact`, `reference`, `grounded`
(the full reward's judge: reference overlap x grounding in the dialogue), or `llm` with
`--judge-url http://host:port/v1` (any OpenAI-compatible server). Every run also reports the standard
metrics (ROUGE-1/2/Lsum whole note and per section, concept F1, ungrounded numbers/drugs/diagnoses with
the clinicians' own rate beside them, length, runaway, validity; training/evaluation/metrics.py).
Prints the comparison table and writes report.md / report.html / charts under --out (default
var/reports/cli-<timestamp>/). To score notes generated elsewhere (`python -m inference generate
--jsonl`), use `python -m training.evaluation.score`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", help="model reference (repeat to compare); default: the default policy"
    )
    parser.add_argument("--dataset", required=True, help="JSONL path, aci-bench[:split] or mts-dialog[:split]")
    parser.add_argument("--split", default=None, help="only examples of this split (JSONL datasets), e.g. holdout")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N examples")
    parser.add_argument("--judge", default="auto", choices=["auto", "fact", "reference", "grounded", "llm"])
    parser.add_argument("--judge-url", default=None, help="OpenAI-compatible base URL for --judge llm")
    parser.add_argument("--judge-model", default="judge", help="model name sent to the judge endpoint")
    parser.add_argument("--backend", default=None, help="inference backend: transformers (default), openai, vllm")
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--constrained", action="store_true", help="constrained decoding for the main pass")
    parser.add_argument("--constrained-too", action="store_true", help="add a constrained pass (validity, reward)")
    parser.add_argument("--few-shot", action="store_true")
    parser.add_argument("--out", default=None, help="report directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from training.evaluation import DatasetError, evaluate, load_examples, resolve_judge, write_report

    try:
        examples = load_examples(args.dataset, split=args.split, limit=args.limit)
        judge = resolve_judge(args.judge, args.judge_url, args.judge_model)
    except (DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or Path("var/reports") / time.strftime("cli-%Y%m%d-%H%M%S"))
    reports = []
    for model in args.model or ["default"]:

        def progress(done: int, total: int, model: str = model) -> None:
            print(f"[{model}] generated {done}/{total}", file=sys.stderr, flush=True)

        reports.append(
            evaluate(
                model,
                examples,
                judge=judge,
                constrained=args.constrained,
                backend=args.backend,
                max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size,
                constrained_too=args.constrained_too,
                few_shot=args.few_shot,
                dataset=args.dataset + (f" ({args.split})" if args.split else ""),
                progress=progress,
            )
        )
    markdown = write_report(reports, out, title=f"Evaluation on {args.dataset}")
    print(markdown.split("\n\n![")[0])
    print(f"\nreport: {out / 'report.md'}  ({out / 'report.html'})")
    print(json.dumps({"command": " ".join(sys.argv), "seconds": sum(r.seconds for r in reports)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
