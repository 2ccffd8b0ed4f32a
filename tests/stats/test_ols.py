"""Tests of qmrflow.stats.ols (multiple regression): NIST Longley, R's lm example, properties."""

from __future__ import annotations

import dataclasses
import logging
import math
import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from qmrflow.stats.ols import Coefficient, MultipleRegressionResult, multiple_regression
from qmrflow.stats.regression import linear_regression
from qmrflow.stats.tidy import TIDY_COLUMNS, tidy

# ------------------------------------------------------------------------------------------
# NIST StRD, Longley (1967), certified values
# (https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml): 16 observations,
# y = TOTEMP on x1..x6 = GNPDEFL, GNP, UNEMP, ARMED, POP, YEAR with intercept. The data are
# statsmodels' copy. Longley is ill-conditioned (condition number of the design ~5e9);
# statsmodels reproduces every certified value to a relative 1.3e-11, tested to 1e-9.
# ------------------------------------------------------------------------------------------

LONGLEY_COLUMNS = ["TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR"]
LONGLEY_ESTIMATES = [
    -3482258.63459582,
    15.0618722713733,
    -0.358191792925910e-01,
    -2.02022980381683,
    -1.03322686717359,
    -0.511041056535807e-01,
    1829.15146461355,
]
LONGLEY_SE = [
    890420.383607373,
    84.9149257747669,
    0.334910077722432e-01,
    0.488399681651699,
    0.214274163161675,
    0.226073200069370,
    455.478499142212,
]
LONGLEY_CERTIFIED = {
    "residual_sd": 304.854073561965,
    "r_squared": 0.995479004577296,
    "ss_regression": 184172401.944494,
    "ss_residual": 836424.055505915,
    "f": 330.285339234588,
}
LONGLEY_REL = 1e-9


def _longley() -> pd.DataFrame:
    data = sm.datasets.longley.load_pandas().data
    assert list(data.columns) == LONGLEY_COLUMNS
    assert data.shape == (16, 7)
    # First and last rows of NIST's Longley.dat (y, x1..x6).
    assert data.iloc[0].tolist() == [60323, 83, 234289, 2356, 1590, 107608, 1947]
    assert data.iloc[-1].tolist() == [70551, 116.9, 554894, 4007, 2827, 130081, 1962]
    return data


def test_reproduces_nist_longley():
    data = _longley()
    result = multiple_regression(data.iloc[:, 1:], data["TOTEMP"])
    assert result.names == ("(Intercept)", *LONGLEY_COLUMNS[1:])
    np.testing.assert_allclose(result.estimates, LONGLEY_ESTIMATES, rtol=LONGLEY_REL)
    np.testing.assert_allclose(result.se, LONGLEY_SE, rtol=LONGLEY_REL)
    for name, value in LONGLEY_CERTIFIED.items():
        assert getattr(result, name) == pytest.approx(value, rel=LONGLEY_REL), name
    assert (result.f_df1, result.f_df2, result.df_residual, result.n) == (6, 9, 9, 16)
    assert result.ss_total == pytest.approx(result.ss_regression + result.ss_residual)
    assert result.intercept and result.response == "TOTEMP" and result.n_dropped == 0
    assert "regression of TOTEMP on GNPDEFL, GNP" in result.method
    assert "R² centred" in result.method and "on 6 and 9 df" in result.method
    gnp = result.coefficient("GNP")
    assert gnp.estimate == pytest.approx(LONGLEY_ESTIMATES[2], rel=LONGLEY_REL)
    assert gnp.t == pytest.approx(gnp.estimate / gnp.se)
    # The same from a plain array with names, and with the default names.
    array = multiple_regression(data.iloc[:, 1:].to_numpy(), data["TOTEMP"].to_numpy())
    assert array.names == ("(Intercept)", "x1", "x2", "x3", "x4", "x5", "x6")
    np.testing.assert_array_equal(array.estimates, result.estimates)
    named = multiple_regression(
        data.iloc[:, 1:].to_numpy(), data["TOTEMP"], names=LONGLEY_COLUMNS[1:]
    )
    assert named == result


# ------------------------------------------------------------------------------------------
# R's ?lm example (Annette Dobson 1990, plant weights). Every printed value was checked
# against statsmodels; tolerances are half a unit of the last printed digit.
# ------------------------------------------------------------------------------------------

CTL = [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14]
TRT = [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69]


def _dobson() -> tuple[pd.DataFrame, pd.Series]:
    weight = pd.Series(CTL + TRT, name="weight")
    group_trt = np.repeat([0.0, 1.0], 10)
    return pd.DataFrame({"groupCtl": 1.0 - group_trt, "groupTrt": group_trt}), weight


