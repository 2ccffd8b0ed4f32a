"""Tests of qmrflow.stats.correlation against R's documented cor.test example and scipy."""

from __future__ import annotations

import math

import numpy as np
import pingouin as pg
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from qmrflow.stats.correlation import (
    CorrelationResult,
    _fisher_ci,
    _spearman_s_counts,
    correlation,
    kendall,
    pearson,
    spearman,
)
from qmrflow.stats.tidy import TIDY_COLUMNS, tidy

# ------------------------------------------------------------------------------------------
# R documentation, ?cor.test (stats package), Examples: Hollander & Wolfe (1973), p. 187f,
# "Assessment of tuna quality": Hunter L lightness (x) vs mean consumer panel score (y) in
# 9 lots of canned tuna. The example's comments give Kendall "greater" p = 0.05972 (exact) and
# p = 0.04765 (exact = FALSE); the printed output of the same calls is:
#   cor.test(x, y)                      t = 1.8411, df = 7, p-value = 0.1082,
#                                       95 percent CI -0.1497426 0.8955795, cor 0.5711816
#   cor.test(x, y, alternative = "g")   p-value = 0.05409, 95 percent CI -0.02223023 1
#   cor.test(x, y, method = "kendall", alternative = "greater")   T = 26, p = 0.05972,
#                                       tau 0.4444444
#   ... exact = FALSE                   z = 1.6681, p-value = 0.04765
#   cor.test(x, y, method = "spearm", alternative = "g")          S = 48, p-value = 0.0484,
#                                       rho 0.6
# Two-sided exact p-values are twice the one-sided ones (0.1194 and 0.0968).
# ------------------------------------------------------------------------------------------
TUNA_X = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1]
TUNA_Y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8]


def test_pearson_reproduces_r_cor_test_tuna_example():
    result = correlation(TUNA_X, TUNA_Y)
    assert (result.coefficient, result.n, result.df) == ("pearson", 9, 7)
    assert round(result.estimate, 7) == pytest.approx(0.5711816)
    assert round(result.statistic, 4) == pytest.approx(1.8411)
    assert result.statistic_name == "t"
    assert round(result.p, 4) == pytest.approx(0.1082)
    assert round(result.ci_low, 7) == pytest.approx(-0.1497426)
    assert round(result.ci_high, 7) == pytest.approx(0.8955795)
    greater = pearson(TUNA_X, TUNA_Y, alternative="greater")
    assert round(greater.p, 5) == pytest.approx(0.05409)
    assert round(greater.ci_low, 8) == pytest.approx(-0.02223023)
    assert greater.ci_high == 1.0
    assert "one-sided" in greater.method


def test_kendall_reproduces_r_cor_test_tuna_example():
    result = kendall(TUNA_X, TUNA_Y, alternative="greater")
    assert round(result.estimate, 7) == pytest.approx(0.4444444)
    assert (result.statistic_name, result.statistic) == ("T", 26.0)
    assert result.p_method == "exact"
    assert round(result.p, 5) == pytest.approx(0.05972)
    assert round(kendall(TUNA_X, TUNA_Y).p, 4) == pytest.approx(0.1194)
    approximate = kendall(TUNA_X, TUNA_Y, alternative="greater", exact=False)
    assert approximate.statistic_name == "z"
    assert round(approximate.statistic, 4) == pytest.approx(1.6681)
    assert round(approximate.p, 5) == pytest.approx(0.04765)
    assert approximate.p_method == "normal approximation"


def test_spearman_reproduces_r_cor_test_tuna_example():
    result = spearman(TUNA_X, TUNA_Y, alternative="greater")
    assert result.estimate == pytest.approx(0.6, abs=1e-12)
    assert (result.statistic_name, result.statistic) == ("S", 48.0)
    assert result.p_method == "exact"
    assert round(result.p, 4) == pytest.approx(0.0484)
    assert "exact" in result.method and "362880" in result.method
    assert round(spearman(TUNA_X, TUNA_Y).p, 4) == pytest.approx(0.0968)
    # The t approximation scipy would give instead is noticeably different.
    approximate = spearman(TUNA_X, TUNA_Y, exact=False)
    assert approximate.p == pytest.approx(stats.spearmanr(TUNA_X, TUNA_Y).pvalue, rel=1e-12)
    assert approximate.p_method == "t approximation" and approximate.df == 7


# ------------------------------------------------------------------------------------------
# Exact Spearman distribution
# ------------------------------------------------------------------------------------------


