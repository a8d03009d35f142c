"""Ranking-to-pairs expansion on hand-checked cases: ties, margins, three annotators under
each aggregation."""

from labeling.exports.pairs import (
    Pair,
    consensus_best,
    pairwise_votes,
    ranking_votes,
    task_agreement,
    votes_aggregate,
)


def pairs(votes, aggregation="all", tie_policy="drop"):
    return [
        (p.chosen, p.rejected, p.margin, p.tie)
        for p in votes_aggregate(votes, aggregation=aggregation, tie_policy=tie_policy)
    ]


def test_ranking_of_four_gives_six_ordered_pairs_with_rank_distance():
    votes = ranking_votes([[3], [1], [4], [2]], annotation=9)
    # Places: 3 first, 1 second, 4 third, 2 fourth; pairs come in id order of (low, high).
    assert pairs(votes) == [
        (1, 2, 2.0, False),
        (3, 1, 1.0, False),
        (1, 4, 1.0, False),
        (3, 2, 3.0, False),
        (4, 2, 1.0, False),
        (3, 4, 2.0, False),
    ]


def test_ties_are_dropped_or_kept_marked():
    votes = ranking_votes([[1, 2], [3]], annotation=1)
    assert pairs(votes) == [(1, 3, 1.0, False), (2, 3, 1.0, False)]
    assert pairs(votes, tie_policy="keep") == [
        (1, 2, 0.0, True),
        (1, 3, 1.0, False),
        (2, 3, 1.0, False),
    ]


def test_ratings_replace_rank_distance_and_never_go_negative():
    votes = ranking_votes([[1], [2], [3]], ratings={"1": 5, "2": 2, "3": 3}, annotation=1)
    # 1 over 2: 5-2; 1 over 3: 5-3; 2 over 3 ranked but rated lower: 0.
    assert pairs(votes) == [(1, 2, 3.0, False), (1, 3, 2.0, False), (2, 3, 0.0, False)]


def test_pairwise_strength_is_the_margin_and_both_bad_follows_policy():
    assert pairs(
        pairwise_votes(
            {"choice": "b", "winner": 8, "loser": 7, "strength": 3},
            ids=[7, 8],
            both_bad="drop",
            annotation=1,
        )
    ) == [(8, 7, 3.0, False)]
    assert pairs(
        pairwise_votes(
            {"choice": "a", "winner": 7, "loser": 8, "strength": None},
            ids=[7, 8],
            both_bad="drop",
            annotation=1,
        )
    ) == [(7, 8, 1.0, False)]
    both_bad = {"choice": "both_bad", "winner": None, "loser": None, "strength": None}
    assert pairwise_votes(both_bad, ids=[7, 8], both_bad="drop", annotation=1) == []
    assert pairs(
        pairwise_votes(both_bad, ids=[7, 8], both_bad="tie", annotation=1), tie_policy="keep"
    ) == [(7, 8, 0.0, True)]


# Three annotators rank answers 1, 2, 3:
#   ann 10: 1 > 2 > 3      ann 11: 1 > 3 > 2      ann 12: 2 > 1 = 3
THREE = (
    ranking_votes([[1], [2], [3]], annotation=10)
    + ranking_votes([[1], [3], [2]], annotation=11)
    + ranking_votes([[2], [1, 3]], annotation=12)
)


def test_three_annotators_all_keeps_every_annotators_pairs():
    got = votes_aggregate(THREE, aggregation="all", tie_policy="drop")
    assert len(got) == 3 + 3 + 2  # the tie 1 = 3 of annotator 12 is dropped
    assert Pair(2, 1, 1.0, False, (12,)) in got
    assert Pair(3, 2, 1.0, False, (11,)) in got


def test_three_annotators_majority_per_pair():
    # 1 vs 2: 1 wins twice (margins 1, 2), 2 once -> 1 > 2, margin 1.5
    # 1 vs 3: 1 wins twice (margins 2, 1), tie once -> 1 > 3, margin 1.5
    # 2 vs 3: 2 wins (ann 10, 12), 3 wins (ann 11) -> 2 > 3, margin (1 + 1) / 2
    assert pairs(THREE, aggregation="majority") == [
        (1, 2, 1.5, False),
        (1, 3, 1.5, False),
        (2, 3, 1.0, False),
    ]
    # One for, one against, one tie: no strict plurality, so a tie.
    split = (
        ranking_votes([[1], [2]], annotation=1)
        + ranking_votes([[2], [1]], annotation=2)
        + ranking_votes([[1, 2]], annotation=3)
    )
    assert pairs(split, aggregation="majority") == []
    assert pairs(split, aggregation="majority", tie_policy="keep") == [(1, 2, 0.0, True)]


def test_three_annotators_bradley_terry_consensus():
    got = votes_aggregate(THREE, aggregation="bradley_terry", tie_policy="drop")
    order = [(p.chosen, p.rejected) for p in got]
    # 1 wins 4.5 of its 6 comparisons, 2 wins 3, 3 wins 1.5: 1 > 2 > 3.
    assert order == [(1, 2), (1, 3), (2, 3)]
    margins = {(p.chosen, p.rejected): p.margin for p in got}
    assert all(m > 0 for m in margins.values())
    assert abs(margins[(1, 3)] - (margins[(1, 2)] + margins[(2, 3)])) < 1e-5
    assert all(p.annotations == (10, 11, 12) for p in got)
    assert consensus_best(THREE) == 1


def test_agreement_counts_matching_verdicts_between_annotators():
    # Pairs judged by all three: (1,2): F,F,A -> 1 of 3 pairs agree; (1,3): F,F,T -> 1 of 3;
    # (2,3): F,A,F -> 1 of 3. Total 3 of 9.
    assert task_agreement(THREE) == 3 / 9
    assert task_agreement(ranking_votes([[1], [2]], annotation=1)) is None
