"""Intraclass correlation coefficients (Shrout & Fleiss 1979; McGraw & Wong 1996).

``ratings`` is an ``n x k`` table: ``n`` targets (subjects, lesions, ...) each measured by the
same ``k`` raters or methods. From the two-way ANOVA without replication, with target means
``x̄_i.``, rater means ``x̄_.j`` and grand mean ``x̄``::

    MSR = k · sum_i (x̄_i. - x̄)² / (n - 1)                          between targets
    MSC = n · sum_j (x̄_.j - x̄)² / (k - 1)                          between raters
    MSE = sum_ij (x_ij - x̄_i. - x̄_.j + x̄)² / ((n - 1)(k - 1))      residual
    MSW = sum_ij (x_ij - x̄_i.)² / (n (k - 1))                      within targets

``kind="oneway"``: Shrout & Fleiss ICC(1,1) / ICC(1,k) = McGraw & Wong ICC(1) / ICC(k)::

    single: (MSR - MSW) / (MSR + (k - 1) MSW)       average: (MSR - MSW) / MSR

``kind="agreement"``: Shrout & Fleiss ICC(2,1) / ICC(2,k) = McGraw & Wong ICC(A,1) / ICC(A,k)::

    single: (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)
    average: (MSR - MSE) / (MSR + (MSC - MSE) / n)

``kind="consistency"``: Shrout & Fleiss ICC(3,1) / ICC(3,k) = McGraw & Wong ICC(C,1) / ICC(C,k)::

    single: (MSR - MSE) / (MSR + (k - 1) MSE)       average: (MSR - MSE) / MSR

"agreement" is the two-way random-effects model for absolute agreement (rater offsets count
as disagreement: the ICC for interchangeable methods); "consistency" the two-way model in
which rater offsets are removed (Shrout & Fleiss's mixed model 3); "oneway" the one-way
random-effects model (targets rated by different raters).

Test of ICC = 0: ``F = MSR/MSW`` on ``(n - 1, n(k - 1))`` df for "oneway", ``F = MSR/MSE`` on
``(n - 1, (n - 1)(k - 1))`` df otherwise (one-sided p, as Shrout & Fleiss and pingouin; R irr
instead uses Satterthwaite df for "agreement", e.g. F(19, 39.7) rather than F(19, 38)).

Confidence intervals are the F-based intervals of McGraw & Wong (1996, Psychol Methods 1:30-46,
Table 7; Shrout & Fleiss 1979 for the single-rater cases), for ``1 - α = confidence`` and
``F_q(d1, d2)`` the ``q`` quantile:

* "oneway" and "consistency" (``F0`` the observed F, ``d1 = n - 1``, ``d2`` its denominator df)::

      F_L = F0 / F_{1-α/2}(d1, d2)         F_U = F0 · F_{1-α/2}(d2, d1)
      single: (F_L - 1)/(F_L + k - 1) to (F_U - 1)/(F_U + k - 1)
      average: 1 - 1/F_L to 1 - 1/F_U

* "agreement", with ``ρ`` the ICC(A,1) estimate, ``a = kρ / (n(1 - ρ))``,
  ``b = 1 + kρ(n - 1) / (n(1 - ρ))`` and the Satterthwaite df
  ``v = (a·MSC + b·MSE)² / ((a·MSC)²/(k - 1) + (b·MSE)²/((n - 1)(k - 1)))``::

      F* = F_{1-α/2}(n - 1, v)             F** = F_{1-α/2}(v, n - 1)
      single:  n(MSR - F*·MSE) / (F*(k·MSC + (kn - k - n)MSE) + n·MSR)  to
               n(F**·MSR - MSE) / (k·MSC + (kn - k - n)MSE + n·F**·MSR)
      average: n(MSR - F*·MSE) / (F*(MSC - MSE) + n·MSR)  to
               n(F**·MSR - MSE) / (MSC - MSE + n·F**·MSR)

  The average-measure estimate and limits are the Spearman-Brown step-up
  ``kρ / (1 + (k - 1)ρ)`` of the single-measure ones (algebraically identical to the formulas
  above), which is how they are computed. The step-up is meaningless for
  ``ρ <= -1/(k - 1)``: then ICC(A,k) raises, and a single-measure lower limit below
  ``-1/(k - 1)`` gives an ICC(A,k) lower limit of ``-inf``.

Why not :func:`pingouin.intraclass_corr` (0.7.0) directly: it computes the same estimates, F
and p (the tests check it to 1e-10), but fixes the interval at 95%, returns it rounded to 2
decimals, refuses fewer than 5 ratings with an ``AssertionError`` and triggers pandas
deprecation warnings; the interval needs the mean squares, which it does not return. So the
mean squares are computed here (vectorised) and everything follows from them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import f as f_dist

from qmrflow.stats._checks import (
    check_choice,
    check_confidence,
    check_min_n,
    check_no_missing,
    check_not_constant,
    dropped_note,
    missing_mask,
    numeric_sample,
    row,
)
from qmrflow.stats._compat import DeprecatedAlias

__all__ = ["ICC_KINDS", "IccResult", "icc"]

logger = logging.getLogger(__name__)

ICC_KINDS: tuple[str, ...] = ("agreement", "consistency", "oneway")

# kind -> (Shrout-Fleiss model number, McGraw-Wong letter, model description)
_MODELS: dict[str, tuple[str, str, str]] = {
    "oneway": ("1", "", "one-way random effects"),
    "agreement": ("2", "A", "two-way random effects, absolute agreement"),
    "consistency": ("3", "C", "two-way mixed effects, consistency"),
}


@dataclass(frozen=True)
class IccResult:
    """An intraclass correlation coefficient with its F test and confidence interval.

    Attributes
    ----------
    icc
        Point estimate (can be negative; at most 1).
    ci_low, ci_high
        McGraw & Wong (1996) F-based confidence interval.
    f, df1, df2, p
        F statistic of the test of ICC = 0, its degrees of freedom and one-sided p-value.
    n, n_raters
        Targets (rows: subjects) analysed and raters/methods (columns). ``n_targets`` is a
        deprecated alias of ``n``.
    n_dropped
        Targets dropped because one of their ratings was missing (``drop_missing=True``).
    kind
        ``"agreement"``, ``"consistency"`` or ``"oneway"``.
    single
        True for the reliability of a single rater, False for the mean of the ``k`` raters.
    label, mcgraw_wong_label
        Shrout & Fleiss name (``"ICC(2,1)"``, ``"ICC(3,k)"``, ...) and McGraw & Wong name
        (``"ICC(A,1)"``, ``"ICC(C,k)"``, ``"ICC(1)"``, ``"ICC(k)"``).
    confidence
        Confidence level of the interval.
    method
        Model, estimator, test and interval, with references.
    """

    icc: float
    ci_low: float
    ci_high: float
    f: float
    df1: int
    df2: int
    p: float
    n: int
    n_raters: int
    kind: str
    single: bool
    label: str
    mcgraw_wong_label: str
    method: str
    n_dropped: int = 0
    confidence: float = 0.95
    n_targets = DeprecatedAlias("n")

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows of measure ``icc``: ``estimate`` (CI, p), ``f`` (p), ``df1``, ``df2``."""
        n = self.n
        return [
            row(
                "icc",
                "estimate",
                self.icc,
                self.ci_low,
                self.ci_high,
                p=self.p,
                n=n,
                method=self.method,
            ),
            row("icc", "f", self.f, p=self.p, n=n, method=self.method),
            row("icc", "df1", self.df1, n=n, method=self.method),
            row("icc", "df2", self.df2, n=n, method=self.method),
        ]


