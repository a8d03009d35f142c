"""Shared statistics: rank correlation, inter-rater reliability, Bradley-Terry, bootstrap.

Pure functions on plain sequences (numpy inside, no Django), so that labeling, evaluation and
training compute the same number the same way. Undefined results are ``math.nan``, never an
exception, because a report shows "n/a" for them; malformed input (lengths that differ, a value
outside ``labels``) raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Literal, TypeVar

import numpy as np

T = TypeVar("T")

Level = Literal["nominal", "ordinal", "interval", "ratio"]

LENGTH_MISMATCH = "The two sequences must have the same length."
UNKNOWN_LEVEL = "Unknown level of measurement: {level!r}."
NOT_NUMERIC = "The {level} level needs numeric values; got {value!r}."
LABEL_NOT_LISTED = "Value {value!r} is not one of the given labels."
BT_NOT_CONNECTED = (
    "Bradley-Terry strengths are not finite: some item never lost or never won against the "
    "others (the comparison graph is not strongly connected). Pass prior > 0."
)
BAD_CONFIDENCE = "confidence must be between 0 and 1."
BAD_RESAMPLES = "n_resamples must be at least 1."
CLUSTERS_LENGTH = "clusters must have one entry per item."


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- rank and linear correlation -----------------------------------------------------------


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b, which corrects for ties in either sequence.

    tau_b = (concordant - discordant) / sqrt(pairs untied in x * pairs untied in y).
    ``math.nan`` when undefined: fewer than two items, a NaN value, or all of x (or y) tied.
    Same value as ``scipy.stats.kendalltau(x, y, variant="b")``.
    """
    if len(x) != len(y):
        raise ValueError(LENGTH_MISMATCH)
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    n = len(xa)
    if n < 2 or np.isnan(xa).any() or np.isnan(ya).any():
        return math.nan
    _, ix = np.unique(xa, return_inverse=True)
    _, iy = np.unique(ya, return_inverse=True)
    kx, ky = int(ix.max()) + 1, int(iy.max()) + 1
    if kx * ky <= _TABLE_CELLS:
        s, untied_x, untied_y = _kendall_table(ix, iy, kx, ky)
    else:
        s, untied_x, untied_y = _kendall_pairs(xa, ya)
    if untied_x == 0 or untied_y == 0:
        return math.nan
    return float(s / math.sqrt(untied_x * untied_y))


# Scores and ranks have few distinct values: a contingency table makes tau-b O(n + kx * ky).
_TABLE_CELLS = 1_000_000


def _kendall_table(ix: np.ndarray, iy: np.ndarray, kx: int, ky: int) -> tuple[int, int, int]:
    table = np.zeros((kx, ky), dtype=np.int64)
    np.add.at(table, (ix, iy), 1)
    return _kendall_counts(table)


def kendall_tau_b_table(table: np.ndarray) -> float:
    """Kendall's tau-b from a contingency table of counts (rows: the distinct x values in
    increasing order, columns: the distinct y values); equals ``kendall_tau_b`` on the items
    the table counts. A bootstrap over discrete scores resamples the table, not the items."""
    table = np.asarray(table, dtype=np.int64)
    s, untied_x, untied_y = _kendall_counts(table)
    if untied_x == 0 or untied_y == 0:
        return math.nan
    return float(s / math.sqrt(untied_x * untied_y))


def _kendall_counts(table: np.ndarray) -> tuple[int, int, int]:
    kx, ky = table.shape
    n = int(table.sum())
    # above[i, j]: items with x index >= i and y index >= j; below_left: x >= i and y <= j.
    above = np.zeros((kx + 1, ky + 1), dtype=np.int64)
    above[:kx, :ky] = table[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]
    below_left = np.zeros((kx + 1, ky + 1), dtype=np.int64)
    below_left[:kx, 1:] = table[::-1, :].cumsum(0)[::-1, :].cumsum(1)
    concordant = int((table * above[1:, 1:]).sum())
    discordant = int((table * below_left[1:, :ky]).sum())
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    untied_x = (n * n - int((rows * rows).sum())) // 2
    untied_y = (n * n - int((cols * cols).sum())) // 2
    return concordant - discordant, untied_x, untied_y


