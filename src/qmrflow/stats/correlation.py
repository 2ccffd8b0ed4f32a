"""Pearson, Spearman and Kendall correlation with confidence interval and test of no association.

All three coefficients follow the conventions of R's ``cor.test`` (R Core Team, *stats*
package), and the test suite reproduces the worked example in its documentation (Hollander &
Wolfe 1973, p. 187: tuna quality, n = 9).

Pearson's r
-----------
``r = s_xy / (s_x s_y)``. Test of rho = 0: ``t = r sqrt((n - 2) / (1 - r²))`` on ``n - 2``
degrees of freedom (:func:`scipy.stats.pearsonr`). Interval: Fisher's z transformation,
``tanh(atanh(r) ± z_c / sqrt(n - 3))`` (scipy's default, identical to ``cor.test``); it
needs ``n >= 4``, so for ``n = 3`` the interval is NaN and the method string says so.

Spearman's rho
--------------
Pearson's r of the (mid)ranks. R's statistic ``S = (n³ - n)(1 - rho) / 6``, which equals
``sum d²`` of the rank differences ``d`` when there are no ties. p-value:

* ``n <= 9`` without ties: exact, from the permutation distribution of ``S`` over all ``n!``
  rankings (full enumeration). ``cor.test`` is exact in the same range (AS 89, Best & Roberts
  1975, Appl Stat 24:377-379), so the p-values agree exactly. scipy offers only the t
  approximation, hence the enumeration here.
* otherwise: ``t = rho sqrt((n - 2) / (1 - rho²))`` on ``n - 2`` df
  (:func:`scipy.stats.spearmanr`). For ``10 <= n < 1290`` without ties ``cor.test`` uses the
  Edgeworth series of AS 89 instead, so its p-values can differ from these in the third
  significant digit.

Interval: Fisher z with the standard error of Bonett & Wright (2000, Psychometrika 65:23-28),
``tanh(atanh(rho) ± z_c sqrt((1 + rho²/2) / (n - 3)))``; ``n >= 4``. (``cor.test`` gives no
interval for rho.)

Kendall's tau-b
---------------
``tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))`` with ``C``/``D`` concordant/discordant pairs,
``n0 = n(n - 1)/2`` and ``n1``/``n2`` the pairs tied in x/y (:func:`scipy.stats.kendalltau`).
p-value:

* ``n < 50`` without ties: exact null distribution of ``T = C`` (scipy ``method="exact"``,
  identical to ``cor.test``, which also reports ``T``).
* otherwise: ``z = (C - D) / sqrt(var)`` with the tie-corrected variance of Kendall (1970,
  *Rank Correlation Methods*, 4th ed., ch. 4), as in ``cor.test(exact = FALSE)``::

      var = [n(n-1)(2n+5) - sum t(t-1)(2t+5) - sum u(u-1)(2u+5)] / 18
            + [sum t(t-1)][sum u(u-1)] / (2 n (n-1))
            + [sum t(t-1)(t-2)][sum u(u-1)(u-2)] / (9 n (n-1)(n-2))

  over tie groups of size ``t`` in x and ``u`` in y; no continuity correction.

Interval: Fisher z with the standard error ``sqrt(0.437 / (n - 4))`` of Fieller, Hartley &
Pearson (1957, Biometrika 44:470-481) recommended by Bonett & Wright (2000); ``n >= 5``.

One-sided alternatives give one-sided intervals (``[low, 1]`` for ``"greater"``,
``[-1, high]`` for ``"less"``), as ``cor.test`` and scipy do. ``exact=False`` forces the
approximations and ``exact=True`` insists on the exact p-value, as ``cor.test(exact = ...)``
(but an exact p-value that cannot be computed raises instead of being replaced silently).

References
----------
Best DJ, Roberts DE (1975) Algorithm AS 89: the upper tail probabilities of Spearman's rho.
Appl Stat 24:377-379.
Bonett DG, Wright TA (2000) Sample size requirements for estimating Pearson, Kendall and
Spearman correlations. Psychometrika 65:23-28.
Fieller EC, Hartley HO, Pearson ES (1957) Tests for rank correlation coefficients. I.
Biometrika 44:470-481.
Fisher RA (1921) On the "probable error" of a coefficient of correlation deduced from a small
sample. Metron 1:3-32.
Hollander M, Wolfe DA (1973) Nonparametric Statistical Methods. Wiley.
Kendall MG (1970) Rank Correlation Methods, 4th ed. Griffin.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import kendalltau, norm, pearsonr, rankdata, spearmanr

from qmrflow.stats._checks import (
    NAN,
    check_choice,
    check_confidence,
    check_min_n,
    check_not_constant,
    dropped_note,
    numeric_pairs,
    row,
    tie_sizes,
)

__all__ = ["CorrelationResult", "correlation", "kendall", "pearson", "spearman"]

logger = logging.getLogger(__name__)

Coefficient = Literal["pearson", "spearman", "kendall"]
Alternative = Literal["two-sided", "greater", "less"]

COEFFICIENTS: tuple[str, ...] = ("pearson", "spearman", "kendall")
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")
MEASURES: dict[str, str] = {
    "pearson": "pearson_r",
    "spearman": "spearman_rho",
    "kendall": "kendall_tau",
}
MIN_N = 3
SPEARMAN_EXACT_MAX_N = 9  # as R's cor.test (AS 89 exact for n <= 9)
KENDALL_EXACT_MAX_N = 49  # as R's cor.test (exact for n < 50)
_ALTERNATIVE_TEXT = {
    "two-sided": "two-sided",
    "greater": "one-sided (greater)",
    "less": "one-sided (less)",
}


@dataclass(frozen=True)
class CorrelationResult:
    """A correlation coefficient with its confidence interval and test of no association.

    Attributes
    ----------
    coefficient
        ``"pearson"``, ``"spearman"`` or ``"kendall"``.
    estimate
        Pearson's r, Spearman's rho or Kendall's tau-b.
    ci_low, ci_high
        Fisher-z interval (see the module docstring); ``[low, 1]`` / ``[-1, high]`` for
        one-sided alternatives. NaN when ``n`` is too small for it (``n < 4``, Kendall
        ``n < 5``); ``method`` then says so.
    statistic
        Test statistic as ``cor.test`` reports it: Pearson ``t``; Spearman
        ``S = (n³ - n)(1 - rho)/6``; Kendall ``T`` (concordant pairs) for the exact test,
        else the tie-corrected ``z``.
    statistic_name
        ``"t"``, ``"S"``, ``"T"`` or ``"z"``.
    df
        Degrees of freedom of the t test (Pearson, and Spearman with the t approximation);
        NaN otherwise.
    p
        p-value for ``alternative``.
    p_method
        How ``p`` was obtained: ``"t distribution"`` (Pearson; exact under bivariate
        normality), ``"exact"`` (permutation distribution: Spearman ``n <= 9``, Kendall
        ``n < 50``, no ties), ``"t approximation"`` (Spearman otherwise) or
        ``"normal approximation"`` (Kendall otherwise).
    alternative
        ``"two-sided"``, ``"greater"`` (positive association) or ``"less"``.
    n
        Number of complete pairs used.
    n_dropped
        Pairs dropped because ``x`` or ``y`` was missing (``drop_missing=True``).
    confidence
        Confidence level of the interval.
    method
        Human-readable description of estimator, test and interval (the tidy ``method``).
    names
        Names of the two variables, for messages and plot labels.
    """

    coefficient: str
    estimate: float
    ci_low: float
    ci_high: float
    statistic: float
    statistic_name: str
    df: float
    p: float
    p_method: str
    alternative: str
    n: int
    n_dropped: int
    confidence: float
    method: str
    names: tuple[str, str] = ("x", "y")

    @property
    def measure(self) -> str:
        """Tidy measure name: ``pearson_r``, ``spearman_rho`` or ``kendall_tau``."""
        return MEASURES[self.coefficient]

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: the estimate (with CI and p), the test statistic and, for t tests, df."""
        rows = [
            row(
                self.measure,
                "estimate",
                self.estimate,
                self.ci_low,
                self.ci_high,
                p=self.p,
                n=self.n,
                method=self.method,
            ),
            row(
                self.measure,
                self.statistic_name,
                self.statistic,
                p=self.p,
                n=self.n,
                method=self.method,
            ),
        ]
        if not math.isnan(self.df):
            rows.append(row(self.measure, "df", self.df, n=self.n, method=self.method))
        return rows


