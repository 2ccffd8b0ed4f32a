"""Group statistics of the breathing study: patients vs controls, lung function, accuracy.

Inputs are the per-subject tables of the test subjects (:mod:`.subject`, :mod:`.reconstruct`)
and the participants table. Written tables:

``subjects``
    One row per subject and reconstruction: group, lung function, diaphragm T1 and every
    measure as a column ``<task>_<side>_<measure>`` (the wide view of the tidy measures).
``statistics`` (tidy, :func:`qmrflow.stats.write_tidy`)
    For every reconstruction and measure, patients vs controls: Mann-Whitney U (exact p for
    small groups, rank-biserial r) and Welch's t-test (mean difference with its CI, Hedges' g
    with its CI), Holm-adjusted over the measures of one reconstruction and test; the count
    of subjects with paradoxical motion per group;
    Spearman correlations of the key measures and of diaphragm T1 with the lung-function
    columns (the paper's correlation analysis).
``accuracy`` (demo; a user's dataset without truth gets the table's header only)
    Per reconstruction: Dice of each lung against the truth (mean over subjects of the mean
    over frames), excursion error (mean absolute, maximum absolute, per task and side), and
    the paradoxical flags against the true labels as a 2x2 table with sensitivity and
    specificity (Wilson intervals) over the test subjects' sides; the diaphragm T1 error.
``timing``
    Per reconstruction and task: frames per second and real-time factor (median over
    subjects, and the minimum), as measured in the run.
``paper_comparison``
    The paper's findings beside ours (:mod:`.paper`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from qmrflow.io import read_tsv, write_tsv
from qmrflow.stats import (
    adjust_table,
    correlation,
    diagnostic_metrics,
    mann_whitney_u,
    tidy,
    two_sample_ttest,
    write_tidy,
)
from qmrflow.stats.tidy import TIDY_COLUMNS

__all__ = ["KEY_MEASURES", "LUNG_FUNCTION", "evaluate_breathing"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
STUDY = "breathing"

#: Lung-function columns of the participants table correlated with the measures.
LUNG_FUNCTION: tuple[str, ...] = ("fvc_upright_pct", "fvc_supine_drop_pct", "mip", "snip")
#: Measures correlated with lung function (columns of ``subjects``), with diaphragm T1.
KEY_MEASURES: tuple[str, ...] = (
    "breathing_right_excursion",
    "breathing_left_excursion",
    "sniff_right_peak_velocity",
    "sniff_left_peak_velocity",
    "breathing_both_thoracic_width_excursion",
    "diaphragm_t1",
)
#: Group labels in the order of the comparisons (patients minus controls).
GROUPS = ("patient", "control")


def _read(paths: Sequence[PathLike]) -> pd.DataFrame:
    return pd.concat([read_tsv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()


def subjects_table(
    measures: pd.DataFrame, t1: pd.DataFrame, participants: pd.DataFrame
) -> pd.DataFrame:
    """One row per subject and reconstruction with every measure as a column."""
    wide = measures.assign(
        column=measures["task"] + "_" + measures["side"] + "_" + measures["measure"]
    ).pivot_table(
        index=["participant_id", "method"], columns="column", values="value", aggfunc="first"
    )
    wide.columns.name = None
    wide = wide.reset_index()
    keep = ["participant_id", "group", *[c for c in LUNG_FUNCTION if c in participants]]
    people = participants[keep].copy()
    people["participant_id"] = people["participant_id"].str.removeprefix("sub-")
    table = people.merge(wide, on="participant_id", how="inner")
    if not t1.empty:
        table = table.merge(t1[["participant_id", "diaphragm_t1"]], on="participant_id", how="left")
    return table.sort_values(["method", "participant_id"], ignore_index=True)


def _group_tests(subjects: pd.DataFrame, confidence: float) -> list[pd.DataFrame]:
    """Mann-Whitney and Welch tests of every measure, patients vs controls, per method; Holm
    over the measures of one method and test statistic."""
    frames = []
    skip = {"participant_id", "method", "group", *LUNG_FUNCTION}
    for method, rows in subjects.groupby("method", sort=False):
        patients = rows[rows["group"] == GROUPS[0]]
        controls = rows[rows["group"] == GROUPS[1]]
        tables = []
        for column in [c for c in rows.columns if c not in skip]:
            x = patients[column].to_numpy(float)
            y = controls[column].to_numpy(float)
            x, y = x[np.isfinite(x)], y[np.isfinite(y)]
            if x.size < 2 or y.size < 2 or np.ptp(np.r_[x, y]) == 0:
                continue
            results: list = [mann_whitney_u(x, y, names=GROUPS)]
            if np.ptp(x) > 0 or np.ptp(y) > 0:  # t is undefined when both groups are constant
                results.append(
                    two_sample_ttest(x, y, equal_var=False, confidence=confidence, names=GROUPS)
                )
            what = f"{method}: {column}, patients vs controls"
            tables.append(tidy(results, study=STUDY, comparison=what))
        if tables:
            table = pd.concat(tables, ignore_index=True)
            frames.append(adjust_table(table, "holm", by=("measure",)))
    return frames


def _paradoxical_counts(subjects: pd.DataFrame) -> list[pd.DataFrame]:
    frames = []
    columns = [c for c in ("sniff_right_paradoxical", "sniff_left_paradoxical") if c in subjects]
    if not columns:
        return []
    for method, rows in subjects.groupby("method", sort=False):
        flagged = rows[columns].fillna(0).astype(bool).any(axis=1)
        for group in GROUPS:
            inside = rows["group"] == group
            row = {
                "study": STUDY,
                "comparison": f"{method}: paradoxical diaphragm motion, {group}s",
                "measure": "subjects_with_paradoxical_motion",
                "statistic": "count",
                "value": float(flagged[inside].sum()),
                "n": int(inside.sum()),
                "method": "sniff: a hemidiaphragm rising during chest expansion",
            }
            frames.append(pd.DataFrame([row]).reindex(columns=list(TIDY_COLUMNS)))
    return frames


def _correlations(subjects: pd.DataFrame, confidence: float) -> list[pd.DataFrame]:
    frames = []
    for method, rows in subjects.groupby("method", sort=False):
        for measure in [m for m in KEY_MEASURES if m in rows]:
            for function in [c for c in LUNG_FUNCTION if c in rows]:
                pair = rows[[measure, function]].dropna()
                if len(pair) < 4 or pair[measure].nunique() < 2 or pair[function].nunique() < 2:
                    continue
                result = correlation(
                    pair[measure],
                    pair[function],
                    method="spearman",
                    confidence=confidence,
                    names=(measure, function),
                )
                frames.append(
                    tidy(result, study=STUDY, comparison=f"{method}: {measure} vs {function}")
                )
    return frames


def accuracy_table(quality: pd.DataFrame, t1: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The demo's accuracy against the truth, per reconstruction (see the module docstring)."""
    rows = []
    for method, q in quality.groupby("method", sort=False):
        for side, per_side in q.groupby("side", sort=False):
            rows.append(
                {
                    "method": method,
                    "measure": f"dice_{side}_lung",
                    "value": per_side["dice"].mean(),
                    "n": per_side["participant_id"].nunique(),
                }
            )
        for (task, side), part in q.groupby(["task", "side"], sort=False):
            error = part["excursion_error"].abs()
            rows += [
                {
                    "method": method,
                    "measure": f"excursion_error_mean_abs_{task}_{side}",
                    "value": error.mean(),
                    "n": len(part),
                },
                {
                    "method": method,
                    "measure": f"excursion_error_max_abs_{task}_{side}",
                    "value": error.max(),
                    "n": len(part),
                },
            ]
        rows.append(
            {
                "method": method,
                "measure": "excursion_error_max_abs",
                "value": q["excursion_error"].abs().max(),
                "n": len(q),
            }
        )
        flags = q.dropna(subset=["true_paradoxical"]) if "true_paradoxical" in q else q.iloc[:0]
        if len(flags):
            truth = flags["true_paradoxical"].astype(bool).astype(int).to_numpy()
            found = flags["paradoxical"].astype(bool).astype(int).to_numpy()
            rows += [
                {
                    "method": method,
                    "measure": f"paradoxical_{cell}",
                    "value": float(value),
                    "n": len(flags),
                }
                for cell, value in (
                    ("tp", np.sum((truth == 1) & (found == 1))),
                    ("fn", np.sum((truth == 1) & (found == 0))),
                    ("fp", np.sum((truth == 0) & (found == 1))),
                    ("tn", np.sum((truth == 0) & (found == 0))),
                )
            ]
            if 0 < truth.sum() < truth.size:
                metrics = diagnostic_metrics(truth, found, positive=1, confidence=confidence)
                for name in ("sensitivity", "specificity"):
                    estimate = getattr(metrics, name)
                    rows.append(
                        {
                            "method": method,
                            "measure": f"paradoxical_{name}",
                            "value": estimate.estimate,
                            "ci_low": estimate.ci_low,
                            "ci_high": estimate.ci_high,
                            "n": estimate.n,
                        }
                    )
    if not t1.empty and t1["true_diaphragm_t1"].notna().any():
        error = t1["t1_error"].abs()
        rows += [
            {
                "method": "t1",
                "measure": "diaphragm_t1_median_abs_error",
                "value": error.median(),
                "n": len(t1),
            },
            {
                "method": "t1",
                "measure": "diaphragm_t1_max_abs_error",
                "value": error.max(),
                "n": len(t1),
            },
        ]
    return pd.DataFrame(rows, columns=["method", "measure", "value", "ci_low", "ci_high", "n"])


