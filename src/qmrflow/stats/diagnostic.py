"""Proportion confidence intervals and 2x2 diagnostic-accuracy metrics.

The positive class is ``1`` for 0/1 (or boolean) labels; other labels (e.g. ``"DMD"`` and
``"control"``) need ``positive=`` naming the positive one.

Methods
-------
* Proportions (accuracy, sensitivity, specificity, PPV, NPV, prevalences) carry, by choice,
  the Wilson score interval without continuity correction (Wilson 1927; method 3 of Newcombe
  1998, Stat Med 17:857-872; the default) or the Clopper-Pearson "exact" interval (Clopper &
  Pearson 1934, Biometrika 26:404-413; beta quantiles, as R's ``binom.test``).
* Likelihood ratios carry the log-method interval of Simel, Samsa & Matchar (1991,
  J Clin Epidemiol 44:763-770): ``log LR ± z·SE`` with
  ``SE(log LR+) = sqrt(1/tp - 1/(tp+fn) + 1/fp - 1/(fp+tn))`` and
  ``SE(log LR-) = sqrt(1/fn - 1/(tp+fn) + 1/tn - 1/(fp+tn))``. No continuity correction is
  applied, so a zero cell gives an infinite or zero ratio whose interval is reported as NaN
  (see :class:`RatioEstimate`).
* The diagnostic odds ratio ``DOR = (tp·tn) / (fp·fn) = LR+ / LR-`` (Glas et al. 2003,
  J Clin Epidemiol 56:1129-1135) carries the log-method (Woolf) interval with
  ``SE(log DOR) = sqrt(1/tp + 1/fp + 1/fn + 1/tn)``; when a cell is zero, 0.5 is added to
  every cell (Haldane-Anscombe correction) and the method text says so.

Input checks are shared with the other ``qmrflow.stats`` modules (``qmrflow.stats._checks``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from qmrflow.stats._checks import (
    NAN,
    as_count,
    binary_labels,
    check_choice,
    check_confidence,
    check_same_length,
    critical_z,
    row,
)
from qmrflow.stats._compat import DeprecatedAlias, keyword_only_since

__all__ = [
    "INTERVALS",
    "DiagnosticMetrics",
    "Proportion",
    "RatioEstimate",
    "clopper_pearson_ci",
    "diagnostic_metrics",
    "diagnostic_odds_ratio",
    "wilson_ci",
]


WILSON_METHOD = "Wilson score interval without continuity correction (Newcombe 1998, method 3)"
CLOPPER_PEARSON_METHOD = "Clopper-Pearson exact interval (Clopper & Pearson 1934; beta quantiles)"
LR_METHOD = "log method (Simel, Samsa & Matchar 1991); no continuity correction"
DOR_METHOD = (
    "diagnostic odds ratio (tp·tn)/(fp·fn) (Glas et al. 2003); log-method CI, "
    "SE(log DOR) = sqrt(1/tp + 1/fp + 1/fn + 1/tn)"
)
HALDANE_NOTE = "; a zero cell: 0.5 added to every cell (Haldane-Anscombe correction)"

#: Proportion intervals and the method text of each.
INTERVALS: dict[str, str] = {"wilson": WILSON_METHOD, "clopper-pearson": CLOPPER_PEARSON_METHOD}


def _checked_counts(successes: Any, n: Any) -> tuple[int, int]:
    successes = as_count(successes, "successes")
    n = as_count(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if successes > n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    return successes, n


@keyword_only_since(2, "confidence")
def wilson_ci(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, without continuity correction.

    Parameters
    ----------
    successes
        Number of successes, ``0 <= successes <= n``.
    n
        Number of trials, ``n >= 1``.
    confidence
        Two-sided confidence level in (0, 1), keyword-only (by position: deprecated).

    Returns
    -------
    tuple of float
        ``(lower, upper)``, within [0, 1]. Computed by
        ``statsmodels.stats.proportion.proportion_confint(method="wilson")``, which is the
        Wilson (1927) interval of Newcombe (1998, method 3); the tests reproduce Newcombe's
        Table I (e.g. 81/263 -> 0.2553 to 0.3662).

    Raises
    ------
    ValueError
        ``successes`` or ``n`` is not an integer, ``n < 1``, ``successes`` is outside
        ``[0, n]``, or ``confidence`` is not in (0, 1).
    """
    successes, n = _checked_counts(successes, n)
    alpha = 1.0 - check_confidence(confidence)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    # The exact bounds are 0 at successes = 0 and 1 at successes = n; floating point gives
    # e.g. 5.6e-17 and 0.9999999999999999, so pin them (and keep low <= p <= high).
    estimate = successes / n
    low = 0.0 if successes == 0 else min(float(low), estimate)
    high = 1.0 if successes == n else max(float(high), estimate)
    return low, high


