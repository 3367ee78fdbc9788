"""A tiny randomly initialised Llama (2 layers, hidden 32) with the default model's tokenizer.

For tests about arithmetic and plumbing (learner group, Ray layout), where the real model's
weights only cost time: it loads in milliseconds and trains a step in well under a second on CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_llama(path: Path, tokenizer_dir: str | Path, *, seed: int = 0) -> str:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)
