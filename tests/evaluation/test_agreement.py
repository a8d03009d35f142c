"""Pairwise agreement between rater groups on small hand-computed cases."""

import json
import math

import pytest

from evaluation.agreement import (
    KAPPA_CODING,
    Vote,
    agreement_counts,
    agreement_report,
    flip_winner,
    leaderboard,
    pair_votes,
    rater_group,
    select_votes,
    winner_label,
)
from evaluation.agreement.pairwise import _alpha, _codes, _kappa
from flywheel.stats import cohen_kappa, krippendorff_alpha

JUDGE = "gpt4_pair"


def _votes():
    return [
        # q1, m1 vs m2: judge m1; expert_1 m1; expert_2 m1 (listed reversed); expert_3 tie.
        Vote("q1", "m1", "m2", "model_a", JUDGE, 1, ref="j1"),
        Vote("q1", "m1", "m2", "model_a", "expert_1", 1, ref="h1"),
        Vote("q1", "m2", "m1", "model_b", "expert_2", 1, ref="h2"),
        Vote("q1", "m1", "m2", "tie", "expert_3", 1, ref="h3"),
        # q2, m1 vs m3: two different kinds of tie agree with ties, drop out without.
        Vote("q2", "m1", "m3", "tie (inconsistent)", JUDGE, 1),
        Vote("q2", "m1", "m3", "tie (bothbad)", "expert_1", 1),
        # q2 turn 2: judged by the judge only, so never compared.
        Vote("q2", "m1", "m3", "model_a", JUDGE, 2),
        # q3, m2 vs m3: the judge says m2 (listed reversed), expert_1 says m3.
        Vote("q3", "m3", "m2", "model_b", JUDGE, 1, ref="j3"),
        Vote("q3", "m2", "m3", "model_b", "expert_1", 1, ref="h4"),
        # An author vote is another group and never enters judge-vs-expert.
        Vote("q3", "m2", "m3", "model_a", "author_1", 1),
    ]


CATEGORIES = {"q1": "writing", "q2": "math", "q3": "math"}


def test_rater_group_drops_a_trailing_number_only():
    assert rater_group("expert_12") == "expert"
    assert rater_group("author_3") == "author"
    assert rater_group("gpt4_pair") == "gpt4_pair"
    assert rater_group("human") == "human"
    assert rater_group("gpt-4_v2_7") == "gpt-4_v2"


def test_winner_helpers():
    assert flip_winner("model_a") == "model_b"
    assert flip_winner("model_b") == "model_a"
    assert flip_winner("tie (bothbad)") == "tie (bothbad)"
    assert winner_label("tie (inconsistent)") == "tie"
    assert winner_label("model_b") == "model_b"


def test_judge_vs_group_counts_match_hand_computation():
    comparisons = pair_votes(_votes(), group_a=JUDGE, group_b="expert")
    # q1: (a,a) (a,a) (a,tie); q2: (tie,tie); q3: (a,b) -> with ties 3/5, without 2/3.
    assert agreement_counts(comparisons) == {"with_ties": (3, 5), "without_ties": (2, 3)}
    q3 = next(c for c in comparisons if c.question_id == "q3")
    assert (q3.model_a, q3.model_b, q3.winner_a, q3.winner_b) == ("m2", "m3", "model_a", "model_b")


def test_same_group_compares_distinct_raters_only():
    votes = [*_votes(), Vote("q1", "m1", "m2", "model_b", "expert_1", 1)]  # a second vote
    comparisons = pair_votes(votes, group_a="expert", group_b="expert")
    pairs = {(c.rater_a, c.rater_b) for c in comparisons}
    assert all(a != b for a, b in pairs)
    # q1 raters 1,1,2,3: pairs (1,2) (1,3) (1,2) (1,3) (2,3); nothing else has two raters.
    assert len(comparisons) == 5
    # agree: (a,a)=1 (a,tie)=0 (b,a)=0 (b,tie)=0 (a,tie)=0 -> 1/5; without ties: 1/2.
    assert agreement_counts(comparisons) == {"with_ties": (1, 5), "without_ties": (1, 2)}


def test_vectorised_kappa_and_alpha_equal_the_shared_statistics():
    comparisons = pair_votes(_votes(), group_a=JUDGE, group_b="expert")
    a, b = _codes(comparisons)
    labels_a = [winner_label(c.winner_a) for c in comparisons]
    labels_b = [winner_label(c.winner_b) for c in comparisons]
    # Table rows judge A:4 (A2 T1 B1), T:1; columns A2 B1 T2; p_o 3/5, p_e 10/25 -> 1/3.
    assert _kappa(a, b) == pytest.approx(1 / 3)
    assert _kappa(a, b) == pytest.approx(
        cohen_kappa(labels_a, labels_b, labels=["model_a", "model_b", "tie"])
    )
    # Coincidences n_A=6 n_T=3 n_B=1, n=10, 4 off-diagonal: 1 - 9*4/54 = 1/3.
    assert _alpha(a, b) == pytest.approx(1 / 3)
    units = [[x, y] for x, y in zip(labels_a, labels_b, strict=True)]
    assert _alpha(a, b) == pytest.approx(krippendorff_alpha(units))


