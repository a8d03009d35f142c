"""Single-answer score agreement between rater groups: every statistic hand-computed on a small
set, the intervals against an independent brute-force bootstrap over whole questions, the
people-people baseline and its difference, disagreements, leaderboards and the verdict."""

import json
import math

import numpy as np
import pytest
import scipy.stats

from evaluation.agreement import Score, pair_scores, score_agreement_report, score_trust
from flywheel.stats import bootstrap_ci, kendall_tau_b, pearson_r, spearman_rho

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
    # expert_1: 7 5 4 10; expert_2: 9 5 2 8
    for rater, values in (("expert_1", (7, 5, 4, 10)), ("expert_2", (9, 5, 2, 8))):
        for (qid, model), value in zip(
            [("q1", "m1"), ("q1", "m2"), ("q2", "m1"), ("q2", "m2")], values, strict=True
        ):
            out.append(Score(qid, model, 1, rater, value))
    out.append(Score("q3", "m1", 2, J, 5))  # nobody else scored this item
    return out


CATEGORIES = {"q1": "math", "q2": "writing"}
# The judge against each expert, answer by answer (the judge's trials averaged first).
JUDGE = [9, 9, 6, 6, 3, 3, 9, 9]
EXPERTS = [7, 9, 5, 5, 4, 2, 10, 8]


def test_the_judge_is_paired_with_every_rater_of_the_other_group():
    pairs = pair_scores(_scores(), group_a=J, group_b="expert")
    assert [(p.question_id, p.model, p.rater_b, p.score_a, p.score_b) for p in pairs] == [
        ("q1", "m1", "expert_1", 9, 7),
        ("q1", "m1", "expert_2", 9, 9),
        ("q1", "m2", "expert_1", 6, 5),
        ("q1", "m2", "expert_2", 6, 5),
        ("q2", "m1", "expert_1", 3, 4),
        ("q2", "m1", "expert_2", 3, 2),
        ("q2", "m2", "expert_1", 9, 10),
        ("q2", "m2", "expert_2", 9, 8),
    ]


def test_headline_statistics_by_hand():
    report = score_agreement_report(_scores(), group_a=J, group_b="expert", n_resamples=50)
    json.dumps(report, allow_nan=False)
    assert (report["n"], report["n_items"], report["n_questions"]) == (8, 4, 2)
    # |9-7| + 0 + 1 + 1 + 1 + 1 + 1 + 1 over 8 pairs.
    assert report["mean_absolute_difference"] == pytest.approx(1.0)
    assert report["mean_a"] == pytest.approx(54 / 8) and report["mean_b"] == pytest.approx(50 / 8)
    assert report["mean_difference"] == pytest.approx(0.5)
    # Pearson: sum of products of deviations 46.5, squares 49.5 and 51.5.
    assert report["pearson"] == pytest.approx(46.5 / math.sqrt(49.5 * 51.5))
    # Spearman: average ranks x 6.5 6.5 3.5 3.5 1.5 1.5 6.5 6.5, y 5 7 3.5 3.5 2 1 8 6;
    # products of deviations 36, squares 36 and 41.5.
    assert report["spearman"] == pytest.approx(36 / math.sqrt(36 * 41.5))
    # Kendall tau-b: 20 pairs untied in x, all concordant; 27 untied in y.
    assert report["kendall_tau_b"] == pytest.approx(20 / math.sqrt(20 * 27))
    # And the same as scipy.
    assert report["pearson"] == pytest.approx(scipy.stats.pearsonr(JUDGE, EXPERTS).statistic)
    assert report["spearman"] == pytest.approx(scipy.stats.spearmanr(JUDGE, EXPERTS).statistic)
    assert report["kendall_tau_b"] == pytest.approx(
        scipy.stats.kendalltau(JUDGE, EXPERTS, variant="b").statistic
    )


def test_intervals_resample_whole_questions():
    report = score_agreement_report(_scores(), group_a=J, group_b="expert", n_resamples=300, seed=3)
    clusters = ["q1"] * 4 + ["q2"] * 4
    pairs = np.arange(8)
    x, y = np.array(JUDGE, dtype=float), np.array(EXPERTS, dtype=float)
    for name, fn in (
        ("spearman", spearman_rho),
        ("kendall_tau_b", kendall_tau_b),
        ("pearson", pearson_r),
        ("mean_absolute_difference", lambda a, b: float(np.mean(np.abs(a - b)))),
    ):
        _, low, high = bootstrap_ci(
            pairs,
            lambda idx, fn=fn: fn(x[idx], y[idx]),
            clusters=clusters,
            n_resamples=300,
            seed=3,
        )
        assert report[f"{name}_ci"] == [pytest.approx(low), pytest.approx(high)], name


