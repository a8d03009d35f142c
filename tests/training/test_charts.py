"""Charts per job kind: given the series a run of each kind stores (names as the trainers log
them), the job page gets the charts that matter for that kind, and none without data."""

import pytest

from training.selectors import job_charts


def line(values, start=1):
    return [(start + i, v) for i, v in enumerate(values)]


def by_id(charts):
    return {c["id"]: c for c in charts}


def labels(chart):
    return [d["label"] for d in chart["datasets"]]


SFT = {
    "loss": line([3.0, 2.5, 2.1]),
    "eval/loss": line([3.1, 2.7]),
    "loss/qa": line([2.8, 2.3, 1.9]),
    "eval/loss/qa": line([2.9, 2.5]),
    "loss/special_tokens": line([1.5, 1.0, 0.6]),
    "loss/content_tokens": line([3.0, 2.6, 2.3]),
    "mean_token_accuracy": line([0.1, 0.3, 0.4]),
    "lr": line([1e-4, 1e-4, 1e-4]),
    "grad_norm": line([0.5, 0.4, 0.3]),
}

REWARD = {
    "loss": line([0.69, 0.5, 0.3]),
    "eval/loss": line([0.7, 0.55, 0.4]),
    "accuracy": line([0.5, 0.8, 1.0]),
    "eval/accuracy": line([0.5, 0.7, 0.9]),
    "margin": line([0.0, 0.6, 1.4]),
    "eval/margin": line([0.0, 0.5, 1.1]),
    "mean_reward": line([0.0, 0.1, 0.2]),
    "min_reward": line([-0.5, -1.0, -1.5]),
    "max_reward": line([0.5, 1.0, 1.8]),
    "num_tokens": line([100, 200, 300]),
    "eval/pairwise_accuracy": [(3, 0.9)],
    "eval/pairwise_accuracy/math": [(3, 1.0)],
    "eval/pairwise_accuracy/qa": [(3, 0.75)],
    "eval/mean_margin": [(3, 1.1)],
    "eval/mean_margin/math": [(3, 1.5)],
    "eval/mean_margin/qa": [(3, 0.6)],
    "lr": line([1e-3, 1e-3, 1e-3]),
    "grad_norm": line([2.0, 1.5, 1.0]),
}
REWARD_REPORT = {
    "reward_eval": {
        "distribution": {
            "chosen_mean": 0.8,
            "rejected_mean": -0.3,
            "std": 0.7,
            "quantiles": {"p5": -1.0, "p25": -0.4, "p50": 0.2, "p75": 0.7, "p95": 1.3},
            "histogram": {"counts": [1.0, 3.0, 2.0], "edges": [-1.0, 0.0, 1.0, 2.0]},
        }
    }
}

DPO = {
    name: line(values)
    for name, values in {
        "loss": [0.693, 0.6, 0.5],
        "rewards/chosen": [0.0, 0.05, 0.1],
        "rewards/rejected": [0.0, -0.1, -0.3],
        "rewards/margins": [0.0, 0.15, 0.4],
        "rewards/accuracies": [0.0, 0.7, 1.0],
        "eval/rewards/margins": [0.0, 0.1, 0.3],
        "logps/chosen": [-40.0, -39.0, -38.5],
        "logps/rejected": [-42.0, -43.0, -45.0],
        "logits/chosen": [0.1, 0.1, 0.2],
        "entropy": [5.0, 4.9, 4.8],
        "lr": [1e-4, 1e-4, 1e-4],
        "grad_norm": [1.0, 0.8, 0.7],
    }.items()
}

PPO = {
    name: line(values)
    for name, values in {
        "reward": [0.4, 0.9, 1.8],
        "kl": [0.0, 0.3, 0.9],
        "ppo/entropy": [4.0, 3.8, 3.5],
        "ppo/policy_loss": [-0.01, -0.02, -0.015],
        "ppo/value_loss": [0.5, 0.3, 0.2],
        "ppo/clipfrac": [0.0, 0.1, 0.2],
        "ppo/vf_clipfrac": [0.0, 0.05, 0.1],
        "ppo/approx_kl": [0.0, 0.01, 0.02],
        "response_length": [12.0, 14.0, 16.0],
        "eos_fraction": [0.2, 0.5, 0.8],
        "time/generation": [1.0, 2.0, 3.0],
        "time/scoring": [0.1, 0.2, 0.3],
        "time/optimization": [0.5, 1.0, 1.5],
    }.items()
}

