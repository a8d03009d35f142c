"""Diagnostics for reward-model, DPO, PPO, GRPO and RLOO jobs from their stored metrics (pure
Python, web-side). training/diagnostics.py adds the rules that hold for any loss (rising
loss, overfitting); the SFT rules of thumb about loss levels do not apply to these losses.

- A reward model is useful only above chance: pairwise accuracy at or below 50% on
  validation pairs means it cannot tell chosen from rejected (swapped columns do this).
- DPO often lowers the likelihood of both answers, the rejected one faster; the margin grows
  while the chosen answers' implicit reward falls below zero. Worth knowing, not an error.
- Online RL should raise the mean reward; a reward that falls consistently is a bug or a bad
  hyperparameter. KL to the reference says how far the policy has moved from the SFT model.
"""

from __future__ import annotations

from .diagnostics import (
    MIN_POINTS,
    RISE_FRACTION,
    RISE_Z,
    Diagnostic,
    last_value,
    quarter_means,
    trend_z,
)
from .models import JobKind

CHANCE = 0.5

TEXT_BELOW_CHANCE = (
    "Validation pairwise accuracy {acc:.0%} is at or below chance (50%): the reward model does "
    "not tell chosen from rejected. Check that chosen and rejected are not swapped and that "
    "the pairs differ in what should be rewarded."
)
TEXT_ACCURACY = "Validation pairwise accuracy {acc:.0%}, mean margin {margin:.3f}."
TEXT_WEAK_TYPES = (
    "At or below chance on validation: {types}. Those pairs may disagree with the rest, or be "
    "too few to learn from."
)
TEXT_DPO_ACCURACY = "Chosen answers get the higher implicit reward in {acc:.0%} of {split} pairs."
TEXT_DPO_CHOSEN_FALLS = (
    "The chosen answers' implicit reward fell ({first:.3f} → {last:.3f}) while the margin grew "
    "({m_first:.3f} → {m_last:.3f}): DPO is making both answers less likely, the rejected ones "
    "faster. If it keeps falling the policy drifts from the SFT model; a larger beta holds it "
    "closer."
)
TEXT_REWARD_RISES = "Mean reward rose from {first:.3f} to {last:.3f} (first vs last quarter)."
TEXT_REWARD_FLAT = "Mean reward went from {first:.3f} to {last:.3f} (first vs last quarter)."
TEXT_REWARD_FALLS = (
    "Mean reward is falling consistently ({first:.3f} → {last:.3f}): the policy gets worse by "
    "its own reward model. Check the learning rate, the KL coefficient and that the reward "
    "model sees the prompt with the answer."
)
TEXT_KL = (
    "KL to the reference (the SFT policy) ended at {kl:.3f} {unit}. If the reward rises while "
    "KL keeps growing, read the sample generations for reward hacking; a larger KL "
    "coefficient holds the policy closer."
)


def _falls_consistently(series: list[tuple[int, float]]) -> bool:
    """Last quarter below the first by RISE_FRACTION of its size, with a falling trend over
    the run (the mirror of the rising-loss rule)."""
    if len(series) < MIN_POINTS:
        return False
    first, last = quarter_means(series)
    return last < first - RISE_FRACTION * abs(first) and trend_z(series) <= -RISE_Z


def reward_model_diagnostics(series: dict[str, list[tuple[int, float]]]) -> list[Diagnostic]:
    accuracy = series.get("eval/pairwise_accuracy", [])
    if not accuracy:
        return []
    acc = last_value(accuracy)
    margin = last_value(series.get("eval/mean_margin", [(0, 0.0)]))
    out = [
        Diagnostic("warn", "Below chance", TEXT_BELOW_CHANCE.format(acc=acc))
        if acc <= CHANCE
        else Diagnostic("ok", "Pairwise accuracy", TEXT_ACCURACY.format(acc=acc, margin=margin))
    ]
    prefix = "eval/pairwise_accuracy/"
    weak = sorted(
        f"{name.removeprefix(prefix)} {last_value(values):.0%}"
        for name, values in series.items()
        if name.startswith(prefix) and values and last_value(values) <= CHANCE
    )
    if weak and acc > CHANCE:
        out.append(
            Diagnostic("note", "Weak task types", TEXT_WEAK_TYPES.format(types=", ".join(weak)))
        )
    return out


def dpo_diagnostics(series: dict[str, list[tuple[int, float]]]) -> list[Diagnostic]:
    out = []
    split = "validation" if series.get("eval/rewards/accuracies") else "training"
    accuracies = series.get("eval/rewards/accuracies") or series.get("rewards/accuracies", [])
    if accuracies:
        acc = last_value(accuracies)
        level = "warn" if acc <= CHANCE and len(accuracies) >= MIN_POINTS else "ok"
        out.append(
            Diagnostic(level, "Preference accuracy", TEXT_DPO_ACCURACY.format(acc=acc, split=split))
        )
    chosen, margins = series.get("rewards/chosen", []), series.get("rewards/margins", [])
    if len(chosen) >= MIN_POINTS and len(margins) >= MIN_POINTS:
        c_first, c_last = quarter_means(chosen)
        m_first, m_last = quarter_means(margins)
        if c_last < min(0.0, c_first) and m_last > m_first:
            text = TEXT_DPO_CHOSEN_FALLS.format(
                first=c_first, last=c_last, m_first=m_first, m_last=m_last
            )
            out.append(Diagnostic("note", "Chosen reward falls", text))
    return out


def online_diagnostics(kind: str, series: dict[str, list[tuple[int, float]]]) -> list[Diagnostic]:
    out = []
    reward = series.get("reward", [])
    if len(reward) >= MIN_POINTS:
        first, last = quarter_means(reward)
        if _falls_consistently(reward):
            out.append(
                Diagnostic(
                    "warn", "Reward is falling", TEXT_REWARD_FALLS.format(first=first, last=last)
                )
            )
        elif last > first + RISE_FRACTION * abs(first):
            out.append(Diagnostic("ok", "Reward", TEXT_REWARD_RISES.format(first=first, last=last)))
        else:
            out.append(
                Diagnostic("note", "Reward", TEXT_REWARD_FLAT.format(first=first, last=last))
            )
    kl = series.get("kl", [])
    if kl:
        # PPO sums the per-token estimate over the response; TRL's GRPO/RLOO average it.
        unit = "nats per response" if kind == JobKind.PPO else "nats per token"
        out.append(Diagnostic("note", "KL", TEXT_KL.format(kl=last_value(kl), unit=unit)))
    return out


def rl_diagnostics(*, kind: str, series: dict[str, list[tuple[int, float]]]) -> list[Diagnostic]:
    if kind == JobKind.REWARD:
        return reward_model_diagnostics(series)
    if kind == JobKind.DPO:
        return dpo_diagnostics(series)
    return online_diagnostics(kind, series)
