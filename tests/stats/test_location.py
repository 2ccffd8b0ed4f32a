"""Tests of qmrflow.stats.location (ttest, ranks) against published R output, scipy and pingouin."""

from __future__ import annotations

import logging
import math

import numpy as np
import pingouin as pg
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from qmrflow.stats import location, ttest
from qmrflow.stats.location import (
    MannWhitneyResult,
    PairedTTestResult,
    WilcoxonResult,
    mann_whitney_u,
    paired_ttest,
    wilcoxon_signed_rank,
)
from qmrflow.stats.tidy import tidy

# ------------------------------------------------------------------------------------------
# Published examples
# ------------------------------------------------------------------------------------------

# Student (1908) / Cushny & Peebles (1905) sleep data, R datasets::sleep (extra hours of sleep,
# same 10 patients under two drugs). R's ?t.test example
# `t.test(extra ~ group, data = sleep, paired = TRUE)` prints (R >= 4.x):
#   t = -4.0621, df = 9, p-value = 0.002833
#   95 percent confidence interval: -2.4598858 -0.7001142
#   mean difference -1.58
SLEEP_GROUP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_GROUP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

# Hollander & Wolfe (1973, p. 29): Hamilton depression scale factor IV before (x) and after (y)
# tranquilizer therapy, 9 patients; R's ?wilcox.test example
# `wilcox.test(x, y, paired = TRUE, alternative = "greater")`: V = 40, p-value = 0.01953.
# Two-sided, R prints p-value = 0.03906.
HW_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HW_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]

# Hollander & Wolfe (1973, p. 69): permeability constants of the human chorioamnion at term (x)
# and at 12-26 weeks gestational age (y); R's ?wilcox.test example
# `wilcox.test(x, y, alternative = "g")`: W = 35, p-value = 0.1272. Two-sided: p = 0.2544.
HW_PERM_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
HW_PERM_Y = [1.15, 0.88, 0.90, 0.74, 1.21]


def test_paired_ttest_reproduces_r_sleep_example():
    result = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert isinstance(result, PairedTTestResult)
    assert result.t == pytest.approx(-4.0621, abs=5e-5)
    assert result.df == 9
    assert result.p == pytest.approx(0.002833, abs=5e-7)
    assert result.ci_low == pytest.approx(-2.4598858, abs=5e-8)
    assert result.ci_high == pytest.approx(-0.7001142, abs=5e-8)
    assert result.mean_difference == pytest.approx(-1.58, abs=5e-13)
    assert (result.n, result.n_dropped, result.alternative) == (10, 0, "two-sided")
    assert result.convention == "difference = x − y"
    # d_z = t / sqrt(n) = mean / SD of differences.
    assert result.cohen_dz == pytest.approx(result.t / math.sqrt(10))
    assert result.se == pytest.approx(result.sd_difference / math.sqrt(10))


def test_paired_ttest_matches_scipy_and_pingouin():
    result = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2, confidence=0.9)
    reference = stats.ttest_rel(SLEEP_GROUP1, SLEEP_GROUP2)
    ci = reference.confidence_interval(0.9)
    assert result.t == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    table = pg.ttest(SLEEP_GROUP1, SLEEP_GROUP2, paired=True)
    assert result.t == pytest.approx(table["T"].iloc[0], rel=1e-10)
    assert result.p == pytest.approx(table["p_val"].iloc[0], rel=1e-10)


def test_paired_ttest_one_sided_interval_is_one_sided():
    greater = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2, alternative="greater")
    less = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2, alternative="less")
    two_sided = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert greater.ci_high == math.inf and less.ci_low == -math.inf
    assert greater.cohen_dz_ci_high == math.inf and less.cohen_dz_ci_low == -math.inf
    assert less.p == pytest.approx(two_sided.p / 2)
    assert greater.p == pytest.approx(1 - two_sided.p / 2)
    # A one-sided 95% bound is the matching end of the two-sided 90% interval.
    ninety = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2, confidence=0.90)
    assert less.ci_high == pytest.approx(ninety.ci_high)
    assert less.cohen_dz_ci_high == pytest.approx(ninety.cohen_dz_ci_high, rel=1e-8)


