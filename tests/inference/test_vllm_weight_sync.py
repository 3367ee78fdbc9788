"""The names and values a learner pushes into vLLM's engine (`load_weights`), checked on CPU.

vLLM itself runs only on the GPU machine (tests/gpu/test_vllm.py); what it is sent is decided here:
a plain model's parameters under their checkpoint names, and a peft LoRA policy merged (W + BA) under
the same names with the adapter's own tensors left out.
"""

from __future__ import annotations

import torch

from inference.backends.vllm import peft_free_weights


def test_plain_model_is_sent_under_checkpoint_names(tiny_llama):
    sent = dict(peft_free_weights(tiny_llama))
    assert set(sent) == {name for name, _ in tiny_llama.named_parameters()}
    assert "model.layers.0.self_attn.q_proj.weight" in sent
    assert all(not t.requires_grad for t in sent.values())  # detached: the push builds no graph


def test_lora_policy_is_sent_merged_under_the_base_names(tiny_llama):
    from peft import LoraConfig, get_peft_model

    plain_names = {name for name, _ in tiny_llama.named_parameters()}
    model = get_peft_model(tiny_llama, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a trained adapter: B is zero at initialisation, so give it values
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    expected = layer.base_layer.weight + layer.get_delta_weight("default")
    base_before = layer.base_layer.weight.detach().clone()
    model.merge_adapter()
    try:
        # the engine copies them before the unmerge (load_from_model); the tensors are views of the model
        sent = {name: t.clone() for name, t in peft_free_weights(model)}
    finally:
        model.unmerge_adapter()
    assert set(sent) == plain_names  # no base_model.model. prefix, no .base_layer, no lora_A/lora_B
    torch.testing.assert_close(sent["model.layers.0.self_attn.q_proj.weight"], expected.detach())
    torch.testing.assert_close(layer.base_layer.weight, base_before)  # unmerged again for training


def test_modules_kept_whole_are_sent_as_their_trained_copy(tiny_llama):
    """An adapter with peft `modules_to_save` (the norms of an extracted adapter) sends the trained norm."""
    from peft import LoraConfig, get_peft_model

    plain_names = {name for name, _ in tiny_llama.named_parameters()}
    config = LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj"], modules_to_save=["input_layernorm"])
    model = get_peft_model(tiny_llama, config)
    norm = model.base_model.model.model.layers[1].input_layernorm
    with torch.no_grad():
        norm.modules_to_save["default"].weight.fill_(3.0)
    sent = dict(peft_free_weights(model))
    assert set(sent) == plain_names
    assert torch.all(sent["model.layers.1.input_layernorm.weight"] == 3.0)
    assert torch.all(norm.original_module.weight == 1.0)  # the original is what it replaces, not what is sent
