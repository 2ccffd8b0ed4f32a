"""The breathing paper's findings beside ours.

Zeng, Al-Bourini, Lettermann, ..., Frahm, Uecker, Seif Amir Hosseini, Schmidt. "Real-Time MRI
With Deep Learning for Efficient Evaluation of Neuromuscular Breathing Impairment." MedComm 2026.
11 late-onset Pompe patients vs 11 matched controls; real-time radial FLASH at 50 ms per frame,
reconstructed by NLINV online on GPUs (up to 30 frames/s); U-Net lung segmentation. Patients had
reduced diaphragm motion, reduced sniff velocity and pathological diaphragm-thorax
synchronicity; 7 of 11 showed paradoxical diaphragm motion that lung function tests missed;
diaphragm T1 (fatty involution) correlated with the real-time measures and lung function.

Findings the study description states without a number are rows with ``paper`` NaN and the
direction in the note; ours is the patients-to-controls ratio of the group medians (or the
Spearman rho) so a reader can check the direction.
"""

from __future__ import annotations

import math

import pandas as pd

from qmrflow.stats.paper import PaperValue, paper_comparison_table

__all__ = ["PAPER", "PAPER_FPS", "PARADOXICAL_PATIENTS", "paper_comparison"]

STUDY = "breathing"
PAPER = "Zeng et al., MedComm 2026"
#: Patients with paradoxical diaphragm motion: 7 of 11.
PARADOXICAL_PATIENTS = (7, 11)
#: Online NLINV reconstruction speed on GPUs (frames per second).
PAPER_FPS = 30.0
#: The reconstruction whose measures are compared with the paper's.
METHOD = "sense"


def _group_medians(subjects: pd.DataFrame, column: str) -> tuple[float, float]:
    """Median of ``column`` over the patients and over the controls (SENSE; NaN if absent)."""
    rows = subjects[subjects["method"] == METHOD]
    if column not in rows:
        return math.nan, math.nan
    groups = rows.groupby("group")[column].median()
    return float(groups.get("patient", math.nan)), float(groups.get("control", math.nan))


def _ratio(subjects: pd.DataFrame, column: str) -> float:
    patients, controls = _group_medians(subjects, column)
    return patients / controls if controls else math.nan


def _difference(subjects: pd.DataFrame, column: str) -> float:
    patients, controls = _group_medians(subjects, column)
    return patients - controls


def _spearman(statistics: pd.DataFrame, comparison: str) -> tuple[float, float, float]:
    rows = statistics[
        (statistics["comparison"] == comparison)
        & (statistics["statistic"] == "estimate")
        & (statistics["measure"].str.contains("spearman"))
    ]
    if rows.empty:
        return math.nan, math.nan, math.nan
    row = rows.iloc[0]
    return float(row["value"]), float(row["ci_low"]), float(row["ci_high"])


def paper_comparison(
    subjects: pd.DataFrame,
    statistics: pd.DataFrame,
    accuracy: pd.DataFrame | None,
    timing: pd.DataFrame,
) -> pd.DataFrame:
    """The paper-comparison table (:func:`qmrflow.stats.paper_comparison_table`)."""
    rows = subjects[subjects["method"] == METHOD]
    patients = rows[rows["group"] == "patient"]
    columns = [c for c in ("sniff_right_paradoxical", "sniff_left_paradoxical") if c in rows]
    flagged = patients[columns].fillna(0).astype(bool).any(axis=1) if columns else patients.iloc[:0]
    fraction = float(flagged.mean()) if len(flagged) else math.nan
    speed = timing[timing["method"] == METHOD]["frames_per_second"]
    rho = _spearman(statistics, f"{METHOD}: diaphragm_t1 vs fvc_upright_pct")
    values = [
        PaperValue(
            STUDY,
            "fraction of patients with paradoxical diaphragm motion",
            PARADOXICAL_PATIENTS[0] / PARADOXICAL_PATIENTS[1],
            ours=fraction,
            comparison=f"{METHOD}: paradoxical diaphragm motion, patients",
            paper_source=PAPER,
            note=f"paper 7 of 11; ours {int(flagged.sum())} of {len(flagged)} test patients",
        ),
        PaperValue(
            STUDY,
            "deep-breathing diaphragm excursion, patients / controls (right)",
            math.nan,
            ours=_ratio(subjects, "breathing_right_excursion"),
            paper_source=PAPER,
            note="paper: reduced in patients (< 1); ours: ratio of group medians",
        ),
        PaperValue(
            STUDY,
            "deep-breathing diaphragm excursion, patients / controls (left)",
            math.nan,
            ours=_ratio(subjects, "breathing_left_excursion"),
            paper_source=PAPER,
            note="paper: reduced in patients (< 1); ours: ratio of group medians",
        ),
        PaperValue(
            STUDY,
            "peak sniff velocity, patients / controls (right)",
            math.nan,
            ours=_ratio(subjects, "sniff_right_peak_velocity"),
            paper_source=PAPER,
            note="paper: reduced in patients (< 1); ours: ratio of group medians",
        ),
        PaperValue(
            STUDY,
            "diaphragm-thorax lag, patients - controls (s, right)",
            math.nan,
            ours=_difference(subjects, "breathing_right_synchronicity_lag"),
            paper_source=PAPER,
            note="paper: pathological synchronicity in patients; ours: difference of medians",
        ),
        PaperValue(
            STUDY,
            "Spearman rho, diaphragm T1 vs FVC upright",
            math.nan,
            ours=rho[0],
            ours_ci_low=rho[1],
            ours_ci_high=rho[2],
            comparison=f"{METHOD}: diaphragm_t1 vs fvc_upright_pct",
            paper_source=PAPER,
            note="paper: diaphragm T1 (fatty involution) correlated with lung function (> 0)",
        ),
        PaperValue(
            STUDY,
            "reconstruction speed (frames/s)",
            PAPER_FPS,
            ours=float(speed.median()) if len(speed) else math.nan,
            paper_source=PAPER,
            note="paper: NLINV online on GPUs; ours: CG-SENSE on this machine's CPU",
        ),
    ]
    if accuracy is not None and not accuracy.empty:
        dice = accuracy[
            (accuracy["method"] == METHOD) & accuracy["measure"].str.startswith("dice_")
        ]["value"]
        values.append(
            PaperValue(
                STUDY,
                "lung Dice against the truth (demo)",
                math.nan,
                ours=float(dice.mean()) if len(dice) else math.nan,
                paper_source=PAPER,
                note="not reported by the paper; the issue's target is >= 0.95",
            )
        )
    return paper_comparison_table(values)