def test_one_question_leaves_no_room_for_an_interval():
    # Drawing whole questions from one question always draws the same pairs.
    only_q1 = [s for s in _scores() if s.question_id == "q1"]
    report = score_agreement_report(only_q1, group_a=J, group_b="expert", n_resamples=50)
    assert report["mean_absolute_difference_ci"] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_intervals_on_continuous_scores_match_the_bootstrap_too():
    # Hundreds of distinct values: the resamples are computed on the pairs, not a table.
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    scores = []
    for i, t in enumerate(truth):
        scores.append(Score(f"q{i // 3}", f"m{i % 3}", 1, "judge", float(t + rng.normal())))
        scores.append(Score(f"q{i // 3}", f"m{i % 3}", 1, "human_1", float(t + rng.normal())))
    report = score_agreement_report(scores, group_a="judge", group_b="human", n_resamples=40)
    pairs = pair_scores(scores, group_a="judge", group_b="human")
    x = np.array([p.score_a for p in pairs])
    y = np.array([p.score_b for p in pairs])
    _, low, high = bootstrap_ci(
        np.arange(len(pairs)),
        lambda idx: spearman_rho(x[idx], y[idx]),
        clusters=[p.question_id for p in pairs],
        n_resamples=40,
    )
    assert report["spearman_ci"] == [pytest.approx(low), pytest.approx(high)]


def test_people_people_baseline_and_the_difference():
    report = score_agreement_report(
        _scores(), group_a=J, group_b="expert", categories=CATEGORIES, n_resamples=200, seed=1
    )
    difference = report["difference"]
    assert difference["reference_group"] == "expert"
    reference = difference["reference"]
    # expert_1 against expert_2: (7,9) (5,5) (4,2) (10,8).
    assert reference["n"] == 4
    assert reference["mean_absolute_difference"] == pytest.approx(1.5)
    assert reference["pearson"] == pytest.approx(20 / math.sqrt(21 * 30))
    assert reference["spearman"] == pytest.approx(0.8)  # ranks 3 2 1 4 against 4 2 1 3
    assert difference["spearman"]["value"] == pytest.approx(36 / math.sqrt(36 * 41.5) - 0.8)
    assert difference["mean_absolute_difference"]["value"] == pytest.approx(1.0 - 1.5)

    # The interval: questions drawn together for both sets, brute force.
    def stats(pairs):
        x = np.array([p[0] for p in pairs], dtype=float)
        y = np.array([p[1] for p in pairs], dtype=float)
        return spearman_rho(x, y), float(np.mean(np.abs(x - y))) if len(x) else math.nan

    judged = {
        "q1": list(zip(JUDGE[:4], EXPERTS[:4], strict=True)),
        "q2": list(zip(JUDGE[4:], EXPERTS[4:], strict=True)),
    }
    people = {"q1": [(7, 9), (5, 5)], "q2": [(4, 2), (10, 8)]}
    draws = np.random.default_rng(1).integers(0, 2, size=(200, 2))
    rho, mad = [], []
    for draw in draws:
        questions = [("q1", "q2")[d] for d in draw]
        mine = stats([p for q in questions for p in judged[q]])
        theirs = stats([p for q in questions for p in people[q]])
        rho.append(mine[0] - theirs[0])
        mad.append(mine[1] - theirs[1])
    rho = np.array(rho)
    rho = rho[~np.isnan(rho)]
    assert difference["spearman"]["ci"] == [
        pytest.approx(np.percentile(rho, 2.5)),
        pytest.approx(np.percentile(rho, 97.5)),
    ]
    assert difference["mean_absolute_difference"]["ci"] == [
        pytest.approx(np.percentile(mad, 2.5)),
        pytest.approx(np.percentile(mad, 97.5)),
    ]

    # Per category, with the category's own baseline.
    math_block = report["per_category"]["math"]
    assert math_block["n"] == 4
    assert math_block["pearson"] == pytest.approx(9 / math.sqrt(9 * 11))
    assert math_block["difference"]["reference"]["n"] == 2
    assert math_block["difference"]["pearson"]["value"] == pytest.approx(9 / math.sqrt(99) - 1)
    assert report["per_category"]["writing"]["mean_absolute_difference"] == pytest.approx(1.0)


