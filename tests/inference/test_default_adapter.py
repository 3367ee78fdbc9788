"""The shipped default: the base model with the committed LoRA adapter merged in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inference.models import DEFAULT_ADAPTER_DIR, default_adapter, fetch_base, fetch_default, resolve_model

CARD = DEFAULT_ADAPTER_DIR / "README.md"


def test_the_adapter_in_the_repo_is_small_names_its_base_and_has_a_model_card(monkeypatch):
    monkeypatch.delenv("SOAP_DEFAULT_ADAPTER", raising=False)
    assert default_adapter() == DEFAULT_ADAPTER_DIR
    config = json.loads((DEFAULT_ADAPTER_DIR / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "base" and config["r"] == 32
    assert (DEFAULT_ADAPTER_DIR / "adapter_model.safetensors").stat().st_size <= 20 * 1024 * 1024
    card = CARD.read_text()
    for needed in ("Apache License 2.0", "CC BY 4.0", "python -m training.train", "Seed 0", "Known limits"):
        assert needed in card, needed


def test_none_turns_the_adapter_off(monkeypatch, default_model_dir):
    monkeypatch.setenv("SOAP_DEFAULT_ADAPTER", "none")
    assert default_adapter() is None and fetch_default() == fetch_base()


@pytest.mark.slow
def test_default_model_is_the_base_with_the_adapter_merged(monkeypatch, default_model_dir):
    from safetensors.torch import load_file

    monkeypatch.delenv("SOAP_DEFAULT_ADAPTER", raising=False)
    merged = fetch_default()
    assert merged != fetch_base() and resolve_model("default") == merged and resolve_model(None) == merged
    assert resolve_model("base") == fetch_base()
    base_w = load_file(str(Path(fetch_base()) / "model.safetensors"))
    merged_w = load_file(str(Path(merged) / "model.safetensors"))
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(base_w[q], merged_w[q])  # the adapter changed the attention projections
    emb = "model.embed_tokens.weight"
    assert torch.equal(base_w[emb], merged_w[emb])  # and nothing it does not adapt
