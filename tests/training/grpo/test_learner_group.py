"""A 2-process FSDP learner group (gloo on CPU) takes the same step as the single-process learner.

Tiny randomly initialised Llama (2 layers, hidden 32) with the default model's tokenizer, so the
comparison is about the arithmetic, not the model: same batch, same config (KL to the reference,
old log-probs, 2 mini-batches x 2 iterations, micro-batches small enough that the ranks need
padding micro-batches), then an SFT step. Loss, KL, grad norm and the updated weights must match.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from training.config import build_config
from training.grpo.learner import Learner
from training.grpo.rollout import Sample
from training.orchestration.learner_group import optim_state_by_index, optim_state_by_name, split_by_tokens

from .tiny_llama import save_tiny_llama

SETTINGS = {
    "beta": 0.05,
    "num_iterations": 2,
    "mini_batches": 2,
    "max_new_tokens": 12,
    "micro_batch_tokens": 40,
    "learning_rate": 1e-3,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "loss_aggregation": "sequence",
}
COMPARED = ("loss", "kl", "grad_norm", "clip_region", "entropy", "train_tokens", "optimizer_steps")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, default_model_dir):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), default_model_dir)


def _batch() -> tuple[list[Sample], torch.Tensor, list[list[int]], list[list[int]]]:
    g = torch.Generator().manual_seed(7)
    samples = []
    for i in range(6):  # 3 groups of G=2, prompts of 5..9 tokens, completions of 2..12
        plen, clen = 5 + (i * 3) % 5, 2 + (i * 5) % 11
        ids = torch.randint(10, 2000, (plen + clen,), generator=g).tolist()
        samples.append(Sample(i // 2, ids[:plen], ids[plen:], "", "stop"))
    advantages = torch.tensor([1.0, -1.0, 0.7, -0.7, -1.0, 1.0])
    prompts = [s.prompt_ids for s in samples[:3]]
    targets = [s.completion_ids for s in samples[3:]]
    return samples, advantages, prompts, targets


def _run(learner: Learner) -> dict:
    samples, advantages, prompts, targets = _batch()
    grpo = learner.update(samples, advantages)
    sft = learner.sft_update(prompts, targets)
    return {"grpo": grpo, "sft": sft, "weights": learner.weights(), "optim": learner.optimizer_state()}


def _rank(rank: int, world: int, init_method: str, model_dir: str, out: str) -> None:
    torch.set_num_threads(1)
    from training.orchestration.learner_group import ShardedLearner, init_process_group

    init_process_group(rank, world, init_method, "cpu")
    try:
        cfg = build_config("tiny-cpu", SETTINGS)
        learner = ShardedLearner(cfg, model_dir, model_dir)
        result = _run(learner)
        # Loading the positional optimizer state back (resume) reproduces it exactly.
        learner.load_optimizer_state(_from_rank0(result["optim"]))
        again = learner.optimizer_state()
        if rank == 0:
            result["optim_reloaded"] = again
            torch.save(result, out)
    finally:
        torch.distributed.destroy_process_group()


def _from_rank0(value: dict) -> dict:
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def test_split_by_tokens_balances_and_covers_every_sample():
    shares = split_by_tokens([9, 1, 1, 8, 2, 3], 2)
    assert sorted(i for s in shares for i in s) == list(range(6))
    assert abs(sum([9, 1, 1, 8, 2, 3][i] for i in shares[0]) - 12) <= 1
    assert split_by_tokens([4], 3) == [[0], [], []]  # fewer samples than ranks: the others only pad


@pytest.mark.slow
def test_two_process_gloo_group_matches_single_learner(tiny_model_dir, tmp_path):
    torch.manual_seed(0)
    single = _run(Learner(build_config("tiny-cpu", SETTINGS), tiny_model_dir, tiny_model_dir))

    out = tmp_path / "rank0.pt"
    fd, store = tempfile.mkstemp(prefix="pg-", dir=tmp_path)
    os.close(fd)
    os.remove(store)  # file:// rendezvous wants a path that does not exist yet
    mp.spawn(_rank, args=(2, f"file://{store}", tiny_model_dir, str(out)), nprocs=2, join=True)
    group = torch.load(out, weights_only=False)

    for phase, keys in (("grpo", COMPARED), ("sft", ("sft_loss", "grad_norm"))):
        for key in keys:
            assert group[phase][key] == pytest.approx(single[phase][key], rel=1e-5, abs=1e-6), (phase, key)
    assert single["grpo"]["kl"] > 0 and single["grpo"]["optimizer_steps"] == 4  # the comparison is not vacuous
    initial = load_file(os.path.join(tiny_model_dir, "model.safetensors"))
    assert set(group["weights"]) == set(single["weights"])
    for key, value in single["weights"].items():
        assert torch.allclose(group["weights"][key], value, rtol=1e-4, atol=1e-6), key
    assert not torch.allclose(
        single["weights"]["model.layers.0.mlp.up_proj.weight"], initial["model.layers.0.mlp.up_proj.weight"], atol=1e-4
    )  # the step moved weights

    # Optimizer state leaves the group in torch's positional format, equal to the single learner's.
    assert group["optim"]["param_groups"][0]["params"] == single["optim"]["param_groups"][0]["params"]
    for idx, st in single["optim"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.allclose(group["optim"]["state"][idx][name], st[name], rtol=1e-4, atol=1e-7), (idx, name)
            assert torch.equal(group["optim_reloaded"]["state"][idx][name], group["optim"]["state"][idx][name])


def test_optimizer_state_name_and_index_formats_round_trip():
    names = ["a.weight", "b.weight", "c.bias"]
    positional = {"state": {0: {"step": 1}, 2: {"step": 2}}, "param_groups": [{"lr": 0.1, "params": [0, 1, 2]}]}
    named = optim_state_by_name(positional, names)
    assert named["state"] == {"a.weight": {"step": 1}, "c.bias": {"step": 2}}
    assert optim_state_by_index(named, names) == positional
