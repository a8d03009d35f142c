"""Agreement between two rater groups on pairwise votes, following FastChat's
``fastchat/llm_judge/compute_agreement.py`` (the MT-Bench paper's numbers).

Items match on (question, model pair in either order, turn); a vote given with the models the
other way round is flipped. Every kind of tie is one label, ``tie``. For two different groups
every vote of group a on an item is compared with every vote of group b on it; for one group,
every pair of votes on an item by two distinct raters is compared. "With ties" counts all
compared pairs; "without ties" only pairs where both sides chose a winner.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.agreement.records import (
    MODEL_A,
    MODEL_B,
    TIE,
    Vote,
    looks_like_judge,
    winner_label,
)
from evaluation.agreement.records import json_number as _num
from evaluation.agreement.verdicts import PAIRWISE_EXPLAIN, pairwise_trust
from flywheel.stats import bootstrap_ci, kendall_tau_b, spearman_rho

LABELS = (MODEL_A, MODEL_B, TIE)
_CODE = {label: i for i, label in enumerate(LABELS)}
_TIE_CODE = _CODE[TIE]

KAPPA_CODING = (
    "three labels per compared pair, with the two models in alphabetical order: 'model_a' = "
    "the alphabetically first model won, 'model_b' = the other won, 'tie' = any kind of tie"
)
ALPHA_UNITS = "nominal level, one unit per compared pair of votes (the same pairs as the agreement)"


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two votes on the same item, both oriented so that ``model_a`` sorts first."""

    question_id: Hashable
    model_a: str
    model_b: str
    turn: int
    category: str | None
    rater_a: str
    winner_a: str
    rater_b: str
    winner_b: str
    ref_a: Hashable | None = None
    ref_b: Hashable | None = None

    @property
    def agrees(self) -> bool:
        return winner_label(self.winner_a) == winner_label(self.winner_b)

    @property
    def decisive(self) -> bool:
        return winner_label(self.winner_a) != TIE and winner_label(self.winner_b) != TIE


def _category(vote: Vote, categories: Mapping[Hashable, str] | None) -> str | None:
    if vote.category is not None:
        return vote.category
    return None if categories is None else categories.get(vote.question_id)


def select_votes(
    votes: Iterable[Vote],
    *,
    groups: Sequence[str],
    turn: int | None = None,
    category: str | None = None,
    categories: Mapping[Hashable, str] | None = None,
) -> list[Vote]:
    """The votes of the given groups, on the turn and category asked for (None = all);
    categories come from the vote or else from ``categories`` (question id -> category)."""
    out = []
    for vote in votes:
        if vote.group not in groups:
            continue
        if turn is not None and vote.turn != turn:
            continue
        if category is not None and _category(vote, categories) != category:
            continue
        out.append(vote)
    return out


def pair_votes(
    votes: Iterable[Vote],
    *,
    group_a: str,
    group_b: str,
    categories: Mapping[Hashable, str] | None = None,
) -> list[Comparison]:
    """Every compared pair of votes between ``group_a`` and ``group_b`` (see module doc)."""
    items: dict[tuple, dict[str, list[tuple[str, str, Vote]]]] = {}
    for vote in votes:
        group = vote.group
        if group not in (group_a, group_b):
            continue
        key, winner = vote.canonical()
        items.setdefault(key, {}).setdefault(group, []).append((vote.rater, winner, vote))
    out: list[Comparison] = []
    for (question_id, model_a, model_b, turn), by_group in items.items():
        if group_a == group_b:
            own = by_group.get(group_a, [])
            pairs = [
                (own[i], own[j])
                for i in range(len(own) - 1)
                for j in range(i + 1, len(own))
                if own[i][0] != own[j][0]
            ]
        else:
            pairs = [
                (first, second)
                for first in by_group.get(group_a, [])
                for second in by_group.get(group_b, [])
            ]
        for (rater_a, winner_a, vote_a), (rater_b, winner_b, vote_b) in pairs:
            out.append(
                Comparison(
                    question_id=question_id,
                    model_a=model_a,
                    model_b=model_b,
                    turn=turn,
                    category=_category(vote_a, categories) or _category(vote_b, categories),
                    rater_a=rater_a,
                    winner_a=winner_a,
                    rater_b=rater_b,
                    winner_b=winner_b,
                    ref_a=vote_a.ref,
                    ref_b=vote_b.ref,
                )
            )
    return out


