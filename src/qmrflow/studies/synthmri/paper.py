"""The published numbers of the synthmri paper, and the table that puts ours beside them.

"Two-Minute Deep Learning-Powered Brain Quantitative Mapping: Accelerating Clinical Imaging with
Synthetic MRI", JMIR Medical Informatics (accepted December 2025). 151 healthy subjects;
agreement of the DL (super-resolved fast protocol) maps with the routine maps over tissues and
brain regions: linear-regression R² 0.98 (T1), 0.97 (T2), 0.99 (PD), p < 0.0001; paired t-tests
on lesion values: no difference (p = 0.67, 0.73, 0.75).
"""

from __future__ import annotations

import pandas as pd

from qmrflow.stats.paper import (
    PAPER_COMPARISON_COLUMNS,
    PaperValue,
    lookup_estimate,
    paper_comparison_table,
)

__all__ = [
    "LESION_TTEST_P",
    "MEASURE_LESION_P",
    "MEASURE_R_SQUARED",
    "PAPER",
    "PAPER_COMPARISON_COLUMNS",
    "R_SQUARED",
    "comparison_name",
    "paper_comparison",
]

STUDY = "synthmri"

PAPER = (
    "Two-Minute Deep Learning-Powered Brain Quantitative Mapping: Accelerating Clinical "
    "Imaging with Synthetic MRI. JMIR Medical Informatics (accepted December 2025)"
)

#: R² of the linear regression of DL on routine ROI values (tissues and regions), per map.
R_SQUARED: dict[str, float] = {"T1": 0.98, "T2": 0.97, "PD": 0.99}
#: p of the paired t-test DL vs routine on lesion values, per map.
LESION_TTEST_P: dict[str, float] = {"T1": 0.67, "T2": 0.73, "PD": 0.75}

#: Measure names of the paper-comparison table.
MEASURE_R_SQUARED = "R² DL vs routine (tissues+regions)"
MEASURE_LESION_P = "paired t-test p DL vs routine (lesions)"


def comparison_name(method: str, map_name: str, rois: str) -> str:
    """Comparison string of the statistics table, e.g. ``"DL vs routine: T1 (lesions)"``."""
    return f"{method} vs routine: {map_name} ({rois})"


def paper_comparison(statistics: pd.DataFrame) -> pd.DataFrame:
    """The paper's R² and lesion p-values beside the same numbers from a statistics table.

    Parameters
    ----------
    statistics
        The study's tidy statistics table (:func:`qmrflow.studies.synthmri.evaluate.
        evaluate_study`); looked up by comparison ``"DL vs routine: <map> (tissues+regions)"``
        measure ``r_squared`` and ``"DL vs routine: <map> (lesions)"`` measure
        ``mean_difference`` (its raw, unadjusted p, as the paper reports).

    Returns
    -------
    pandas.DataFrame
        The common layout :data:`~qmrflow.stats.PAPER_COMPARISON_COLUMNS`
        (:func:`qmrflow.stats.paper_comparison_table`): one row per map and measure, the map in
        ``comparison``; ``ours`` is NaN where this run has no such number (e.g. fewer than 2
        lesions).

    Raises
    ------
    ValueError
        ``statistics`` lacks a needed column.
    """
    missing = [
        c for c in ("comparison", "measure", "statistic", "value", "p") if c not in statistics
    ]
    if missing:
        raise ValueError(f"statistics table lacks column(s) {missing}")
    rows = []
    for map_name, value in R_SQUARED.items():
        comparison = comparison_name("DL", map_name, "tissues+regions")
        ours, low, high = lookup_estimate(statistics, comparison, "r_squared")
        rows.append(PaperValue(STUDY, MEASURE_R_SQUARED, value, ours, low, high, comparison, PAPER))
    for map_name, value in LESION_TTEST_P.items():
        comparison = comparison_name("DL", map_name, "lesions")
        ours = lookup_estimate(statistics, comparison, "mean_difference", "p")[0]
        note = "raw (unadjusted) p, as the paper reports"
        rows.append(
            PaperValue(
                STUDY,
                MEASURE_LESION_P,
                value,
                ours,
                comparison=comparison,
                paper_source=PAPER,
                note=note,
            )
        )
    return paper_comparison_table(rows)
