"""Chance-corrected agreement: Cohen's kappa (two raters) and Fleiss' kappa (many raters).

Variance formulas
-----------------
Cohen's kappa (unweighted), with cell proportions ``p_ij``, margins ``p_i.`` / ``p_.j``,
observed agreement ``p_o`` and chance agreement ``p_e = sum_i p_i. p_.i``:

* Confidence interval: ``kappa ± z·SE`` with the large-sample non-null variance of Fleiss,
  Cohen & Everitt (1969, Psychol Bull 72:323-327), as given by Fleiss, Levin & Paik (2003,
  *Statistical Methods for Rates and Proportions*, 3rd ed., §18.1) and by SAS PROC FREQ::

      var = [ sum_i p_ii (1 - (p_i. + p_.i)(1 - kappa))²
              + (1 - kappa)² sum_{i != j} p_ij (p_.i + p_j.)²
              - (kappa - p_e (1 - kappa))² ] / (n (1 - p_e)²)

* Test of kappa = 0: ``z = kappa / SE0`` (two-sided p) with the null variance of the same
  sources::

      var0 = [ p_e + p_e² - sum_i p_i. p_.i (p_i. + p_.i) ] / (n (1 - p_e)²)

  The null SE is the right yardstick for the test, the non-null SE for the interval; using
  one for both, as some software does, gives a test and an interval that can disagree.

Fleiss' kappa (Fleiss 1971, Psychol Bull 76:378-382) for ``n`` subjects each rated by the
same number ``m`` of raters into categories with overall proportions ``p_j`` (``q_j = 1 - p_j``):

* Test of kappa = 0: null variance of Fleiss, Nee & Landis (1979, Psychol Bull 86:974-977),
  also given by Fleiss, Levin & Paik (2003, ch. 18)::

      SE0 = sqrt(2) / (sum_j p_j q_j · sqrt(n m (m - 1)))
            · sqrt( (sum_j p_j q_j)² - sum_j p_j q_j (q_j - p_j) )

* No confidence interval: the FNL variance holds only under kappa = 0 and no closed-form
  non-null variance is implemented, so ``se``, ``ci_low`` and ``ci_high`` are NaN for Fleiss'
  kappa (a subject bootstrap is the usual remedy).

Degenerate tables (one category used by everybody, so chance agreement is 1) give a NaN kappa
and NaN statistics rather than an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as _sm_fleiss_kappa

from qmrflow.stats._checks import (
    NAN,
    as_1d,
    check_confidence,
    check_no_missing,
    check_same_length,
    critical_z,
    row,
)

__all__ = ["KappaResult", "cohen_kappa", "fleiss_kappa"]

COHEN_METHOD = (
    "Cohen's kappa (unweighted); CI: Fleiss, Cohen & Everitt (1969) non-null SE; "
    "z test: null SE, two-sided"
)
FLEISS_METHOD = "Fleiss (1971) kappa; z test: Fleiss, Nee & Landis (1979) null SE, two-sided; no CI"


@dataclass(frozen=True)
class KappaResult:
    """A kappa coefficient with its standard errors, interval and test of kappa = 0.

    Attributes
    ----------
    kappa
        Point estimate; NaN when chance agreement is 1 (a single category used throughout).
    se
        Non-null standard error used for the interval (NaN for Fleiss' kappa, see module doc).
    ci_low, ci_high
        ``kappa ∓ z·se`` (not truncated); NaN when ``se`` is NaN.
    se_null
        Standard error under H0: kappa = 0, used for ``z``.
    z, p
        ``kappa / se_null`` and its two-sided normal p-value.
    n
        Number of subjects.
    method
        Human-readable description of estimator and variance formulas.
    measure
        ``"cohen_kappa"`` or ``"fleiss_kappa"`` (the tidy-table measure name).
    n_raters, n_categories
        Number of raters and of categories in the table.
    observed_agreement, expected_agreement
        ``p_o`` and ``p_e`` (for Fleiss: mean pairwise agreement ``P̄`` and ``P̄_e``).
    confidence
        Confidence level of the interval.
    """

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    n: int
    method: str
    se_null: float = NAN
    measure: str = "kappa"
    n_raters: int = 2
    n_categories: int = 0
    observed_agreement: float = NAN
    expected_agreement: float = NAN
    confidence: float = 0.95

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: kappa (with CI and p), SE, null SE, z, observed and chance agreement."""
        return [
            row(
                self.measure,
                "estimate",
                self.kappa,
                self.ci_low,
                self.ci_high,
                p=self.p,
                n=self.n,
                method=self.method,
            ),
            row(self.measure, "se", self.se, n=self.n, method=self.method),
            row(self.measure, "se_null", self.se_null, n=self.n, method=self.method),
            row(self.measure, "z", self.z, p=self.p, n=self.n, method=self.method),
            row(
                self.measure,
                "observed_agreement",
                self.observed_agreement,
                n=self.n,
                method=self.method,
            ),
            row(
                self.measure,
                "expected_agreement",
                self.expected_agreement,
                n=self.n,
                method=self.method,
            ),
        ]


def cohen_kappa(
    a: ArrayLike,
    b: ArrayLike,
    *,
    categories: Sequence[Any] | None = None,
    confidence: float = 0.95,
) -> KappaResult:
    """Unweighted Cohen's kappa of two raters with SE, confidence interval and z test.

    Parameters
    ----------
    a, b
        Ratings of the same subjects by rater A and rater B (1-D, same length, any hashable
        labels such as 0/1 or strings; no missing values).
    categories
        All possible categories. Defaults to the labels observed in ``a`` or ``b``. Unused
        categories do not change unweighted kappa; they are accepted for a stable table layout.
    confidence
        Two-sided confidence level in (0, 1).

    Returns
    -------
    KappaResult
        ``se`` is the Fleiss-Cohen-Everitt (1969) non-null SE used for the interval;
        ``se_null``, ``z`` and ``p`` test kappa = 0 (see the module docstring).

    Raises
    ------
    ValueError
        Empty input, unequal lengths, missing values, or a rating not in ``categories``.
    """
    confidence = check_confidence(confidence)
    ratings_a = as_1d(a, "a")
    ratings_b = as_1d(b, "b")
    check_same_length(ratings_a, ratings_b, "a", "b")
    if categories is None:
        try:
            levels = np.unique(np.concatenate([ratings_a, ratings_b]))
        except TypeError:
            raise ValueError(
                "a and b contain labels of mixed types that cannot be ordered; "
                "pass labels of one type"
            ) from None
    else:
        levels = as_1d(np.asarray(list(categories)), "categories")
        if np.unique(levels).size != levels.size:
            raise ValueError("categories contains duplicates")
    index_a = _category_index(ratings_a, levels, "a")
    index_b = _category_index(ratings_b, levels, "b")
    k = levels.size
    counts = np.bincount(index_a * k + index_b, minlength=k * k).reshape(k, k)
    return _cohen_from_table(counts, confidence)


def _category_index(ratings: np.ndarray, levels: np.ndarray, name: str) -> np.ndarray:
    """Position of each rating in ``levels`` (vectorised); ValueError for unknown labels."""
    order = np.argsort(levels, kind="stable")
    sorted_levels = levels[order]
    try:
        pos = np.searchsorted(sorted_levels, ratings)
    except TypeError:
        raise ValueError(f"{name} has labels that cannot be compared with categories") from None
    pos_clipped = np.minimum(pos, sorted_levels.size - 1)
    unknown = sorted_levels[pos_clipped] != ratings
    if np.any(unknown):
        bad = np.unique(ratings[np.asarray(unknown)])[:5]
        raise ValueError(f"{name} contains labels not in categories: {bad.tolist()}")
    return order[pos_clipped]


def _cohen_from_table(counts: np.ndarray, confidence: float) -> KappaResult:
    """Cohen's kappa and its variances from a k x k table (rows: rater A, columns: rater B)."""
    n = int(counts.sum())
    k = counts.shape[0]
    p = counts / n
    rows = p.sum(axis=1)
    cols = p.sum(axis=0)
    p_o = float(np.trace(p))
    p_e = float(rows @ cols)
    if math.isclose(p_e, 1.0, rel_tol=0.0, abs_tol=1e-12):
        return _undefined(n, COHEN_METHOD, "cohen_kappa", 2, k, p_o, p_e, confidence)
    kappa = (p_o - p_e) / (1.0 - p_e)

    # Fleiss, Cohen & Everitt (1969) non-null variance.
    diag = np.diag(p)
    term_a = float(np.sum(diag * (1.0 - (rows + cols) * (1.0 - kappa)) ** 2))
    off = p.copy()
    np.fill_diagonal(off, 0.0)
    # cell (i, j) is weighted by (p_.i + p_j.)²: column margin of i plus row margin of j.
    term_b = (1.0 - kappa) ** 2 * float(np.sum(off * (cols[:, None] + rows[None, :]) ** 2))
    term_c = (kappa - p_e * (1.0 - kappa)) ** 2
    var = max(term_a + term_b - term_c, 0.0) / (n * (1.0 - p_e) ** 2)
    se = math.sqrt(var)

    var0 = (p_e + p_e**2 - float(np.sum(rows * cols * (rows + cols)))) / (n * (1.0 - p_e) ** 2)
    se0 = math.sqrt(max(var0, 0.0))
    z, p_value = _z_test(kappa, se0)
    half = critical_z(confidence) * se
    return KappaResult(
        kappa=kappa,
        se=se,
        ci_low=kappa - half,
        ci_high=kappa + half,
        z=z,
        p=p_value,
        n=n,
        method=COHEN_METHOD,
        se_null=se0,
        measure="cohen_kappa",
        n_raters=2,
        n_categories=k,
        observed_agreement=p_o,
        expected_agreement=p_e,
        confidence=confidence,
    )


def fleiss_kappa(ratings: ArrayLike) -> KappaResult:
    """Fleiss' kappa for a fixed number of raters per subject, with the FNL (1979) z test.

    Parameters
    ----------
    ratings
        Array of shape ``(n_subjects, n_raters)``; entry ``[i, r]`` is the category label
        that rater ``r`` gave subject ``i``. At least 2 raters and 1 subject, no missing
        values. Raters need not be the same people for every subject (Fleiss 1971).

    Returns
    -------
    KappaResult
        ``kappa`` from :func:`statsmodels.stats.inter_rater.fleiss_kappa`; ``se_null``, ``z``
        and ``p`` from Fleiss, Nee & Landis (1979); ``se``, ``ci_low`` and ``ci_high`` are NaN
        (see the module docstring).

    Raises
    ------
    ValueError
        Not 2-D, no subjects, fewer than 2 raters, or missing values.
    """
    array = np.asarray(ratings)
    if array.ndim != 2:
        raise ValueError(
            f"ratings must be 2-dimensional (n_subjects, n_raters), got shape {array.shape}"
        )
    n_subjects, n_raters = array.shape
    if n_subjects == 0:
        raise ValueError("ratings is empty (no subjects)")
    if n_raters < 2:
        raise ValueError(f"ratings needs at least 2 raters (columns), got {n_raters}")
    check_no_missing(array, "ratings")

    try:
        counts, _categories = aggregate_raters(array)
    except TypeError:
        raise ValueError(
            "ratings contains labels of mixed types that cannot be ordered; pass labels of one type"
        ) from None
    counts = np.asarray(counts, dtype=float)
    n_categories = counts.shape[1]
    total = n_subjects * n_raters
    p_j = counts.sum(axis=0) / total
    q_j = 1.0 - p_j
    sum_pq = float(np.sum(p_j * q_j))
    observed = float(np.mean((np.sum(counts**2, axis=1) - n_raters) / (n_raters * (n_raters - 1))))
    expected = float(np.sum(p_j**2))
    if sum_pq <= 1e-15:
        return _undefined(
            n_subjects, FLEISS_METHOD, "fleiss_kappa", n_raters, n_categories, observed, expected
        )
    kappa = float(_sm_fleiss_kappa(counts, method="fleiss"))
    se0 = (
        math.sqrt(2.0)
        / (sum_pq * math.sqrt(n_subjects * n_raters * (n_raters - 1)))
        * math.sqrt(max(sum_pq**2 - float(np.sum(p_j * q_j * (q_j - p_j))), 0.0))
    )
    z, p_value = _z_test(kappa, se0)
    return KappaResult(
        kappa=kappa,
        se=NAN,
        ci_low=NAN,
        ci_high=NAN,
        z=z,
        p=p_value,
        n=n_subjects,
        method=FLEISS_METHOD,
        se_null=se0,
        measure="fleiss_kappa",
        n_raters=n_raters,
        n_categories=n_categories,
        observed_agreement=observed,
        expected_agreement=expected,
    )


def _z_test(kappa: float, se0: float) -> tuple[float, float]:
    if not se0 > 0.0:
        return NAN, NAN
    z = kappa / se0
    return z, float(2.0 * norm.sf(abs(z)))


def _undefined(
    n: int,
    method: str,
    measure: str,
    n_raters: int,
    n_categories: int,
    observed: float,
    expected: float,
    confidence: float = 0.95,
) -> KappaResult:
    """Result for a table whose chance agreement is 1: kappa is 0/0, so everything is NaN."""
    return KappaResult(
        kappa=NAN,
        se=NAN,
        ci_low=NAN,
        ci_high=NAN,
        z=NAN,
        p=NAN,
        n=n,
        method=method,
        measure=measure,
        n_raters=n_raters,
        n_categories=n_categories,
        observed_agreement=observed,
        expected_agreement=expected,
        confidence=confidence,
    )