def _kendall_pairs(xa: np.ndarray, ya: np.ndarray) -> tuple[int, int, int]:
    s = 0
    untied_x = 0
    untied_y = 0
    # One numpy row per item keeps memory O(n) while the work stays O(n^2) in C.
    for i in range(len(xa) - 1):
        dx = np.sign(xa[i + 1 :] - xa[i])
        dy = np.sign(ya[i + 1 :] - ya[i])
        s += int(np.dot(dx, dy))
        untied_x += int(np.count_nonzero(dx))
        untied_y += int(np.count_nonzero(dy))
    return s, untied_x, untied_y


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    # A tie group ending at (1-based) position `end` with `count` members holds the positions
    # end - count + 1 .. end, whose mean is end - (count - 1) / 2. No Python loop over groups:
    # the bootstrap calls this thousands of times.
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation; ``math.nan`` when fewer than two items or either side is constant."""
    if len(x) != len(y):
        raise ValueError(LENGTH_MISMATCH)
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if len(xa) < 2 or np.isnan(xa).any() or np.isnan(ya).any():
        return math.nan
    xc = xa - xa.mean()
    yc = ya - ya.mean()
    denom = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    if denom == 0:
        return math.nan
    return float(np.clip(np.dot(xc, yc) / denom, -1.0, 1.0))


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson on average ranks, so ties are handled)."""
    if len(x) != len(y):
        raise ValueError(LENGTH_MISMATCH)
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if len(xa) < 2 or np.isnan(xa).any() or np.isnan(ya).any():
        return math.nan
    return pearson_r(_ranks(xa), _ranks(ya))