def test_spearman_null_distribution_counts():
    # n = 3: identity S = 0; two adjacent swaps S = 2; two 3-cycles S = 6; reversal S = 8.
    assert _spearman_s_counts(3).tolist() == [1, 0, 1 + 1, 0, 0, 0, 2, 0, 1]
    for n in range(3, 10):
        counts = _spearman_s_counts(n)
        assert counts.sum() == math.factorial(n)
        assert counts.size - 1 == (n**3 - n) // 3  # maximum S: reversed ranking
        np.testing.assert_array_equal(counts, counts[::-1])  # symmetric about (n³ - n)/6
        assert counts[1::2].sum() == 0  # S is always even


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_spearman_exact_p_matches_scipy_permutation_test(alternative):
    rng = np.random.default_rng(7)
    for n in (4, 6, 7):
        x = rng.permutation(n).astype(float)
        y = x + rng.normal(scale=2.0, size=n)
        rank_y = stats.rankdata(y)

        def statistic(a, axis=-1, rank_y=rank_y):
            # sum(rank_x · rank_y) is increasing in rho for fixed ranks.
            return np.sum(stats.rankdata(a, axis=axis) * rank_y, axis=axis)

        reference = stats.permutation_test(
            (x,),
            statistic,
            permutation_type="pairings",
            alternative=alternative,
            n_resamples=np.inf,
            vectorized=True,
        )
        result = spearman(x, y, alternative=alternative)
        assert result.p_method == "exact"
        assert result.p == pytest.approx(reference.pvalue, rel=1e-12)


def test_spearman_uses_t_approximation_with_ties_or_large_n():
    x = [1, 2, 2, 3, 4, 5]
    y = [2, 1, 4, 3, 6, 5]
    result = spearman(x, y)
    assert result.p_method == "t approximation" and "ties" in result.method
    reference = stats.spearmanr(x, y)
    assert result.estimate == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert result.statistic == pytest.approx((6**3 - 6) * (1 - reference.statistic) / 6)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 30))
    large = spearman(x, y, alternative="less")
    assert large.p_method == "t approximation" and "n > 9" in large.method
    assert large.p == pytest.approx(stats.spearmanr(x, y, alternative="less").pvalue)
    assert large.statistic == pytest.approx(np.sum((stats.rankdata(x) - stats.rankdata(y)) ** 2))


# ------------------------------------------------------------------------------------------
# Kendall
# ------------------------------------------------------------------------------------------


def test_kendall_with_ties_z_matches_scipy_asymptotic_p():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, 40).astype(float)
    y = x + rng.integers(0, 4, 40)
    for alternative in ("two-sided", "greater", "less"):
        result = kendall(x, y, alternative=alternative)
        reference = stats.kendalltau(x, y, method="asymptotic", alternative=alternative)
        assert result.estimate == pytest.approx(reference.statistic, rel=1e-12)
        assert result.p == pytest.approx(reference.pvalue, rel=1e-10)
        assert result.statistic_name == "z" and "ties" in result.method
    # The tie-corrected z (written out here) reproduces scipy's independent p-value.
    z = kendall(x, y).statistic
    assert 2 * stats.norm.sf(abs(z)) == pytest.approx(kendall(x, y).p, rel=1e-10)


def test_kendall_large_n_without_ties_uses_normal_approximation():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 60))
    result = kendall(x, y)
    assert result.p_method == "normal approximation" and "n > 49" in result.method
    n = 60
    score = result.estimate * n * (n - 1) / 2
    assert result.statistic == pytest.approx(score / math.sqrt(n * (n - 1) * (2 * n + 5) / 18))
    assert kendall(x[:49], y[:49]).p_method == "exact"
    forced = kendall(x, y, exact=True)
    assert forced.p_method == "exact"
    assert forced.p == pytest.approx(stats.kendalltau(x, y, method="exact").pvalue)


# ------------------------------------------------------------------------------------------
# Intervals
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_fisher_ci_helper_reproduces_scipy_pearson_interval(alternative):
    rng = np.random.default_rng(5)
    x = rng.normal(size=25)
    y = 0.4 * x + rng.normal(size=25)
    reference = stats.pearsonr(x, y, alternative=alternative).confidence_interval(0.9)
    r = float(np.corrcoef(x, y)[0, 1])
    low, high = _fisher_ci(r, 1 / math.sqrt(22), 0.9, alternative)
    assert (low, high) == pytest.approx((reference.low, reference.high), rel=1e-12)
    result = pearson(x, y, alternative=alternative, confidence=0.9)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-12)


