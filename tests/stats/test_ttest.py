"""Tests of qmrflow.stats.ttest.two_sample_ttest against published R output, scipy and pingouin."""

from __future__ import annotations

import logging
import math

import numpy as np
import pingouin as pg
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.optimize import brentq
from scipy.special import gammaln

from qmrflow.stats import ttest
from qmrflow.stats.tidy import TIDY_COLUMNS, tidy
from qmrflow.stats.ttest import (
    G_CI_NCT,
    G_CI_NORMAL,
    TwoSampleTTestResult,
    two_sample_ttest,
)

# ------------------------------------------------------------------------------------------
# Published examples
# ------------------------------------------------------------------------------------------

# Student (1908) / Cushny & Peebles (1905) sleep data, R datasets::sleep (extra hours of sleep
# under drug 1 and drug 2), analysed as two independent groups in R's ?t.test example.
SLEEP_GROUP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_GROUP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_reproduces_r_sleep_example():
    """R's documented example (stats package, ?t.test; R >= 4.x output).

    ``t.test(extra ~ group, data = sleep)`` prints
    ``t = -1.8608, df = 17.776, p-value = 0.07939`` and
    ``95 percent confidence interval: -3.3654832  0.2054832``; means 0.75 and 2.33.
    """
    result = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert isinstance(result, TwoSampleTTestResult)
    assert result.t == pytest.approx(-1.8608, abs=5e-5)
    assert result.df == pytest.approx(17.776, abs=5e-4)
    assert result.p == pytest.approx(0.07939, abs=5e-6)
    assert result.ci_low == pytest.approx(-3.3654832, abs=5e-8)
    assert result.ci_high == pytest.approx(0.2054832, abs=5e-8)
    assert (result.mean_x, result.mean_y) == pytest.approx((0.75, 2.33), abs=1e-12)
    assert result.mean_difference == pytest.approx(-1.58, abs=1e-12)
    assert (result.n_x, result.n_y, result.n_dropped_x, result.n_dropped_y) == (10, 10, 0, 0)
    assert not result.equal_var and result.alternative == "two-sided"
    assert result.convention == "difference = x − y"
    assert result.method.startswith("Welch t-test (two-sided)")
    assert result.se == pytest.approx(result.mean_difference / result.t)


def test_student_reproduces_r_sleep_example():
    """R's documented example (stats package, ?t.test; R >= 4.x output).

    ``t.test(extra ~ group, data = sleep, var.equal = TRUE)`` prints
    ``t = -1.8608, df = 18, p-value = 0.07919`` and
    ``95 percent confidence interval: -3.363874  0.203874``.
    """
    result = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2, equal_var=True)
    assert result.t == pytest.approx(-1.8608, abs=5e-5)
    assert result.df == 18
    assert result.p == pytest.approx(0.07919, abs=5e-6)
    assert result.ci_low == pytest.approx(-3.363874, abs=5e-7)
    assert result.ci_high == pytest.approx(0.203874, abs=5e-7)
    assert result.equal_var
    assert "pooled variance" in result.method
    # Equal group sizes: pooled and unpooled standard errors coincide.
    assert result.se == pytest.approx(two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2).se)


@pytest.mark.parametrize("equal_var", [False, True])
@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_one_sided_matches_scipy(equal_var, alternative):
    x, y = SLEEP_GROUP1, SLEEP_GROUP2[:8]
    result = two_sample_ttest(x, y, equal_var=equal_var, alternative=alternative, confidence=0.9)
    reference = stats.ttest_ind(x, y, equal_var=equal_var, alternative=alternative)
    ci = reference.confidence_interval(0.9)
    assert result.t == pytest.approx(reference.statistic, rel=1e-12)
    assert result.df == pytest.approx(reference.df, rel=1e-12)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    if alternative == "less":
        assert result.ci_low == -math.inf and result.hedges_g_ci_low == -math.inf
    else:
        assert result.ci_high == math.inf and result.hedges_g_ci_high == math.inf
    assert "(one-sided)" in result.method


def test_one_sided_bounds_are_ends_of_two_sided_interval():
    two_sided = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    less = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2, alternative="less")
    greater = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2, alternative="greater")
    assert less.p == pytest.approx(two_sided.p / 2)
    assert greater.p == pytest.approx(1 - two_sided.p / 2)
    ninety = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2, confidence=0.90)
    assert less.ci_high == pytest.approx(ninety.ci_high)
    assert greater.ci_low == pytest.approx(ninety.ci_low)
    assert less.hedges_g_ci_high == pytest.approx(ninety.hedges_g_ci_high, rel=1e-8)
    assert greater.hedges_g_ci_low == pytest.approx(ninety.hedges_g_ci_low, rel=1e-8)