def correlation(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: Coefficient = "pearson",
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
    exact: bool | None = None,
) -> CorrelationResult:
    """Correlation coefficient of paired samples with confidence interval and test.

    Parameters
    ----------
    x, y
        Paired numeric samples (1-D, same length, finite).
    method
        ``"pearson"``, ``"spearman"`` or ``"kendall"`` (tau-b).
    alternative
        ``"two-sided"``, ``"greater"`` (positive association) or ``"less"``.
    confidence
        Confidence level of the interval, in (0, 1).
    drop_missing
        Drop pairs in which ``x`` or ``y`` is missing (NaN/None) instead of raising; the
        number dropped is reported in ``n_dropped`` and ``method``.
    names
        Names of ``x`` and ``y`` used in error messages and in ``method``.
    exact
        Spearman and Kendall only. ``None`` (default): exact p-value where ``cor.test``
        computes one (no ties and Spearman ``n <= 9``, Kendall ``n < 50``); ``False``: always
        the t (Spearman) or normal (Kendall) approximation; ``True``: exact, or ValueError
        when it cannot be computed (ties, Spearman ``n > 9``).

    Returns
    -------
    CorrelationResult
        See the module docstring for the formulas and when the p-value is exact.

    Raises
    ------
    ValueError
        Unknown ``method``/``alternative``, bad ``confidence``, non-numeric or infinite
        values, unequal lengths, missing values without ``drop_missing`` (the message names
        the variable), fewer than 3 complete pairs, a constant variable, ``exact`` given for
        Pearson, or ``exact=True`` where no exact p-value is available.

    Examples
    --------
    >>> r = correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], method="spearman")
    >>> round(r.estimate, 3), r.p_method
    (0.8, 'exact')
    """
    check_choice(method, "method", COEFFICIENTS)
    check_choice(alternative, "alternative", ALTERNATIVES)
    check_choice(exact, "exact", (None, True, False))
    if method == "pearson" and exact is not None:
        raise ValueError(
            "exact applies to method='spearman' and 'kendall' only; Pearson's t test is "
            "not an approximation (leave exact=None)"
        )
    confidence = check_confidence(confidence)
    pairs = numeric_pairs(x, y, names, drop_missing=drop_missing)
    check_min_n(pairs.x.size, MIN_N, f"{names[0]}/{names[1]} pairs")
    check_not_constant(pairs.x, names[0])
    check_not_constant(pairs.y, names[1])
    if method == "pearson":
        fields = _pearson(pairs.x, pairs.y, alternative, confidence)
    elif method == "spearman":
        fields = _spearman(pairs.x, pairs.y, alternative, confidence, exact, names)
    else:
        fields = _kendall(pairs.x, pairs.y, alternative, confidence, exact, names)
    method_text = (
        f"{fields.pop('label')} of {names[0]} and {names[1]}; {fields.pop('details')}"
        f"{dropped_note(pairs.n_dropped)}"
    )
    return CorrelationResult(
        coefficient=method,
        alternative=alternative,
        n=int(pairs.x.size),
        n_dropped=pairs.n_dropped,
        confidence=confidence,
        method=method_text,
        names=(names[0], names[1]),
        **fields,
    )


