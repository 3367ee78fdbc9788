"""The vLLM backend and vLLM rollouts on a CUDA GPU, with the real default model (base SmolLM2-135M).

Runs on the GPU machine after `benchmarks/gpu/stage.sh` has installed vLLM there
(`bash benchmarks/gpu/vllm_run.sh` runs these and the benchmark); everywhere else every test is
skipped with the reason. The directory has its own conftest so that `--confcutdir=tests/gpu` runs it
without Django on a machine that has none.
"""

from __future__ import annotations

import json
import math

import pytest

from inference.backends.base import SamplingParams
from inference.backends.vllm import vllm_available

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not vllm_available(),
        reason="needs a CUDA GPU with vllm installed (the GPU machine, after benchmarks/gpu/stage.sh)",
    ),
]

DIALOGUES = [
    [
        {"speaker": "doctor", "text": "What brings you in today?"},
        {"speaker": "patient", "text": "A cough and a fever for five days, and I get short of breath on stairs."},
        {"speaker": "doctor", "text": "Your temperature is 38.9 and oxygen saturation 93 percent."},
        {"speaker": "doctor", "text": "This is pneumonia. Amoxicillin 1 gram three times a day for five days."},
    ],
    [
        {"speaker": "doctor", "text": "How is the knee since the fall?"},
        {"speaker": "patient", "text": "It swells after walking and it clicks when I climb stairs."},
        {"speaker": "doctor", "text": "On exam there is a small effusion and medial joint line tenderness."},
        {"speaker": "doctor", "text": "Likely a meniscal tear; we will get an MRI and start physical therapy."},
    ],
]


@pytest.fixture(scope="module")
def model_dir():
    from inference.models import fetch_default

    return str(fetch_default())


@pytest.fixture(scope="module")
def engine(model_dir):
    from inference.backends.vllm import VLLMBackend

    return VLLMBackend(model_dir, gpu_memory_utilization=0.25, max_model_len=4096)


