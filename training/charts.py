"""Charts for the job page, chosen by job kind, as Chart.js specs (pure Python, web-side).

Every kind charts what its trainer logs (metric names as stored by the run: TRL's keys with
`eval_` turned into `eval/`, PPO's own `ppo/*`): SFT its loss channels, reward models
pairwise accuracy and margin, DPO the implicit rewards, PPO reward, KL, entropy, losses and
clip fractions, GRPO/RLOO what TRL's online trainers log. A chart whose metrics were never
logged is left out, so the page shows no empty frames.

A spec is a dict: id, title, x and y axis labels, `log` (the page's log-scale toggle applies),
`type` (line over steps, or bar over categories with `labels`), optional `range` [min, max]
for bounded values (accuracies, fractions) and `note`, a line of figures shown under it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from .diagnostics import task_type_series
from .models import JobKind

Series = dict[str, list[tuple[int, float]]]

# Colours are the page's chart tokens (static/css/flywheel.css), resolved by the browser, so a
# chart follows the light or dark theme like the rest of the page.
BLUE, GREEN, RED, AMBER, PURPLE, TEAL, ORANGE, GREY = (
    f"var(--chart-{name})"
    for name in ("blue", "green", "red", "amber", "purple", "teal", "orange", "grey")
)
CHANNEL_COLORS = [BLUE, GREEN, RED, AMBER, PURPLE, TEAL, ORANGE, GREY]
NATS = "loss (nats/token)"


def dataset(label: str, points: list[tuple[int, float]], color: str, *, dashed: bool = False):
    """One line: (step, value) points, training solid, validation dashed."""
    return {
        "label": label,
        "data": [{"x": s, "y": v} for s, v in points],
        "borderColor": color,
        "backgroundColor": color,
        "borderDash": [6, 4] if dashed else [],
        "pointRadius": 0 if len(points) > 40 else 2,
        "borderWidth": 2,
        "tension": 0,
    }


def _lines(series: Series, metric: str, label: str, color: str) -> list[dict]:
    """The metric on training batches and, when logged, on the validation split."""
    out = []
    if series.get(metric):
        out.append(dataset(label, series[metric], color))
    if series.get(f"eval/{metric}"):
        out.append(dataset(f"{label} (validation)", series[f"eval/{metric}"], color, dashed=True))
    return out


def _chart(chart_id: str, title: str, y: str, datasets: list[dict], **extra: Any) -> dict:
    return {
        "id": chart_id,
        "title": title,
        "x": "step",
        "y": y,
        "log": False,
        "type": "line",
        "datasets": datasets,
        **extra,
    }


def _loss_chart(series: Series) -> dict:
    return _chart("chart-loss", "Loss", "loss", _lines(series, "loss", "loss", BLUE), log=True)


def _optimizer_charts(series: Series) -> list[dict]:
    return [
        _chart("chart-lr", "Learning rate", "learning rate", _lines(series, "lr", "learning rate",
                                                                     GREEN)),
        _chart("chart-grad", "Gradient norm", "grad norm (L2)",
               _lines(series, "grad_norm", "grad norm", AMBER), log=True),
    ]  # fmt: skip


# --------------------------------------------------------------------------- SFT


def sft_charts(series: Series) -> list[dict]:
    """One line per loss channel (training solid, validation dashed), special vs content
    tokens, token accuracy, learning rate, grad norm."""
    names = sorted(task_type_series(series))
    colors = {name: CHANNEL_COLORS[(i + 1) % len(CHANNEL_COLORS)] for i, name in enumerate(names)}
    channels = []
    if series.get("loss"):
        channels.append(dataset("loss (all)", series["loss"], BLUE))
    if series.get("eval/loss"):
        channels.append(dataset("validation loss (all)", series["eval/loss"], BLUE, dashed=True))
    for name in names:
        channels += _lines(series, f"loss/{name}", name, colors[name])
    tokens = _lines(series, "loss/special_tokens", "special tokens (end of turn, eos)", RED)
    tokens += _lines(series, "loss/content_tokens", "content tokens", BLUE)
    return [
        _chart("chart-channels", "Loss per task type", NATS, channels, log=True),
        _chart("chart-tokens", "Special vs content tokens", NATS, tokens, log=True),
        _chart("chart-token-accuracy", "Next-token accuracy", "accuracy (share of tokens)",
               _lines(series, "mean_token_accuracy", "token accuracy", PURPLE), range=[0, 1]),
        *_optimizer_charts(series),
    ]  # fmt: skip


# --------------------------------------------------------------------------- reward model


def _latest_per_task_type(series: Series, prefix: str) -> tuple[list[str], list[float], int]:
    """Last logged value of `prefix` (all rows) and of `prefix/<task type>`, for a bar chart."""
    labels, values, step = [], [], 0
    names = [prefix, *sorted(n for n in series if n.startswith(prefix + "/"))]
    for name in names:
        if series.get(name):
            last_step, value = series[name][-1]
            labels.append("all" if name == prefix else name.removeprefix(prefix + "/"))
            values.append(value)
            step = max(step, last_step)
    return labels, values, step


def _bars(label: str, values: list[float], color: str) -> list[dict]:
    if not values:
        return []
    return [{"label": label, "data": values, "backgroundColor": color, "borderColor": color}]


def reward_distribution_chart(data_report: dict | None) -> dict:
    """Histogram of the rewards the trained model gives validation answers (chosen and
    rejected together), with the means and spread as a note."""
    found = ((data_report or {}).get("reward_eval") or {}).get("distribution") or {}
    histogram = found.get("histogram") or {}
    counts, edges = histogram.get("counts") or [], histogram.get("edges") or []
    labels = [f"{(a + b) / 2:.2f}" for a, b in pairwise(edges)]
    note = ""
    if counts:
        q = found.get("quantiles") or {}
        note = (
            f"chosen mean {found['chosen_mean']:.3f} · rejected mean {found['rejected_mean']:.3f}"
            f" · std {found['std']:.3f}"
        )
        if q:
            note += f" · p5 {q['p5']:.3f} · median {q['p50']:.3f} · p95 {q['p95']:.3f}"
    return _chart(
        "chart-reward-distribution",
        "Reward distribution on validation answers",
        "answers",
        _bars("chosen and rejected answers", counts if len(labels) == len(counts) else [], TEAL),
        type="bar",
        x="reward (bin centre)",
        labels=labels,
        note=note,
    )


def reward_charts(series: Series, data_report: dict | None) -> list[dict]:
    acc_labels, acc, acc_step = _latest_per_task_type(series, "eval/pairwise_accuracy")
    margin_labels, margins, margin_step = _latest_per_task_type(series, "eval/mean_margin")
    return [
        _loss_chart(series),
        _chart("chart-reward-accuracy", "Pairwise accuracy (chosen scored above rejected)",
               "accuracy", _lines(series, "accuracy", "accuracy", GREEN), range=[0, 1]),
        _chart("chart-reward-margin", "Margin (chosen minus rejected reward)", "reward margin",
               _lines(series, "margin", "margin", BLUE)),
        _chart("chart-reward-values", "Rewards given", "reward",
               _lines(series, "mean_reward", "mean", BLUE)
               + _lines(series, "min_reward", "min", GREY)
               + _lines(series, "max_reward", "max", ORANGE)),
        _chart("chart-reward-task-accuracy",
               f"Validation accuracy per task type (step {acc_step})", "pairwise accuracy",
               _bars("pairwise accuracy", acc, GREEN), type="bar", x="task type",
               labels=acc_labels, range=[0, 1]),
        _chart("chart-reward-task-margin",
               f"Validation margin per task type (step {margin_step})", "mean margin",
               _bars("mean margin", margins, BLUE), type="bar", x="task type",
               labels=margin_labels),
        reward_distribution_chart(data_report),
        *_optimizer_charts(series),
    ]  # fmt: skip


# --------------------------------------------------------------------------- DPO


def dpo_charts(series: Series) -> list[dict]:
    """TRL's DPO metrics: implicit rewards β·log(π/π_ref) of chosen and rejected answers,
    their margin, how often chosen wins, and the answers' log-probabilities."""
    return [
        _loss_chart(series),
        _chart("chart-dpo-rewards", "Implicit rewards (β · log-ratio to the reference)",
               "reward", _lines(series, "rewards/chosen", "chosen", GREEN)
               + _lines(series, "rewards/rejected", "rejected", RED)),
        _chart("chart-dpo-margins", "Reward margin (chosen minus rejected)", "margin",
               _lines(series, "rewards/margins", "margin", BLUE)),
        _chart("chart-dpo-accuracy", "Preference accuracy (chosen reward above rejected)",
               "accuracy", _lines(series, "rewards/accuracies", "accuracy", PURPLE),
               range=[0, 1]),
        _chart("chart-dpo-logps", "Log-probability of the answers", "log p (nats, summed)",
               _lines(series, "logps/chosen", "chosen", GREEN)
               + _lines(series, "logps/rejected", "rejected", RED)),
        *_optimizer_charts(series),
    ]  # fmt: skip