def pearson(x: ArrayLike, y: ArrayLike, **kwargs: Any) -> CorrelationResult:
    """Pearson's r: :func:`correlation` with ``method="pearson"``."""
    return correlation(x, y, method="pearson", **kwargs)


def spearman(x: ArrayLike, y: ArrayLike, **kwargs: Any) -> CorrelationResult:
    """Spearman's rho: :func:`correlation` with ``method="spearman"``."""
    return correlation(x, y, method="spearman", **kwargs)


def kendall(x: ArrayLike, y: ArrayLike, **kwargs: Any) -> CorrelationResult:
    """Kendall's tau-b: :func:`correlation` with ``method="kendall"``."""
    return correlation(x, y, method="kendall", **kwargs)


# ------------------------------------------------------------------------------------------
# The three coefficients; each returns the CorrelationResult fields that depend on it.
# ------------------------------------------------------------------------------------------


def _pearson(x: np.ndarray, y: np.ndarray, alternative: str, confidence: float) -> dict[str, Any]:
    n = x.size
    result = pearsonr(x, y, alternative=alternative)
    r = float(result.statistic)
    df = n - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = float(np.float64(r) * np.sqrt(df / np.float64(1.0 - r * r)))
    if n >= 4:
        # scipy's default interval is Fisher's z with SE 1/sqrt(n - 3), one-sided for
        # one-sided alternatives: exactly cor.test's interval.
        interval = result.confidence_interval(confidence_level=confidence)
        ci_low, ci_high = float(interval.low), float(interval.high)
        ci_text = f"{_ci_text(confidence, alternative)} Fisher z CI"
    else:
        ci_low = ci_high = NAN
        ci_text = "no CI (Fisher z needs n >= 4)"
    return {
        "estimate": r,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "statistic": t,
        "statistic_name": "t",
        "df": float(df),
        "p": float(result.pvalue),
        "p_method": "t distribution",
        "label": "Pearson product-moment correlation",
        "details": f"{_ALTERNATIVE_TEXT[alternative]} t test on {df} df; {ci_text}",
    }


