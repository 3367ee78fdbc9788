"""The GRPO objective on tensors: per-token log-probs, clipped ratio, KL penalty, aggregation.

Shapes follow TRL: prompts left-padded, completions right-padded, `mask` (B, T) marks real
completion tokens. The objective per token is

    -min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A) + beta * kl(ref || policy)

with r = exp(logp - old_logp) and, for d = ref - logp clamped to [-KL_LOG_RATIO_CLAMP, +...]:
k3 = exp(d) - d - 1 (Schulman's unbiased, non-negative estimator; TRL's) or k2 = d^2 / 2 (its
gradient is the unbiased gradient of the KL on-policy). The per-token value is capped at
KL_VALUE_CLAMP (as verl does), so one token the policy has moved far from the reference
(exp(d) overflows in k3) cannot swamp the batch's gradient.

Aggregation is expressed as per-token *weights* that sum the loss over the whole optimiser batch,
so splitting a batch into micro-batches (by token budget) gives the same gradient as one big batch:

- `sequence`: mean over each sequence's tokens, then mean over sequences (TRL `grpo`).
- `token`: mean over all tokens of the batch (TRL `bnpo`; DAPO on one process).
- `fixed`: sum / (sequences * max_new_tokens), length-unbiased (TRL `dr_grpo`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KL_ESTIMATORS = ("k3", "k2")
KL_LOG_RATIO_CLAMP = 20.0
KL_VALUE_CLAMP = 10.0


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar, differentiable
    kl: float  # token-mean KL estimate (k3 or k2; 0 when beta == 0)
    clip_low: float  # fraction of tokens clipped at the floor with A < 0
    clip_high: float  # fraction clipped at the ceiling with A > 0
    clip_region: float
    ratio_mean: float
    tokens: int


def loss_weights(
    mask: torch.Tensor,
    aggregation: str,
    *,
    total_sequences: int | None = None,
    total_tokens: float | None = None,
    max_new_tokens: int | None = None,
) -> torch.Tensor:
    """Per-token weights whose weighted sum over the *whole* batch is the aggregated loss.

    `total_sequences`/`total_tokens` are the counts of the full optimiser batch when `mask` is one
    micro-batch of it; by default they are this mask's own counts.
    """
    mask = mask.to(torch.float32)
    n_seq = total_sequences if total_sequences is not None else mask.shape[0]
    if aggregation == "sequence":
        return mask / mask.sum(-1, keepdim=True).clamp(min=1.0) / n_seq
    if aggregation == "token":
        n_tok = total_tokens if total_tokens is not None else float(mask.sum())
        return mask / max(float(n_tok), 1.0)
    if aggregation == "fixed":
        if not max_new_tokens:
            raise ValueError("aggregation='fixed' needs max_new_tokens (the Dr. GRPO constant).")
        return mask / (n_seq * max_new_tokens)
    raise ValueError(f"aggregation={aggregation!r}: use token, sequence or fixed.")


def selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits).gather(index) without materialising the full log-prob tensor at once."""
    rows = []
    for row_logits, row_index in zip(logits, index, strict=True):  # one sequence at a time bounds memory
        row = row_logits.float()
        picked = row.gather(-1, row_index.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - torch.logsumexp(row, dim=-1))
    return torch.stack(rows)


def per_token_logps(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (B, logits_to_keep) of the last `logits_to_keep` tokens, and optionally entropies.

    Positions come from the attention mask so left-padded prompts see the same positions as in
    generation. Logits are divided by the sampling temperature, as TRL does, so the ratio compares
    the distribution the rollout actually sampled from.
    """
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        logits_to_keep=logits_to_keep + 1,
        use_cache=False,
    )
    logits = out.logits[:, :-1, :] / temperature
    targets = input_ids[:, -logits_to_keep:]
    logps = selective_log_softmax(logits, targets)
    entropy = token_entropy(logits) if with_entropy else None
    return logps, entropy


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (B, T) of softmax(logits), one sequence at a time in fp32 (never a (B, T, V) fp32 copy).

    H = logsumexp(x) - sum(softmax(x) * x); a metric, so no gradient.
    """
    with torch.no_grad():
        rows = []
        for row_logits in logits:
            row = row_logits.float()
            lse = torch.logsumexp(row, dim=-1, keepdim=True)
            rows.append((lse - (torch.exp(row - lse) * row).sum(-1, keepdim=True)).squeeze(-1))
            del row
        return torch.stack(rows)


def kl_penalty(logps: torch.Tensor, ref_logps: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token KL(policy || ref) estimate, clamped (see the module docstring)."""
    diff = torch.clamp(ref_logps - logps, -KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)
    if estimator == "k3":
        value = torch.exp(diff) - diff - 1
    elif estimator == "k2":
        value = 0.5 * diff.square()
    else:
        raise ValueError(f"kl_estimator={estimator!r}: use one of {KL_ESTIMATORS}.")
    return torch.clamp(value, max=KL_VALUE_CLAMP)


def grpo_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor | None,
    ref_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon_low: float,
    epsilon_high: float,
    beta: float,
    weights: torch.Tensor | None = None,
    aggregation: str = "sequence",
    max_new_tokens: int | None = None,
    kl_estimator: str = "k3",
) -> LossOutput:
    """The clipped GRPO loss; `weights` (from `loss_weights`) fix the aggregation over micro-batches."""
    mask = mask.to(logps.dtype)
    if old_logps is None:  # one update per rollout batch: ratio is 1 but its gradient is not
        old_logps = logps.detach()
    adv = advantages.to(logps.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    per_token_kl = None
    if beta != 0.0:
        if ref_logps is None:
            raise ValueError("beta != 0 needs ref_logps from the frozen reference model.")
        per_token_kl = kl_penalty(logps, ref_logps, kl_estimator)
        per_token = per_token + beta * per_token_kl
    if weights is None:
        weights = loss_weights(mask, aggregation, max_new_tokens=max_new_tokens)
    loss = (per_token * weights.to(per_token.dtype)).sum()
    with torch.no_grad():
        n = mask.sum().clamp(min=1.0)
        low = ((ratio < 1 - epsilon_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1 + epsilon_high) & (adv > 0)).to(mask.dtype)
        region = torch.clamp(low + high, max=1.0)
        kl = per_token_kl if per_token_kl is not None else torch.zeros_like(mask)
        # One host sync for every statistic (not one per float()).
        stats = torch.stack([(t * mask).sum() / n for t in (kl, low, high, region, ratio)] + [mask.sum()]).tolist()
    return LossOutput(loss, stats[0], stats[1], stats[2], stats[3], stats[4], int(stats[5]))