def test_cohen_dz_interval_inverts_the_noncentral_t():
    result = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    root_n = math.sqrt(result.n)
    assert result.cohen_dz_ci_method.startswith("noncentral-t")
    # Lower bound: P(T >= t | delta_low) = 0.025; upper: P(T <= t | delta_high) = 0.025.
    assert stats.nct.sf(result.t, 9, result.cohen_dz_ci_low * root_n) == pytest.approx(0.025)
    assert stats.nct.cdf(result.t, 9, result.cohen_dz_ci_high * root_n) == pytest.approx(0.025)
    assert result.cohen_dz_ci_low < result.cohen_dz < result.cohen_dz_ci_high


def test_cohen_dz_interval_close_to_normal_approximation_for_large_n():
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 1.0, 400)
    result = paired_ttest(x, np.zeros(400))
    se = math.sqrt(1 / 400 + result.cohen_dz**2 / 800)
    assert result.cohen_dz_ci_low == pytest.approx(result.cohen_dz - 1.959964 * se, abs=2e-3)
    assert result.cohen_dz_ci_high == pytest.approx(result.cohen_dz + 1.959964 * se, abs=2e-3)


def test_cohen_dz_interval_falls_back_to_normal_approximation(monkeypatch, caplog):
    monkeypatch.setattr(ttest, "_nct_root", lambda *args: math.nan)
    with caplog.at_level(logging.WARNING, logger="qmrflow.stats.ttest"):
        result = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert "noncentral-t inversion failed" in caplog.text
    assert result.cohen_dz_ci_method == location.DZ_CI_NORMAL
    se = math.sqrt(1 / 10 + result.cohen_dz**2 / 20)
    assert result.cohen_dz_ci_low == pytest.approx(result.cohen_dz - 1.959964 * se, abs=1e-6)
    assert "normal approximation" in result.to_rows()[5]["method"]


def test_wilcoxon_reproduces_r_depression_example():
    result = wilcoxon_signed_rank(HW_X, HW_Y, alternative="greater")
    assert isinstance(result, WilcoxonResult)
    assert result.v == 40
    assert result.p == pytest.approx(0.01953, abs=5e-6)
    assert result.p_method == "exact"
    assert math.isnan(result.z)
    assert (result.n, result.n_zero, result.w_minus) == (9, 0, 5)
    assert result.rank_biserial == pytest.approx((40 - 5) / 45)
    two_sided = wilcoxon_signed_rank(HW_X, HW_Y)
    assert two_sided.p == pytest.approx(0.03906, abs=5e-6)
    assert "p: exact" in two_sided.method


def test_wilcoxon_matches_scipy_and_pingouin():
    result = wilcoxon_signed_rank(HW_X, HW_Y)
    table = pg.wilcoxon(HW_X, HW_Y)
    assert result.p == pytest.approx(table["p_val"].iloc[0], rel=1e-12)
    assert result.rank_biserial == pytest.approx(table["RBC"].iloc[0], rel=1e-12)
    assert min(result.v, result.w_minus) == table["W_val"].iloc[0]
    reference = stats.wilcoxon(HW_X, HW_Y, alternative="greater", method="exact")
    assert result.v == reference.statistic or result.w_minus == reference.statistic


# Tied example with a zero difference: differences x - y = [1, 2, 2, 3, -1, 4, 0, 5, 5, 5].
# Zero dropped (n = 9); |d| ranks: 1,1 -> 1.5; 2,2 -> 3.5; 3 -> 5; 4 -> 6; 5,5,5 -> 8.
# V = 1.5 + 3.5 + 3.5 + 5 + 6 + 3·8 = 43.5; tie groups 2, 2, 3: Σ(t³ - t) = 6 + 6 + 24 = 36.
# R's normal approximation with continuity correction (two-sided, sign(V - 22.5) = +1):
# z = (43.5 - 9·10/4 - 0.5) / sqrt(9·10·19/24 - 36/48) = 20.5 / sqrt(70.5).
TIED_X = [3, 5, 6, 8, 1, 9, 4, 10, 12, 7]
TIED_Y = [2, 3, 4, 5, 2, 5, 4, 5, 7, 2]