def _spearman(
    x: np.ndarray,
    y: np.ndarray,
    alternative: str,
    confidence: float,
    exact: bool | None,
    names: tuple[str, str],
) -> dict[str, Any]:
    n = x.size
    rank_x, rank_y = rankdata(x), rankdata(y)
    rho = float(spearmanr(rank_x, rank_y).statistic)
    # R's statistic; equals sum(d²) of the rank differences when there are no ties.
    s = (n**3 - n) * (1.0 - rho) / 6.0
    ties = _has_ties(rank_x) or _has_ties(rank_y)
    if exact and (ties or n > SPEARMAN_EXACT_MAX_N):
        why = _tie_text(x, y, names) if ties else f"n = {n} > {SPEARMAN_EXACT_MAX_N}"
        raise ValueError(
            f"exact Spearman p-value not available: {why}; use exact=None or exact=False "
            "for the t approximation"
        )
    df = NAN
    if exact is not False and n <= SPEARMAN_EXACT_MAX_N and not ties:
        s = float(np.rint(np.sum((rank_x - rank_y) ** 2)))
        p = _spearman_exact_p(n, int(s), alternative)
        p_method = "exact"
        test_text = f"exact {_ALTERNATIVE_TEXT[alternative]} p (all {math.factorial(n)} rankings)"
    else:
        p = float(spearmanr(rank_x, rank_y, alternative=alternative).pvalue)
        p_method = "t approximation"
        df = float(n - 2)
        reason = _approximation_reason(exact, ties, n, SPEARMAN_EXACT_MAX_N)
        test_text = f"{_ALTERNATIVE_TEXT[alternative]} t approximation on {n - 2} df ({reason})"
    logger.debug("Spearman rho %.4f, n=%d, p (%s) %.4g", rho, n, p_method, p)
    if n >= 4:
        se = math.sqrt((1.0 + rho * rho / 2.0) / (n - 3))
        ci_low, ci_high = _fisher_ci(rho, se, confidence, alternative)
        ci_text = f"{_ci_text(confidence, alternative)} Fisher z CI, Bonett & Wright (2000) SE"
    else:
        ci_low = ci_high = NAN
        ci_text = "no CI (Fisher z needs n >= 4)"
    return {
        "estimate": rho,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "statistic": s,
        "statistic_name": "S",
        "df": df,
        "p": p,
        "p_method": p_method,
        "label": "Spearman rank correlation rho",
        "details": f"S = (n³ - n)(1 - rho)/6; {test_text}; {ci_text}",
    }


def _kendall(
    x: np.ndarray,
    y: np.ndarray,
    alternative: str,
    confidence: float,
    exact: bool | None,
    names: tuple[str, str],
) -> dict[str, Any]:
    n = x.size
    ties_x, ties_y = tie_sizes(x), tie_sizes(y)
    ties = ties_x.size > 0 or ties_y.size > 0
    if exact and ties:
        raise ValueError(
            f"exact Kendall p-value not available: {_tie_text(x, y, names)}; use exact=None "
            "or exact=False for the normal approximation"
        )
    use_exact = bool(exact) or (exact is None and n <= KENDALL_EXACT_MAX_N and not ties)
    result = kendalltau(
        x, y, method="exact" if use_exact else "asymptotic", variant="b", alternative=alternative
    )
    tau = float(result.statistic)
    n0 = n * (n - 1) / 2.0
    n1 = float(np.sum(ties_x * (ties_x - 1))) / 2.0
    n2 = float(np.sum(ties_y * (ties_y - 1))) / 2.0
    score = tau * math.sqrt((n0 - n1) * (n0 - n2))  # C - D
    if use_exact:
        statistic = float(np.rint((n0 + score) / 2.0))  # T = number of concordant pairs
        statistic_name, p_method = "T", "exact"
        test_text = f"exact {_ALTERNATIVE_TEXT[alternative]} p of T (concordant pairs)"
    else:
        statistic = score / math.sqrt(_kendall_score_variance(n, ties_x, ties_y))
        statistic_name, p_method = "z", "normal approximation"
        reason = _approximation_reason(exact, ties, n, KENDALL_EXACT_MAX_N)
        test_text = (
            f"{_ALTERNATIVE_TEXT[alternative]} z test, tie-corrected variance, "
            f"no continuity correction ({reason})"
        )
    logger.debug("Kendall tau-b %.4f, n=%d, p (%s) %.4g", tau, n, p_method, result.pvalue)
    if n >= 5:
        se = math.sqrt(0.437 / (n - 4))
        ci_low, ci_high = _fisher_ci(tau, se, confidence, alternative)
        ci_text = (
            f"{_ci_text(confidence, alternative)} Fisher z CI, Fieller et al. (1957) SE "
            "sqrt(0.437/(n - 4))"
        )
    else:
        ci_low = ci_high = NAN
        ci_text = "no CI (Fieller et al. SE needs n >= 5)"
    return {
        "estimate": tau,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "statistic": statistic,
        "statistic_name": statistic_name,
        "df": NAN,
        "p": float(result.pvalue),
        "p_method": p_method,
        "label": "Kendall rank correlation tau-b",
        "details": f"{test_text}; {ci_text}",
    }


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def _ci_text(confidence: float, alternative: str) -> str:
    sided = "" if alternative == "two-sided" else " one-sided"
    return f"{100 * confidence:g}%{sided}"


