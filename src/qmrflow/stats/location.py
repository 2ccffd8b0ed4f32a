"""Location tests: paired t-test, Wilcoxon signed-rank test and Mann-Whitney U test.

Each test returns a frozen result with its effect size and a ``to_rows()`` method for
:func:`qmrflow.stats.tidy.tidy`. Numbers follow R's ``t.test`` and ``wilcox.test`` (stats
package), so that results can be checked against published R output.

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
Cohen J (1988) Statistical Power Analysis for the Behavioral Sciences, 2nd ed.
Cumming G, Finch S (2001) Educ Psychol Meas 61:532-574.
Hollander M, Wolfe DA (1973) Nonparametric Statistical Methods. Wiley.
Kerby DS (2014) The simple difference formula. Compr Psychol 3:11.IT.3.1.
Mann HB, Whitney DR (1947) Ann Math Stat 18:50-60.
McGraw KO, Wong SP (1992) Psychol Bull 111:361-365.
Steiger JH, Fouladi RT (1997) Noncentrality interval estimation and the evaluation of
statistical models. In: What If There Were No Significance Tests? Erlbaum.
Student (1908) Biometrika 6:1-25.
Wilcoxon F (1945) Biometrics Bull 1:80-83.
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
    tie_sizes,
)

__all__ = [
    "MannWhitneyResult",
    "PairedTTestResult",
    "WilcoxonResult",
    "mann_whitney_u",
    "paired_ttest",
    "wilcoxon_signed_rank",
]

logger = logging.getLogger(__name__)

ALTERNATIVES: tuple[str, ...] = ("two-sided", "less", "greater")
RANK_METHODS: tuple[str, ...] = ("auto", "exact", "asymptotic")
#: R uses the exact null distribution by default when the sample size is below this.
EXACT_BELOW_N = 50

P_EXACT = "exact"
P_NORMAL_CC = "normal approximation with continuity correction"
P_NORMAL = "normal approximation"

DZ_CI_NCT = "noncentral-t inversion (Steiger & Fouladi 1997), exact under normality"
DZ_CI_NORMAL = "large-sample normal approximation, SE = sqrt(1/n + dz²/(2n))"


# ------------------------------------------------------------------------------------------
# Paired t-test
# ------------------------------------------------------------------------------------------


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