def test_wilcoxon_tied_example_uses_r_normal_approximation():
    result = wilcoxon_signed_rank(TIED_X, TIED_Y)
    assert (result.v, result.w_minus, result.n, result.n_zero) == (43.5, 1.5, 9, 1)
    z = 20.5 / math.sqrt(70.5)
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert result.p == pytest.approx(0.01463, abs=5e-6)
    assert result.p_method == "normal approximation with continuity correction"
    assert "normal approximation with continuity correction" in result.method
    assert "1 zero difference(s) dropped" in result.method
    # Without correction: z = 21 / sqrt(70.5).
    plain = wilcoxon_signed_rank(TIED_X, TIED_Y, correction=False)
    assert plain.p_method == "normal approximation"
    assert plain.z == pytest.approx(21 / math.sqrt(70.5), rel=1e-12)
    # One-sided "less": correction -0.5, z = (43.5 - 22.5 + 0.5) / sqrt(70.5).
    less = wilcoxon_signed_rank(TIED_X, TIED_Y, alternative="less")
    assert less.z == pytest.approx(21.5 / math.sqrt(70.5), rel=1e-12)
    assert less.p == pytest.approx(stats.norm.cdf(21.5 / math.sqrt(70.5)), rel=1e-12)


def test_wilcoxon_uses_r_rule_not_scipy_auto():
    # n = 10 with a tie: scipy's "auto" would run a permutation test; R (and we) use the
    # normal approximation.
    x = [1.0, 2.0, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, -8.0, 9.0]
    result = wilcoxon_signed_rank(x)
    assert result.p_method == "normal approximation with continuity correction"
    asymptotic = stats.wilcoxon(x, method="asymptotic", correction=True)
    assert result.p == pytest.approx(asymptotic.pvalue, rel=1e-12)
    # n = 49 non-zero differences without ties: exact (R's n < 50); n = 50: normal.
    rng = np.random.default_rng(2)
    d = rng.permutation(np.arange(1, 51) * rng.choice([-1, 1], 50))
    assert wilcoxon_signed_rank(d[:49]).p_method == "exact"
    assert wilcoxon_signed_rank(d).p_method.startswith("normal approximation")
    assert wilcoxon_signed_rank(d, method="exact").p_method == "exact"
    exact = stats.wilcoxon(d, method="exact")
    assert wilcoxon_signed_rank(d, method="exact").p == pytest.approx(exact.pvalue, rel=1e-12)


def test_wilcoxon_one_sample_and_mu():
    x = np.array([1.5, 2.5, 0.2, 3.1, -0.4, 1.9, 2.2])
    one = wilcoxon_signed_rank(x, mu=1.0)
    assert not one.paired
    assert one.convention == "difference = x − mu (mu = 1)"
    reference = stats.wilcoxon(x - 1.0, method="exact")
    assert one.p == pytest.approx(reference.pvalue, rel=1e-12)
    paired = wilcoxon_signed_rank(x, np.zeros(7), mu=1.0)
    assert (paired.v, paired.p) == (one.v, one.p)
    assert paired.median_difference == pytest.approx(np.median(x) - 1.0)


def test_mann_whitney_reproduces_r_permeability_example():
    result = mann_whitney_u(HW_PERM_X, HW_PERM_Y, alternative="greater")
    assert isinstance(result, MannWhitneyResult)
    assert result.w == 35
    assert result.p == pytest.approx(0.1272, abs=5e-5)
    assert result.p_method == "exact"
    assert (result.n_x, result.n_y) == (10, 5)
    assert result.probability_of_superiority == pytest.approx(35 / 50)
    assert result.rank_biserial == pytest.approx(2 * 35 / 50 - 1)
    two_sided = mann_whitney_u(HW_PERM_X, HW_PERM_Y)
    assert two_sided.p == pytest.approx(0.2544, abs=5e-5)


def test_mann_whitney_matches_pingouin():
    result = mann_whitney_u(HW_PERM_X, HW_PERM_Y)
    table = pg.mwu(HW_PERM_X, HW_PERM_Y)
    assert result.w == table["U_val"].iloc[0]
    assert result.p == pytest.approx(table["p_val"].iloc[0], rel=1e-12)
    assert result.rank_biserial == pytest.approx(table["RBC"].iloc[0], rel=1e-12)
    assert result.probability_of_superiority == pytest.approx(table["CLES"].iloc[0], rel=1e-12)


