"""Chance-corrected agreement: Cohen's kappa, weighted or not (two raters), Fleiss' kappa (many).

Cohen's kappa, unweighted and weighted
--------------------------------------
With ``k`` ordered categories, cell proportions ``p_ij`` (row ``i``: rater A, column ``j``:
rater B), margins ``p_i.`` / ``p_.j`` and agreement weights ``w_ij`` (``w_ii = 1``,
``0 <= w_ij < 1`` off the diagonal)::

    p_o = sum_ij w_ij p_ij       p_e = sum_ij w_ij p_i. p_.j       kappa = (p_o - p_e) / (1 - p_e)

Weights (``weights=``):

* ``None``: ``w_ij = 1 if i == j else 0`` (Cohen 1960), the usual unweighted kappa.
* ``"linear"``: ``w_ij = 1 - |i - j| / (k - 1)`` (Cicchetti & Allison 1971; R vcd
  "Equal-Spacing", SAS PROC FREQ ``WT=CA`` with equally spaced scores).
* ``"quadratic"``: ``w_ij = 1 - (i - j)² / (k - 1)²`` (Fleiss & Cohen 1973; vcd "Fleiss-Cohen",
  SAS ``WT=FC``).

Weighted kappa depends on the order and the number of categories (``k`` enters the weights), so
an ordinal scale with levels that nobody used must be passed in full through ``categories``.

Both variances are the large-sample formulas of Fleiss, Cohen & Everitt (1969, Psychol Bull
72:323-327), as given by Fleiss, Levin & Paik (2003, *Statistical Methods for Rates and
Proportions*, 3rd ed., §18.1) and by SAS PROC FREQ, with ``w̄_i. = sum_j p_.j w_ij`` and
``w̄_.j = sum_i p_i. w_ij``:

* Confidence interval: ``kappa ± z·SE`` with the non-null variance::

      var = [ sum_ij p_ij (w_ij - (w̄_i. + w̄_.j)(1 - kappa))² - (kappa - p_e (1 - kappa))² ]
            / (n (1 - p_e)²)

* Test of kappa = 0: ``z = kappa / SE0`` (two-sided p) with the null variance::

      var0 = [ sum_ij p_i. p_.j (w_ij - (w̄_i. + w̄_.j))² - p_e² ] / (n (1 - p_e)²)

  The null SE is the right yardstick for the test, the non-null SE for the interval; using
  one for both, as some software does, gives a test and an interval that can disagree.

With ``w_ij`` the identity the two formulas reduce to the familiar unweighted ones, e.g.
``var0 = [p_e + p_e² - sum_i p_i. p_.i (p_i. + p_.i)] / (n (1 - p_e)²)``; one implementation
serves both. The non-null SE equals the "ASE" of R vcd ``Kappa`` and SAS PROC FREQ, and both
SEs equal ``statsmodels.stats.inter_rater.cohens_kappa`` (checked in the tests).

Fleiss' kappa
-------------
Fleiss (1971, Psychol Bull 76:378-382) for ``n`` subjects each rated by the same number ``m``
of raters into categories with overall proportions ``p_j`` (``q_j = 1 - p_j``):

* Test of kappa = 0: the null variance of Fleiss, Nee & Landis (1979, Psychol Bull
  86:974-977), also given by Fleiss, Levin & Paik (2003, ch. 18) -- not the variance printed
  in Fleiss (1971), which FNL showed to be incorrect::

      SE0 = sqrt(2) / (sum_j p_j q_j · sqrt(n m (m - 1)))
            · sqrt( (sum_j p_j q_j)² - sum_j p_j q_j (q_j - p_j) )

* No confidence interval: the FNL variance holds only under kappa = 0 and no closed-form
  non-null variance is implemented, so ``se``, ``ci_low`` and ``ci_high`` are NaN for Fleiss'
  kappa (a subject bootstrap is the usual remedy).

A degenerate table (one category used by everybody, so chance agreement is 1 and kappa is 0/0)
is a ``ValueError`` naming the ratings and the category, never a NaN kappa in a results table.
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
    check_choice,
    check_confidence,
    check_no_missing,
    check_same_length,
    critical_z,
    row,
)

__all__ = ["WEIGHTS", "KappaResult", "agreement_weights", "cohen_kappa", "fleiss_kappa"]

WEIGHTS: tuple[str | None, ...] = (None, "linear", "quadratic")
_COHEN_VARIANCE = (
    "CI: Fleiss, Cohen & Everitt (1969) non-null SE; z test: Fleiss, Cohen & Everitt (1969) "
    "null SE, two-sided"
)
COHEN_METHOD = f"Cohen's kappa (unweighted); {_COHEN_VARIANCE}"
COHEN_LINEAR_METHOD = (
    "Cohen's weighted kappa, linear (Cicchetti-Allison) weights 1 - |i-j|/(k-1) over the "
    f"ordered categories; {_COHEN_VARIANCE}"
)
COHEN_QUADRATIC_METHOD = (
    "Cohen's weighted kappa, quadratic (Fleiss-Cohen) weights 1 - (i-j)²/(k-1)² over the "
    f"ordered categories; {_COHEN_VARIANCE}"
)
_COHEN_VARIANTS: dict[str | None, tuple[str, str]] = {
    None: ("cohen_kappa", COHEN_METHOD),
    "linear": ("cohen_kappa_linear", COHEN_LINEAR_METHOD),
    "quadratic": ("cohen_kappa_quadratic", COHEN_QUADRATIC_METHOD),
}
FLEISS_METHOD = (
    "Fleiss (1971) kappa; z test: Fleiss, Nee & Landis (1979) null variance, two-sided; no CI"
)


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
        The tidy-table measure name: ``"cohen_kappa"`` (unweighted), ``"cohen_kappa_linear"``,
        ``"cohen_kappa_quadratic"`` or ``"fleiss_kappa"``.
    n_raters, n_categories
        Number of raters and of categories in the table.
    observed_agreement, expected_agreement
        ``p_o`` and ``p_e`` (for Fleiss: mean pairwise agreement ``P̄`` and ``P̄_e``).
    confidence
        Confidence level of the interval.
    weights
        ``None`` (unweighted), ``"linear"`` or ``"quadratic"``; always ``None`` for Fleiss.
    categories
        The categories in table order (for weighted kappa: the ordinal order the weights
        used); empty for Fleiss' kappa.
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
    weights: str | None = None
    categories: tuple[Any, ...] = ()

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
    weights: str | None = None,
    confidence: float = 0.95,
) -> KappaResult:
    """Cohen's kappa of two raters, unweighted or weighted, with SE, CI and z test.

    Parameters
    ----------
    a, b
        Ratings of the same subjects by rater A and rater B (1-D, same length, any hashable
        labels such as 0/1 or strings; no missing values).
    categories
        All possible categories, **in scale order** for weighted kappa. Defaults to the sorted
        labels observed in ``a`` or ``b``. Unused categories do not change unweighted kappa
        (they are accepted for a stable table layout) but they *do* change weighted kappa,
        whose weights depend on each category's position and on the number of categories
        ``k``: for an ordinal scale some of whose levels were never used (e.g. grades 0-4 with
        no 3 observed), pass the full scale, ``categories=[0, 1, 2, 3, 4]``; for string labels
        pass them in scale order, since the default order is alphabetical.
    weights
        ``None`` (unweighted, Cohen 1960), ``"linear"`` (Cicchetti-Allison,
        ``1 - |i - j| / (k - 1)``) or ``"quadratic"`` (Fleiss-Cohen,
        ``1 - (i - j)² / (k - 1)²``), ``i``/``j`` being positions in ``categories``.
    confidence
        Two-sided confidence level in (0, 1).

    Returns
    -------
    KappaResult
        ``measure`` is ``"cohen_kappa"``, ``"cohen_kappa_linear"`` or
        ``"cohen_kappa_quadratic"``. ``se`` is the Fleiss-Cohen-Everitt (1969) non-null SE used
        for the interval; ``se_null``, ``z`` and ``p`` test kappa = 0 with the FCE null SE
        (see the module docstring). ``observed_agreement``/``expected_agreement`` are the
        (weighted) ``p_o`` and ``p_e``.

    Raises
    ------
    ValueError
        Empty input, unequal lengths, missing values, a rating not in ``categories`` (the
        message names ``a`` or ``b``), duplicate categories, unknown ``weights``, or
        ``confidence`` outside (0, 1).

    Examples
    --------
    >>> husband = ["never", "often", "often", "always"]
    >>> wife = ["never", "often", "always", "always"]
    >>> scale = ["never", "often", "always"]
    >>> round(cohen_kappa(husband, wife, categories=scale, weights="linear").kappa, 4)
    0.7143
    """
    confidence = check_confidence(confidence)
    check_choice(weights, "weights", WEIGHTS)
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
    return _cohen_from_table(counts, confidence, weights=weights, categories=tuple(levels.tolist()))


def agreement_weights(k: int, weights: str | None) -> np.ndarray:
    """The ``k x k`` agreement-weight matrix ``w_ij`` of weighted kappa.

    Parameters
    ----------
    k
        Number of ordered categories (>= 1).
    weights
        ``None`` (identity: unweighted kappa), ``"linear"`` (``1 - |i - j| / (k - 1)``) or
        ``"quadratic"`` (``1 - (i - j)² / (k - 1)²``).

    Returns
    -------
    numpy.ndarray
        Symmetric float matrix with ones on the diagonal. For ``k == 1`` the 1 x 1 matrix
        ``[[1.0]]`` (every weighting coincides).
    """
    check_choice(weights, "weights", WEIGHTS)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if weights is None or k == 1:
        return np.eye(k)
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    return 1.0 - (distance if weights == "linear" else distance**2)


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


def _cohen_from_table(
    counts: np.ndarray,
    confidence: float,
    *,
    weights: str | None = None,
    categories: tuple[Any, ...] = (),
) -> KappaResult:
    """Cohen's kappa and its FCE (1969) variances from a k x k table (rows: A, columns: B).

    One implementation for unweighted and weighted kappa: the unweighted statistic is the
    special case ``W = I`` (see the module docstring for the formulas).
    """
    measure, method = _COHEN_VARIANTS[weights]
    n = int(counts.sum())
    k = counts.shape[0]
    w = agreement_weights(k, weights)
    p = counts / n
    rows = p.sum(axis=1)
    cols = p.sum(axis=0)
    chance = np.outer(rows, cols)
    p_o = float(np.sum(w * p))
    p_e = float(np.sum(w * chance))
    if math.isclose(p_e, 1.0, rel_tol=0.0, abs_tol=1e-12):
        raise ValueError(
            f"a and b rate every subject {categories[int(np.argmax(rows))]!r}: chance agreement "
            "is 1, so Cohen's kappa is undefined"
        )
    kappa = (p_o - p_e) / (1.0 - p_e)

    # w̄_i. = sum_j p_.j w_ij (row i) plus w̄_.j = sum_i p_i. w_ij (column j), for every cell.
    w_bar = (w @ cols)[:, None] + (rows @ w)[None, :]
    denominator = n * (1.0 - p_e) ** 2
    # Fleiss, Cohen & Everitt (1969) non-null variance (for the interval) ...
    var = float(np.sum(p * (w - w_bar * (1.0 - kappa)) ** 2)) - (kappa - p_e * (1.0 - kappa)) ** 2
    se = math.sqrt(max(var, 0.0) / denominator)
    # ... and null variance (for the test of kappa = 0).
    var0 = float(np.sum(chance * (w - w_bar) ** 2)) - p_e**2
    se0 = math.sqrt(max(var0, 0.0) / denominator)
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
        method=method,
        se_null=se0,
        measure=measure,
        n_raters=2,
        n_categories=k,
        observed_agreement=p_o,
        expected_agreement=p_e,
        confidence=confidence,
        weights=weights,
        categories=categories,
    )


def fleiss_kappa(ratings: ArrayLike) -> KappaResult:
    """Fleiss' kappa for a fixed number of raters per subject, with the FNL (1979) z test.

    The z test uses the large-sample *null* variance of Fleiss, Nee & Landis (1979), valid
    under kappa = 0 only (formula in the module docstring); no interval is given.

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
        and ``p`` from the Fleiss, Nee & Landis (1979) null variance; ``se``, ``ci_low`` and
        ``ci_high`` are NaN (see the module docstring).

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
        counts, categories = aggregate_raters(array)
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
        only = categories[int(np.argmax(p_j))].item()
        raise ValueError(
            f"ratings use the single category {only!r} throughout: chance agreement is 1, "
            "so Fleiss' kappa is undefined"
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