# --------------------------------------------------------------------------- PPO


def ppo_charts(series: Series) -> list[dict]:
    """Flywheel's PPO loop: reward-model score, KL to the reference per response, policy
    entropy, the policy and value losses, clip fractions, approximate KL between the policy
    before and after each PPO epoch, response length and the time per phase."""
    return [
        _chart("chart-ppo-reward", "Mean reward (reward model score)", "reward",
               _lines(series, "reward", "mean reward", GREEN)),
        _chart("chart-ppo-kl", "KL to the reference policy", "KL (nats per response)",
               _lines(series, "kl", "KL", RED)),
        _chart("chart-ppo-entropy", "Policy entropy", "entropy (nats/token)",
               _lines(series, "ppo/entropy", "entropy", PURPLE)),
        _chart("chart-ppo-policy-loss", "Policy loss (clipped surrogate)", "loss",
               _lines(series, "ppo/policy_loss", "policy loss", BLUE)),
        _chart("chart-ppo-value-loss", "Value loss", "loss",
               _lines(series, "ppo/value_loss", "value loss", AMBER), log=True),
        _chart("chart-ppo-clip", "Clip fractions", "share of tokens clipped",
               _lines(series, "ppo/clipfrac", "policy ratio clipped", BLUE)
               + _lines(series, "ppo/vf_clipfrac", "value clipped", AMBER), range=[0, 1]),
        _chart("chart-ppo-approx-kl", "Approximate KL between PPO epochs", "approx. KL (nats)",
               _lines(series, "ppo/approx_kl", "approx. KL", TEAL)),
        _chart("chart-ppo-length", "Responses", "tokens",
               _lines(series, "response_length", "mean length", GREY)),
        _chart("chart-ppo-eos", "Responses that end with EOS", "share of responses",
               _lines(series, "eos_fraction", "ended with EOS", GREEN), range=[0, 1]),
        _chart("chart-ppo-time", "Time per phase (cumulative)", "seconds",
               _lines(series, "time/generation", "generation", BLUE)
               + _lines(series, "time/scoring", "scoring", ORANGE)
               + _lines(series, "time/optimization", "optimisation", PURPLE)),
    ]  # fmt: skip


