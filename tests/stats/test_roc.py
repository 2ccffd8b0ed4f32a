"""Tests of qmrflow.stats.roc: published examples, brute-force DeLong, properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from qmrflow.stats import delong_test, roc_curve_auc
from qmrflow.stats.roc import hanley_mcneil_se

# ------------------------------------------------------------------------------------------
# Published example 1: pROC's aSAH data set (Turck et al. 2010, Intensive Care Med 36:107-115;
# 113 patients with aneurysmal subarachnoid haemorrhage, 41 with a poor outcome), as shipped
# with the R package pROC (Robin et al. 2011, BMC Bioinformatics 12:77). Values transcribed
# from data(aSAH), in row order: outcome (1 = "Poor"), s100b, wfns, ndka.
# Published in pROC's documentation (?ci.auc, ?roc.test, 4 decimals, DeLong method):
#   roc(outcome, s100b): AUC 0.7314, 95% CI 0.6301-0.8326
#   roc(outcome, ndka):  AUC 0.6120, 95% CI 0.5012-0.7227
#   roc(outcome, wfns):  AUC 0.8237
#   roc.test(s100b, wfns): DeLong's test, Z = -2.209, p-value = 0.02718
# ------------------------------------------------------------------------------------------
_ASAH_POOR = (
    "0 0 0 0 1 1 0 1 0 0 1 0 1 1 0 0 1 0 1 1 1 0 1 0 0 0 0 0 0 0 0 0 1 0 0 1 1 0 1 1 0 0 0 0 "
    "0 0 0 0 0 1 1 0 0 0 1 0 0 0 1 0 1 0 0 1 1 1 0 1 1 0 1 1 1 1 0 0 0 1 1 0 1 0 0 0 0 0 0 1 "
    "0 0 0 0 0 0 0 0 0 0 0 0 1 1 1 1 1 1 0 0 0 1 0 0 0"
)
_ASAH_S100B = (
    "0.13 0.14 0.1 0.04 0.13 0.1 0.47 0.16 0.18 0.1 0.12 0.1 0.44 0.71 0.04 0.08 0.49 0.04 "
    "0.07 0.33 0.09 0.09 0.07 0.11 0.07 0.17 0.07 0.11 0.13 0.19 0.05 0.16 0.41 0.14 0.34 "
    "0.35 0.48 0.09 0.96 0.25 0.5 0.46 0.16 0.07 0.43 0.45 0.11 0.08 0.09 0.86 0.52 0.08 0.06 "
    "0.13 2.07 0.1 0.14 0.15 0.07 0.06 0.77 0.05 0.09 0.3 0.03 0.09 0.04 0.23 0.7 0.09 0.27 "
    "0.71 0.08 0.26 0.08 0.16 0.09 0.13 0.1 0.08 0.11 0.33 0.11 0.28 0.07 0.1 0.32 0.22 0.07 "
    "0.05 0.24 0.38 0.1 0.15 0.08 0.14 0.1 0.07 0.04 0.19 0.56 0.14 0.58 0.32 0.82 0.74 0.15 "
    "0.47 0.17 0.44 0.15 0.5 0.48"
)
_ASAH_WFNS = (
    "1 1 1 1 3 2 5 4 1 2 5 2 5 5 1 2 5 2 2 5 2 1 1 1 1 2 1 2 1 1 3 4 2 1 4 5 4 1 4 2 5 5 1 1 "
    "2 4 1 1 2 5 5 2 1 2 5 1 2 2 2 1 5 1 1 2 5 2 1 4 5 2 4 4 1 4 1 2 1 4 2 1 2 3 2 4 2 1 4 5 "
    "1 1 5 4 2 2 1 1 1 3 1 2 5 2 2 5 5 5 2 4 4 5 1 1 1"
)
_ASAH_NDKA = (
    "3.01 8.54 8.09 10.42 17.4 12.75 6.0 13.2 15.54 6.01 15.96 17.86 5.18 8.9 13.41 20.75 "
    "11.6 16.11 32.37 54.82 32.41 49.94 40.34 9.47 6.29 12.53 6.54 6.3 80.3 12.8 9.8 9.81 "
    "9.85 18.21 5.03 14.04 21.93 8.02 7.42 8.38 6.59 9.63 13.12 7.96 14.34 41.43 7.63 7.06 "
    "12.59 13.56 3.87 9.44 7.66 12.98 419.19 27.19 22.27 9.95 21.22 11.73 10.4 58.83 6.39 "
    "11.09 12.22 13.67 17.21 22.63 12.9 9.7 21.57 8.23 72.57 15.54 10.51 10.6 14.57 5.19 9.63 "
    "4.61 21.48 17.3 12.71 9.44 11.07 19.46 10.83 5.37 11.97 7.75 9.83 10.55 28.49 8.53 12.57 "
    "12.9 46.83 11.68 12.67 9.01 9.57 34.06 11.72 14.26 47.61 11.67 24.58 10.33 13.87 15.89 "
    "22.43 6.79 13.45"
)


def _asah(name: str) -> np.ndarray:
    return np.array(globals()[f"_ASAH_{name}"].split(), dtype=float)


def test_asah_data_transcription():
    poor = _asah("POOR")
    assert poor.size == _asah("S100B").size == _asah("WFNS").size == _asah("NDKA").size == 113
    assert int(poor.sum()) == 41


@pytest.mark.parametrize(
    ("marker", "auc", "low", "high"),
    [("S100B", 0.7314, 0.6301, 0.8326), ("NDKA", 0.6120, 0.5012, 0.7227)],
)
def test_auc_and_delong_ci_reproduce_proc_asah(marker, auc, low, high):
    result = roc_curve_auc(_asah("POOR"), _asah(marker))
    assert round(result.auc, 4) == pytest.approx(auc)
    assert round(result.ci_low, 4) == pytest.approx(low)
    assert round(result.ci_high, 4) == pytest.approx(high)
    assert (result.n_positive, result.n_negative) == (41, 72)


def test_paired_delong_test_reproduces_proc_roc_test_asah():
    result = delong_test(_asah("POOR"), _asah("S100B"), _asah("WFNS"))
    assert round(result.auc_x, 4) == pytest.approx(0.7314)
    assert round(result.auc_y, 4) == pytest.approx(0.8237)
    assert round(result.z, 3) == pytest.approx(-2.209)
    assert round(result.p, 5) == pytest.approx(0.02718)
    assert result.difference == pytest.approx(result.auc_x - result.auc_y)
    assert result.ci_low < result.difference < result.ci_high < 0


# ------------------------------------------------------------------------------------------
# Published example 2: Hanley & McNeil (1982), Radiology 143:29-36, Table 1: 109 CT images
# rated on a 5-point scale (1 = definitely normal ... 5 = definitely abnormal) by one reader;
# 58 truly normal, 51 truly abnormal. Hanley & McNeil report AUC = 0.893 (their SE 0.032 is
# from their own exponential approximation, not DeLong). The DeLong SE and CI of the same data
# are printed in the Stata manual, [R] roc/roctab, Example 1 ("roctab disease rating"):
# ROC area 0.8932, Std. Err. 0.0307, asymptotic normal 95% CI 0.83295 to 0.95339.
# ------------------------------------------------------------------------------------------
HANLEY_MCNEIL_NORMAL = (33, 6, 6, 11, 2)  # counts for ratings 1..5
HANLEY_MCNEIL_ABNORMAL = (3, 2, 2, 11, 33)


def _hanley_mcneil() -> tuple[np.ndarray, np.ndarray]:
    ratings = np.arange(1, 6)
    scores = np.concatenate(
        [np.repeat(ratings, HANLEY_MCNEIL_NORMAL), np.repeat(ratings, HANLEY_MCNEIL_ABNORMAL)]
    )
    truth = np.repeat([0, 1], [sum(HANLEY_MCNEIL_NORMAL), sum(HANLEY_MCNEIL_ABNORMAL)])
    return truth, scores


def test_reproduces_hanley_mcneil_1982_rating_example():
    result = roc_curve_auc(*_hanley_mcneil())
    assert round(result.auc, 3) == pytest.approx(0.893)  # Hanley & McNeil 1982
    assert round(result.auc, 4) == pytest.approx(0.8932)  # Stata [R] roctab
    assert round(result.se, 4) == pytest.approx(0.0307)
    assert round(result.ci_low, 5) == pytest.approx(0.83295)
    assert round(result.ci_high, 5) == pytest.approx(0.95339)
    assert (result.n_positive, result.n_negative) == (51, 58)


# ------------------------------------------------------------------------------------------
# Independent reference: DeLong's structural components from the full O(m·n) pair matrix.
# ------------------------------------------------------------------------------------------


def _brute_force_delong(truth, *score_vectors):
    truth = np.asarray(truth, dtype=bool)
    v10, v01, aucs = [], [], []
    for scores in score_vectors:
        scores = np.asarray(scores, dtype=float)
        x, y = scores[truth], scores[~truth]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    m, n = truth.sum(), (~truth).sum()
    cov = np.atleast_2d(np.cov(np.array(v10))) / m + np.atleast_2d(np.cov(np.array(v01))) / n
    return np.array(aucs), cov


@pytest.mark.parametrize("seed", range(5))
def test_fast_delong_equals_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(10, 200))
    truth = rng.integers(0, 2, size)
    truth[:2] = [0, 1]
    truth[2:4] = [0, 1]
    a = np.round(truth * 0.8 + rng.normal(size=size), 1)  # rounding creates ties
    b = np.round(0.6 * a + rng.normal(size=size), 0)
    aucs, cov = _brute_force_delong(truth, a, b)
    ra, rb = roc_curve_auc(truth, a), roc_curve_auc(truth, b)
    assert ra.auc == pytest.approx(aucs[0], abs=1e-12)
    assert rb.auc == pytest.approx(aucs[1], abs=1e-12)
    assert ra.se == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-10)
    assert rb.se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-10)
    test = delong_test(truth, a, b)
    expected_se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert test.se == pytest.approx(expected_se, rel=1e-10)
    assert test.correlation == pytest.approx(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]))


def test_curve_and_auc_match_sklearn():
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 80)
    scores = truth + rng.normal(size=80)
    result = roc_curve_auc(truth, scores)
    fpr, tpr, thresholds = roc_curve(truth, scores)
    np.testing.assert_array_equal(result.fpr, fpr)
    np.testing.assert_array_equal(result.tpr, tpr)
    np.testing.assert_array_equal(result.thresholds, thresholds)
    assert result.auc == pytest.approx(roc_auc_score(truth, scores), abs=1e-14)
    assert not result.fpr.flags.writeable


def test_binary_reader_auc_is_mean_of_sensitivity_and_specificity():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    reader = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    result = roc_curve_auc(truth, reader)
    assert result.auc == pytest.approx((3 / 4 + 5 / 6) / 2)


def test_degenerate_cases_do_not_crash():
    separated = roc_curve_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert separated.auc == 1.0 and separated.se == 0.0
    assert separated.ci_low == separated.ci_high == 1.0
    single_positive = roc_curve_auc([0, 0, 0, 1], [0.1, 0.2, 0.8, 0.9])
    assert single_positive.auc == 1.0
    assert math.isnan(single_positive.se) and math.isnan(single_positive.ci_low)
    with pytest.raises(ValueError, match="at least 2 cases of each class"):
        delong_test([0, 0, 0, 1], [0.1, 0.2, 0.8, 0.9], [0.3, 0.2, 0.1, 0.9])
    same = delong_test([0, 1, 0, 1, 1], [0.1, 0.7, 0.4, 0.3, 0.9], [0.1, 0.7, 0.4, 0.3, 0.9])
    assert (same.difference, same.se, same.z, same.p) == (0.0, 0.0, 0.0, 1.0)


def test_to_rows():
    rows = roc_curve_auc(*_hanley_mcneil()).to_rows()
    estimate = rows[0]
    assert (estimate["measure"], estimate["statistic"], estimate["n"]) == ("auc", "estimate", 109)
    assert "DeLong" in estimate["method"]
    assert [r["statistic"] for r in rows] == [
        "estimate",
        "se",
        "se_hanley_mcneil",
        "count",
        "count",
    ]
    hanley = rows[2]
    assert hanley["measure"] == "auc" and "Hanley & McNeil" in hanley["method"]
    assert round(hanley["value"], 3) == pytest.approx(0.032)
    assert hanley["ci_low"] < estimate["value"] < hanley["ci_high"]
    test_rows = delong_test(_asah("POOR"), _asah("S100B"), _asah("WFNS")).to_rows()
    assert [r["measure"] for r in test_rows][:2] == ["auc_x", "auc_y"]
    diff = next(r for r in test_rows if r["measure"] == "auc_difference")
    assert diff["p"] == pytest.approx(0.02718, abs=5e-6)


@pytest.mark.parametrize(
    ("y_true", "scores", "match"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "y_true contains only class 1"),
        ([0, 0], [0.1, 0.2], "y_true contains only class 0"),
        ([0, 1, 1], [0.1, 0.2], "y_true and scores must have the same length"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "y_true must contain only the labels 0 and 1"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "scores contains 1 missing"),
        ([0, 1, 1], [0.1, np.inf, 0.3], "scores contains infinite"),
        ([0, 1, 1], ["a", "b", "c"], "scores must be numeric"),
        ([], [], "y_true is empty"),
    ],
)
def test_roc_rejects_bad_input(y_true, scores, match):
    with pytest.raises(ValueError, match=match):
        roc_curve_auc(y_true, scores)


def test_delong_test_names_the_bad_score_vector():
    with pytest.raises(ValueError, match=r"^y contains 1 missing"):
        delong_test([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.1, np.nan, 0.3, 0.4])
    with pytest.raises(ValueError, match="y_true and x must have the same length"):
        delong_test([0, 1, 0, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4])


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

_cases = st.lists(st.tuples(st.integers(0, 1), st.integers(-5, 5)), min_size=4, max_size=40).filter(
    lambda rows: 2 <= sum(r[0] for r in rows) <= len(rows) - 2
)


@settings(max_examples=25, deadline=None)
@given(cases=_cases, seed=st.integers(0, 2**16))
def test_roc_properties(cases, seed):
    truth, scores = (np.array(v) for v in zip(*cases, strict=True))
    base = roc_curve_auc(truth, scores)
    # Reversing the score direction mirrors the AUC; the DeLong SE is unchanged.
    flipped = roc_curve_auc(truth, -scores)
    assert flipped.auc == pytest.approx(1 - base.auc, abs=1e-12)
    assert flipped.se == pytest.approx(base.se, abs=1e-12)
    # Swapping the class labels does the same.
    swapped = roc_curve_auc(1 - truth, scores)
    assert swapped.auc == pytest.approx(1 - base.auc, abs=1e-12)
    # Case order and strictly monotone transforms of the scores do not matter.
    order = np.random.default_rng(seed).permutation(truth.size)
    permuted = roc_curve_auc(truth[order], scores[order])
    assert permuted.auc == pytest.approx(base.auc, abs=1e-12)
    assert permuted.se == pytest.approx(base.se, abs=1e-12)
    transformed = roc_curve_auc(truth, np.exp(scores / 3.0))
    assert transformed.auc == pytest.approx(base.auc, abs=1e-12)
    assert 0.0 <= base.ci_low <= base.auc <= base.ci_high <= 1.0


@settings(max_examples=20, deadline=None)
@given(cases=_cases, shift=st.integers(-3, 3))
def test_delong_test_is_antisymmetric(cases, shift):
    truth, scores = (np.array(v) for v in zip(*cases, strict=True))
    other = np.roll(scores, shift)
    ab = delong_test(truth, scores, other)
    ba = delong_test(truth, other, scores)
    assert ab.difference == pytest.approx(-ba.difference, abs=1e-12)
    assert ab.se == pytest.approx(ba.se, abs=1e-12)
    assert ab.p == pytest.approx(ba.p, abs=1e-9)


# ------------------------------------------------------------------------------------------
# Hanley & McNeil (1982) standard error
# ------------------------------------------------------------------------------------------


def test_hanley_mcneil_se_reproduces_the_published_ct_example():
    # Hanley & McNeil (1982), Radiology 143:29-36: 51 abnormal and 58 normal CT images,
    # area 0.893, SE 0.032 (printed to 3 decimals).
    truth, scores = _hanley_mcneil()
    result = roc_curve_auc(truth, scores)
    assert round(result.hanley_mcneil_se, 3) == pytest.approx(0.032)
    a = result.auc  # 0.89317, which the paper prints as 0.893
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    expected = math.sqrt((a * (1 - a) + 50 * (q1 - a * a) + 57 * (q2 - a * a)) / (51 * 58))
    assert result.hanley_mcneil_se == pytest.approx(expected, rel=1e-12)
    assert hanley_mcneil_se(a, 51, 58) == result.hanley_mcneil_se
    # From the printed, rounded area the formula gives 0.03251: 0.032 up to the rounding of A
    # (the SE changes by about 0.00003 between A = 0.8932 and A = 0.893).
    assert hanley_mcneil_se(0.893, 51, 58) == pytest.approx(0.032, abs=0.0006)
    z = 1.959963984540054
    assert result.hanley_mcneil_ci_low == pytest.approx(a - z * result.hanley_mcneil_se)
    assert result.hanley_mcneil_ci_high == pytest.approx(a + z * result.hanley_mcneil_se)
    # Beside DeLong's SE (0.0307, Stata), the exponential approximation is a little larger.
    assert result.hanley_mcneil_se > result.se


@pytest.mark.parametrize("auc", [0.5, 0.7, 0.893, 0.99])
def test_hanley_mcneil_se_shrinks_as_the_sample_grows(auc):
    sizes = [(5, 5), (10, 12), (51, 58), (200, 300), (5000, 5000)]
    ses = [hanley_mcneil_se(auc, m, n) for m, n in sizes]
    assert all(a > b for a, b in itertools.pairwise(ses))
    # Roughly 1/sqrt(n): quadrupling both classes about halves the SE.
    assert hanley_mcneil_se(auc, 400, 400) == pytest.approx(
        hanley_mcneil_se(auc, 100, 100) / 2, rel=0.02
    )
    # At A = 0.5 the Q's give var = (1/12)(m + n + 1)/(m·n): the Mann-Whitney null variance.
    if auc == 0.5:
        assert ses[2] == pytest.approx(math.sqrt((51 + 58 + 1) / (12 * 51 * 58)))


def test_hanley_mcneil_se_edges_and_bad_input():
    assert hanley_mcneil_se(1.0, 10, 10) == 0.0
    assert hanley_mcneil_se(0.0, 10, 10) == 0.0
    assert hanley_mcneil_se(0.8, 1, 1) == pytest.approx(math.sqrt(0.8 * 0.2))
    for bad, match in (
        ((1.2, 5, 5), "auc must be in"),
        ((math.nan, 5, 5), "auc must be in"),
        (("high", 5, 5), "auc must be a number"),
        ((0.8, 0, 5), "n_positive must be at least 1"),
        ((0.8, 5, 2.5), "n_negative must be a non-negative integer"),
    ):
        with pytest.raises(ValueError, match=match):
            hanley_mcneil_se(*bad)


# ------------------------------------------------------------------------------------------
# The positive label
# ------------------------------------------------------------------------------------------


def test_string_labels_with_positive_match_0_1_labels():
    poor = _asah("POOR").astype(int)
    outcome = np.array(["Good", "Poor"])[poor]
    labelled = roc_curve_auc(outcome, _asah("S100B"), positive="Poor")
    plain = roc_curve_auc(poor, _asah("S100B"))
    assert (labelled.auc, labelled.se, labelled.ci_low) == (plain.auc, plain.se, plain.ci_low)
    assert (labelled.n_positive, labelled.n_negative, labelled.n) == (41, 72, 113)
    assert labelled.positive == "Poor"
    assert "'Poor'" in labelled.to_rows()[3]["method"]
    np.testing.assert_array_equal(labelled.tpr, plain.tpr)
    # Naming the other class as positive mirrors the AUC.
    good = roc_curve_auc(outcome, _asah("S100B"), positive="Good")
    assert good.auc == pytest.approx(1 - plain.auc)
    test = delong_test(outcome, _asah("S100B"), _asah("WFNS"), positive="Poor")
    assert round(test.z, 3) == pytest.approx(-2.209)


@pytest.mark.parametrize(
    ("y_true", "positive", "match"),
    [
        (["DMD", "control", "DMD"], "dmd", "positive='dmd' is not among the labels of y_true"),
        (["DMD", "BMD", "control"], "DMD", "y_true must have at most two distinct labels"),
        (["DMD", "DMD", "DMD"], "DMD", "y_true contains only the positive class 'DMD'"),
        (["DMD", "control", "DMD"], None, "pass positive=<label>"),
        ([0, 1, 2], None, "pass positive=<label>"),
    ],
)
def test_positive_label_errors_are_named(y_true, positive, match):
    with pytest.raises(ValueError, match=match):
        roc_curve_auc(y_true, [0.1, 0.2, 0.3], positive=positive)


# ------------------------------------------------------------------------------------------
# Deprecated names
# ------------------------------------------------------------------------------------------


def test_auc_se_is_a_deprecated_alias_of_se():
    result = roc_curve_auc(*_hanley_mcneil())
    with pytest.warns(DeprecationWarning, match=r"RocResult.auc_se is deprecated, use .se"):
        assert result.auc_se == result.se


def test_auc_a_and_auc_b_are_deprecated_aliases():
    result = delong_test(_asah("POOR"), _asah("S100B"), _asah("WFNS"))
    with pytest.warns(DeprecationWarning, match=r"auc_a is deprecated, use .auc_x"):
        assert result.auc_a == result.auc_x
    with pytest.warns(DeprecationWarning, match=r"auc_b is deprecated, use .auc_y"):
        assert result.auc_b == result.auc_y


def test_scores_a_and_scores_b_are_deprecated_arguments():
    new = delong_test(_asah("POOR"), x=_asah("S100B"), y=_asah("WFNS"))
    with pytest.warns(DeprecationWarning) as record:
        old = delong_test(_asah("POOR"), scores_a=_asah("S100B"), scores_b=_asah("WFNS"))
    messages = " | ".join(str(w.message) for w in record)
    assert "argument 'scores_a' is deprecated, use 'x'" in messages
    assert "argument 'scores_b' is deprecated, use 'y'" in messages
    assert (old.auc_x, old.auc_y, old.p) == (new.auc_x, new.auc_y, new.p)
    with pytest.raises(TypeError, match="got both 'scores_a'"):
        delong_test(_asah("POOR"), _asah("S100B"), scores_a=_asah("S100B"), x=_asah("S100B"))


def test_confidence_by_position_is_deprecated_but_works():
    truth, scores = _hanley_mcneil()
    with pytest.warns(DeprecationWarning, match="passing confidence by position"):
        old = roc_curve_auc(truth, scores, 0.9)
    assert old.ci_low == roc_curve_auc(truth, scores, confidence=0.9).ci_low
    with pytest.warns(DeprecationWarning, match="passing confidence by position"):
        old_test = delong_test(_asah("POOR"), _asah("S100B"), _asah("WFNS"), 0.9)
    assert old_test.confidence == 0.9