def test_rank_correlation_intervals_use_stated_standard_errors():
    x, y = np.array(TUNA_X), np.array(TUNA_Y)
    z975 = stats.norm.ppf(0.975)
    rho = spearman(x, y)
    se = math.sqrt((1 + 0.6**2 / 2) / 6)  # Bonett & Wright (2000)
    assert rho.ci_low == pytest.approx(math.tanh(math.atanh(0.6) - z975 * se))
    assert rho.ci_high == pytest.approx(math.tanh(math.atanh(0.6) + z975 * se))
    assert "Bonett & Wright" in rho.method
    tau = kendall(x, y, confidence=0.9)
    se = math.sqrt(0.437 / 5)  # Fieller, Hartley & Pearson (1957)
    z95 = stats.norm.ppf(0.95)
    assert tau.ci_low == pytest.approx(math.tanh(math.atanh(4 / 9) - z95 * se))
    assert tau.ci_high == pytest.approx(math.tanh(math.atanh(4 / 9) + z95 * se))
    assert "Fieller" in tau.method and "90%" in tau.method


def test_too_small_for_interval_gives_nan_and_says_so():
    result = pearson([1, 2, 3], [1, 3, 2])
    assert result.estimate == pytest.approx(0.5)
    assert math.isnan(result.ci_low) and math.isnan(result.ci_high)
    assert "no CI" in result.method and "n >= 4" in result.method
    assert result.p == pytest.approx(stats.pearsonr([1, 2, 3], [1, 3, 2]).pvalue)
    small = kendall([1, 2, 3, 4], [1, 3, 2, 4])
    assert math.isnan(small.ci_low) and "no CI" in small.method


def test_perfect_correlation_is_handled():
    x = np.arange(8.0)
    for method in ("pearson", "spearman", "kendall"):
        result = correlation(x, 3 * x + 1, method=method)
        assert result.estimate == pytest.approx(1.0)
        assert result.ci_high == pytest.approx(1.0)
        assert result.p < 0.01
    assert spearman(x, -x).p == pytest.approx(2 / math.factorial(8))


# ------------------------------------------------------------------------------------------
# Cross-checks and options
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_matches_pingouin(method):
    rng = np.random.default_rng(11)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    # For Kendall with 33 < n < 50 pingouin (scipy's "auto") uses the normal approximation
    # where cor.test, and this module, use the exact distribution; compare like with like.
    exact = False if method == "kendall" else None
    result = correlation(x, y, method=method, exact=exact)
    reference = pg.corr(x, y, method=method).iloc[0]
    assert result.estimate == pytest.approx(reference["r"], rel=1e-12)
    assert result.p == pytest.approx(reference["p_val"], rel=1e-9)
    if method == "pearson":  # pingouin rounds its interval to 2 decimals
        assert result.ci_low == pytest.approx(reference["CI95"][0], abs=0.005)
        assert result.ci_high == pytest.approx(reference["CI95"][1], abs=0.005)


