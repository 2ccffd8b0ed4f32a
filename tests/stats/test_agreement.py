"""Tests of qmrflow.stats.agreement against published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from qmrflow.stats import cohen_kappa, fleiss_kappa
from qmrflow.stats.agreement import agreement_weights
from qmrflow.stats.tidy import tidy


def _pairs_from_table(table) -> tuple[np.ndarray, np.ndarray]:
    """Subject-level ratings (rater A = row category, rater B = column category)."""
    table = np.asarray(table)
    k = table.shape[0]
    rows, cols = np.divmod(np.repeat(np.arange(k * k), table.ravel()), k)
    return rows, cols


def _ratings_from_counts(counts) -> np.ndarray:
    """(n_subjects, n_raters) labels from a subjects x categories count table."""
    counts = np.asarray(counts)
    return np.vstack([np.repeat(np.arange(counts.shape[1]), row) for row in counts])


# ------------------------------------------------------------------------------------------
# Cohen's kappa
# ------------------------------------------------------------------------------------------

# SAS/STAT User's Guide, PROC FREQ, "Getting Started: Agreement Study" (skin condition rated
# terrible/poor/marginal/clear by two dermatologists, n = 88). Printed output (4 decimals):
# Simple Kappa 0.3449, ASE 0.0724, 95% CI 0.2030-0.4868; Test of H0 kappa = 0:
# ASE under H0 0.0612, Z 5.6366, two-sided Pr > |Z| < .0001.
SAS_SKIN_CONDITION = [[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]]


def test_cohen_kappa_reproduces_sas_agreement_study():
    result = cohen_kappa(*_pairs_from_table(SAS_SKIN_CONDITION))
    assert result.n == 88
    assert round(result.kappa, 4) == pytest.approx(0.3449)
    assert round(result.se, 4) == pytest.approx(0.0724)
    assert round(result.ci_low, 4) == pytest.approx(0.2030)
    assert round(result.ci_high, 4) == pytest.approx(0.4868)
    assert round(result.null_se, 4) == pytest.approx(0.0612)
    assert round(result.z, 4) == pytest.approx(5.6366)
    assert result.p < 1e-4


# Altman DG (1991) Practical Statistics for Medical Research, ch. 14 (p. 404): two radiologists
# classifying 85 xeromammograms as normal / benign disease / suspected cancer / cancer
# (Boyd et al. 1982); kappa = 0.47. Reproduced as Example 1 of the Stata manual [R] kappa
# ("kap rada radb", rate.dta): agreement 63.53%, expected 30.82%, Kappa 0.4728,
# Std. Err. 0.0694 (the null SE), Z 6.81.
ALTMAN_XEROMAMMOGRAMS = [[21, 12, 0, 0], [4, 17, 1, 0], [3, 9, 15, 2], [0, 0, 0, 1]]


def test_cohen_kappa_reproduces_altman_1991_stata_kappa_example():
    result = cohen_kappa(*_pairs_from_table(ALTMAN_XEROMAMMOGRAMS))
    assert result.n == 85
    assert round(result.kappa, 2) == pytest.approx(0.47)  # Altman 1991
    assert round(result.kappa, 4) == pytest.approx(0.4728)  # Stata
    assert round(100 * result.observed_agreement, 2) == pytest.approx(63.53)
    assert round(100 * result.expected_agreement, 2) == pytest.approx(30.82)
    assert round(result.null_se, 4) == pytest.approx(0.0694)
    assert round(result.z, 2) == pytest.approx(6.81)


def test_cohen_kappa_matches_sklearn_and_statsmodels_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = rng.integers(0, 4, 60)
        b = np.where(rng.random(60) < 0.6, a, rng.integers(0, 4, 60))
        result = cohen_kappa(a, b, categories=[0, 1, 2, 3])
        assert result.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
        table = np.zeros((4, 4))
        np.add.at(table, (a, b), 1)
        reference = sm_cohens_kappa(table)
        assert result.se == pytest.approx(reference.std_kappa, rel=1e-10)
        assert result.null_se == pytest.approx(reference.std_kappa0, rel=1e-10)
        assert result.p == pytest.approx(reference.pvalue_two_sided, rel=1e-8)


def test_cohen_kappa_labels_and_categories():
    a = ["dmd", "dmd", "other", "normal", "dmd", "other"]
    b = ["dmd", "other", "other", "normal", "dmd", "dmd"]
    result = cohen_kappa(a, b)
    assert result.kappa == pytest.approx(cohen_kappa_score(a, b))
    assert result.n_categories == 3
    # An unused extra category changes nothing for unweighted kappa.
    extended = cohen_kappa(a, b, categories=["normal", "dmd", "other", "unsure"])
    assert extended.kappa == pytest.approx(result.kappa)
    assert extended.se == pytest.approx(result.se)
    assert extended.n_categories == 4


def test_single_category_throughout_is_an_error_not_nan():
    with pytest.raises(ValueError, match="x and y rate every subject 1: chance agreement is 1"):
        cohen_kappa([1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="x and y rate every subject 'x'"):
        cohen_kappa(["x", "x"], ["x", "x"], categories=["x", "y"], weights="linear")
    with pytest.raises(ValueError, match="ratings use the single category 2 throughout"):
        fleiss_kappa([[2, 2, 2], [2, 2, 2]])


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([0, 1, 1], [0, 1], {}, "x and y must have the same length"),
        ([], [], {}, "x is empty"),
        ([0, np.nan, 1], [0, 1, 1], {}, "x contains 1 missing"),
        ([0, 1, 1], [0, None, 1], {}, "y contains 1 missing"),
        ([0, 1, 2], [0, 1, 1], {"categories": [0, 1]}, r"x contains labels not in categories"),
        ([0, 1, 1], [0, 1, 1], {"categories": [0, 1, 1]}, "categories contains duplicates"),
        ([0, 1, 1], [0, 1, 1], {"confidence": 95}, "confidence must be in"),
        (
            np.array([1, "x"], dtype=object),
            np.array([1, "x"], dtype=object),
            {},
            "x and y contain labels of mixed types",
        ),
    ],
)
def test_cohen_kappa_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cohen_kappa(a, b, **kwargs)


_rating_pairs = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=50)


@settings(max_examples=25, deadline=None)
@given(pairs=_rating_pairs)
def test_cohen_kappa_properties(pairs):
    a, b = (np.array(v) for v in zip(*pairs, strict=True))
    if np.unique(np.concatenate([a, b])).size < 2:  # kappa undefined: tested elsewhere
        return
    ab, ba = cohen_kappa(a, b), cohen_kappa(b, a)
    assert ab.kappa == pytest.approx(ba.kappa, abs=1e-12)
    assert ab.se == pytest.approx(ba.se, abs=1e-12)
    assert ab.null_se == pytest.approx(ba.null_se, abs=1e-12)
    assert -1.0 <= ab.kappa <= 1.0
    assert ab.ci_low <= ab.kappa <= ab.ci_high


@settings(max_examples=25, deadline=None)
@given(ratings=st.lists(st.integers(0, 4), min_size=2, max_size=50))
def test_identical_ratings_give_kappa_one(ratings):
    a = np.array(ratings)
    if np.unique(a).size < 2:  # chance agreement is 1: kappa undefined
        with pytest.raises(ValueError, match="chance agreement is 1"):
            cohen_kappa(a, a)
        with pytest.raises(ValueError, match="chance agreement is 1"):
            fleiss_kappa(np.column_stack([a, a, a]))
    else:
        result = cohen_kappa(a, a)
        fleiss = fleiss_kappa(np.column_stack([a, a, a]))
        assert result.kappa == pytest.approx(1.0)
        assert result.se == pytest.approx(0.0, abs=1e-6)  # variance is O(1e-16) round-off
        assert fleiss.kappa == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------
# Fleiss' kappa
# ------------------------------------------------------------------------------------------

# Fleiss JL (1971) "Measuring nominal scale agreement among many raters", Psychol Bull
# 76:378-382, Table 1: 30 patients, 6 psychiatrists each, 5 categories (1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other). Published kappa = .430
# (p. 381). Rows as distributed with R's irr package (data "diagnoses", also used in the
# statsmodels test-suite). The Fleiss-Nee-Landis z for these data, 17.7, is the value printed
# by irr::kappam.fleiss(diagnoses) ("Kappa = 0.43, z = 17.7"), which uses the same null SE.
FLEISS_1971_DIAGNOSES = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]  # fmt: skip


def test_fleiss_kappa_reproduces_fleiss_1971():
    result = fleiss_kappa(np.array(FLEISS_1971_DIAGNOSES))
    assert (result.n, result.n_raters, result.n_categories) == (30, 6, 5)
    assert round(result.kappa, 3) == pytest.approx(0.430)
    assert round(result.z, 1) == pytest.approx(17.7)
    assert result.p < 1e-60
    # Gwet's (2014) non-null SE gives the interval (t on n - 1 df); FNL's null SE the test.
    assert result.se == pytest.approx(_gwet_se_by_loops(_counts_of(FLEISS_1971_DIAGNOSES)))
    assert result.ci_low < result.kappa < result.ci_high
    assert "Gwet (2014) variance" in result.method


# Widely reproduced 10-subject, 14-rater, 5-category example (Wikipedia "Fleiss' kappa",
# worked example; also in the statsmodels test-suite): P-bar = 0.378, P-bar_e = 0.213,
# kappa = 0.210. Rows give how many of the 14 raters chose each category.
FOURTEEN_RATER_COUNTS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip


def test_fleiss_kappa_reproduces_fourteen_rater_example():
    result = fleiss_kappa(_ratings_from_counts(FOURTEEN_RATER_COUNTS))
    assert (result.n, result.n_raters) == (10, 14)
    assert round(result.observed_agreement, 3) == pytest.approx(0.378)
    assert round(result.expected_agreement, 3) == pytest.approx(0.213)
    assert round(result.kappa, 3) == pytest.approx(0.210)


def _fnl_se0_by_loops(counts: np.ndarray) -> float:
    """Fleiss, Nee & Landis (1979) null SE written out term by term."""
    n, m = counts.shape[0], int(counts[0].sum())
    p = counts.sum(axis=0) / (n * m)
    pq = sum(pj * (1 - pj) for pj in p)
    inner = pq**2 - sum(pj * (1 - pj) * ((1 - pj) - pj) for pj in p)
    return math.sqrt(2) / (pq * math.sqrt(n * m * (m - 1))) * math.sqrt(inner)


def test_fleiss_null_se_formula():
    counts = np.array(FOURTEEN_RATER_COUNTS)
    result = fleiss_kappa(_ratings_from_counts(counts))
    assert result.null_se == pytest.approx(_fnl_se0_by_loops(counts), rel=1e-12)
    assert result.z == pytest.approx(result.kappa / result.null_se)
    # With two categories the FNL null SE reduces to sqrt(2 / (n m (m - 1))).
    rng = np.random.default_rng(11)
    binary = rng.integers(0, 2, size=(25, 4))
    assert fleiss_kappa(binary).null_se == pytest.approx(math.sqrt(2 / (25 * 4 * 3)))


def test_fleiss_kappa_with_two_raters_is_scotts_pi():
    # Fleiss (1971): with m = 2 the statistic reduces to Scott's (1955) pi, which uses the
    # pooled marginal distribution of both raters for chance agreement.
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, 40)
    b = np.where(rng.random(40) < 0.5, a, rng.integers(0, 3, 40))
    p_o = np.mean(a == b)
    pooled = np.bincount(np.concatenate([a, b]), minlength=3) / 80
    scott_pi = (p_o - np.sum(pooled**2)) / (1 - np.sum(pooled**2))
    assert fleiss_kappa(np.column_stack([a, b])).kappa == pytest.approx(scott_pi)


@settings(max_examples=20, deadline=None)
@given(
    data=st.lists(st.lists(st.integers(0, 2), min_size=3, max_size=3), min_size=2, max_size=25),
    seed=st.integers(0, 2**16),
)
def test_fleiss_kappa_invariant_to_rater_and_subject_order(data, seed):
    ratings = np.array(data)
    if np.unique(ratings).size < 2:  # kappa undefined: tested elsewhere
        return
    base = fleiss_kappa(ratings, layout="ratings")
    rng = np.random.default_rng(seed)
    shuffled = ratings[rng.permutation(ratings.shape[0])][:, rng.permutation(3)]
    other = fleiss_kappa(shuffled, layout="ratings")
    assert other.kappa == pytest.approx(base.kappa, abs=1e-12)
    assert other.null_se == pytest.approx(base.null_se, abs=1e-12)


def test_fleiss_kappa_accepts_string_labels():
    ratings = np.array([["a", "a", "b"], ["b", "b", "b"], ["a", "a", "a"], ["b", "a", "b"]])
    numeric = np.where(ratings == "a", 0, 1)
    assert fleiss_kappa(ratings).kappa == pytest.approx(fleiss_kappa(numeric).kappa)


@pytest.mark.parametrize(
    ("ratings", "match"),
    [
        (np.array([1, 2, 3]), "ratings must be 2-dimensional"),
        (np.zeros((0, 3)), "ratings is empty"),
        (np.array([[1], [2]]), "ratings needs at least 2 raters"),
        (np.array([[1.0, np.nan], [2.0, 2.0]]), "ratings contains 1 missing"),
        (np.array([["a", None], ["b", "b"]], dtype=object), "ratings contains 1 missing"),
        (np.array([[1, "a"], ["a", 1]], dtype=object), "ratings contains labels of mixed types"),
    ],
)
def test_fleiss_kappa_rejects_bad_input(ratings, match):
    with pytest.raises(ValueError, match=match):
        fleiss_kappa(ratings)


def test_kappa_to_rows():
    rows = cohen_kappa(*_pairs_from_table(SAS_SKIN_CONDITION)).to_rows()
    estimate = rows[0]
    assert (estimate["measure"], estimate["statistic"], estimate["n"]) == (
        "cohen_kappa",
        "estimate",
        88,
    )
    assert estimate["ci_low"] == pytest.approx(0.2030, abs=5e-5)
    assert "Fleiss, Cohen & Everitt" in estimate["method"]
    statistics = [r["statistic"] for r in rows]
    assert statistics == [
        "estimate", "se", "null_se", "z", "observed_agreement", "expected_agreement",
    ]  # fmt: skip
    fleiss_rows = fleiss_kappa(np.array(FLEISS_1971_DIAGNOSES)).to_rows()
    assert fleiss_rows[0]["measure"] == "fleiss_kappa"
    assert "Nee & Landis (1979) null variance" in fleiss_rows[0]["method"]


# ------------------------------------------------------------------------------------------
# Weighted Cohen's kappa
# ------------------------------------------------------------------------------------------

# R package vcd, data "SexualFun" (Agresti 1990, Categorical Data Analysis, from
# Hout, Duncan & Sobel 1987): husband's (rows) and wife's (columns) rating of "sex is fun",
# categories Never Fun < Fairly Often < Very Often < Almost Always, n = 91. Example of the vcd
# Kappa help page, printed with CIs by vcdExtra's print.Kappa (docs, "Examples"):
#     print(Kappa(SexualFun), CI=TRUE)
#                 value     ASE     z    lower  upper
#     Unweighted 0.1293 0.06860 1.885 -0.00512 0.2638
#     Weighted   0.2374 0.07832 3.031  0.08388 0.3909
# vcd's default weights are "Equal-Spacing" = linear (Cicchetti-Allison); its ASE is the
# Fleiss-Cohen-Everitt non-null SE and its CI is value ± qnorm(0.975)·ASE. (vcd's z divides by
# the non-null ASE, ours by the null SE, so z is not compared.)
SEXUAL_FUN = [[7, 7, 2, 3], [2, 8, 3, 7], [1, 5, 4, 9], [2, 8, 9, 14]]
SEXUAL_FUN_LEVELS = ["Never Fun", "Fairly Often", "Very Often", "Almost Always"]


def _labelled_pairs(table, levels) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = _pairs_from_table(table)
    names = np.array(levels, dtype=object)
    return names[rows], names[cols]


def test_cohen_kappa_reproduces_vcd_sexual_fun():
    husband, wife = _labelled_pairs(SEXUAL_FUN, SEXUAL_FUN_LEVELS)
    unweighted = cohen_kappa(husband, wife, categories=SEXUAL_FUN_LEVELS)
    assert unweighted.n == 91
    assert round(unweighted.kappa, 4) == pytest.approx(0.1293)
    assert round(unweighted.se, 5) == pytest.approx(0.06860)
    assert round(unweighted.ci_low, 5) == pytest.approx(-0.00512)
    assert round(unweighted.ci_high, 4) == pytest.approx(0.2638)

    linear = cohen_kappa(husband, wife, categories=SEXUAL_FUN_LEVELS, weights="linear")
    assert linear.measure == "cohen_kappa_linear"
    assert round(linear.kappa, 4) == pytest.approx(0.2374)
    assert round(linear.se, 5) == pytest.approx(0.07832)
    assert round(linear.ci_low, 5) == pytest.approx(0.08388)
    assert round(linear.ci_high, 4) == pytest.approx(0.3909)
    assert linear.categories == tuple(SEXUAL_FUN_LEVELS)
    assert linear.weights == "linear"
    assert "Cicchetti-Allison" in linear.method

    # The default order would be alphabetical, which is not the scale order: weighted kappa
    # changes, unweighted kappa does not.
    alphabetical = cohen_kappa(husband, wife, weights="linear")
    assert alphabetical.categories == tuple(sorted(SEXUAL_FUN_LEVELS))
    assert alphabetical.kappa != pytest.approx(linear.kappa)
    assert cohen_kappa(husband, wife).kappa == pytest.approx(unweighted.kappa)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn_and_statsmodels_weighted(weights):
    # statsmodels' cohens_kappa implements the same Fleiss-Cohen-Everitt (1969) non-null and
    # null variances for weighted kappa (checked here to 1e-10), sklearn the estimate.
    rng = np.random.default_rng(7)
    for _ in range(5):
        a = rng.integers(0, 5, 80)
        b = np.clip(a + rng.integers(-2, 3, 80), 0, 4)
        result = cohen_kappa(a, b, categories=range(5), weights=weights)
        assert result.kappa == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
        table = np.zeros((5, 5))
        np.add.at(table, (a, b), 1)
        reference = sm_cohens_kappa(table, wt=weights)
        assert result.kappa == pytest.approx(reference.kappa, abs=1e-12)
        assert result.se == pytest.approx(reference.std_kappa, rel=1e-10)
        assert result.null_se == pytest.approx(reference.std_kappa0, rel=1e-10)
        assert result.z == pytest.approx(reference.z_value, rel=1e-10)


def _fce_by_loops(table, w) -> tuple[float, float, float]:
    """Fleiss, Cohen & Everitt (1969) weighted kappa, SE and null SE, term by term."""
    table = np.asarray(table, dtype=float)
    n, k = table.sum(), table.shape[0]
    p = table / n
    r = [sum(p[i, j] for j in range(k)) for i in range(k)]
    c = [sum(p[i, j] for i in range(k)) for j in range(k)]
    po = sum(w[i][j] * p[i, j] for i in range(k) for j in range(k))
    pe = sum(w[i][j] * r[i] * c[j] for i in range(k) for j in range(k))
    kw = (po - pe) / (1 - pe)
    wi = [sum(c[j] * w[i][j] for j in range(k)) for i in range(k)]
    wj = [sum(r[i] * w[i][j] for i in range(k)) for j in range(k)]
    s1 = sum(
        p[i, j] * (w[i][j] - (wi[i] + wj[j]) * (1 - kw)) ** 2 for i in range(k) for j in range(k)
    )
    s0 = sum(r[i] * c[j] * (w[i][j] - (wi[i] + wj[j])) ** 2 for i in range(k) for j in range(k))
    var = (s1 - (kw - pe * (1 - kw)) ** 2) / (n * (1 - pe) ** 2)
    var0 = (s0 - pe**2) / (n * (1 - pe) ** 2)
    return kw, math.sqrt(var), math.sqrt(var0)


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_weighted_kappa_fce_formula(weights):
    # Cicchetti-Allison and Fleiss-Cohen weights written out for k = 4.
    written = {
        "linear": [[1, 2 / 3, 1 / 3, 0], [2 / 3, 1, 2 / 3, 1 / 3], [1 / 3, 2 / 3, 1, 2 / 3],
                   [0, 1 / 3, 2 / 3, 1]],
        "quadratic": [[1, 8 / 9, 5 / 9, 0], [8 / 9, 1, 8 / 9, 5 / 9], [5 / 9, 8 / 9, 1, 8 / 9],
                      [0, 5 / 9, 8 / 9, 1]],
    }[weights]  # fmt: skip
    np.testing.assert_allclose(agreement_weights(4, weights), written, atol=1e-15)
    result = cohen_kappa(*_pairs_from_table(SAS_SKIN_CONDITION), weights=weights)
    kappa, se, se0 = _fce_by_loops(SAS_SKIN_CONDITION, written)
    assert result.kappa == pytest.approx(kappa, rel=1e-12)
    assert result.se == pytest.approx(se, rel=1e-12)
    assert result.null_se == pytest.approx(se0, rel=1e-12)


def test_unweighted_kappa_is_identity_weighting():
    np.testing.assert_array_equal(agreement_weights(3, None), np.eye(3))
    np.testing.assert_array_equal(agreement_weights(1, "quadratic"), [[1.0]])
    kappa, se, se0 = _fce_by_loops(SAS_SKIN_CONDITION, np.eye(4))
    result = cohen_kappa(*_pairs_from_table(SAS_SKIN_CONDITION))
    assert (result.kappa, result.se, result.null_se) == pytest.approx((kappa, se, se0))
    # With two categories every weighting is the identity.
    a, b = [0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 0, 0]
    assert cohen_kappa(a, b, weights="linear").kappa == pytest.approx(cohen_kappa(a, b).kappa)


def test_weighted_kappa_depends_on_unused_categories():
    a = [0, 1, 2, 4, 4, 1, 0, 2]
    b = [0, 2, 2, 4, 2, 1, 1, 4]
    observed = cohen_kappa(a, b, weights="linear")  # categories 0, 1, 2, 4: k = 4
    full = cohen_kappa(a, b, categories=[0, 1, 2, 3, 4], weights="linear")  # k = 5
    assert observed.n_categories == 4 and full.n_categories == 5
    assert observed.kappa != pytest.approx(full.kappa)
    assert full.kappa == pytest.approx(cohen_kappa_score(a, b, labels=range(5), weights="linear"))
    # Unweighted kappa ignores the unused level.
    assert cohen_kappa(a, b, categories=range(5)).kappa == pytest.approx(cohen_kappa(a, b).kappa)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([0, 1, 2], [0, 1, 1], {"categories": [0, 1], "weights": "linear"}, r"^x contains labels"),
        ([0, 1, 1], [0, 3, 1], {"categories": [0, 1, 2], "weights": "quadratic"}, r"^y contains"),
        ([0, 1, 1], [0, 1, 1], {"weights": "squared"}, "weights must be one of"),
        ([0, 1, 1], [0, 1, 1], {"weights": "Linear"}, "weights must be one of"),
    ],
)
def test_weighted_kappa_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cohen_kappa(a, b, **kwargs)


@settings(max_examples=25, deadline=None)
@given(
    pairs=_rating_pairs,
    weights=st.sampled_from([None, "linear", "quadratic"]),
    seed=st.integers(0, 2**16),
)
def test_weighted_kappa_invariant_to_rater_swap_and_subject_order(pairs, weights, seed):
    a, b = (np.array(v) for v in zip(*pairs, strict=True))
    levels = [0, 1, 2, 3]
    if np.unique(np.concatenate([a, b])).size < 2:  # kappa undefined: tested elsewhere
        return
    base = cohen_kappa(a, b, categories=levels, weights=weights)
    order = np.random.default_rng(seed).permutation(a.size)
    for other in (
        cohen_kappa(b, a, categories=levels, weights=weights),
        cohen_kappa(a[order], b[order], categories=levels, weights=weights),
    ):
        assert other.kappa == pytest.approx(base.kappa, abs=1e-12)
        # Variances, not SEs: a variance that is zero up to rounding (~1e-17) has a square
        # root of ~1e-9, so the SEs of a vanishing variance differ far beyond 1e-12.
        assert other.se**2 == pytest.approx(base.se**2, abs=1e-12)
        assert other.null_se**2 == pytest.approx(base.null_se**2, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    ratings=st.lists(st.integers(0, 4), min_size=2, max_size=50),
    weights=st.sampled_from(["linear", "quadratic"]),
)
def test_identical_ratings_give_weighted_kappa_one(ratings, weights):
    a = np.array(ratings)
    if np.unique(a).size < 2:  # chance agreement is 1: kappa undefined
        with pytest.raises(ValueError, match="chance agreement is 1"):
            cohen_kappa(a, a, categories=range(5), weights=weights)
    else:
        result = cohen_kappa(a, a, categories=range(5), weights=weights)
        assert result.kappa == pytest.approx(1.0)
        assert result.se == pytest.approx(0.0, abs=1e-6)


def test_weighted_kappa_rows_through_tidy():
    husband, wife = _labelled_pairs(SEXUAL_FUN, SEXUAL_FUN_LEVELS)
    results = [
        cohen_kappa(husband, wife, categories=SEXUAL_FUN_LEVELS, weights=weights)
        for weights in (None, "linear", "quadratic")
    ]
    table = tidy(results, study="vcd", comparison="husband vs wife")
    estimates = table[table["statistic"] == "estimate"]
    assert estimates["measure"].tolist() == [
        "cohen_kappa", "cohen_kappa_linear", "cohen_kappa_quadratic",
    ]  # fmt: skip
    assert (estimates["n"] == 91).all()
    assert estimates["value"].round(4).tolist()[:2] == [0.1293, 0.2374]
    assert "Fleiss-Cohen" in estimates["method"].iloc[2]


# ------------------------------------------------------------------------------------------
# Fleiss' kappa: count tables, Gwet's variance and interval, missing ratings
# ------------------------------------------------------------------------------------------


def _counts_of(ratings, labels=(1, 2, 3, 4, 5)) -> np.ndarray:
    """Subjects x categories counts of raw ratings (NaN = no rating)."""
    ratings = np.asarray(ratings, dtype=float)
    return np.array([[np.sum(row == k) for k in labels] for row in ratings])


def _gwet_se_by_loops(counts) -> float:
    """Gwet (2014, ch. 5) / irrCAC linearisation SE of Fleiss' kappa, term by term."""
    counts = np.asarray(counts, dtype=float)
    n, q = counts.shape
    r = [sum(counts[i]) for i in range(n)]
    two = [r[i] >= 2 for i in range(n)]
    n2 = sum(two)
    pa_i = [
        sum(counts[i, k] * (counts[i, k] - 1) for k in range(q)) / (r[i] * (r[i] - 1))
        if two[i]
        else 0.0
        for i in range(n)
    ]
    pa = sum(pa_i[i] for i in range(n) if two[i]) / n2
    pi = [sum(counts[i, k] / r[i] for i in range(n)) / n for k in range(q)]
    pe = sum(p**2 for p in pi)
    kappa = (pa - pe) / (1 - pe)
    total = 0.0
    for i in range(n):
        k_i = n / n2 * (pa_i[i] - pe * two[i]) / (1 - pe)
        pe_i = sum(counts[i, k] * pi[k] for k in range(q)) / r[i]
        total += (k_i - 2 * (1 - kappa) * (pe_i - pe) / (1 - pe) - kappa) ** 2
    return math.sqrt(total / (n * (n - 1)))


