"""Tests of qmrflow.stats.regression against the NIST StRD certified values and statsmodels."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from qmrflow.stats.regression import RegressionResult, linear_regression
from qmrflow.stats.tidy import TIDY_COLUMNS, tidy

# ------------------------------------------------------------------------------------------
# NIST/ITL Statistical Reference Datasets, Linear Least Squares Regression
# (https://www.itl.nist.gov/div898/strd/lls/lls.shtml). Certified values to 15 significant
# digits, tested to a relative 1e-9.
# ------------------------------------------------------------------------------------------

# Norris.dat (Norris J, NIST, "Calibration of Ozone Monitors"): 36 observations, (y, x), in
# the file's order (the same file is shipped in scipy/stats/tests/data/nist_linregress).
NORRIS_YX = [
    (0.1, 0.2), (338.8, 337.4), (118.1, 118.2), (888.0, 884.6), (9.2, 10.1), (228.1, 226.5),
    (668.5, 666.3), (998.5, 996.3), (449.1, 448.6), (778.9, 777.0), (559.2, 558.2),
    (0.3, 0.4), (0.1, 0.6), (778.1, 775.5), (668.8, 666.9), (339.3, 338.0), (448.9, 447.5),
    (10.8, 11.6), (557.7, 556.0), (228.3, 228.1), (998.0, 995.8), (888.8, 887.6),
    (119.6, 120.2), (0.3, 0.3), (0.6, 0.3), (557.6, 556.8), (339.3, 339.1), (888.0, 887.2),
    (998.5, 999.0), (778.9, 779.0), (10.2, 11.1), (117.6, 118.3), (228.9, 229.2),
    (668.4, 669.1), (449.2, 448.9), (0.2, 0.5),
]  # fmt: skip
NORRIS_CERTIFIED = {
    "intercept": -0.262323073774029,
    "intercept_se": 0.232818234301152,
    "slope": 1.00211681802045,
    "slope_se": 0.429796848199937e-03,
    "residual_sd": 0.884796396144373,
    "r_squared": 0.999993745883712,
    "f": 5436385.54079785,
}
NORRIS_RESIDUAL_SS = 26.6173985294224

# NoInt1.dat: y = B1·x, x = 60..70, y = 130..140 (11 observations).
NOINT1_CERTIFIED = {
    "slope": 2.07438016528926,
    "slope_se": 0.165289256198347e-01,
    "residual_sd": 3.56753034006338,
    "r_squared": 0.999365492298663,
    "f": 15750.2500000000,
}
# NoInt2.dat: y = B1·x, x = 4, 5, 6; y = 3, 4, 4.
NOINT2_CERTIFIED = {
    "slope": 0.727272727272727,
    "slope_se": 0.420827318078432e-01,
    "residual_sd": 0.369274472937998,
    "r_squared": 0.993348115299335,
    "f": 298.666666666667,
}


def _check_certified(result: RegressionResult, certified: dict[str, float]) -> None:
    for name, value in certified.items():
        assert getattr(result, name) == pytest.approx(value, rel=1e-9), name


def test_reproduces_nist_norris():
    y, x = (np.array(v) for v in zip(*NORRIS_YX, strict=True))
    result = linear_regression(x, y)
    assert (result.n, result.f_df1, result.f_df2, result.df_resid) == (36, 1, 34, 34)
    _check_certified(result, NORRIS_CERTIFIED)
    assert result.residual_sd**2 * 34 == pytest.approx(NORRIS_RESIDUAL_SS, rel=1e-9)
    assert result.f == pytest.approx(result.slope_t**2, rel=1e-9)
    assert result.f_p == pytest.approx(result.slope_p, rel=1e-6, abs=1e-300)
    assert not result.through_origin and "R² centred" in result.method


@pytest.mark.parametrize(
    ("x", "y", "certified", "n"),
    [
        (np.arange(60.0, 71.0), np.arange(130.0, 141.0), NOINT1_CERTIFIED, 11),
        ([4.0, 5.0, 6.0], [3.0, 4.0, 4.0], NOINT2_CERTIFIED, 3),
    ],
    ids=["NoInt1", "NoInt2"],
)
def test_reproduces_nist_no_intercept(x, y, certified, n):
    result = linear_regression(x, y, through_origin=True)
    _check_certified(result, certified)
    assert (result.n, result.f_df1, result.f_df2) == (n, 1, n - 1)
    assert result.through_origin
    assert result.intercept == 0.0
    for name in ("intercept_se", "intercept_ci_low", "intercept_ci_high", "intercept_t"):
        assert math.isnan(getattr(result, name)), name
    assert math.isnan(result.intercept_p) and math.isnan(result.cov_intercept_slope)
    # Uncentred R² and its adjustment with n (not n - 1) in the numerator, as R and NIST.
    y = np.asarray(y)
    rss = result.residual_sd**2 * (n - 1)
    assert result.r_squared == pytest.approx(1 - rss / np.sum(y**2), rel=1e-12)
    assert result.adj_r_squared == pytest.approx(1 - (1 - result.r_squared) * n / (n - 1))
    assert "uncentred" in result.method and "through the origin" in result.method


# ------------------------------------------------------------------------------------------
# Cross-checks
# ------------------------------------------------------------------------------------------


def test_matches_scipy_linregress_and_textbook_formulas():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 40, 25)
    y = 2.0 + 0.3 * x + rng.normal(scale=2.0, size=25)
    result = linear_regression(x, y, confidence=0.9)
    reference = stats.linregress(x, y)
    assert result.slope == pytest.approx(reference.slope, rel=1e-12)
    assert result.intercept == pytest.approx(reference.intercept, rel=1e-12)
    assert result.slope_se == pytest.approx(reference.stderr, rel=1e-10)
    assert result.intercept_se == pytest.approx(reference.intercept_stderr, rel=1e-10)
    assert result.slope_p == pytest.approx(reference.pvalue, rel=1e-8)
    assert result.r_squared == pytest.approx(reference.rvalue**2, rel=1e-12)
    n, sxx = 25, np.sum((x - x.mean()) ** 2)
    assert result.adj_r_squared == pytest.approx(1 - (1 - result.r_squared) * (n - 1) / (n - 2))
    t90 = stats.t.ppf(0.95, n - 2)
    assert result.slope_ci_low == pytest.approx(result.slope - t90 * result.slope_se)
    assert result.intercept_ci_high == pytest.approx(result.intercept + t90 * result.intercept_se)
    assert result.intercept_t == pytest.approx(result.intercept / result.intercept_se)
    s2 = result.residual_sd**2
    assert result.cov_intercept_slope == pytest.approx(-x.mean() * s2 / sxx, rel=1e-9)
    assert result.f_p == pytest.approx(stats.f.sf(result.f, 1, n - 2), rel=1e-9)


@pytest.mark.parametrize("through_origin", [False, True])
def test_predict_and_bands_match_statsmodels(through_origin):
    rng = np.random.default_rng(8)
    x = rng.uniform(1, 10, 15)
    y = 1.5 * x + (0 if through_origin else 4.0) + rng.normal(size=15)
    result = linear_regression(x, y, through_origin=through_origin)
    design = x[:, None] if through_origin else sm.add_constant(x)
    fit = sm.OLS(y, design).fit()
    grid = np.linspace(0, 12, 9)
    grid_design = grid[:, None] if through_origin else sm.add_constant(grid)
    frame = fit.get_prediction(grid_design).summary_frame(alpha=0.2)
    np.testing.assert_allclose(result.predict(grid), frame["mean"], rtol=1e-10)
    band_low, band_high = result.confidence_band(grid, confidence=0.8)
    np.testing.assert_allclose(band_low, frame["mean_ci_lower"], rtol=1e-10)
    np.testing.assert_allclose(band_high, frame["mean_ci_upper"], rtol=1e-10)
    low, high = result.prediction_band(grid, confidence=0.8)
    np.testing.assert_allclose(low, frame["obs_ci_lower"], rtol=1e-10)
    np.testing.assert_allclose(high, frame["obs_ci_upper"], rtol=1e-10)
    assert result.predict(2.0).shape == ()
    default_low, _ = result.confidence_band(grid)  # the fit's own 95% level: wider
    assert np.all(default_low[1:] < band_low[1:]) and default_low[0] <= band_low[0]


def test_perfect_fit(caplog):
    with caplog.at_level(logging.WARNING, logger="qmrflow.stats.regression"):
        linear_regression([0, 1, 2, 3], [1, 3, 5, 7.5])
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="qmrflow.stats.regression"):
        result = linear_regression([0, 1, 2, 3], [1, 3, 5, 7])
    assert "essentially perfect fit of y on x" in caplog.text
    assert result.slope == pytest.approx(2.0) and result.intercept == pytest.approx(1.0)
    assert result.r_squared == pytest.approx(1.0)
    origin = linear_regression([0, 1, 2, 3], [0, 1, 2, 3], through_origin=True)
    assert origin.residual_sd == 0.0 and origin.slope_t == math.inf and origin.f_p == 0.0


def test_drop_missing_and_names():
    x = [1.0, 2.0, 3.0, np.nan, 5.0, 6.0]
    y = [1.1, 2.3, None, 4.0, 4.9, 6.2]
    with pytest.raises(ValueError, match="echo_time contains 1 missing"):
        linear_regression(x, y, names=("echo_time", "signal"))
    result = linear_regression(x, y, drop_missing=True, names=("echo_time", "signal"))
    assert (result.n, result.n_dropped) == (4, 2)
    assert "regression of signal on echo_time" in result.method
    assert "2 pair(s) with missing values dropped" in result.method
    clean = linear_regression([1, 2, 5, 6], [1.1, 2.3, 4.9, 6.2])
    assert result.slope == pytest.approx(clean.slope)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        ([2, 2, 2, 2], [1, 2, 3, 4], {}, "x is constant"),
        ([2, 2, 2, 2], [1, 2, 3, 4], {"through_origin": True}, "x is constant"),
        ([1, 2, 3, 4], [5, 5, 5, 5], {"names": ("te", "s0")}, "s0 is constant"),
        ([1, 2, 3, 4], [0, 0, 0, 0], {"through_origin": True}, "y is all zero"),
        ([1, 2], [1, 3], {}, "x/y pairs has 2 usable observation"),
        ([1], [1], {"through_origin": True}, "at least 2"),
        ([1, 2, 3], [1, 2], {}, "x and y must have the same length"),
        ([1, 2, np.nan, 4], [1, 2, 3, 4], {}, "x contains 1 missing"),
        ([1, 2, 3, 4], [1, np.nan, 3, 4], {}, "y contains 1 missing"),
        ([1, 2, 3, 4], [1, 2, 3, 4], {"confidence": 1.0}, "confidence must be in"),
    ],
)
def test_rejects_bad_input(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        linear_regression(x, y, **kwargs)


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    xs=st.lists(st.integers(-50, 50), min_size=3, max_size=30, unique=True),
    slope=st.integers(-5, 5),
    intercept=st.integers(-20, 20),
)
def test_exact_line_is_recovered(xs, slope, intercept):
    x = np.array(xs, dtype=float)
    result = linear_regression(x, intercept + slope * x) if slope else None
    if result is None:  # a zero slope makes y constant, which is rejected
        with pytest.raises(ValueError, match="y is constant"):
            linear_regression(x, intercept + 0 * x)
        return
    assert result.slope == pytest.approx(slope, abs=1e-9)
    assert result.intercept == pytest.approx(intercept, abs=1e-8)
    assert result.r_squared == pytest.approx(1.0, abs=1e-12)
    assert result.residual_sd == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(result.predict(x), intercept + slope * x, atol=1e-8)
    origin = linear_regression(x, slope * x, through_origin=True)
    assert origin.slope == pytest.approx(slope, abs=1e-9)
    assert origin.r_squared == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(-30, 30), st.integers(-30, 30)), min_size=4, max_size=30),
    seed=st.integers(0, 2**16),
    through_origin=st.booleans(),
)
def test_invariant_under_permutation(pairs, seed, through_origin):
    x, y = (np.array(v, dtype=float) for v in zip(*pairs, strict=True))
    assume(np.unique(x).size > 1 and np.unique(y).size > 1)
    base = linear_regression(x, y, through_origin=through_origin)
    order = np.random.default_rng(seed).permutation(x.size)
    other = linear_regression(x[order], y[order], through_origin=through_origin)
    for name in ("slope", "intercept", "slope_se", "r_squared", "residual_sd"):
        assert getattr(other, name) == pytest.approx(getattr(base, name), rel=1e-8, abs=1e-9)
    if base.residual_sd > 1e-6:  # an exact fit has F and t of pure round-off (R warns too)
        assert other.f == pytest.approx(base.f, rel=1e-8)
        assert other.slope_p == pytest.approx(base.slope_p, rel=1e-6, abs=1e-12)
    assert 0.0 <= base.r_squared <= 1.0 + 1e-12
    assert base.slope_ci_low <= base.slope <= base.slope_ci_high


# ------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------


def test_to_rows_and_tidy():
    y, x = (np.array(v) for v in zip(*NORRIS_YX, strict=True))
    fit = linear_regression(x, y)
    origin = linear_regression(np.arange(60.0, 71.0), np.arange(130.0, 141.0), through_origin=True)
    table = tidy([fit, origin], study="nist", comparison="ozone monitor calibration")
    assert list(table.columns) == list(TIDY_COLUMNS)
    pairs = list(zip(table["measure"], table["statistic"], strict=True))
    expected = [
        ("slope", "estimate"), ("slope", "se"), ("slope", "t"),
        ("intercept", "estimate"), ("intercept", "se"), ("intercept", "t"),
        ("r_squared", "estimate"), ("adj_r_squared", "estimate"),
        ("f_statistic", "F"), ("f_statistic", "df1"), ("f_statistic", "df2"),
        ("residual_sd", "estimate"), ("pearson_r", "estimate"),
    ]  # fmt: skip
    assert pairs == expected + expected
    assert table["n"].tolist() == [36] * 13 + [11] * 13
    slope = table.iloc[0]
    assert slope["value"] == pytest.approx(NORRIS_CERTIFIED["slope"], rel=1e-9)
    assert slope["ci_low"] < slope["value"] < slope["ci_high"]
    origin_intercept = table.iloc[16]
    assert (origin_intercept["measure"], origin_intercept["value"]) == ("intercept", 0.0)
    assert math.isnan(origin_intercept["ci_low"]) and math.isnan(origin_intercept["p"])
    assert origin_intercept["method"].startswith("intercept fixed at 0")
    assert table.iloc[23]["value"] == 10  # df2 of NoInt1
    r_row, origin_r = table.iloc[12], table.iloc[25]
    assert r_row["value"] == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-12)
    assert math.isnan(r_row["p"]) and "slope's t test" in r_row["method"]
    assert math.isnan(origin_r["value"]) and "not defined through the origin" in origin_r["method"]


# ------------------------------------------------------------------------------------------
# Pearson's r beside the regression
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slope", [0.7, -0.02, -3.0])
def test_r_is_pearsons_correlation(slope):
    rng = np.random.default_rng(21)
    x = rng.uniform(0, 10, 30)
    y = 1.0 + slope * x + rng.normal(size=30)
    result = linear_regression(x, y)
    reference = stats.pearsonr(x, y)
    assert result.r == pytest.approx(reference.statistic, rel=1e-12)
    assert math.copysign(1.0, result.r) == math.copysign(1.0, result.slope)
    assert result.r**2 == pytest.approx(result.r_squared, rel=1e-10)
    assert result.slope_p == pytest.approx(reference.pvalue, rel=1e-8)  # the same test
    origin = linear_regression(x, y, through_origin=True)
    assert math.isnan(origin.r)


def test_r_with_dropped_pairs_and_exact_line():
    result = linear_regression([1, 2, np.nan, 4, 5], [2.0, 1.0, 3.0, 0.5, 0.0], drop_missing=True)
    assert result.r == pytest.approx(stats.pearsonr([1, 2, 4, 5], [2, 1, 0.5, 0]).statistic)
    assert linear_regression([0, 1, 2, 3], [7, 5, 3, 1]).r == -1.0


def test_existing_fields_construct_without_r():
    fit = linear_regression([1, 2, 3, 4], [3.1, 4.9, 7.2, 8.8])
    fields = {name: getattr(fit, name) for name in fit.__dataclass_fields__ if name != "r"}
    assert math.isnan(RegressionResult(**fields).r)
