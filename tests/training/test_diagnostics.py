"""Diagnostics read stored metrics; these series are the shapes each rule exists for."""

import pytest

from training.diagnostics import job_diagnostics
from training.models import TrainingJob


def titles(job, series):
    return {(d.level, d.title) for d in job_diagnostics(job=job, series=series)}


def job(total_params=7_000_000_000):
    return TrainingJob(total_params=total_params, config={})


def line(values):
    return [(i + 1, v) for i, v in enumerate(values)]


def test_initial_loss_in_range_for_a_7b_model_is_ok_and_outside_is_noted():
    assert ("ok", "Initial loss") in titles(job(), {"loss": line([2.0, 1.8])})
    assert ("note", "Initial loss") in titles(job(), {"loss": line([6.2, 6.0])})
    assert ("ok", "Initial loss") in titles(job(70_000_000_000), {"loss": line([1.5, 1.4])})


def test_consistently_rising_loss_warns_about_a_bug_not_hard_data():
    found = job_diagnostics(
        job=job(), series={"loss": line([2.0, 2.1, 2.3, 2.2, 2.6, 2.9, 3.3, 3.8])}
    )
    rising = [d for d in found if d.title == "Loss is rising"]
    assert rising and rising[0].level == "warn"
    assert "Look for a bug or a bad hyperparameter" in rising[0].text
    assert rising[0].text.endswith("not hard data.")
    noisy_but_falling = line([2.0, 2.1, 1.9, 2.0, 1.8, 1.85, 1.7, 1.6])
    assert ("warn", "Loss is rising") not in titles(job(), {"loss": noisy_but_falling})


def test_memorizing_and_overfitting_warn_converged_is_ok():
    series = {
        "loss": line([2.0, 1.2, 0.7, 0.4, 0.25, 0.15]),
        "eval/loss": line([2.1, 1.6, 1.5, 1.7, 1.9, 2.2]),
    }
    assert {("warn", "Memorizing"), ("warn", "Overfitting")} <= titles(job(), series)
    assert ("ok", "Converged") in titles(job(), {"loss": line([2.0, 1.1, 0.8, 0.6, 0.5])})


def test_special_tokens_that_do_not_drop_are_noted():
    slow = {
        "loss": line([2, 1.9, 1.8, 1.7, 1.6]),
        "loss/special_tokens": line([3, 2.9, 2.9, 2.8, 2.8]),
    }
    fast = {
        "loss": line([2, 1.9, 1.8, 1.7, 1.6]),
        "loss/special_tokens": line([3, 1, 0.3, 0.1, 0.05]),
    }
    assert ("note", "Special tokens") in titles(job(), slow)
    assert ("ok", "Special tokens") in titles(job(), fast)


def test_creative_and_fixed_answer_channels_are_compared():
    series = {"loss": line([2.0]), "loss/creative": line([2.4]), "loss/math": line([0.9])}
    compare = [
        d
        for d in job_diagnostics(job=job(), series=series)
        if d.title == "Creative vs fixed-answer"
    ]
    assert compare and "(creative) end at 2.400" in compare[0].text
    assert "(math) at 0.900" in compare[0].text


def test_a_task_type_that_stays_flat_while_the_others_learn_is_named():
    falling = [6.2, 5.0, 4.1, 3.5, 3.0, 2.6, 2.3, 2.1]
    series = {
        "loss": line([6.2, 5.3, 4.6, 4.2, 3.9, 3.6, 3.5, 3.4]),
        "loss/qa": line(falling),
        "loss/creative": line([v + 0.3 for v in falling]),
        "loss/math": line([6.2, 6.1, 6.3, 6.2, 6.1, 6.2, 6.3, 6.15]),
        "loss/special_tokens": line([6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0]),
    }
    stuck = [
        d for d in job_diagnostics(job=job(), series=series) if d.title == "Task type not learning"
    ]
    assert len(stuck) == 1 and stuck[0].level == "warn"
    assert stuck[0].text.startswith("Task type 'math' is not learning (math 6.150 → 6.225)")
    assert "Look at a few rows of that task type." in stuck[0].text

    # Every channel learning, each at its own pace; or one channel only; or all flat: no warning.
    slower = {**series, "loss/math": line([6.2, 5.8, 5.5, 5.3, 5.0, 4.9, 4.7, 4.6])}
    assert ("warn", "Task type not learning") not in titles(job(), slower)
    assert ("warn", "Task type not learning") not in titles(
        job(), {"loss": series["loss"], "loss/math": series["loss/math"]}
    )
    flat = {k: line([6.2, 6.1, 6.2, 6.2, 6.1, 6.2]) for k in ("loss", "loss/qa", "loss/math")}
    assert ("warn", "Task type not learning") not in titles(job(), flat)