# irrCAC (Gwet), README / vignette "Calculating Chance-corrected Agreement Coefficients",
# data distrib.6raters: the first 15 of Fleiss' (1971) 30 patients as a count table (6
# psychiatrists; Depression, Personality Disorder, Schizophrenia, Neurosis, Other). Printed:
#     fleiss.kappa.dist(distrib.6raters)
#        coeff.name     coeff     stderr     conf.int      p.value        pa        pe
#     Fleiss' Kappa 0.4139265 0.08119291 (0.24,0.588) 0.0001622724 0.5511111 0.2340741
# irrCAC's interval is kappa ± t_{0.975, n-1}·stderr, its p the two-sided t test
# kappa/stderr on n - 1 df (we test with the FNL null SE instead, see test below).
DISTRIB_6RATERS = _counts_of(FLEISS_1971_DIAGNOSES[:15])


def test_fleiss_kappa_reproduces_irrcac_distrib_6raters():
    assert DISTRIB_6RATERS[:3].tolist() == [[0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1]]
    result = fleiss_kappa(DISTRIB_6RATERS, layout="counts")
    assert (result.n, result.n_raters, result.n_categories) == (15, 6, 5)
    assert round(result.kappa, 7) == pytest.approx(0.4139265)
    assert round(result.se, 8) == pytest.approx(0.08119291)
    assert round(result.ci_low, 3) == pytest.approx(0.240)
    assert round(result.ci_high, 3) == pytest.approx(0.588)
    assert round(result.observed_agreement, 7) == pytest.approx(0.5511111)
    assert round(result.expected_agreement, 7) == pytest.approx(0.2340741)
    # irrCAC's p-value is its t test with the non-null SE: our SE reproduces it too.
    irrcac_p = 2 * student_t.sf(result.kappa / result.se, 14)
    assert round(irrcac_p, 10) == pytest.approx(0.0001622724)
    # The same patients as raw ratings give the same numbers.
    raw = fleiss_kappa(np.array(FLEISS_1971_DIAGNOSES[:15]))
    assert (raw.kappa, raw.se, raw.ci_low, raw.null_se) == pytest.approx(
        (result.kappa, result.se, result.ci_low, result.null_se), rel=1e-12
    )


