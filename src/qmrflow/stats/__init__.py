"""Group statistics for reproduced studies.

Every estimate carries its interval and the method that produced it, every function checks its
input and names the offending argument, and every result turns into long-format rows
(:func:`tidy`) so that tables for papers are assembled, not hand-copied.

Public API
----------
Diagnostic accuracy (:mod:`qmrflow.stats.diagnostic`)
    :func:`wilson_ci`, :func:`clopper_pearson_ci`, :class:`Proportion`, :class:`RatioEstimate`,
    :func:`diagnostic_odds_ratio`, :func:`diagnostic_metrics` -> :class:`DiagnosticMetrics`
ROC analysis (:mod:`qmrflow.stats.roc`)
    :func:`roc_curve_auc` -> :class:`RocResult` (DeLong and Hanley-McNeil SEs),
    :func:`hanley_mcneil_se`, :func:`delong_test` -> :class:`DelongTestResult`
Agreement (:mod:`qmrflow.stats.agreement`, :mod:`qmrflow.stats.ratings`)
    :func:`cohen_kappa` (unweighted, linear or quadratic weights), :func:`fleiss_kappa` (raw
    ratings or a count table) -> :class:`KappaResult`; :func:`rating_agreement` (per rater,
    kappa and Wilcoxon test between two methods, from a long table of scores)
Location tests (:mod:`qmrflow.stats.ttest`, :mod:`qmrflow.stats.ranks`)
    :func:`paired_ttest` -> :class:`PairedTTestResult`,
    :func:`two_sample_ttest` (Student or Welch) -> :class:`TwoSampleTTestResult`,
    :func:`wilcoxon_signed_rank` -> :class:`WilcoxonResult`,
    :func:`mann_whitney_u` -> :class:`MannWhitneyResult`
Method comparison (:mod:`qmrflow.stats.bland_altman`, :mod:`qmrflow.stats.comparison`)
    :func:`bland_altman` -> :class:`BlandAltmanResult`;
    :func:`compare_pair` (regression, Bland-Altman, paired t-test) -> :class:`MethodComparison`,
    :func:`paired_values`, :func:`compare_methods` (every method against a reference, tidy);
    intraclass correlation (:mod:`qmrflow.stats.icc`) :func:`icc` -> :class:`IccResult`
Association (:mod:`qmrflow.stats.correlation`, :mod:`qmrflow.stats.regression`)
    :func:`correlation` (and :func:`pearson`, :func:`spearman`, :func:`kendall`)
    -> :class:`CorrelationResult`; :func:`linear_regression` -> :class:`RegressionResult`;
    :func:`multiple_regression` (several predictors) -> :class:`MultipleRegressionResult`
Multiple comparisons (:mod:`qmrflow.stats.multiplicity`)
    :func:`adjust_p` (one family), :func:`adjust_table` (across a tidy table)
Paper comparison (:mod:`qmrflow.stats.paper`)
    :func:`paper_comparison_table`, :class:`PaperValue`, :func:`lookup_estimate`,
    :data:`PAPER_COMPARISON_COLUMNS`
Tables (:mod:`qmrflow.stats.tidy`)
    :func:`tidy`, :func:`write_tidy`, :func:`read_tidy`, :data:`TIDY_COLUMNS`,
    :class:`SupportsRows`

Names are shared across functions (README, "Statistics"): ``x``, ``y`` for two measurements,
``confidence`` keyword-only; results use ``ci_low``/``ci_high``, ``se``, ``p``, ``n``. Older
names still work as deprecated aliases (:mod:`qmrflow.stats._compat`).
"""

from qmrflow.stats.agreement import KappaResult, cohen_kappa, fleiss_kappa
from qmrflow.stats.bland_altman import BlandAltmanResult, bland_altman
from qmrflow.stats.comparison import (
    MethodComparison,
    compare_methods,
    compare_pair,
    paired_values,
)
from qmrflow.stats.correlation import CorrelationResult, correlation, kendall, pearson, spearman
from qmrflow.stats.diagnostic import (
    DiagnosticMetrics,
    Proportion,
    RatioEstimate,
    clopper_pearson_ci,
    diagnostic_metrics,
    diagnostic_odds_ratio,
    wilson_ci,
)
from qmrflow.stats.icc import IccResult, icc
from qmrflow.stats.multiplicity import adjust_p, adjust_table
from qmrflow.stats.ols import Coefficient, MultipleRegressionResult, multiple_regression
from qmrflow.stats.paper import (
    PAPER_COMPARISON_COLUMNS,
    PaperValue,
    lookup_estimate,
    paper_comparison_table,
)
from qmrflow.stats.ranks import (
    MannWhitneyResult,
    WilcoxonResult,
    mann_whitney_u,
    wilcoxon_signed_rank,
)
from qmrflow.stats.ratings import rating_agreement
from qmrflow.stats.regression import RegressionResult, linear_regression
from qmrflow.stats.roc import (
    DelongTestResult,
    RocResult,
    delong_test,
    hanley_mcneil_se,
    roc_curve_auc,
)
from qmrflow.stats.tidy import TIDY_COLUMNS, SupportsRows, read_tidy, tidy, write_tidy
from qmrflow.stats.ttest import (
    PairedTTestResult,
    TwoSampleTTestResult,
    paired_ttest,
    two_sample_ttest,
)

__all__ = [
    "PAPER_COMPARISON_COLUMNS",
    "TIDY_COLUMNS",
    "BlandAltmanResult",
    "Coefficient",
    "CorrelationResult",
    "DelongTestResult",
    "DiagnosticMetrics",
    "IccResult",
    "KappaResult",
    "MannWhitneyResult",
    "MethodComparison",
    "MultipleRegressionResult",
    "PairedTTestResult",
    "PaperValue",
    "Proportion",
    "RatioEstimate",
    "RegressionResult",
    "RocResult",
    "SupportsRows",
    "TwoSampleTTestResult",
    "WilcoxonResult",
    "adjust_p",
    "adjust_table",
    "bland_altman",
    "clopper_pearson_ci",
    "cohen_kappa",
    "compare_methods",
    "compare_pair",
    "correlation",
    "delong_test",
    "diagnostic_metrics",
    "diagnostic_odds_ratio",
    "fleiss_kappa",
    "hanley_mcneil_se",
    "icc",
    "kendall",
    "linear_regression",
    "lookup_estimate",
    "mann_whitney_u",
    "multiple_regression",
    "paired_ttest",
    "paired_values",
    "paper_comparison_table",
    "pearson",
    "rating_agreement",
    "read_tidy",
    "roc_curve_auc",
    "spearman",
    "tidy",
    "two_sample_ttest",
    "wilcoxon_signed_rank",
    "wilson_ci",
    "write_tidy",
]
