"""Single-answer score agreement between rater groups, hand-computed and against scipy."""

import json

import pytest
import scipy.stats

from evaluation.agreement import Score, pair_scores, score_agreement_report

J = "gpt4_single"


def _scores():
    out = []
    # judge (two trials on q1/m1 average to 9): 9, 6, 3, 9
    for qid, model, value, trial in [
        ("q1", "m1", 8, 1),
        ("q1", "m1", 10, 2),
        ("q1", "m2", 6, None),
        ("q2", "m1", 3, None),
        ("q2", "m2", 9, None),
    ]:
        out.append(Score(qid, model, 1, J, value, trial=trial))
    # expert_1: 7 5 4 10; expert_2: 9 5 2 8 -> group means 8 5 3 9
    for rater, values in (("expert_1", (7, 5, 4, 10)), ("expert_2", (9, 5, 2, 8))):
        for (qid, model), value in zip(
            [("q1", "m1"), ("q1", "m2"), ("q2", "m1"), ("q2", "m2")], values, strict=True
        ):
            out.append(Score(qid, model, 1, rater, value))
    out.append(Score("q3", "m1", 2, J, 5))  # nobody else scored this item
    return out


def test_groups_pair_on_item_means():
    pairs = pair_scores(_scores(), group_a=J, group_b="expert")
    assert [(p.question_id, p.model, p.score_a, p.score_b) for p in pairs] == [
        ("q1", "m1", 9, 8),
        ("q1", "m2", 6, 5),
        ("q2", "m1", 3, 3),
        ("q2", "m2", 9, 9),
    ]


def test_report_statistics_match_hand_and_scipy():
    report = score_agreement_report(
        _scores(),
        group_a=J,
        group_b="expert",
        categories={"q1": "math", "q2": "coding"},
        n_resamples=100,
    )
    json.dumps(report, allow_nan=False)
    x, y = [9, 6, 3, 9], [8, 5, 3, 9]
    assert report["n"] == 4
    assert report["mean_absolute_difference"] == pytest.approx(0.5)
    assert report["pearson"] == pytest.approx(scipy.stats.pearsonr(x, y).statistic)
    assert report["spearman"] == pytest.approx(scipy.stats.spearmanr(x, y).statistic)
    assert report["kendall_tau_b"] == pytest.approx(
        scipy.stats.kendalltau(x, y, variant="b").statistic
    )
    assert set(report["per_category"]) == {"math", "coding"}
    assert report["per_category"]["math"]["mean_absolute_difference"] == pytest.approx(1.0)
    assert list(report["per_turn"]) == ["1"]
    judge_board = report["leaderboards"][J]
    # judge means: m1 (9+3)/2 = 6, m2 (6+9)/2 = 7.5; experts: m1 5.5, m2 7.
    assert [(r["model"], r["mean_score"]) for r in judge_board] == [("m2", 7.5), ("m1", 6.0)]
    assert report["rank_correlation"]["kendall_tau_b"] == pytest.approx(1.0)


def test_same_group_pairs_distinct_raters():
    report = score_agreement_report(_scores(), group_a="expert", group_b="expert", n_resamples=50)
    # (7,9) (5,5) (4,2) (10,8): |d| = 2 0 2 2.
    assert report["n"] == 4
    assert report["mean_absolute_difference"] == pytest.approx(1.5)
    assert report["leaderboards"] is None


def test_no_pairs_gives_nulls():
    report = score_agreement_report(_scores(), group_a=J, group_b="nobody", n_resamples=10)
    json.dumps(report, allow_nan=False)
    assert report["n"] == 0 and report["pearson"] is None and report["pearson_ci"] == [None, None]