# irrCAC README, data cac.raw4raters (12 subjects, 4 raters, categories 1-5, NA = not rated;
# no rater rated every subject). Printed:
#     fleiss.kappa.raw(cac.raw4raters)$est
#        coeff.name        pa        pe coeff.val coeff.se  conf.int     p.value
#     Fleiss' Kappa 0.8181818 0.2387153   0.76117  0.15302 (0.424,1) 0.000419173
# (the upper bound printed as 1 is kappa + t·SE = 1.098 truncated at 1 by irrCAC).
CAC_RAW4RATERS = [
    [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
    [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1],
    [None, None, 3, None],
]  # fmt: skip


def test_fleiss_kappa_reproduces_irrcac_raw4raters_with_missing_ratings():
    ratings = np.array(CAC_RAW4RATERS, dtype=float)
    with pytest.raises(ValueError, match="ratings contains 7 missing"):
        fleiss_kappa(ratings)
    result = fleiss_kappa(ratings, drop_missing=True)
    assert (result.n, result.n_dropped, result.n_raters) == (12, 7, 4)
    assert round(result.observed_agreement, 7) == pytest.approx(0.8181818)
    assert round(result.expected_agreement, 7) == pytest.approx(0.2387153)
    assert round(result.kappa, 5) == pytest.approx(0.76117)
    assert round(result.se, 5) == pytest.approx(0.15302)
    assert round(result.ci_low, 3) == pytest.approx(0.424)
    assert round(min(result.ci_high, 1.0), 3) == 1.0
    assert round(2 * student_t.sf(result.kappa / result.se, 11), 9) == pytest.approx(0.000419173)
    assert result.se == pytest.approx(_gwet_se_by_loops(_counts_of(ratings)), rel=1e-12)
    # Unequal numbers of raters: no FNL null variance, hence no z test.
    assert math.isnan(result.null_se) and math.isnan(result.z) and math.isnan(result.p)
    assert "7 missing rating(s) left out" in result.method
    assert "no z test" in result.method


def test_fleiss_kappa_drop_missing_with_equal_raters_keeps_the_z_test():
    ratings = np.array(FLEISS_1971_DIAGNOSES, dtype=float)
    padded = np.column_stack([ratings, np.full(30, np.nan)])
    full, dropped = fleiss_kappa(ratings), fleiss_kappa(padded, drop_missing=True)
    assert dropped.n_dropped == 30
    assert (dropped.kappa, dropped.se, dropped.null_se, dropped.p) == pytest.approx(
        (full.kappa, full.se, full.null_se, full.p), rel=1e-12
    )
    # A subject left without any rating is left out.
    empty = np.vstack([ratings, np.full(6, np.nan)])
    assert fleiss_kappa(empty, drop_missing=True).n == 30


def test_fleiss_kappa_counts_equal_ratings_and_statsmodels():
    for raw, labels in (
        (FLEISS_1971_DIAGNOSES, (1, 2, 3, 4, 5)),
        (_ratings_from_counts(FOURTEEN_RATER_COUNTS), (0, 1, 2, 3, 4)),
    ):
        from_ratings = fleiss_kappa(np.asarray(raw), layout="ratings")
        counts = _counts_of(raw, labels)
        from_counts = fleiss_kappa(counts, layout="counts", categories=labels)
        assert from_counts.categories == from_ratings.categories == labels
        for field in ("kappa", "se", "ci_low", "ci_high", "null_se", "z", "p"):
            assert getattr(from_counts, field) == pytest.approx(getattr(from_ratings, field))
        assert from_counts.kappa == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)
        assert from_ratings.kappa == pytest.approx(
            sm_fleiss_kappa(aggregate_raters(np.asarray(raw))[0]), abs=1e-12
        )
        assert from_ratings.se == pytest.approx(_gwet_se_by_loops(counts), rel=1e-12)