# Tied two-sample example: x = [1, 2, 2, 3, 5], y = [2, 3, 4, 4, 6, 7].
# Pooled mid-ranks: 1 -> 1; 2,2,2 -> 3; 3,3 -> 5.5; 4,4 -> 7.5; 5 -> 9; 6 -> 10; 7 -> 11.
# R_x = 1 + 3 + 3 + 5.5 + 9 = 21.5, W = 21.5 - 5·6/2 = 6.5; tie groups 3, 2, 2: Σ = 36.
# z = (6.5 - 15 + 0.5) / sqrt(30/12 · (12 - 36/(11·10))) (R, continuity-corrected).
def test_mann_whitney_tied_example_uses_r_normal_approximation():
    result = mann_whitney_u([1, 2, 2, 3, 5], [2, 3, 4, 4, 6, 7])
    assert result.w == 6.5
    z = -8 / math.sqrt(30 / 12 * (12 - 36 / 110))
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p == pytest.approx(2 * stats.norm.cdf(z), rel=1e-12)
    assert result.p == pytest.approx(0.1386, abs=5e-5)
    assert result.p_method == "normal approximation with continuity correction"
    plain = mann_whitney_u([1, 2, 2, 3, 5], [2, 3, 4, 4, 6, 7], correction=False)
    assert plain.z == pytest.approx(-8.5 / math.sqrt(30 / 12 * (12 - 36 / 110)), rel=1e-12)
    assert plain.p_method == "normal approximation"
    greater = mann_whitney_u([1, 2, 2, 3, 5], [2, 3, 4, 4, 6, 7], alternative="greater")
    assert greater.z == pytest.approx(-9 / math.sqrt(30 / 12 * (12 - 36 / 110)), rel=1e-12)


def test_mann_whitney_exact_threshold_is_r_rule():
    # Both samples larger than 8 without ties: scipy's "auto" takes the normal approximation,
    # R (and we) the exact distribution.
    a, b = np.arange(20.0), np.arange(15.0) + 0.25
    assert mann_whitney_u(a, b).p_method == "exact"
    assert mann_whitney_u(a, b).p == pytest.approx(
        stats.mannwhitneyu(a, b, method="exact").pvalue, rel=1e-12
    )
    assert stats.mannwhitneyu(a, b).pvalue != pytest.approx(mann_whitney_u(a, b).p, rel=1e-3)
    x = np.arange(49.0)
    y = np.arange(49.0) + 0.5
    assert mann_whitney_u(x, y).p_method == "exact"
    assert mann_whitney_u(np.arange(50.0), y).p_method.startswith("normal approximation")
    assert mann_whitney_u(np.arange(50.0), y, method="exact").p_method == "exact"
    assert mann_whitney_u(x, y, method="asymptotic").p_method.startswith("normal")


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

_pairs = st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20)), min_size=2, max_size=30)
_sample = st.lists(st.integers(-10, 10), min_size=1, max_size=25)


def _split(pairs):
    return tuple(np.array(v, dtype=float) for v in zip(*pairs, strict=True))


@settings(max_examples=50, deadline=None)
@given(pairs=_pairs, shift=st.integers(-1000, 1000), seed=st.integers(0, 2**16))
def test_paired_ttest_properties(pairs, shift, seed):
    x, y = _split(pairs)
    assume(np.unique(x - y).size > 1)
    base = paired_ttest(x, y)
    swapped = paired_ttest(y, x)
    assert swapped.mean_difference == pytest.approx(-base.mean_difference)
    assert swapped.t == pytest.approx(-base.t)
    assert swapped.cohen_dz == pytest.approx(-base.cohen_dz)
    assert swapped.p == pytest.approx(base.p)
    assert (swapped.ci_low, swapped.ci_high) == pytest.approx((-base.ci_high, -base.ci_low))
    assert swapped.cohen_dz_ci_low == pytest.approx(-base.cohen_dz_ci_high, rel=1e-6)
    assert base.ci_low <= base.mean_difference <= base.ci_high
    assert base.cohen_dz_ci_low <= base.cohen_dz <= base.cohen_dz_ci_high
    order = np.random.default_rng(seed).permutation(x.size)
    permuted = paired_ttest(x[order], y[order])
    assert (permuted.t, permuted.p) == pytest.approx((base.t, base.p))
    shifted = paired_ttest(x + shift, y + shift)
    assert (shifted.t, shifted.p, shifted.cohen_dz) == pytest.approx(
        (base.t, base.p, base.cohen_dz)
    )