@pytest.mark.parametrize("series", [{}, {"lr": line([1e-4])}])
def test_no_loss_no_diagnostics(series):
    assert job_diagnostics(job=job(), series=series) == []


def rl_job(kind):
    return TrainingJob(kind=kind, total_params=1_000_000, config={"vocab_size": 500})


SFT_ONLY = {"Initial loss", "Memorizing", "Converged", "Special tokens", "Creative vs fixed-answer"}


@pytest.mark.parametrize("kind", ["reward", "dpo", "grpo", "rloo"])
def test_sft_loss_rules_of_thumb_are_not_given_to_rl_jobs(kind):
    # A pairwise or policy loss starts near ln 2 or 0 and may end below 0.3 without memorizing.
    series = {
        "loss": line([0.69, 0.5, 0.35, 0.2, 0.1, 0.05]),
        "loss/special_tokens": line([3, 2.9, 2.9, 2.8, 2.8]),
        "loss/creative": line([2.4]),
        "loss/math": line([0.9]),
    }
    assert not {title for _, title in titles(rl_job(kind), series)} & SFT_ONLY
    assert {title for _, title in titles(job(), series)} >= {"Initial loss", "Memorizing"}


def test_rising_loss_and_overfitting_warn_on_rl_jobs_too():
    rising = {"loss": line([0.69, 0.7, 0.75, 0.74, 0.8, 0.9, 0.95, 1.0])}
    assert ("warn", "Loss is rising") in titles(rl_job("dpo"), rising)
    overfit = {
        "loss": line([0.69, 0.5, 0.3, 0.2, 0.1, 0.05]),
        "eval/loss": line([0.69, 0.6, 0.62, 0.7, 0.8, 0.9]),
    }
    assert ("warn", "Overfitting") in titles(rl_job("reward"), overfit)


def test_reward_model_below_chance_warns_and_weak_task_types_are_named():
    swapped = {"eval/pairwise_accuracy": [(9, 0.2)], "eval/mean_margin": [(9, -0.8)]}
    found = job_diagnostics(job=rl_job("reward"), series=swapped)
    assert [(d.level, d.title) for d in found] == [("warn", "Below chance")]
    assert "not swapped" in found[0].text
    good = {
        "eval/pairwise_accuracy": [(9, 0.8)],
        "eval/mean_margin": [(9, 1.25)],
        "eval/pairwise_accuracy/math": [(9, 1.0)],
        "eval/pairwise_accuracy/creative": [(9, 0.5)],
    }
    found = {d.title: d for d in job_diagnostics(job=rl_job("reward"), series=good)}
    assert found["Pairwise accuracy"].level == "ok"
    assert "80%, mean margin 1.250" in found["Pairwise accuracy"].text
    assert found["Weak task types"].text.startswith(
        "At or below chance on validation: creative 50%"
    )
    assert "math" not in found["Weak task types"].text


def test_dpo_notes_chosen_reward_falling_while_the_margin_grows():
    series = {
        "loss": line([0.69, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.3]),
        "rewards/chosen": line([0.0, -0.05, -0.1, -0.2, -0.3, -0.35, -0.4, -0.5]),
        "rewards/margins": line([0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.8, 0.9]),
        "rewards/accuracies": line([0.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0]),
    }
    assert {("note", "Chosen reward falls"), ("ok", "Preference accuracy")} <= titles(
        rl_job("dpo"), series
    )
    both_up = {**series, "rewards/chosen": line([0.0, 0.05, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3])}
    assert ("note", "Chosen reward falls") not in titles(rl_job("dpo"), both_up)


