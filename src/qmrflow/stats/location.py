"""Location tests: paired t-test, Wilcoxon signed-rank test and Mann-Whitney U test.

The tests live in :mod:`qmrflow.stats.ttest` (paired t-test, Cohen's d_z) and
:mod:`qmrflow.stats.ranks` (Wilcoxon signed-rank, Mann-Whitney U); this module gathers them
under one name, as :mod:`qmrflow.stats` does.
"""

from qmrflow.stats.ranks import (
    EXACT_BELOW_N,
    P_EXACT,
    P_NORMAL,
    P_NORMAL_CC,
    RANK_METHODS,
    MannWhitneyResult,
    WilcoxonResult,
    mann_whitney_u,
    wilcoxon_signed_rank,
)
from qmrflow.stats.ttest import (
    ALTERNATIVES,
    DZ_CI_NCT,
    DZ_CI_NORMAL,
    PairedTTestResult,
    paired_ttest,
)

__all__ = [
    "ALTERNATIVES",
    "DZ_CI_NCT",
    "DZ_CI_NORMAL",
    "EXACT_BELOW_N",
    "P_EXACT",
    "P_NORMAL",
    "P_NORMAL_CC",
    "RANK_METHODS",
    "MannWhitneyResult",
    "PairedTTestResult",
    "WilcoxonResult",
    "mann_whitney_u",
    "paired_ttest",
    "wilcoxon_signed_rank",
]
