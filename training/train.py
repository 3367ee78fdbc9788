"""Command line for GRPO / SFT runs (local mode, or Ray mode with `--set mode=ray`).

    python -m training.train --preset tiny-cpu --data examples.jsonl --output var/checkpoints/demo
    python -m training.train --preset recipe --set sft_steps=50 --set steps=200 --data train.jsonl \
        --output var/checkpoints/recipe-1
    python -m training.train --help-config          # every setting with its help text

Re-running the same command resumes from the newest checkpoint under --output with the same data
order; `touch <output>/CANCEL` stops a run cleanly after the current step, keeping a checkpoint.
Prints one JSON line per step (and `{"event": "checkpoint", ...}` lines) on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from training.config import PRESETS, ConfigError, TrainConfig, build_config, parse_overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="recipe", choices=sorted(PRESETS), help="starting values (default: recipe)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting; repeatable")  # fmt: skip
    p.add_argument("--data", help="JSONL of examples (same as --set data=...)")
    p.add_argument("--output", help="run directory (same as --set output_dir=...)")
    p.add_argument("--model", help="starting model reference (same as --set model=...)")
    p.add_argument("--help-config", action="store_true", help="list every setting and exit")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides: dict[str, Any] = parse_overrides(args.overrides)
    for key, value in (("data", args.data), ("output_dir", args.output), ("model", args.model)):
        if value:
            overrides[key] = value
    return build_config(args.preset, overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.help_config:
        for name, text in TrainConfig.fields_help().items():
            print(f"{name:24} {text}")
        return 0
    try:
        cfg = config_from_args(args)
        if not cfg.data:
            raise ConfigError("no training data: pass --data FILE.jsonl (examples, one JSON object a line).")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from training.api import DataError, Hooks, run

    def emit(obj: dict[str, Any]) -> None:
        print(json.dumps(obj, default=str), flush=True)

    hooks = Hooks(
        on_step=lambda step, m: emit({"event": "step", **m}),
        on_checkpoint=lambda step, path, m: emit({"event": "checkpoint", "step": step, "path": path}),
        on_log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    try:
        result = run(cfg, hooks)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # training.grpo.learner.NonFiniteError: the run diverged
        print(f"error: training stopped: {exc}", file=sys.stderr)
        return 1
    emit({"event": "done", "state": result.state, "step": result.step, "last_checkpoint": result.last_checkpoint})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