def icc(
    ratings: ArrayLike | pd.DataFrame,
    *,
    kind: str = "agreement",
    single: bool = True,
    confidence: float = 0.95,
    drop_missing: bool = False,
) -> IccResult:
    """Intraclass correlation of ``k`` raters (or methods) measuring the same ``n`` targets.

    Parameters
    ----------
    ratings
        Numeric table of shape ``(n_targets, n_raters)`` (array or wide DataFrame: one row
        per target, one column per rater/method).
    kind
        ``"agreement"`` (default; ICC(2,·) = ICC(A,·), absolute agreement, two-way random),
        ``"consistency"`` (ICC(3,·) = ICC(C,·), two-way mixed) or ``"oneway"`` (ICC(1,·)).
        See the module docstring for formulas.
    single
        True: reliability of one rater's measurement (ICC(·,1)); False: of the mean of the
        ``k`` raters (ICC(·,k)).
    confidence
        Two-sided confidence level of the interval.
    drop_missing
        Drop targets with any missing rating (counted in ``n_dropped``) instead of raising.

    Returns
    -------
    IccResult

    Raises
    ------
    ValueError
        ``ratings`` not 2-D, not numeric or with infinite values, fewer than 2 raters or 2
        targets, missing values without ``drop_missing``, every rating the same, every target
        mean the same (no between-target variance, so the ICC is undefined), ICC(A,k)
        requested while ICC(A,1) <= -1/(k - 1) (see the module docstring), or bad ``kind``,
        ``single`` or ``confidence``.

    Examples
    --------
    >>> ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
    ...            [6, 2, 4, 7]]
    >>> result = icc(ratings, kind="agreement")
    >>> result.label, result.mcgraw_wong_label, round(result.icc, 2)
    ('ICC(2,1)', 'ICC(A,1)', 0.29)
    """
    confidence = check_confidence(confidence)
    check_choice(kind, "kind", ICC_KINDS)
    if not isinstance(single, bool | np.bool_):
        raise ValueError(f"single must be True or False, got {single!r}")
    values, n_dropped = _ratings_table(ratings, drop_missing)
    n, k = values.shape

    target_means = values.mean(axis=1)
    rater_means = values.mean(axis=0)
    grand = float(values.mean())
    check_not_constant(target_means, "ratings target (row) means")
    msr = k * float(np.sum((target_means - grand) ** 2)) / (n - 1)
    msc = n * float(np.sum((rater_means - grand) ** 2)) / (k - 1)
    residual = values - target_means[:, None] - rater_means[None, :] + grand
    mse = float(np.sum(residual**2)) / ((n - 1) * (k - 1))
    msw = float(np.sum((values - target_means[:, None]) ** 2)) / (n * (k - 1))

    alpha = 1.0 - confidence
    if kind == "oneway":
        denominator_ms, df2 = msw, n * (k - 1)
    else:
        denominator_ms, df2 = mse, (n - 1) * (k - 1)
    df1 = n - 1
    with np.errstate(divide="ignore"):
        f_value = float(np.float64(msr) / np.float64(denominator_ms))
    p = float(f_dist.sf(f_value, df1, df2))

    if kind == "agreement":
        estimate, ci_low, ci_high = _agreement(msr, msc, mse, n, k, alpha, single)
    else:
        ms = denominator_ms
        estimate = (msr - ms) / (msr + (k - 1) * ms) if single else (msr - ms) / msr
        ci_low, ci_high = _f_interval(f_value, df1, df2, k, alpha, single)

    number, letter, model = _MODELS[kind]
    size = "1" if single else "k"
    label = f"ICC({number},{size})"
    mcgraw_wong = f"ICC({letter},{size})" if letter else f"ICC({size})"
    unit = "single rater" if single else f"mean of k = {k} raters"
    interval = (
        "McGraw & Wong (1996) F-based with Satterthwaite df"
        if kind == "agreement"
        else "McGraw & Wong (1996) / Shrout & Fleiss (1979) F-based"
    )
    method = (
        f"{label} (Shrout & Fleiss 1979) = {mcgraw_wong} (McGraw & Wong 1996): {model}, "
        f"{unit}; CI: {interval}; F test of ICC = 0 on ({df1}, {df2}) df, one-sided"
        f"{dropped_note(n_dropped, 'target')}"
    )
    return IccResult(
        icc=float(estimate),
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        f=f_value,
        df1=df1,
        df2=df2,
        p=p,
        n=n,
        n_raters=k,
        kind=kind,
        single=bool(single),
        label=label,
        mcgraw_wong_label=mcgraw_wong,
        method=method,
        n_dropped=n_dropped,
        confidence=confidence,
    )


