"""Launch a Ray-mode run on a GPU layout: rollout GPUs, judge GPUs and an FSDP learner group.

The published layout (8 GPUs: 2 rollout, 4 learners, 2 judges), on a cluster whose head is at
RAY_ADDRESS, as a Ray Job (the driver runs on the cluster; the command returns the job id):

    python -m training.orchestration.launch --rollout-gpus 2 --learner-gpus 4 --judge-gpus 2 \\
        --preset recipe --set judge=llm --set judge_serve=/models/judge-8b --set judge_model=judge \\
        --data /data/var/datasets/train.jsonl --output /data/var/checkpoints/recipe-8gpu \\
        --submit http://ray-head:8265

Without --submit the driver runs here (on a node of the cluster, or a local Ray on this machine).
`--cpu` keeps the same counts as CPU processes (gloo instead of NCCL), e.g. the CPU check:

    python -m training.orchestration.launch --cpu --rollout-gpus 1 --judge-gpus 1 --learner-gpus 2 \\
        --preset tiny-cpu --data examples.jsonl --output var/checkpoints/ray-cpu

`--judge-gpus 0` keeps one CPU judge actor (judge=fact or an external judge_base_url). Every layout
becomes plain `--set` overrides of `python -m training.train`, printed by --dry-run, so a run records
exactly what it used. NVLink multicast stays off everywhere (NCCL_NVLS_ENABLE=0 and friends).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import PRESETS, ConfigError, dumps, parse_overrides
from training.orchestration.learner_group import NCCL_ENV

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    """How many actors of each kind, one GPU each (or CPU processes with gpu=False)."""

    rollout: int = 2
    learner: int = 4
    judge: int = 2
    gpu: bool = True

    def __post_init__(self) -> None:
        if self.rollout < 1 or self.learner < 1 or self.judge < 0:
            raise ConfigError("a layout needs at least 1 rollout and 1 learner (and judges >= 0).")

    @property
    def gpus(self) -> int:
        return (self.rollout + self.learner + self.judge) if self.gpu else 0

    def overrides(self) -> dict[str, str]:
        """The `training.train --set` values this layout stands for."""
        out = {"mode": "ray", "rollout_workers": str(self.rollout), "learner_workers": str(self.learner),
               "judge_workers": str(max(1, self.judge))}  # fmt: skip
        if self.gpu:
            out.update(device="cuda", gpus_per_worker="1")
            if self.judge:
                out["judge_gpus_per_worker"] = "1"
        else:
            out["device"] = "cpu"
        return out

    def describe(self) -> str:
        unit = "GPU" if self.gpu else "CPU process"
        judges = f"{self.judge} judge" if self.judge else "1 CPU judge"
        return f"{self.rollout} rollout, {self.learner} learner (FSDP), {judges} ({unit} each; {self.gpus} GPUs)"


PUBLISHED = Layout(rollout=2, learner=4, judge=2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.orchestration.launch", description=__doc__.split("\n")[0])
    p.add_argument("--rollout-gpus", type=int, default=PUBLISHED.rollout, help="rollout actors, one GPU each")
    p.add_argument("--learner-gpus", type=int, default=PUBLISHED.learner, help="FSDP learner ranks, one GPU each")
    p.add_argument("--judge-gpus", type=int, default=PUBLISHED.judge, help="judge actors serving judge_serve; 0: CPU")
    p.add_argument("--cpu", action="store_true", help="the same counts as CPU processes (gloo), no GPUs")
    p.add_argument("--preset", default="recipe", choices=sorted(PRESETS))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data", required=True, help="JSONL of examples (a path the cluster's nodes can read)")
    p.add_argument("--output", required=True, help="run directory (shared storage on a multi-node cluster)")
    p.add_argument("--model", help="starting model reference")
    p.add_argument("--submit", metavar="DASHBOARD_URL", help="submit as a Ray Job, e.g. http://ray-head:8265")
    p.add_argument("--dry-run", action="store_true", help="print the resolved command and config, run nothing")
    return p.parse_args(argv)


def train_argv(args: argparse.Namespace, layout: Layout) -> list[str]:
    """`python -m training.train` arguments for this layout; user --set values win over the layout's."""
    values: dict[str, str] = {**layout.overrides(), **parse_overrides(args.overrides)}
    if args.submit:
        values.setdefault("ray_address", "auto")  # the job's driver joins the cluster it runs on
    argv = ["--preset", args.preset, "--data", args.data, "--output", args.output]
    if args.model:
        argv += ["--model", args.model]
    for key, value in values.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def submit(address: str, argv: list[str]) -> str:
    """Submit the driver as a Ray Job (working dir = this checkout, NVLS off); returns the job id."""
    import shlex

    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    runtime_env: dict[str, Any] = {
        "working_dir": str(ROOT),
        "excludes": [".git", ".venv", "var", "node_modules", "docs/screenshots"],
        "env_vars": dict(NCCL_ENV),
    }
    entrypoint = "python -m training.train " + " ".join(shlex.quote(a) for a in argv)
    return client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        layout = Layout(args.rollout_gpus, args.learner_gpus, args.judge_gpus, gpu=not args.cpu)
        targv = train_argv(args, layout)
        from training.train import config_from_args
        from training.train import parse_args as train_parse_args

        cfg = config_from_args(train_parse_args(targv))  # validate here, before anything starts
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"layout: {layout.describe()}", file=sys.stderr)
    if args.dry_run:
        print("python -m training.train " + " ".join(targv))
        print(dumps(cfg))
        return 0
    if args.submit:
        print(submit(args.submit, targv))
        return 0
    from training.train import main as train_main

    return train_main(targv)


if __name__ == "__main__":
    raise SystemExit(main())
