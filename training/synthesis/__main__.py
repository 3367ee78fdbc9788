"""Synthesise a dataset without Django (on a bare GPU box, in a Ray worker, for a quick look).

    python -m training.synthesis --n 2000 --out var/synthesis/sample.jsonl
    python -m training.synthesis --n 2000 --threshold none --seed 0 --out var/datasets/synth-realistic.jsonl
    python -m training.synthesis --n 2000 --style tidy --threshold none --out var/synthesis/tidy.jsonl
    python -m training.synthesis --n 24000 --checkpoint var/synthesis/run1 --embed-device cuda --out run1.jsonl
    python -m training.synthesis --n 500 --renderer llm --llm-base-url http://127.0.0.1:8001/v1 --out llm.jsonl

Writes the example dicts (JSONL) and prints the coverage/dedup report. The same checkpoint directory
resumes an interrupted run. `manage.py synthesize` is the database-backed equivalent.
"""

from __future__ import annotations

import argparse
import json
import sys

from .dedup import Embedder
from .pipeline import STYLES, SynthesisConfig, SynthesisError, synthesize, write_jsonl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.synthesis", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24000, help="cases rendered before de-duplication")
    parser.add_argument("--train", type=int, default=None)
    parser.add_argument("--holdout", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", default="0.97", help="cosine threshold, or 'none' for exact dedup only")
    parser.add_argument("--by-condition", action="store_true")
    parser.add_argument("--renderer", choices=["offline", "llm"], default="offline")
    parser.add_argument(
        "--style",
        choices=list(STYLES),
        default="realistic",
        help="offline visits: realistic (ACI-Bench-like, the default) or tidy (the earlier short scripted visits)",
    )
    parser.add_argument("--llm-base-url", default="")
    parser.add_argument("--llm-model", default="")
    parser.add_argument("--embed-device", default="cpu")
    parser.add_argument("--checkpoint", default=None, help="directory for resumable chunks and the embedding cache")
    parser.add_argument("--out", required=True, help="JSONL file to write")
    args = parser.parse_args(argv)
    threshold = None if args.threshold.lower() == "none" else float(args.threshold)
    overrides = {
        "seed": args.seed,
        "threshold": threshold,
        "renderer": args.renderer,
        "style": args.style,
        "holdout_by_condition": args.by_condition,
        "llm": {"base_url": args.llm_base_url, "model": args.llm_model} if args.renderer == "llm" else {},
    }
    try:
        config = SynthesisConfig.scaled(args.n, **overrides)
        if args.train is not None or args.holdout is not None:
            config = SynthesisConfig(
                n=args.n,
                train=config.train if args.train is None else args.train,
                holdout=config.holdout if args.holdout is None else args.holdout,
                **overrides,
            )
        embedder = None
        if threshold is not None:
            cache = f"{args.checkpoint}/embeddings.npz" if args.checkpoint else None
            embedder = Embedder(device=args.embed_device, cache_path=cache)
        result = synthesize(config, checkpoint_dir=args.checkpoint, embedder=embedder)
    except SynthesisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = write_jsonl(result.examples, args.out)
    print(json.dumps({k: v for k, v in result.report.items() if k not in ("specialties", "fact_kinds")}, indent=2))
    print(f"wrote {count} examples to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
