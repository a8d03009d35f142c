"""Build a run's results from plain rows (no database): win/tie/loss with intervals,
Bradley-Terry ratings, order flips, position and length bias, the length-controlled win rate,
score means and trial consistency, overall and per category, with warnings."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from evaluation import stats

FLIP_RATE_WARN = 0.2
P_FIRST_WARN = 0.2  # |P(first wins) - 0.5| above this
P_LONGER_WARN = 0.7
INCONSISTENT_WARN = 0.7  # share of items with identical scores over trials below this
PARSE_FAILURE_WARN = 0.05

WARN_FLIP = (
    "The judge changed its verdict when the answers swapped places in {rate:.0%} of "
    "comparisons; those count as ties, so wins are uncertain."
)
WARN_FIRST = "Position bias: the first-shown answer won {rate:.0%} of decisive verdicts."
WARN_LONGER = (
    "Length bias: the longer answer won {rate:.0%} of decisive verdicts where the lengths "
    "differ by more than {margin} characters; read the length-controlled win rate."
)
WARN_INCONSISTENT = (
    "Only {rate:.0%} of items got the same score on every trial (mean spread {std:.2f}); "
    "scores are noisy, use more trials."
)
WARN_PARSE = "{n} of {total} judge replies could not be parsed; they are excluded and listed."
WARN_CALL_ERRORS = "{n} judge calls failed; resume the run to retry them."


@dataclass(frozen=True)
class ItemRow:
    item_id: int
    question: str
    category: str
    model_a: str
    model_b: str
    turn: int
    len_a: int
    len_b: int


@dataclass(frozen=True)
class JudgmentRow:
    item_id: int
    order: str
    trial: int
    status: str
    verdict: str
    winner: str
    score: float | None
    dimension_scores: dict


def _num(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _outcome_for_a(winner: str, item: ItemRow) -> str:
    if winner == item.model_a:
        return stats.A_WINS
    if winner == item.model_b:
        return stats.B_WINS
    return stats.TIE


def _pairwise_section(
    items: list[ItemRow], judgments: list[JudgmentRow], *, round_robin: bool, n_resamples: int
) -> dict:
    by_key: dict[tuple[int, int], dict[str, JudgmentRow]] = defaultdict(dict)
    for j in judgments:
        by_key[(j.item_id, j.trial)][j.order] = j
    item_by_id = {i.item_id: i for i in items}
    comparisons = []  # (item, outcome for a)
    flips, verdicts, decisions = [], [], []
    for (item_id, _trial), orders in sorted(by_key.items()):
        item = item_by_id.get(item_id)
        if item is None:
            continue
        parsed = {o: j for o, j in orders.items() if j.status == "ok"}
        for j in parsed.values():
            verdicts.append(j.verdict)
            if j.verdict in ("A", "B"):
                win_len, lose_len = (
                    (item.len_a, item.len_b)
                    if j.winner == item.model_a
                    else (item.len_b, item.len_a)
                )
                decisions.append((win_len, lose_len))
        if "AB" in parsed and "BA" in parsed:
            first = _outcome_for_a(parsed["AB"].winner, item)
            second = _outcome_for_a(parsed["BA"].winner, item)
            flips.append((first, second))
            comparisons.append((item, stats.combine_orders(first, second)))
        elif set(orders) == {"AB"} and "AB" in parsed:  # a single-order config
            comparisons.append((item, _outcome_for_a(parsed["AB"].winner, item)))

    pairs = []
    by_pair: dict[tuple[str, str], list[tuple[ItemRow, str]]] = defaultdict(list)
    for item, outcome in comparisons:
        by_pair[(item.model_a, item.model_b)].append((item, outcome))
    for (model_a, model_b), rows in sorted(by_pair.items()):
        outcomes = [o for _, o in rows]
        clusters = [i.question for i, _ in rows]
        wtl = stats.win_tie_loss(outcomes)
        rate, low, high = stats.win_rate_ci(outcomes, clusters, n_resamples=n_resamples)
        prefs = [stats.outcome_value(o) for o in outcomes]
        diffs = [i.len_a - i.len_b for i, _ in rows]
        lc, lc_low, lc_high = stats.length_controlled_ci(
            prefs, diffs, clusters, n_resamples=max(50, n_resamples // 5)
        )
        pairs.append(
            {
                "model_a": model_a,
                "model_b": model_b,
                "wins": wtl.wins,
                "ties": wtl.ties,
                "inconsistent": wtl.inconsistent,
                "losses": wtl.losses,
                "n": wtl.n,
                "win_rate": _num(rate),
                "win_rate_low": _num(low),
                "win_rate_high": _num(high),
                "lc_win_rate": _num(lc),
                "lc_win_rate_low": _num(lc_low),
                "lc_win_rate_high": _num(lc_high),
            }
        )
    section = {
        "pairs": pairs,
        "bias": {
            "flip_rate": _num(stats.flip_rate(flips)),
            "flip_n": len(flips),
            "p_first_wins": _num(stats.p_first_wins(verdicts)),
            "first_n": sum(v in ("A", "B") for v in verdicts),
            "p_longer_wins": _num(stats.p_longer_wins(decisions)),
            "longer_n": sum(abs(w - lo) > stats.LENGTH_MARGIN for w, lo in decisions),
        },
    }
    if round_robin:
        bt_rows = [(i.model_a, i.model_b, stats.outcome_value(o)) for i, o in comparisons]
        ratings = stats.bt_ratings(
            bt_rows, [i.question for i, _ in comparisons], n_resamples=max(50, n_resamples // 5)
        )
        section["ratings"] = [
            {"model": m, "rating": _num(r), "low": _num(lo), "high": _num(hi)}
            for m, (r, lo, hi) in sorted(ratings.items(), key=lambda kv: -kv[1][0])
        ]
    return section


def _single_section(
    items: list[ItemRow], judgments: list[JudgmentRow], *, n_resamples: int
) -> dict:
    item_by_id = {i.item_id: i for i in items}
    per_item: dict[int, list[float]] = defaultdict(list)
    dims: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for j in judgments:
        if j.status == "ok" and j.score is not None and j.item_id in item_by_id:
            per_item[j.item_id].append(j.score)
            for name, value in j.dimension_scores.items():
                dims[item_by_id[j.item_id].model_a][name].append(value)
    by_model: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for item_id, scores in per_item.items():
        item = item_by_id[item_id]
        by_model[item.model_a].append((item.question, sum(scores) / len(scores)))
    scores_out = []
    for model, rows in sorted(by_model.items()):
        mean, low, high = stats.score_mean_ci(
            [s for _, s in rows], [q for q, _ in rows], n_resamples=n_resamples
        )
        scores_out.append(
            {
                "model": model,
                "mean": _num(mean),
                "low": _num(low),
                "high": _num(high),
                "n": len(rows),
            }
        )
    consistency = stats.trial_consistency(list(per_item.values()))
    return {
        "scores": scores_out,
        "consistency": {
            "items": consistency.items,
            "identical_share": _num(consistency.identical_share),
            "mean_std": _num(consistency.mean_std),
        },
        "dimensions": {
            model: {name: sum(v) / len(v) for name, v in sorted(d.items())}
            for model, d in sorted(dims.items())
        },
    }


def _warnings(section: dict, *, single: bool) -> list[str]:
    out = []
    if single:
        c = section["consistency"]
        if c["identical_share"] is not None and c["identical_share"] < INCONSISTENT_WARN:
            out.append(WARN_INCONSISTENT.format(rate=c["identical_share"], std=c["mean_std"]))
        return out
    bias = section["bias"]
    if bias["flip_rate"] is not None and bias["flip_rate"] > FLIP_RATE_WARN:
        out.append(WARN_FLIP.format(rate=bias["flip_rate"]))
    if bias["p_first_wins"] is not None and abs(bias["p_first_wins"] - 0.5) > P_FIRST_WARN:
        out.append(WARN_FIRST.format(rate=bias["p_first_wins"]))
    if bias["p_longer_wins"] is not None and bias["p_longer_wins"] > P_LONGER_WARN:
        out.append(WARN_LONGER.format(rate=bias["p_longer_wins"], margin=stats.LENGTH_MARGIN))
    return out


def build_results(
    *, mode: str, items: list[ItemRow], judgments: list[JudgmentRow], n_resamples: int = 1000
) -> dict:
    single = mode == "single"

    def section(subset_items: list[ItemRow]) -> dict:
        ids = {i.item_id for i in subset_items}
        subset = [j for j in judgments if j.item_id in ids]
        if single:
            body = _single_section(subset_items, subset, n_resamples=n_resamples)
        else:
            body = _pairwise_section(
                subset_items, subset, round_robin=mode == "round_robin", n_resamples=n_resamples
            )
        body["warnings"] = _warnings(body, single=single)
        return body

    overall = section(items)
    by_category: dict[str, list[ItemRow]] = defaultdict(list)
    for item in items:
        by_category[item.category or "uncategorised"].append(item)
    parse_failures = sum(j.status == "parse_error" for j in judgments)
    call_errors = sum(j.status == "call_error" for j in judgments)
    warnings = list(overall["warnings"])
    if judgments and parse_failures / len(judgments) > PARSE_FAILURE_WARN:
        warnings.append(WARN_PARSE.format(n=parse_failures, total=len(judgments)))
    if call_errors:
        warnings.append(WARN_CALL_ERRORS.format(n=call_errors))
    return {
        "mode": mode,
        "items": len(items),
        "judgments": len(judgments),
        "parse_failures": parse_failures,
        "call_errors": call_errors,
        "warnings": warnings,
        "overall": overall,
        "categories": {name: section(rows) for name, rows in sorted(by_category.items())},
    }
