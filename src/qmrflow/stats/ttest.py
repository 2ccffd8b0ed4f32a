"""Paired and two-sample t-tests with standardized effect sizes and noncentral-t intervals.

:func:`paired_ttest` reports Cohen's d_z, :func:`two_sample_ttest` (Welch or Student) Hedges'
g. Each result is frozen, carries its effect size and has a ``to_rows()`` method for
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

Two-sample t-test
-----------------
Independent samples ``x`` (``n_x`` values) and ``y`` (``n_y``), means ``x̄``, ``ȳ``, variances
``s_x²``, ``s_y²`` (ddof 1); the estimate is ``x̄ - ȳ``. Computed by
:func:`scipy.stats.ttest_ind` (t, df, p and the interval ``(x̄ - ȳ) ± t_{1-α/2, df}·se``,
one-sided for a one-sided alternative, as in R's ``t.test``):

* Welch (``equal_var=False``, R's default): ``se = sqrt(s_x²/n_x + s_y²/n_y)`` and the
  Welch-Satterthwaite ``df = se⁴ / ((s_x²/n_x)²/(n_x - 1) + (s_y²/n_y)²/(n_y - 1))``
  (Welch 1947; Satterthwaite 1946).
* Student (``equal_var=True``): pooled SD
  ``s_p = sqrt(((n_x - 1)·s_x² + (n_y - 1)·s_y²) / (n_x + n_y - 2))``,
  ``se = s_p·sqrt(1/n_x + 1/n_y)``, ``df = n_x + n_y - 2``.

``t = (x̄ - ȳ) / se``.

Hedges' g (written here, scipy has no standardized effect size): Cohen's
``d = (x̄ - ȳ) / s_p`` always uses the pooled SD ``s_p`` (also after a Welch test, as
pingouin and R's ``effectsize::hedges_g`` do by default), and ``g = J·d`` with Hedges'
(1981) approximate small-sample correction ``J = 1 - 3/(4(n_x + n_y) - 9)``
(``= 1 - 3/(4·df_p - 1)`` with ``df_p = n_x + n_y - 2``), not
the exact gamma-function form ``Γ(df_p/2) / (sqrt(df_p/2)·Γ((df_p - 1)/2))``; the two differ by
less than 1e-3 for ``n_x + n_y >= 10``. Its interval inverts the noncentral t distribution of
the pooled statistic ``t_p = d / sqrt(1/n_x + 1/n_y)`` on ``df_p`` (Steiger & Fouladi 1997;
Goulet-Pelletier & Cousineau 2018): the noncentrality bounds are multiplied by
``sqrt(1/n_x + 1/n_y)`` (giving bounds for δ) and then by ``J``. Where the root cannot be found,
the Hedges & Olkin (1985, p. 86) normal approximation
``d ± z_{1-α/2}·sqrt((n_x + n_y)/(n_x·n_y) + d²/(2(n_x + n_y)))``, times ``J``, is used and
``hedges_g_ci_method`` says so. (pingouin's ``compute_esci`` uses that Hedges & Olkin standard
error with a t critical value on ``df_p`` instead of the noncentral t.)

References
----------
Cohen J (1988) Statistical Power Analysis for the Behavioral Sciences, 2nd ed.
Cumming G, Finch S (2001) Educ Psychol Meas 61:532-574.
Goulet-Pelletier J-C, Cousineau D (2018) Quant Methods Psychol 14:242-265.
Hedges LV (1981) J Educ Stat 6:107-128.
Hedges LV, Olkin I (1985) Statistical Methods for Meta-Analysis. Academic Press.
Satterthwaite FE (1946) Biometrics Bull 2:110-114.
Steiger JH, Fouladi RT (1997) Noncentrality interval estimation and the evaluation of
statistical models. In: What If There Were No Significance Tests? Erlbaum.
Student (1908) Biometrika 6:1-25.
Welch BL (1947) Biometrika 34:28-35.
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
    numeric_sample,
    row,
)

__all__ = [
    "ALTERNATIVES",
    "DZ_CI_NCT",
    "DZ_CI_NORMAL",
    "G_CI_NCT",
    "G_CI_NORMAL",
    "PairedTTestResult",
    "TwoSampleTTestResult",
    "paired_ttest",
    "two_sample_ttest",
]

logger = logging.getLogger(__name__)

ALTERNATIVES: tuple[str, ...] = ("two-sided", "less", "greater")

DZ_CI_NCT = "noncentral-t inversion (Steiger & Fouladi 1997), exact under normality"
DZ_CI_NORMAL = "large-sample normal approximation, SE = sqrt(1/n + dz²/(2n))"
G_CI_NCT = (
    "noncentral-t inversion of the pooled t (Steiger & Fouladi 1997), bounds times J; "
    "exact for d under normality and equal variances"
)
G_CI_NORMAL = (
    "Hedges & Olkin (1985) normal approximation, "
    "SE = sqrt((n_x + n_y)/(n_x·n_y) + d²/(2(n_x + n_y))), bounds times J"
)


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


@dataclass(frozen=True)
class TwoSampleTTestResult:
    """Two-sample (independent) t-test, Welch or Student, with Hedges' g.

    Attributes
    ----------
    mean_difference
        ``mean_x - mean_y`` (sign given by ``convention``).
    ci_low, ci_high
        Confidence interval of ``mean_difference`` (one-sided, with an infinite end, for a
        one-sided ``alternative``).
    se
        Standard error of ``mean_difference`` (Welch's unpooled or Student's pooled).
    t, df, p
        t statistic, degrees of freedom (Welch-Satterthwaite, or ``n_x + n_y - 2`` when
        ``equal_var``) and p-value for ``alternative``.
    hedges_g
        ``J·d`` with Cohen's ``d = mean_difference / sd_pooled`` and
        ``J = 1 - 3/(4(n_x + n_y) - 9)``.
    hedges_g_ci_low, hedges_g_ci_high
        Interval for ``hedges_g`` with the same level and sidedness as the mean-difference
        interval; method in ``hedges_g_ci_method``.
    cohen_d
        Uncorrected ``mean_difference / sd_pooled``.
    sd_pooled
        Pooled standard deviation (ddof 1 within groups, ``n_x + n_y - 2`` df).
    n_x, n_y
        Numbers of values used from ``x`` and ``y``.
    n_dropped_x, n_dropped_y
        Missing values dropped from ``x`` and ``y`` (``drop_missing=True``).
    mean_x, mean_y, sd_x, sd_y
        Group means and standard deviations (ddof 1).
    equal_var
        True for Student's pooled-variance test, False for Welch's test.
    alternative, confidence
        Alternative hypothesis and confidence level.
    convention
        Sign convention, e.g. ``"difference = x − y"``.
    method
        Human-readable description (test, interval, convention, dropped values).
    hedges_g_ci_method
        How the ``hedges_g`` interval was computed (:data:`G_CI_NCT` or :data:`G_CI_NORMAL`).
    """

    mean_difference: float
    ci_low: float
    ci_high: float
    se: float
    t: float
    df: float
    p: float
    hedges_g: float
    hedges_g_ci_low: float
    hedges_g_ci_high: float
    cohen_d: float
    sd_pooled: float
    n_x: int
    n_y: int
    n_dropped_x: int
    n_dropped_y: int
    mean_x: float
    mean_y: float
    sd_x: float
    sd_y: float
    equal_var: bool
    alternative: str
    confidence: float
    convention: str
    method: str
    hedges_g_ci_method: str

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows (``n = n_x + n_y``).

        ``mean_difference``: ``estimate`` (CI, p), ``se``, ``t`` (p), ``df``; ``hedges_g``:
        ``estimate`` (CI); ``cohen_d``, ``sd_pooled``, ``mean_x``, ``mean_y``, ``sd_x``,
        ``sd_y``: ``estimate``.
        """
        n, method = self.n_x + self.n_y, self.method
        g_method = f"{method}; Hedges' g CI: {self.hedges_g_ci_method}"
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
            row("mean_difference", "se", self.se, n=n, method=method),
            row("mean_difference", "t", self.t, p=self.p, n=n, method=method),
            row("mean_difference", "df", self.df, n=n, method=method),
            row(
                "hedges_g",
                "estimate",
                self.hedges_g,
                self.hedges_g_ci_low,
                self.hedges_g_ci_high,
                n=n,
                method=g_method,
            ),
            row("cohen_d", "estimate", self.cohen_d, n=n, method=method),
            row("sd_pooled", "estimate", self.sd_pooled, n=n, method=method),
            row("mean_x", "estimate", self.mean_x, n=self.n_x, method=method),
            row("mean_y", "estimate", self.mean_y, n=self.n_y, method=method),
            row("sd_x", "estimate", self.sd_x, n=self.n_x, method=method),
            row("sd_y", "estimate", self.sd_y, n=self.n_y, method=method),
        ]