@settings(max_examples=50, deadline=None)
@given(pairs=_pairs, shift=st.integers(-1000, 1000), seed=st.integers(0, 2**16))
def test_wilcoxon_properties(pairs, shift, seed):
    x, y = _split(pairs)
    assume(np.any(x != y))
    base = wilcoxon_signed_rank(x, y)
    swapped = wilcoxon_signed_rank(y, x)
    n = base.n
    assert swapped.v == n * (n + 1) / 2 - base.v
    assert swapped.p == pytest.approx(base.p, rel=1e-9)
    assert swapped.rank_biserial == pytest.approx(-base.rank_biserial)
    assert swapped.p_method == base.p_method
    assert 0 < base.p <= 1 and -1 <= base.rank_biserial <= 1
    order = np.random.default_rng(seed).permutation(x.size)
    permuted = wilcoxon_signed_rank(x[order], y[order])
    assert (permuted.v, permuted.p) == (base.v, pytest.approx(base.p, rel=1e-12))
    shifted = wilcoxon_signed_rank(x + shift, y + shift)
    assert (shifted.v, shifted.p) == (base.v, pytest.approx(base.p, rel=1e-12))
    # scipy agrees once R's method choice is imposed and zeros are removed.
    method = "exact" if base.p_method == "exact" else "asymptotic"
    d = (x - y)[x != y]
    assert base.p == pytest.approx(
        stats.wilcoxon(d, method=method, correction=True).pvalue, rel=1e-9
    )


@settings(max_examples=50, deadline=None)
@given(a=_sample, b=_sample, seed=st.integers(0, 2**16))
def test_mann_whitney_properties(a, b, seed):
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    assume(np.unique(np.concatenate([x, y])).size > 1)
    base = mann_whitney_u(x, y)
    swapped = mann_whitney_u(y, x)
    assert swapped.w == x.size * y.size - base.w
    assert swapped.p == pytest.approx(base.p, rel=1e-9)
    assert swapped.rank_biserial == pytest.approx(-base.rank_biserial)
    assert swapped.probability_of_superiority == pytest.approx(1 - base.probability_of_superiority)
    greater = mann_whitney_u(x, y, alternative="greater")
    assert mann_whitney_u(y, x, alternative="less").p == pytest.approx(greater.p, rel=1e-9)
    rng = np.random.default_rng(seed)
    permuted = mann_whitney_u(rng.permutation(x), rng.permutation(y))
    assert (permuted.w, permuted.p) == (base.w, pytest.approx(base.p, rel=1e-12))
    method = "exact" if base.p_method == "exact" else "asymptotic"
    assert base.p == pytest.approx(
        stats.mannwhitneyu(x, y, method=method, use_continuity=True).pvalue, rel=1e-9
    )
    # W counts pairs with x > y plus half the ties.
    wins = np.sum(x[:, None] > y[None, :]) + 0.5 * np.sum(x[:, None] == y[None, :])
    assert base.w == wins