def test_reproduces_r_lm_example_with_intercept():
    groups, weight = _dobson()
    result = multiple_regression(groups[["groupTrt"]], weight)  # lm(weight ~ group)
    assert result.names == ("(Intercept)", "groupTrt")
    intercept, trt = result.coefficient("(Intercept)"), result.coefficient("groupTrt")
    assert intercept.estimate == pytest.approx(5.0320, abs=5e-5)
    assert intercept.se == pytest.approx(0.2202, abs=5e-5)
    assert intercept.t == pytest.approx(22.850, abs=5e-4)
    assert intercept.p == pytest.approx(9.55e-15, abs=5e-18)
    assert trt.estimate == pytest.approx(-0.3710, abs=5e-5)
    assert trt.se == pytest.approx(0.3114, abs=5e-5)
    assert trt.t == pytest.approx(-1.191, abs=5e-4)
    assert trt.p == pytest.approx(0.249, abs=5e-4)
    assert result.residual_sd == pytest.approx(0.6964, abs=5e-5)
    assert result.df_residual == 18
    assert result.r_squared == pytest.approx(0.07308, abs=5e-6)
    assert result.adj_r_squared == pytest.approx(0.02158, abs=5e-6)
    assert result.f == pytest.approx(1.419, abs=5e-4)
    assert (result.f_df1, result.f_df2) == (1, 18)
    assert result.f_p == pytest.approx(0.249, abs=5e-4)
    assert result.f == pytest.approx(trt.t**2, rel=1e-12)
    assert "regression of weight on groupTrt with intercept" in result.method


def test_reproduces_r_lm_example_without_intercept():
    groups, weight = _dobson()
    result = multiple_regression(groups, weight, intercept=False)  # lm(weight ~ group - 1)
    assert result.names == ("groupCtl", "groupTrt") and not result.intercept
    np.testing.assert_allclose(result.estimates, [5.0320, 4.6610], atol=5e-5)
    np.testing.assert_allclose(result.se, [0.2202, 0.2202], atol=5e-5)
    assert result.r_squared == pytest.approx(0.9818, abs=5e-5)
    assert result.adj_r_squared == pytest.approx(0.9798, abs=5e-5)
    assert result.f == pytest.approx(485.1, abs=0.05)
    assert (result.f_df1, result.f_df2) == (2, 18)
    # Uncentred, as summary.lm: R² = 1 - RSS/Σy², adj R² with n/(n - p), F on p df.
    y = weight.to_numpy()
    assert result.ss_total == pytest.approx(np.sum(y**2), rel=1e-12)
    assert result.r_squared == pytest.approx(1 - result.ss_residual / np.sum(y**2), rel=1e-12)
    assert result.adj_r_squared == pytest.approx(1 - (1 - result.r_squared) * 20 / 18)
    assert result.f == pytest.approx((result.ss_regression / 2) / result.residual_sd**2, rel=1e-12)
    assert "without intercept" in result.method and "uncentred" in result.method


# ------------------------------------------------------------------------------------------
# Cross-checks
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("intercept", [True, False])
def test_one_predictor_agrees_with_linear_regression(intercept):
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 20, 18)
    y = (3.0 if intercept else 0.0) + 0.8 * x + rng.normal(size=18)
    simple = linear_regression(x, y, through_origin=not intercept, confidence=0.9)
    multiple = multiple_regression(x[:, None], y, intercept=intercept, confidence=0.9)
    slope = multiple.coefficient("x1")
    assert slope == Coefficient(
        "x1",
        simple.slope,
        simple.slope_se,
        simple.slope_ci_low,
        simple.slope_ci_high,
        simple.slope_t,
        simple.slope_p,
    )
    if intercept:
        b0 = multiple.coefficient("(Intercept)")
        assert (b0.estimate, b0.se, b0.ci_low, b0.p) == (
            simple.intercept,
            simple.intercept_se,
            simple.intercept_ci_low,
            simple.intercept_p,
        )
        assert multiple.cov[0, 1] == simple.cov_intercept_slope
    for name in ("r_squared", "adj_r_squared", "f", "f_df1", "f_df2", "f_p", "residual_sd"):
        assert getattr(multiple, name) == getattr(simple, name), name


