"""flywheel.stats against hand-computed cases, published values and scipy."""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from flywheel import stats
from flywheel.stats import (
    bootstrap_ci,
    bradley_terry,
    bt_win_probability,
    cohen_kappa,
    kendall_tau_b,
    krippendorff_alpha,
    pearson_r,
    spearman_rho,
)

# --- Kendall tau-b ----------------------------------------------------------------------


def test_kendall_tau_b_hand_computed_with_ties():
    # Pairs of x=[1,2,2,3], y=[1,3,2,2]: (0,1)+ (0,2)+ (0,3)+ (1,2) tie-x (1,3)- (2,3) tie-y.
    # S = 3 - 1 = 2; untied in x = 5, untied in y = 5 -> tau_b = 2 / 5.
    assert kendall_tau_b([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.4)


def test_kendall_tau_b_perfect_and_reversed():
    assert kendall_tau_b([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau_b([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kendall_tau_b_matches_scipy_variant_b(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, 80)
    y = x + rng.integers(-2, 3, 80)
    expected = scipy.stats.kendalltau(x, y, variant="b").statistic
    assert kendall_tau_b(x.tolist(), y.tolist()) == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_b_table_and_pairwise_paths_agree(monkeypatch):
    rng = np.random.default_rng(11)
    x = rng.normal(size=300).round(1)
    y = (x + rng.normal(size=300)).round(1)
    expected = scipy.stats.kendalltau(x, y, variant="b").statistic
    assert kendall_tau_b(x, y) == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(stats, "_TABLE_CELLS", 0)  # force the O(n^2) path
    assert kendall_tau_b(x, y) == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_b_undefined_is_nan():
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau_b([1], [2]))
    assert math.isnan(kendall_tau_b([], []))
    with pytest.raises(ValueError, match="same length"):
        kendall_tau_b([1, 2], [1])


def test_spearman_and_pearson_match_scipy():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 11, 60).astype(float)
    y = x + rng.normal(0, 3, 60).round()
    assert spearman_rho(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic)
    assert pearson_r(x, y) == pytest.approx(scipy.stats.pearsonr(x, y).statistic)
    assert math.isnan(pearson_r([1, 2, 3], [4, 4, 4]))
    assert math.isnan(spearman_rho([1, 2, 3], [4, 4, 4]))


# --- Cohen's kappa ----------------------------------------------------------------------


def test_cohen_kappa_hand_computed():
    # 2x2 table [[20, 5], [10, 15]]: p_o = 35/50 = 0.7; A says yes 25 times, B 30 times;
    # p_e = (25*30 + 25*20) / 50^2 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_three_labels_hand_computed():
    a = ["x", "x", "y", "y", "z", "z"]
    b = ["x", "y", "y", "y", "z", "x"]
    # p_o = 4/6; marginals a: x2 y2 z2, b: x2 y3 z1; p_e = (4 + 6 + 2) / 36 = 1/3.
    assert cohen_kappa(a, b) == pytest.approx((4 / 6 - 1 / 3) / (1 - 1 / 3))


def test_cohen_kappa_labels_and_undefined():
    assert cohen_kappa(["a", "a"], ["a", "a"], labels=["a", "b"]) != 0.5
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"], labels=["a", "b"]))
    assert math.isnan(cohen_kappa([], []))
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="not one of the given labels"):
        cohen_kappa(["a", "c"], ["a", "a"], labels=["a", "b"])


# --- Krippendorff's alpha ---------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders,
# 12 units, values 1..5, missing shown as None.
_A = [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None]
_B = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3]
_C = [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None]
_D = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]
PAPER_UNITS = [list(unit) for unit in zip(_A, _B, _C, _D, strict=True)]


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_reproduces_paper_example(level, published):
    assert round(krippendorff_alpha(PAPER_UNITS, level=level), 3) == published


def test_krippendorff_alpha_nominal_hand_computed_small_case():
    # Units (a,a), (a,b), (b,b): coincidences o_aa=2, o_ab=o_ba=1, o_bb=2; n_a=n_b=3, n=6.
    # D_o = 2 / 6 ... alpha = 1 - (n-1) * (o_ab+o_ba) / (n_a*n_b*2) = 1 - 5 * 2 / 18 = 4/9.
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"]]) == pytest.approx(4 / 9)


def test_krippendorff_alpha_ignores_unpairable_units_and_missing():
    base = [["a", "a"], ["a", "b"], ["b", "b"]]
    padded = [*base, ["c"], [None, None], ["a", None, float("nan")]]
    assert krippendorff_alpha(padded) == pytest.approx(krippendorff_alpha(base))


def test_krippendorff_alpha_perfect_and_undefined():
    assert krippendorff_alpha([[1, 1], [2, 2], [3, 3]], level="interval") == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([["a", "a"], ["a", "a"]]))
    assert math.isnan(krippendorff_alpha([["a"], [None]]))
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha([["a", "b"]], level="interval")
    with pytest.raises(ValueError, match="Unknown level"):
        krippendorff_alpha([[1, 2]], level="bogus")  # type: ignore[arg-type]


# --- Bradley-Terry ----------------------------------------------------------------------


def test_bradley_terry_two_items_hand_computed():
    # a beats b 3 times out of 4: MLE p_a / (p_a + p_b) = 3/4 -> s_a - s_b = ln 3, centred.
    comps = [("a", "b", 1.0)] * 3 + [("b", "a", 1.0)]
    s = bradley_terry(comps)
    assert s["a"] == pytest.approx(math.log(3) / 2, abs=1e-7)
    assert s["b"] == pytest.approx(-math.log(3) / 2, abs=1e-7)
    assert bt_win_probability(s["a"], s["b"]) == pytest.approx(0.75, abs=1e-7)