def test_count_table_passed_as_ratings_is_refused_not_misread():
    # Fleiss' (1971) Table 1 as the count table it is printed as (30 x 5, rows sum to 6).
    counts = _counts_of(FLEISS_1971_DIAGNOSES)
    with pytest.raises(ValueError, match="looks like a subjects × categories count table"):
        fleiss_kappa(counts)
    with pytest.raises(ValueError, match="pass layout='counts'"):
        fleiss_kappa(np.array(FOURTEEN_RATER_COUNTS))
    assert round(fleiss_kappa(counts, layout="counts").kappa, 3) == pytest.approx(0.430)
    # Said explicitly, the layout is obeyed -- and read as labels the counts give another,
    # meaningless, kappa: the silent failure the refusal prevents.
    misread = fleiss_kappa(counts, layout="ratings")
    assert misread.kappa != pytest.approx(0.430, abs=0.05)
    # Binary 0/1 ratings with equal row sums are not mistaken for counts (never above 1).
    binary = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 1, 1]])
    assert fleiss_kappa(binary).kappa == pytest.approx(fleiss_kappa(binary, layout="ratings").kappa)
    # Raw labels whose rows happen to have different sums are read as ratings.
    assert fleiss_kappa(np.array(FLEISS_1971_DIAGNOSES)).n_raters == 6