def _ratings_table(ratings: ArrayLike | pd.DataFrame, drop_missing: bool) -> tuple[np.ndarray, int]:
    """Float ``(n, k)`` table with complete rows, and the number of targets dropped."""
    array = ratings.to_numpy() if isinstance(ratings, pd.DataFrame) else np.asarray(ratings)
    if array.ndim != 2:
        raise ValueError(
            f"ratings must be 2-dimensional (n_targets, n_raters), got shape {array.shape}"
        )
    n_raters = array.shape[1]
    if n_raters < 2:
        raise ValueError(f"ratings needs at least 2 raters (columns), got {n_raters}")
    incomplete = missing_mask(array).any(axis=1)
    if incomplete.any():
        if not drop_missing:
            check_no_missing(array, "ratings")
        logger.info("icc: dropped %d target(s) with a missing rating", int(incomplete.sum()))
        array = array[~incomplete]
    check_min_n(array.shape[0], 2, "ratings targets (rows)")
    flat = numeric_sample(array.ravel(), "ratings").values
    values = flat.reshape(array.shape)
    check_not_constant(flat, "ratings")
    return values, int(incomplete.sum())


def _f_interval(
    f_value: float, df1: int, df2: int, k: int, alpha: float, single: bool
) -> tuple[float, float]:
    """McGraw & Wong (1996) interval for the one-way and consistency ICCs."""
    with np.errstate(divide="ignore"):
        f_low = np.float64(f_value) / f_dist.ppf(1.0 - alpha / 2.0, df1, df2)
        f_high = np.float64(f_value) * f_dist.ppf(1.0 - alpha / 2.0, df2, df1)
        # (F - 1)/(F + k - 1) written as 1 - k/(F + k - 1) so that F = inf (no error variance)
        # gives the limit 1 rather than inf/inf.
        if single:
            bounds = (1.0 - k / (f_low + k - 1.0), 1.0 - k / (f_high + k - 1.0))
        else:
            bounds = (1.0 - 1.0 / f_low, 1.0 - 1.0 / f_high)
    return float(bounds[0]), float(bounds[1])


