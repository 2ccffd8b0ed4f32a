"""Proportion confidence intervals and 2x2 diagnostic-accuracy metrics.

The positive class is ``1`` throughout (for the dystrophinopathy study: 1 = dystrophinopathy).

Methods
-------
* Proportions (accuracy, sensitivity, specificity, PPV, NPV) carry the Wilson score interval
  without continuity correction (Wilson 1927; method 3 of Newcombe 1998, Stat Med 17:857-872).
* Likelihood ratios carry the log-method interval of Simel, Samsa & Matchar (1991,
  J Clin Epidemiol 44:763-770): ``log LR ± z·SE`` with
  ``SE(log LR+) = sqrt(1/tp - 1/(tp+fn) + 1/fp - 1/(fp+tn))`` and
  ``SE(log LR-) = sqrt(1/fn - 1/(tp+fn) + 1/tn - 1/(fp+tn))``. No continuity correction is
  applied, so a zero cell gives an infinite or zero ratio whose interval is reported as NaN
  (see :class:`RatioEstimate`).

Input checks are shared with the other ``qmrflow.stats`` modules (``qmrflow.stats._checks``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.proportion import proportion_confint

from qmrflow.stats._checks import (
    NAN,
    as_count,
    binary_labels,
    check_confidence,
    check_same_length,
    critical_z,
    row,
)

__all__ = [
    "DiagnosticMetrics",
    "Proportion",
    "RatioEstimate",
    "diagnostic_metrics",
    "wilson_ci",
]

WILSON_METHOD = "Wilson score interval without continuity correction (Newcombe 1998, method 3)"
LR_METHOD = "log method (Simel, Samsa & Matchar 1991); no continuity correction"


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, without continuity correction.

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
    successes = as_count(successes, "successes")
    n = as_count(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if successes > n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    alpha = 1.0 - check_confidence(confidence)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    # The exact bounds are 0 at successes = 0 and 1 at successes = n; floating point gives
    # e.g. 5.6e-17 and 0.9999999999999999, so pin them (and keep low <= p <= high).
    estimate = successes / n
    low = 0.0 if successes == 0 else min(float(low), estimate)
    high = 1.0 if successes == n else max(float(high), estimate)
    return low, high


@dataclass(frozen=True)
class Proportion:
    """A proportion with its Wilson score interval.

    Attributes
    ----------
    estimate
        ``successes / n``; NaN when ``n == 0`` (e.g. PPV when the test never called positive).
    ci_low, ci_high
        Wilson interval bounds; NaN when ``n == 0``.
    successes, n
        The counts the proportion was computed from.
    confidence
        Confidence level of the interval.
    """

    estimate: float
    ci_low: float
    ci_high: float
    successes: int
    n: int
    confidence: float = 0.95

    @classmethod
    def from_counts(cls, successes: int, n: int, confidence: float = 0.95) -> Proportion:
        """Build from counts; ``n == 0`` gives NaN estimate and interval instead of an error."""
        successes = as_count(successes, "successes")
        n = as_count(n, "n")
        if successes > n:
            raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
        if n == 0:
            return cls(NAN, NAN, NAN, 0, 0, check_confidence(confidence))
        low, high = wilson_ci(successes, n, confidence)
        return cls(successes / n, low, high, successes, n, confidence)

    def to_row(self, measure: str) -> dict[str, Any]:
        """One tidy row (see :func:`qmrflow.stats.tidy.tidy`) for this proportion."""
        return row(
            measure,
            "estimate",
            self.estimate,
            self.ci_low,
            self.ci_high,
            n=self.n,
            method=WILSON_METHOD,
        )


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio (likelihood ratio) with a log-scale confidence interval.

    Zero cells are reported, never raised: ``estimate`` may be ``inf`` (e.g. LR+ when
    specificity is 1), ``0.0`` (LR+ when sensitivity is 0) or NaN (0/0), and whenever
    ``log(estimate)`` has no finite standard error the interval and ``se_log`` are NaN.

    Attributes
    ----------
    estimate
        Point estimate.
    ci_low, ci_high
        ``exp(log(estimate) ∓ z·se_log)``; NaN when ``se_log`` is NaN.
    se_log
        Standard error of ``log(estimate)``.
    confidence
        Confidence level of the interval.
    """

    estimate: float
    ci_low: float
    ci_high: float
    se_log: float
    confidence: float = 0.95

    def to_row(self, measure: str, *, n: int | None = None) -> dict[str, Any]:
        """One tidy row for this ratio."""
        return row(
            measure, "estimate", self.estimate, self.ci_low, self.ci_high, n=n, method=LR_METHOD
        )