# --------------------------------------------------------------------------- GRPO / RLOO


def online_charts(series: Series) -> list[dict]:
    """What TRL's GRPO and RLOO trainers log: group reward and its spread, KL to the
    reference (when beta > 0), entropy, clip ratios and completion lengths."""
    per_function = sorted(n for n in series if n.startswith("rewards/") and n.endswith("/mean"))
    rewards = _lines(series, "reward", "mean reward", GREEN)
    rewards += _lines(series, "reward_std", "reward std", GREY)
    if len(per_function) > 1:
        for i, name in enumerate(per_function):
            label = name.removeprefix("rewards/").removesuffix("/mean")
            rewards += _lines(series, name, label, CHANNEL_COLORS[(i + 2) % len(CHANNEL_COLORS)])
    return [
        _chart("chart-online-reward", "Reward", "reward", rewards),
        _chart("chart-online-kl", "KL to the reference policy", "KL (nats/token)",
               _lines(series, "kl", "KL", RED)),
        _chart("chart-online-entropy", "Policy entropy", "entropy (nats/token)",
               _lines(series, "entropy", "entropy", PURPLE)),
        # A surrogate near zero that may be negative: no log scale.
        _chart("chart-loss", "Loss (policy-gradient surrogate)", "loss",
               _lines(series, "loss", "loss", BLUE)),
        _chart("chart-online-clip", "Clip ratios", "share of tokens",
               _lines(series, "clip_ratio/region_mean", "clipped (region)", BLUE)
               + _lines(series, "clip_ratio/low_mean", "clipped low", TEAL)
               + _lines(series, "clip_ratio/high_mean", "clipped high", ORANGE), range=[0, 1]),
        _chart("chart-online-length", "Completion length", "tokens",
               _lines(series, "completions/mean_length", "mean", BLUE)
               + _lines(series, "completions/min_length", "min", GREY)
               + _lines(series, "completions/max_length", "max", ORANGE)),
        _chart("chart-online-fractions", "Groups and completions", "share",
               _lines(series, "completions/clipped_ratio", "cut at max length", AMBER)
               + _lines(series, "frac_reward_zero_std", "groups with equal rewards", GREY),
               range=[0, 1]),
        *_optimizer_charts(series),
    ]  # fmt: skip


def charts_for_kind(*, kind: str, series: Series, data_report: dict | None = None) -> list[dict]:
    """The charts that matter for this kind of job, without those that have nothing to draw."""
    if kind == JobKind.REWARD:
        charts = reward_charts(series, data_report)
    elif kind == JobKind.DPO:
        charts = dpo_charts(series)
    elif kind == JobKind.PPO:
        charts = ppo_charts(series)
    elif kind in (JobKind.GRPO, JobKind.RLOO):
        charts = online_charts(series)
    else:
        charts = sft_charts(series)
    return [c for c in charts if any(d["data"] for d in c["datasets"])]
