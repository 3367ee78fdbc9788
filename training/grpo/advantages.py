"""Group-relative advantages: how much better each completion did than its siblings.

Rewards arrive flat, grouped consecutively: `[p0g0, p0g1, ..., p0g(G-1), p1g0, ...]` (TRL's
layout). The baseline is the group mean; scaling follows TRL's `scale_rewards`:
`group` divides by the group's (unbiased) std, `batch` by the whole batch's std, `none` does not
divide at all (Dr. GRPO: std scaling up-weights nearly-solved and nearly-hopeless prompts).
A group whose rewards are all equal carries no signal: its advantages are exactly 0 and it is
counted, because that count is the signal GRPO actually gets (see the warm-start note in the
issue: the base model scores 0 everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-4  # TRL's constant, so advantages match it bit for bit


@dataclass
class AdvantageResult:
    advantages: torch.Tensor  # (B*G,)
    group_mean: torch.Tensor  # (B,)
    group_std: torch.Tensor  # (B,)
    zero_variance_groups: int
    groups: int

    @property
    def signal_groups(self) -> int:
        """Groups with non-zero reward variance: the only ones that move the policy."""
        return self.groups - self.zero_variance_groups


def compute_advantages(rewards: torch.Tensor, group_size: int, *, scale: str = "group") -> AdvantageResult:
    """Advantages for flat, group-contiguous `rewards`.

    >>> r = compute_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), 2)
    >>> r.zero_variance_groups, [round(a, 3) for a in r.advantages.tolist()]
    (1, [0.707, -0.707, 0.0, 0.0])
    """
    rewards = rewards.detach().to(torch.float32).flatten()
    if group_size < 1 or rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}.")
    grouped = rewards.view(-1, group_size)
    mean = grouped.mean(dim=1)
    std = grouped.std(dim=1) if group_size > 1 else torch.zeros_like(mean)
    zero = torch.isclose(std, torch.zeros_like(std))
    adv = rewards - mean.repeat_interleave(group_size)
    if scale == "group":
        adv = adv / (std.repeat_interleave(group_size) + EPS)
    elif scale == "batch":
        batch_std = rewards.std() if rewards.numel() > 1 else torch.zeros(())
        adv = adv / (batch_std + EPS)
    elif scale != "none":
        raise ValueError(f"scale={scale!r}: use group, batch or none.")
    # Exactly zero (not 1e-9) for identical groups, so they contribute no gradient at all.
    adv = adv.masked_fill(zero.repeat_interleave(group_size), 0.0)
    return AdvantageResult(adv, mean, std, int(zero.sum()), int(grouped.shape[0]))
