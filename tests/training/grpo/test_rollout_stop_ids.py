"""A model with two EOS ids: the rollout trains on the stop token it sampled, never on one it did not."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.training.grpo.tiny_llama import save_tiny_llama
from training.grpo.rollout import Rollout


@pytest.fixture(scope="module")
def two_eos_policy(tmp_path_factory, default_model_dir):
    path = save_tiny_llama(tmp_path_factory.mktemp("two-eos"), default_model_dir)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    other = next(i for i in (0, 1, 3) if i != tok.eos_token_id)  # a second end token, as Llama 3 / Qwen have
    model.generation_config.eos_token_id = [tok.eos_token_id, other]
    return model, tok, other


def _force_next_token(model, token_id: int) -> None:
    """Make `token_id` the overwhelming choice at every step (a biased output layer)."""
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-50.0)
        head.bias[token_id] = 50.0
    model.lm_head = head


def test_the_stop_token_that_fired_is_the_one_kept(two_eos_policy):
    model, tok, other = two_eos_policy
    rollout = Rollout(model, tok)
    for fired in (other, tok.eos_token_id):
        _force_next_token(model, fired)
        samples = rollout.generate(["Doctor: hello"], n=2, max_new_tokens=4, temperature=1.0, top_p=1.0, seed=0)
        for s in samples:
            assert s.finish_reason == "stop" and s.completion_ids == [fired], (fired, s.completion_ids)


def test_a_completion_cut_by_the_budget_gets_no_stop_token(two_eos_policy):
    model, tok, other = two_eos_policy
    plain = next(i for i in range(10, 100) if i not in (other, tok.eos_token_id, tok.pad_token_id))
    _force_next_token(model, plain)
    (sample,) = Rollout(model, tok).generate(["Doctor: hello"], n=1, max_new_tokens=3, temperature=1.0, top_p=1.0,
                                             seed=0)  # fmt: skip
    assert sample.finish_reason == "length" and sample.completion_ids == [plain] * 3
