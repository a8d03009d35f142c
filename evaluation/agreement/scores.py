"""Agreement between two rater groups on single-answer scores.

Items match on (question, model, turn). A rater's repeated trials on an item are averaged
first. For two different groups every rater of group a on an item is compared with every rater
of group b on it, as the pairwise report compares every vote with every vote: the judge is
held to the standard of one more person, and the baseline is every two distinct raters of the
reference group (people) on an item. On those pairs: Spearman, Kendall tau-b, Pearson and the
mean absolute difference, with percentile bootstrap intervals that resample whole questions;
the difference judge-people minus people-people draws the questions of both sets together.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.agreement.records import Score, looks_like_judge
from evaluation.agreement.records import json_number as _num
from evaluation.agreement.verdicts import SCORE_EXPLAIN, score_trust
from flywheel.stats import kendall_tau_b, kendall_tau_b_table, pearson_r, spearman_rho

# An answer counts as a disagreement when the groups' mean scores differ by at least this
# share of the scale (1.8 points on 1-10, 0.8 on 1-5); the list keeps the largest ones.
DISAGREEMENT_SHARE = 0.2
MAX_DISAGREEMENTS = 200


@dataclass(frozen=True, slots=True)
class ScorePair:
    question_id: Hashable
    model: str
    turn: int
    category: str | None
    score_a: float
    score_b: float
    rater_a: str = ""
    rater_b: str = ""


@dataclass
class _Item:
    category: str | None
    ref: Hashable | None
    # group -> rater -> that rater's mean over trials
    raters: dict[str, dict[str, float]] = field(default_factory=dict)


def _mad(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(x) - np.asarray(y)))) if len(x) else math.nan


STATISTICS = {
    "spearman": spearman_rho,
    "kendall_tau_b": kendall_tau_b,
    "pearson": pearson_r,
    "mean_absolute_difference": _mad,
}


def _statistics(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([fn(x, y) for fn in STATISTICS.values()], dtype=float)


def _items(
    scores: Iterable[Score],
    *,
    groups: set[str],
    turn: int | None,
    category: str | None,
    categories: Mapping[Hashable, str] | None,
) -> dict[tuple, _Item]:
    """(question, model, turn) -> the item's category, ref and raters' mean scores."""
    raw: dict[tuple, dict[str, dict[str, list[float]]]] = {}
    items: dict[tuple, _Item] = {}
    for s in scores:
        group = s.group
        if group not in groups or (turn is not None and s.turn != turn):
            continue
        cat = s.category
        if cat is None and categories is not None:
            cat = categories.get(s.question_id)
        if category is not None and cat != category:
            continue
        key = (s.question_id, s.model, s.turn)
        items.setdefault(key, _Item(category=cat, ref=s.ref))
        raw.setdefault(key, {}).setdefault(group, {}).setdefault(s.rater, []).append(s.score)
    for key, by_group in raw.items():
        items[key].raters = {
            g: {rater: sum(v) / len(v) for rater, v in sorted(raters.items())}
            for g, raters in by_group.items()
        }
    return items


def _pairs(items: Mapping[tuple, _Item], group_a: str, group_b: str) -> list[ScorePair]:
    out: list[ScorePair] = []
    for key, item in items.items():
        if group_a == group_b:
            own = list(item.raters.get(group_a, {}).items())
            pairs = [(own[i], own[j]) for i in range(len(own) - 1) for j in range(i + 1, len(own))]
        else:
            pairs = [
                (first, second)
                for first in item.raters.get(group_a, {}).items()
                for second in item.raters.get(group_b, {}).items()
            ]
        for (rater_a, x), (rater_b, y) in pairs:
            out.append(ScorePair(*key, item.category, x, y, rater_a, rater_b))
    return out


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
    items = _items(
        scores, groups={group_a, group_b}, turn=turn, category=category, categories=categories
    )
    return _pairs(items, group_a, group_b)


# --- bootstrap: whole questions drawn with replacement --------------------------------------


# Above this many cells of (distinct a scores) x (distinct b scores), resamples are computed on
# the pairs themselves; below it (scores on a scale) on the resampled table of counts, which is
# the same number at a fraction of the cost.
_TABLE_CELLS = 40_000


def _weighted_r(table: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of the items a table counts, the rows valued ``x`` and the columns ``y``."""
    n = table.sum()
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    dx, dy = x - rows @ x / n, y - cols @ y / n
    denom = math.sqrt(float(rows @ (dx * dx)) * float(cols @ (dy * dy)))
    return math.nan if denom == 0 else float(np.clip(dx @ table @ dy / denom, -1.0, 1.0))