def _agreement(
    msr: float, msc: float, mse: float, n: int, k: int, alpha: float, single: bool
) -> tuple[float, float, float]:
    """ICC(A,1) or ICC(A,k) with the McGraw & Wong (1996) Satterthwaite interval."""
    rho = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    if rho >= 1.0:
        # No rater or residual variance (identical raters): the ICC is 1 and the interval
        # degenerates to it (the Satterthwaite df would be 0/0).
        return 1.0, 1.0, 1.0
    a = k * rho / (n * (1.0 - rho))
    b = 1.0 + k * rho * (n - 1) / (n * (1.0 - rho))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    f_star = float(f_dist.ppf(1.0 - alpha / 2.0, n - 1, v))
    f_2star = float(f_dist.ppf(1.0 - alpha / 2.0, v, n - 1))
    # McGraw & Wong's lower limit n(MSR - F*·MSE) / (F*·D + n·MSR) is evaluated divided
    # through by F*, so that a tiny Satterthwaite v (F* = inf in floating point, e.g. a strongly
    # negative ICC with large rater variance) gives its limit -n·MSE/D instead of inf/inf.
    # D = k·MSC + (kn - k - n)·MSE > 0 because (k - 1)(n - 1) >= 1.
    spread = k * msc + (k * n - k - n) * mse
    low = n * (msr / f_star - mse) / (spread + n * msr / f_star)
    high = n * (f_2star * msr - mse) / (spread + n * f_2star * msr)
    if math.isnan(low) or math.isnan(high):
        raise ValueError("ratings give an undefined ICC interval (degenerate mean squares)")
    if single:
        return rho, low, high
    # ICC(A,k) = (MSR - MSE) / (MSR + (MSC - MSE)/n) is the Spearman-Brown step-up
    # k·rho / (1 + (k - 1)·rho) of ICC(A,1), and McGraw & Wong's ICC(A,k) limits are the
    # step-up of the ICC(A,1) limits. The step-up increases from -inf to 1 on
    # (-1/(k - 1), 1]: below -1/(k - 1) (a strongly negative variance estimate for the
    # targets, possible with few targets) the formula changes sign and means nothing.
    floor = -1.0 / (k - 1)
    if rho <= floor:
        raise ValueError(
            f"ratings give ICC(A,1) = {rho:.3g} <= -1/(k - 1) = {floor:.3g}: the average-measure "
            "ICC(A,k) is undefined (between-target variance estimated far below zero); report "
            "the single-measure ICC"
        )
    return _step_up(rho, k), (_step_up(low, k) if low > floor else -math.inf), _step_up(high, k)


def _step_up(value: float, k: int) -> float:
    """Spearman-Brown reliability of the mean of ``k`` raters from the single-rater value."""
    return k * value / (1.0 + (k - 1) * value)