def timing_table(timing: pd.DataFrame) -> pd.DataFrame:
    """Frames per second and real-time factor per reconstruction and task (over subjects)."""
    grouped = timing.groupby(["method", "task"], sort=False)
    return grouped.agg(
        subjects=("participant_id", "nunique"),
        frames=("frames", "median"),
        frames_per_second=("frames_per_second", "median"),
        realtime_factor=("realtime_factor", "median"),
        realtime_factor_min=("realtime_factor", "min"),
        seconds=("seconds", "median"),
    ).reset_index()


def evaluate_breathing(
    *,
    measures: Sequence[PathLike],
    t1: Sequence[PathLike],
    timing: Sequence[PathLike],
    participants: PathLike,
    outputs: Mapping[str, PathLike],
    quality: Sequence[PathLike] = (),
    confidence: float = 0.95,
) -> None:
    """Write the group tables (see the module docstring) from the test subjects' tables.

    Parameters
    ----------
    measures, t1, timing
        Per-subject tables: tidy measures per reconstruction, diaphragm T1, reconstruction
        timing.
    participants
        The participants table (group and lung function).
    outputs
        ``subjects``, ``statistics``, ``timing``, ``paper_comparison`` and ``accuracy``.
    quality
        Demo only: the per-subject accuracy tables.
    confidence
        Level of every interval.
    """
    from qmrflow.studies.breathing.paper import paper_comparison

    people = read_tsv(participants)
    t1_table = _read(t1)
    subjects = subjects_table(_read(measures), t1_table, people)
    parts = [
        *_group_tests(subjects, confidence),
        *_paradoxical_counts(subjects),
        *_correlations(subjects, confidence),
    ]
    statistics = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(TIDY_COLUMNS))
    )
    times = timing_table(_read(timing))
    accuracy = (
        accuracy_table(_read(quality), t1_table, confidence)
        if quality
        else accuracy_table(pd.DataFrame(columns=["method"]), pd.DataFrame(), confidence)
    )
    logger.info(
        "breathing: %d subjects x reconstructions, %d statistics rows",
        len(subjects),
        len(statistics),
    )
    write_tsv(subjects, outputs["subjects"])
    write_tidy(statistics, outputs["statistics"])
    write_tsv(times, outputs["timing"])
    write_tsv(paper_comparison(subjects, statistics, accuracy, times), outputs["paper_comparison"])
    write_tsv(accuracy, outputs["accuracy"])
