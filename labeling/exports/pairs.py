"""From annotations to preference pairs: votes per annotation, then one aggregation per task.

Pure functions over plain data (no queries), so they are tested on hand-checked cases.

A *vote* is one annotator's verdict on one unordered pair of answers (a < b by id): outcome
1.0 when a is preferred, 0.0 when b is, 0.5 for a tie, with a margin. A ranking of K answers
gives K(K-1)/2 votes; a pairwise answer gives one. Aggregation across a task's annotators:

- `all`: every vote is a pair (each annotator's pairs are kept);
- `majority`: per pair, the outcome with strictly the most votes (for a, for b, tie) wins; no
  strict plurality is a tie; the margin is the mean margin of the winning votes;
- `bradley_terry`: one Bradley-Terry fit over all the task's votes; each pair is ordered by
  the fitted log-strengths and its margin is their difference.

Ties are dropped or kept (as chosen = lower id, margin 0, `tie` true) by the tie policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flywheel import stats

BT_PRIOR = 0.5  # as labeling.selectors.quality: finite strengths for an undefeated answer
TIE_EPSILON = 1e-9


@dataclass(frozen=True)
class Vote:
    a: int
    b: int
    outcome: float
    margin: float
    annotation: int  # the annotation's id (provenance)


@dataclass(frozen=True)
class Pair:
    chosen: int
    rejected: int
    margin: float
    tie: bool
    annotations: tuple[int, ...]


def ranking_votes(
    tiers: Sequence[Sequence[int]], *, ratings: Mapping[str, int] | None = None, annotation: int
) -> list[Vote]:
    """One vote per pair of ranked answers. The margin is the number of tiers between the two,
    or, when the annotator rated both answers, their rating difference (never below 0)."""
    position = {member: index for index, tier in enumerate(tiers) for member in tier}
    ratings = ratings or {}
    ordered = sorted(position)
    votes = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            gap = position[b] - position[a]
            outcome = 1.0 if gap > 0 else 0.0 if gap < 0 else 0.5
            margin = float(abs(gap))
            ra, rb = ratings.get(str(a)), ratings.get(str(b))
            if gap and ra is not None and rb is not None:
                margin = float(max((ra - rb) if gap > 0 else (rb - ra), 0))
            votes.append(Vote(a, b, outcome, margin, annotation))
    return votes


def pairwise_votes(
    payload: Mapping, *, ids: Sequence[int], both_bad: str, annotation: int
) -> list[Vote]:
    """The vote of a pairwise answer: the strength (1 when not given) is the margin; a tie is
    a tie; "both bad" is dropped, or counted as a tie when `both_bad` is "tie"."""
    a, b = sorted(ids)
    choice = payload.get("choice")
    if choice == "tie" or (choice == "both_bad" and both_bad == "tie"):
        return [Vote(a, b, 0.5, 0.0, annotation)]
    winner = payload.get("winner")
    if winner is None:
        return []
    margin = float(payload.get("strength") or 1)
    return [Vote(a, b, 1.0 if winner == a else 0.0, margin, annotation)]


def _pair(a: int, b: int, outcome: float, margin: float, annotations: tuple[int, ...]) -> Pair:
    if outcome == 0.5:
        return Pair(a, b, 0.0, True, annotations)
    if outcome > 0.5:
        return Pair(a, b, margin, False, annotations)
    return Pair(b, a, margin, False, annotations)


def votes_aggregate(votes: Sequence[Vote], *, aggregation: str, tie_policy: str) -> list[Pair]:
    """The task's pairs under an aggregation ("all", "majority", "bradley_terry")."""
    if aggregation == "all":
        pairs = [_pair(v.a, v.b, v.outcome, v.margin, (v.annotation,)) for v in votes]
    elif aggregation == "majority":
        grouped: dict[tuple[int, int], list[Vote]] = defaultdict(list)
        for vote in votes:
            grouped[(vote.a, vote.b)].append(vote)
        pairs = []
        for (a, b), group in sorted(grouped.items()):
            by_outcome: dict[float, list[Vote]] = defaultdict(list)
            for vote in group:
                by_outcome[vote.outcome].append(vote)
            counts = sorted(((len(v), o) for o, v in by_outcome.items()), reverse=True)
            strict = len(counts) == 1 or counts[0][0] > counts[1][0]
            outcome = counts[0][1] if strict else 0.5
            winners = by_outcome.get(outcome, [])
            margin = sum(v.margin for v in winners) / len(winners) if winners else 0.0
            annotations = tuple(sorted({v.annotation for v in group}))
            pairs.append(_pair(a, b, outcome, margin, annotations))
    elif aggregation == "bradley_terry":
        if not votes:
            return []
        strengths = stats.bradley_terry([(v.a, v.b, v.outcome) for v in votes], prior=BT_PRIOR)
        annotations = tuple(sorted({v.annotation for v in votes}))
        pairs = []
        for a, b in sorted({(v.a, v.b) for v in votes}):
            gap = strengths[a] - strengths[b]
            outcome = 0.5 if abs(gap) < TIE_EPSILON else 1.0 if gap > 0 else 0.0
            pairs.append(_pair(a, b, outcome, round(abs(gap), 6), annotations))
    else:
        raise ValueError(aggregation)
    if tie_policy != "keep":
        pairs = [p for p in pairs if not p.tie]
    return pairs


def task_agreement(votes: Sequence[Vote]) -> float | None:
    """Share of agreeing verdicts over every pair of annotators and every answer pair they both
    judged (as labeling's quality figures count it); None with fewer than two annotators."""
    by_pair: dict[tuple[int, int], list[Vote]] = defaultdict(list)
    for vote in votes:
        by_pair[(vote.a, vote.b)].append(vote)
    agree = compared = 0
    for group in by_pair.values():
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                if first.annotation != second.annotation:
                    compared += 1
                    agree += first.outcome == second.outcome
    return agree / compared if compared else None


def consensus_best(votes: Sequence[Vote]) -> int | None:
    """The answer a Bradley-Terry fit over the votes puts alone on top, or None on a tie."""
    if not votes:
        return None
    strengths = stats.bradley_terry([(v.a, v.b, v.outcome) for v in votes], prior=BT_PRIOR)
    order = sorted(strengths, key=lambda item: (-strengths[item], item))
    if len(order) > 1 and strengths[order[0]] - strengths[order[1]] < TIE_EPSILON:
        return None
    return order[0]
