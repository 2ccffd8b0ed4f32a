"""Group statistics for reproduced studies.

Every estimate carries its interval and the method that produced it, every function checks its
input and names the offending argument, and every result turns into long-format rows
(:func:`tidy`) so that tables for papers are assembled, not hand-copied.

Public API
----------
Diagnostic accuracy (:mod:`qmrflow.stats.diagnostic`)
    :func:`wilson_ci`, :class:`Proportion`, :class:`RatioEstimate`,
    :func:`diagnostic_metrics` -> :class:`DiagnosticMetrics`
ROC analysis (:mod:`qmrflow.stats.roc`)
    :func:`roc_curve_auc` -> :class:`RocResult`, :func:`delong_test` -> :class:`DelongTestResult`
Agreement (:mod:`qmrflow.stats.agreement`)
    :func:`cohen_kappa`, :func:`fleiss_kappa` -> :class:`KappaResult`
Tables (:mod:`qmrflow.stats.tidy`)
    :func:`tidy`, :data:`TIDY_COLUMNS`, :class:`SupportsRows`
"""

from qmrflow.stats.agreement import KappaResult, cohen_kappa, fleiss_kappa
from qmrflow.stats.diagnostic import (
    DiagnosticMetrics,
    Proportion,
    RatioEstimate,
    diagnostic_metrics,
    wilson_ci,
)
from qmrflow.stats.roc import DelongTestResult, RocResult, delong_test, roc_curve_auc
from qmrflow.stats.tidy import TIDY_COLUMNS, SupportsRows, tidy

__all__ = [
    "TIDY_COLUMNS",
    "DelongTestResult",
    "DiagnosticMetrics",
    "KappaResult",
    "Proportion",
    "RatioEstimate",
    "RocResult",
    "SupportsRows",
    "cohen_kappa",
    "delong_test",
    "diagnostic_metrics",
    "fleiss_kappa",
    "roc_curve_auc",
    "tidy",
    "wilson_ci",
]
