"""Judge-specific statistics: pure functions over plain values (no database).

Generic primitives (bootstrap, Bradley-Terry) come from flywheel.stats; this module adds what
is particular to LLM judges: combining both orders, win/tie/loss, order flips, position and
length bias, the length-controlled win rate, score means and trial consistency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flywheel.stats import bootstrap_ci, bradley_terry

A_WINS, B_WINS, TIE, INCONSISTENT = "a", "b", "tie", "inconsistent"
LENGTH_MARGIN = 30  # characters: below this the two answers count as the same length
LC_L2 = 0.1  # ridge on the length slope: keeps the fit finite when length separates outcomes
ELO_SCALE = 400 / math.log(10)


def combine_orders(first: str | None, second: str | None) -> str | None:
    """The outcome of one comparison from its two orders' model-level outcomes ("a", "b",
    "tie"). A winner counts only when both orders agree; any disagreement is an
    inconsistent tie. None when either order has no parsed verdict."""
    if first is None or second is None:
        return None
    return first if first == second else INCONSISTENT


def outcome_value(outcome: str) -> float:
    """The comparison's value for model a: a win 1, a loss 0, any tie one half."""
    return {A_WINS: 1.0, B_WINS: 0.0}.get(outcome, 0.5)


@dataclass(frozen=True)
class WinTieLoss:
    wins: int
    ties: int  # consistent ties
    inconsistent: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.inconsistent + self.losses

    @property
    def win_rate(self) -> float:
        """(wins + half of all ties) / n, NaN when empty."""
        if not self.n:
            return math.nan
        return (self.wins + 0.5 * (self.ties + self.inconsistent)) / self.n


def win_tie_loss(outcomes: Sequence[str]) -> WinTieLoss:
    return WinTieLoss(
        wins=sum(o == A_WINS for o in outcomes),
        ties=sum(o == TIE for o in outcomes),
        inconsistent=sum(o == INCONSISTENT for o in outcomes),
        losses=sum(o == B_WINS for o in outcomes),
    )


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def win_rate_ci(
    outcomes: Sequence[str], questions: Sequence[object], *, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Win rate of model a with a percentile bootstrap interval clustered by question."""
    values = np.array([outcome_value(o) for o in outcomes], dtype=float)
    return bootstrap_ci(values, _mean, clusters=list(questions), n_resamples=n_resamples, seed=seed)


def flip_rate(pairs: Sequence[tuple[str, str]]) -> float:
    """Share of comparisons whose model-level verdict changed when the order was swapped."""
    if not pairs:
        return math.nan
    return sum(first != second for first, second in pairs) / len(pairs)


def p_first_wins(verdicts: Sequence[str]) -> float:
    """P(the answer shown first wins) among decisive verdicts ("A" or "B"); 0.5 is unbiased."""
    decisive = [v for v in verdicts if v in ("A", "B")]
    if not decisive:
        return math.nan
    return sum(v == "A" for v in decisive) / len(decisive)


def p_longer_wins(decisions: Sequence[tuple[int, int]], *, margin: int = LENGTH_MARGIN) -> float:
    """P(the longer answer wins | the lengths differ by more than `margin` characters), over
    decisive judgments given as (winner length, loser length)."""
    counted = [(w, lo) for w, lo in decisions if abs(w - lo) > margin]
    if not counted:
        return math.nan
    return sum(w > lo for w, lo in counted) / len(counted)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def length_controlled_win_rate(
    preferences: Sequence[float], length_diffs: Sequence[float], *, l2: float = LC_L2
) -> float:
    """AlpacaEval 2's length control for one model against one opponent.

    Fits P(a preferred) = sigmoid(theta + phi * tanh(d / sd(d))), where d is a's length minus
    b's and the preference is 1, 0 or 0.5 for a tie, by penalised maximum likelihood (a ridge
    `l2` on phi only), and returns sigmoid(theta): the win rate the judge would give at zero
    length difference.
    """
    y = np.asarray(preferences, dtype=float)
    d = np.asarray(length_diffs, dtype=float)
    if len(y) == 0:
        return math.nan
    sd = float(d.std())
    x = np.tanh(d / sd) if sd > 0 else np.zeros_like(d)
    features = np.column_stack([np.ones_like(x), x])
    penalty = np.diag([1e-6, l2])
    beta = np.zeros(2)
    for _ in range(100):
        p = _sigmoid(features @ beta)
        gradient = features.T @ (y - p) - penalty @ beta
        hessian = (features * (p * (1 - p))[:, None]).T @ features + penalty
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if float(np.abs(step).max()) < 1e-10:
            break
    return float(_sigmoid(beta[0]))


def length_controlled_ci(
    preferences: Sequence[float],
    length_diffs: Sequence[float],
    questions: Sequence[object],
    *,
    n_resamples: int = 200,
    seed: int = 0,
) -> tuple[float, float, float]:
    rows = np.column_stack(
        [np.asarray(preferences, dtype=float), np.asarray(length_diffs, dtype=float)]
    )

    def statistic(sample: np.ndarray) -> float:
        return length_controlled_win_rate(sample[:, 0], sample[:, 1])

    return bootstrap_ci(
        rows, statistic, clusters=list(questions), n_resamples=n_resamples, seed=seed
    )


def bt_ratings(
    comparisons: Sequence[tuple[str, str, float]],
    questions: Sequence[object],
    *,
    n_resamples: int = 200,
    prior: float = 0.5,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Bradley-Terry ratings on the Elo scale (1000 + 400/ln 10 x log-strength) with
    percentile intervals from a bootstrap over whole questions."""
    if not comparisons:
        return {}

    def fit(rows: Sequence[tuple[str, str, float]]) -> dict[str, float]:
        return {k: 1000 + ELO_SCALE * v for k, v in bradley_terry(rows, prior=prior).items()}

    estimate = fit(comparisons)
    members: dict[object, list[int]] = {}
    for position, key in enumerate(questions):
        members.setdefault(key, []).append(position)
    groups = list(members.values())
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in estimate}
    for _ in range(n_resamples):
        picked = rng.integers(0, len(groups), size=len(groups))
        rows = [comparisons[i] for g in picked for i in groups[g]]
        for key, value in fit(rows).items():
            samples[key].append(value)
    result = {}
    for key, value in estimate.items():
        got = samples[key]
        low, high = np.percentile(got, [2.5, 97.5]) if got else (math.nan, math.nan)
        result[key] = (value, float(low), float(high))
    return result


def score_mean_ci(
    scores: Sequence[float], questions: Sequence[object], *, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    values = np.asarray(scores, dtype=float)
    return bootstrap_ci(values, _mean, clusters=list(questions), n_resamples=n_resamples, seed=seed)


@dataclass(frozen=True)
class Consistency:
    items: int  # items with at least two trials
    identical_share: float  # share of those whose trials gave identical scores
    mean_std: float  # mean within-item standard deviation (population, ddof=0)


def trial_consistency(per_item_scores: Sequence[Sequence[float]]) -> Consistency:
    repeated = [list(s) for s in per_item_scores if len(s) >= 2]
    if not repeated:
        return Consistency(items=0, identical_share=math.nan, mean_std=math.nan)
    identical = sum(len(set(s)) == 1 for s in repeated)
    return Consistency(
        items=len(repeated),
        identical_share=identical / len(repeated),
        mean_std=float(np.mean([np.std(s) for s in repeated])),
    )