@pytest.mark.parametrize(
    ("counts", "kwargs", "match"),
    [
        ([[3, 0], [1, 1]], {}, r"rows must all sum to the same number of raters.*rows \[1\]"),
        ([[1, 0], [0, 1]], {}, "at least 2 raters per subject"),
        ([[3, -1], [1, 1]], {}, "non-negative integer counts"),
        ([[1.5, 0.5], [1, 1]], {}, "non-negative integer counts"),
        ([[1.0, np.nan], [1, 1]], {}, r"ratings \(counts\) contains 1 missing"),
        ([["a", "b"], ["b", "a"]], {}, "must be numeric"),
        ([[2, 0], [1, 1]], {"categories": ["a", "b", "c"]}, "names 3 categories but"),
        ([[2, 0], [1, 1]], {"categories": ["a", "a"]}, "categories contains duplicates"),
        ([[2, 0], [2, 0]], {}, "single category 0 throughout"),
        ([[2, 0], [2, 0]], {"categories": ["yes", "no"]}, "single category 'yes' throughout"),
        (np.zeros((3, 0)), {}, "no category columns"),
        ([2, 0], {}, r"2-dimensional \(n_subjects, n_categories\)"),
    ],
)
def test_fleiss_kappa_rejects_bad_counts(counts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fleiss_kappa(np.asarray(counts), layout="counts", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layout": "count"}, "layout must be one of"),
        ({"alternative": "larger"}, "alternative must be one of"),
        ({"confidence": 1.0}, "confidence must be in"),
        ({"categories": [1, 2]}, r"ratings contains labels not in categories: \[3"),
    ],
)
def test_fleiss_kappa_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fleiss_kappa(np.array([[1, 2, 3], [1, 1, 2]]), **kwargs)