def _average_ranks(counts: np.ndarray) -> np.ndarray:
    """The average rank (1-based) of each distinct value, given how often each occurs."""
    ends = np.cumsum(counts)
    return ends - (counts - 1) / 2.0


def _table_statistics(table: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``_statistics`` of the items counted in ``table`` (see ``_weighted_r``)."""
    n = int(table.sum())
    if n == 0:
        return np.full(len(STATISTICS), math.nan)
    mad = float((table * np.abs(x[:, None] - y[None, :])).sum() / n)
    if n < 2:
        return np.array([math.nan, math.nan, math.nan, mad])
    rho = _weighted_r(table, _average_ranks(table.sum(axis=1)), _average_ranks(table.sum(axis=0)))
    return np.array([rho, kendall_tau_b_table(table), _weighted_r(table, x, y), mad])


class _Layout:
    """One set of pairs laid out question after question, so that a draw of questions becomes
    an index array with repeat + arange (as in ``flywheel.stats.bootstrap_ci``)."""

    def __init__(self, pairs: Sequence[ScorePair], questions: Mapping[Hashable, int]) -> None:
        members: list[list[int]] = [[] for _ in questions]
        for position, pair in enumerate(pairs):
            members[questions[pair.question_id]].append(position)
        self.order = np.fromiter((p for m in members for p in m), dtype=np.intp, count=len(pairs))
        self.sizes = np.fromiter((len(m) for m in members), dtype=np.intp, count=len(members))
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.intp)
        self.x = np.array([p.score_a for p in pairs], dtype=float)
        self.y = np.array([p.score_b for p in pairs], dtype=float)
        self.x_values, ix = np.unique(self.x, return_inverse=True)
        self.y_values, iy = np.unique(self.y, return_inverse=True)
        self.shape = (len(self.x_values), len(self.y_values))
        self.cells = ix * self.shape[1] + iy

    def statistics(self, draw: np.ndarray) -> np.ndarray:
        lengths = self.sizes[draw]
        ends = np.cumsum(lengths)
        shift = np.repeat(self.starts[draw] - (ends - lengths), lengths)
        index = self.order[np.arange(ends[-1]) + shift]
        if self.shape[0] * self.shape[1] > _TABLE_CELLS:
            return _statistics(self.x[index], self.y[index])
        size = self.shape[0] * self.shape[1]
        # Values this resample lacks get rows or columns of zeros, which weigh nothing.
        table = np.bincount(self.cells[index], minlength=size).reshape(self.shape)
        return _table_statistics(table, self.x_values, self.y_values)


def _resampled(
    sets: Sequence[Sequence[ScorePair]], *, n_resamples: int, seed: int
) -> list[np.ndarray]:
    """The statistics of each set of pairs on the same draws of questions: one
    ``(n_resamples, len(STATISTICS))`` array per set. Questions are those of all the sets in
    order of first appearance, so one set alone draws exactly as ``bootstrap_ci`` does."""
    questions: dict[Hashable, int] = {}
    for pairs in sets:
        for pair in pairs:
            questions.setdefault(pair.question_id, len(questions))
    layouts = [_Layout(pairs, questions) for pairs in sets]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(questions), size=(n_resamples, len(questions)))
    out = [np.empty((n_resamples, len(STATISTICS))) for _ in sets]
    for r in range(n_resamples):
        for values, layout in zip(out, layouts, strict=True):
            values[r] = layout.statistics(draws[r])
    return out


def _interval(values: np.ndarray, confidence: float) -> list[float | None]:
    values = values[~np.isnan(values)]
    if not len(values):
        return [None, None]
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return [_num(float(low)), _num(float(high))]


def _plain(pairs: Sequence[ScorePair]) -> dict[str, Any]:
    """Counts, means and the statistics of a set of pairs, without intervals."""
    x = np.array([p.score_a for p in pairs], dtype=float)
    y = np.array([p.score_b for p in pairs], dtype=float)
    values = _statistics(x, y)
    return {
        "n": len(pairs),
        "n_items": len({(p.question_id, p.model, p.turn) for p in pairs}),
        "n_questions": len({p.question_id for p in pairs}),
        "mean_a": _num(float(x.mean())) if len(x) else None,
        "mean_b": _num(float(y.mean())) if len(y) else None,
        "mean_difference": _num(float((x - y).mean())) if len(x) else None,
        **{name: _num(values[k]) for k, name in enumerate(STATISTICS)},
    }


def _summary(
    pairs: Sequence[ScorePair], *, n_resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    out = _plain(pairs)
    samples = _resampled([pairs], n_resamples=n_resamples, seed=seed)[0] if pairs else None
    for k, name in enumerate(STATISTICS):
        ci = [None, None] if samples is None else _interval(samples[:, k], confidence)
        out[f"{name}_ci"] = ci
    return out


def _difference(
    judged: Sequence[ScorePair],
    reference: Sequence[ScorePair],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """Each statistic of ``judged`` minus the same of ``reference``, with an interval from
    drawing the questions of both together, and the reference's own figures."""
    out: dict[str, Any] = {"reference": _plain(reference)}
    if not judged or not reference:
        out.update({name: {"value": None, "ci": [None, None]} for name in STATISTICS})
        return out
    first, second = _resampled([judged, reference], n_resamples=n_resamples, seed=seed)
    plain = _plain(judged)
    for k, name in enumerate(STATISTICS):
        mine, theirs = plain[name], out["reference"][name]
        value = None if mine is None or theirs is None else mine - theirs
        out[name] = {"value": value, "ci": _interval(first[:, k] - second[:, k], confidence)}
    return out


# --- what people read next to the numbers ----------------------------------------------------


def _scale(items: Mapping[tuple, _Item], scale: Sequence[float] | None) -> list[float] | None:
    if scale is not None:
        return [float(scale[0]), float(scale[1])]
    seen = [v for item in items.values() for group in item.raters.values() for v in group.values()]
    return [min(seen), max(seen)] if seen else None


def score_disagreements(
    items: Mapping[tuple, _Item], *, group_a: str, group_b: str, threshold: float
) -> tuple[list[dict[str, Any]], int]:
    """The answers where the groups' scores differ by at least ``threshold``, largest first:
    (rows, how many in all). ``difference`` is a's mean minus b's; within one group it is the
    spread (highest minus lowest rater) and the raters are all listed under ``scores_a``."""
    rows = []
    for (question_id, model, turn), item in items.items():
        scores_a = item.raters.get(group_a, {})
        scores_b = {} if group_a == group_b else item.raters.get(group_b, {})
        if group_a == group_b:
            if len(scores_a) < 2:
                continue
            mean_a, mean_b = sum(scores_a.values()) / len(scores_a), None
            difference = max(scores_a.values()) - min(scores_a.values())
        else:
            if not scores_a or not scores_b:
                continue
            mean_a = sum(scores_a.values()) / len(scores_a)
            mean_b = sum(scores_b.values()) / len(scores_b)
            difference = mean_a - mean_b
        if abs(difference) < threshold or difference == 0:
            continue
        rows.append(
            {
                "question_id": question_id,
                "model": model,
                "turn": turn,
                "category": item.category,
                "ref": item.ref,
                "scores_a": [{"rater": r, "score": v} for r, v in scores_a.items()],
                "scores_b": [{"rater": r, "score": v} for r, v in scores_b.items()],
                "mean_a": mean_a,
                "mean_b": mean_b,
                "difference": difference,
            }
        )
    rows.sort(key=lambda r: (-abs(r["difference"]), str(r["question_id"]), r["model"], r["turn"]))
    return rows[:MAX_DISAGREEMENTS], len(rows)


def score_leaderboard(items: Mapping[tuple, _Item], *, group: str) -> list[dict[str, Any]]:
    """Models by the group's mean score over the given items (each item: its raters' mean)."""
    totals: dict[str, list[float]] = {}
    for (_, model, _), item in items.items():
        raters = item.raters.get(group)
        if raters:
            totals.setdefault(model, []).append(sum(raters.values()) / len(raters))
    board = [
        {"model": model, "mean_score": sum(v) / len(v), "n": len(v)} for model, v in totals.items()
    ]
    board.sort(key=lambda row: (-row["mean_score"], row["model"]))
    for rank, row in enumerate(board, start=1):
        row["rank"] = rank
    return board


def _rank_correlation(board_a: list[dict], board_b: list[dict]) -> dict[str, Any]:
    mean_b = {row["model"]: row["mean_score"] for row in board_b}
    common = [row for row in board_a if row["model"] in mean_b]
    xs = [row["mean_score"] for row in common]
    ys = [mean_b[row["model"]] for row in common]
    return {
        "n_models": len(common),
        "kendall_tau_b": _num(kendall_tau_b(xs, ys)),
        "spearman": _num(spearman_rho(xs, ys)),
    }


def score_agreement_report(
    scores: Iterable[Score],
    *,
    group_a: str,
    group_b: str,
    turn: int | None = None,
    category: str | None = None,
    categories: Mapping[Hashable, str] | None = None,
    reference_group: str | None = None,
    scale: Sequence[float] | None = None,
    breakdowns: bool = True,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The full JSON-able score agreement between two rater groups.

    ``reference_group`` is the group whose raters compared with each other are the baseline
    (people-people); it defaults to ``group_b`` when the groups differ. ``scale`` is the score
    range (the judge template's); without it, the lowest and highest score seen.

    Keys: ``n`` (compared pairs), ``n_items``, ``n_questions``, ``mean_a``, ``mean_b``,
    ``mean_difference`` (a minus b); ``spearman``, ``kendall_tau_b``, ``pearson``,
    ``mean_absolute_difference``, each with ``<name>_ci``; ``difference`` (``None``, or
    ``{reference_group, reference: {n, ..., the four statistics}, <statistic>: {value, ci}}``);
    ``per_turn`` (when no turn is fixed) and ``per_category``: the same keys, with
    ``difference`` when there is a baseline; ``disagreements`` (answers whose mean scores
    differ by at least ``disagreement_threshold``, largest first, at most 200, with
    ``disagreement_count`` in all); ``leaderboards`` (group -> rows of model, mean_score, n,
    rank on the compared answers); ``rank_correlation`` (``None`` for one group);
    ``judge``, ``trust`` ``{verdict, reasons, tone}`` and ``explain`` (plain words per number).
    Undefined numbers are ``None``.
    """
    if reference_group is None and group_a != group_b:
        reference_group = group_b
    groups = {group_a, group_b} | ({reference_group} if reference_group else set())
    items = _items(scores, groups=groups, turn=turn, category=category, categories=categories)
    pairs = _pairs(items, group_a, group_b)
    with_baseline = reference_group is not None and group_a != group_b
    reference = _pairs(items, reference_group, reference_group) if with_baseline else []
    options = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}

    def scope(mine: list[ScorePair], theirs: list[ScorePair]) -> dict[str, Any]:
        out = _summary(mine, **options)
        if reference:
            out["difference"] = _difference(mine, theirs, **options)
        return out

    report: dict[str, Any] = {
        "group_a": group_a,
        "group_b": group_b,
        "turn": turn,
        "category": category,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
        "scale": _scale(items, scale),
        **_summary(pairs, **options),
    }
    report["difference"] = (
        {"reference_group": reference_group, **_difference(pairs, reference, **options)}
        if reference
        else None
    )
    if breakdowns:
        if turn is None:
            report["per_turn"] = {
                str(t): scope(
                    [p for p in pairs if p.turn == t], [p for p in reference if p.turn == t]
                )
                for t in sorted({p.turn for p in pairs})
            }
        report["per_category"] = {
            name: scope(
                [p for p in pairs if p.category == name],
                [p for p in reference if p.category == name],
            )
            for name in sorted({p.category for p in pairs if p.category is not None})
        }

    compared = {(p.question_id, p.model, p.turn) for p in pairs}
    shared = {key: item for key, item in items.items() if key in compared}
    scale_range = report["scale"][1] - report["scale"][0] if report["scale"] else 0.0
    threshold = round(DISAGREEMENT_SHARE * scale_range, 2)
    rows, count = score_disagreements(shared, group_a=group_a, group_b=group_b, threshold=threshold)
    report["disagreement_threshold"] = threshold
    report["disagreement_count"] = count
    report["disagreements"] = rows
    boards = {g: score_leaderboard(shared, group=g) for g in dict.fromkeys([group_a, group_b])}
    report["leaderboards"] = boards
    report["rank_correlation"] = (
        _rank_correlation(boards[group_a], boards[group_b]) if group_a != group_b else None
    )
    report["judge"] = looks_like_judge(group_a) or looks_like_judge(group_b)
    report["explain"] = SCORE_EXPLAIN
    report["trust"] = score_trust(report, judge=report["judge"])
    return report
