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
    :func:`cohen_kappa` (unweighted, linear or quadratic weights), :func:`fleiss_kappa`
    -> :class:`KappaResult`
Location tests (:mod:`qmrflow.stats.location`)
    :func:`paired_ttest` -> :class:`PairedTTestResult`,
    :func:`wilcoxon_signed_rank` -> :class:`WilcoxonResult`,
    :func:`mann_whitney_u` -> :class:`MannWhitneyResult`
Method comparison (:mod:`qmrflow.stats.bland_altman`)
    :func:`bland_altman` -> :class:`BlandAltmanResult`;
    intraclass correlation (:mod:`qmrflow.stats.icc`) :func:`icc` -> :class:`IccResult`
Association (:mod:`qmrflow.stats.correlation`, :mod:`qmrflow.stats.regression`)
    :func:`correlation` (and :func:`pearson`, :func:`spearman`, :func:`kendall`)
    -> :class:`CorrelationResult`; :func:`linear_regression` -> :class:`RegressionResult`
Multiple comparisons (:mod:`qmrflow.stats.multiplicity`)
    :func:`adjust_p` (one family), :func:`adjust_table` (across a tidy table)
Tables (:mod:`qmrflow.stats.tidy`)
    :func:`tidy`, :func:`write_tidy`, :func:`read_tidy`, :data:`TIDY_COLUMNS`,
    :class:`SupportsRows`
"""

from qmrflow.stats.agreement import KappaResult, cohen_kappa, fleiss_kappa
from qmrflow.stats.bland_altman import BlandAltmanResult, bland_altman
from qmrflow.stats.correlation import CorrelationResult, correlation, kendall, pearson, spearman
from qmrflow.stats.diagnostic import (
    DiagnosticMetrics,
    Proportion,
    RatioEstimate,
    diagnostic_metrics,
    wilson_ci,
)
from qmrflow.stats.icc import IccResult, icc
from qmrflow.stats.location import (
    MannWhitneyResult,
    PairedTTestResult,
    WilcoxonResult,
    mann_whitney_u,
    paired_ttest,
    wilcoxon_signed_rank,
)
from qmrflow.stats.multiplicity import adjust_p, adjust_table
from qmrflow.stats.regression import RegressionResult, linear_regression
from qmrflow.stats.roc import DelongTestResult, RocResult, delong_test, roc_curve_auc
from qmrflow.stats.tidy import TIDY_COLUMNS, SupportsRows, read_tidy, tidy, write_tidy

__all__ = [
    "TIDY_COLUMNS",
    "BlandAltmanResult",
    "CorrelationResult",
    "DelongTestResult",
    "DiagnosticMetrics",
    "IccResult",
    "KappaResult",
    "MannWhitneyResult",
    "PairedTTestResult",
    "Proportion",
    "RatioEstimate",
    "RegressionResult",
    "RocResult",
    "SupportsRows",
    "WilcoxonResult",
    "adjust_p",
    "adjust_table",
    "bland_altman",
    "cohen_kappa",
    "correlation",
    "delong_test",
    "diagnostic_metrics",
    "fleiss_kappa",
    "icc",
    "kendall",
    "linear_regression",
    "mann_whitney_u",
    "paired_ttest",
    "pearson",
    "read_tidy",
    "roc_curve_auc",
    "spearman",
    "tidy",
    "wilcoxon_signed_rank",
    "wilson_ci",
    "write_tidy",
]
