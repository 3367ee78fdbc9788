"""A full fine-tune factored into a shippable LoRA adapter (training.lora_extract)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from training.lora_extract import extract, low_rank, main


def test_low_rank_recovers_a_low_rank_change_and_reports_what_a_smaller_rank_keeps():
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(40, 3, generator=g) @ torch.randn(3, 24, generator=g)
    b, a, kept = low_rank(delta, 3)
    assert b.shape == (40, 3) and a.shape == (3, 24)
    assert torch.allclose(b @ a, delta, atol=1e-4) and kept == pytest.approx(1.0)
    b1, a1, kept1 = low_rank(delta, 1)
    assert 0.0 < kept1 < 1.0  # rank 1 keeps only part of a rank-3 change
    err = float((delta - b1 @ a1).norm() ** 2 / delta.norm() ** 2)
    assert err == pytest.approx(1.0 - kept1, abs=1e-4)  # what it reports is what it loses


def test_refuses_weights_of_another_architecture(tiny_llama):
    base = tiny_llama
    tuned = {k: v.clone() for k, v in base.state_dict().items()}
    tuned["model.layers.0.self_attn.q_proj.weight"] = torch.zeros(8, 8)
    with pytest.raises(ValueError, match="q_proj"):
        extract(base, tuned, rank=4)
    with pytest.raises(ValueError, match="lack"):
        extract(base, {"model.norm.weight": torch.ones(16)}, rank=4)  # the first refusal left it unwrapped


def test_half_copies_an_adapter_in_float16_with_its_config(tiny_llama, tmp_path):
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file

    get_peft_model(tiny_llama, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(str(tmp_path / "a"))
    assert main(["--half", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    weights = load_file(str(tmp_path / "b" / "adapter_model.safetensors"))
    assert weights and all(v.dtype == torch.float16 for v in weights.values())
    assert (tmp_path / "b" / "adapter_config.json").read_text() == (tmp_path / "a" / "adapter_config.json").read_text()


def test_cli_says_what_is_wrong_with_a_directory_that_is_no_checkpoint(tmp_path, capsys):
    assert main(["--tuned", str(tmp_path), "--rank", "4", "--out", str(tmp_path / "a")]) == 2
    assert "no *.safetensors" in capsys.readouterr().err


def test_real_model_merged_adapter_equals_the_rank_limited_fine_tune(tmp_path, monkeypatch, default_model_dir):
    """On the real default base: a fine-tune whose changes are rank <= r comes back exactly through the
    product's own loader (`merge_adapter`), norms and the tied embedding (and so the output layer) included."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    from inference.models import fetch_base, merge_adapter

    base_dir = Path(str(fetch_base()))
    monkeypatch.setenv("SOAP_VAR_DIR", str(tmp_path / "var"))  # the merged model lands here, not in var/
    base = load_file(str(base_dir / "model.safetensors"))
    g = torch.Generator().manual_seed(1)
    tuned = dict(base)
    q, down = "model.layers.0.self_attn.q_proj.weight", "model.layers.29.mlp.down_proj.weight"
    norm, emb = "model.layers.4.input_layernorm.weight", "model.embed_tokens.weight"
    tuned[q] = base[q] + 0.02 * torch.randn(576, 3, generator=g) @ torch.randn(3, 576, generator=g)
    tuned[down] = base[down] + 0.02 * torch.randn(576, 2, generator=g) @ torch.randn(2, 1536, generator=g)
    tuned[norm] = base[norm] * 1.25
    tuned[emb] = base[emb] + 0.01 * torch.randn(49152, 2, generator=g) @ torch.randn(2, 576, generator=g)
    ckpt = tmp_path / "step-9"
    ckpt.mkdir()
    save_file({k: v.contiguous() for k, v in tuned.items()}, str(ckpt / "model.safetensors"))

    out = tmp_path / "adapter"
    assert main(["--tuned", str(ckpt), "--base", str(base_dir), "--rank", "4", "--embed-rank", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    report = json.loads((out / "extract_report.json").read_text())
    assert report["kept_share"]["q_proj"] == pytest.approx(1.0, abs=1e-6)
    # rank 4 in float32 is ~5.3 MB; a copy of the full embedding (peft's default for an adapted one) would add 113 MB
    assert (out / "adapter_model.safetensors").stat().st_size < 8 * 1024 * 1024
    merged = load_file(str(Path(merge_adapter(out)) / "model.safetensors"))
    for key in (q, down, norm, emb):
        # float32 SVD: the recovered change is exact to rounding (1.7e-5 at most seen, against changes of ~3e-2)
        error = (merged[key] - tuned[key]).norm() / (tuned[key] - base[key]).norm()
        assert torch.allclose(merged[key], tuned[key], atol=1e-4) and error < 1e-4, (key, float(error))
    untouched = "model.layers.7.mlp.up_proj.weight"
    assert torch.equal(merged[untouched], base[untouched])
    model = AutoModelForCausalLM.from_pretrained(str(merge_adapter(out)))
    assert torch.allclose(model.lm_head.weight, tuned[emb], atol=1e-4)  # tied: the output layer moved too