# ------------------------------------------------------------------------------------------
# Errors and missing values
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "args", "kwargs", "match"),
    [
        (paired_ttest, ([1, 2, 3], [1, 2]), {}, "x and y must have the same length"),
        (paired_ttest, ([1], [2]), {}, "x/y pairs has 1 usable observation"),
        (paired_ttest, ([1, np.nan, 3], [1, 2, 4]), {}, "x contains 1 missing"),
        (
            paired_ttest,
            ([1, 2, 3], [1, None, 4]),
            {"names": ("pre", "post")},
            "post contains 1 missing",
        ),
        (paired_ttest, ([1, 2, 3], [0, 1, 2]), {}, "differences x − y is constant"),
        (
            paired_ttest,
            ([2.0, 2.0000000000000004, 2.0], [1.0, 1.0, 1.0]),
            {},
            "differences x − y are essentially constant",
        ),
        (paired_ttest, (["a", "b"], [1, 2]), {}, "x must be numeric"),
        (paired_ttest, ([1, 2, 3], [1, 3, 2]), {"alternative": "two.sided"}, "alternative must"),
        (paired_ttest, ([1, 2, 3], [1, 3, 2]), {"confidence": 95}, "confidence must be in"),
        (wilcoxon_signed_rank, ([1, 2, 3], [1, 2]), {}, "x and y must have the same length"),
        (wilcoxon_signed_rank, ([1, np.nan], [1, 2]), {}, "x contains 1 missing"),
        (wilcoxon_signed_rank, ([1, 2], [1, 2]), {}, "differences x − y are all zero"),
        (wilcoxon_signed_rank, ([3.0, 3.0],), {"mu": 3}, "differences x − mu are all zero"),
        (wilcoxon_signed_rank, ([1, 2, 3], None), {"method": "permutation"}, "method must"),
        (wilcoxon_signed_rank, ([1, 2, 3], None), {"alternative": "g"}, "alternative must"),
        (wilcoxon_signed_rank, ([1, 2, 3], None), {"mu": math.nan}, "mu must be a finite"),
        (wilcoxon_signed_rank, ([1, 2, 3], None), {"correction": "yes"}, "correction must"),
        (wilcoxon_signed_rank, (["a"], None), {}, "x must be numeric"),
        (
            wilcoxon_signed_rank,
            (TIED_X, TIED_Y),
            {"method": "exact"},
            "exact p is unavailable for differences x − y",
        ),
        (wilcoxon_signed_rank, ([1, -1, 2],), {"method": "exact"}, "exact p is unavailable"),
        (mann_whitney_u, ([], [1, 2]), {}, "x has 0 usable observation"),
        (mann_whitney_u, ([1, 2], [np.nan]), {}, "y contains 1 missing"),
        (mann_whitney_u, ([1, 2], [np.nan]), {"drop_missing": True}, "y has 0 usable"),
        (mann_whitney_u, ([2, 2], [2, 2, 2]), {}, "x and y are all tied"),
        (mann_whitney_u, ([1, 2], [2, 3]), {"method": "exact"}, "exact p is unavailable"),
        (mann_whitney_u, ([1, 2], ["a", "b"]), {}, "y must be numeric"),
        (mann_whitney_u, ([1, 2], [3, 4]), {"alternative": "both"}, "alternative must"),
        (mann_whitney_u, ([1, 2], [3, 4]), {"method": "normal"}, "method must"),
    ],
)
def test_bad_input_raises(func, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(*args, **kwargs)


def test_missing_values_dropped_and_reported():
    x = [*SLEEP_GROUP1, np.nan, 1.0]
    y = [*SLEEP_GROUP2, 2.0, None]
    result = paired_ttest(x, y, drop_missing=True)
    assert (result.n, result.n_dropped) == (10, 2)
    assert result.t == pytest.approx(-4.0621, abs=5e-5)
    assert "2 pair(s) with missing values dropped" in result.method
    assert all("2 pair(s)" in r["method"] for r in result.to_rows())

    wilcoxon = wilcoxon_signed_rank([*HW_X, np.nan], [*HW_Y, 1.0], drop_missing=True)
    assert (wilcoxon.v, wilcoxon.n_dropped) == (40, 1)
    assert "1 pair(s) with missing values dropped" in wilcoxon.method
    one_sample = wilcoxon_signed_rank([np.nan, *HW_X], drop_missing=True)
    assert "1 value(s) with missing values dropped" in one_sample.method

    mwu = mann_whitney_u([*HW_PERM_X, np.nan], [np.nan, *HW_PERM_Y, np.nan], drop_missing=True)
    assert (mwu.w, mwu.n_x, mwu.n_y, mwu.n_dropped_x, mwu.n_dropped_y) == (35, 10, 5, 1, 2)
    assert "1 x value(s)" in mwu.method and "2 y value(s)" in mwu.method
    assert mwu.p == pytest.approx(0.2544, abs=5e-5)


# ------------------------------------------------------------------------------------------
# Tidy rows
# ------------------------------------------------------------------------------------------


def _all_results():
    return [
        paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2),
        paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2, alternative="less"),
        wilcoxon_signed_rank(HW_X, HW_Y),
        wilcoxon_signed_rank(TIED_X, TIED_Y),
        mann_whitney_u(HW_PERM_X, HW_PERM_Y),
        mann_whitney_u([1, 2, 2, 3, 5], [2, 3, 4, 4, 6, 7]),
    ]


