"""A report with nothing to compare says so and what to do, in no colour: it used to give the
red "do not use the judge" verdict on zero votes (a run before any human vote, a category
that matches nothing, a group of one rater against itself)."""

from evaluation.agreement.verdicts import pairwise_trust, score_trust


def empty_pairwise(a, b):
    return {
        "group_a": a,
        "group_b": b,
        "with_ties": {"agreement": None, "n": 0},
        "without_ties": {"agreement": None, "n": 0},
        "cohen_kappa": None,
        "per_category": {},
    }


def test_no_shared_votes_is_no_verdict_with_what_to_do():
    verdict = pairwise_trust(empty_pairwise("judge", "human"))
    assert verdict["tone"] == ""
    assert verdict["verdict"].startswith("There are no items that both judge and human voted on")
    assert "Send the items to human raters" in verdict["verdict"]
    assert "do not use" not in verdict["verdict"]


def test_a_group_against_itself_needs_two_raters_per_item():
    verdict = pairwise_trust(empty_pairwise("gpt4_pair", "gpt4_pair"))
    assert verdict["tone"] == ""
    assert "No item has two different raters of gpt4_pair" in verdict["verdict"]


def test_scores_without_shared_answers_or_without_spread():
    report = {"group_a": "judge", "group_b": "human", "n": 0, "spearman": None}
    verdict = score_trust(report)
    assert (
        verdict["tone"] == "" and "no items that both judge and human scored" in verdict["verdict"]
    )
    verdict = score_trust({**report, "n": 5})
    assert verdict["tone"] == "" and "no spread" in verdict["verdict"]