def test_fleiss_kappa_unused_categories_change_nothing_but_the_count():
    ratings = np.array(FLEISS_1971_DIAGNOSES)
    base = fleiss_kappa(ratings)
    wider = fleiss_kappa(ratings, categories=[0, 1, 2, 3, 4, 5, 6])
    assert wider.n_categories == 7 and base.n_categories == 5
    assert (wider.kappa, wider.se, wider.null_se) == pytest.approx(
        (base.kappa, base.se, base.null_se)
    )


@settings(max_examples=20, deadline=None)
@given(data=st.lists(st.lists(st.integers(0, 3), min_size=4, max_size=4), min_size=3, max_size=20))
def test_fleiss_counts_and_ratings_agree_and_match_gwet_loops(data):
    ratings = np.array(data)
    if np.unique(ratings).size < 2:  # kappa undefined: tested elsewhere
        return
    counts = _counts_of(ratings, (0, 1, 2, 3))
    from_ratings = fleiss_kappa(ratings, layout="ratings", categories=range(4))
    from_counts = fleiss_kappa(counts, layout="counts")
    assert from_counts.kappa == pytest.approx(from_ratings.kappa, abs=1e-12)
    assert from_counts.se**2 == pytest.approx(from_ratings.se**2, abs=1e-12)
    assert from_ratings.se**2 == pytest.approx(_gwet_se_by_loops(counts) ** 2, abs=1e-12)
    assert from_ratings.kappa == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)