def two_sample_ttest(
    x: ArrayLike,
    y: ArrayLike,
    *,
    equal_var: bool = False,
    confidence: float = 0.95,
    alternative: str = "two-sided",
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
) -> TwoSampleTTestResult:
    """Two-sample t-test of ``mean(x) - mean(y)`` (Welch or Student) with Hedges' g.

    Parameters
    ----------
    x, y
        Independent samples (1-D, numeric; lengths may differ).
    equal_var
        Student's pooled-variance test if True, Welch's test (R's default) if False.
    confidence
        Confidence level in (0, 1) of the intervals.
    alternative
        ``"two-sided"``, ``"less"`` (mean of ``x`` < mean of ``y``) or ``"greater"``.
    drop_missing
        Drop missing values of each sample (counted in ``n_dropped_x``/``n_dropped_y``)
        instead of raising.
    names
        Names of ``x`` and ``y`` used in messages and in the sign convention.

    Returns
    -------
    TwoSampleTTestResult
        See the module docstring for formulas; t, df, p and the interval equal R's
        ``t.test(x, y, var.equal = equal_var, alternative = ..., conf.level = ...)``.

    Raises
    ------
    ValueError
        Non-numeric or infinite values, missing values without ``drop_missing``, fewer than 2
        values in a sample, both samples constant (or essentially constant), or a bad option.
    """
    confidence = check_confidence(confidence)
    check_choice(alternative, "alternative", ALTERNATIVES)
    equal_var = bool(check_choice(equal_var, "equal_var", (True, False)))
    sample_x = numeric_sample(x, names[0], drop_missing=drop_missing, min_n=2)
    sample_y = numeric_sample(y, names[1], drop_missing=drop_missing, min_n=2)
    a, b = sample_x.values, sample_y.values
    n_x, n_y = a.size, b.size
    if np.all(a == a[0]) and np.all(b == b[0]):
        raise ValueError(
            f"{names[0]} and {names[1]} are both constant (every value is {a[0]!r} and "
            f"{b[0]!r}); t is undefined"
        )
    mean_x, mean_y = float(a.mean()), float(b.mean())
    var_x, var_y = float(a.var(ddof=1)), float(b.var(ddof=1))
    df_pooled = n_x + n_y - 2
    sd_pooled = math.sqrt(((n_x - 1) * var_x + (n_y - 1) * var_y) / df_pooled)
    # scipy's result has no standard error: it is the denominator of t, written out here.
    if equal_var:
        se = sd_pooled * math.sqrt(1.0 / n_x + 1.0 / n_y)
    else:
        se = math.sqrt(var_x / n_x + var_y / n_y)
    # R's t.test rule: a standard error below 10 ulp of the means is round-off, not data.
    if se < 10 * np.finfo(float).eps * max(abs(mean_x), abs(mean_y)):
        raise ValueError(
            f"{names[0]} and {names[1]} are essentially constant (SE {se:.3g}); t is undefined"
        )

    with warnings.catch_warnings():
        if np.all(a == a[0]) or np.all(b == b[0]):
            # One sample is exactly constant (variance exactly 0, checked above): scipy's
            # catastrophic-cancellation warning is a false alarm then.
            warnings.filterwarnings(
                "ignore", "Precision loss occurred in moment calculation", RuntimeWarning
            )
        res = stats.ttest_ind(a, b, equal_var=equal_var, alternative=alternative)
    ci = res.confidence_interval(confidence_level=confidence)
    mean_difference = mean_x - mean_y
    # Hedges' g and its interval are not in scipy: written out (module docstring).
    cohen_d = mean_difference / sd_pooled
    j = 1.0 - 3.0 / (4.0 * (n_x + n_y) - 9.0)
    g_low, g_high, g_method = _hedges_g_ci(cohen_d, n_x, n_y, j, confidence, alternative)

    convention = f"difference = {names[0]} − {names[1]}"
    test = "Student t-test with pooled variance" if equal_var else "Welch t-test"
    dropped = "".join(
        dropped_note(sample.n_dropped, f"{name} value")
        for sample, name in ((sample_x, names[0]), (sample_y, names[1]))
    )
    method = (
        f"{test} ({alternative}), {convention}; "
        f"{confidence:.0%} t interval{' (one-sided)' if alternative != 'two-sided' else ''}; "
        f"Hedges' g = J·d, pooled SD, J = 1 − 3/(4(n_x + n_y) − 9){dropped}"
    )
    return TwoSampleTTestResult(
        mean_difference=mean_difference,
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        se=se,
        t=float(res.statistic),
        df=float(res.df),
        p=float(res.pvalue),
        hedges_g=j * cohen_d,
        hedges_g_ci_low=g_low,
        hedges_g_ci_high=g_high,
        cohen_d=cohen_d,
        sd_pooled=sd_pooled,
        n_x=n_x,
        n_y=n_y,
        n_dropped_x=sample_x.n_dropped,
        n_dropped_y=sample_y.n_dropped,
        mean_x=mean_x,
        mean_y=mean_y,
        sd_x=math.sqrt(var_x),
        sd_y=math.sqrt(var_y),
        equal_var=equal_var,
        alternative=alternative,
        confidence=confidence,
        convention=convention,
        method=method,
        hedges_g_ci_method=g_method,
    )


