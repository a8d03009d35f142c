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


@pytest.mark.parametrize("series", [{}, {"lr": line([1e-4])}])
def test_no_loss_no_diagnostics(series):
    assert job_diagnostics(job=job(), series=series) == []