# ------------------------------------------------------------------------------------------
# Hedges' g
# ------------------------------------------------------------------------------------------


def _pooled_sd(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return math.sqrt(
        ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    )


@pytest.mark.parametrize("equal_var", [False, True])
def test_hedges_g_matches_pingouin(equal_var):
    # pingouin: d with the pooled SD, times J = 1 - 3/(4(nx + ny) - 9) (convert_effsize), the
    # same estimator as ours whatever test is run.
    rng = np.random.default_rng(11)
    for x, y in [
        (SLEEP_GROUP1, SLEEP_GROUP2),
        (rng.normal(1.0, 2.0, 7), rng.normal(0.0, 1.0, 13)),
    ]:
        result = two_sample_ttest(x, y, equal_var=equal_var)
        assert result.hedges_g == pytest.approx(
            pg.compute_effsize(x, y, eftype="hedges"), rel=1e-12
        )
        assert result.cohen_d == pytest.approx(pg.compute_effsize(x, y, eftype="cohen"), rel=1e-12)
        assert result.sd_pooled == pytest.approx(_pooled_sd(x, y), rel=1e-12)
    # Sleep data: d = -1.58 / s_p, J = 1 - 3/71.
    sleep = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert sleep.hedges_g == pytest.approx(-1.58 / _pooled_sd(SLEEP_GROUP1, SLEEP_GROUP2) * 68 / 71)


def test_hedges_correction_is_the_approximate_j():
    result = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2[:7])
    n = 17
    assert result.hedges_g / result.cohen_d == pytest.approx(1 - 3 / (4 * n - 9), rel=1e-14)
    # ... which is within 1e-3 of the exact gamma-function form (Hedges 1981).
    m = n - 2
    exact = math.exp(gammaln(m / 2) - 0.5 * math.log(m / 2) - gammaln((m - 1) / 2))
    assert result.hedges_g / result.cohen_d == pytest.approx(exact, abs=1e-3)