def test_bradley_terry_tie_counts_half_and_outcome_zero_means_second_won():
    s = bradley_terry([("a", "b", 0.5), ("a", "b", 1.0), ("b", "a", 0.0), ("a", "b", 0.0)])
    # a took 0.5 + 1 + 1 + 0 = 2.5 of 4 -> p = 0.625.
    assert bt_win_probability(s["a"], s["b"]) == pytest.approx(0.625, abs=1e-7)


def _neg_loglik(theta, comps, index, prior):
    total = 0.0
    for first, second, outcome in comps:
        d = theta[index[first]] - theta[index[second]]
        total += outcome * np.logaddexp(0, -d) + (1 - outcome) * np.logaddexp(0, d)
    for t in theta:  # prior ties against a pseudo-item at log-strength 0
        total += prior * 0.5 * (np.logaddexp(0, -t) + np.logaddexp(0, t))
    return total


@pytest.mark.parametrize("prior", [0.0, 1.0])
def test_bradley_terry_matches_direct_likelihood_maximisation(prior):
    rng = np.random.default_rng(3)
    true = {"m0": 1.0, "m1": 0.3, "m2": 0.0, "m3": -0.8}
    names = list(true)
    comps = []
    for _ in range(200):
        i, j = rng.choice(4, size=2, replace=False)
        p = 1 / (1 + math.exp(true[names[j]] - true[names[i]]))
        r = rng.random()
        comps.append((names[i], names[j], 0.5 if abs(r - p) < 0.05 else float(r < p)))
    index = {n: k for k, n in enumerate(names)}
    best = scipy.optimize.minimize(
        _neg_loglik, np.zeros(4), args=(comps, index, prior), method="BFGS", tol=1e-12
    ).x
    best -= best.mean()
    s = bradley_terry(comps, prior=prior)
    assert [s[n] for n in names] == pytest.approx(best.tolist(), abs=1e-5)
    assert sum(s.values()) == pytest.approx(0.0, abs=1e-12)


def test_bradley_terry_undefeated_item_needs_prior():
    comps = [("a", "b", 1.0), ("a", "c", 1.0), ("b", "c", 1.0), ("c", "b", 1.0)]
    with pytest.raises(ValueError) as err:
        bradley_terry(comps)
    assert str(err.value) == stats.BT_NOT_CONNECTED
    s = bradley_terry(comps, prior=0.5)
    assert all(math.isfinite(v) for v in s.values())
    assert s["a"] > s["b"] == pytest.approx(s["c"])


def test_bt_win_probability_symmetric_and_stable():
    assert bt_win_probability(0.0, 0.0) == 0.5
    assert bt_win_probability(1.0, 0.0) + bt_win_probability(0.0, 1.0) == pytest.approx(1.0)
    assert bt_win_probability(1000.0, 0.0) == 1.0
    assert bt_win_probability(0.0, 1000.0) == 0.0


# --- bootstrap --------------------------------------------------------------------------


def _mean(xs):
    return float(np.mean(xs)) if len(xs) else math.nan


def test_bootstrap_ci_brackets_estimate_and_is_deterministic():
    items = [float(i % 7) for i in range(200)]
    first = bootstrap_ci(items, _mean, n_resamples=500, seed=7)
    assert first == bootstrap_ci(items, _mean, n_resamples=500, seed=7)
    est, low, high = first
    assert est == pytest.approx(np.mean(items))
    assert low < est < high
    # Standard error of a mean of 200 values with sd 2: 0.141 -> 95% half-width about 0.28.
    assert 0.15 < (high - low) / 2 < 0.45
    assert bootstrap_ci(items, _mean, n_resamples=500, seed=8) != first


def test_bootstrap_ci_resamples_whole_clusters():
    items = list(range(30))
    clusters = [i // 3 for i in items]  # 10 clusters of 3 items
    sizes = []

    def record(xs):
        sizes.append(sorted(xs))
        return float(len(xs))

    bootstrap_ci(items, record, clusters=clusters, n_resamples=50, seed=1)
    for resample in sizes[1:]:
        # Each resample holds whole clusters: every cluster appears a multiple of 3 times.
        counts = np.bincount([x // 3 for x in resample], minlength=10)
        members = np.bincount(resample, minlength=30).reshape(10, 3)
        assert counts.sum() == 30
        assert (members == members[:, :1]).all()


def test_bootstrap_ci_clustered_interval_is_wider_for_correlated_items():
    rng = np.random.default_rng(0)
    cluster_means = rng.normal(0, 1, 20)
    items = np.repeat(cluster_means, 10) + rng.normal(0, 0.1, 200)
    clusters = np.repeat(np.arange(20), 10).tolist()
    _, lo_i, hi_i = bootstrap_ci(items, _mean, n_resamples=400)
    _, lo_c, hi_c = bootstrap_ci(items, _mean, clusters=clusters, n_resamples=400)
    assert (hi_c - lo_c) > 2 * (hi_i - lo_i)


def test_bootstrap_ci_all_nan_and_bad_arguments():
    est, low, high = bootstrap_ci([1.0, 2.0], lambda xs: math.nan, n_resamples=10)
    assert math.isnan(est) and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0], _mean, confidence=1.5)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], _mean, clusters=["a"])