# --- inter-rater reliability ---------------------------------------------------------------


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's kappa for two raters who labelled the same items: (p_o - p_e) / (1 - p_e).

    p_o is the observed agreement, p_e the agreement expected from each rater's own label
    frequencies. ``labels`` fixes the category set; a value outside it raises ``ValueError``.
    ``math.nan`` when there are no items or p_e == 1 (both raters used one and the same label).
    """
    if len(a) != len(b):
        raise ValueError(LENGTH_MISMATCH)
    categories = list(dict.fromkeys([*a, *b] if labels is None else labels))
    index = {label: i for i, label in enumerate(categories)}
    n = len(a)
    if n == 0:
        return math.nan
    k = len(categories)
    table = np.zeros((k, k), dtype=float)
    for va, vb in zip(a, b, strict=True):
        for value in (va, vb):
            if value not in index:
                raise ValueError(LABEL_NOT_LISTED.format(value=value))
        table[index[va], index[vb]] += 1
    p_o = np.trace(table) / n
    p_e = float(np.dot(table.sum(axis=1), table.sum(axis=0))) / (n * n)
    if math.isclose(p_e, 1.0):
        return math.nan
    return float((p_o - p_e) / (1.0 - p_e))


def _delta_squared(values: list, counts: np.ndarray, level: str) -> np.ndarray:
    """The difference function of Krippendorff (2011), as a matrix over the sorted values."""
    k = len(values)
    if level == "nominal":
        return 1.0 - np.eye(k)
    v = np.asarray(values, dtype=float)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        total = v[:, None] + v[None, :]
        diff = v[:, None] - v[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total == 0, 0.0, (diff / np.where(total == 0, 1.0, total)) ** 2)
        return out
    # ordinal: (sum of n_g for g from c to k, minus (n_c + n_k) / 2) squared, ranks not values.
    cum = np.concatenate(([0.0], np.cumsum(counts)))
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    between = cum[hi + 1] - cum[lo]
    return (between - (counts[:, None] + counts[None, :]) / 2.0) ** 2


def krippendorff_alpha(
    units: Sequence[Sequence[Hashable | float | None]],
    *,
    level: Level = "nominal",
) -> float:
    """Krippendorff's alpha from reliability data given unit by unit.

    Each unit is the list of values its coders gave (``None`` or NaN = missing; order and
    coder identity do not matter). Units with fewer than two values are not pairable and are
    ignored. alpha = 1 - D_o / D_e over the coincidence matrix, with the difference function of
    the level: nominal (0/1), ordinal (rank-based, Krippendorff 2011), interval (squared
    difference), ratio (squared difference over the sum). ``math.nan`` when there are no
    pairable values or no variation at all (D_e = 0).
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(UNKNOWN_LEVEL.format(level=level))
    kept: list[list] = []
    for unit in units:
        present = [v for v in unit if not _is_missing(v)]
        if len(present) >= 2:
            kept.append(present)
    if not kept:
        return math.nan
    distinct = list(dict.fromkeys(v for unit in kept for v in unit))
    if level != "nominal":
        for value in distinct:
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(NOT_NUMERIC.format(level=level, value=value))
        distinct.sort()
    index = {v: i for i, v in enumerate(distinct)}
    counts = np.zeros((len(kept), len(distinct)), dtype=float)
    for u, unit in enumerate(kept):
        for value in unit:
            counts[u, index[value]] += 1
    weight = 1.0 / (counts.sum(axis=1) - 1.0)
    # o_ck = sum_u n_uc * n_uk / (m_u - 1), minus the self-pairs on the diagonal.
    coincidence = (counts * weight[:, None]).T @ counts
    coincidence -= np.diag((counts * weight[:, None]).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    delta = _delta_squared(distinct, n_c, level)
    observed = float((coincidence * delta).sum())
    expected = float((np.outer(n_c, n_c) * delta).sum()) / (n - 1.0)
    if expected == 0:
        return math.nan
    return 1.0 - observed / expected


# --- Bradley-Terry -------------------------------------------------------------------------


def _strongly_connected(n: int, beats: np.ndarray) -> bool:
    """Whether every item reaches every other through "scored against" edges, both ways."""

    def reach(adj: np.ndarray) -> int:
        seen = np.zeros(n, dtype=bool)
        seen[0] = True
        frontier = [0]
        while frontier:
            nxt = np.flatnonzero(adj[frontier].any(axis=0) & ~seen)
            seen[nxt] = True
            frontier = nxt.tolist()
        return int(seen.sum())

    return reach(beats) == n and reach(beats.T) == n


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _bt_loglik(theta: np.ndarray, games: np.ndarray, score: np.ndarray) -> float:
    diff = theta[:, None] - theta[None, :]
    # score[i, j] * log P(i beats j), summed over ordered pairs, covers both sides of a game.
    return float(-(score * np.logaddexp(0.0, -diff)).sum())


def bradley_terry(
    comparisons: Iterable[tuple[Hashable, Hashable, float]],
    *,
    max_iter: int = 1000,
    tol: float = 1e-9,
    prior: float = 0.0,
) -> dict[Hashable, float]:
    """Bradley-Terry log-strengths by maximum likelihood (Newton-Raphson with step halving).

    Each comparison is ``(first, second, outcome)`` with outcome 1.0 if the first won, 0.0 if
    the second won and 0.5 for a tie (a tie counts as half a win each). Returns natural-log
    strengths centred to mean 0, so ``P(a beats b) = bt_win_probability(s[a], s[b])``.

    ``prior`` adds, for every item, ``prior`` virtual comparisons ending in a tie against a
    pseudo-item of strength 0 (which is not returned). It shrinks strengths toward the middle
    and keeps an undefeated (or winless) item finite; 0.5 to 1 is a gentle choice. With
    ``prior=0`` the maximum likelihood estimate exists only if the comparison graph is strongly
    connected; otherwise ``ValueError(BT_NOT_CONNECTED)`` is raised.
    Iterates until the largest change of a log-strength is below ``tol`` or ``max_iter`` steps.
    """
    items: dict[Hashable, int] = {}
    rows: list[tuple[int, int, float]] = []
    for first, second, outcome in comparisons:
        i = items.setdefault(first, len(items))
        j = items.setdefault(second, len(items))
        if i != j:
            rows.append((i, j, float(outcome)))
    n = len(items)
    if n == 0:
        return {}
    if n == 1:
        return {next(iter(items)): 0.0}
    use_prior = prior > 0
    size = n + 1 if use_prior else n
    games = np.zeros((size, size), dtype=float)
    score = np.zeros((size, size), dtype=float)  # score[i, j]: points i took from j
    for i, j, outcome in rows:
        games[i, j] += 1
        games[j, i] += 1
        score[i, j] += outcome
        score[j, i] += 1.0 - outcome
    if use_prior:
        games[:n, n] += prior
        games[n, :n] += prior
        score[:n, n] += prior / 2.0
        score[n, :n] += prior / 2.0
    elif not _strongly_connected(n, score > 0):
        raise ValueError(BT_NOT_CONNECTED)
    theta = np.zeros(size)
    fixed = n if use_prior else None  # the pseudo-item anchors the scale at log-strength 0
    free = np.arange(n)
    current = _bt_loglik(theta, games, score)
    for _ in range(max_iter):
        diff = theta[:, None] - theta[None, :]
        p = _sigmoid(diff)
        gradient = (score - games * p).sum(axis=1)
        weight = games * p * (1.0 - p)
        hessian = weight - np.diag(weight.sum(axis=1))
        # Newton step on the free items; without a prior the likelihood is flat along a common
        # shift, so the minimum-norm (lstsq) solution is taken and the result centred later.
        step = np.zeros(size)
        step[free] = np.linalg.lstsq(hessian[np.ix_(free, free)], -gradient[free], rcond=None)[0]
        # Step halving keeps the ascent monotone when a far start makes Newton overshoot.
        scale = 1.0
        while True:
            candidate = theta + scale * step
            value = _bt_loglik(candidate, games, score)
            if value >= current - 1e-12 or scale < 1e-6:
                break
            scale /= 2.0
        theta, current = candidate, value
        if fixed is not None:
            theta[fixed] = 0.0
        if float(np.abs(scale * step).max()) < tol:
            break
    log_strength = theta[:n] - theta[:n].mean()
    return {item: float(log_strength[i]) for item, i in items.items()}


def bt_win_probability(strength_a: float, strength_b: float) -> float:
    """P(a beats b) under Bradley-Terry with natural-log strengths: 1 / (1 + e^(b - a))."""
    diff = strength_b - strength_a
    if diff > 0:
        z = math.exp(-diff)
        return z / (1.0 + z)
    return 1.0 / (1.0 + math.exp(diff))


# --- bootstrap -----------------------------------------------------------------------------


def bootstrap_ci(
    items: Sequence[T],
    statistic: Callable[[Sequence[T]], float],
    *,
    clusters: Sequence[Hashable] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap: ``(statistic(items), low, high)``.

    Resamples items with replacement, or with ``clusters`` (one key per item, e.g. the
    question id) whole clusters with replacement, so that correlated items from one question
    move together. Resamples where the statistic is NaN are dropped; when all are, low and high
    are NaN. Deterministic for a given seed.
    """
    if not 0 < confidence < 1:
        raise ValueError(BAD_CONFIDENCE)
    if n_resamples < 1:
        raise ValueError(BAD_RESAMPLES)
    estimate = float(statistic(items))
    n = len(items)
    if n == 0:
        return estimate, math.nan, math.nan
    rng = np.random.default_rng(seed)
    is_array = isinstance(items, np.ndarray)

    def take(idx: np.ndarray) -> Sequence[T]:
        return items[idx] if is_array else [items[k] for k in idx]  # type: ignore[index]

    values = np.empty(n_resamples, dtype=float)
    if clusters is None:
        draws = rng.integers(0, n, size=(n_resamples, n))
        for r in range(n_resamples):
            values[r] = statistic(take(draws[r]))
    else:
        if len(clusters) != n:
            raise ValueError(CLUSTERS_LENGTH)
        members: dict[Hashable, list[int]] = {}
        for position, key in enumerate(clusters):
            members.setdefault(key, []).append(position)
        # Item positions laid out cluster after cluster; a resample of clusters becomes one
        # index array with repeat + arange instead of a Python-level concatenation.
        order = np.fromiter((p for v in members.values() for p in v), dtype=np.intp, count=n)
        sizes = np.fromiter((len(v) for v in members.values()), dtype=np.intp)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        draws = rng.integers(0, len(sizes), size=(n_resamples, len(sizes)))
        for r in range(n_resamples):
            lengths = sizes[draws[r]]
            ends = np.cumsum(lengths)
            shift = np.repeat(starts[draws[r]] - (ends - lengths), lengths)
            values[r] = statistic(take(order[np.arange(ends[-1]) + shift]))
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return estimate, math.nan, math.nan
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return estimate, float(low), float(high)
