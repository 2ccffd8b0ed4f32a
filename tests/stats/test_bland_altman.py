"""Tests of qmrflow.stats.bland_altman against the published worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from qmrflow.stats.bland_altman import BlandAltmanResult, bland_altman
from qmrflow.stats.tidy import tidy

# Bland JM & Altman DG (1986) "Statistical methods for assessing agreement between two methods
# of clinical measurement", Lancet 327:307-310, Table 1: peak expiratory flow rate (l/min) of
# 17 subjects, first reading with the Wright peak flow meter and with the mini Wright meter.
# Printed (Wright - mini): mean difference -2.1, SD 38.8; limits of agreement (d̄ ± 2s)
# -79.7 to 75.5; 95% CI of the bias -22.0 to 17.8 (SE 9.4, t = 2.12 on 16 df); SE of the limits
# sqrt(3 s²/n) = 16.3; 95% CI of the lower limit -114.3 to -45.1, of the upper 40.9 to 110.1.
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI_WRIGHT = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def _pefr(**kwargs) -> BlandAltmanResult:
    return bland_altman(WRIGHT, MINI_WRIGHT, multiplier=2, names=("wright", "mini"), **kwargs)


def test_reproduces_bland_altman_1986_pefr_example():
    result = _pefr(limit_ci="bland_altman_1986")
    assert result.n == 17 and result.n_dropped == 0
    # The data check: mean and SD of the differences as printed.
    assert round(result.bias, 1) == pytest.approx(-2.1)
    assert round(result.sd, 1) == pytest.approx(38.8)
    assert round(result.bias_se, 1) == pytest.approx(9.4)
    assert round(result.bias_ci_low, 1) == pytest.approx(-22.0)
    assert round(result.bias_ci_high, 1) == pytest.approx(17.8)
    assert round(result.limit_se, 1) == pytest.approx(16.3)
    # The paper rounded d̄ and s before forming the limits (-2.1 ∓ 2·38.8 = -79.7, 75.5); the
    # unrounded limits are -79.65 and 75.41, so the limits and their intervals agree with the
    # printed values only to within that rounding (< 0.2) ...
    assert result.lower_limit == pytest.approx(-79.7, abs=0.1)
    assert result.upper_limit == pytest.approx(75.5, abs=0.1)
    assert result.lower_limit_ci_low == pytest.approx(-114.3, abs=0.2)
    assert result.lower_limit_ci_high == pytest.approx(-45.1, abs=0.2)
    assert result.upper_limit_ci_low == pytest.approx(40.9, abs=0.2)
    assert result.upper_limit_ci_high == pytest.approx(110.1, abs=0.2)
    # ... and exactly when the paper's arithmetic is followed: rounded limits, SE (16.3) and
    # t (2.12 on 16 df).
    t = stats.t.ppf(0.975, 16)
    assert round(t, 2) == pytest.approx(2.12)
    half = round(t, 2) * round(result.limit_se, 1)
    assert [round(v, 1) for v in (-79.7 - half, -79.7 + half, 75.5 - half, 75.5 + half)] == [
        -114.3, -45.1, 40.9, 110.1,
    ]  # fmt: skip
    # For multiplier 2 the 1986 SE is the paper's sqrt(3 s² / n).
    assert result.limit_se == pytest.approx(math.sqrt(3 * result.sd**2 / 17))


def test_bland_altman_1999_limit_intervals_are_slightly_wider():
    # Bland & Altman (1999, Stat Methods Med Res 8:135-160): SE = s·sqrt(1/n + c²/(2(n-1))).
    result = _pefr()
    assert result.limit_ci == "bland_altman_1999"
    expected_se = result.sd * math.sqrt(1 / 17 + 4 / (2 * 16))
    assert result.limit_se == pytest.approx(expected_se)
    t = stats.t.ppf(0.975, 16)
    assert result.lower_limit_ci_low == pytest.approx(result.lower_limit - t * expected_se)
    assert result.upper_limit_ci_high == pytest.approx(result.upper_limit + t * expected_se)
    assert result.limit_se > _pefr(limit_ci="bland_altman_1986").limit_se
    assert "Bland & Altman (1999)" in result.method
    # Bias and limits do not depend on the interval method.
    assert result.bias == _pefr(limit_ci="bland_altman_1986").bias


def test_default_multiplier_and_paired_t_test():
    result = bland_altman(WRIGHT, MINI_WRIGHT)
    assert result.multiplier == 1.96
    assert result.lower_limit == pytest.approx(result.bias - 1.96 * result.sd)
    assert result.upper_limit == pytest.approx(result.bias + 1.96 * result.sd)
    reference = stats.ttest_rel(WRIGHT, MINI_WRIGHT)
    assert result.bias_p == pytest.approx(reference.pvalue, rel=1e-10)
    ci = reference.confidence_interval(0.90)
    narrow = bland_altman(WRIGHT, MINI_WRIGHT, confidence=0.90)
    assert (narrow.bias_ci_low, narrow.bias_ci_high) == pytest.approx((ci.low, ci.high))
    np.testing.assert_allclose(result.differences, np.subtract(WRIGHT, MINI_WRIGHT))
    np.testing.assert_allclose(result.means, np.add(WRIGHT, MINI_WRIGHT) / 2)
    assert result.convention == "difference = x − y; mean = (x + y)/2"


def test_proportional_bias_matches_linregress():
    result = _pefr(proportional_bias=True)
    means = np.add(WRIGHT, MINI_WRIGHT) / 2
    differences = np.subtract(WRIGHT, MINI_WRIGHT)
    reference = stats.linregress(means, differences)
    t = stats.t.ppf(0.975, 15)
    fit = result.proportional_bias
    assert fit.slope == pytest.approx(reference.slope, rel=1e-10)
    assert fit.slope_p == pytest.approx(reference.pvalue, rel=1e-8)
    assert fit.slope_ci_low == pytest.approx(reference.slope - t * reference.stderr, rel=1e-10)
    assert fit.intercept == pytest.approx(reference.intercept, rel=1e-10)
    assert fit.intercept_ci_high == pytest.approx(
        reference.intercept + t * reference.intercept_stderr, rel=1e-10
    )
    assert fit.names == ("mean of wright and mini", "wright − mini")
    assert _pefr().proportional_bias is None


def test_proportional_bias_detects_a_slope():
    reference = np.linspace(10, 100, 30)
    other = reference * 1.2 + np.random.default_rng(1).normal(0, 1, 30)
    result = bland_altman(other, reference, proportional_bias=True)
    fit = result.proportional_bias
    assert fit.slope > 0.15 and fit.slope_p < 1e-6


def test_identical_methods_give_zero_bias_and_sd():
    values = [3.0, 5.5, 7.25, 1.0]
    result = bland_altman(values, values, proportional_bias=True)
    assert result.bias == 0.0 and result.sd == 0.0
    assert result.lower_limit == result.upper_limit == 0.0
    assert result.lower_limit_ci_low == result.upper_limit_ci_high == 0.0
    assert math.isnan(result.bias_p)
    assert result.proportional_bias is None
    assert "proportional bias not estimable: every difference is the same" in result.method
    # A constant offset: sd 0, limits equal the bias, the bias is certain.
    shifted = bland_altman(np.add(values, 2.0), values)
    assert shifted.bias == pytest.approx(2.0) and shifted.sd == pytest.approx(0.0, abs=1e-12)
    assert shifted.lower_limit == pytest.approx(2.0) and shifted.upper_limit == pytest.approx(2.0)


def test_drop_missing():
    a = [1.0, 2.0, np.nan, 4.0, 5.0]
    b = [1.5, None, 3.0, 4.5, 4.0]
    result = bland_altman(a, b, drop_missing=True, names=("scan", "rescan"))
    assert result.n == 3 and result.n_dropped == 2
    assert result.bias == pytest.approx(np.mean([-0.5, -0.5, 1.0]))
    assert "2 pair(s) with missing values dropped" in result.method
    assert result.differences.shape == (3,)
    with pytest.raises(ValueError, match="read-only"):
        result.differences[0] = 0.0


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([1, 2, 3], [1, 2], {}, "x and y must have the same length"),
        ([1, 2, 3], [1, 2], {"names": ("t1", "t2")}, "t1 and t2 must have the same length"),
        ([1.0], [2.0], {}, "at least 2"),
        ([1, 2], [2, 3], {"proportional_bias": True}, "at least 3"),
        ([1, np.nan, 3], [1, 2, 3], {"names": ("t1", "t2")}, "^t1 contains 1 missing"),
        ([1, 2, 3], [1, None, 3], {}, "^y contains 1 missing"),
        ([1, np.nan, 3], [1, 2, np.nan], {"drop_missing": True}, "x/y pairs has 1 usable"),
        ([1, 2, np.inf], [1, 2, 3], {}, "^x contains 1 infinite"),
        (["x", "y"], [1, 2], {}, "^x must be numeric"),
        ([1, 2, 3], [1, 2, 4], {"multiplier": 0}, "multiplier must be a positive"),
        ([1, 2, 3], [1, 2, 4], {"multiplier": -1.96}, "multiplier must be a positive"),
        ([1, 2, 3], [1, 2, 4], {"multiplier": "two"}, "multiplier must be a positive"),
        ([1, 2, 3], [1, 2, 4], {"confidence": 1.0}, "confidence must be in"),
        ([1, 2, 3], [1, 2, 4], {"limit_ci": "exact"}, "limit_ci must be one of"),
        ([1, 2, 3], [1, 2, 4], {"names": ("only",)}, "names must be two"),
        ([3, 1, 2], [1, 3, 2], {"proportional_bias": True}, r"means \(x \+ y\)/2 is constant"),
    ],
)
def test_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bland_altman(a, b, **kwargs)


def test_rows_through_tidy():
    table = tidy(
        [_pefr(proportional_bias=True), _pefr()],
        study="bland_altman_1986",
        comparison="Wright vs mini Wright",
    )
    first = table.iloc[:6]
    assert first["measure"].tolist() == [
        "bias", "sd_difference", "lower_limit", "upper_limit",
        "proportional_bias_slope", "proportional_bias_intercept",
    ]  # fmt: skip
    assert (table["statistic"] == "estimate").all() and (table["n"] == 17).all()
    assert len(table) == 10  # the second result has no regression rows
    bias = first.iloc[0]
    assert bias["value"] == pytest.approx(-2.1176, abs=1e-4)
    assert bias["ci_low"] == pytest.approx(-22.05, abs=0.01) and not math.isnan(bias["p"])
    assert "difference = wright − mini" in bias["method"]
    assert "OLS" in first.iloc[4]["method"] and not math.isnan(first.iloc[4]["p"])
    assert math.isnan(first.iloc[1]["ci_low"])


def test_result_equality_ignores_arrays():
    assert _pefr() == _pefr()
    assert "differences" not in repr(_pefr())


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

_values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_pairs = st.lists(st.tuples(_values, _values), min_size=3, max_size=30)


def _split(pairs) -> tuple[np.ndarray, np.ndarray]:
    a, b = (np.array(v, dtype=float) for v in zip(*pairs, strict=True))
    return a, b


@settings(max_examples=50, deadline=None)
@given(values=st.lists(_values, min_size=2, max_size=30))
def test_identical_methods_property(values):
    result = bland_altman(values, values)
    assert result.bias == 0.0 and result.sd == 0.0
    assert result.lower_limit == result.upper_limit == 0.0


@settings(max_examples=50, deadline=None)
@given(pairs=_pairs)
def test_swapping_methods_flips_bias_and_limits(pairs):
    a, b = _split(pairs)
    ab, ba = bland_altman(a, b), bland_altman(b, a)
    tol = 1e-9 * (1.0 + np.abs(a).max() + np.abs(b).max())
    assert ba.bias == pytest.approx(-ab.bias, abs=tol)
    assert ba.sd == pytest.approx(ab.sd, abs=tol)
    assert ba.lower_limit == pytest.approx(-ab.upper_limit, abs=tol)
    assert ba.upper_limit == pytest.approx(-ab.lower_limit, abs=tol)
    assert ba.lower_limit_ci_low == pytest.approx(-ab.upper_limit_ci_high, abs=tol)
    assert ba.bias_ci_low == pytest.approx(-ab.bias_ci_high, abs=tol)


@settings(max_examples=50, deadline=None)
@given(pairs=_pairs, seed=st.integers(0, 2**16))
def test_permuting_subjects_changes_nothing(pairs, seed):
    a, b = _split(pairs)
    assume(np.ptp((a + b) / 2) > 1e-6)
    order = np.random.default_rng(seed).permutation(a.size)
    base = bland_altman(a, b, proportional_bias=True)
    other = bland_altman(a[order], b[order], proportional_bias=True)
    tol = 1e-9 * (1.0 + np.abs(a).max() + np.abs(b).max())
    for name in ("bias", "sd", "lower_limit", "upper_limit", "upper_limit_ci_high"):
        assert getattr(other, name) == pytest.approx(getattr(base, name), abs=tol)
    if base.proportional_bias is None:  # every difference the same
        assert other.proportional_bias is None
    else:
        assert other.proportional_bias.slope == pytest.approx(
            base.proportional_bias.slope, rel=1e-6, abs=1e-6
        )
    np.testing.assert_array_equal(np.sort(other.differences), np.sort(base.differences))


@settings(max_examples=50, deadline=None)
@given(pairs=_pairs, shift=st.floats(-1e3, 1e3, allow_nan=False))
def test_adding_a_constant_shifts_the_bias(pairs, shift):
    a, b = _split(pairs)
    base, shifted = bland_altman(a, b), bland_altman(a + shift, b)
    tol = 1e-9 * (1.0 + np.abs(a).max() + np.abs(b).max() + abs(shift))
    assert shifted.bias == pytest.approx(base.bias + shift, abs=tol)
    assert shifted.lower_limit == pytest.approx(base.lower_limit + shift, abs=tol)
    assert shifted.upper_limit == pytest.approx(base.upper_limit + shift, abs=tol)
    assert shifted.sd == pytest.approx(base.sd, abs=tol)


def test_old_argument_names_are_deprecated_aliases():
    with pytest.warns(DeprecationWarning, match=r"argument '[ab]' is deprecated, use '[xy]'"):
        old = bland_altman(a=WRIGHT, b=MINI_WRIGHT)
    assert old.bias == bland_altman(WRIGHT, MINI_WRIGHT).bias