def test_report_headline_difference_and_breakdowns():
    report = agreement_report(
        _votes(), group_a=JUDGE, group_b="expert", categories=CATEGORIES, n_resamples=200
    )
    json.dumps(report, allow_nan=False)  # JSON-able, no NaN
    assert report["with_ties"]["agreement"] == pytest.approx(3 / 5)
    assert (report["with_ties"]["agree"], report["with_ties"]["n"]) == (3, 5)
    assert report["without_ties"]["agreement"] == pytest.approx(2 / 3)
    assert (report["without_ties"]["agree"], report["without_ties"]["n"]) == (2, 3)
    assert report["cohen_kappa"] == pytest.approx(1 / 3)
    assert report["krippendorff_alpha"] == pytest.approx(1 / 3)
    assert report["cohen_kappa_coding"] == KAPPA_CODING
    low, high = report["with_ties"]["ci"]
    assert low <= 3 / 5 <= high
    assert report["n_items"] == 3 and report["n_questions"] == 3

    diff = report["difference"]
    assert diff["reference_group"] == "expert"
    # expert-expert on q1: (1,2) agree, (1,3) and (2,3) a vs tie -> 1/3; without ties 1/1.
    assert diff["reference"]["with_ties"] == {"agreement": 1 / 3, "agree": 1, "n": 3}
    assert diff["with_ties"]["value"] == pytest.approx(3 / 5 - 1 / 3)
    assert diff["without_ties"]["value"] == pytest.approx(2 / 3 - 1)

    assert set(report["per_turn"]) == {"1"}
    math_ = report["per_category"]["math"]
    assert (math_["with_ties"]["agree"], math_["with_ties"]["n"]) == (1, 2)
    assert (math_["without_ties"]["agree"], math_["without_ties"]["n"]) == (0, 1)
    writing = report["per_category"]["writing"]
    assert (writing["with_ties"]["agree"], writing["with_ties"]["n"]) == (2, 3)
    assert set(report["per_category"]) == {"math", "writing"}


def test_report_confusion_matrix_and_disagreements():
    report = agreement_report(_votes(), group_a=JUDGE, group_b="expert", n_resamples=50)
    cm = report["confusion_matrix"]
    assert (cm["rows"], cm["columns"], cm["labels"]) == (
        JUDGE,
        "expert",
        ["model_a", "model_b", "tie"],
    )
    assert cm["counts"] == [[2, 1, 1], [0, 0, 0], [0, 0, 1]]
    found = {
        (d["question_id"], d["rater_b"], d["winner_a"], d["winner_b"])
        for d in report["disagreements"]
    }
    assert found == {("q1", "expert_3", "model_a", "tie"), ("q3", "expert_1", "model_a", "model_b")}
    q3 = next(d for d in report["disagreements"] if d["question_id"] == "q3")
    assert (q3["ref_a"], q3["ref_b"], q3["model_a"], q3["model_b"], q3["turn"]) == (
        "j3",
        "h4",
        "m2",
        "m3",
        1,
    )


def test_report_leaderboards_on_compared_items_and_rank_correlation():
    report = agreement_report(_votes(), group_a=JUDGE, group_b="expert", n_resamples=50)
    judge = {row["model"]: row for row in report["leaderboards"][JUDGE]}
    expert = {row["model"]: row for row in report["leaderboards"]["expert"]}
    # The judge's turn-2 vote is on an item nobody else judged, so it is not counted.
    assert {m: r["win_rate"] for m, r in judge.items()} == {"m1": 0.75, "m2": 0.5, "m3": 0.25}
    assert {m: r["win_rate"] for m, r in expert.items()} == {"m1": 0.75, "m2": 0.125, "m3": 0.75}
    assert (expert["m2"]["wins"], expert["m2"]["ties"], expert["m2"]["losses"]) == (0, 1, 3)
    assert [r["model"] for r in report["leaderboards"][JUDGE]] == ["m1", "m2", "m3"]
    # Pairs (m1,m2) concordant, (m1,m3) tied in expert, (m2,m3) discordant -> S = 0.
    assert report["rank_correlation"] == {"n_models": 3, "kendall_tau_b": 0.0, "spearman": 0.0}


def test_report_filters_turn_and_category():
    report = agreement_report(
        _votes(),
        group_a=JUDGE,
        group_b="expert",
        turn=1,
        category="math",
        categories=CATEGORIES,
        n_resamples=50,
    )
    assert (report["with_ties"]["agree"], report["with_ties"]["n"]) == (1, 2)
    assert "per_turn" not in report
    assert set(report["per_category"]) == {"math"}


def test_category_on_the_vote_wins_over_the_mapping():
    votes = [Vote("q1", "m1", "m2", "model_a", JUDGE, 1, category="coding"), *_votes()[1:3]]
    assert (
        len(select_votes(votes, groups=[JUDGE, "expert"], category="coding", categories=CATEGORIES))
        == 1
    )


def test_same_group_report_has_no_difference_and_one_leaderboard():
    report = agreement_report(_votes(), group_a="expert", group_b="expert", n_resamples=50)
    assert (report["with_ties"]["agree"], report["with_ties"]["n"]) == (1, 3)
    assert report["difference"] is None
    assert list(report["leaderboards"]) == ["expert"]
    assert report["rank_correlation"] is None


def test_empty_report_is_json_with_nulls():
    report = agreement_report(_votes(), group_a=JUDGE, group_b="nobody", n_resamples=20)
    json.dumps(report, allow_nan=False)
    assert report["with_ties"] == {"agreement": None, "agree": 0, "n": 0, "ci": [None, None]}
    assert report["cohen_kappa"] is None
    assert report["disagreements"] == []


def test_leaderboard_counts_ties_as_half():
    board = leaderboard(
        [Vote("q", "x", "y", "tie", "r", 1), Vote("q", "x", "y", "model_a", "r", 1)]
    )
    assert [(r["model"], r["win_rate"], r["rank"]) for r in board] == [
        ("x", 0.75, 1),
        ("y", 0.25, 2),
    ]
    assert math.isclose(sum(r["win_rate"] * r["n"] for r in board), 2)
