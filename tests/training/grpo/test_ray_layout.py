"""The GPU layout maps onto plain training settings; judge GPUs are refused unless they serve a judge."""

from __future__ import annotations

import pytest

from training.config import ConfigError, build_config
from training.orchestration.judge_server import JudgeServer, JudgeServerError, serve_command
from training.orchestration.launch import PUBLISHED, Layout, main, parse_args, train_argv

JUDGE = ["--set", "judge=llm", "--set", "judge_serve=/models/judge-8b", "--set", "judge_model=judge"]


def test_published_layout_is_eight_gpus_as_train_settings():
    assert (PUBLISHED.rollout, PUBLISHED.learner, PUBLISHED.judge, PUBLISHED.gpus) == (2, 4, 2, 8)
    args = parse_args(["--data", "d.jsonl", "--output", "out", "--submit", "http://head:8265", *JUDGE])
    argv = train_argv(args, PUBLISHED)
    settings = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--set")
    cfg = build_config("recipe", settings)
    assert (cfg.mode, cfg.device, cfg.gpus_per_worker, cfg.judge_gpus_per_worker) == ("ray", "cuda", 1.0, 1.0)
    assert (cfg.rollout_workers, cfg.learner_workers, cfg.judge_workers) == (2, 4, 2)
    assert cfg.ray_address == "auto"  # a submitted job's driver joins the cluster it runs on


def test_cpu_layout_and_dry_run_print_the_train_command(capsys):
    assert Layout(1, 2, 1, gpu=False).overrides() == {
        "mode": "ray",
        "rollout_workers": "1",
        "learner_workers": "2",
        "judge_workers": "1",
        "device": "cpu",
    }
    argv = ["--cpu", "--rollout-gpus", "1", "--learner-gpus", "2", "--judge-gpus", "1", "--preset", "tiny-cpu",
            "--data", "d.jsonl", "--output", "out", "--dry-run"]  # fmt: skip
    assert main(argv) == 0
    assert "--set learner_workers=2" in capsys.readouterr().out


def test_judge_gpus_without_a_judge_to_serve_are_rejected_with_the_fix(capsys):
    assert main(["--data", "d.jsonl", "--output", "out", "--dry-run"]) == 2
    assert "judge_serve=MODEL" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="judge_serve"):
        build_config("tiny-cpu", {"judge_gpus_per_worker": 1})


def test_judge_server_command_and_missing_vllm_message(monkeypatch):
    cmd = serve_command("/models/judge-8b", "judge", 8100, gpus=2)
    assert cmd[:3] == ["vllm", "serve", "/models/judge-8b"] and cmd[cmd.index("--tensor-parallel-size") + 1] == "2"
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(JudgeServerError, match="pip install vllm"):
        JudgeServer("/models/judge-8b", "judge").start()