def test_matches_statsmodels_and_formulas():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 3))
    y = 1.0 + X @ [0.5, -2.0, 0.0] + rng.normal(size=30)
    result = multiple_regression(X, y, confidence=0.8)
    fit = sm.OLS(y, sm.add_constant(X)).fit()
    np.testing.assert_allclose(result.estimates, fit.params, rtol=1e-12)
    np.testing.assert_allclose(result.p, fit.pvalues, rtol=1e-10)
    np.testing.assert_allclose(result.cov, fit.cov_params(), rtol=1e-12)
    interval = fit.conf_int(alpha=0.2)
    np.testing.assert_allclose(np.c_[result.ci_low, result.ci_high], interval, rtol=1e-12)
    # Textbook formulas (Draper & Smith 1998, ch. 5).
    design = sm.add_constant(X)
    b = np.linalg.solve(design.T @ design, design.T @ y)
    rss = np.sum((y - design @ b) ** 2)
    tss = np.sum((y - y.mean()) ** 2)
    np.testing.assert_allclose(result.estimates, b, rtol=1e-10)
    np.testing.assert_allclose(result.t, result.estimates / result.se, rtol=1e-12)
    assert result.r_squared == pytest.approx(1 - rss / tss, rel=1e-12)
    assert result.adj_r_squared == pytest.approx(1 - (rss / 26) / (tss / 29), rel=1e-12)
    assert result.f == pytest.approx(((tss - rss) / 3) / (rss / 26), rel=1e-10)
    assert result.residual_sd == pytest.approx(math.sqrt(rss / 26), rel=1e-12)


def test_boolean_indicators_and_drop_missing():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"age": rng.uniform(20, 80, 12), "patient": rng.random(12) < 0.5})
    frame.loc[[0, 5], "patient"] = [True, False]  # both groups present
    y = 0.02 * frame["age"] + frame["patient"] + rng.normal(scale=0.1, size=12)
    as_bool = multiple_regression(frame, y)
    as_float = multiple_regression(frame.astype(float), y)
    np.testing.assert_array_equal(as_bool.estimates, as_float.estimates)

    X = frame.astype(float).to_numpy()
    X[3, 0] = np.nan
    y_missing = y.to_numpy().copy()
    y_missing[7] = np.nan
    with pytest.raises(ValueError, match="X column 'age' contains 1 missing"):
        multiple_regression(X, y, names=["age", "patient"])
    with pytest.raises(ValueError, match="y contains 1 missing"):
        multiple_regression(frame.astype(float), y_missing)
    result = multiple_regression(X, y_missing, names=["age", "patient"], drop_missing=True)
    assert (result.n, result.n_dropped) == (10, 2)
    assert result.method.endswith("2 row(s) with missing values dropped")
    keep = np.setdiff1d(np.arange(12), [3, 7])
    clean = multiple_regression(X[keep], y_missing[keep], names=["age", "patient"])
    np.testing.assert_allclose(result.estimates, clean.estimates, rtol=1e-12)


def test_perfect_fit_warns(caplog):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0], [4.0, 5.0]])
    with caplog.at_level(logging.WARNING, logger="qmrflow.stats.ols"):
        result = multiple_regression(X, 1.0 + 2.0 * X[:, 0] - X[:, 1])
    assert "essentially perfect fit of y on x1, x2" in caplog.text
    np.testing.assert_allclose(result.estimates, [1.0, 2.0, -1.0], atol=1e-12)
    assert result.r_squared == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------


def _random_problem(seed: int, n: int = 15, p: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 5, p)
    return X, X @ rng.normal(size=p) + rng.normal(size=n) + 2.0


_SCALARS = ("r_squared", "adj_r_squared", "f", "f_p", "residual_sd", "ss_residual")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), intercept=st.booleans())
def test_invariant_under_row_permutation(seed, intercept):
    X, y = _random_problem(seed)
    base = multiple_regression(X, y, intercept=intercept)
    order = np.random.default_rng(seed + 1).permutation(y.size)
    other = multiple_regression(X[order], y[order], intercept=intercept)
    for name in ("estimates", "se", "ci_low", "ci_high", "t", "p"):
        np.testing.assert_allclose(getattr(other, name), getattr(base, name), rtol=1e-9)
    for name in _SCALARS:
        assert getattr(other, name) == pytest.approx(getattr(base, name), rel=1e-9), name


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    column=st.integers(0, 2),
    scale=st.sampled_from([-1000.0, -0.5, 1e-3, 7.0, 1e4]),
    intercept=st.booleans(),
)
def test_rescaling_a_predictor_rescales_its_coefficient(seed, column, scale, intercept):
    X, y = _random_problem(seed)
    base = multiple_regression(X, y, intercept=intercept)
    scaled_X = X.copy()
    scaled_X[:, column] *= scale
    scaled = multiple_regression(scaled_X, y, intercept=intercept)
    j = column + int(intercept)
    factor = np.ones(len(base.names))
    factor[j] = 1.0 / scale
    np.testing.assert_allclose(scaled.estimates, base.estimates * factor, rtol=1e-8)
    np.testing.assert_allclose(scaled.se, base.se * np.abs(factor), rtol=1e-8)
    np.testing.assert_allclose(scaled.t, base.t * np.sign(factor), rtol=1e-8)  # |t| unchanged
    np.testing.assert_allclose(scaled.p, base.p, rtol=1e-6)
    for name in _SCALARS:
        assert getattr(scaled, name) == pytest.approx(getattr(base, name), rel=1e-8), name


