"""The published numbers of the synthmri paper, and the table that puts ours beside them.

"Two-Minute Deep Learning-Powered Brain Quantitative Mapping: Accelerating Clinical Imaging with
Synthetic MRI", JMIR Medical Informatics (accepted December 2025). 151 healthy subjects;
agreement of the DL (super-resolved fast protocol) maps with the routine maps over tissues and
brain regions: linear-regression R² 0.98 (T1), 0.97 (T2), 0.99 (PD), p < 0.0001; paired t-tests
on lesion values: no difference (p = 0.67, 0.73, 0.75).
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = [
    "LESION_TTEST_P",
    "PAPER",
    "PAPER_COMPARISON_COLUMNS",
    "R_SQUARED",
    "paper_comparison",
]

PAPER = (
    "Two-Minute Deep Learning-Powered Brain Quantitative Mapping: Accelerating Clinical "
    "Imaging with Synthetic MRI. JMIR Medical Informatics (accepted December 2025)"
)

#: R² of the linear regression of DL on routine ROI values (tissues and regions), per map.
R_SQUARED: dict[str, float] = {"T1": 0.98, "T2": 0.97, "PD": 0.99}
#: p of the paired t-test DL vs routine on lesion values, per map.
LESION_TTEST_P: dict[str, float] = {"T1": 0.67, "T2": 0.73, "PD": 0.75}

PAPER_COMPARISON_COLUMNS: tuple[str, ...] = ("measure", "map", "paper", "ours")

#: Measure names of the paper-comparison table.
MEASURE_R_SQUARED = "R² DL vs routine (tissues+regions)"
MEASURE_LESION_P = "paired t-test p DL vs routine (lesions)"


def comparison_name(method: str, map_name: str, rois: str) -> str:
    """Comparison string of the statistics table, e.g. ``"DL vs routine: T1 (lesions)"``."""
    return f"{method} vs routine: {map_name} ({rois})"


def _estimate(statistics: pd.DataFrame, comparison: str, measure: str, column: str) -> float:
    hit = statistics[
        (statistics["comparison"] == comparison)
        & (statistics["measure"] == measure)
        & (statistics["statistic"] == "estimate")
    ]
    return float(hit.iloc[0][column]) if not hit.empty else math.nan


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
        Columns ``measure, map, paper, ours``; ``ours`` is NaN where this run has no such
        number (e.g. fewer than 2 lesions).

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
        ours = _estimate(
            statistics, comparison_name("DL", map_name, "tissues+regions"), "r_squared", "value"
        )
        rows.append({"measure": MEASURE_R_SQUARED, "map": map_name, "paper": value, "ours": ours})
    for map_name, value in LESION_TTEST_P.items():
        ours = _estimate(
            statistics, comparison_name("DL", map_name, "lesions"), "mean_difference", "p"
        )
        rows.append({"measure": MEASURE_LESION_P, "map": map_name, "paper": value, "ours": ours})
    return pd.DataFrame(rows, columns=list(PAPER_COMPARISON_COLUMNS))
