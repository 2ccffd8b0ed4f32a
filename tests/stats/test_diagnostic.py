"""Tests of qmrflow.stats.diagnostic against published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import Table2x2

from qmrflow.stats import Proportion, diagnostic_metrics, wilson_ci
from qmrflow.stats.diagnostic import clopper_pearson_ci, diagnostic_odds_ratio


def _labels(tp: int, fp: int, fn: int, tn: int) -> tuple[np.ndarray, np.ndarray]:
    """Case-level (y_true, y_pred) vectors that reproduce a published 2x2 table."""
    y_true = np.repeat([1, 0, 1, 0], [tp, fp, fn, tn])
    y_pred = np.repeat([1, 1, 0, 0], [tp, fp, fn, tn])
    return y_true, y_pred


def _same_rows(a, b) -> bool:
    """Equal tidy rows, NaN == NaN."""
    for row_a, row_b in zip(a.to_rows(), b.to_rows(), strict=True):
        for key, va in row_a.items():
            vb = row_b[key]
            if isinstance(va, float) and math.isnan(va):
                if not (isinstance(vb, float) and math.isnan(vb)):
                    return False
            elif va != vb:
                return False
    return True


# ------------------------------------------------------------------------------------------
# Wilson score interval
# ------------------------------------------------------------------------------------------

# Newcombe RG (1998) "Two-sided confidence intervals for the single proportion: comparison of
# seven methods", Stat Med 17:857-872, Table I, method 3 (score method without continuity
# correction), printed to 4 decimals.
NEWCOMBE_TABLE_I = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("successes", "n", "low", "high"), NEWCOMBE_TABLE_I)
def test_wilson_reproduces_newcombe_1998_table_1(successes, n, low, high):
    ci = wilson_ci(successes, n)
    assert round(ci[0], 4) == pytest.approx(low, abs=1e-12)
    assert round(ci[1], 4) == pytest.approx(high, abs=1e-12)


def _wilson_closed_form(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson (1927) written out, independent of statsmodels."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 500),
    frac=st.floats(0, 1),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_properties(n, frac, confidence):
    k = round(frac * n)
    low, high = wilson_ci(k, n, confidence=confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0
    # Mirror symmetry: failures have the reflected interval.
    mirror = wilson_ci(n - k, n, confidence=confidence)
    assert low == pytest.approx(1 - mirror[1], abs=1e-12)
    assert high == pytest.approx(1 - mirror[0], abs=1e-12)
    from scipy.stats import norm

    ref = _wilson_closed_form(k, n, float(norm.ppf(0.5 + confidence / 2)))
    assert (low, high) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("interval", [wilson_ci, clopper_pearson_ci])
@pytest.mark.parametrize(
    ("args", "confidence", "match"),
    [
        ((5, 0), 0.95, "n must be at least 1"),
        ((6, 5), 0.95, "successes must be between 0 and n"),
        ((-1, 5), 0.95, "successes must be a non-negative integer"),
        ((1.5, 5), 0.95, "successes must be a non-negative integer"),
        ((1, "5"), 0.95, "n must be a non-negative integer"),
        ((1, 5), 1.0, "confidence must be in"),
        ((1, 5), 0, "confidence must be in"),
    ],
)
def test_proportion_intervals_reject_bad_input(interval, args, confidence, match):
    with pytest.raises(ValueError, match=match):
        interval(*args, confidence=confidence)


def test_confidence_by_position_is_deprecated_but_works():
    with pytest.warns(DeprecationWarning, match="passing confidence by position is deprecated"):
        assert wilson_ci(54, 86, 0.9) == wilson_ci(54, 86, confidence=0.9)
    with pytest.warns(DeprecationWarning, match="Proportion.from_counts"):
        old = Proportion.from_counts(54, 86, 0.9)
    assert old == Proportion.from_counts(54, 86, confidence=0.9)
    y_true, y_pred = _labels(tp=20, fp=15, fn=10, tn=55)
    with pytest.warns(DeprecationWarning, match="diagnostic_metrics"):
        old_metrics = diagnostic_metrics(y_true, y_pred, 0.9)
    assert _same_rows(old_metrics, diagnostic_metrics(y_true, y_pred, confidence=0.9))
    with pytest.raises(TypeError, match="multiple values for argument 'confidence'"):
        wilson_ci(54, 86, 0.9, confidence=0.9)


# ------------------------------------------------------------------------------------------
# Clopper-Pearson ("exact") interval
# ------------------------------------------------------------------------------------------


def test_clopper_pearson_reproduces_r_binom_test_example():
    # R, ?binom.test: binom.test(c(682, 243), p = 3/4) (Mendel's peas, 682 of 925):
    # "95 percent confidence interval: 0.7076683 0.7654066".
    low, high = clopper_pearson_ci(682, 925)
    assert round(low, 7) == pytest.approx(0.7076683, abs=1e-12)
    assert round(high, 7) == pytest.approx(0.7654066, abs=1e-12)


def test_clopper_pearson_is_the_beta_quantile_interval():
    from scipy.stats import beta

    for k, n in ((0, 20), (1, 29), (81, 263), (20, 20)):
        low, high = clopper_pearson_ci(k, n, confidence=0.9)
        assert low == pytest.approx(beta.ppf(0.05, k, n - k + 1) if k else 0.0, abs=1e-10)
        assert high == pytest.approx(beta.isf(0.05, k + 1, n - k) if k < n else 1.0, abs=1e-10)
        # Exact intervals are wider than Wilson's (conservative coverage) in these cases.
        wilson = wilson_ci(k, n, confidence=0.9)
        assert low <= wilson[0] and high >= wilson[1]


def test_interval_choice_is_recorded_in_proportion_and_rows():
    prop = Proportion.from_counts(682, 925, interval="clopper-pearson")
    assert prop.interval == "clopper-pearson"
    assert (prop.ci_low, prop.ci_high) == clopper_pearson_ci(682, 925)
    assert "Clopper-Pearson" in prop.to_row("p")["method"]
    assert Proportion.from_counts(682, 925).interval == "wilson"
    result = diagnostic_metrics(*_labels(tp=231, fp=32, fn=27, tn=54), interval="clopper-pearson")
    assert result.interval == "clopper-pearson"
    assert (result.specificity.ci_low, result.specificity.ci_high) == clopper_pearson_ci(54, 86)
    proportions = {"accuracy", "sensitivity", "specificity", "ppv", "npv"}
    proportions |= {"apparent_prevalence", "true_prevalence"}
    for r in result.to_rows():
        if r["measure"] in proportions:
            assert "Clopper-Pearson" in r["method"], r["measure"]
    with pytest.raises(ValueError, match="interval must be one of"):
        diagnostic_metrics([1, 0], [1, 0], interval="exact")
    with pytest.raises(ValueError, match="interval must be one of"):
        Proportion.from_counts(1, 2, interval="wald")


def test_proportion_with_empty_denominator_is_nan_not_an_error():
    prop = Proportion.from_counts(0, 0)
    assert math.isnan(prop.estimate) and math.isnan(prop.ci_low) and math.isnan(prop.ci_high)
    assert prop.n == 0


# ------------------------------------------------------------------------------------------
# 2x2 metrics
# ------------------------------------------------------------------------------------------


def test_liver_scan_example_altman_bland_1994():
    # Altman DG & Bland JM (1994) "Diagnostic tests 1: sensitivity and specificity",
    # BMJ 308:1552, and "Diagnostic tests 2: predictive values", BMJ 309:102 (liver scan vs
    # pathology, Drum & Christacopoulos 1972): tp 231, fp 32, fn 27, tn 54 (n = 344).
    # Published: sensitivity 231/258 = 0.90, specificity 54/86 = 0.63,
    # PPV 231/263 = 0.88, NPV 54/81 = 0.67.
    result = diagnostic_metrics(*_labels(tp=231, fp=32, fn=27, tn=54))
    assert (result.tp, result.fp, result.fn, result.tn, result.n) == (231, 32, 27, 54, 344)
    assert round(result.sensitivity.estimate, 2) == 0.90
    assert round(result.specificity.estimate, 2) == 0.63
    assert round(result.ppv.estimate, 2) == 0.88
    assert round(result.npv.estimate, 2) == 0.67
    assert (result.sensitivity.successes, result.sensitivity.n) == (231, 258)
    assert (result.ppv.successes, result.ppv.n) == (231, 263)
    assert result.accuracy.estimate == pytest.approx(285 / 344)
    assert result.f1 == pytest.approx(2 * 231 / (2 * 231 + 32 + 27))
    # Intervals are the Wilson intervals of the same counts.
    assert (result.specificity.ci_low, result.specificity.ci_high) == wilson_ci(54, 86)
    assert (result.npv.ci_low, result.npv.ci_high) == wilson_ci(54, 81)


# Simel DL, Rennie D & Bossuyt PMM (2008) "The STARD statement for reporting diagnostic
# accuracy studies: application to the history and physical examination", J Gen Intern Med
# 23:768-774, Table 5 (hypothetical examiners; PMC2517891). Counts follow from the table's
# group sizes and sensitivities/specificities: examiner 1 finds 20/30 with and 15/70 without
# the condition, examiner 2 finds 15/23 and 5/57. Published (log method of Simel, Samsa &
# Matchar 1991): LR+ 3.1 (1.9-5.2), LR- 0.42 (0.25-0.71); LR+ 7.4 (3.0-18), LR- 0.38
# (0.22-0.67).
# Each published number is paired with the tolerance its printed precision allows (half a unit
# in the last printed digit). One cell is the exception: examiner 2's lower LR+ limit is printed
# as 3.0, but the log method gives 3.057 (which would print as 3.1) from the only counts
# consistent with the table; it is checked to 0.06 and noted as a discrepancy of the source.
SIMEL_2008_TABLE_5 = [
    # tp, fp, fn, tn, {measure: ((estimate, tol), (ci_low, tol), (ci_high, tol))}
    (20, 15, 10, 55, {"lr_positive": ((3.1, 0.05), (1.9, 0.05), (5.2, 0.05)),
                      "lr_negative": ((0.42, 0.005), (0.25, 0.005), (0.71, 0.005))}),
    (15, 5, 8, 52, {"lr_positive": ((7.4, 0.05), (3.0, 0.06), (18, 0.5)),
                    "lr_negative": ((0.38, 0.005), (0.22, 0.005), (0.67, 0.005))}),
]  # fmt: skip


@pytest.mark.parametrize(("tp", "fp", "fn", "tn", "published"), SIMEL_2008_TABLE_5)
def test_likelihood_ratio_ci_reproduces_simel_2008_table_5(tp, fp, fn, tn, published):
    result = diagnostic_metrics(*_labels(tp=tp, fp=fp, fn=fn, tn=tn))
    for measure, expected in published.items():
        ratio = getattr(result, measure)
        computed = (ratio.estimate, ratio.ci_low, ratio.ci_high)
        for value, (printed, tolerance) in zip(computed, expected, strict=True):
            assert abs(value - printed) <= tolerance + 1e-12, (measure, value, printed)


def test_likelihood_ratio_formula():
    result = diagnostic_metrics(*_labels(tp=20, fp=15, fn=10, tn=55))
    sens, spec = 20 / 30, 55 / 70
    assert result.lr_positive.estimate == pytest.approx(sens / (1 - spec))
    assert result.lr_negative.estimate == pytest.approx((1 - sens) / spec)
    se = math.sqrt(1 / 20 - 1 / 30 + 1 / 15 - 1 / 70)
    assert result.lr_positive.log_se == pytest.approx(se)
    assert math.log(result.lr_positive.ci_high / result.lr_positive.estimate) == pytest.approx(
        1.959963984540054 * se
    )


def test_zero_cells_report_inf_and_nan_without_crashing():
    # Specificity 1 (fp = 0): LR+ is infinite, its interval undefined.
    perfect_spec = diagnostic_metrics(*_labels(tp=8, fp=0, fn=2, tn=10))
    assert perfect_spec.specificity.estimate == 1.0
    assert perfect_spec.lr_positive.estimate == math.inf
    assert math.isnan(perfect_spec.lr_positive.ci_low)
    assert math.isnan(perfect_spec.lr_positive.ci_high)
    assert perfect_spec.lr_negative.estimate == pytest.approx(0.2)
    # Sensitivity 1 (fn = 0): LR- is 0 with an undefined interval.
    perfect_sens = diagnostic_metrics(*_labels(tp=10, fp=3, fn=0, tn=7))
    assert perfect_sens.lr_negative.estimate == 0.0
    assert math.isnan(perfect_sens.lr_negative.ci_low)
    # The test never calls positive: PPV and F1 undefined, LR+ is 0/0.
    never_positive = diagnostic_metrics([1, 0, 1, 0], [0, 0, 0, 0])
    assert math.isnan(never_positive.ppv.estimate)
    assert never_positive.f1 == 0.0
    assert math.isnan(never_positive.lr_positive.estimate)
    # Only one class in the reference standard: specificity undefined.
    all_positive = diagnostic_metrics([1, 1, 1], [1, 0, 1])
    assert math.isnan(all_positive.specificity.estimate)
    assert math.isnan(all_positive.lr_positive.estimate)
    rows = {r["measure"]: r for r in perfect_spec.to_rows()}
    assert rows["lr_positive"]["value"] == math.inf


def test_accepts_bool_and_float_labels():
    ints = diagnostic_metrics([1, 0, 1, 1, 0], [1, 0, 0, 1, 1])
    bools = diagnostic_metrics([True, False, True, True, False], [True, False, False, True, True])
    floats = diagnostic_metrics([1.0, 0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0, 1.0])
    assert _same_rows(ints, bools) and _same_rows(ints, floats)


def test_to_rows_layout():
    rows = diagnostic_metrics(*_labels(tp=20, fp=15, fn=10, tn=55)).to_rows()
    measures = [r["measure"] for r in rows]
    assert measures == [
        "tp", "fp", "tn", "fn", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1",
        "lr_positive", "lr_negative", "dor", "apparent_prevalence", "true_prevalence",
    ]  # fmt: skip
    keys = {"measure", "statistic", "value", "ci_low", "ci_high", "p", "n", "method"}
    assert all(set(r) == keys for r in rows)
    sens = rows[measures.index("sensitivity")]
    assert sens["n"] == 30 and sens["value"] == pytest.approx(20 / 30)
    assert "Wilson" in sens["method"]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([1, 0, 1], [1, 0], "y_true and y_pred must have the same length"),
        ([], [], "y_true is empty"),
        ([1, 0, np.nan], [1, 0, 1], "y_true contains 1 missing"),
        ([1, 0, 1], [1, None, 1], "y_pred contains 1 missing"),
        ([1, 0, 2], [1, 0, 1], r"y_true must contain only the labels 0 and 1.*\[2"),
        ([1, 0, 1], [1, 0, 0.5], "y_pred must contain only the labels 0 and 1"),
        (["pos", "neg"], [1, 0], "y_true must contain only the labels 0 and 1"),
        ([[1, 0]], [[1, 0]], "y_true must be 1-dimensional"),
    ],
)
def test_diagnostic_metrics_rejects_bad_input(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        diagnostic_metrics(y_true, y_pred)


@settings(max_examples=30, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=60),
    seed=st.integers(0, 2**16),
)
def test_metrics_are_permutation_invariant_and_consistent(pairs, seed):
    y_true, y_pred = (np.array(v) for v in zip(*pairs, strict=True))
    result = diagnostic_metrics(y_true, y_pred)
    assert result.tp + result.fp + result.tn + result.fn == result.n == len(pairs)
    order = np.random.default_rng(seed).permutation(len(pairs))
    assert _same_rows(diagnostic_metrics(y_true[order], y_pred[order]), result)
    for prop in (result.accuracy, result.sensitivity, result.specificity, result.ppv, result.npv):
        if prop.n:
            assert prop.ci_low <= prop.estimate <= prop.ci_high
    lr = result.lr_positive
    if math.isfinite(lr.ci_low):
        assert lr.ci_low <= lr.estimate <= lr.ci_high


def test_ratio_se_log_is_a_deprecated_alias_of_log_se():
    lr = diagnostic_metrics(*_labels(tp=20, fp=15, fn=10, tn=55)).lr_positive
    with pytest.warns(DeprecationWarning, match=r"RatioEstimate.se_log is deprecated, use .log_se"):
        assert lr.se_log == lr.log_se


# ------------------------------------------------------------------------------------------
# Diagnostic odds ratio and prevalences
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "tn"), [(20, 15, 10, 55), (15, 5, 8, 52), (231, 32, 27, 54)]
)
def test_dor_equals_lr_ratio_and_statsmodels_log_method(tp, fp, fn, tn):
    result = diagnostic_metrics(*_labels(tp=tp, fp=fp, fn=fn, tn=tn), confidence=0.9)
    dor = result.dor
    assert dor.estimate == pytest.approx(tp * tn / (fp * fn), rel=1e-12)
    assert dor.estimate == pytest.approx(
        result.lr_positive.estimate / result.lr_negative.estimate, rel=1e-12
    )
    # Independent computation: statsmodels' 2x2 table (rows: diseased, healthy).
    table = Table2x2(np.array([[tp, fn], [fp, tn]]))
    assert dor.estimate == pytest.approx(table.oddsratio, rel=1e-12)
    assert dor.log_se == pytest.approx(table.log_oddsratio_se, rel=1e-12)
    low, high = table.oddsratio_confint(alpha=0.1, method="normal")
    assert (dor.ci_low, dor.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert "Haldane" not in dor.method
    # The liver-scan table of Altman & Bland (1994): DOR = 231·54 / (32·27).
    if (tp, fp, fn, tn) == (231, 32, 27, 54):
        assert dor.estimate == pytest.approx(14.4375)


def test_dor_with_a_zero_cell_adds_one_half_to_every_cell():
    result = diagnostic_metrics(*_labels(tp=8, fp=0, fn=2, tn=10))
    dor = result.dor
    assert dor.estimate == pytest.approx(8.5 * 10.5 / (0.5 * 2.5))
    assert dor.log_se == pytest.approx(math.sqrt(1 / 8.5 + 1 / 0.5 + 1 / 2.5 + 1 / 10.5))
    # statsmodels' shift_zeros replaces only the zero cells by 0.5; Haldane-Anscombe adds 0.5
    # to every cell, so hand statsmodels the corrected table.
    table = Table2x2(np.array([[8, 2], [0, 10]]) + 0.5, shift_zeros=False)
    assert (dor.ci_low, dor.ci_high) == pytest.approx(
        table.oddsratio_confint(method="normal"), rel=1e-12
    )
    assert "Haldane-Anscombe" in dor.method and "0.5" in dor.method
    rows = {r["measure"]: r for r in result.to_rows()}
    assert "Haldane-Anscombe" in rows["dor"]["method"]
    assert "Haldane" not in rows["lr_positive"]["method"]
    # A row or column of the table empty: 0/0, reported as NaN.
    for cells in ((0, 0, 3, 4), (0, 3, 0, 4), (3, 0, 4, 0), (3, 4, 0, 0)):
        empty = diagnostic_odds_ratio(*cells)
        assert math.isnan(empty.estimate) and math.isnan(empty.ci_low)
        assert "undefined" in empty.method
    with pytest.raises(ValueError, match="fn must be a non-negative integer"):
        diagnostic_odds_ratio(1, 2, -3, 4)


def test_prevalences():
    result = diagnostic_metrics(*_labels(tp=231, fp=32, fn=27, tn=54))
    assert result.apparent_prevalence.estimate == pytest.approx(263 / 344)
    assert result.true_prevalence.estimate == pytest.approx(258 / 344)
    assert (result.true_prevalence.successes, result.true_prevalence.n) == (258, 344)
    low_high = (result.apparent_prevalence.ci_low, result.apparent_prevalence.ci_high)
    assert low_high == wilson_ci(263, 344)
    rows = {r["measure"]: r for r in result.to_rows()}
    assert rows["true_prevalence"]["value"] == pytest.approx(258 / 344)
    assert rows["apparent_prevalence"]["n"] == 344


# ------------------------------------------------------------------------------------------
# The positive label
# ------------------------------------------------------------------------------------------


def test_string_labels_with_positive_match_0_1_labels():
    y_true, y_pred = _labels(tp=20, fp=15, fn=10, tn=55)
    names = np.array(["control", "DMD"])
    labelled = diagnostic_metrics(names[y_true], names[y_pred], positive="DMD")
    plain = diagnostic_metrics(y_true, y_pred)
    assert (labelled.tp, labelled.fp, labelled.fn, labelled.tn) == (20, 15, 10, 55)
    assert labelled.positive == "DMD"
    for a, b in zip(labelled.to_rows(), plain.to_rows(), strict=True):
        assert a["measure"] == b["measure"]
        assert a["value"] == pytest.approx(b["value"], nan_ok=True)
    assert "positive class 'DMD'" in labelled.to_rows()[0]["method"]
    # positive=0 swaps the roles of the classes.
    swapped = diagnostic_metrics(y_true, y_pred, positive=0)
    assert (swapped.tp, swapped.tn) == (55, 20)
    # A decision vector that never says "DMD" is fine when y_true does.
    never = diagnostic_metrics(["DMD", "control"], ["control", "control"], positive="DMD")
    assert never.tp == 0 and never.tn == 1


@pytest.mark.parametrize(
    ("y_true", "y_pred", "positive", "match"),
    [
        (["DMD", "control"], ["DMD", "control"], "dmd", "positive='dmd' is not among the labels"),
        (["DMD", "BMD", "control"], ["DMD"] * 3, "DMD", "y_true must have at most two distinct"),
        (["DMD", "control"], ["DMD", "healthy"], "DMD", "more than one negative label"),
        (["DMD", "control"], ["DMD", "control"], None, "pass positive=<label>"),
    ],
)
def test_positive_label_errors_are_named(y_true, y_pred, positive, match):
    with pytest.raises(ValueError, match=match):
        diagnostic_metrics(y_true, y_pred, positive=positive)
