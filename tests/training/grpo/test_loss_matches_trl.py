"""Our GRPO loss and its gradient equal TRL 1.16's `GRPOTrainer._compute_loss` on identical tensors.

TRL's method is called unbound on a stand-in trainer whose only model call (per-token log-probs)
returns our tensor, so the comparison runs TRL's real loss code, not a re-implementation of it.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from training.grpo.advantages import compute_advantages
from training.grpo.loss import grpo_loss, loss_weights

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")

# Our aggregation name -> TRL loss_type with the same arithmetic on one process without accumulation.
VARIANTS = [("sequence", "grpo"), ("token", "bnpo"), ("fixed", "dr_grpo"), ("token", "dapo")]


def _trl_loss(logps, old, ref, adv, mask, *, loss_type, beta, eps_low, eps_high, max_len):
    accel = SimpleNamespace(
        gather=lambda t: t, reduce=lambda t, reduction="sum": t, gather_for_metrics=lambda t: t, num_processes=1
    )
    fake = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros_like(logps), None),
        aux_loss_enabled=False, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level="token", beta=beta, loss_type=loss_type, epsilon_low=eps_low,
        epsilon_high=eps_high, args=SimpleNamespace(use_bias_correction_kl=False, delta=None),
        use_vllm=False, model=SimpleNamespace(training=True), current_gradient_accumulation_steps=1,
        _entropy_bonus_enabled=False, accelerator=accel, _metrics={"train": defaultdict(list)},
        max_completion_length=max_len,
    )  # fmt: skip
    fake.args.steps_per_generation = 1
    B, T = mask.shape
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask.long(),
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }  # fmt: skip
    return trl_grpo.GRPOTrainer._compute_loss(fake, None, inputs)


def _inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    B, T = 8, 7
    base = -torch.rand(B, T, generator=g) * 3
    old = base + 0.3 * torch.randn(B, T, generator=g)  # ratios well outside the clip range too
    ref = base + 0.2 * torch.randn(B, T, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    rewards = torch.randint(0, 3, (B,), generator=g).float()
    adv = compute_advantages(rewards, 4).advantages
    return base, old, ref, adv, mask


@pytest.mark.parametrize("beta", [0.0, 0.05])
@pytest.mark.parametrize(("aggregation", "loss_type"), VARIANTS)
@pytest.mark.parametrize("clip", [(0.4, 0.5), (0.2, 0.28)])
def test_loss_and_gradient_match_trl(aggregation, loss_type, beta, clip):
    base, old, ref, adv, mask = _inputs(seed=len(aggregation) * 7 + int(beta * 100) + int(clip[1] * 100))
    ours_in = base.clone().requires_grad_(True)
    trl_in = base.clone().requires_grad_(True)
    ours = grpo_loss(ours_in, old, ref, adv, mask, epsilon_low=clip[0], epsilon_high=clip[1], beta=beta,
                     aggregation=aggregation, max_new_tokens=mask.shape[1])  # fmt: skip
    theirs = _trl_loss(trl_in, old, ref, adv, mask, loss_type=loss_type, beta=beta,
                       eps_low=clip[0], eps_high=clip[1], max_len=mask.shape[1])  # fmt: skip
    ours.loss.backward()
    theirs.backward()
    assert torch.allclose(ours.loss, theirs, atol=1e-6), (ours.loss, theirs)
    assert torch.allclose(ours_in.grad, trl_in.grad, atol=1e-7)
    assert ours_in.grad.abs().sum() > 0  # the comparison is not vacuous


def test_advantages_match_trl_group_and_batch_scaling():
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0, 0.0, 5.0, 1.0, 0.0])
    G = 4
    for scale in ("group", "batch", "none"):
        mean = rewards.view(-1, G).mean(1).repeat_interleave(G)
        if scale == "group":
            std = trl_grpo.nanstd(rewards.view(-1, G), dim=1).repeat_interleave(G)
        else:
            std = trl_grpo.nanstd(rewards).expand_as(rewards)
        expected = rewards - mean
        if scale != "none":
            expected = expected / (std + 1e-4)
        got = compute_advantages(rewards, G, scale=scale)
        assert torch.allclose(got.advantages, expected, atol=1e-6), scale
        assert got.zero_variance_groups == 1


def test_micro_batch_split_gives_the_same_gradient_as_one_batch():
    base, old, ref, adv, mask = _inputs(seed=3)
    for aggregation in ("sequence", "token", "fixed"):
        full = base.clone().requires_grad_(True)
        grpo_loss(full, old, ref, adv, mask, epsilon_low=0.2, epsilon_high=0.28, beta=0.05,
                  aggregation=aggregation, max_new_tokens=7).loss.backward()  # fmt: skip
        split = base.clone().requires_grad_(True)

        for idx in (slice(0, 3), slice(3, 8)):
            w = loss_weights(mask[idx], aggregation, total_sequences=8, total_tokens=float(mask.sum()),
                             max_new_tokens=7)  # fmt: skip
            out = grpo_loss(split[idx], old[idx], ref[idx], adv[idx], mask[idx], epsilon_low=0.2,
                            epsilon_high=0.28, beta=0.05, weights=w)  # fmt: skip
            out.loss.backward()

        assert torch.allclose(full.grad, split.grad, atol=1e-7), aggregation


def test_zero_advantages_without_kl_give_zero_policy_gradient():
    base, old, ref, _, mask = _inputs(seed=5)
    x = base.clone().requires_grad_(True)
    out = grpo_loss(x, old, None, torch.zeros(8), mask, epsilon_low=0.2, epsilon_high=0.2, beta=0.0)
    out.loss.backward()
    assert float(out.loss) == 0.0
    assert torch.count_nonzero(x.grad) == 0


def test_identical_group_rewards_give_zero_advantages_and_count_as_no_signal():
    result = compute_advantages(torch.tensor([3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0]), 4)
    assert torch.count_nonzero(result.advantages) == 0
    assert result.zero_variance_groups == 2 and result.signal_groups == 0


def test_kl_requires_reference_logps():
    base, old, _, adv, mask = _inputs(seed=1)
    with pytest.raises(ValueError, match="ref_logps"):
        grpo_loss(base, old, None, adv, mask, epsilon_low=0.2, epsilon_high=0.2, beta=0.1)