def test_rows_go_through_tidy_without_nan_values():
    results = _all_results()
    table = tidy(results, study="test", comparison="x vs y")
    assert len(table) == sum(len(r.to_rows()) for r in results)
    assert not table["value"].isna().any()
    assert not table["n"].isna().any()
    assert not table["method"].eq("").any()
    estimates = table[table["statistic"] == "estimate"]
    primary = estimates[
        estimates["measure"].isin(["mean_difference", "wilcoxon_v", "mann_whitney_w"])
    ]
    assert len(primary) == len(results) and not primary["p"].isna().any()
    for measure in ("mean_difference", "cohen_dz"):
        ci = estimates[estimates["measure"] == measure]
        assert not ci[["ci_low", "ci_high"]].isna().any().any()


def test_paired_ttest_rows():
    result = paired_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    rows = {(r["measure"], r["statistic"]): r for r in result.to_rows()}
    estimate = rows["mean_difference", "estimate"]
    assert (estimate["value"], estimate["n"]) == (pytest.approx(-1.58), 10)
    assert estimate["ci_low"] == pytest.approx(-2.4598858, abs=5e-8)
    assert estimate["p"] == pytest.approx(0.002833, abs=5e-7)
    assert rows["mean_difference", "t"]["value"] == pytest.approx(-4.0621, abs=5e-5)
    assert rows["mean_difference", "df"]["value"] == 9
    assert rows["cohen_dz", "estimate"]["ci_high"] == result.cohen_dz_ci_high
    assert "difference = x − y" in estimate["method"]
    assert set(rows) == {
        ("mean_difference", "estimate"), ("mean_difference", "sd"), ("mean_difference", "se"),
        ("mean_difference", "t"), ("mean_difference", "df"), ("cohen_dz", "estimate"),
        ("mean_x", "estimate"), ("mean_y", "estimate"), ("sd_x", "estimate"),
        ("sd_y", "estimate"),
    }  # fmt: skip
    assert rows["mean_x", "estimate"]["value"] == pytest.approx(0.75)


def test_rank_test_rows():
    exact = wilcoxon_signed_rank(HW_X, HW_Y, alternative="greater").to_rows()
    assert [(r["measure"], r["statistic"]) for r in exact] == [
        ("wilcoxon_v", "estimate"), ("rank_biserial", "estimate"),
        ("median_difference", "estimate"), ("zero_differences", "count"),
    ]  # fmt: skip
    assert exact[0]["value"] == 40 and exact[0]["p"] == pytest.approx(0.01953, abs=5e-6)
    assert "p: exact" in exact[0]["method"]
    normal = wilcoxon_signed_rank(TIED_X, TIED_Y).to_rows()
    rows = {(r["measure"], r["statistic"]): r for r in normal}
    assert rows["wilcoxon_v", "z"]["value"] == pytest.approx(20.5 / math.sqrt(70.5))
    assert rows["zero_differences", "count"]["value"] == 1
    assert rows["zero_differences", "count"]["n"] == 10
    assert rows["wilcoxon_v", "estimate"]["n"] == 9
    assert "normal approximation with continuity correction" in rows["wilcoxon_v", "z"]["method"]

    mwu = mann_whitney_u(HW_PERM_X, HW_PERM_Y).to_rows()
    rows = {(r["measure"], r["statistic"]): r for r in mwu}
    assert set(rows) == {
        ("mann_whitney_w", "estimate"), ("rank_biserial", "estimate"),
        ("probability_of_superiority", "estimate"), ("median_x", "estimate"),
        ("median_y", "estimate"),
    }  # fmt: skip
    assert rows["mann_whitney_w", "estimate"]["value"] == 35
    assert rows["mann_whitney_w", "estimate"]["n"] == 15
    assert rows["probability_of_superiority", "estimate"]["value"] == pytest.approx(0.7)
    assert (rows["median_x", "estimate"]["n"], rows["median_y", "estimate"]["n"]) == (10, 5)
    tied = {(r["measure"], r["statistic"]) for r in mann_whitney_u([1, 2, 2], [2, 3]).to_rows()}
    assert ("mann_whitney_w", "z") in tied
