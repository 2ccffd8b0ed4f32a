"""Paired t-test with Cohen's d_z and its noncentral-t interval.

The result is frozen, carries its effect size and has a ``to_rows()`` method for
:func:`qmrflow.stats.tidy.tidy`. Numbers follow R's ``t.test`` (stats package), so that
results can be checked against published R output.

Paired t-test
-------------
With differences ``d_i = x_i - y_i`` (``n`` complete pairs), ``mean = d̄``, ``sd = s_d``
(ddof 1), ``se = s_d / sqrt(n)``, ``t = d̄ / se`` on ``n - 1`` df (Student 1908). The interval
for the mean difference is ``d̄ ± t_{1-α/2, n-1}·se``; for a one-sided alternative it is
one-sided, as in R (``(lower, inf)`` for ``"greater"``). Computed by
:func:`scipy.stats.ttest_rel`.

Cohen's ``d_z = d̄ / s_d = t / sqrt(n)`` (Cohen 1988, §2.3.5). Its interval inverts the
noncentral t distribution of ``t = sqrt(n)·d_z`` (Steiger & Fouladi 1997; Cumming & Finch
2001): the bounds are the noncentrality parameters ``δ`` with ``P(T ≥ t | δ) = α/2`` and
``P(T ≤ t | δ) = α/2``, divided by ``sqrt(n)``. It is exact when the differences are normal;
where the noncentral-t root cannot be found (extreme ``t``), the large-sample interval
``d_z ± z_{1-α/2}·sqrt(1/n + d_z²/(2n))`` is used instead and ``cohen_dz_ci_method`` says so.

References
----------
Cohen J (1988) Statistical Power Analysis for the Behavioral Sciences, 2nd ed.
Cumming G, Finch S (2001) Educ Psychol Meas 61:532-574.
Steiger JH, Fouladi RT (1997) Noncentrality interval estimation and the evaluation of
statistical models. In: What If There Were No Significance Tests? Erlbaum.
Student (1908) Biometrika 6:1-25.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from scipy.optimize import brentq

from qmrflow.stats._checks import (
    NAN,
    check_choice,
    check_confidence,
    check_not_constant,
    critical_z,
    dropped_note,
    numeric_pairs,
    row,
)

__all__ = ["ALTERNATIVES", "PairedTTestResult", "paired_ttest"]

logger = logging.getLogger(__name__)

ALTERNATIVES: tuple[str, ...] = ("two-sided", "less", "greater")

DZ_CI_NCT = "noncentral-t inversion (Steiger & Fouladi 1997), exact under normality"
DZ_CI_NORMAL = "large-sample normal approximation, SE = sqrt(1/n + dz²/(2n))"


@dataclass(frozen=True)
class PairedTTestResult:
    """Paired (dependent-samples) t-test with mean difference, its interval and Cohen's d_z.

    Attributes
    ----------
    mean_difference
        Mean of the differences (sign given by ``convention``).
    ci_low, ci_high
        Confidence interval of ``mean_difference`` (one-sided, with an infinite end, for a
        one-sided ``alternative``).
    sd_difference
        Standard deviation of the differences (ddof 1).
    se
        Standard error of the mean difference, ``sd_difference / sqrt(n)``.
    t, df, p
        t statistic, degrees of freedom ``n - 1`` and p-value for ``alternative``.
    cohen_dz
        ``mean_difference / sd_difference``.
    cohen_dz_ci_low, cohen_dz_ci_high
        Interval for ``cohen_dz`` with the same level and sidedness as the mean-difference
        interval; method in ``cohen_dz_ci_method``.
    n
        Number of complete pairs used.
    n_dropped
        Pairs dropped because a value was missing (``drop_missing=True``).
    mean_x, mean_y, sd_x, sd_y
        Descriptive means and standard deviations (ddof 1) of the two samples over the pairs
        used.
    alternative, confidence
        Alternative hypothesis and confidence level.
    convention
        Sign convention, e.g. ``"difference = x − y"``.
    method
        Human-readable description (test, interval, convention, dropped pairs).
    cohen_dz_ci_method
        How the ``cohen_dz`` interval was computed.
    """

    mean_difference: float
    ci_low: float
    ci_high: float
    sd_difference: float
    se: float
    t: float
    df: float
    p: float
    cohen_dz: float
    cohen_dz_ci_low: float
    cohen_dz_ci_high: float
    n: int
    n_dropped: int
    mean_x: float
    mean_y: float
    sd_x: float
    sd_y: float
    alternative: str
    confidence: float
    convention: str
    method: str
    cohen_dz_ci_method: str

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows.

        ``mean_difference``: ``estimate`` (CI, p), ``sd``, ``se``, ``t`` (p), ``df``;
        ``cohen_dz``: ``estimate`` (CI); ``mean_x``, ``mean_y``, ``sd_x``, ``sd_y``:
        ``estimate``.
        """
        n, method = self.n, self.method
        dz_method = f"{method}; Cohen's dz CI: {self.cohen_dz_ci_method}"
        return [
            row(
                "mean_difference",
                "estimate",
                self.mean_difference,
                self.ci_low,
                self.ci_high,
                p=self.p,
                n=n,
                method=method,
            ),
            row("mean_difference", "sd", self.sd_difference, n=n, method=method),
            row("mean_difference", "se", self.se, n=n, method=method),
            row("mean_difference", "t", self.t, p=self.p, n=n, method=method),
            row("mean_difference", "df", self.df, n=n, method=method),
            row(
                "cohen_dz",
                "estimate",
                self.cohen_dz,
                self.cohen_dz_ci_low,
                self.cohen_dz_ci_high,
                n=n,
                method=dz_method,
            ),
            row("mean_x", "estimate", self.mean_x, n=n, method=method),
            row("mean_y", "estimate", self.mean_y, n=n, method=method),
            row("sd_x", "estimate", self.sd_x, n=n, method=method),
            row("sd_y", "estimate", self.sd_y, n=n, method=method),
        ]


