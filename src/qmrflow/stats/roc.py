"""Empirical ROC curve, AUC with DeLong (and Hanley-McNeil) intervals, and the paired DeLong test.

The AUC is the Mann-Whitney probability ``P(score_pos > score_neg) + 0.5·P(tie)``. Its variance
is the nonparametric estimator of DeLong, DeLong & Clarke-Pearson (1988, Biometrics
44:837-845), built from the structural components

    V10_i = mean_j psi(X_i, Y_j)   (one per positive case X_i)
    V01_j = mean_i psi(X_i, Y_j)   (one per negative case Y_j)
    var(AUC) = s²(V10)/m + s²(V01)/n   (sample variances with ddof = 1)

computed with the O(N log N) midrank algorithm of Sun & Xu (2014, IEEE Signal Process Lett
21:1389-1393) instead of the O(m·n) pair matrix. This is written by hand because neither
scipy, scikit-learn nor statsmodels implements DeLong's variance or test. The implementation
reproduces the values R's pROC documents for its ``aSAH`` data set (see tests/stats/test_roc.py).

Beside DeLong's, the AUC carries the standard error of Hanley & McNeil (1982, Radiology
143:29-36), which assumes exponential score distributions:

    Q1 = A / (2 - A),   Q2 = 2A² / (1 + A)
    SE² = [A(1 - A) + (m - 1)(Q1 - A²) + (n - 1)(Q2 - A²)] / (m·n)

(m positive, n negative cases); see :func:`hanley_mcneil_se`.

Confidence intervals are Wald intervals ``AUC ± z·SE`` truncated to [0, 1].

Labels are 0/1 (or booleans, 1 positive) unless ``positive=`` names the label of a positive
case, e.g. ``positive="DMD"`` for ``"DMD"``/``"control"`` labels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_curve

from qmrflow.stats._checks import (
    NAN,
    as_1d,
    as_count,
    binary_labels,
    check_confidence,
    check_same_length,
    critical_z,
    row,
)
from qmrflow.stats._compat import DeprecatedAlias, keyword_only_since, renamed_arguments
from qmrflow.stats.diagnostic import _plain

__all__ = ["DelongTestResult", "RocResult", "delong_test", "hanley_mcneil_se", "roc_curve_auc"]

logger = logging.getLogger(__name__)

AUC_METHOD = (
    "Mann-Whitney AUC; DeLong et al. (1988) variance via Sun & Xu (2014) midranks; "
    "Wald CI truncated to [0, 1]"
)
HANLEY_MCNEIL_METHOD = (
    "Hanley & McNeil (1982) SE of the AUC (Q1 = A/(2-A), Q2 = 2A²/(1+A)); "
    "ci_low/ci_high: Wald CI of the AUC from this SE, truncated to [0, 1]"
)
DELONG_TEST_METHOD = "paired DeLong et al. (1988) test of two correlated AUCs; two-sided z test"


def _readonly(array: ArrayLike) -> np.ndarray:
    out = np.array(array, dtype=float, copy=True)
    out.setflags(write=False)
    return out


def _wald(auc: float, se: float, confidence: float) -> tuple[float, float]:
    """``auc ∓ z·se`` truncated to [0, 1]; NaN when ``se`` is NaN."""
    half = critical_z(confidence) * se
    if not np.isfinite(half):
        return NAN, NAN
    return max(0.0, auc - half), min(1.0, auc + half)


def hanley_mcneil_se(auc: float, n_positive: int, n_negative: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC.

    Parameters
    ----------
    auc
        Area under the ROC curve ``A``, in [0, 1].
    n_positive, n_negative
        Number of positive (abnormal, ``m``) and negative (normal, ``n``) cases, each >= 1.

    Returns
    -------
    float
        ``sqrt([A(1-A) + (m-1)(Q1-A²) + (n-1)(Q2-A²)] / (m·n))`` with ``Q1 = A/(2-A)`` and
        ``Q2 = 2A²/(1+A)`` (Hanley & McNeil 1982, Radiology 143:29-36, Table 1 / eq. 2). The
        Q's come from an exponential model of the scores, derived for ``A >= 0.5``; unlike
        DeLong's SE it is not symmetric under ``A -> 1 - A``. 0 at ``A`` = 0 or 1.

    Raises
    ------
    ValueError
        ``auc`` not a number in [0, 1], or a class size that is not an integer >= 1.
    """
    try:
        a = float(auc)
    except (TypeError, ValueError):
        raise ValueError(f"auc must be a number in [0, 1], got {auc!r}") from None
    if not 0.0 <= a <= 1.0:  # also rejects NaN
        raise ValueError(f"auc must be in [0, 1], got {auc!r}")
    m = as_count(n_positive, "n_positive")
    n = as_count(n_negative, "n_negative")
    for name, value in (("n_positive", m), ("n_negative", n)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    q1 = a / (2.0 - a)
    q2 = 2.0 * a * a / (1.0 + a)
    variance = (a * (1.0 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n)
    return math.sqrt(max(variance, 0.0))


@dataclass(frozen=True, eq=False)
class RocResult:
    """Empirical ROC curve with the AUC, its DeLong interval and the Hanley-McNeil SE.

    Attributes
    ----------
    fpr, tpr, thresholds
        Read-only arrays from :func:`sklearn.metrics.roc_curve` (``thresholds[0]`` is ``inf``,
        the point (0, 0)). ``fpr`` is 1 - specificity and ``tpr`` is sensitivity.
    auc
        Area under the empirical curve (ties count one half).
    se
        DeLong standard error (formerly ``auc_se``, a deprecated alias); NaN when either
        class has fewer than 2 cases, 0 when the classes are perfectly separated (the DeLong
        variance is then degenerate).
    ci_low, ci_high
        ``auc ∓ z·se`` truncated to [0, 1]; NaN when ``se`` is NaN.
    hanley_mcneil_se
        Hanley & McNeil (1982) standard error (:func:`hanley_mcneil_se`).
    hanley_mcneil_ci_low, hanley_mcneil_ci_high
        ``auc ∓ z·hanley_mcneil_se`` truncated to [0, 1].
    n_positive, n_negative
        Number of positive and negative cases (``n`` is their sum).
    confidence
        Confidence level of the intervals.
    positive
        The label of a positive case; None for 0/1 labels (1 positive).
    """

    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    auc: float
    se: float
    ci_low: float
    ci_high: float
    hanley_mcneil_se: float
    hanley_mcneil_ci_low: float
    hanley_mcneil_ci_high: float
    n_positive: int
    n_negative: int
    confidence: float = 0.95
    positive: Any = None

    auc_se = DeprecatedAlias("se")

    @property
    def n(self) -> int:
        """Number of cases."""
        return self.n_positive + self.n_negative

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: AUC (with DeLong CI), both standard errors, and the class sizes.

        The Hanley-McNeil row (statistic ``se_hanley_mcneil``) carries in ``ci_low``/``ci_high``
        the Wald interval of the AUC built from that SE.
        """
        n = self.n
        label = 1 if self.positive is None else self.positive
        return [
            row("auc", "estimate", self.auc, self.ci_low, self.ci_high, n=n, method=AUC_METHOD),
            row("auc", "se", self.se, n=n, method=AUC_METHOD),
            row(
                "auc",
                "se_hanley_mcneil",
                self.hanley_mcneil_se,
                self.hanley_mcneil_ci_low,
                self.hanley_mcneil_ci_high,
                n=n,
                method=HANLEY_MCNEIL_METHOD,
            ),
            row("n_positive", "count", self.n_positive, n=n, method=f"cases labelled {label!r}"),
            row(
                "n_negative", "count", self.n_negative, n=n, method=f"cases not labelled {label!r}"
            ),
        ]


@dataclass(frozen=True)
class DelongTestResult:
    """Paired DeLong comparison of two AUCs measured on the same cases.

    Attributes
    ----------
    auc_x, auc_y
        The AUCs of the scores ``x`` and ``y`` (formerly ``auc_a``, ``auc_b``: deprecated
        aliases).
    difference
        ``auc_x - auc_y``.
    se
        DeLong standard error of the difference,
        ``sqrt(var_x + var_y - 2·cov_xy)``.
    ci_low, ci_high
        Wald interval of the difference (not truncated; it lies in [-1, 1] in practice).
    z, p
        ``difference / se`` and its two-sided normal p-value. When ``se == 0`` (e.g. the
        same scores twice) ``z`` is 0 and ``p`` is 1 if the difference is 0, else ``±inf``
        and 0.
    correlation
        DeLong correlation of the two AUC estimates (NaN when a variance is 0).
    n_positive, n_negative
        Class sizes (``n`` is their sum).
    confidence
        Confidence level of the interval.
    """

    auc_x: float
    auc_y: float
    difference: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    correlation: float
    n_positive: int
    n_negative: int
    confidence: float = 0.95

    auc_a = DeprecatedAlias("auc_x")
    auc_b = DeprecatedAlias("auc_y")

    @property
    def n(self) -> int:
        """Number of cases."""
        return self.n_positive + self.n_negative

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: both AUCs, their difference (with CI and p), its SE and the z statistic."""
        n = self.n
        return [
            row("auc_x", "estimate", self.auc_x, n=n, method="Mann-Whitney AUC of x"),
            row("auc_y", "estimate", self.auc_y, n=n, method="Mann-Whitney AUC of y"),
            row(
                "auc_difference",
                "estimate",
                self.difference,
                self.ci_low,
                self.ci_high,
                p=self.p,
                n=n,
                method=DELONG_TEST_METHOD,
            ),
            row("auc_difference", "se", self.se, n=n, method=DELONG_TEST_METHOD),
            row("auc_difference", "z", self.z, p=self.p, n=n, method=DELONG_TEST_METHOD),
        ]


@keyword_only_since(2, "confidence")
def roc_curve_auc(
    y_true: ArrayLike, scores: ArrayLike, *, positive: Any = None, confidence: float = 0.95
) -> RocResult:
    """ROC curve and AUC with DeLong (1988) and Hanley-McNeil (1982) confidence intervals.

    Parameters
    ----------
    y_true
        Reference standard, 1-D; both classes must be present.
    scores
        Finite 1-D scores, higher meaning more likely positive; same length as ``y_true``.
        Binary decisions are allowed (the AUC is then ``(sensitivity + specificity) / 2``).
    positive
        The label in ``y_true`` that marks a positive case (e.g. ``"DMD"``); ``y_true`` may then
        hold any two labels. None (default): labels must be 0/1 or booleans, 1 positive.
    confidence
        Two-sided confidence level in (0, 1), keyword-only (by position: deprecated).

    Returns
    -------
    RocResult

    Raises
    ------
    ValueError
        Empty input, unequal lengths, NaN or infinite scores, labels other than 0/1 without
        ``positive``, more than two labels, ``positive`` not among the labels, or only one
        class present; the message names the offending argument.
    """
    confidence = check_confidence(confidence)
    truth, score_matrix = _validate_roc_input(y_true, {"scores": scores}, positive)
    aucs, cov, n_pos, n_neg = _fast_delong(truth, score_matrix)
    auc = float(aucs[0])
    se = math.sqrt(cov[0, 0]) if np.isfinite(cov[0, 0]) else NAN
    if se == 0.0:
        logger.debug("AUC %.4f has zero DeLong variance (classes perfectly separated)", auc)
    ci_low, ci_high = _wald(auc, se, confidence)
    hm_se = hanley_mcneil_se(auc, n_pos, n_neg)
    hm_low, hm_high = _wald(auc, hm_se, confidence)
    fpr, tpr, thresholds = roc_curve(truth, score_matrix[0], pos_label=1)
    return RocResult(
        fpr=_readonly(fpr),
        tpr=_readonly(tpr),
        thresholds=_readonly(thresholds),
        auc=auc,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        hanley_mcneil_se=hm_se,
        hanley_mcneil_ci_low=hm_low,
        hanley_mcneil_ci_high=hm_high,
        n_positive=n_pos,
        n_negative=n_neg,
        confidence=confidence,
        positive=_plain(positive),
    )


@renamed_arguments(scores_a="x", scores_b="y")
@keyword_only_since(3, "confidence")
def delong_test(
    y_true: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    *,
    positive: Any = None,
    confidence: float = 0.95,
) -> DelongTestResult:
    """Paired DeLong test that two correlated AUCs (same cases) are equal.

    Parameters
    ----------
    y_true
        Reference standard, 1-D; both classes must be present.
    x, y
        Finite 1-D scores of the two readers/models on the same cases, in the same order
        (formerly ``scores_a``, ``scores_b``: deprecated keyword aliases).
    positive
        The label in ``y_true`` that marks a positive case; None (default): 0/1 labels.
    confidence
        Two-sided confidence level for the interval of ``auc_x - auc_y``, keyword-only (by
        position: deprecated).

    Returns
    -------
    DelongTestResult

    Raises
    ------
    ValueError
        As for :func:`roc_curve_auc`, for any of the three arrays; also when either class has
        fewer than 2 cases (the DeLong covariance needs at least 2 per class).
    """
    confidence = check_confidence(confidence)
    truth, score_matrix = _validate_roc_input(y_true, {"x": x, "y": y}, positive)
    aucs, cov, n_pos, n_neg = _fast_delong(truth, score_matrix)
    if min(n_pos, n_neg) < 2:
        raise ValueError(
            "y_true needs at least 2 cases of each class for the DeLong test, got "
            f"{n_pos} positive and {n_neg} negative"
        )
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = math.sqrt(max(variance, 0.0))
    # Exactly-equal score vectors give a variance of ~1e-18 rather than 0: treat as 0.
    if se <= 1e-12 * max(1.0, math.sqrt(cov[0, 0] + cov[1, 1])):
        se = 0.0
    if se == 0.0:
        z = 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
        p = 1.0 if difference == 0.0 else 0.0
    else:
        z = difference / se
        p = float(2.0 * norm.sf(abs(z)))
    half = critical_z(confidence) * se
    denom = math.sqrt(cov[0, 0] * cov[1, 1])
    return DelongTestResult(
        auc_x=float(aucs[0]),
        auc_y=float(aucs[1]),
        difference=difference,
        se=se,
        ci_low=difference - half,
        ci_high=difference + half,
        z=z,
        p=p,
        correlation=float(cov[0, 1] / denom) if denom > 0 else NAN,
        n_positive=n_pos,
        n_negative=n_neg,
        confidence=confidence,
    )


def _validate_roc_input(
    y_true: ArrayLike, named_scores: dict[str, ArrayLike], positive: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean labels and a (k, N) float score matrix, or a ValueError naming the culprit."""
    positive = _plain(positive)
    truth = binary_labels(y_true, "y_true", positive=positive)
    if positive is not None and not truth.any():
        labels = pd.unique(np.asarray(y_true))[:5].tolist()
        raise ValueError(
            f"positive={positive!r} is not among the labels of y_true ({labels}); "
            "pass the label that marks a positive case"
        )
    rows = []
    for name, values in named_scores.items():
        array = as_1d(values, name)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
        array = array.astype(float)
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains infinite values")
        check_same_length(truth, array, "y_true", name)
        rows.append(array)
    n_pos = int(truth.sum())
    if n_pos == 0 or n_pos == truth.size:
        if positive is None:
            present = f"class {1 if n_pos else 0}"
        else:
            present = f"the positive class {positive!r}" if n_pos else "negative cases"
        raise ValueError(
            f"y_true contains only {present}; an ROC curve needs both classes (positive and "
            "negative)"
        )
    return truth, np.vstack(rows)


def _fast_delong(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """AUCs and their DeLong covariance matrix for k score vectors on the same cases.

    Sun & Xu (2014): with midranks ``T_z`` over all cases, ``T_x`` within positives and
    ``T_y`` within negatives,

        AUC   = (sum_i T_z(X_i) - m(m+1)/2) / (m·n)
        V10_i = (T_z(X_i) - T_x(X_i)) / n
        V01_j = 1 - (T_z(Y_j) - T_y(Y_j)) / m

    which equal DeLong's structural components (ties count one half).

    Parameters
    ----------
    truth
        Boolean labels, shape (N,).
    scores
        Score matrix, shape (k, N).

    Returns
    -------
    aucs : ndarray, shape (k,)
    cov : ndarray, shape (k, k)
        ``S10/m + S01/n``; NaN when a class has fewer than 2 cases.
    m, n : int
        Number of positive and negative cases.
    """
    positives = scores[:, truth]
    negatives = scores[:, ~truth]
    m = positives.shape[1]
    n = negatives.shape[1]
    ranks_x = rankdata(positives, method="average", axis=1)
    ranks_y = rankdata(negatives, method="average", axis=1)
    ranks_z = rankdata(np.hstack([positives, negatives]), method="average", axis=1)
    aucs = (ranks_z[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (ranks_z[:, :m] - ranks_x) / n
    v01 = 1.0 - (ranks_z[:, m:] - ranks_y) / m
    k = scores.shape[0]
    if m < 2 or n < 2:
        return aucs, np.full((k, k), NAN), m, n
    d10 = v10 - v10.mean(axis=1, keepdims=True)
    d01 = v01 - v01.mean(axis=1, keepdims=True)
    cov = (d10 @ d10.T) / ((m - 1) * m) + (d01 @ d01.T) / ((n - 1) * n)
    return aucs, cov, m, n