def test_drop_missing_and_names():
    x = [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]
    y = [2.0, 1.0, 3.0, None, 5.0, 7.0]
    with pytest.raises(ValueError, match="fat_fraction contains 1 missing"):
        correlation(x, y, names=("fat_fraction", "t2"))
    result = correlation(x, y, drop_missing=True, names=("fat_fraction", "t2"))
    assert (result.n, result.n_dropped) == (4, 2)
    assert "of fat_fraction and t2" in result.method
    assert "2 pair(s) with missing values dropped" in result.method
    assert result.names == ("fat_fraction", "t2")
    clean = correlation([1, 2, 5, 6], [2, 1, 5, 7])
    assert result.estimate == pytest.approx(clean.estimate)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        ([1, 1, 1, 1], [1, 2, 3, 4], {}, "x is constant"),
        ([1, 2, 3, 4], [5, 5, 5, 5], {"method": "kendall"}, "y is constant"),
        ([1, 2, 3, 4], [5, 5, 5, 5], {"names": ("pdff", "r2star")}, "r2star is constant"),
        ([1, 2, 3], [1, 2], {}, "x and y must have the same length"),
        ([1, 2], [2, 1], {}, "x/y pairs has 2 usable observation"),
        ([1, np.nan, 3, 4], [1, 2, 3, 4], {}, "x contains 1 missing"),
        ([1, 2, 3, 4], [1, 2, np.inf, 4], {}, "y contains 1 infinite"),
        ([1, 2, 3, 4], ["a", "b", "c", "d"], {}, "y must be numeric"),
        ([1, 2, 3, 4], [1, 3, 2, 4], {"method": "kendal"}, "method must be one of"),
        ([1, 2, 3, 4], [1, 3, 2, 4], {"alternative": "two.sided"}, "alternative must be one"),
        ([1, 2, 3, 4], [1, 3, 2, 4], {"confidence": 95}, "confidence must be in"),
        ([1, 2, 3, 4], [1, 3, 2, 4], {"exact": True}, "exact applies to"),
        ([1, 2, 2, 4], [1, 3, 2, 4], {"method": "spearman", "exact": True}, "ties in x"),
        ([1, 2, 3, 4], [1, 3, 3, 4], {"method": "kendall", "exact": True}, "ties in y"),
        (list(range(10)), list(range(10)), {"method": "spearman", "exact": True}, "n = 10"),
    ],
)
def test_rejects_bad_input(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        correlation(x, y, **kwargs)


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

_pairs = st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20)), min_size=5, max_size=25)
_methods = st.sampled_from(["pearson", "spearman", "kendall"])


def _same(a: CorrelationResult, b: CorrelationResult, sign: float = 1.0) -> None:
    assert b.estimate == pytest.approx(sign * a.estimate, rel=1e-9, abs=1e-12)
    assert b.p == pytest.approx(a.p, rel=1e-9, abs=1e-12)
    assert b.n == a.n


@settings(max_examples=50, deadline=None)
@given(pairs=_pairs, method=_methods, seed=st.integers(0, 2**16))
def test_correlation_properties(pairs, method, seed):
    x, y = (np.array(v, dtype=float) for v in zip(*pairs, strict=True))
    assume(np.unique(x).size > 1 and np.unique(y).size > 1)
    base = correlation(x, y, method=method)
    assert -1.0 <= base.estimate <= 1.0 and 0.0 <= base.p <= 1.0
    if not math.isnan(base.ci_low):
        assert base.ci_low <= base.estimate + 1e-12 and base.estimate <= base.ci_high + 1e-12
    _same(base, correlation(y, x, method=method))  # symmetric
    order = np.random.default_rng(seed).permutation(x.size)
    _same(base, correlation(x[order], y[order], method=method))  # joint permutation
    _same(base, correlation(3 * x + 7, 0.5 * y - 2, method=method))  # positive affine maps
    negated = correlation(-x, y, method=method)
    _same(base, negated, sign=-1.0)  # sign flips, two-sided p unchanged
    greater = correlation(x, y, method=method, alternative="greater")
    less = correlation(-x, y, method=method, alternative="less")
    assert less.p == pytest.approx(greater.p, rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------


def test_to_rows_and_tidy():
    results = [
        pearson(TUNA_X, TUNA_Y),
        spearman(TUNA_X, TUNA_Y),
        kendall(TUNA_X, TUNA_Y),
        kendall(TUNA_X, TUNA_Y, exact=False),
        spearman(TUNA_X, TUNA_Y, exact=False),
    ]
    table = tidy(results, study="tuna", comparison="lightness vs panel score")
    assert list(table.columns) == list(TIDY_COLUMNS)
    pairs = list(zip(table["measure"], table["statistic"], strict=True))
    assert pairs == [
        ("pearson_r", "estimate"), ("pearson_r", "t"), ("pearson_r", "df"),
        ("spearman_rho", "estimate"), ("spearman_rho", "S"),
        ("kendall_tau", "estimate"), ("kendall_tau", "T"),
        ("kendall_tau", "estimate"), ("kendall_tau", "z"),
        ("spearman_rho", "estimate"), ("spearman_rho", "S"), ("spearman_rho", "df"),
    ]  # fmt: skip
    estimate = table.iloc[0]
    assert estimate["ci_low"] == pytest.approx(-0.1497426, abs=5e-8)
    assert estimate["p"] == pytest.approx(0.1082, abs=5e-5)
    assert estimate["n"] == 9
    assert "Fisher z" in estimate["method"]
    assert table.loc[table["statistic"] == "T", "value"].item() == 26
    assert table.loc[table["statistic"] == "df", "value"].tolist() == [7, 7]