def test_no_baseline_when_every_answer_has_one_person():
    one_expert = [s for s in _scores() if s.rater != "expert_2"]
    report = score_agreement_report(one_expert, group_a=J, group_b="expert", n_resamples=20)
    assert report["n"] == 4 and report["difference"] is None
    assert "difference" not in report["per_turn"]["1"]


def test_per_turn_breakdown():
    scores = [*_scores(), Score("q3", "m1", 2, "expert_1", 7), Score("q3", "m2", 2, J, 2)]
    scores.append(Score("q3", "m2", 2, "expert_1", 1))
    report = score_agreement_report(scores, group_a=J, group_b="expert", n_resamples=20)
    assert list(report["per_turn"]) == ["1", "2"]
    second = report["per_turn"]["2"]
    # (5, 7) and (2, 1): two answers, one rater each.
    assert second["n"] == 2 and second["mean_absolute_difference"] == pytest.approx(1.5)
    assert second["spearman"] == pytest.approx(1.0)
    assert report["per_turn"]["1"]["n"] == 8
    fixed = score_agreement_report(scores, group_a=J, group_b="expert", turn=2, n_resamples=20)
    assert fixed["n"] == 2 and "per_turn" not in fixed


def test_largest_disagreements_with_every_raters_score():
    scores = [
        *_scores(),
        Score("q4", "m1", 1, J, 10, ref=41),
        Score("q4", "m1", 1, "expert_1", 2, ref=41),
        Score("q4", "m1", 1, "expert_2", 4, ref=41),
    ]
    report = score_agreement_report(
        scores, group_a=J, group_b="expert", scale=(1, 10), n_resamples=20
    )
    # A fifth of the 1-10 scale: 1.8 points. q1/m1 (9 vs 8) and q1/m2 (6 vs 5) stay under it.
    assert report["disagreement_threshold"] == pytest.approx(1.8)
    assert report["disagreement_count"] == 1
    (row,) = report["disagreements"]
    assert (row["question_id"], row["model"], row["turn"], row["ref"]) == ("q4", "m1", 1, 41)
    assert row["scores_a"] == [{"rater": J, "score": 10}]
    assert row["scores_b"] == [
        {"rater": "expert_1", "score": 2},
        {"rater": "expert_2", "score": 4},
    ]
    assert row["difference"] == pytest.approx(7.0)

    # Within one group the spread of the raters counts, largest first.
    people = score_agreement_report(
        scores, group_a="expert", group_b="expert", scale=(1, 10), n_resamples=20
    )
    assert [(r["question_id"], r["model"], r["difference"]) for r in people["disagreements"]] == [
        ("q1", "m1", 2),
        ("q2", "m1", 2),
        ("q2", "m2", 2),
        ("q4", "m1", 2),
    ]
    assert people["disagreements"][0]["scores_b"] == []


def test_leaderboards_by_mean_score_and_their_rank_correlation():
    scores = []
    for model, judge, human in (("A", 8, 7), ("B", 6, 3), ("C", 4, 5)):
        scores.append(Score("q1", model, 1, "judge", judge))
        scores.append(Score("q1", model, 1, "human_1", human))
    report = score_agreement_report(scores, group_a="judge", group_b="human", n_resamples=10)
    boards = report["leaderboards"]
    assert [(r["model"], r["mean_score"], r["rank"]) for r in boards["judge"]] == [
        ("A", 8, 1),
        ("B", 6, 2),
        ("C", 4, 3),
    ]
    assert [r["model"] for r in boards["human"]] == ["A", "C", "B"]
    # One of the three pairs of models swapped: (2 - 1) / 3; ranks 3 2 1 vs 3 1 2.
    rank = report["rank_correlation"]
    assert rank["n_models"] == 3
    assert rank["kendall_tau_b"] == pytest.approx(1 / 3)
    assert rank["spearman"] == pytest.approx(0.5)


def test_leaderboard_means_are_over_answers_not_pairs():
    report = score_agreement_report(_scores(), group_a=J, group_b="expert", n_resamples=20)
    # judge: m1 (9 + 3) / 2, m2 (6 + 9) / 2; experts: m1 (8 + 3) / 2, m2 (5 + 9) / 2.
    assert [(r["model"], r["mean_score"]) for r in report["leaderboards"][J]] == [
        ("m2", 7.5),
        ("m1", 6.0),
    ]
    assert [(r["model"], r["mean_score"]) for r in report["leaderboards"]["expert"]] == [
        ("m2", 7.0),
        ("m1", 5.5),
    ]


