"""The rollout backend (the learner's own policy) also decodes greedily, for evaluation inside a run."""

from __future__ import annotations

from transformers import AutoModelForCausalLM, AutoTokenizer

from inference.backends.base import SamplingParams
from inference.prompts import build_messages
from tests.training.grpo.tiny_llama import save_tiny_llama
from training.grpo.rollout import PolicyBackend


def test_greedy_policy_decoding_is_deterministic_and_sampling_still_varies(default_model_dir, tmp_path):
    path = save_tiny_llama(tmp_path / "tiny", default_model_dir)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    backend = PolicyBackend.from_loaded(model, tokenizer, "policy")
    prompt = build_messages([{"speaker": "patient", "text": "I have had a cough for a week."}])
    greedy = SamplingParams(max_new_tokens=12, temperature=0.0, constrained=False)
    first, second = (backend.generate([prompt], greedy)[0] for _ in range(2))
    assert first.token_ids and first.token_ids == second.token_ids
    sampled = SamplingParams(max_new_tokens=12, temperature=1.0, constrained=False, n=4, seed=0)
    assert len({tuple(c.token_ids) for c in backend.generate([prompt], sampled)}) > 1
