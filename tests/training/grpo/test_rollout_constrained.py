"""Rollouts with the app's note decoding (`rollout_constrained=true`): every sample is a note."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inference.parsing import parse_note
from inference.schema import SECTION_KEYS
from training.config import ConfigError, build_config
from training.grpo.data import prompt_text
from training.grpo.loop import Hooks, LocalExecutor, _Run
from training.grpo.rollout import NoteDecoding, rollout_params

ROOT = Path(__file__).resolve().parents[3]


def test_note_decoding_params_and_each_actor_gets_its_prompts_numbers():
    note = NoteDecoding((frozenset({"38.1"}), frozenset({"160", "95"}), frozenset()), no_repeat_ngram=12)
    params = rollout_params(4, 256, 1.0, 1.0, 7, note, 3)
    assert params.constrained and params.n == 4 and params.temperature == 1.0 and params.no_repeat_ngram == 12
    assert params.grounded_numbers == note.grounded_numbers

    # A Ray rollout actor that gets prompts 2 and 0 gets their numbers, in that order.
    assert note.part([2, 0]).grounded_numbers == (frozenset(), frozenset({"38.1"}))
    with pytest.raises(ValueError, match="numbers for 3 prompts, not 2"):
        rollout_params(4, 256, 1.0, 1.0, 7, note, 2)

    # One dialogue with numbers unchecked (SOAP_GROUNDED_NUMBERS=0) leaves the call unchecked, as the app's batches.
    loose = rollout_params(2, 64, 1.0, 1.0, 0, NoteDecoding((frozenset({"5"}), None)), 2)
    assert loose.constrained and loose.grounded_numbers is None

    free = rollout_params(4, 256, 1.0, 1.0, 7, None, 3)
    assert not free.constrained and free.grounded_numbers is None and free.no_repeat_ngram == 0


def test_a_vllm_rollout_engine_built_without_the_note_rules_refuses_note_decoding():
    """Without the rules the engine would sample unconstrained while the run believes every sample is a note."""
    from types import SimpleNamespace

    from training.grpo.rollout import VLLMRollout

    rollout = VLLMRollout.__new__(VLLMRollout)  # no engine needed: the check comes first
    rollout.backend = SimpleNamespace(note_rules=False)
    with pytest.raises(ValueError, match="built without the note rules"):
        rollout.generate(["p"], n=2, max_new_tokens=8, temperature=1.0, top_p=1.0, seed=0,
                         note=NoteDecoding((frozenset(),)))  # fmt: skip


def test_the_flag_is_a_config_field_with_a_clear_error_for_a_bad_value():
    assert build_config("tiny-cpu", {"rollout_constrained": True}).rollout_constrained is True
    assert build_config("tiny-cpu", {}).rollout_constrained is False
    with pytest.raises((ConfigError, ValueError)):
        build_config("tiny-cpu", {"rollout_constrained": "sometimes"})


@pytest.mark.slow
def test_constrained_rollouts_of_the_real_model_are_grounded_notes_and_train(default_model_dir, examples, tmp_path):
    """The untrained base at temperature 1.0: constrained, every sample is a valid note that writes no number its
    dialogue does not state; then one GRPO step trains on them."""
    cfg = build_config(
        "tiny-cpu",
        {"beta": 0, "reward": "full", "judge": "grounded", "max_new_tokens": 160, "rollout_constrained": True,
         "learning_rate": 1e-4, "output_dir": str(tmp_path)},
    )  # fmt: skip
    ex = LocalExecutor(cfg, str(default_model_dir), str(default_model_dir))
    run = _Run(cfg, examples, Hooks(), ex)
    note = run.note_decoding([0, 1])
    assert note is not None and note.grounded_numbers[1] is not None and "160" in note.grounded_numbers[1]

    m = run.grpo_step(0, 0)
    assert m["format_valid"] == 1.0 and m["truncated_fraction"] == 0.0  # every sample parsed as S/O/A/P
    assert m["skipped_update"] == 1.0 or m["grad_norm"] > 0

    # The samples themselves: all four sections, and no number beyond what each dialogue states.
    prompts = [prompt_text(ex.tokenizer, e, few_shot=False, max_tokens=cfg.max_prompt_tokens) for e in examples[:2]]
    samples, _ = ex.generate(prompts, n=2, max_new_tokens=160, temperature=1.0, top_p=1.0, seed=3, note=note)
    assert len(samples) == 4
    for s in samples:
        parsed = json.loads(s.text)
        assert list(parsed) == list(SECTION_KEYS) and s.finish_reason == "stop"
        stated = note.grounded_numbers[s.group] or frozenset()
        written = set(re.findall(r"\d+(?:\.\d+)?", s.text))
        assert written <= stated, (written - stated, s.text)

    # The same base sampled as it is (the default) writes text that is not a note.
    free, _ = ex.generate(prompts, n=2, max_new_tokens=160, temperature=1.0, top_p=1.0, seed=3)
    assert not all(parse_note(s.text, strict=True).note is not None for s in free)


@pytest.mark.slow
def test_grpo_continues_the_shipped_adapter_with_note_rollouts_from_the_cli(default_model_dir, examples_file, tmp_path):
    """The GPU run's command on CPU: the shipped adapter carries no tokenizer (its base's is used), every
    rollout is a note, and the checkpoint is again an adapter the app can load."""
    out = tmp_path / "run"
    adapter = ROOT / "models" / "soap-smollm2-lora"
    cmd = [sys.executable, "-m", "training.train", "--preset", "tiny-cpu", "--model", str(adapter),
           "--data", str(examples_file), "--output", str(out), "--set", "steps=1", "--set", "beta=0",
           "--set", "reward=full", "--set", "judge=grounded", "--set", "max_new_tokens=160",
           "--set", "rollout_constrained=true"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["format_valid"] == 1.0 and row["truncated_fraction"] == 0.0
    assert (out / "step-1" / "adapter_config.json").is_file()