def paired_ttest(
    x: ArrayLike,
    y: ArrayLike,
    *,
    confidence: float = 0.95,
    alternative: str = "two-sided",
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
) -> PairedTTestResult:
    """Paired t-test of ``x - y`` with mean difference, interval and Cohen's d_z.

    Parameters
    ----------
    x, y
        Paired measurements (1-D, numeric, same length; pair ``i`` is ``(x[i], y[i])``).
    confidence
        Confidence level in (0, 1) of the intervals.
    alternative
        ``"two-sided"``, ``"less"`` (mean of ``x - y`` < 0) or ``"greater"``.
    drop_missing
        Drop pairs with a missing value (counted in ``n_dropped``) instead of raising.
    names
        Names of ``x`` and ``y`` used in messages and in the sign convention.

    Returns
    -------
    PairedTTestResult
        See the module docstring for formulas; equals R's
        ``t.test(x, y, paired = TRUE, alternative = ..., conf.level = ...)``.

    Raises
    ------
    ValueError
        Non-numeric or infinite values, unequal lengths, missing values without
        ``drop_missing``, fewer than 2 pairs, constant differences, or a bad option.
    """
    confidence = check_confidence(confidence)
    check_choice(alternative, "alternative", ALTERNATIVES)
    pairs = numeric_pairs(x, y, names, drop_missing=drop_missing, min_n=2)
    a, b = pairs.x, pairs.y
    d = a - b
    what = f"differences {names[0]} − {names[1]}"
    check_not_constant(d, what)
    n = d.size
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    # R's t.test rule: a standard error below 10 ulp of the mean is round-off, not data.
    if se < 10 * np.finfo(float).eps * abs(mean):
        raise ValueError(f"{what} are essentially constant (SD {sd:.3g}); t is undefined")

    res = stats.ttest_rel(a, b, alternative=alternative)
    ci = res.confidence_interval(confidence_level=confidence)
    t_value, df = float(res.statistic), float(res.df)
    dz = mean / sd
    dz_low, dz_high, dz_method = _cohen_dz_ci(t_value, df, n, dz, confidence, alternative)

    convention = f"difference = {names[0]} − {names[1]}"
    method = (
        f"paired t-test ({alternative}), {convention}; "
        f"{confidence:.0%} t interval{' (one-sided)' if alternative != 'two-sided' else ''}; "
        f"Cohen's dz = mean/SD of differences{dropped_note(pairs.n_dropped)}"
    )
    return PairedTTestResult(
        mean_difference=mean,
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        sd_difference=sd,
        se=se,
        t=t_value,
        df=df,
        p=float(res.pvalue),
        cohen_dz=dz,
        cohen_dz_ci_low=dz_low,
        cohen_dz_ci_high=dz_high,
        n=n,
        n_dropped=pairs.n_dropped,
        mean_x=float(a.mean()),
        mean_y=float(b.mean()),
        sd_x=float(a.std(ddof=1)),
        sd_y=float(b.std(ddof=1)),
        alternative=alternative,
        confidence=confidence,
        convention=convention,
        method=method,
        cohen_dz_ci_method=dz_method,
    )


def _cohen_dz_ci(
    t_value: float, df: float, n: int, dz: float, confidence: float, alternative: str
) -> tuple[float, float, str]:
    """Interval for d_z by noncentral-t inversion, normal approximation as fallback."""
    alpha = 1.0 - confidence
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    root_n = math.sqrt(n)
    # Lower bound: P(T >= t | delta) = tail; upper bound: P(T >= t | delta) = 1 - tail.
    low = _nct_root(t_value, df, tail) if alternative != "less" else -math.inf
    high = _nct_root(t_value, df, 1.0 - tail) if alternative != "greater" else math.inf
    if math.isnan(low) or math.isnan(high):
        logger.warning(
            "noncentral-t inversion failed for t = %.6g, df = %g; "
            "Cohen's dz interval uses the normal approximation",
            t_value,
            df,
        )
        se_dz = math.sqrt(1.0 / n + dz**2 / (2.0 * n))
        z = (
            critical_z(confidence)
            if alternative == "two-sided"
            else float(stats.norm.ppf(confidence))
        )
        low = dz - z * se_dz if alternative != "less" else -math.inf
        high = dz + z * se_dz if alternative != "greater" else math.inf
        return low, high, DZ_CI_NORMAL
    return low / root_n, high / root_n, DZ_CI_NCT


def _nct_root(t_value: float, df: float, target: float) -> float:
    """Noncentrality ``delta`` with ``P(T >= t_value | df, delta) = target``; NaN if not found.

    ``P(T >= t | delta)`` increases with ``delta``, so the root is bracketed by widening an
    interval around ``t_value`` until the function changes sign.
    """

    def excess(delta: float) -> float:
        return float(stats.nct.sf(t_value, df, delta)) - target

    width = 2.0 + 0.1 * abs(t_value)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            for _ in range(60):
                lo, hi = t_value - width, t_value + width
                f_lo, f_hi = excess(lo), excess(hi)
                if not (math.isfinite(f_lo) and math.isfinite(f_hi)):
                    return NAN
                if f_lo < 0.0 < f_hi:
                    root = brentq(excess, lo, hi, xtol=1e-12, rtol=1e-12)
                    return float(root) if abs(excess(root)) < 1e-6 else NAN
                width *= 2.0
        except (ValueError, RuntimeError, ArithmeticError):
            return NAN
    return NAN