# ------------------------------------------------------------------------------------------
# One-sided tests and intervals; deprecated names
# ------------------------------------------------------------------------------------------


def test_cohen_kappa_one_sided_tests_match_statsmodels():
    x, y = _pairs_from_table(SAS_SKIN_CONDITION)
    reference = sm_cohens_kappa(np.array(SAS_SKIN_CONDITION))
    two = cohen_kappa(x, y)
    greater = cohen_kappa(x, y, alternative="greater")
    less = cohen_kappa(x, y, alternative="less")
    # SAS PROC FREQ / statsmodels "One-sided Pr > Z" is the test of kappa > 0.
    assert greater.p == pytest.approx(reference.pvalue_one_sided, rel=1e-10)
    assert less.p == pytest.approx(1 - greater.p)
    assert greater.p == pytest.approx(two.p / 2)
    assert greater.z == less.z == two.z
    assert (greater.alternative, less.alternative) == ("greater", "less")
    # One-sided 95% bounds equal the ends of the two-sided 90% interval.
    ninety = cohen_kappa(x, y, confidence=0.90)
    assert (greater.ci_low, greater.ci_high) == (pytest.approx(ninety.ci_low), math.inf)
    assert (less.ci_low, less.ci_high) == (-math.inf, pytest.approx(ninety.ci_high))
    assert "one-sided (greater)" in greater.method and "null SE, greater" in greater.method