@dataclass(frozen=True)
class DiagnosticMetrics:
    """Diagnostic accuracy of binary predictions against a binary reference standard.

    Attributes
    ----------
    tp, fp, tn, fn
        Cells of the 2x2 table (positive class is 1).
    n
        Number of cases.
    accuracy, sensitivity, specificity, ppv, npv
        Proportions with Wilson intervals. Denominators: ``n``, ``tp + fn``, ``tn + fp``,
        ``tp + fp`` and ``tn + fn``; an empty denominator gives NaN.
    f1
        ``2·tp / (2·tp + fp + fn)``, no interval; NaN when the denominator is 0.
    lr_positive, lr_negative
        ``sens / (1 - spec)`` and ``(1 - sens) / spec`` with Simel et al. (1991) log intervals.
    confidence
        Confidence level of every interval.
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
    confidence: float = 0.95

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: the four cell counts, five proportions, F1 and both likelihood ratios."""
        rows = [
            row(name, "count", float(value), n=self.n, method="2x2 table (positive class 1)")
            for name, value in (("tp", self.tp), ("fp", self.fp), ("tn", self.tn), ("fn", self.fn))
        ]
        for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
            rows.append(getattr(self, name).to_row(name))
        rows.append(row("f1", "estimate", self.f1, n=self.n, method="2·tp / (2·tp + fp + fn)"))
        rows.append(self.lr_positive.to_row("lr_positive", n=self.n))
        rows.append(self.lr_negative.to_row("lr_negative", n=self.n))
        return rows


def diagnostic_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, confidence: float = 0.95
) -> DiagnosticMetrics:
    """Sensitivity, specificity, predictive values, accuracy, F1 and likelihood ratios.

    Parameters
    ----------
    y_true
        Reference standard, 1-D, values in {0, 1} (1 = disease present).
    y_pred
        Index-test decisions, 1-D, same length, values in {0, 1}.
    confidence
        Two-sided confidence level in (0, 1) for every interval.

    Returns
    -------
    DiagnosticMetrics

    Raises
    ------
    ValueError
        Empty input, unequal lengths, missing values, or labels other than 0/1; the message
        names the offending argument.

    Notes
    -----
    Zero cells never raise. A proportion with an empty denominator is NaN. If ``fp == 0``
    (specificity 1) and ``tp > 0``, LR+ is ``inf`` with a NaN interval; if ``tp == 0``, LR+ is
    ``0`` (or NaN when ``fp == 0`` too) with a NaN interval; LR- behaves likewise with
    ``fn`` and ``tn``. No continuity correction is applied, so the reported values are the
    plain maximum-likelihood ratios.
    """
    confidence = check_confidence(confidence)
    truth = binary_labels(y_true, "y_true")
    pred = binary_labels(y_pred, "y_pred")
    check_same_length(truth, pred, "y_true", "y_pred")

    tp = int(np.count_nonzero(truth & pred))
    fp = int(np.count_nonzero(~truth & pred))
    fn = int(np.count_nonzero(truth & ~pred))
    tn = int(np.count_nonzero(~truth & ~pred))
    n = tp + fp + tn + fn

    f1_denominator = 2 * tp + fp + fn
    return DiagnosticMetrics(
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        n=n,
        accuracy=Proportion.from_counts(tp + tn, n, confidence),
        sensitivity=Proportion.from_counts(tp, tp + fn, confidence),
        specificity=Proportion.from_counts(tn, tn + fp, confidence),
        ppv=Proportion.from_counts(tp, tp + fp, confidence),
        npv=Proportion.from_counts(tn, tn + fn, confidence),
        f1=2 * tp / f1_denominator if f1_denominator else NAN,
        lr_positive=_likelihood_ratio(tp, tp + fn, fp, fp + tn, confidence),
        lr_negative=_likelihood_ratio(fn, tp + fn, tn, fp + tn, confidence),
        confidence=confidence,
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
    se_log = math.sqrt(1 / x_diseased - 1 / n_diseased + 1 / x_healthy - 1 / n_healthy)
    half_width = critical_z(confidence) * se_log
    log_estimate = math.log(estimate)
    return RatioEstimate(
        estimate,
        math.exp(log_estimate - half_width),
        math.exp(log_estimate + half_width),
        se_log,
        confidence,
    )