def agreement_counts(comparisons: Sequence[Comparison]) -> dict[str, tuple[int, int]]:
    """``{"with_ties": (agree, n), "without_ties": (agree, n)}``, FastChat's two counts."""
    agree = sum(c.agrees for c in comparisons)
    decisive = [c for c in comparisons if c.decisive]
    return {
        "with_ties": (agree, len(comparisons)),
        "without_ties": (sum(c.agrees for c in decisive), len(decisive)),
    }


# --- vectorised statistics on label codes (the bootstrap calls them thousands of times) ----


def _codes(comparisons: Sequence[Comparison]) -> tuple[np.ndarray, np.ndarray]:
    a = np.fromiter((_CODE[winner_label(c.winner_a)] for c in comparisons), dtype=np.int64)
    b = np.fromiter((_CODE[winner_label(c.winner_b)] for c in comparisons), dtype=np.int64)
    return a, b


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b)) if len(a) else math.nan


def _agreement_decisive(a: np.ndarray, b: np.ndarray) -> float:
    mask = (a != _TIE_CODE) & (b != _TIE_CODE)
    return float(np.mean(a[mask] == b[mask])) if mask.any() else math.nan


def _table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    k = len(LABELS)
    return np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(float)


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa; equals ``flywheel.stats.cohen_kappa`` with labels=LABELS (tested)."""
    n = len(a)
    if n == 0:
        return math.nan
    table = _table(a, b)
    p_o = np.trace(table) / n
    p_e = float(table.sum(axis=1) @ table.sum(axis=0)) / (n * n)
    return math.nan if math.isclose(p_e, 1.0) else float((p_o - p_e) / (1.0 - p_e))


def _alpha(a: np.ndarray, b: np.ndarray) -> float:
    """Nominal Krippendorff's alpha with one two-value unit per pair; equals
    ``flywheel.stats.krippendorff_alpha`` on those units (tested)."""
    if len(a) == 0:
        return math.nan
    table = _table(a, b)
    coincidence = table + table.T
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    disagree = coincidence.sum() - np.trace(coincidence)
    expected = n_c.sum() ** 2 - float((n_c * n_c).sum())
    if expected == 0:
        return math.nan
    return float(1.0 - (n - 1.0) * disagree / expected)


class _Bootstrap:
    """Percentile intervals for statistics of (a, b) code arrays, resampling questions."""

    def __init__(
        self,
        comparisons: Sequence[Comparison],
        *,
        n_resamples: int,
        confidence: float,
        seed: int,
    ) -> None:
        self.a, self.b = _codes(comparisons)
        self.clusters = [c.question_id for c in comparisons]
        self.index = np.arange(len(comparisons))
        self.options = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}

    def __call__(self, fn) -> tuple[float | None, float | None, float | None]:
        if len(self.index) == 0:
            return None, None, None
        estimate, low, high = bootstrap_ci(
            self.index,
            lambda idx: fn(self.a[idx], self.b[idx]),
            clusters=self.clusters,
            **self.options,
        )
        return _num(estimate), _num(low), _num(high)


def _headline(
    comparisons: Sequence[Comparison], *, n_resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    boot = _Bootstrap(comparisons, n_resamples=n_resamples, confidence=confidence, seed=seed)
    counts = agreement_counts(comparisons)
    with_ties, low, high = boot(_agreement)
    without_ties, low_d, high_d = boot(_agreement_decisive)
    kappa, kappa_low, kappa_high = boot(_kappa)
    alpha, alpha_low, alpha_high = boot(_alpha)
    return {
        "n_items": len({(c.question_id, c.model_a, c.model_b, c.turn) for c in comparisons}),
        "n_questions": len({c.question_id for c in comparisons}),
        "with_ties": {
            "agreement": with_ties,
            "agree": counts["with_ties"][0],
            "n": counts["with_ties"][1],
            "ci": [low, high],
        },
        "without_ties": {
            "agreement": without_ties,
            "agree": counts["without_ties"][0],
            "n": counts["without_ties"][1],
            "ci": [low_d, high_d],
        },
        "cohen_kappa": kappa,
        "cohen_kappa_ci": [kappa_low, kappa_high],
        "krippendorff_alpha": alpha,
        "krippendorff_alpha_ci": [alpha_low, alpha_high],
    }


def _difference(
    judged: Sequence[Comparison],
    reference: Sequence[Comparison],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """agreement(judged) - agreement(reference), resampling questions jointly for both."""
    both = [*judged, *reference]
    a, b = _codes(both)
    in_judged = np.zeros(len(both), dtype=bool)
    in_judged[: len(judged)] = True
    out: dict[str, Any] = {}
    for name, fn in (("with_ties", _agreement), ("without_ties", _agreement_decisive)):

        def statistic(idx: np.ndarray, fn=fn) -> float:
            first = idx[in_judged[idx]]
            second = idx[~in_judged[idx]]
            return fn(a[first], b[first]) - fn(a[second], b[second])

        if not judged or not reference:
            out[name] = {"value": None, "ci": [None, None]}
            continue
        value, low, high = bootstrap_ci(
            np.arange(len(both)),
            statistic,
            clusters=[c.question_id for c in both],
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        out[name] = {"value": _num(value), "ci": [_num(low), _num(high)]}
    return out


def confusion_matrix(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """Counts of (group a label, group b label), labels in ``LABELS`` order."""
    a, b = _codes(comparisons)
    return {"labels": list(LABELS), "counts": _table(a, b).astype(int).tolist()}


def disagreements(comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    """Every compared pair whose labels differ, with the item key and both votes."""
    return [
        {
            "question_id": c.question_id,
            "model_a": c.model_a,
            "model_b": c.model_b,
            "turn": c.turn,
            "category": c.category,
            "rater_a": c.rater_a,
            "winner_a": c.winner_a,
            "ref_a": c.ref_a,
            "rater_b": c.rater_b,
            "winner_b": c.winner_b,
            "ref_b": c.ref_b,
        }
        for c in comparisons
        if not c.agrees
    ]


def leaderboard(votes: Iterable[Vote]) -> list[dict[str, Any]]:
    """Models by win rate over the given votes, a tie counting half a win."""
    tally: dict[str, list[float]] = {}  # model -> [wins, ties, losses]
    for vote in votes:
        label = winner_label(vote.winner)
        for model, won in ((vote.model_a, MODEL_A), (vote.model_b, MODEL_B)):
            row = tally.setdefault(model, [0, 0, 0])
            if label == TIE:
                row[1] += 1
            elif label == won:
                row[0] += 1
            else:
                row[2] += 1
    board = []
    for model, (wins, ties, losses) in tally.items():
        n = wins + ties + losses
        board.append(
            {
                "model": model,
                "wins": wins,
                "ties": ties,
                "losses": losses,
                "n": n,
                "win_rate": (wins + 0.5 * ties) / n,
            }
        )
    board.sort(key=lambda row: (-row["win_rate"], row["model"]))
    for rank, row in enumerate(board, start=1):
        row["rank"] = rank
    return board


def rank_correlation(
    board_a: Sequence[Mapping[str, Any]], board_b: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Kendall tau-b and Spearman between two leaderboards' win rates, on common models."""
    rate_b = {row["model"]: row["win_rate"] for row in board_b}
    common = [row for row in board_a if row["model"] in rate_b]
    x = [row["win_rate"] for row in common]
    y = [rate_b[row["model"]] for row in common]
    return {
        "n_models": len(common),
        "kendall_tau_b": _num(kendall_tau_b(x, y)),
        "spearman": _num(spearman_rho(x, y)),
    }


