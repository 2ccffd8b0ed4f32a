"""Empirical ROC curve, AUC with DeLong confidence interval, and the paired DeLong test.

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

Confidence intervals are Wald intervals ``AUC ± z·SE`` truncated to [0, 1].
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_curve

from qmrflow.stats._checks import (
    NAN,
    as_1d,
    binary_labels,
    check_confidence,
    check_same_length,
    critical_z,
    row,
)

__all__ = ["DelongTestResult", "RocResult", "delong_test", "roc_curve_auc"]

logger = logging.getLogger(__name__)

AUC_METHOD = (
    "Mann-Whitney AUC; DeLong et al. (1988) variance via Sun & Xu (2014) midranks; "
    "Wald CI truncated to [0, 1]"
)
DELONG_TEST_METHOD = "paired DeLong et al. (1988) test of two correlated AUCs; two-sided z test"


def _readonly(array: ArrayLike) -> np.ndarray:
    out = np.array(array, dtype=float, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class RocResult:
    """Empirical ROC curve with the AUC and its DeLong confidence interval.

    Attributes
    ----------
    fpr, tpr, thresholds
        Read-only arrays from :func:`sklearn.metrics.roc_curve` (``thresholds[0]`` is ``inf``,
        the point (0, 0)). ``fpr`` is 1 - specificity and ``tpr`` is sensitivity.
    auc
        Area under the empirical curve (ties count one half).
    auc_se
        DeLong standard error; NaN when either class has fewer than 2 cases, 0 when the
        classes are perfectly separated (the DeLong variance is then degenerate).
    ci_low, ci_high
        ``auc ∓ z·auc_se`` truncated to [0, 1]; NaN when ``auc_se`` is NaN.
    n_positive, n_negative
        Number of cases labelled 1 and 0.
    confidence
        Confidence level of the interval.
    """

    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    auc: float
    auc_se: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int
    confidence: float = 0.95

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: AUC (with CI), its standard error, and the class sizes."""
        n = self.n_positive + self.n_negative
        return [
            row("auc", "estimate", self.auc, self.ci_low, self.ci_high, n=n, method=AUC_METHOD),
            row("auc", "se", self.auc_se, n=n, method=AUC_METHOD),
            row("n_positive", "count", self.n_positive, n=n, method="cases labelled 1"),
            row("n_negative", "count", self.n_negative, n=n, method="cases labelled 0"),
        ]


@dataclass(frozen=True)
class DelongTestResult:
    """Paired DeLong comparison of two AUCs measured on the same cases.

    Attributes
    ----------
    auc_a, auc_b
        The two AUCs.
    difference
        ``auc_a - auc_b``.
    se
        DeLong standard error of the difference,
        ``sqrt(var_a + var_b - 2·cov_ab)``.
    ci_low, ci_high
        Wald interval of the difference (not truncated; it lies in [-1, 1] in practice).
    z, p
        ``difference / se`` and its two-sided normal p-value. When ``se == 0`` (e.g. the
        same scores twice) ``z`` is 0 and ``p`` is 1 if the difference is 0, else ``±inf``
        and 0.
    correlation
        DeLong correlation of the two AUC estimates (NaN when a variance is 0).
    n_positive, n_negative
        Class sizes.
    confidence
        Confidence level of the interval.
    """

    auc_a: float
    auc_b: float
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

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: both AUCs, their difference (with CI and p), its SE and the z statistic."""
        n = self.n_positive + self.n_negative
        return [
            row("auc_a", "estimate", self.auc_a, n=n, method="Mann-Whitney AUC"),
            row("auc_b", "estimate", self.auc_b, n=n, method="Mann-Whitney AUC"),
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


def roc_curve_auc(y_true: ArrayLike, scores: ArrayLike, confidence: float = 0.95) -> RocResult:
    """ROC curve and AUC with a DeLong (1988) confidence interval.

    Parameters
    ----------
    y_true
        Reference standard, 1-D, values in {0, 1}; both classes must be present.
    scores
        Finite 1-D scores, higher meaning more likely positive; same length as ``y_true``.
        Binary decisions are allowed (the AUC is then ``(sensitivity + specificity) / 2``).
    confidence
        Two-sided confidence level in (0, 1).

    Returns
    -------
    RocResult

    Raises
    ------
    ValueError
        Empty input, unequal lengths, NaN or infinite scores, labels other than 0/1, or only
        one class present; the message names the offending argument.
    """
    confidence = check_confidence(confidence)
    truth, score_matrix = _validate_roc_input(y_true, {"scores": scores})
    aucs, cov, n_pos, n_neg = _fast_delong(truth, score_matrix)
    auc = float(aucs[0])
    se = math.sqrt(cov[0, 0]) if np.isfinite(cov[0, 0]) else NAN
    if se == 0.0:
        logger.debug("AUC %.4f has zero DeLong variance (classes perfectly separated)", auc)
    half = critical_z(confidence) * se
    fpr, tpr, thresholds = roc_curve(truth, score_matrix[0], pos_label=1)
    return RocResult(
        fpr=_readonly(fpr),
        tpr=_readonly(tpr),
        thresholds=_readonly(thresholds),
        auc=auc,
        auc_se=se,
        ci_low=max(0.0, auc - half) if np.isfinite(half) else NAN,
        ci_high=min(1.0, auc + half) if np.isfinite(half) else NAN,
        n_positive=n_pos,
        n_negative=n_neg,
        confidence=confidence,
    )


def delong_test(
    y_true: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, confidence: float = 0.95
) -> DelongTestResult:
    """Paired DeLong test that two correlated AUCs (same cases) are equal.

    Parameters
    ----------
    y_true
        Reference standard, 1-D, values in {0, 1}; both classes must be present.
    scores_a, scores_b
        Finite 1-D scores of the two readers/models on the same cases, in the same order.
    confidence
        Two-sided confidence level for the interval of ``auc_a - auc_b``.

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
    truth, score_matrix = _validate_roc_input(y_true, {"scores_a": scores_a, "scores_b": scores_b})
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
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
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
    y_true: ArrayLike, named_scores: dict[str, ArrayLike]
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean labels and a (k, N) float score matrix, or a ValueError naming the culprit."""
    truth = binary_labels(y_true, "y_true")
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
        present = 1 if n_pos else 0
        raise ValueError(
            f"y_true contains only class {present}; an ROC curve needs both classes (0 and 1)"
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