def test_negative_kappa_one_sided():
    x = [0, 1, 0, 1, 0, 1, 0, 1]
    y = [1, 0, 1, 0, 1, 0, 0, 1]
    less = cohen_kappa(x, y, alternative="less")
    assert less.kappa < 0 and less.p < 0.5
    assert cohen_kappa(x, y, alternative="greater").p == pytest.approx(1 - less.p)


def test_fleiss_kappa_one_sided():
    counts = DISTRIB_6RATERS
    two = fleiss_kappa(counts, layout="counts")
    greater = fleiss_kappa(counts, layout="counts", alternative="greater")
    assert greater.p == pytest.approx(two.p / 2)
    low = two.kappa - student_t.ppf(0.95, 14) * two.se
    assert (greater.ci_low, greater.ci_high) == (pytest.approx(low), math.inf)
    less = fleiss_kappa(counts, layout="counts", alternative="less")
    assert less.ci_low == -math.inf and less.p == pytest.approx(1 - greater.p)


def test_one_sided_interval_through_tidy():
    x, y = _pairs_from_table(SAS_SKIN_CONDITION)
    table = tidy(cohen_kappa(x, y, alternative="greater"), study="sas", comparison="A vs B")
    estimate = table[table["statistic"] == "estimate"].iloc[0]
    assert estimate["ci_high"] == math.inf and estimate["p"] < 1e-4


def test_deprecated_names_still_work():
    x, y = _pairs_from_table(ALTMAN_XEROMAMMOGRAMS)
    with pytest.warns(DeprecationWarning, match="argument '[ab]' is deprecated, use '[xy]'"):
        old = cohen_kappa(a=x, b=y)
    assert old == cohen_kappa(x, y)
    with pytest.raises(TypeError, match="both 'a'"):
        cohen_kappa(a=x, x=x, y=y)
    with pytest.warns(DeprecationWarning, match=r"KappaResult.se_null is deprecated, use .null_se"):
        assert old.se_null == old.null_se
    assert "se_null" not in repr(old)