# ------------------------------------------------------------------------------------------
# Input errors
# ------------------------------------------------------------------------------------------

_X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 3.0], [5.0, 4.0]])
_Y = np.array([1.0, 2.5, 2.0, 4.5, 5.0])
_X_MISSING = _X.copy()
_X_MISSING[1, 1] = np.nan


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "match"),
    [
        (_X[:, 0], _Y, {}, "X must be 2-dimensional"),
        (np.empty((5, 0)), _Y, {}, "X has no columns"),
        (_X, _Y[:, None], {}, "y must be 1-dimensional"),
        (_X, _Y[:4], {}, "X and y must have the same length, got 5 and 4"),
        (_X, _Y, {"names": ["a"]}, "names has 1 entries but X has 2 columns"),
        (_X, _Y, {"names": "ab"}, "names must be a sequence of strings"),
        (_X, _Y, {"names": ["a", "a"]}, r"duplicated: \['a'\]"),
        (_X, _Y, {"names": ["(Intercept)", "b"]}, r"duplicated: \['\(Intercept\)'\]"),
        (_X_MISSING, _Y, {}, "X column 'x2' contains 1 missing"),
        (_X, np.r_[_Y[:4], np.nan], {}, "y contains 1 missing"),
        (np.where(_X == 3.0, np.inf, _X), _Y, {}, "X column 'x1' contains 1 infinite"),
        (np.where(_X == 3.0, -np.inf, _X)[:, ::-1], _Y, {"names": ["b", "a"]}, "'b' contains 1"),
        (pd.DataFrame({"group": list("aabba")}), _Y, {}, "X column 'group' must be numeric"),
        (_X, ["1", "2", "x", "4", "5"], {}, "y must be numeric"),
        (_X[:3], _Y[:3], {}, r"X/y rows \(for 3 coefficients\) has 3 usable observation"),
        (_X[:2], _Y[:2], {"intercept": False}, r"\(for 2 coefficients\) has 2 usable"),
        (_X, np.full(5, 2.0), {}, "y is constant"),
        (_X, np.zeros(5), {"intercept": False}, "y is all zero"),
        (np.c_[_X, _X.sum(axis=1)], _Y, {}, r"columns \['x1', 'x2', 'x3'\] are \(nearly\)"),
        (np.c_[_X, np.full(5, 3.0)], _Y, {}, r"columns \['\(Intercept\)', 'x3'\]"),
        (np.c_[_X, np.zeros(5)], _Y, {"intercept": False}, r"column\(s\) \['x3'\] are all zero"),
        (_X, _Y, {"confidence": 95}, "confidence must be in"),
    ],
)
def test_rejects_bad_input(X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        multiple_regression(X, y, **kwargs)


def test_coefficient_lookup_and_frozen_result():
    result = multiple_regression(_X, _Y, names=["te", "tr"])
    assert result.coefficient("tr").name == "tr"
    with pytest.raises(KeyError, match="no coefficient named 'TE'"):
        result.coefficient("TE")
    with pytest.raises(ValueError, match="read-only"):
        result.estimates[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n = 3  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(result))
    assert copy == result and not copy.se.flags.writeable
    assert result != multiple_regression(_X, _Y, names=["te", "tr"], confidence=0.9)
    assert isinstance(result, MultipleRegressionResult)


# ------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------


def test_to_rows_and_tidy():
    data = _longley()
    result = multiple_regression(data.iloc[:, 1:], data["TOTEMP"])
    table = tidy([result], study="nist", comparison="longley")
    assert list(table.columns) == list(TIDY_COLUMNS)
    pairs = list(zip(table["measure"], table["statistic"], strict=True))
    assert pairs == [(name, "coefficient") for name in result.names] + [
        ("r_squared", "estimate"),
        ("adj_r_squared", "estimate"),
        ("f_statistic", "F"),
        ("f_statistic", "df1"),
        ("f_statistic", "df2"),
        ("residual_sd", "estimate"),
    ]
    assert (table["n"] == 16).all() and (table["method"] == result.method).all()
    coefficients = table.iloc[:7]
    np.testing.assert_allclose(coefficients["value"], LONGLEY_ESTIMATES, rtol=LONGLEY_REL)
    np.testing.assert_array_equal(coefficients["ci_low"], result.ci_low)
    np.testing.assert_array_equal(coefficients["p"], result.p)
    assert table.iloc[7]["value"] == pytest.approx(LONGLEY_CERTIFIED["r_squared"], rel=1e-9)
    f_row = table.iloc[9]
    assert f_row["value"] == pytest.approx(LONGLEY_CERTIFIED["f"], rel=1e-9)
    assert f_row["p"] == result.f_p and math.isnan(f_row["ci_low"])
    assert table.iloc[10:12]["value"].tolist() == [6, 9]
