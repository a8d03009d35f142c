"""PPO's parts against values computed by hand."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from training.ppo_math import (  # noqa: E402
    compute_gae,
    first_true_indices,
    kl_estimate,
    masked_mean,
    policy_loss,
    value_loss,
    whiten,
)


def test_gae_matches_hand_computation():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.2, 0.4]])
    mask = torch.ones(1, 3)
    gamma, lam = 0.9, 0.8
    # t=2: delta = 1 + 0 - 0.4 = 0.6; A2 = 0.6
    # t=1: delta = 0 + 0.9*0.4 - 0.2 = 0.16; A1 = 0.16 + 0.72*0.6 = 0.592
    # t=0: delta = 0 + 0.9*0.2 - 0.5 = -0.32; A0 = -0.32 + 0.72*0.592 = 0.10624
    adv, ret = compute_gae(rewards, values, mask, gamma=gamma, lam=lam)
    assert adv.tolist()[0] == pytest.approx([0.10624, 0.592, 0.6], abs=1e-6)
    assert ret.tolist()[0] == pytest.approx([0.60624, 0.792, 1.0], abs=1e-6)


def test_gae_ignores_positions_after_eos():
    rewards = torch.tensor([[0.0, 2.0, 5.0]])
    values = torch.tensor([[1.0, 1.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = compute_gae(rewards, values, mask, gamma=1.0, lam=1.0)
    # Masked position contributes nothing: A1 = 2 - 1 = 1, A0 = 0 + 1 - 1 + 1 = 1.
    assert adv.tolist()[0] == pytest.approx([1.0, 1.0, 0.0])
    assert ret.tolist()[0] == pytest.approx([2.0, 2.0, 0.0])


def test_whiten_zero_mean_unit_variance_over_mask_only():
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    out = whiten(values, mask)
    # mean 2, unbiased variance 1: (x - 2) / 1
    assert out.tolist()[0] == pytest.approx([-1.0, 0.0, 1.0, 0.0], abs=1e-4)
    kept = whiten(values, mask, shift_mean=False)
    assert kept.tolist()[0] == pytest.approx([1.0, 2.0, 3.0, 0.0], abs=1e-4)


def test_kl_estimators():
    logp = torch.tensor([math.log(0.5), math.log(0.2)])
    ref = torch.tensor([math.log(0.25), math.log(0.4)])
    k1 = kl_estimate(logp, ref, "k1")
    assert k1.tolist() == pytest.approx([math.log(2), math.log(0.5)])
    # k3 = (q/p - 1) - log(q/p): r = 0.5 -> -0.5 + log 2; r = 2 -> 1 - log 2
    k3 = kl_estimate(logp, ref, "k3")
    assert k3.tolist() == pytest.approx([-0.5 + math.log(2), 1 - math.log(2)])
    assert (k3 >= 0).all()
    with pytest.raises(ValueError):
        kl_estimate(logp, ref, "k9")


def test_policy_loss_clips_the_ratio():
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))  # ratios 1.5, 0.5, 1.1
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    mask = torch.ones(1, 3)
    loss, clipfrac, approx_kl = policy_loss(new, old, adv, mask, cliprange=0.2)
    # t0: A=1, r=1.5: max(-1.5, -1.2) = -1.2 (clipped)
    # t1: A=-1, r=0.5: max(0.5, 0.8) = 0.8 (clipped)
    # t2: A=2, r=1.1: max(-2.2, -2.2) = -2.2 (not clipped)
    assert loss.item() == pytest.approx((-1.2 + 0.8 - 2.2) / 3, abs=1e-6)
    assert clipfrac.item() == pytest.approx(2 / 3)
    expected_kl = 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2 + math.log(1.1) ** 2) / 3
    assert approx_kl.item() == pytest.approx(expected_kl, abs=1e-6)


def test_value_loss_clips_around_old_values():
    new = torch.tensor([[1.0, 0.1]])
    old = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[0.0, 1.0]])
    loss, clipfrac = value_loss(new, old, returns, torch.ones(1, 2), cliprange_value=0.2)
    # t0: unclipped (1-0)^2=1, clipped (0.2-0)^2=0.04 -> 1
    # t1: unclipped (0.1-1)^2=0.81, clipped same (0.1 within 0.2) -> 0.81
    assert loss.item() == pytest.approx(0.5 * (1 + 0.81) / 2)
    assert clipfrac.item() == 0.0
    returns = torch.tensor([[5.0, 1.0]])
    loss, clipfrac = value_loss(new, old, returns, torch.ones(1, 2), cliprange_value=0.2)
    # t0: unclipped (1-5)^2=16, clipped (0.2-5)^2=23.04 -> 23.04
    assert loss.item() == pytest.approx(0.5 * (23.04 + 0.81) / 2)
    assert clipfrac.item() == pytest.approx(0.5)


def test_masked_mean_and_first_eos():
    assert masked_mean(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([1.0, 1.0, 0.0])).item() == 2
    bools = torch.tensor([[False, True, True], [False, False, False]])
    assert first_true_indices(bools).tolist() == [1, 3]