def _fisher_ci(r: float, se: float, confidence: float, alternative: str) -> tuple[float, float]:
    """``tanh(atanh(r) ∓ z·se)``; one-sided bounds (other end ±1) for one-sided alternatives."""
    with np.errstate(divide="ignore"):  # |r| = 1 gives z = ±inf and the interval [r, r]
        z = float(np.arctanh(np.clip(np.float64(r), -1.0, 1.0)))
    if alternative == "two-sided":
        half = float(norm.ppf(0.5 + confidence / 2.0)) * se
        return math.tanh(z - half), math.tanh(z + half)
    half = float(norm.ppf(confidence)) * se
    if alternative == "greater":
        return math.tanh(z - half), 1.0
    return -1.0, math.tanh(z + half)


def _approximation_reason(exact: bool | None, ties: bool, n: int, max_exact_n: int) -> str:
    if exact is False:
        return "exact=False"
    return "ties" if ties else f"n > {max_exact_n}"


def _tie_text(x: np.ndarray, y: np.ndarray, names: tuple[str, str]) -> str:
    tied = [name for values, name in ((x, names[0]), (y, names[1])) if _has_ties(values)]
    return f"ties in {' and '.join(tied)}"


def _has_ties(values: np.ndarray) -> bool:
    return bool(np.unique(values).size < values.size)


def _kendall_score_variance(n: int, t: np.ndarray, u: np.ndarray) -> float:
    """Null variance of ``C - D`` with ties (Kendall 1970); see the module docstring."""
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(t * (t - 1) * (2 * t + 5)))
    vu = float(np.sum(u * (u - 1) * (2 * u + 5)))
    v1 = float(np.sum(t * (t - 1))) * float(np.sum(u * (u - 1)))
    v2 = float(np.sum(t * (t - 1) * (t - 2))) * float(np.sum(u * (u - 1) * (u - 2)))
    return (v0 - vt - vu) / 18.0 + v1 / (2.0 * n * (n - 1)) + v2 / (9.0 * n * (n - 1) * (n - 2))


@lru_cache(maxsize=SPEARMAN_EXACT_MAX_N)
def _spearman_s_counts(n: int) -> np.ndarray:
    """``counts[s]``: number of the ``n!`` rankings whose ``S = sum d²`` equals ``s``.

    All permutations of ``0..n-1`` are built at once by inserting the value ``k`` at every
    position of the permutations of ``0..k-1`` (362,880 rows of int8 for n = 9).
    """
    perms = np.zeros((1, 0), dtype=np.int8)
    for k in range(n):
        m = perms.shape[0]
        grown = np.empty((m * (k + 1), k + 1), dtype=np.int8)
        for pos in range(k + 1):
            block = grown[pos * m : (pos + 1) * m]
            block[:, :pos] = perms[:, :pos]
            block[:, pos] = k
            block[:, pos + 1 :] = perms[:, pos:]
        perms = grown
    d = perms.astype(np.int32) - np.arange(n, dtype=np.int32)
    counts = np.bincount(np.sum(d * d, axis=1))
    counts.setflags(write=False)
    return counts


def _spearman_exact_p(n: int, s: int, alternative: str) -> float:
    """Exact permutation p-value of Spearman's ``S`` (small ``S`` = positive association).

    ``greater``: P(S <= s); ``less``: P(S >= s); two-sided: twice the smaller tail, capped at
    1 (cor.test's convention; the null distribution of S is symmetric).
    """
    counts = _spearman_s_counts(n)
    total = float(counts.sum())
    lower = float(counts[: s + 1].sum()) / total
    upper = float(counts[s:].sum()) / total
    if alternative == "greater":
        return lower
    if alternative == "less":
        return upper
    return min(1.0, 2.0 * min(lower, upper))
