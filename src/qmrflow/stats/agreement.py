"""Chance-corrected agreement: Cohen's kappa, weighted or not (two raters), Fleiss' kappa (many).

Cohen's kappa, unweighted and weighted
--------------------------------------
With ``k`` ordered categories, cell proportions ``p_ij`` (row ``i``: rater ``x``, column ``j``:
rater ``y``), margins ``p_i.`` / ``p_.j`` and agreement weights ``w_ij`` (``w_ii = 1``,
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

* Test of kappa = 0: ``z = kappa / SE0`` with the null variance::

      var0 = [ sum_ij p_i. p_.j (w_ij - (w̄_i. + w̄_.j))² - p_e² ] / (n (1 - p_e)²)

  The null SE is the right yardstick for the test, the non-null SE for the interval; using
  one for both, as some software does, gives a test and an interval that can disagree.

With ``w_ij`` the identity the two formulas reduce to the familiar unweighted ones; one
implementation serves both. The non-null SE equals the "ASE" of R vcd ``Kappa`` and SAS PROC
FREQ, and both SEs equal ``statsmodels.stats.inter_rater.cohens_kappa`` (checked in the tests).

Alternatives (``alternative=``): ``"two-sided"`` (default), ``"greater"`` (kappa > 0: agreement
beyond chance, the usual one-sided test, SAS's "One-sided Pr > Z") or ``"less"``
(kappa < 0). As for the t-tests of :mod:`qmrflow.stats.ttest` the interval follows the
alternative: one-sided ``(kappa - z_{conf}·SE, inf)`` for ``"greater"``,
``(-inf, kappa + z_{conf}·SE)`` for ``"less"``, with ``z_{conf}`` the one-sided critical value.

Fleiss' kappa
-------------
Fleiss (1971, Psychol Bull 76:378-382) for ``n`` subjects each rated by ``m`` raters into
``q`` categories. ``r_ik`` is the number of raters who put subject ``i`` into category ``k``
(``r_i = sum_k r_ik``); the input is either the raw ratings (``layout="ratings"``: subjects ×
raters, category labels) or this count table (``layout="counts"``: subjects × categories)::

    P_i = sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))      P̄ = mean of P_i
    π_k = mean_i (r_ik / r_i)       P̄_e = sum_k π_k²   kappa = (P̄ - P̄_e) / (1 - P̄_e)

* Confidence interval: the linearisation variance of Gwet (2014, *Handbook of Inter-Rater
  Reliability*, 4th ed., ch. 5; R irrCAC ``fleiss.kappa.raw``/``fleiss.kappa.dist``), valid
  whatever kappa is, with the subject-level terms
  ``κ_i = (P_i - P̄_e)/(1 - P̄_e)`` and ``P_e|i = sum_k r_ik π_k / r_i``::

      κ*_i = κ_i - 2 (1 - kappa) (P_e|i - P̄_e) / (1 - P̄_e)
      var = sum_i (κ*_i - kappa)² / (n (n - 1))

  and, as Gwet and irrCAC, a t interval on ``n - 1`` df: ``kappa ± t_{n-1}·SE`` (not truncated
  at 1, which irrCAC does when printing).
* Test of kappa = 0: the null variance of Fleiss, Nee & Landis (1979, Psychol Bull
  86:974-977), also given by Fleiss, Levin & Paik (2003, ch. 18) -- not the variance printed
  in Fleiss (1971), which FNL showed to be incorrect -- with ``p_j = π_j``, ``q_j = 1 - p_j``::

      SE0 = sqrt(2) / (sum_j p_j q_j · sqrt(n m (m - 1)))
            · sqrt( (sum_j p_j q_j)² - sum_j p_j q_j (q_j - p_j) )

  ``z = kappa / SE0`` and a normal p for the alternative; the interval is one-sided with it.

Missing ratings (``drop_missing=True``, raw ratings only) are left out subject by subject, so
``r_i`` varies: kappa and Gwet's variance are then Fleiss' kappa generalised to unequal
numbers of raters (Gwet 2014; subjects with one rating count in ``π_k`` only, those with none
are left out), and the FNL null variance, which assumes a constant ``m``, is not available
(``null_se``, ``z`` and ``p`` NaN) unless every subject keeps the same number of ratings.

A count table passed as raw ratings gives a wrong kappa without any error, so with the default
``layout=None`` (raw ratings) a table that looks like counts -- non-negative integers, at least
one above 1, every row with the same sum ``>= 2`` -- is refused: say ``layout="counts"`` or
``layout="ratings"``. Binary 0/1 ratings are never refused.

A degenerate table (one category used by everybody, so chance agreement is 1 and kappa is 0/0)
is a ``ValueError`` naming the ratings and the category, never a NaN kappa in a results table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from scipy.stats import t as student_t

from qmrflow.stats._checks import (
    NAN,
    as_1d,
    check_choice,
    check_confidence,
    check_no_missing,
    check_same_length,
    missing_mask,
    row,
)
from qmrflow.stats._compat import DeprecatedAlias, renamed_arguments
from qmrflow.stats.ttest import ALTERNATIVES

__all__ = ["LAYOUTS", "WEIGHTS", "KappaResult", "agreement_weights", "cohen_kappa", "fleiss_kappa"]

logger = logging.getLogger(__name__)

WEIGHTS: tuple[str | None, ...] = (None, "linear", "quadratic")
LAYOUTS: tuple[str | None, ...] = (None, "ratings", "counts")
_COHEN_VARIANTS: dict[str | None, tuple[str, str]] = {
    None: ("cohen_kappa", "Cohen's kappa (unweighted)"),
    "linear": (
        "cohen_kappa_linear",
        "Cohen's weighted kappa, linear (Cicchetti-Allison) weights 1 - |i-j|/(k-1) over the "
        "ordered categories",
    ),
    "quadratic": (
        "cohen_kappa_quadratic",
        "Cohen's weighted kappa, quadratic (Fleiss-Cohen) weights 1 - (i-j)²/(k-1)² over the "
        "ordered categories",
    ),
}


@dataclass(frozen=True)
class KappaResult:
    """A kappa coefficient with its standard errors, interval and test of kappa = 0.

    Attributes
    ----------
    kappa
        Point estimate.
    se
        Non-null standard error used for the interval (Fleiss, Cohen & Everitt 1969 for
        Cohen's kappa, Gwet 2014 for Fleiss' kappa; see the module docstring).
    ci_low, ci_high
        Interval for ``alternative`` (not truncated; one end infinite when one-sided); NaN
        when ``se`` is NaN.
    z, p
        ``kappa / null_se`` and its normal p-value for ``alternative``.
    n
        Number of subjects.
    method
        Human-readable description of estimator, variance formulas and test.
    null_se
        Standard error under H0: kappa = 0, used for ``z`` (``se_null`` is a deprecated alias).
    measure
        The tidy-table measure name: ``"cohen_kappa"`` (unweighted), ``"cohen_kappa_linear"``,
        ``"cohen_kappa_quadratic"`` or ``"fleiss_kappa"``.
    n_raters, n_categories
        Number of raters (Fleiss: rater columns, or the row sum of a count table) and of
        categories in the table.
    observed_agreement, expected_agreement
        ``p_o`` and ``p_e`` (for Fleiss: mean pairwise agreement ``P̄`` and ``P̄_e``).
    confidence
        Confidence level of the interval.
    weights
        ``None`` (unweighted), ``"linear"`` or ``"quadratic"``; always ``None`` for Fleiss.
    categories
        The categories in table order (for weighted kappa: the ordinal order the weights
        used; for a Fleiss count table: the column labels).
    alternative
        ``"two-sided"``, ``"greater"`` (kappa > 0) or ``"less"``.
    n_dropped
        Missing ratings left out (Fleiss' kappa with ``drop_missing=True``).
    """

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    n: int
    method: str
    null_se: float = NAN
    measure: str = "kappa"
    n_raters: int = 2
    n_categories: int = 0
    observed_agreement: float = NAN
    expected_agreement: float = NAN
    confidence: float = 0.95
    weights: str | None = None
    categories: tuple[Any, ...] = ()
    alternative: str = "two-sided"
    n_dropped: int = 0
    se_null = DeprecatedAlias("null_se")

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: kappa (with CI and p), SE, null SE, z, observed and chance agreement."""
        n, method = self.n, self.method
        estimate = row(
            self.measure, "estimate", self.kappa, self.ci_low, self.ci_high, p=self.p, n=n,
            method=method,
        )  # fmt: skip
        rest = [
            ("se", self.se, NAN),
            ("null_se", self.null_se, NAN),
            ("z", self.z, self.p),
            ("observed_agreement", self.observed_agreement, NAN),
            ("expected_agreement", self.expected_agreement, NAN),
        ]
        return [estimate] + [
            row(self.measure, name, value, p=p, n=n, method=method) for name, value, p in rest
        ]


@renamed_arguments(a="x", b="y")
def cohen_kappa(
    x: ArrayLike,
    y: ArrayLike,
    *,
    categories: Sequence[Any] | None = None,
    weights: str | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> KappaResult:
    """Cohen's kappa of two raters, unweighted or weighted, with SE, CI and z test.

    Parameters
    ----------
    x, y
        Ratings of the same subjects by two raters (1-D, same length, any hashable labels such
        as 0/1 or strings; no missing values). The keywords ``a`` and ``b`` are deprecated
        aliases.
    categories
        All possible categories, **in scale order** for weighted kappa. Defaults to the sorted
        labels observed in ``x`` or ``y``. Unused categories do not change unweighted kappa
        (they are accepted for a stable table layout) but they *do* change weighted kappa,
        whose weights depend on each category's position and on the number of categories
        ``k``: for an ordinal scale some of whose levels were never used (e.g. grades 0-4 with
        no 3 observed), pass the full scale, ``categories=[0, 1, 2, 3, 4]``; for string labels
        pass them in scale order, since the default order is alphabetical.
    weights
        ``None`` (unweighted, Cohen 1960), ``"linear"`` (Cicchetti-Allison,
        ``1 - |i - j| / (k - 1)``) or ``"quadratic"`` (Fleiss-Cohen,
        ``1 - (i - j)² / (k - 1)²``), ``i``/``j`` being positions in ``categories``.
    alternative
        ``"two-sided"`` (default), ``"greater"`` (kappa > 0, agreement beyond chance) or
        ``"less"`` (kappa < 0). The interval is one-sided for a one-sided alternative.
    confidence
        Confidence level in (0, 1).

    Returns
    -------
    KappaResult
        ``measure`` is ``"cohen_kappa"``, ``"cohen_kappa_linear"`` or
        ``"cohen_kappa_quadratic"``. ``se`` is the Fleiss-Cohen-Everitt (1969) non-null SE used
        for the interval; ``null_se``, ``z`` and ``p`` test kappa = 0 with the FCE null SE
        (see the module docstring). ``observed_agreement``/``expected_agreement`` are the
        (weighted) ``p_o`` and ``p_e``.

    Raises
    ------
    ValueError
        Empty input, unequal lengths, missing values, a rating not in ``categories`` (the
        message names ``x`` or ``y``), duplicate categories, unknown ``weights`` or
        ``alternative``, ``confidence`` outside (0, 1), or a single category used throughout.

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
    check_choice(alternative, "alternative", ALTERNATIVES)
    ratings_x = as_1d(x, "x")
    ratings_y = as_1d(y, "y")
    check_same_length(ratings_x, ratings_y, "x", "y")
    levels = _levels(np.concatenate([ratings_x, ratings_y]), categories, "x and y contain")
    index_x = _category_index(ratings_x, levels, "x")
    index_y = _category_index(ratings_y, levels, "y")
    k = levels.size
    counts = np.bincount(index_x * k + index_y, minlength=k * k).reshape(k, k)
    return _cohen_from_table(
        counts,
        confidence,
        alternative,
        weights=weights,
        categories=tuple(levels.tolist()),
    )


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


def _levels(values: np.ndarray, categories: Sequence[Any] | None, subject: str) -> np.ndarray:
    """The categories: given (checked for duplicates) or the sorted observed labels.

    ``subject`` starts the mixed-types message, e.g. ``"x and y contain"``.
    """
    if categories is None:
        try:
            return np.unique(values)
        except TypeError:
            raise ValueError(
                f"{subject} labels of mixed types that cannot be ordered; pass labels of one type"
            ) from None
    levels = as_1d(np.asarray(list(categories)), "categories")
    try:
        unique = np.unique(levels).size
    except TypeError:
        unique = len(set(levels.tolist()))
    if unique != levels.size:
        raise ValueError("categories contains duplicates")
    return levels


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
    alternative: str,
    *,
    weights: str | None = None,
    categories: tuple[Any, ...] = (),
) -> KappaResult:
    """Cohen's kappa and its FCE (1969) variances from a k x k table (rows: x, columns: y).

    One implementation for unweighted and weighted kappa: the unweighted statistic is the
    special case ``W = I`` (see the module docstring for the formulas).
    """
    measure, estimator = _COHEN_VARIANTS[weights]
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
            f"x and y rate every subject {categories[int(np.argmax(rows))]!r}: chance agreement "
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
    z, p_value = _z_test(kappa, se0, alternative)
    ci_low, ci_high = _interval(kappa, se, confidence, alternative)
    method = (
        f"{estimator}; CI: Fleiss, Cohen & Everitt (1969) non-null SE, "
        f"{_interval_text(confidence, alternative, 'normal')}; z test: Fleiss, Cohen & Everitt "
        f"(1969) null SE, {alternative}"
    )
    return KappaResult(
        kappa=kappa,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        z=z,
        p=p_value,
        n=n,
        method=method,
        null_se=se0,
        measure=measure,
        n_raters=2,
        n_categories=k,
        observed_agreement=p_o,
        expected_agreement=p_e,
        confidence=confidence,
        weights=weights,
        categories=categories,
        alternative=alternative,
    )


def fleiss_kappa(
    ratings: ArrayLike,
    *,
    layout: str | None = None,
    categories: Sequence[Any] | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    drop_missing: bool = False,
) -> KappaResult:
    """Fleiss' kappa of many raters, with Gwet's (2014) SE and CI and the FNL (1979) z test.

    Parameters
    ----------
    ratings
        A 2-D array whose meaning ``layout`` states: raw ratings (subjects × raters, entry
        ``[i, r]`` the category label rater ``r`` gave subject ``i``; raters need not be the
        same people for every subject, Fleiss 1971) or a count table (subjects × categories,
        entry ``[i, k]`` the number of raters who put subject ``i`` into category ``k``).
    layout
        ``"ratings"``, ``"counts"``, or ``None`` (default): raw ratings, but a table that
        looks like counts (non-negative integers, at least one above 1, every row with the
        same sum ``>= 2``) is refused rather than misread -- pass ``layout`` to say which it
        is. Binary 0/1 ratings are never refused.
    categories
        ``"ratings"``: all possible labels (default: the sorted labels used; a label outside
        them is an error; unused ones change nothing but ``n_categories``). ``"counts"``: the
        labels of the columns, in order (default ``0 .. q-1``).
    alternative
        Alternative of the z test (and sidedness of the interval): ``"two-sided"``,
        ``"greater"`` (kappa > 0) or ``"less"``.
    confidence
        Confidence level in (0, 1) of the t interval.
    drop_missing
        Raw ratings only: leave out missing ratings (counted in ``n_dropped``) instead of
        raising; subjects may then have unequal numbers of raters (see the module docstring).

    Returns
    -------
    KappaResult
        ``kappa``, ``observed_agreement`` ``P̄`` and ``expected_agreement`` ``P̄_e``; ``se``,
        ``ci_low`` and ``ci_high`` from Gwet's (2014) variance with a t interval on ``n - 1``
        df; ``null_se``, ``z`` and ``p`` from the Fleiss, Nee & Landis (1979) null variance
        (NaN when subjects have unequal numbers of ratings).

    Raises
    ------
    ValueError
        Not 2-D, no subjects, fewer than 2 raters, missing values (without ``drop_missing``),
        unknown or mixed-type labels, counts not non-negative integers with equal row sums,
        a count-like table with ``layout=None``, a single category throughout, bad options.

    Examples
    --------
    >>> counts = [[3, 0], [0, 3], [2, 1], [3, 0]]
    >>> round(fleiss_kappa(counts, layout="counts").kappa, 4)
    0.625
    """
    check_choice(layout, "layout", LAYOUTS)
    check_choice(alternative, "alternative", ALTERNATIVES)
    confidence = check_confidence(confidence)
    array = np.asarray(ratings)
    if array.ndim != 2:
        what = "(n_subjects, n_categories)" if layout == "counts" else "(n_subjects, n_raters)"
        raise ValueError(f"ratings must be 2-dimensional {what}, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError("ratings is empty (no subjects)")
    if layout == "counts":
        counts, levels = _checked_counts(array, categories)
        n_dropped = 0
        n_raters = int(counts[0].sum())
    else:
        if layout is None:
            _refuse_count_like(array)
        counts, levels, n_dropped = _counts_from_ratings(array, categories, drop_missing)
        n_raters = array.shape[1]
    return _fleiss_from_counts(
        counts,
        confidence,
        alternative,
        categories=levels,
        n_raters=n_raters,
        n_dropped=n_dropped,
    )


def _refuse_count_like(array: np.ndarray) -> None:
    """ValueError when raw ratings look like a subjects × categories count table.

    Non-negative integers with one entry at least 2 and every row summing to the same
    ``m >= 2``, over at least 2 subjects and more than one distinct value. Raw ratings rarely
    have equal row sums by chance; 0/1 ratings (never above 1) and a single repeated label
    (undefined kappa, reported as such) are not refused.
    """
    if array.dtype.kind not in "iuf" or array.shape[0] < 2 or missing_mask(array).any():
        return
    values = array.astype(float)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
        return
    sums = values.sum(axis=1)
    if values.max() < 2 or np.unique(values).size < 2 or sums[0] < 2 or np.any(sums != sums[0]):
        return
    raise ValueError(
        f"ratings looks like a subjects × categories count table ({array.shape[0]} rows of "
        f"non-negative integers, each summing to {sums[0]:g}), not subjects × raters labels: "
        "pass layout='counts' if entry [i, k] is the number of raters who chose category k "
        "for subject i, or layout='ratings' if the entries are category labels"
    )


def _checked_counts(
    array: np.ndarray, categories: Sequence[Any] | None
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """A subjects × categories count table checked: integers >= 0, equal row sums >= 2."""
    n_categories = array.shape[1]
    if n_categories == 0:
        raise ValueError("ratings (counts) has no category columns")
    check_no_missing(array, "ratings (counts)")
    if array.dtype.kind not in "iufO":
        raise ValueError(f"ratings (counts) must be numeric, got dtype {array.dtype}")
    try:
        counts = array.astype(float)
    except (TypeError, ValueError):
        raise ValueError("ratings (counts) must be numeric, got non-numeric values") from None
    bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.round(counts))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"ratings (counts) must hold non-negative integer counts, got {array[first]!r} at "
            f"[subject, category] = {list(first)}"
        )
    sums = counts.sum(axis=1)
    if np.any(sums != sums[0]):
        odd = np.flatnonzero(sums != sums[0])[:5].tolist()
        raise ValueError(
            f"ratings (counts) rows must all sum to the same number of raters: row 0 sums to "
            f"{sums[0]:g}, rows {odd} differ (row sums {sums[odd].tolist()})"
        )
    if sums[0] < 2:
        raise ValueError(f"ratings (counts) needs at least 2 raters per subject, got {sums[0]:g}")
    if categories is None:
        return counts, tuple(range(n_categories))
    levels = _levels(np.arange(n_categories), categories, "categories")
    if levels.size != n_categories:
        raise ValueError(
            f"categories names {levels.size} categories but ratings (counts) has "
            f"{n_categories} columns"
        )
    return counts, tuple(levels.tolist())


def _counts_from_ratings(
    array: np.ndarray, categories: Sequence[Any] | None, drop_missing: bool
) -> tuple[np.ndarray, tuple[Any, ...], int]:
    """Subjects × categories counts from raw ratings; missing ratings refused or left out."""
    n_subjects, n_raters = array.shape
    if n_raters < 2:
        raise ValueError(f"ratings needs at least 2 raters (columns), got {n_raters}")
    missing = missing_mask(array)
    if missing.any() and not drop_missing:
        check_no_missing(array, "ratings")
    present = ~missing
    values = array[present]
    levels = _levels(values, categories, "ratings contains")
    index = _category_index(values, levels, "ratings")
    subject = np.broadcast_to(np.arange(n_subjects)[:, None], array.shape)[present]
    k = levels.size
    counts = np.bincount(subject * k + index, minlength=n_subjects * k).reshape(n_subjects, k)
    rated = counts.sum(axis=1) > 0
    if not rated.all():
        logger.info("fleiss_kappa: %d subject(s) without any rating left out", int((~rated).sum()))
    if not rated.any():
        raise ValueError("ratings has no rated subject left after dropping missing ratings")
    return counts[rated].astype(float), tuple(levels.tolist()), int(missing.sum())


def _fleiss_from_counts(
    counts: np.ndarray,
    confidence: float,
    alternative: str,
    *,
    categories: tuple[Any, ...],
    n_raters: int,
    n_dropped: int,
) -> KappaResult:
    """Fleiss' kappa, Gwet's (2014) variance and the FNL (1979) null SE from r_ik counts."""
    n = counts.shape[0]
    r = counts.sum(axis=1)
    pairs = r >= 2
    if not pairs.any():
        raise ValueError("ratings has no subject with 2 or more ratings: kappa is undefined")
    pair_counts = np.where(pairs, r * (r - 1.0), 1.0)
    p_i = np.where(pairs, np.sum(counts * (counts - 1.0), axis=1) / pair_counts, 0.0)
    observed = float(np.mean(p_i[pairs]))
    pi = np.mean(counts / r[:, None], axis=0)
    expected = float(np.sum(pi**2))
    sum_pq = float(np.sum(pi * (1.0 - pi)))
    if sum_pq <= 1e-15:
        raise ValueError(
            f"ratings use the single category {categories[int(np.argmax(pi))]!r} throughout: "
            "chance agreement is 1, so Fleiss' kappa is undefined"
        )
    kappa = (observed - expected) / (1.0 - expected)

    # Gwet (2014) linearisation variance, as irrCAC::fleiss.kappa.raw computes it.
    kappa_i = (n / int(pairs.sum())) * (p_i - expected * pairs) / (1.0 - expected)
    expected_i = (counts @ pi) / r
    kappa_star = kappa_i - 2.0 * (1.0 - kappa) * (expected_i - expected) / (1.0 - expected)
    se = math.sqrt(float(np.sum((kappa_star - kappa) ** 2)) / (n * (n - 1))) if n > 1 else NAN
    ci_low, ci_high = _interval(kappa, se, confidence, alternative, df=n - 1)

    equal = bool(np.all(r == r[0]))
    if equal:  # Fleiss, Nee & Landis (1979) null variance: a constant m per subject.
        m = float(r[0])
        inner = sum_pq**2 - float(np.sum(pi * (1.0 - pi) * (1.0 - 2.0 * pi)))
        se0 = math.sqrt(2.0) / (sum_pq * math.sqrt(n * m * (m - 1))) * math.sqrt(max(inner, 0.0))
        test = f"z test: Fleiss, Nee & Landis (1979) null variance, {alternative}"
    else:
        se0 = NAN
        test = "no z test: the Fleiss, Nee & Landis (1979) null variance needs equal m"
    z, p_value = _z_test(kappa, se0, alternative)
    unequal = "" if equal else f", {int(r.min())}-{int(r.max())} ratings per subject"
    method = (
        f"Fleiss (1971) kappa{unequal}; CI: Gwet (2014) variance, "
        f"{_interval_text(confidence, alternative, f't on {n - 1} df')}; {test}"
        + (f"; {n_dropped} missing rating(s) left out" if n_dropped else "")
    )
    return KappaResult(
        kappa=kappa,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        z=z,
        p=p_value,
        n=n,
        method=method,
        null_se=se0,
        measure="fleiss_kappa",
        n_raters=n_raters,
        n_categories=counts.shape[1],
        observed_agreement=observed,
        expected_agreement=expected,
        confidence=confidence,
        categories=categories,
        alternative=alternative,
        n_dropped=n_dropped,
    )


def _interval(
    estimate: float, se: float, confidence: float, alternative: str, df: int | None = None
) -> tuple[float, float]:
    """``estimate ∓ c·se`` (normal, or t on ``df``), one-sided for a one-sided alternative."""
    if not math.isfinite(se):
        return NAN, NAN
    level = (1.0 + confidence) / 2.0 if alternative == "two-sided" else confidence
    crit = float(norm.ppf(level) if df is None else student_t.ppf(level, df))
    low = estimate - crit * se if alternative != "less" else -math.inf
    high = estimate + crit * se if alternative != "greater" else math.inf
    return low, high


def _interval_text(confidence: float, alternative: str, distribution: str) -> str:
    sided = "two-sided" if alternative == "two-sided" else f"one-sided ({alternative})"
    return f"{confidence:.0%} {sided} interval ({distribution})"


def _z_test(kappa: float, se0: float, alternative: str) -> tuple[float, float]:
    """``z = kappa / se0`` and its normal p for ``alternative`` (NaN without a null SE)."""
    if not se0 > 0.0:
        return NAN, NAN
    z = kappa / se0
    if alternative == "greater":
        return z, float(norm.sf(z))
    if alternative == "less":
        return z, float(norm.cdf(z))
    return z, float(2.0 * norm.sf(abs(z)))