def agreement_report(
    votes: Iterable[Vote],
    *,
    group_a: str,
    group_b: str,
    turn: int | None = None,
    category: str | None = None,
    categories: Mapping[Hashable, str] | None = None,
    reference_group: str | None = None,
    breakdowns: bool = True,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The full JSON-able agreement report between two rater groups.

    ``reference_group`` is the group whose agreement with itself is the baseline for
    ``difference`` (judge-human minus human-human); it defaults to ``group_b`` when the groups
    differ. ``breakdowns`` adds ``per_turn`` (when no turn is fixed) and ``per_category``.
    Intervals are percentile bootstrap intervals that resample whole questions.

    Keys: ``with_ties`` / ``without_ties`` ``{agreement, agree, n, ci: [low, high]}``;
    ``cohen_kappa``, ``cohen_kappa_ci``, ``cohen_kappa_coding``; ``krippendorff_alpha``,
    ``krippendorff_alpha_ci``, ``krippendorff_alpha_units``; ``n_items``, ``n_questions``;
    ``difference`` (``None`` or ``{reference_group, reference: {with_ties, without_ties},
    with_ties: {value, ci}, without_ties: {value, ci}}``); ``per_turn`` and ``per_category``
    (turn or category -> the headline keys above, categories also with ``difference``);
    ``confusion_matrix`` ``{rows, columns, labels, counts}``; ``disagreements`` (list of item
    key + both raters, winners and refs); ``leaderboards`` (group -> rows of model, wins, ties,
    losses, n, win_rate, rank, on the compared items); ``rank_correlation``
    (``{n_models, kendall_tau_b, spearman}`` or ``None`` for one group); ``judge`` (is either
    group an LLM judge), ``trust`` ``{verdict, reasons, tone}`` and ``explain`` (plain words
    per number, see ``verdicts``). Undefined numbers are ``None``.
    """
    if reference_group is None and group_a != group_b:
        reference_group = group_b
    groups = {group_a, group_b} | ({reference_group} if reference_group else set())
    selected = select_votes(
        votes, groups=sorted(groups), turn=turn, category=category, categories=categories
    )
    options = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    comparisons = pair_votes(selected, group_a=group_a, group_b=group_b, categories=categories)

    report: dict[str, Any] = {
        "group_a": group_a,
        "group_b": group_b,
        "turn": turn,
        "category": category,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
        **_headline(comparisons, **options),
        "cohen_kappa_coding": KAPPA_CODING,
        "krippendorff_alpha_units": ALPHA_UNITS,
    }

    reference: list[Comparison] = []
    if reference_group is not None and group_a != group_b:
        reference = pair_votes(
            selected, group_a=reference_group, group_b=reference_group, categories=categories
        )
        counts = agreement_counts(reference)
        report["difference"] = {
            "reference_group": reference_group,
            "reference": {
                "with_ties": _rate(*counts["with_ties"]),
                "without_ties": _rate(*counts["without_ties"]),
            },
            **_difference(comparisons, reference, **options),
        }
    else:
        report["difference"] = None

    if breakdowns:
        if turn is None:
            report["per_turn"] = {
                str(t): _headline([c for c in comparisons if c.turn == t], **options)
                for t in sorted({c.turn for c in comparisons})
            }
        report["per_category"] = {
            name: _breakdown_category(comparisons, reference, name, options)
            for name in sorted({c.category for c in comparisons if c.category is not None})
        }

    report["confusion_matrix"] = {
        "rows": group_a,
        "columns": group_b,
        **confusion_matrix(comparisons),
    }
    report["disagreements"] = disagreements(comparisons)

    # Leaderboards on the items that were compared, so both groups judge the same matches.
    compared = {(c.question_id, c.model_a, c.model_b, c.turn) for c in comparisons}
    shared = [v for v in selected if v.canonical()[0] in compared]
    boards = {group: leaderboard(v for v in shared if v.group == group) for group in groups}
    report["leaderboards"] = {g: boards[g] for g in dict.fromkeys([group_a, group_b])}
    report["rank_correlation"] = (
        rank_correlation(boards[group_a], boards[group_b]) if group_a != group_b else None
    )
    report["judge"] = looks_like_judge(group_a) or looks_like_judge(group_b)
    report["explain"] = PAIRWISE_EXPLAIN
    report["trust"] = pairwise_trust(report, judge=report["judge"])
    return report


def _rate(agree: int, n: int) -> dict[str, Any]:
    return {"agreement": agree / n if n else None, "agree": agree, "n": n}


def _breakdown_category(
    comparisons: Sequence[Comparison],
    reference: Sequence[Comparison],
    name: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    mine = [c for c in comparisons if c.category == name]
    out = _headline(mine, **options)
    if reference:
        theirs = [c for c in reference if c.category == name]
        out["difference"] = _difference(mine, theirs, **options)
    return out
