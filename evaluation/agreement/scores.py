"""Agreement between two rater groups on single-answer scores.

Items match on (question, model, turn). A rater's repeated trials on an item are averaged
first. For two different groups each item gives one pair: the mean score of group a's raters
against the mean of group b's. For one group, every pair of distinct raters on an item is one
pair. On those pairs: Spearman, Kendall tau-b, Pearson and the mean absolute difference, with
percentile bootstrap intervals that resample whole questions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.agreement.records import Score
from evaluation.agreement.records import json_number as _num
from flywheel.stats import bootstrap_ci, kendall_tau_b, pearson_r, spearman_rho


@dataclass(frozen=True, slots=True)
class ScorePair:
    question_id: Hashable
    model: str
    turn: int
    category: str | None
    score_a: float
    score_b: float


def _mad(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(x - y))) if len(x) else math.nan


STATISTICS = {
    "spearman": spearman_rho,
    "kendall_tau_b": kendall_tau_b,
    "pearson": pearson_r,
    "mean_absolute_difference": _mad,
}


def pair_scores(
    scores: Iterable[Score],
    *,
    group_a: str,
    group_b: str,
    turn: int | None = None,
    category: str | None = None,
    categories: Mapping[Hashable, str] | None = None,
) -> list[ScorePair]:
    """The compared score pairs (see module doc), filtered to a turn and category if given."""
    # item -> group -> rater -> [scores over trials]
    items: dict[tuple, dict[str, dict[str, list[float]]]] = {}
    item_category: dict[tuple, str | None] = {}
    for s in scores:
        group = s.group
        if group not in (group_a, group_b) or (turn is not None and s.turn != turn):
            continue
        cat = s.category
        if cat is None and categories is not None:
            cat = categories.get(s.question_id)
        if category is not None and cat != category:
            continue
        key = (s.question_id, s.model, s.turn)
        item_category.setdefault(key, cat)
        items.setdefault(key, {}).setdefault(group, {}).setdefault(s.rater, []).append(s.score)
    out: list[ScorePair] = []
    for key, by_group in items.items():
        means = {
            g: {rater: sum(v) / len(v) for rater, v in sorted(raters.items())}
            for g, raters in by_group.items()
        }
        if group_a == group_b:
            own = list(means.get(group_a, {}).values())
            pairs = [(own[i], own[j]) for i in range(len(own) - 1) for j in range(i + 1, len(own))]
        elif group_a in means and group_b in means:
            a, b = means[group_a].values(), means[group_b].values()
            pairs = [(sum(a) / len(a), sum(b) / len(b))]
        else:
            pairs = []
        out.extend(ScorePair(*key, item_category[key], x, y) for x, y in pairs)
    return out


def _summary(
    pairs: Sequence[ScorePair], *, n_resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    x = np.array([p.score_a for p in pairs], dtype=float)
    y = np.array([p.score_b for p in pairs], dtype=float)
    clusters = [p.question_id for p in pairs]
    out: dict[str, Any] = {
        "n": len(pairs),
        "n_questions": len(set(clusters)),
        "mean_a": _num(float(x.mean())) if len(x) else None,
        "mean_b": _num(float(y.mean())) if len(y) else None,
    }
    for name, fn in STATISTICS.items():
        if not pairs:
            out[name], out[f"{name}_ci"] = None, [None, None]
            continue
        value, low, high = bootstrap_ci(
            np.arange(len(pairs)),
            lambda idx, fn=fn: fn(x[idx], y[idx]),
            clusters=clusters,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        out[name], out[f"{name}_ci"] = _num(value), [_num(low), _num(high)]
    return out


def score_leaderboard(pairs: Sequence[ScorePair], *, side: str) -> list[dict[str, Any]]:
    """Models by mean score of one side (``"a"`` or ``"b"``) over the compared pairs."""
    totals: dict[str, list[float]] = {}
    for p in pairs:
        totals.setdefault(p.model, []).append(p.score_a if side == "a" else p.score_b)
    board = [
        {"model": model, "mean_score": sum(v) / len(v), "n": len(v)} for model, v in totals.items()
    ]
    board.sort(key=lambda row: (-row["mean_score"], row["model"]))
    for rank, row in enumerate(board, start=1):
        row["rank"] = rank
    return board


def score_agreement_report(
    scores: Iterable[Score],
    *,
    group_a: str,
    group_b: str,
    turn: int | None = None,
    category: str | None = None,
    categories: Mapping[Hashable, str] | None = None,
    breakdowns: bool = True,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """JSON-able score agreement: headline statistics with intervals, ``per_turn`` (when no
    turn is fixed) and ``per_category`` breakdowns, and per-group model leaderboards by mean
    score with their rank correlation (two different groups only)."""
    pairs = pair_scores(
        scores,
        group_a=group_a,
        group_b=group_b,
        turn=turn,
        category=category,
        categories=categories,
    )
    options = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    report: dict[str, Any] = {
        "group_a": group_a,
        "group_b": group_b,
        "turn": turn,
        "category": category,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
        **_summary(pairs, **options),
    }
    if breakdowns:
        if turn is None:
            report["per_turn"] = {
                str(t): _summary([p for p in pairs if p.turn == t], **options)
                for t in sorted({p.turn for p in pairs})
            }
        report["per_category"] = {
            name: _summary([p for p in pairs if p.category == name], **options)
            for name in sorted({p.category for p in pairs if p.category is not None})
        }
    if group_a != group_b:
        board_a = score_leaderboard(pairs, side="a")
        board_b = score_leaderboard(pairs, side="b")
        rate_b = {row["model"]: row["mean_score"] for row in board_b}
        xs = [row["mean_score"] for row in board_a]
        ys = [rate_b[row["model"]] for row in board_a]
        report["leaderboards"] = {group_a: board_a, group_b: board_b}
        report["rank_correlation"] = {
            "n_models": len(board_a),
            "kendall_tau_b": _num(kendall_tau_b(xs, ys)),
            "spearman": _num(spearman_rho(xs, ys)),
        }
    else:
        report["leaderboards"] = None
        report["rank_correlation"] = None
    return report