def clopper_pearson_ci(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson ("exact") interval for a binomial proportion.

    Parameters
    ----------
    successes
        Number of successes, ``0 <= successes <= n``.
    n
        Number of trials, ``n >= 1``.
    confidence
        Two-sided confidence level in (0, 1).

    Returns
    -------
    tuple of float
        ``(lower, upper)``: the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` beta
        quantiles (``Beta(k, n-k+1)`` and ``Beta(k+1, n-k)``), 0 at ``k = 0`` and 1 at
        ``k = n``; computed by ``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``.
        This is the interval of R's ``binom.test`` (the tests reproduce its documented example,
        682/925 -> 0.7076683 to 0.7654066). It is conservative: coverage is at least
        ``confidence``.

    Raises
    ------
    ValueError
        As for :func:`wilson_ci`.
    """
    successes, n = _checked_counts(successes, n)
    confidence = check_confidence(confidence)
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


_INTERVAL_FUNCTIONS: dict[str, Callable[..., tuple[float, float]]] = {
    "wilson": wilson_ci,
    "clopper-pearson": clopper_pearson_ci,
}


@dataclass(frozen=True)
class Proportion:
    """A proportion with its confidence interval (Wilson or Clopper-Pearson).

    Attributes
    ----------
    estimate
        ``successes / n``; NaN when ``n == 0`` (e.g. PPV when the test never called positive).
    ci_low, ci_high
        Interval bounds; NaN when ``n == 0``.
    successes, n
        The counts the proportion was computed from.
    confidence
        Confidence level of the interval.
    interval
        ``"wilson"`` or ``"clopper-pearson"`` (see :data:`INTERVALS`).
    """

    estimate: float
    ci_low: float
    ci_high: float
    successes: int
    n: int
    confidence: float = 0.95
    interval: str = "wilson"

    @classmethod
    @keyword_only_since(3, "confidence")
    def from_counts(
        cls, successes: int, n: int, *, confidence: float = 0.95, interval: str = "wilson"
    ) -> Proportion:
        """Build from counts; ``n == 0`` gives NaN estimate and interval instead of an error.

        Parameters
        ----------
        successes, n
            Counts, ``0 <= successes <= n``.
        confidence
            Two-sided confidence level in (0, 1), keyword-only (by position: deprecated).
        interval
            ``"wilson"`` (default) or ``"clopper-pearson"``.

        Raises
        ------
        ValueError
            Counts that are not non-negative integers, ``successes > n``, a bad
            ``confidence`` or an unknown ``interval``.
        """
        successes = as_count(successes, "successes")
        n = as_count(n, "n")
        check_choice(interval, "interval", list(INTERVALS))
        confidence = check_confidence(confidence)
        if successes > n:
            raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
        if n == 0:
            return cls(NAN, NAN, NAN, 0, 0, confidence, interval)
        low, high = _INTERVAL_FUNCTIONS[interval](successes, n, confidence=confidence)
        return cls(successes / n, low, high, successes, n, confidence, interval)

    @property
    def method(self) -> str:
        """Method text of the interval."""
        return INTERVALS[self.interval]

    def to_row(self, measure: str) -> dict[str, Any]:
        """One tidy row (see :func:`qmrflow.stats.tidy.tidy`) for this proportion."""
        return row(
            measure,
            "estimate",
            self.estimate,
            self.ci_low,
            self.ci_high,
            n=self.n,
            method=self.method,
        )


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio (likelihood ratio, diagnostic odds ratio) with a log-scale confidence interval.

    Zero cells are reported, never raised: ``estimate`` may be ``inf`` (e.g. LR+ when
    specificity is 1), ``0.0`` (LR+ when sensitivity is 0) or NaN (0/0), and whenever
    ``log(estimate)`` has no finite standard error the interval and ``log_se`` are NaN.

    Attributes
    ----------
    estimate
        Point estimate.
    ci_low, ci_high
        ``exp(log(estimate) ∓ z·log_se)``; NaN when ``log_se`` is NaN.
    log_se
        Standard error of ``log(estimate)`` (formerly ``se_log``, a deprecated alias).
    confidence
        Confidence level of the interval.
    method
        Estimator and interval, with references (and any correction applied).
    """

    estimate: float
    ci_low: float
    ci_high: float
    log_se: float
    confidence: float = 0.95
    method: str = LR_METHOD

    se_log = DeprecatedAlias("log_se")

    def to_row(self, measure: str, *, n: int | None = None) -> dict[str, Any]:
        """One tidy row for this ratio."""
        return row(
            measure, "estimate", self.estimate, self.ci_low, self.ci_high, n=n, method=self.method
        )


@dataclass(frozen=True)
class DiagnosticMetrics:
    """Diagnostic accuracy of binary predictions against a binary reference standard.

    Attributes
    ----------
    tp, fp, tn, fn
        Cells of the 2x2 table.
    n
        Number of cases.
    accuracy, sensitivity, specificity, ppv, npv
        Proportions with intervals (``interval``). Denominators: ``n``, ``tp + fn``,
        ``tn + fp``, ``tp + fp`` and ``tn + fn``; an empty denominator gives NaN.
    f1
        ``2·tp / (2·tp + fp + fn)``, no interval; NaN when the denominator is 0.
    lr_positive, lr_negative
        ``sens / (1 - spec)`` and ``(1 - sens) / spec`` with Simel et al. (1991) log intervals.
    dor
        Diagnostic odds ratio ``(tp·tn)/(fp·fn)`` with its log-method interval; 0.5 added to
        every cell when one is zero (Haldane-Anscombe; see ``dor.method``); NaN when a row or
        column of the table is empty (the ratio is then 0/0).
    apparent_prevalence, true_prevalence
        ``(tp + fp) / n`` (test positives) and ``(tp + fn) / n`` (reference positives), as
        proportions with intervals.
    confidence
        Confidence level of every interval.
    interval
        Interval of the proportions: ``"wilson"`` or ``"clopper-pearson"``.
    positive
        The label of the positive class; None for 0/1 labels (1 positive).
    """

    tp: int
    fp: int
    tn: int
    fn: int
    n: int
    accuracy: Proportion
    sensitivity: Proportion
    specificity: Proportion
    ppv: Proportion
    npv: Proportion
    f1: float
    lr_positive: RatioEstimate
    lr_negative: RatioEstimate
    dor: RatioEstimate
    apparent_prevalence: Proportion
    true_prevalence: Proportion
    confidence: float = 0.95
    interval: str = "wilson"
    positive: Any = None

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: cell counts, proportions, F1, likelihood ratios, DOR and prevalences."""
        label = 1 if self.positive is None else self.positive
        table = f"2x2 table (positive class {label!r})"
        rows = [
            row(name, "count", float(value), n=self.n, method=table)
            for name, value in (("tp", self.tp), ("fp", self.fp), ("tn", self.tn), ("fn", self.fn))
        ]
        for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
            rows.append(getattr(self, name).to_row(name))
        rows.append(row("f1", "estimate", self.f1, n=self.n, method="2·tp / (2·tp + fp + fn)"))
        rows.append(self.lr_positive.to_row("lr_positive", n=self.n))
        rows.append(self.lr_negative.to_row("lr_negative", n=self.n))
        rows.append(self.dor.to_row("dor", n=self.n))
        rows.append(self.apparent_prevalence.to_row("apparent_prevalence"))
        rows.append(self.true_prevalence.to_row("true_prevalence"))
        return rows


def _plain(label: Any) -> Any:
    """A numpy scalar as the Python scalar (for readable reprs in method texts)."""
    return label.item() if isinstance(label, np.generic) else label


@keyword_only_since(2, "confidence")
def diagnostic_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    positive: Any = None,
    confidence: float = 0.95,
    interval: str = "wilson",
) -> DiagnosticMetrics:
    """Sensitivity, specificity, predictive values, accuracy, F1, likelihood and odds ratios.

    Parameters
    ----------
    y_true
        Reference standard, 1-D (1 or ``positive`` = disease present).
    y_pred
        Index-test decisions, 1-D, same length, same labels as ``y_true``.
    positive
        The label of the positive class (e.g. ``"DMD"``); then each array may hold at most two
        distinct labels, both arrays together too, and ``positive`` must occur in one of
        them. None (default): labels must be 0/1 or booleans, 1 positive.
    confidence
        Two-sided confidence level in (0, 1) for every interval, keyword-only (by position:
        deprecated).
    interval
        Interval of the proportions: ``"wilson"`` (default) or ``"clopper-pearson"``.

    Returns
    -------
    DiagnosticMetrics

    Raises
    ------
    ValueError
        Empty input, unequal lengths, missing values, labels other than 0/1 without
        ``positive``, more than two labels, ``positive`` in neither array, or an unknown
        ``interval``; the message names the offending argument.

    Notes
    -----
    Zero cells never raise. A proportion with an empty denominator is NaN. If ``fp == 0``
    (specificity 1) and ``tp > 0``, LR+ is ``inf`` with a NaN interval; if ``tp == 0``, LR+ is
    ``0`` (or NaN when ``fp == 0`` too) with a NaN interval; LR- behaves likewise with
    ``fn`` and ``tn``. No continuity correction is applied to the likelihood ratios, so they
    are the plain maximum-likelihood ratios; the DOR alone is corrected (0.5 per cell) when a
    cell is zero.
    """
    confidence = check_confidence(confidence)
    check_choice(interval, "interval", list(INTERVALS))
    positive = _plain(positive)
    truth = binary_labels(y_true, "y_true", positive=positive)
    pred = binary_labels(y_pred, "y_pred", positive=positive)
    check_same_length(truth, pred, "y_true", "y_pred")
    if positive is not None:
        _check_label_sets(y_true, y_pred, positive, truth, pred)

    tp = int(np.count_nonzero(truth & pred))
    fp = int(np.count_nonzero(~truth & pred))
    fn = int(np.count_nonzero(truth & ~pred))
    tn = int(np.count_nonzero(~truth & ~pred))
    n = tp + fp + tn + fn

    def proportion(successes: int, total: int) -> Proportion:
        return Proportion.from_counts(successes, total, confidence=confidence, interval=interval)

    f1_denominator = 2 * tp + fp + fn
    return DiagnosticMetrics(
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        n=n,
        accuracy=proportion(tp + tn, n),
        sensitivity=proportion(tp, tp + fn),
        specificity=proportion(tn, tn + fp),
        ppv=proportion(tp, tp + fp),
        npv=proportion(tn, tn + fn),
        f1=2 * tp / f1_denominator if f1_denominator else NAN,
        lr_positive=_likelihood_ratio(tp, tp + fn, fp, fp + tn, confidence),
        lr_negative=_likelihood_ratio(fn, tp + fn, tn, fp + tn, confidence),
        dor=diagnostic_odds_ratio(tp, fp, fn, tn, confidence=confidence),
        apparent_prevalence=proportion(tp + fp, n),
        true_prevalence=proportion(tp + fn, n),
        confidence=confidence,
        interval=interval,
        positive=positive,
    )


def _check_label_sets(
    y_true: ArrayLike, y_pred: ArrayLike, positive: Any, truth: np.ndarray, pred: np.ndarray
) -> None:
    """With an explicit ``positive``: it occurs somewhere, and at most two labels overall."""
    if not (truth.any() or pred.any()):
        raise ValueError(
            f"positive={positive!r} is not among the labels of y_true or y_pred; "
            "pass the label that marks a positive case"
        )
    negatives = {_plain(v) for v in np.asarray(y_true)[~truth]}
    negatives |= {_plain(v) for v in np.asarray(y_pred)[~pred]}
    if len(negatives) > 1:
        raise ValueError(
            f"y_true and y_pred together have more than one negative label besides "
            f"positive={positive!r}: {sorted(map(repr, negatives))}"
        )


def diagnostic_odds_ratio(
    tp: int, fp: int, fn: int, tn: int, *, confidence: float = 0.95
) -> RatioEstimate:
    """Diagnostic odds ratio ``(tp·tn)/(fp·fn)`` with its log-method confidence interval.

    Parameters
    ----------
    tp, fp, fn, tn
        Cells of the 2x2 table.
    confidence
        Two-sided confidence level in (0, 1).

    Returns
    -------
    RatioEstimate
        ``log_se = sqrt(1/tp + 1/fp + 1/fn + 1/tn)`` and ``exp(log DOR ∓ z·log_se)``. With a
        zero cell 0.5 is first added to every cell (Haldane-Anscombe), estimate included, and
        ``method`` says so. When a margin is empty (no diseased or no healthy case, or the
        test never / always positive) the ratio is 0/0: everything is NaN.

    Raises
    ------
    ValueError
        A count that is not a non-negative integer, or a bad ``confidence``.
    """
    cells = [
        as_count(value, name) for value, name in ((tp, "tp"), (fp, "fp"), (fn, "fn"), (tn, "tn"))
    ]
    confidence = check_confidence(confidence)
    a, b, c, d = cells
    if 0 in (a + c, b + d, a + b, c + d):
        return RatioEstimate(NAN, NAN, NAN, NAN, confidence, DOR_METHOD + "; undefined (0/0)")
    method = DOR_METHOD
    values = [float(v) for v in cells]
    if 0 in cells:
        values = [v + 0.5 for v in values]
        method += HALDANE_NOTE
    a_, b_, c_, d_ = values
    log_dor = math.log(a_) + math.log(d_) - math.log(b_) - math.log(c_)
    log_se = math.sqrt(sum(1.0 / v for v in values))
    half = critical_z(confidence) * log_se
    return RatioEstimate(
        math.exp(log_dor),
        math.exp(log_dor - half),
        math.exp(log_dor + half),
        log_se,
        confidence,
        method,
    )


def _likelihood_ratio(
    x_diseased: int, n_diseased: int, x_healthy: int, n_healthy: int, confidence: float
) -> RatioEstimate:
    """``(x_diseased/n_diseased) / (x_healthy/n_healthy)`` with the Simel et al. log interval.

    For LR+ pass (tp, tp+fn, fp, fp+tn); for LR- pass (fn, tp+fn, tn, fp+tn).
    """
    if n_diseased == 0 or n_healthy == 0:
        return RatioEstimate(NAN, NAN, NAN, NAN, confidence)
    p_diseased = x_diseased / n_diseased
    p_healthy = x_healthy / n_healthy
    if x_diseased == 0 or x_healthy == 0:
        # 0/p -> 0, p/0 -> inf, 0/0 -> NaN; log scale SE is undefined in all three.
        estimate = NAN if x_diseased == x_healthy == 0 else (0.0 if x_diseased == 0 else math.inf)
        return RatioEstimate(estimate, NAN, NAN, NAN, confidence)
    estimate = p_diseased / p_healthy
    log_se = math.sqrt(1 / x_diseased - 1 / n_diseased + 1 / x_healthy - 1 / n_healthy)
    half_width = critical_z(confidence) * log_se
    log_estimate = math.log(estimate)
    return RatioEstimate(
        estimate,
        math.exp(log_estimate - half_width),
        math.exp(log_estimate + half_width),
        log_se,
        confidence,
    )
