"""Acceptance: the MT-Bench paper's judge-vs-human agreement from the real judgments."""

import json
from pathlib import Path

import pytest

from evaluation.agreement import (
    agreement_counts,
    agreement_report,
    pair_votes,
    read_judgments,
    select_votes,
    winner_label,
)
from flywheel.stats import cohen_kappa, krippendorff_alpha

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def votes():
    human = read_judgments(DATA / "mt_bench_human_judgments" / "human.csv")
    gpt4 = read_judgments(DATA / "mt_bench_human_judgments" / "gpt4_pair.csv")
    assert (len(human.votes), len(gpt4.votes)) == (3355, 2400)
    assert human.scores == [] and gpt4.scores == []
    return human.votes + gpt4.votes


@pytest.fixture(scope="module")
def categories():
    with open(DATA / "mt_bench" / "question.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return {str(row["question_id"]): row["category"] for row in rows}


def _counts(votes, a, b, turn):
    selected = select_votes(votes, groups=[a, b], turn=turn)
    return agreement_counts(pair_votes(selected, group_a=a, group_b=b))


def test_turn_1_gpt4_vs_expert_reproduces_the_paper(votes):
    # Zheng et al. 2023, table 2: 66% with ties, 85% without (FastChat compute_agreement.py).
    assert _counts(votes, "gpt4_pair", "expert", 1) == {
        "with_ties": (886, 1343),
        "without_ties": (727, 859),
    }


def test_turn_1_expert_vs_expert_reproduces_the_paper(votes):
    assert _counts(votes, "expert", "expert", 1) == {
        "with_ties": (454, 721),
        "without_ties": (388, 479),
    }


def test_full_report_on_real_data(votes, categories):
    report = agreement_report(
        votes,
        group_a="gpt4_pair",
        group_b="expert",
        turn=1,
        categories=categories,
        n_resamples=200,
    )
    json.dumps(report, allow_nan=False)
    assert round(report["with_ties"]["agreement"], 3) == 0.660
    assert round(report["without_ties"]["agreement"], 3) == 0.846
    assert (report["with_ties"]["agree"], report["with_ties"]["n"]) == (886, 1343)
    assert (report["without_ties"]["agree"], report["without_ties"]["n"]) == (727, 859)
    ref = report["difference"]["reference"]
    assert (ref["with_ties"]["agree"], ref["with_ties"]["n"]) == (454, 721)
    assert (ref["without_ties"]["agree"], ref["without_ties"]["n"]) == (388, 479)
    assert report["difference"]["with_ties"]["value"] == pytest.approx(886 / 1343 - 454 / 721)
    low, high = report["difference"]["with_ties"]["ci"]
    assert low < 886 / 1343 - 454 / 721 < high

    # The vectorised kappa and alpha are the shared ones, on the stated label coding.
    comparisons = pair_votes(
        select_votes(votes, groups=["gpt4_pair", "expert"], turn=1),
        group_a="gpt4_pair",
        group_b="expert",
    )
    a = [winner_label(c.winner_a) for c in comparisons]
    b = [winner_label(c.winner_b) for c in comparisons]
    assert report["cohen_kappa"] == pytest.approx(
        cohen_kappa(a, b, labels=["model_a", "model_b", "tie"])
    )
    assert report["krippendorff_alpha"] == pytest.approx(
        krippendorff_alpha([list(pair) for pair in zip(a, b, strict=True)])
    )
    klow, khigh = report["cohen_kappa_ci"]
    assert klow < report["cohen_kappa"] < khigh

    # Eight MT-Bench categories; their counts add up to the whole.
    per_category = report["per_category"]
    assert len(per_category) == 8
    assert sum(c["with_ties"]["n"] for c in per_category.values()) == 1343
    assert sum(c["with_ties"]["agree"] for c in per_category.values()) == 886
    assert sum(c["without_ties"]["n"] for c in per_category.values()) == 859
    assert sum(sum(row) for row in report["confusion_matrix"]["counts"]) == 1343
    assert len(report["disagreements"]) == 1343 - 886

    # Both groups rank the six models; GPT-4 comes first for each.
    for group in ("gpt4_pair", "expert"):
        board = report["leaderboards"][group]
        assert len(board) == 6 and board[0]["model"] == "gpt-4"
    assert report["rank_correlation"]["n_models"] == 6