@pytest.fixture(scope="module")
def hf_model(model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to("cuda").eval()


def _messages(dialogue):
    from inference.prompts import build_messages

    return build_messages(dialogue)


def _hf_logprobs(model, prompt_ids, completion_ids):
    """log p(completion | prompt) per token under a transformers model (the learner's computation)."""
    import torch

    ids = torch.tensor([list(prompt_ids) + list(completion_ids)], device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(ids).logits.float()
    logps = torch.log_softmax(logits[0, len(prompt_ids) - 1 : -1], dim=-1)
    return logps.gather(1, ids[0, len(prompt_ids) :, None])[:, 0].tolist()


def test_constrained_batch_is_schema_valid_json(engine):
    prompts = [_messages(d) for d in DIALOGUES] * 4
    out = engine.generate(prompts, SamplingParams(max_new_tokens=384, constrained=True))
    assert len(out) == len(prompts)
    finished = [c for c in out if c.finish_reason == "stop"]
    assert finished, "no constrained note finished within 384 tokens"
    for c in finished:
        note = json.loads(c.text)
        assert list(note) == ["S", "O", "A", "P"], c.text
        assert all(isinstance(v, str) and v for v in note.values())
        assert c.extra.get("stop_token_id") is not None and c.token_ids[-1] != c.extra["stop_token_id"]


def test_per_call_sampling_settings_and_grouping(engine):
    prompts = [_messages(d) for d in DIALOGUES]
    greedy = engine.generate(prompts, SamplingParams(max_new_tokens=48, constrained=False))
    again = engine.generate(prompts, SamplingParams(max_new_tokens=48, constrained=False))
    assert [c.text for c in greedy] == [c.text for c in again]  # temperature 0 is deterministic
    sampled = engine.generate(
        prompts, SamplingParams(max_new_tokens=48, constrained=False, temperature=1.0, n=4, seed=3, logprobs=True)
    )
    assert len(sampled) == 8  # prompt 0's four samples, then prompt 1's
    assert len({c.text for c in sampled[:4]}) > 1, "n=4 at temperature 1 gave four identical samples"
    for c in sampled:
        assert c.num_tokens <= 48 and c.logprobs is not None and len(c.logprobs) == len(c.token_ids)
        assert all(lp <= 0.0 for lp in c.logprobs)
    seeded = engine.generate(
        prompts, SamplingParams(max_new_tokens=48, constrained=False, temperature=1.0, n=4, seed=3)
    )
    assert [c.text for c in seeded] == [c.text for c in sampled]  # the same seed draws the same samples


def test_stream_yields_the_greedy_note_piece_by_piece(engine):
    params = SamplingParams(max_new_tokens=96, constrained=True)
    prompt = _messages(DIALOGUES[0])
    stream = engine.stream(prompt, params)
    pieces = []
    try:
        while True:
            pieces.append(next(stream))
    except StopIteration as stop:
        final = stop.value
    assert len(pieces) > 1, "the stream arrived in one piece"
    assert "".join(pieces) == final.text == engine.generate([prompt], params)[0].text


def test_too_long_prompt_is_refused_with_its_size(engine):
    from inference.errors import InputTooLong

    long_dialogue = [{"speaker": "patient", "text": "my knee hurts " * 1500}]
    with pytest.raises(InputTooLong, match="exceeds the context"):
        engine.generate([_messages(long_dialogue)], SamplingParams(max_new_tokens=64))


def test_learner_logprobs_match_vllm_at_step_zero(engine, hf_model):
    """The learner's recomputed log-probs of vLLM's own samples agree with vLLM's (bf16 both sides)."""
    prompts = [engine.encode(_messages(d)) for d in DIALOGUES]
    out = engine.generate_ids(
        prompts, SamplingParams(max_new_tokens=64, constrained=False, temperature=1.0, n=4, seed=0, logprobs=True)
    )
    diffs = []
    for i, c in enumerate(out):
        ours = _hf_logprobs(hf_model, prompts[i // 4], c.token_ids)
        diffs.extend(abs(a - b) for a, b in zip(ours, c.logprobs or [], strict=True))
    mean = sum(diffs) / len(diffs)
    print(f"step 0: mean |learner - vLLM| log-prob {mean:.4f} over {len(diffs)} tokens, max {max(diffs):.3f}")
    assert mean < 0.05


def test_pushed_weights_move_vllm_logprobs_as_the_learner_expects(engine, hf_model):
    """One SGD step toward a fixed completion: vLLM's log-probs of it move by what the learner computes."""
    import torch

    from inference.backends.vllm import peft_free_weights

    prompt = engine.encode(_messages(DIALOGUES[1]))
    completion = engine.encode('{"S": "Knee swelling after a fall, clicking on stairs.", "O": "Small effusion."')[:24]
    before_v = engine.sequence_logprobs([prompt], [completion])[0]
    before_h = _hf_logprobs(hf_model, prompt, completion)
    original = {k: v.detach().clone() for k, v in hf_model.state_dict().items()}
    try:
        hf_model.train()
        ids = torch.tensor([prompt + completion], device="cuda")
        logits = hf_model(ids).logits[0, len(prompt) - 1 : -1].float()
        loss = -torch.log_softmax(logits, -1).gather(1, ids[0, len(prompt) :, None]).sum()
        loss.backward()
        with torch.no_grad():
            for p in hf_model.parameters():
                if p.grad is not None:
                    p -= 2e-4 * p.grad
                    p.grad = None
        hf_model.eval()
        after_h = _hf_logprobs(hf_model, prompt, completion)
        sent = engine.load_weights(peft_free_weights(hf_model))
        assert sent > 0
        after_v = engine.sequence_logprobs([prompt], [completion])[0]
        change_h, change_v = sum(after_h) - sum(before_h), sum(after_v) - sum(before_v)
        print(f"weight push: learner change {change_h:.3f} nats, vLLM change {change_v:.3f} nats")
        assert change_h > 1.0, "the step did not raise the completion's likelihood"
        assert math.isclose(change_v, change_h, rel_tol=0.15), (change_v, change_h)
    finally:
        hf_model.load_state_dict(original)
        engine.load_weights(peft_free_weights(hf_model))
    restored = engine.sequence_logprobs([prompt], [completion])[0]
    assert sum(abs(a - b) for a, b in zip(restored, before_v, strict=True)) / len(restored) < 0.02


def test_vllm_rollout_syncs_only_when_the_learner_moved(engine, hf_model, model_dir):
    from training.grpo.rollout import VLLMRollout

    rollout = VLLMRollout.__new__(VLLMRollout)  # reuse the module's engine: one vLLM engine per GPU test run
    rollout.model, rollout.tokenizer, rollout.backend = hf_model, engine.tokenizer, engine
    rollout.synced_version, rollout.stats = None, {}
    prompts = [engine.render(_messages(d)) for d in DIALOGUES]
    kw = {"n": 4, "max_new_tokens": 32, "temperature": 1.0, "top_p": 1.0, "seed": 1}
    samples = rollout.generate(prompts, version=0, **kw)
    assert len(samples) == 8 and [s.group for s in samples] == [0] * 4 + [1] * 4
    assert rollout.stats["weight_sync_seconds"] > 0  # the first rollout pushes (a resumed run's weights)
    assert samples[0].prompt_ids == engine.tokenizer(prompts[0], add_special_tokens=False)["input_ids"]
    for s in samples:
        assert s.finish_reason in ("stop", "length") and 0 < len(s.completion_ids) <= 33
    rollout.generate(prompts, version=0, **kw)
    assert rollout.stats["weight_sync_seconds"] == 0.0  # same version: no push
    rollout.generate(prompts, version=1, **kw)
    assert rollout.stats["weight_sync_seconds"] > 0


def test_section_budget_closes_constrained_notes_at_sentence_ends(engine):
    """The vLLM logits processor ports SectionBudget: every constrained note closes within its budget.

    (At 160 tokens the base model's one-sentence sections, ~55 tokens each, overran the 18-43-token
    budgets: a section closes at its first sentence end past the budget, never mid-sentence.)
    """
    prompts = [_messages(d) for d in DIALOGUES]
    out = engine.generate(prompts, SamplingParams(max_new_tokens=384, constrained=True))
    for c in out:
        assert c.finish_reason == "stop", f"ran out of tokens: {c.text}"
        note = json.loads(c.text)
        assert list(note) == ["S", "O", "A", "P"]


def test_constrained_notes_write_only_numbers_the_dialogue_states(engine):
    """The vLLM GroundedNumbers processor: with each prompt's stated numbers, no other number appears."""
    import re
    from dataclasses import replace

    from inference.constrained import dialogue_numbers

    prompts = [_messages(d) for d in DIALOGUES]
    stated = tuple(dialogue_numbers(" ".join(t["text"] for t in d)) for d in DIALOGUES)
    params = replace(SamplingParams(max_new_tokens=384, constrained=True), grounded_numbers=stated)
    out = engine.generate(prompts, params)
    for c, numbers in zip(out, stated, strict=True):
        written = set(re.findall(r"\d+", c.text))
        assert written <= numbers, (written - numbers, c.text)
    assert any(re.search(r"\d", c.text) for c in out), "no note wrote a number at all: the test shows nothing"


def test_constrained_notes_open_the_objective_with_the_said_findings(engine):
    """The vLLM FindingsPrefix processor: each note's Objective is its visit's findings (where it says any)."""
    from dataclasses import replace

    from inference.findings import dictated_findings

    prompts = [_messages(d) for d in DIALOGUES]
    findings = tuple(dictated_findings(d) for d in DIALOGUES)
    assert any(findings), "no dialogue says a finding: the test shows nothing"
    params = replace(SamplingParams(max_new_tokens=384, constrained=True), findings=findings)
    for c, said in zip(engine.generate(prompts, params), findings, strict=True):
        note = json.loads(c.text)
        assert c.finish_reason == "stop" and list(note) == ["S", "O", "A", "P"]
        if said:
            assert note["O"] == said, (note["O"], said)


def test_constrained_rollouts_are_notes_with_only_stated_numbers(engine, hf_model):
    """`rollout_constrained=true` on vLLM: sampled at temperature 1.0 with the app's note rules, every sample
    of every group is a whole S/O/A/P note that writes no number its own dialogue does not state."""
    import re

    from inference.engine import stated_numbers
    from training.grpo.rollout import NoteDecoding, VLLMRollout

    rollout = VLLMRollout.__new__(VLLMRollout)  # the module's engine (built with the note rules)
    rollout.model, rollout.tokenizer, rollout.backend = hf_model, engine.tokenizer, engine
    rollout.synced_version, rollout.stats = None, {}
    prompts = [engine.render(_messages(d)) for d in DIALOGUES]
    note = NoteDecoding(tuple(stated_numbers(d) for d in DIALOGUES), no_repeat_ngram=12)
    samples = rollout.generate(prompts, n=4, max_new_tokens=384, temperature=1.0, top_p=1.0, seed=2, note=note)
    assert len(samples) == 8
    for s in samples:
        assert s.finish_reason == "stop" and list(json.loads(s.text)) == ["S", "O", "A", "P"], s.text
        written = set(re.findall(r"\d+", s.text))
        stated = note.grounded_numbers[s.group] or frozenset()
        assert written <= {p for n in stated for p in re.findall(r"\d+", n)}, (written, s.text)
    assert len({s.text for s in samples}) > 2  # sampled, not greedy
