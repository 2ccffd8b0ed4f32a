"""The published numbers of the perfusion paper, the comparison names, and the paper table.

Schueler, Wong, Crawley, Pluim, Chiribiri, Scannell. "Deep learning motion correction of
quantitative stress perfusion cardiovascular magnetic resonance." JCMR 2026 (102697). 38 held-out
patients: myocardial Dice after alignment 0.92 (DL) vs 0.91 (iterative) vs 0.80 (none); temporal
smoothness of the time-intensity curves improved (p < 0.001); MBF maps smoother, median segment SD
0.52 (DL) vs 0.55 (iterative) ml/min/g; the DL pipeline 15x faster than the iterative one.

The comparison names of the study's tidy statistics table are built here (one place), so that
:mod:`~qmrflow.studies.perfusion.evaluate`, the figures and this table agree.
"""

from __future__ import annotations

import pandas as pd

from qmrflow.stats.paper import (
    PAPER_COMPARISON_COLUMNS,
    PaperValue,
    lookup_estimate,
    paper_comparison_table,
)
from qmrflow.studies.perfusion.study import METHODS

__all__ = [
    "DICE",
    "MEASURE_DICE",
    "MEASURE_SEGMENT_SD",
    "MEASURE_SMOOTHNESS_P",
    "MEASURE_SPEED_RATIO",
    "METHODS",
    "METHOD_LABELS",
    "PAPER",
    "PAPER_COMPARISON_COLUMNS",
    "SEGMENT_SD",
    "SMOOTHNESS_P",
    "SPEED_RATIO",
    "STUDY",
    "paired_comparison",
    "paper_comparison",
    "segment_comparison",
    "speed_comparison",
    "subject_comparison",
    "truth_comparison",
]

STUDY = "perfusion"
PAPER = "Schueler et al., JCMR 2026 (102697)"

METHOD_LABELS: dict[str, str] = {"none": "none", "iterative": "iterative", "dl": "DL"}

#: Mean myocardial Dice after alignment, per method.
DICE: dict[str, float] = {"dl": 0.92, "iterative": 0.91, "none": 0.80}
#: Median MBF segment SD (ml/min/g), per method.
SEGMENT_SD: dict[str, float] = {"dl": 0.52, "iterative": 0.55}
#: Processing time iterative / DL.
SPEED_RATIO = 15.0
#: The paper reports "p < 0.001" for the improved temporal smoothness: recorded as its bound.
SMOOTHNESS_P = 0.001

MEASURE_DICE = "myocardial Dice (mean over subjects)"
MEASURE_SEGMENT_SD = "median MBF segment SD (ml/min/g)"
MEASURE_SPEED_RATIO = "speed ratio iterative / DL"
MEASURE_SMOOTHNESS_P = "temporal smoothness DL vs none, p"


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def subject_comparison(method: str) -> str:
    """Per-subject summaries of one method, e.g. ``"DL: per subject"``."""
    return f"{_label(method)}: per subject"


def segment_comparison(method: str) -> str:
    """Summaries over every segment of every subject, e.g. ``"DL: per segment"``."""
    return f"{_label(method)}: per segment"


def paired_comparison(x: str, y: str, outcome: str) -> str:
    """A paired comparison of subject values, e.g. ``"DL vs iterative: dice"``."""
    return f"{_label(x)} vs {_label(y)}: {outcome}"


def truth_comparison(method: str, what: str) -> str:
    """A method against the demo's truth, e.g. ``"DL vs truth: MBF error (segments)"``."""
    return f"{_label(method)} vs truth: {what}"


def speed_comparison() -> str:
    """The speed ratio's comparison, ``"iterative vs DL: speed"``."""
    return "iterative vs DL: speed"


def paper_comparison(statistics: pd.DataFrame) -> pd.DataFrame:
    """The paper's numbers beside the same numbers from a statistics table.

    Parameters
    ----------
    statistics
        The study's tidy statistics table (:func:`qmrflow.studies.perfusion.evaluate.
        evaluate_study`). Looked up: ``"<method>: per subject"`` measure ``dice`` statistic
        ``mean``; ``"<method>: per segment"`` measure ``pixel_mbf_sd`` statistic ``median``;
        ``"iterative vs DL: speed"`` measure ``speed_ratio`` statistic ``median``;
        ``"DL vs none: smoothness"`` measure ``wilcoxon_v`` (its Holm-adjusted p).

    Returns
    -------
    pandas.DataFrame
        :data:`~qmrflow.stats.PAPER_COMPARISON_COLUMNS`, one row per published number; ``ours``
        is NaN where this run has no such number.

    Raises
    ------
    ValueError
        ``statistics`` lacks a needed column.
    """
    missing = [
        c
        for c in ("comparison", "measure", "statistic", "value", "ci_low", "ci_high", "p_adjusted")
        if c not in statistics
    ]
    if missing:
        raise ValueError(f"statistics table lacks column(s) {missing}")
    rows = []
    for method in ("dl", "iterative", "none"):
        comparison = subject_comparison(method)
        ours = lookup_estimate(statistics, comparison, "dice", statistic="mean")
        note = (
            f"{_label(method)}; ours: mean over subjects (t interval) of each subject's mean "
            "myocardial Dice of every frame's segmentation vs the reference frame's"
        )
        rows.append(PaperValue(STUDY, MEASURE_DICE, DICE[method], *ours, comparison, PAPER, note))
    for method in ("dl", "iterative"):
        comparison = segment_comparison(method)
        ours = lookup_estimate(statistics, comparison, "pixel_mbf_sd", statistic="median")
        note = (
            f"{_label(method)}; ours: median over every segment of every subject of the SD of "
            "the pixel MBF in the segment (order-statistic CI)"
        )
        rows.append(
            PaperValue(
                STUDY, MEASURE_SEGMENT_SD, SEGMENT_SD[method], *ours, comparison, PAPER, note
            )
        )
    comparison = speed_comparison()
    ours = lookup_estimate(statistics, comparison, "speed_ratio", statistic="median")
    note = "ours: median over subjects of iterative seconds / DL seconds, the same run"
    rows.append(PaperValue(STUDY, MEASURE_SPEED_RATIO, SPEED_RATIO, *ours, comparison, PAPER, note))
    comparison = paired_comparison("dl", "none", "smoothness")
    ours_p = lookup_estimate(statistics, comparison, "wilcoxon_v", "p_adjusted")[0]
    note = (
        "paper: p < 0.001 (recorded as the bound 0.001); ours: Wilcoxon signed-rank p, Holm "
        "adjusted over the 3 method pairs"
    )
    rows.append(
        PaperValue(
            STUDY,
            MEASURE_SMOOTHNESS_P,
            SMOOTHNESS_P,
            ours_p,
            comparison=comparison,
            paper_source=PAPER,
            note=note,
        )
    )
    return paper_comparison_table(rows)