def test_same_group_pairs_distinct_raters():
    report = score_agreement_report(_scores(), group_a="expert", group_b="expert", n_resamples=50)
    # (7,9) (5,5) (4,2) (10,8): |d| = 2 0 2 2.
    assert report["n"] == 4
    assert report["mean_absolute_difference"] == pytest.approx(1.5)
    assert list(report["leaderboards"]) == ["expert"]
    assert report["rank_correlation"] is None and report["difference"] is None


def test_no_pairs_gives_nulls():
    report = score_agreement_report(_scores(), group_a=J, group_b="nobody", n_resamples=10)
    json.dumps(report, allow_nan=False)
    assert report["n"] == 0 and report["pearson"] is None and report["pearson_ci"] == [None, None]
    assert report["trust"]["tone"] == "" and "no items that both" in report["trust"]["verdict"]


# --- the verdict in plain words ----------------------------------------------------------------


def _report(**overrides):
    """A score report's keys the verdict reads, for a judge that agrees well with people."""
    report = {
        "group_a": "judge",
        "group_b": "human",
        "n": 200,
        "spearman": 0.82,
        "mean_absolute_difference": 0.9,
        "mean_difference": 0.1,
        "scale": [1.0, 10.0],
        "difference": None,
        "per_category": {},
        "rank_correlation": None,
    }
    report.update(overrides)
    return report


def test_verdict_trusts_a_judge_that_orders_answers_like_people():
    trust = score_trust(_report())
    assert trust["tone"] == "ok" and trust["reasons"] == []
    assert "can stand in for people" in trust["verdict"]
    assert "Spearman 0.82" in trust["verdict"] and "0.9 points apart" in trust["verdict"]


def test_verdict_warns_below_the_people_baseline_and_names_weak_categories():
    trust = score_trust(
        _report(
            difference={
                "reference_group": "human",
                "reference": {"spearman": 0.9},
                "spearman": {"value": -0.12, "ci": [-0.2, -0.04]},
                "mean_absolute_difference": {"value": 0.6, "ci": [0.3, 0.9]},
            },
            per_category={
                "math": {"spearman": 0.3, "n": 40},
                "writing": {"spearman": 0.9, "n": 40},
                "coding": {"spearman": 0.1, "n": 4},  # too few to say
            },
        )
    )
    assert trust["tone"] != "ok"
    text = " ".join(trust["reasons"])
    assert "less like human than human order them like each other" in text
    assert "further from human's than human's are from each other, by 0.6 points" in text
    assert "In math" in text and "do not rely on the judge there" in text
    assert "writing" not in text and "coding" not in text


def test_verdict_calls_out_small_samples_offsets_and_different_rankings():
    trust = score_trust(
        _report(
            n=12,
            spearman=0.55,
            mean_difference=-2.0,
            rank_correlation={"n_models": 4, "kendall_tau_b": 0.0, "spearman": 0.2},
        )
    )
    assert trust["tone"] == "warn"
    text = " ".join(trust["reasons"])
    assert "Only 12 compared scores" in text
    assert "judge scores 2.0 points lower than human on average on the 1-10 scale" in text
    assert "order the 4 models differently" in text
    assert "not for grading a single answer" in trust["verdict"]


def test_verdict_on_poor_agreement_and_on_two_groups_of_people():
    assert score_trust(_report(spearman=0.2))["tone"] == "bad"
    people = score_trust(_report(group_a="expert", group_b="author", spearman=0.2), judge=False)
    assert people["tone"] == "bad" and "judge" not in people["verdict"]
    assert "hard to grade alike even for people" in people["verdict"]


def test_report_carries_its_verdict_and_explanations():
    report = score_agreement_report(_scores(), group_a=J, group_b="expert", n_resamples=20)
    assert report["judge"] is True
    assert report["trust"] == score_trust(report, judge=True)
    assert set(report["explain"]) >= {
        "spearman",
        "kendall_tau_b",
        "pearson",
        "mean_absolute_difference",
        "difference",
        "pairing",
    }
    people = score_agreement_report(_scores(), group_a="expert", group_b="expert", n_resamples=20)
    assert people["judge"] is False
