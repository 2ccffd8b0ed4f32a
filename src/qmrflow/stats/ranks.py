"""Rank tests: Wilcoxon signed-rank test and Mann-Whitney U test.

Each test returns a frozen result with its effect size and a ``to_rows()`` method for
:func:`qmrflow.stats.tidy.tidy`. Numbers follow R's ``wilcox.test`` (stats package), so
that results can be checked against published R output.

Wilcoxon signed-rank test
-------------------------
Differences ``d_i = x_i - y_i - mu`` (or ``x_i - mu``); zero differences are dropped before
ranking (Wilcoxon 1945; R's convention; ``n`` counts the non-zero ones). Ranks ``r_i`` of
``|d_i|`` (mid-ranks for ties). ``V = W+ = sum of r_i over d_i > 0`` as R reports it and
``W- = n(n + 1)/2 - V``.

* Exact p (null distribution of ``V`` over the ``2^n`` sign patterns): used with
  ``method="exact"``, or with ``method="auto"`` when ``n < 50`` and there are no ties and no
  zeros (R's rule). The exact distribution is wrong with ties or zeros, so requesting it then
  raises ``ValueError`` (R warns and silently switches to the normal approximation).
* Normal approximation (Hollander & Wolfe 1973, §3.1; R)::

      z = (V - n(n + 1)/4 - c) / sqrt(n(n + 1)(2n + 1)/24 - sum_j (t_j³ - t_j)/48)

  with ``t_j`` the sizes of the tie groups among the ``|d_i|`` and continuity correction
  ``c = 0.5·sign(V - n(n + 1)/4)`` (two-sided), ``+0.5`` (greater), ``-0.5`` (less), or ``0``
  with ``correction=False``.
* Ties and zeros mean exact floating-point equality, as in R (``digits.rank = Inf``): decimal
  data can give differences such as ``0.3 - 0.1`` and ``0.2 - 0.0`` that do not tie; round
  the data to their recorded precision first if that matters.
* Effect size: matched-pairs rank-biserial correlation ``r = (W+ - W-)/(W+ + W-)`` (Kerby
  2014), in [-1, 1], positive when positive differences dominate.

Mann-Whitney U test (Wilcoxon rank-sum test)
--------------------------------------------
Ranks of the pooled sample (mid-ranks for ties). ``W = U_x = R_x - n_x(n_x + 1)/2`` (the sum of
the ranks of ``x`` minus its minimum), as R reports it: the number of pairs ``(x_i, y_j)`` with
``x_i > y_j`` plus half the number of ties (Mann & Whitney 1947).

* Exact p: ``method="exact"``, or ``"auto"`` when ``n_x < 50`` and ``n_y < 50`` and there are
  no ties (R's rule); ``ValueError`` if exact is requested with ties.
* Normal approximation::

      z = (W - n_x n_y/2 - c) / sqrt(n_x n_y/12 · ((N + 1) - sum_j (t_j³ - t_j)/(N(N - 1))))

  with ``N = n_x + n_y`` and ``c`` as above.
* Effect sizes: probability of superiority (common-language effect size, McGraw & Wong 1992;
  Vargha & Delaney's A) ``PS = W/(n_x n_y) = P(X > Y) + P(X = Y)/2`` and rank-biserial
  correlation ``r = 2·PS - 1 = P(X > Y) - P(X < Y)`` (Kerby 2014), positive when ``x`` tends to
  be larger.

References
----------
Hollander M, Wolfe DA (1973) Nonparametric Statistical Methods. Wiley.
Kerby DS (2014) The simple difference formula. Compr Psychol 3:11.IT.3.1.
Mann HB, Whitney DR (1947) Ann Math Stat 18:50-60.
McGraw KO, Wong SP (1992) Psychol Bull 111:361-365.
Wilcoxon F (1945) Biometrics Bull 1:80-83.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from qmrflow.stats._checks import (
    NAN,
    check_choice,
    dropped_note,
    numeric_pairs,
    numeric_sample,
    row,
    tie_sizes,
)
from qmrflow.stats.ttest import ALTERNATIVES

__all__ = [
    "MannWhitneyResult",
    "WilcoxonResult",
    "mann_whitney_u",
    "wilcoxon_signed_rank",
]

logger = logging.getLogger(__name__)

RANK_METHODS: tuple[str, ...] = ("auto", "exact", "asymptotic")
#: R uses the exact null distribution by default when the sample size is below this.
EXACT_BELOW_N = 50

P_EXACT = "exact"
P_NORMAL_CC = "normal approximation with continuity correction"
P_NORMAL = "normal approximation"


# ------------------------------------------------------------------------------------------
# Rank tests: shared helpers
# ------------------------------------------------------------------------------------------


def _continuity(centred: float, alternative: str, correction: bool) -> float:
    """R's continuity correction for a statistic minus its null mean."""
    if not correction:
        return 0.0
    if alternative == "greater":
        return 0.5
    if alternative == "less":
        return -0.5
    return 0.5 * float(np.sign(centred))


