"""LoRA runs train only adapters and round-trip through the model loader; a diverging run stops cleanly."""

from __future__ import annotations

import json

import pytest
import torch

from training.config import ConfigError, build_config
from training.grpo import checkpoint as ckpt
from training.grpo.learner import NonFiniteError, autocast_dtype, resolve_dtype
from training.grpo.loop import Hooks, LocalExecutor, train


def test_auto_dtype_trains_in_fp32_and_bf16_mixed_keeps_fp32_master_weights():
    cfg = build_config("recipe", {})
    assert resolve_dtype(cfg, torch.device("cuda")) == torch.float32
    assert autocast_dtype(cfg, torch.device("cuda")) is None
    mixed = build_config("recipe", {"dtype": "bf16-mixed"})
    assert resolve_dtype(mixed, torch.device("cuda")) == torch.float32
    assert autocast_dtype(mixed, torch.device("cuda")) == torch.bfloat16
    assert autocast_dtype(mixed, torch.device("cpu")) is None
    plain = build_config("recipe", {"dtype": "bfloat16"})
    assert resolve_dtype(plain, torch.device("cuda")) == torch.bfloat16
    assert autocast_dtype(plain, torch.device("cuda")) is None


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    cfg = build_config("recipe", {"warmup_ratio": 0.1, "min_lr_ratio": 0.1})
    factors = [cfg.lr_factor(i, 20) for i in range(20)]
    assert factors[0] < factors[1] < factors[2] == pytest.approx(1.0)  # two warm-up steps
    assert all(a >= b for a, b in zip(factors[2:], factors[3:], strict=False))
    assert factors[-1] == pytest.approx(0.1)
    assert build_config("tiny-cpu", {}).lr_factor(5, 20) == 1.0  # constant by default


def test_lora_settings_are_checked():
    with pytest.raises(ConfigError, match="lora_rank"):
        build_config("tiny-cpu", {"lora_rank": -1})
    with pytest.raises(ConfigError, match="lora_target_modules is empty"):
        build_config("tiny-cpu", {"lora_rank": 4, "lora_target_modules": " , "})
    assert build_config("tiny-cpu", {"lora_rank": 4, "lora_target_modules": "all-linear"}).lora_modules == "all-linear"


def _greedy_ids(model, tokenizer, prompt: str, n: int) -> list[int]:
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out[0, enc["input_ids"].shape[1] :].tolist()


@pytest.mark.slow
def test_lora_run_changes_only_adapters_saves_them_and_generates_the_same_after_reload(
    default_model_dir, examples, tmp_path, monkeypatch
):
    from inference.models import load_model, resolve_model

    monkeypatch.setenv("SOAP_VAR_DIR", str(tmp_path / "var"))  # merged models land here, not in the repo's var/
    base_dir = str(default_model_dir)
    settings = {"kind": "sft", "steps": 2, "save_every": 2, "lora_rank": 4, "lora_alpha": 8, "sft_learning_rate": 5e-3}
    cfg = build_config("tiny-cpu", {**settings, "model": base_dir, "output_dir": str(tmp_path / "run")})
    holder: dict[str, LocalExecutor] = {}

    def factory(c, policy, ref):
        holder["ex"] = LocalExecutor(c, policy, ref)
        return holder["ex"]

    result = train(cfg, examples, executor_factory=factory)
    model = holder["ex"].learner.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)

    # the base weights did not move; the adapters did
    base_model, _ = load_model(base_dir, device="cpu")
    base_w = dict(base_model.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
    peft_w = dict(model.named_parameters())["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"]
    assert torch.equal(base_w, peft_w)
    lora_b = dict(model.named_parameters())["base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight"]
    assert lora_b.abs().sum() > 0  # peft starts B at zero: only training moves it

    # the checkpoint is an adapter that names its base by reference, and the loader merges it
    path = ckpt.latest_checkpoint(tmp_path / "run")
    assert path is not None and str(path) == result.last_checkpoint
    assert (path / "adapter_model.safetensors").is_file() and not (path / "model.safetensors").exists()
    assert json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"] == base_dir
    assert (path / "adapter_model.safetensors").stat().st_size < 6_000_000  # rank 4: 1.2M fp32 parameters

    prompt = holder["ex"].tokenizer.apply_chat_template(
        [{"role": "user", "content": "Patient: dry cough for five days."}], tokenize=False, add_generation_prompt=True
    )
    model.eval()
    before = _greedy_ids(model, holder["ex"].tokenizer, prompt, 12)
    merged_dir = resolve_model(str(path))
    assert (merged_dir / "config.json").is_file() and resolve_model(str(path)) == merged_dir  # made once
    merged, tokenizer = load_model(str(path), device="cpu")
    assert _greedy_ids(merged, tokenizer, prompt, 12) == before


@pytest.mark.slow
def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(default_model_dir, examples, tmp_path):
    cfg = build_config("tiny-cpu", {"kind": "sft", "steps": 3, "save_every": 1, "model": str(default_model_dir),
                                    "output_dir": str(tmp_path / "run")})  # fmt: skip
    holder: dict[str, LocalExecutor] = {}

    def factory(c, policy, ref):
        holder["ex"] = LocalExecutor(c, policy, ref)
        return holder["ex"]

    def poison(step, path, metrics):
        if step == 1:  # what a diverging run looks like: a weight turns NaN after a good checkpoint
            with torch.no_grad():
                next(holder["ex"].learner.model.parameters()).view(-1)[0] = float("nan")

    with pytest.raises(NonFiniteError, match="not applied"):
        train(cfg, examples, hooks=Hooks(on_checkpoint=poison), executor_factory=factory)
    assert [step for step, _ in ckpt.list_checkpoints(tmp_path / "run")] == [1]  # no NaN checkpoint was written
    log = (tmp_path / "run" / "train.log").read_text()
    assert "stopped at step 2" in log and "step-1" in log