ONLINE = {
    name: line(values)
    for name, values in {
        "loss": [0.0, 0.01, 0.02],
        "reward": [0.2, 0.4, 0.6],
        "reward_std": [0.3, 0.3, 0.2],
        "rewards/PeftModel/mean": [0.2, 0.4, 0.6],
        "kl": [0.0, 0.001, 0.003],
        "entropy": [5.0, 4.9, 4.8],
        "clip_ratio/region_mean": [0.0, 0.0, 0.01],
        "completions/mean_length": [8.0, 8.0, 7.5],
        "completions/min_length": [3.0, 4.0, 4.0],
        "completions/max_length": [8.0, 8.0, 8.0],
        "completions/clipped_ratio": [1.0, 0.9, 0.8],
        "frac_reward_zero_std": [0.0, 0.0, 0.25],
        "num_tokens": [100.0, 200.0, 300.0],
        "lr": [1e-3, 1e-3, 1e-3],
        "grad_norm": [0.1, 0.2, 0.1],
    }.items()
}


def test_sft_keeps_its_loss_channels_token_split_lr_and_grad_norm():
    charts = by_id(job_charts(series=SFT, kind="sft"))
    assert list(charts) == [
        "chart-channels",
        "chart-tokens",
        "chart-token-accuracy",
        "chart-lr",
        "chart-grad",
    ]
    assert labels(charts["chart-channels"]) == [
        "loss (all)",
        "validation loss (all)",
        "qa",
        "qa (validation)",
    ]
    assert charts["chart-channels"]["datasets"][1]["borderDash"] == [6, 4]  # validation dashed
    assert charts["chart-channels"]["log"] is True
    assert charts["chart-token-accuracy"]["range"] == [0, 1]
    # Without a kind the page still gets the SFT charts (the view's old call).
    assert by_id(job_charts(series=SFT)).keys() == charts.keys()


def test_reward_model_charts_accuracy_margin_per_task_type_and_distribution():
    charts = by_id(job_charts(series=REWARD, kind="reward", data_report=REWARD_REPORT))
    assert list(charts) == [
        "chart-loss",
        "chart-reward-accuracy",
        "chart-reward-margin",
        "chart-reward-values",
        "chart-reward-task-accuracy",
        "chart-reward-task-margin",
        "chart-reward-distribution",
        "chart-lr",
        "chart-grad",
    ]
    assert labels(charts["chart-reward-accuracy"]) == ["accuracy", "accuracy (validation)"]
    assert labels(charts["chart-reward-margin"]) == ["margin", "margin (validation)"]
    assert charts["chart-reward-accuracy"]["datasets"][1]["data"][-1] == {"x": 3, "y": 0.9}
    per_type = charts["chart-reward-task-accuracy"]
    assert per_type["type"] == "bar"
    assert per_type["labels"] == ["all", "math", "qa"]
    assert per_type["datasets"][0]["data"] == [0.9, 1.0, 0.75]
    assert "step 3" in per_type["title"]
    assert charts["chart-reward-task-margin"]["datasets"][0]["data"] == [1.1, 1.5, 0.6]
    histogram = charts["chart-reward-distribution"]
    assert histogram["labels"] == ["-0.50", "0.50", "1.50"]
    assert histogram["datasets"][0]["data"] == [1.0, 3.0, 2.0]
    assert "chosen mean 0.800 · rejected mean -0.300" in histogram["note"]
    # SFT-only charts do not appear on a reward job.
    assert "chart-channels" not in charts and "chart-tokens" not in charts


