"""PPO's tensor math: masked statistics, KL estimates, GAE, the clipped policy and value
losses. Pure functions of tensors (torch imported inside), tested by hand-computed cases."""

from __future__ import annotations


def masked_mean(values, mask, dim=None):
    """Mean of `values` where `mask` is 1."""
    if dim is None:
        return (values * mask).sum() / mask.sum()
    return (values * mask).sum(dim) / mask.sum(dim)


def masked_var(values, mask, unbiased: bool = True):
    """Variance of `values` where `mask` is 1 (Bessel-corrected like TRL's)."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n > 1:
            variance = variance * n / (n - 1)
    return variance


def whiten(values, mask, shift_mean: bool = True):
    """Zero mean, unit variance over the masked entries (the mean is kept if not shifted)."""
    import torch

    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def kl_estimate(logprobs, ref_logprobs, kind: str = "k1"):
    """Per-token estimate of KL(policy || reference) from sampled tokens' log-probs.

    k1 = log p - log q (unbiased, can be negative); k3 = (r - 1) - log r with r = q/p
    (unbiased and always >= 0, Schulman's estimator)."""
    import torch

    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"Unknown KL estimator {kind!r}; use 'k1' or 'k3'.")


def compute_gae(rewards, values, mask, *, gamma: float, lam: float):
    """Generalised advantage estimation over the response tokens, right to left.

    delta_t = r_t + gamma * V_{t+1} - V_t;  A_t = delta_t + gamma * lam * A_{t+1}. Positions
    where `mask` is 0 (after EOS) contribute nothing: their values and rewards are zeroed.
    Returns (advantages, returns = advantages + values)."""
    import torch

    values = values * mask
    rewards = rewards * mask
    length = rewards.shape[1]
    last = torch.zeros_like(rewards[:, 0])
    advantages = []
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t < length - 1 else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages.append(last)
    advantages = torch.stack(advantages[::-1], dim=1) * mask
    return advantages, (advantages + values) * mask


def policy_loss(new_logprobs, old_logprobs, advantages, mask, *, cliprange: float):
    """PPO's clipped surrogate: max(-A r, -A clip(r, 1-e, 1+e)), masked mean.

    Returns (loss, clip fraction, approximate KL = mean 0.5 (log r)^2)."""
    import torch

    log_ratio = new_logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).float(), mask)
    approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return loss, clipfrac, approx_kl


def value_loss(new_values, old_values, returns, mask, *, cliprange_value: float):
    """Clipped value loss: 0.5 * max((V - R)^2, (clip(V, V_old +- e) - R)^2), masked mean.

    Returns (loss, clip fraction)."""
    import torch

    clipped_values = torch.clamp(
        new_values, old_values - cliprange_value, old_values + cliprange_value
    )
    unclipped_loss = (new_values - returns) ** 2
    clipped_loss = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(unclipped_loss, clipped_loss), mask)
    clipfrac = masked_mean((clipped_loss > unclipped_loss).float(), mask)
    return loss, clipfrac


def entropy_from_logits(logits):
    import torch

    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def first_true_indices(bools):
    """Index of the first True per row, or the row length when there is none."""
    import torch

    length = bools.shape[-1]
    positions = torch.arange(length, device=bools.device).expand_as(bools)
    return torch.where(bools, positions, torch.full_like(positions, length)).min(-1).values