@pytest.mark.parametrize("kind", ["ppo", "grpo", "rloo"])
def test_online_rl_reward_trend_and_kl(kind):
    rising = {"reward": line([0.4, 0.5, 0.7, 0.9, 1.2, 1.5, 1.8, 1.8]), "kl": line([0, 0.2, 0.5])}
    found = {d.title: d for d in job_diagnostics(job=rl_job(kind), series=rising)}
    assert found["Reward"].level == "ok" and "rose from" in found["Reward"].text
    assert found["KL"].text.startswith("KL to the reference (the SFT policy) ended at 0.500 nats")
    assert ("per response" in found["KL"].text) == (kind == "ppo")
    falling = {"reward": line([1.0, 0.9, 0.95, 0.7, 0.6, 0.5, 0.55, 0.3])}
    assert ("warn", "Reward is falling") in titles(rl_job(kind), falling)
    flat_noisy = {"reward": line([1.0, 0.9, 1.1, 1.0, 0.95, 1.05, 0.98, 0.99])}
    assert ("warn", "Reward is falling") not in titles(rl_job(kind), flat_noisy)
    # -1.985 -> -1.981 (a real 6-step GRPO run) is not called a rise.
    barely = {"reward": line([-1.99, -1.98, -1.97, -2.0, -1.98, -1.982])}
    assert ("note", "Reward") in titles(rl_job(kind), barely)


# Training losses measured on the tiny model (tests/training/test_broken_labels.py describes
# the runs): SFT with broken labels at a high learning rate, and a healthy batch-of-one run.
CLIMBS_NOISILY = [
    6.19,
    6.2,
    6.37,
    6.52,
    6.21,
    6.65,
    6.48,
    6.67,
    6.56,
    6.62,
    6.51,
    6.64,
    6.63,
    6.75,
    7.1,
    6.6,
    7.08,
    6.93,
    7.72,
    7.08,
    7.2,
    6.98,
    6.54,
    6.8,
]
EARLY_SPIKE = [6.18, 6.29, 7.42, 6.69, 7.07, 6.98, 7.18, 6.7, 6.77, 6.35]
HEALTHY_BATCH_OF_ONE = [6.27, 5.8, 5.51, 3.82, 4.91, 7.13, 3.42, 5.3, 5.27, 2.92, 9.21, 3.45,
                        8.28, 6.84, 5.04, 6.13]  # fmt: skip


def test_rising_is_a_trend_over_the_run_not_a_count_of_steps_that_go_up():
    # Climbs 11% while 10 of 23 steps go down: batch noise, not a falling loss.
    assert ("warn", "Loss is rising") in titles(job(), {"loss": line(CLIMBS_NOISILY)})
    # One spike early, then down again: the last quarter is above the first, there is no trend.
    assert ("warn", "Loss is rising") not in titles(job(), {"loss": line(EARLY_SPIKE)})
    # A batch of one makes the loss jump around; its last quarter happens to be high.
    assert ("warn", "Loss is rising") not in titles(job(), {"loss": line(HEALTHY_BATCH_OF_ONE)})


def test_trend_test_needs_enough_points_and_stays_cheap_on_long_runs():
    from training.diagnostics import trend_z

    assert ("warn", "Loss is rising") not in titles(
        job(), {"loss": line([2.0, 2.2, 2.4, 2.6, 2.8])}
    )
    assert ("warn", "Loss is rising") in titles(
        job(), {"loss": line([2.0, 2.2, 2.4, 2.6, 2.8, 3.0])}
    )
    long_rise = line([2.0 + i * 1e-4 + (0.05 if i % 2 else 0.0) for i in range(50_000)])
    assert trend_z(long_rise) > 10  # binned to 100 points, so a page render stays fast


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_the_policy_gradient_surrogate_of_grpo_and_rloo_is_not_read_as_a_loss(kind):
    # Logged by real 6-step runs of the demo: a surrogate near zero, sometimes negative.
    surrogate = line([-0.012, -0.007, -0.0003, 0.0085, 0.0123, -0.0018, 0.02, 0.03])
    found = titles(rl_job(kind), {"loss": surrogate, "eval/loss": surrogate})
    assert not {t for _, t in found} & {"Loss is rising", "Overfitting"}
    # The same numbers as an SFT loss are not positive, so no relative rise is claimed either.
    assert ("warn", "Loss is rising") not in titles(job(), {"loss": surrogate})
