"""KL penalty (clamped k3, or k2), entropy without a (B, T, V) fp32 copy, and the settings that pick them."""

from __future__ import annotations

import pytest
import torch

from training.config import ConfigError, build_config
from training.grpo.loss import KL_VALUE_CLAMP, grpo_loss, kl_penalty, token_entropy


def _loss(logps, ref, estimator):
    mask = torch.ones_like(logps)
    return grpo_loss(logps, None, ref, torch.zeros(logps.shape[0]), mask, epsilon_low=0.2, epsilon_high=0.2,
                     beta=0.1, kl_estimator=estimator)  # fmt: skip


def test_k3_is_clamped_so_one_runaway_token_cannot_swamp_the_batch():
    logps = torch.tensor([[-60.0, -1.0]], requires_grad=True)  # the reference finds token 0 vastly likelier
    ref = torch.tensor([[-0.1, -1.0]])
    out = _loss(logps, ref, "k3")
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(logps.grad).all()
    assert float(kl_penalty(logps, ref, "k3").max()) == pytest.approx(KL_VALUE_CLAMP)
    assert out.kl == pytest.approx(KL_VALUE_CLAMP / 2)  # token-mean: the clamped token and a zero one


def test_k3_and_k2_agree_to_second_order_and_k2_has_the_kl_gradient():
    logps = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    ref = logps.detach() + torch.tensor([[0.01, -0.02, 0.015]])
    d = ref - logps.detach()
    assert torch.allclose(kl_penalty(logps, ref, "k2"), 0.5 * d**2)
    assert torch.allclose(kl_penalty(logps, ref, "k3"), 0.5 * d**2, rtol=0.02)  # exp(d) - d - 1 ~ d^2/2
    kl_penalty(logps, ref, "k2").sum().backward()
    assert torch.allclose(logps.grad, -d)  # d/dlogp of (ref - logp)^2 / 2
    with pytest.raises(ValueError, match="k1"):
        kl_penalty(logps, ref, "k1")


def test_entropy_matches_the_full_softmax_in_any_dtype():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 50) * 3
    p = torch.softmax(logits.double(), -1)
    expected = -(p * torch.log(p)).sum(-1)
    assert torch.allclose(token_entropy(logits).double(), expected, atol=1e-5)
    half = token_entropy(logits.to(torch.bfloat16))
    assert half.dtype == torch.float32 and torch.allclose(half.double(), expected, atol=0.1)


def test_config_offers_k2_and_refuses_top_p_below_one():
    assert build_config("tiny-cpu").kl_estimator == "k3"
    assert build_config("tiny-cpu", {"kl_estimator": "k2"}).kl_estimator == "k2"
    with pytest.raises(ConfigError, match="kl_estimator"):
        build_config("tiny-cpu", {"kl_estimator": "k1"})
    with pytest.raises(ConfigError, match="log-probs ignore nucleus truncation"):
        build_config("tiny-cpu", {"top_p": "0.9"})