def test_reward_model_without_validation_or_report_leaves_those_charts_out():
    train_only = {k: v for k, v in REWARD.items() if not k.startswith("eval/")}
    charts = by_id(job_charts(series=train_only, kind="reward", data_report={"before": {}}))
    assert "chart-reward-task-accuracy" not in charts
    assert "chart-reward-task-margin" not in charts
    assert "chart-reward-distribution" not in charts
    assert labels(charts["chart-reward-accuracy"]) == ["accuracy"]


def test_dpo_charts_implicit_rewards_margins_accuracies_and_logps():
    charts = by_id(job_charts(series=DPO, kind="dpo"))
    assert list(charts) == [
        "chart-loss",
        "chart-dpo-rewards",
        "chart-dpo-margins",
        "chart-dpo-accuracy",
        "chart-dpo-logps",
        "chart-lr",
        "chart-grad",
    ]
    assert labels(charts["chart-dpo-rewards"]) == ["chosen", "rejected"]
    assert labels(charts["chart-dpo-margins"]) == ["margin", "margin (validation)"]
    assert charts["chart-dpo-accuracy"]["datasets"][0]["data"][-1] == {"x": 3, "y": 1.0}
    assert labels(charts["chart-dpo-logps"]) == ["chosen", "rejected"]


def test_ppo_charts_reward_kl_entropy_losses_clipping_and_time():
    charts = by_id(job_charts(series=PPO, kind="ppo"))
    assert list(charts) == [
        "chart-ppo-reward",
        "chart-ppo-kl",
        "chart-ppo-entropy",
        "chart-ppo-policy-loss",
        "chart-ppo-value-loss",
        "chart-ppo-clip",
        "chart-ppo-approx-kl",
        "chart-ppo-length",
        "chart-ppo-eos",
        "chart-ppo-time",
    ]
    assert labels(charts["chart-ppo-clip"]) == ["policy ratio clipped", "value clipped"]
    assert charts["chart-ppo-reward"]["datasets"][0]["data"][-1] == {"x": 3, "y": 1.8}
    assert labels(charts["chart-ppo-time"]) == ["generation", "scoring", "optimisation"]
    # PPO logs no learning rate or grad norm: those frames are left out, not drawn empty.
    assert "chart-lr" not in charts and "chart-grad" not in charts


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_grpo_and_rloo_chart_what_trl_logs(kind):
    charts = by_id(job_charts(series=ONLINE, kind=kind))
    assert list(charts) == [
        "chart-online-reward",
        "chart-online-kl",
        "chart-online-entropy",
        "chart-loss",
        "chart-online-clip",
        "chart-online-length",
        "chart-online-fractions",
        "chart-lr",
        "chart-grad",
    ]
    # The policy-gradient surrogate sits near zero and goes negative: never on a log axis.
    assert charts["chart-loss"]["log"] is False
    # One reward function: its own line would repeat the mean reward.
    assert labels(charts["chart-online-reward"]) == ["mean reward", "reward std"]
    assert labels(charts["chart-online-clip"]) == ["clipped (region)"]
    two = {**ONLINE, "rewards/other/mean": line([0.1, 0.1, 0.2])}
    reward = by_id(job_charts(series=two, kind=kind))["chart-online-reward"]
    assert labels(reward) == ["mean reward", "reward std", "PeftModel", "other"]


@pytest.mark.parametrize("kind", ["sft", "reward", "dpo", "ppo", "grpo", "rloo", "generate"])
def test_no_chart_is_drawn_without_data(kind):
    assert job_charts(series={}, kind=kind, data_report={}) == []
    # A series that exists but has no points counts as no data too.
    assert job_charts(series={"loss": [], "reward": []}, kind=kind) == []


def test_every_dataset_of_every_chart_has_points():
    for kind, series in (("sft", SFT), ("reward", REWARD), ("dpo", DPO), ("ppo", PPO)):
        for chart in job_charts(series=series, kind=kind, data_report=REWARD_REPORT):
            assert chart["datasets"], chart["id"]
            assert all(d["data"] for d in chart["datasets"]), chart["id"]