def _independent_nct_g_interval(x, y, confidence):
    """Noncentral-t interval for g, computed here with brentq on a fixed bracket."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    nx, ny = x.size, y.size
    scale = math.sqrt(1 / nx + 1 / ny)
    d = (x.mean() - y.mean()) / _pooled_sd(x, y)
    t_p, df = d / scale, nx + ny - 2
    tail = (1 - confidence) / 2
    low = brentq(lambda nc: stats.nct.sf(t_p, df, nc) - tail, t_p - 6, t_p + 6, xtol=1e-13)
    high = brentq(lambda nc: stats.nct.cdf(t_p, df, nc) - tail, t_p - 6, t_p + 6, xtol=1e-13)
    j = 1 - 3 / (4 * (nx + ny) - 9)
    return j * low * scale, j * high * scale


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_hedges_g_interval_inverts_the_noncentral_t(confidence):
    rng = np.random.default_rng(5)
    for x, y in [
        (SLEEP_GROUP1, SLEEP_GROUP2),
        (rng.normal(1.0, 1.0, 6), rng.normal(0.0, 3.0, 11)),
    ]:
        result = two_sample_ttest(x, y, confidence=confidence)
        assert result.hedges_g_ci_method == G_CI_NCT
        expected = _independent_nct_g_interval(x, y, confidence)
        assert (result.hedges_g_ci_low, result.hedges_g_ci_high) == pytest.approx(
            expected, rel=1e-8
        )
        assert result.hedges_g_ci_low < result.hedges_g < result.hedges_g_ci_high
        assert "Hedges' g CI: noncentral-t" in result.to_rows()[4]["method"]


def test_hedges_g_interval_agrees_with_pingouin_for_large_samples():
    # pingouin.compute_esci uses the Hedges & Olkin (1985) SE
    # sqrt((nx + ny)/(nx·ny) + g²/(2(nx + ny))) with a t critical value, centred on the value
    # passed; it is not the noncentral-t interval, so the two agree only for large samples.
    rng = np.random.default_rng(8)
    x, y = rng.normal(0.5, 1.0, 1000), rng.normal(0.0, 1.0, 1007)
    result = two_sample_ttest(x, y)
    reference = pg.compute_esci(result.hedges_g, 1000, 1007, eftype="cohen", decimals=12)
    assert (result.hedges_g_ci_low, result.hedges_g_ci_high) == pytest.approx(
        tuple(reference), abs=1e-3
    )


def test_hedges_g_interval_falls_back_to_normal_approximation(monkeypatch, caplog):
    monkeypatch.setattr(ttest, "_nct_root", lambda *args: math.nan)
    with caplog.at_level(logging.WARNING, logger="qmrflow.stats.ttest"):
        result = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert "Hedges' g interval uses the normal approximation" in caplog.text
    assert result.hedges_g_ci_method == G_CI_NORMAL
    d, j = result.cohen_d, 68 / 71
    se = math.sqrt(20 / 100 + d**2 / 40)
    assert result.hedges_g_ci_low == pytest.approx(j * (d - 1.959964 * se), abs=1e-6)
    assert result.hedges_g_ci_high == pytest.approx(j * (d + 1.959964 * se), abs=1e-6)
    assert "normal approximation" in result.to_rows()[4]["method"]


# ------------------------------------------------------------------------------------------
# Agreement with scipy and pingouin on random data
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("equal_var", [False, True])
def test_matches_scipy_and_pingouin(seed, equal_var):
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.normal(), rng.uniform(0.5, 3), rng.integers(2, 40))
    y = rng.normal(rng.normal(), rng.uniform(0.5, 3), rng.integers(2, 40))
    result = two_sample_ttest(x, y, equal_var=equal_var, confidence=0.9)
    reference = stats.ttest_ind(x, y, equal_var=equal_var)
    ci = reference.confidence_interval(0.9)
    assert result.t == pytest.approx(reference.statistic, rel=1e-12)
    assert result.df == pytest.approx(reference.df, rel=1e-12)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    # pingouin's correction=True is Welch's test; its cohen_d column is |d|.
    table = pg.ttest(x, y, correction=not equal_var)
    assert result.t == pytest.approx(table["T"].iloc[0], rel=1e-10)
    assert result.df == pytest.approx(table["dof"].iloc[0], rel=1e-10)
    assert result.p == pytest.approx(table["p_val"].iloc[0], rel=1e-10)
    assert abs(result.cohen_d) == pytest.approx(table["cohen_d"].iloc[0], rel=1e-10)


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

_group = st.lists(st.integers(-20, 20), min_size=2, max_size=25)


@settings(max_examples=40, deadline=None)
@given(
    a=_group,
    b=_group,
    equal_var=st.booleans(),
    shift=st.integers(-1000, 1000),
    scale=st.sampled_from([0.001, 0.5, 3.0, 250.0]),
)
def test_two_sample_ttest_properties(a, b, equal_var, shift, scale):
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    assume(np.unique(x).size > 1 or np.unique(y).size > 1)
    base = two_sample_ttest(x, y, equal_var=equal_var)
    assert base.ci_low <= base.mean_difference <= base.ci_high
    assert base.hedges_g_ci_low <= base.hedges_g <= base.hedges_g_ci_high
    assert 0 < base.p <= 1

    swapped = two_sample_ttest(y, x, equal_var=equal_var)
    assert swapped.mean_difference == pytest.approx(-base.mean_difference, abs=1e-12)
    assert swapped.t == pytest.approx(-base.t, abs=1e-12)
    assert swapped.hedges_g == pytest.approx(-base.hedges_g, abs=1e-12)
    assert (swapped.p, swapped.df) == pytest.approx((base.p, base.df))
    assert (swapped.ci_low, swapped.ci_high) == pytest.approx((-base.ci_high, -base.ci_low))
    assert (swapped.hedges_g_ci_low, swapped.hedges_g_ci_high) == pytest.approx(
        (-base.hedges_g_ci_high, -base.hedges_g_ci_low), rel=1e-6, abs=1e-9
    )

    shifted = two_sample_ttest(x + shift, y + shift, equal_var=equal_var)
    assert shifted.mean_difference == pytest.approx(base.mean_difference, abs=1e-9)
    assert (shifted.t, shifted.p, shifted.df) == pytest.approx(
        (base.t, base.p, base.df), rel=1e-7, abs=1e-9
    )
    assert shifted.hedges_g == pytest.approx(base.hedges_g, rel=1e-7, abs=1e-9)

    scaled = two_sample_ttest(x * scale, y * scale, equal_var=equal_var)
    assert scaled.mean_difference == pytest.approx(scale * base.mean_difference, abs=1e-12)
    assert (scaled.ci_low, scaled.ci_high) == pytest.approx(
        (scale * base.ci_low, scale * base.ci_high)
    )
    assert (scaled.t, scaled.p, scaled.df, scaled.hedges_g) == pytest.approx(
        (base.t, base.p, base.df, base.hedges_g), abs=1e-12
    )
    assert (scaled.hedges_g_ci_low, scaled.hedges_g_ci_high) == pytest.approx(
        (base.hedges_g_ci_low, base.hedges_g_ci_high), rel=1e-9, abs=1e-12
    )


# ------------------------------------------------------------------------------------------
# Errors, missing values and tidy rows
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1], [1, 2, 3]), {}, "x has 1 usable observation"),
        (([1, 2, 3], [2]), {"names": ("patients", "controls")}, "controls has 1 usable"),
        (([1, np.nan, 3], [1, 2, 4]), {}, "x contains 1 missing"),
        (([1, 2, 3], [1, None, 4]), {"names": ("pre", "post")}, "post contains 1 missing"),
        (([1, np.nan], [1, 2, 3]), {"drop_missing": True}, "x has 1 usable observation"),
        (([2, 2, 2], [5, 5]), {}, "x and y are both constant"),
        (
            ([1.0, 1.0000000000000002], [1.0, 1.0]),
            {},
            "x and y are essentially constant",
        ),
        ((["a", "b"], [1, 2]), {}, "x must be numeric"),
        (([1, 2, np.inf], [1, 2]), {}, "x contains 1 infinite"),
        (([[1, 2], [3, 4]], [1, 2]), {}, "x must be 1-dimensional"),
        (([1, 2, 3], [1, 3]), {"alternative": "two.sided"}, "alternative must"),
        (([1, 2, 3], [1, 3]), {"confidence": 95}, "confidence must be in"),
        (([1, 2, 3], [1, 3]), {"equal_var": "yes"}, "equal_var must"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_sample_ttest(*args, **kwargs)


def test_drop_missing_reports_dropped_counts():
    x = [0.7, np.nan, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    y = [1.9, 0.8, None, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4, np.nan]
    result = two_sample_ttest(x, y, drop_missing=True, names=("drug1", "drug2"))
    assert (result.n_x, result.n_y, result.n_dropped_x, result.n_dropped_y) == (10, 10, 1, 2)
    complete = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2)
    assert (result.t, result.p, result.hedges_g) == pytest.approx(
        (complete.t, complete.p, complete.hedges_g)
    )
    assert result.convention == "difference = drug1 − drug2"
    assert "1 drug1 value(s) with missing values dropped" in result.method
    assert "2 drug2 value(s) with missing values dropped" in result.method
    assert "dropped" not in complete.method


def test_rows_go_through_tidy():
    result = two_sample_ttest(SLEEP_GROUP1, SLEEP_GROUP2[:8], alternative="greater")
    rows = result.to_rows()
    assert [(r["measure"], r["statistic"]) for r in rows] == [
        ("mean_difference", "estimate"),
        ("mean_difference", "se"),
        ("mean_difference", "t"),
        ("mean_difference", "df"),
        ("hedges_g", "estimate"),
        ("cohen_d", "estimate"),
        ("sd_pooled", "estimate"),
        ("mean_x", "estimate"),
        ("mean_y", "estimate"),
        ("sd_x", "estimate"),
        ("sd_y", "estimate"),
    ]
    table = tidy(result, study="sleep", comparison="drug 1 vs drug 2")
    assert tuple(table.columns) == TIDY_COLUMNS
    assert len(table) == len(rows)
    estimate = table.iloc[0]
    assert estimate["value"] == pytest.approx(result.mean_difference)
    assert (estimate["ci_low"], estimate["ci_high"]) == (result.ci_low, math.inf)
    assert estimate["p"] == pytest.approx(result.p)
    assert estimate["n"] == 18
    assert table.iloc[4]["ci_high"] == math.inf
    assert table.set_index("measure").loc["mean_y", "n"] == 8
    assert math.isnan(table.iloc[1]["p"])


def test_one_constant_group_is_allowed_without_warning(recwarn):
    result = two_sample_ttest([2.5, 2.5, 2.5], [1.0, 2.0, 4.0, 5.0])
    # scipy itself warns of catastrophic cancellation here; the exact zero variance is fine.
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert result.sd_x == 0
    assert result.df == pytest.approx(3.0)  # Welch-Satterthwaite with s_x = 0: n_y - 1
    assert result.t == pytest.approx(-0.5 / math.sqrt(10 / 3 / 4), rel=1e-12)