def _hedges_g_ci(
    d: float, n_x: int, n_y: int, j: float, confidence: float, alternative: str
) -> tuple[float, float, str]:
    """Interval for g = J·d: noncentral-t inversion of the pooled t, normal approx. fallback."""
    scale = math.sqrt(1.0 / n_x + 1.0 / n_y)
    t_pooled, df_pooled = d / scale, float(n_x + n_y - 2)
    bounds = _nct_interval(t_pooled, df_pooled, confidence, alternative)
    if bounds is None:
        logger.warning(
            "noncentral-t inversion failed for t = %.6g, df = %g; "
            "Hedges' g interval uses the normal approximation",
            t_pooled,
            df_pooled,
        )
        n = n_x + n_y
        se_d = math.sqrt(n / (n_x * n_y) + d**2 / (2.0 * n))
        low, high = _normal_interval(d, se_d, confidence, alternative)
        return j * low, j * high, G_CI_NORMAL
    return j * bounds[0] * scale, j * bounds[1] * scale, G_CI_NCT


def _cohen_dz_ci(
    t_value: float, df: float, n: int, dz: float, confidence: float, alternative: str
) -> tuple[float, float, str]:
    """Interval for d_z by noncentral-t inversion, normal approximation as fallback."""
    root_n = math.sqrt(n)
    bounds = _nct_interval(t_value, df, confidence, alternative)
    if bounds is None:
        logger.warning(
            "noncentral-t inversion failed for t = %.6g, df = %g; "
            "Cohen's dz interval uses the normal approximation",
            t_value,
            df,
        )
        se_dz = math.sqrt(1.0 / n + dz**2 / (2.0 * n))
        low, high = _normal_interval(dz, se_dz, confidence, alternative)
        return low, high, DZ_CI_NORMAL
    return bounds[0] / root_n, bounds[1] / root_n, DZ_CI_NCT


def _nct_interval(
    t_value: float, df: float, confidence: float, alternative: str
) -> tuple[float, float] | None:
    """Noncentrality interval for an observed ``t`` (infinite end if one-sided); None if failed.

    Lower bound: ``P(T >= t | delta) = tail``; upper bound: ``P(T >= t | delta) = 1 - tail``,
    with ``tail = α/2`` (two-sided) or ``α`` (one-sided).
    """
    alpha = 1.0 - confidence
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    low = _nct_root(t_value, df, tail) if alternative != "less" else -math.inf
    high = _nct_root(t_value, df, 1.0 - tail) if alternative != "greater" else math.inf
    if math.isnan(low) or math.isnan(high):
        return None
    return low, high


def _normal_interval(
    estimate: float, se: float, confidence: float, alternative: str
) -> tuple[float, float]:
    """``estimate ± z·se`` (two-sided) or the matching one-sided interval."""
    z = critical_z(confidence) if alternative == "two-sided" else float(stats.norm.ppf(confidence))
    low = estimate - z * se if alternative != "less" else -math.inf
    high = estimate + z * se if alternative != "greater" else math.inf
    return low, high


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