def _p_method(exact: bool, correction: bool) -> str:
    if exact:
        return P_EXACT
    return P_NORMAL_CC if correction else P_NORMAL


def _check_rank_options(alternative: str, method: str, correction: bool) -> None:
    check_choice(alternative, "alternative", ALTERNATIVES)
    check_choice(method, "method", RANK_METHODS)
    if not isinstance(correction, bool | np.bool_):
        raise ValueError(f"correction must be True or False, got {correction!r}")


# ------------------------------------------------------------------------------------------
# Wilcoxon signed-rank test
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test (zeros dropped) with the matched-pairs rank-biserial r.

    Attributes
    ----------
    v
        ``V = W+``, the sum of the ranks of the positive differences (R's statistic).
    w_minus
        ``W-``, the sum of the ranks of the negative differences (``n(n + 1)/2 - V``).
    z
        Standardised ``V`` (continuity-corrected if ``p_method`` says so; signed, positive
        when ``V`` exceeds its null mean); NaN when the p-value is exact.
    p
        p-value for ``alternative``.
    p_method
        ``"exact"``, ``"normal approximation with continuity correction"`` or
        ``"normal approximation"``.
    rank_biserial
        Matched-pairs rank-biserial correlation ``(W+ - W-)/(W+ + W-)`` (Kerby 2014).
    median_difference
        Median of all differences ``d_i`` (zeros included; descriptive, not the Hodges-Lehmann
        estimator).
    n
        Number of non-zero differences (the sample size of the test).
    n_zero
        Number of zero differences dropped before ranking.
    n_dropped
        Pairs (or values, one-sample) dropped because a value was missing.
    mu
        Hypothesised location shift.
    alternative
        Alternative hypothesis (``"greater"``: differences tend to exceed ``mu``).
    correction
        Whether a continuity correction was requested for the normal approximation.
    paired
        ``False`` for the one-sample test (``y=None``).
    convention
        The differences tested, e.g. ``"difference = x − y − mu (mu = 0)"``.
    method
        Human-readable description including ``p_method`` and dropped values.
    """

    v: float
    w_minus: float
    z: float
    p: float
    p_method: str
    rank_biserial: float
    median_difference: float
    n: int
    n_zero: int
    n_dropped: int
    mu: float
    alternative: str
    correction: bool
    paired: bool
    convention: str
    method: str

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows.

        ``wilcoxon_v``: ``estimate`` (p), ``z`` (p; normal approximation only);
        ``rank_biserial``: ``estimate``; ``median_difference``: ``estimate``;
        ``zero_differences``: ``count`` (``n`` = differences including zeros).
        """
        n, method = self.n, self.method
        n_all = self.n + self.n_zero
        rows = [row("wilcoxon_v", "estimate", self.v, p=self.p, n=n, method=method)]
        if self.p_method != P_EXACT:
            rows.append(row("wilcoxon_v", "z", self.z, p=self.p, n=n, method=method))
        rows += [
            row("rank_biserial", "estimate", self.rank_biserial, n=n, method=method),
            row("median_difference", "estimate", self.median_difference, n=n_all, method=method),
            row("zero_differences", "count", self.n_zero, n=n_all, method=method),
        ]
        return rows


def wilcoxon_signed_rank(
    x: ArrayLike,
    y: ArrayLike | None = None,
    *,
    mu: float = 0.0,
    alternative: str = "two-sided",
    method: str = "auto",
    correction: bool = True,
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of ``x - y - mu`` (paired) or ``x - mu`` (one sample).

    Kept whole (about 115 lines of code): one R-compatible computation (zeros, ties, exact or
    normal p, continuity) whose steps share their intermediate sums.

    Parameters
    ----------
    x, y
        Paired measurements (1-D, numeric, same length), or ``x`` alone with ``y=None`` for the
        one-sample test.
    mu
        Hypothesised location of the differences.
    alternative
        ``"two-sided"``, ``"less"`` or ``"greater"`` (differences tend to exceed ``mu``).
    method
        ``"auto"`` (R's rule: exact when ``n < 50`` non-zero differences and no ties or
        zeros), ``"exact"`` or ``"asymptotic"`` (normal approximation).
    correction
        Continuity correction in the normal approximation.
    drop_missing
        Drop pairs (values) with a missing value, counted in ``n_dropped``, instead of raising.
    names
        Names of ``x`` and ``y`` for messages and the sign convention.

    Returns
    -------
    WilcoxonResult
        Equals R's ``wilcox.test(x, y, paired = TRUE, mu = ..., alternative = ...,
        correct = ...)`` (``V`` and p), with the rank-biserial correlation added.

    Raises
    ------
    ValueError
        Bad input (see :func:`paired_ttest`), all differences zero, ``method="exact"`` with
        ties or zero differences, or a bad option.
    """
    _check_rank_options(alternative, method, correction)
    try:
        mu = float(mu)
    except (TypeError, ValueError):
        raise ValueError(f"mu must be a finite number, got {mu!r}") from None
    if not math.isfinite(mu):
        raise ValueError(f"mu must be a finite number, got {mu!r}")

    if y is None:
        sample = numeric_sample(x, names[0], drop_missing=drop_missing, min_n=1)
        d_all = sample.values - mu
        n_dropped = sample.n_dropped
        convention = f"difference = {names[0]} − mu (mu = {mu:g})"
        what = f"differences {names[0]} − mu"
    else:
        pairs = numeric_pairs(x, y, names, drop_missing=drop_missing, min_n=1)
        # Same order of operations as R: (x - y) - mu.
        d_all = (pairs.x - pairs.y) - mu
        n_dropped = pairs.n_dropped
        convention = f"difference = {names[0]} − {names[1]} − mu (mu = {mu:g})"
        what = f"differences {names[0]} − {names[1]}" + (f" − {mu:g}" if mu else "")

    zero = d_all == 0.0
    n_zero = int(zero.sum())
    d = d_all[~zero]
    n = d.size
    if n == 0:
        raise ValueError(
            f"{what} are all zero ({n_zero} of them); the signed-rank test is undefined"
        )
    abs_d = np.abs(d)
    ties = tie_sizes(abs_d)
    has_ties = ties.size > 0

    # scipy 1.17's wilcoxon "auto" differs from R: it counts zeros in the n <= 50 cut-off and
    # switches to a permutation test for n <= 13 with ties or zeros. We apply R's rule here and
    # pass scipy an explicit method on the non-zero differences only.
    if method == "exact" and (has_ties or n_zero):
        raise ValueError(
            f"exact p is unavailable for {what}: {n_zero} zero difference(s) and "
            f"{int(np.sum(ties))} tied |difference|(s); the exact null distribution "
            "assumes neither. Use method='auto' or 'asymptotic'"
        )
    exact = method == "exact" or (
        method == "auto" and n < EXACT_BELOW_N and not has_ties and not n_zero
    )
    if method == "auto" and not exact:
        logger.debug(
            "wilcoxon_signed_rank: normal approximation (n = %d, ties: %s, zeros: %d)",
            n,
            has_ties,
            n_zero,
        )

    ranks = stats.rankdata(abs_d)
    v = float(ranks[d > 0].sum())
    total = n * (n + 1) / 2.0
    w_minus = total - v
    centred = v - total / 2.0

    if exact:
        z = NAN
    else:
        sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - float(np.sum(ties**3 - ties)) / 48.0)
        z = (centred - _continuity(centred, alternative, correction)) / sigma
    # On the non-zero differences scipy's exact and asymptotic p-values equal R's (same
    # tie-corrected variance and continuity correction); scipy reports -|z| for two-sided
    # tests, hence our own signed z above.
    p = float(
        stats.wilcoxon(
            d,
            zero_method="wilcox",
            correction=bool(correction),
            alternative=alternative,
            method="exact" if exact else "asymptotic",
        ).pvalue
    )
    p_method = _p_method(exact, bool(correction))
    zero_note = f"; {n_zero} zero difference(s) dropped before ranking" if n_zero else ""
    kind = "paired" if y is not None else "one-sample"
    description = (
        f"Wilcoxon signed-rank test ({kind}, {alternative}), V = sum of ranks of positive "
        f"differences, {convention}; p: {p_method}"
        + ("" if exact else " (tie-corrected variance)")
        + f"; rank-biserial r = (W+ − W−)/(W+ + W−) (Kerby 2014){zero_note}"
        + dropped_note(n_dropped, "pair" if y is not None else "value")
    )
    return WilcoxonResult(
        v=v,
        w_minus=w_minus,
        z=z,
        p=p,
        p_method=p_method,
        rank_biserial=(v - w_minus) / total,
        median_difference=float(np.median(d_all)),
        n=n,
        n_zero=n_zero,
        n_dropped=n_dropped,
        mu=mu,
        alternative=alternative,
        correction=bool(correction),
        paired=y is not None,
        convention=convention,
        method=description,
    )


# ------------------------------------------------------------------------------------------
# Mann-Whitney U test
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MannWhitneyResult:
    """Mann-Whitney U (Wilcoxon rank-sum) test with rank-biserial r and P(X > Y).

    Attributes
    ----------
    w
        ``W = U_x = R_x - n_x(n_x + 1)/2`` (R's statistic): pairs with ``x > y`` plus half
        the ties.
    z
        Standardised ``W`` (continuity-corrected if ``p_method`` says so; positive when ``x``
        tends to be larger); NaN when the p-value is exact.
    p
        p-value for ``alternative``.
    p_method
        ``"exact"``, ``"normal approximation with continuity correction"`` or
        ``"normal approximation"``.
    rank_biserial
        ``2W/(n_x n_y) - 1 = P(X > Y) - P(X < Y)`` (Kerby 2014).
    probability_of_superiority
        ``W/(n_x n_y) = P(X > Y) + P(X = Y)/2`` (common-language effect size).
    median_x, median_y
        Sample medians (descriptive).
    n_x, n_y
        Observations used from ``x`` and ``y``.
    n_dropped_x, n_dropped_y
        Missing values dropped from each sample (``drop_missing=True``).
    alternative
        Alternative hypothesis (``"greater"``: ``x`` tends to be larger than ``y``).
    correction
        Whether a continuity correction was requested for the normal approximation.
    convention
        Direction of the statistic, e.g. ``"W = U of x (x > y counts)"``.
    method
        Human-readable description including ``p_method`` and dropped values.
    """

    w: float
    z: float
    p: float
    p_method: str
    rank_biserial: float
    probability_of_superiority: float
    median_x: float
    median_y: float
    n_x: int
    n_y: int
    n_dropped_x: int
    n_dropped_y: int
    alternative: str
    correction: bool
    convention: str
    method: str

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows.

        ``mann_whitney_w``: ``estimate`` (p), ``z`` (p; normal approximation only);
        ``rank_biserial`` and ``probability_of_superiority``: ``estimate``; ``median_x`` and
        ``median_y``: ``estimate`` with ``n`` the size of that sample.
        """
        n, method = self.n_x + self.n_y, self.method
        rows = [row("mann_whitney_w", "estimate", self.w, p=self.p, n=n, method=method)]
        if self.p_method != P_EXACT:
            rows.append(row("mann_whitney_w", "z", self.z, p=self.p, n=n, method=method))
        rows += [
            row("rank_biserial", "estimate", self.rank_biserial, n=n, method=method),
            row(
                "probability_of_superiority",
                "estimate",
                self.probability_of_superiority,
                n=n,
                method=method,
            ),
            row("median_x", "estimate", self.median_x, n=self.n_x, method=method),
            row("median_y", "estimate", self.median_y, n=self.n_y, method=method),
        ]
        return rows


def mann_whitney_u(
    x: ArrayLike,
    y: ArrayLike,
    *,
    alternative: str = "two-sided",
    method: str = "auto",
    correction: bool = True,
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
) -> MannWhitneyResult:
    """Mann-Whitney U test (Wilcoxon rank-sum test) of two independent samples.

    Parameters
    ----------
    x, y
        Independent samples (1-D, numeric, at least one observation each; lengths may differ).
    alternative
        ``"two-sided"``, ``"less"`` or ``"greater"`` (``x`` tends to be larger than ``y``).
    method
        ``"auto"`` (R's rule: exact when ``n_x < 50``, ``n_y < 50`` and no ties), ``"exact"``
        or ``"asymptotic"`` (normal approximation).
    correction
        Continuity correction in the normal approximation.
    drop_missing
        Drop missing values from each sample separately (counted in ``n_dropped_x`` and
        ``n_dropped_y``) instead of raising.
    names
        Names of ``x`` and ``y`` for messages and the convention.

    Returns
    -------
    MannWhitneyResult
        Equals R's ``wilcox.test(x, y, alternative = ..., correct = ...)`` (``W`` and p), with
        rank-biserial correlation and probability of superiority added.

    Raises
    ------
    ValueError
        Non-numeric or infinite values, an empty sample, missing values without
        ``drop_missing``, all values tied, ``method="exact"`` with ties, or a bad option.
    """
    _check_rank_options(alternative, method, correction)
    sx = numeric_sample(x, names[0], drop_missing=drop_missing, min_n=1)
    sy = numeric_sample(y, names[1], drop_missing=drop_missing, min_n=1)
    a, b = sx.values, sy.values
    n_x, n_y = a.size, b.size
    pooled = np.concatenate([a, b])
    ties = tie_sizes(pooled)
    has_ties = ties.size > 0
    if has_ties and ties[0] == pooled.size:
        raise ValueError(
            f"{names[0]} and {names[1]} are all tied (every value is {pooled[0]!r}); "
            "the rank-sum test is undefined"
        )
    if method == "exact" and has_ties:
        raise ValueError(
            f"exact p is unavailable for {names[0]} and {names[1]}: "
            f"{int(np.sum(ties))} tied value(s); the exact null distribution assumes "
            "none. Use method='auto' or 'asymptotic'"
        )
    # scipy 1.17's "auto" takes the normal approximation as soon as both samples have more than
    # 8 values; R (and this function) use the exact distribution while both have fewer than 50
    # and there are no ties. So the method is chosen here and passed to scipy explicitly.
    exact = method == "exact" or (
        method == "auto" and n_x < EXACT_BELOW_N and n_y < EXACT_BELOW_N and not has_ties
    )

    ranks = stats.rankdata(pooled)
    w = float(ranks[:n_x].sum() - n_x * (n_x + 1) / 2.0)
    n_xy = n_x * n_y
    centred = w - n_xy / 2.0
    if exact:
        z = NAN
    else:
        n_all = n_x + n_y
        sigma = math.sqrt(
            n_xy / 12.0 * ((n_all + 1) - float(np.sum(ties**3 - ties)) / (n_all * (n_all - 1)))
        )
        z = (centred - _continuity(centred, alternative, correction)) / sigma
    # scipy's exact and asymptotic p-values equal R's (same variance and continuity correction);
    # its asymptotic z is not returned, hence our own.
    p = float(
        stats.mannwhitneyu(
            a,
            b,
            use_continuity=bool(correction),
            alternative=alternative,
            method="exact" if exact else "asymptotic",
        ).pvalue
    )
    p_method = _p_method(exact, bool(correction))
    convention = f"W = U of {names[0]}: pairs with {names[0]} > {names[1]} plus half the ties"
    dropped = ""
    if sx.n_dropped:
        dropped += dropped_note(sx.n_dropped, f"{names[0]} value")
    if sy.n_dropped:
        dropped += dropped_note(sy.n_dropped, f"{names[1]} value")
    description = (
        f"Mann-Whitney U / Wilcoxon rank-sum test ({alternative}), {convention}; "
        f"p: {p_method}"
        + ("" if exact else " (tie-corrected variance)")
        + "; rank-biserial r = 2W/(n_x n_y) − 1 (Kerby 2014); "
        f"probability of superiority = W/(n_x n_y){dropped}"
    )
    ps = w / n_xy
    return MannWhitneyResult(
        w=w,
        z=z,
        p=p,
        p_method=p_method,
        rank_biserial=2.0 * ps - 1.0,
        probability_of_superiority=ps,
        median_x=float(np.median(a)),
        median_y=float(np.median(b)),
        n_x=n_x,
        n_y=n_y,
        n_dropped_x=sx.n_dropped,
        n_dropped_y=sy.n_dropped,
        alternative=alternative,
        correction=bool(correction),
        convention=convention,
        method=description,
    )
