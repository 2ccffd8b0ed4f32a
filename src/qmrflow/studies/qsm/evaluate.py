"""Group evaluation of study ``qsm``: ratings, agreement with GRE-QSM, accuracy, timing.

Tables (``outputs``):

* ``lesions``: every test subject's lesion features (CR and DLR QSM of the lesion acquisition);
* ``ratings``: every rater's scores (the demo's simulated raters, or the user's table);
* ``rois``: mean susceptibility per tissue region and map (and the truth, demo);
* ``agreement``: every EPI map against the GRE CR map of the same inversion, per subject
  (correlation, RMSE %, HFEN %, SSIM, deep grey matter ROI error);
* ``accuracy`` (demo): every map against the truth, mean and SD over the test subjects of the
  QSM reconstruction challenges' metrics (RMSE %, HFEN %, SSIM, deep grey matter error, ppm);
* ``timing``: median seconds per subject of each reconstruction (CR, DLR) per acquisition and
  of the QSM per inversion, and the DLR-to-CR time ratio;
* ``statistics`` (tidy): per rater and item, Cohen's kappa between CR and DLR and Wilcoxon
  DLR vs CR (:func:`.raters.rating_statistics`); per acquisition and inversion, paired t-tests
  of DLR vs CR on RMSE and HFEN against GRE-QSM (and against the truth, demo), Holm-adjusted
  within each family; the deep grey matter ROI regression of every EPI map on GRE-QSM
  (slope, R²);
* ``paper_comparison``: the paper's numbers beside ours (:mod:`.paper`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from qmrflow.io import read_tsv, write_tsv
from qmrflow.stats import adjust_table, linear_regression, paired_ttest, tidy, write_tidy
from qmrflow.stats.tidy import TIDY_COLUMNS

__all__ = ["DGM_REGIONS", "evaluate_qsm"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
STUDY = "qsm"
#: Deep grey matter regions of the ROI regression (tissue labels 1-4).
DGM_REGIONS: tuple[str, ...] = ("caudate", "putamen", "globus pallidus", "thalamus")
#: Metrics compared between DLR and CR (lower is better).
ERROR_METRICS: tuple[str, ...] = ("rmse", "hfen")
KEYS = ["acquisition", "recon", "inversion"]


def _read(paths: Sequence[PathLike]) -> pd.DataFrame:
    frames = [read_tsv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _paired_dlr_vs_cr(table: pd.DataFrame, against: str, confidence: float) -> list[pd.DataFrame]:
    """Paired t-tests DLR - CR of each error metric per EPI acquisition and inversion (Holm
    over the acquisitions and inversions of one metric)."""
    frames = []
    epi = table[table["acquisition"] != "gre"]
    for metric in ERROR_METRICS:
        tables = []
        for (acq, inversion), rows in epi.groupby(["acquisition", "inversion"], sort=False):
            wide = rows.pivot(index="participant_id", columns="recon", values=metric).dropna()
            if not {"cr", "dlr"} <= set(wide.columns) or len(wide) < 2:
                continue
            difference = wide["dlr"] - wide["cr"]
            if np.ptp(difference.to_numpy()) == 0:
                continue
            result = paired_ttest(
                wide["dlr"].to_numpy(float),
                wide["cr"].to_numpy(float),
                confidence=confidence,
                names=("dlr", "cr"),
            )
            what = f"{acq} {inversion}: {metric} against {against}, DLR vs CR"
            tables.append(tidy(result, study=STUDY, comparison=what))
        if tables:
            frames.append(adjust_table(pd.concat(tables, ignore_index=True), "holm"))
    return frames


def roi_pairs(rois: pd.DataFrame) -> pd.DataFrame:
    """Every EPI map's deep grey matter ROI means beside GRE CR's (same subject, region and
    inversion): columns acquisition, recon, inversion, participant_id, region, epi, gre."""
    dgm = rois[rois["region"].isin(DGM_REGIONS)]
    gre = dgm[(dgm["acquisition"] == "gre") & (dgm["recon"] == "cr")]
    gre = gre[["participant_id", "region", "inversion", "mean_ppm"]].rename(
        columns={"mean_ppm": "gre"}
    )
    epi = dgm[~dgm["acquisition"].isin(["gre", "truth"])].rename(columns={"mean_ppm": "epi"})
    return epi.merge(gre, on=["participant_id", "region", "inversion"])[
        [*KEYS, "participant_id", "region", "epi", "gre"]
    ]


def _roi_regressions(rois: pd.DataFrame, confidence: float) -> list[pd.DataFrame]:
    """Regression of every EPI map's deep grey matter ROI means on GRE-QSM's."""
    frames = []
    for (acq, recon, inversion), rows in roi_pairs(rois).groupby(KEYS, sort=False):
        rows = rows.dropna(subset=["epi", "gre"])
        if len(rows) < 3 or np.ptp(rows["gre"]) == 0 or np.ptp(rows["epi"]) == 0:
            continue
        result = linear_regression(
            rows["gre"].to_numpy(float),
            rows["epi"].to_numpy(float),
            confidence=confidence,
            names=("GRE-QSM", f"{acq} {recon.upper()}-QSM"),
        )
        what = f"{acq} {recon} {inversion}: deep grey matter ROI means vs GRE-QSM"
        frames.append(tidy(result, study=STUDY, comparison=what))
    return frames


def summary(table: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and SD over subjects of each metric per acquisition, recon and inversion."""
    if table.empty:
        return pd.DataFrame(columns=[*KEYS, "subjects"])
    grouped = table.groupby(KEYS, sort=False)
    out = grouped.agg(subjects=("participant_id", "nunique"))
    for metric in metrics:
        out[metric] = grouped[metric].mean()
        out[f"{metric}_sd"] = grouped[metric].std()
    return out.reset_index()


def timing_table(reconstruction: pd.DataFrame, qsm: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per subject of every reconstruction and QSM, and the DLR/CR ratio."""
    recon = (
        reconstruction.groupby(["acquisition", "recon"], sort=False)
        .agg(subjects=("participant_id", "nunique"), seconds=("seconds", "median"))
        .reset_index()
        .assign(stage="reconstruction", inversion="")
    )
    maps = (
        qsm.groupby(["acquisition", "recon", "inversion"], sort=False)
        .agg(subjects=("participant_id", "nunique"), seconds=("seconds", "median"))
        .reset_index()
        .assign(stage="qsm")
    )
    table = pd.concat([recon, maps], ignore_index=True)
    cr = recon.set_index("acquisition").query("recon == 'cr'")["seconds"]
    table["ratio_to_cr"] = [
        row.seconds / cr.get(row.acquisition, np.nan) if row.stage == "reconstruction" else np.nan
        for row in table.itertuples()
    ]
    return table[
        ["stage", "acquisition", "recon", "inversion", "subjects", "seconds", "ratio_to_cr"]
    ]


def evaluate_qsm(
    *,
    inputs: Mapping[str, Sequence[PathLike]],
    participants: PathLike,
    outputs: Mapping[str, PathLike],
    confidence: float = 0.95,
) -> None:
    """Write the group tables (module docstring) from the test subjects' tables.

    ``inputs``: per-subject tables ``lesions``, ``rois``, ``agreement``, ``timing``
    (reconstruction), ``qsm_timing``, ``accuracy`` (demo) and ``ratings`` (the demo's
    per-subject ratings or the user's one table; may be empty).
    """
    from qmrflow.studies.qsm.paper import paper_comparison
    from qmrflow.studies.qsm.raters import RATING_COLUMNS, rating_statistics, read_ratings

    test = set(read_tsv(participants).query("split == 'test'")["participant_id"].astype(str))
    lesions = _read(inputs["lesions"])
    rois = _read(inputs["rois"])
    # Only the subjects measured here: a test subject left out for lacking an input (config
    # missing_inputs: skip) is in the participants table but has no tables, nor ratings here.
    test &= set(rois["participant_id"].astype(str))
    agreement = _read(inputs["agreement"])
    accuracy = _read(inputs.get("accuracy", []))
    ratings = pd.concat(
        [read_ratings(p) for p in inputs.get("ratings", [])] or [pd.DataFrame()],
        ignore_index=True,
    )
    if not ratings.empty:
        ratings = ratings[ratings["participant_id"].astype(str).isin(test)]
    else:
        ratings = pd.DataFrame(columns=list(RATING_COLUMNS))
        logger.warning("qsm: no lesion ratings (config qsm.ratings): no rating statistics")
    parts = [rating_statistics(ratings, confidence=confidence)] if len(ratings) else []
    parts += _paired_dlr_vs_cr(agreement, "GRE-QSM", confidence)
    if not accuracy.empty:
        parts += _paired_dlr_vs_cr(accuracy, "the truth", confidence)
    parts += _roi_regressions(rois, confidence)
    statistics = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(TIDY_COLUMNS))
    )
    metrics = ("rmse", "hfen", "ssim", "correlation", "dgm_error")
    accuracy_summary = summary(accuracy, metrics)
    timing = timing_table(_read(inputs["timing"]), _read(inputs["qsm_timing"]))
    logger.info(
        "qsm: %d lesions, %d ratings, %d statistics rows",
        len(lesions),
        len(ratings),
        len(statistics),
    )
    write_tsv(lesions, outputs["lesions"])
    write_tsv(ratings, outputs["ratings"])
    write_tsv(rois, outputs["rois"])
    write_tsv(agreement, outputs["agreement"])
    write_tsv(accuracy_summary, outputs["accuracy"])
    write_tsv(timing, outputs["timing"])
    write_tidy(statistics, outputs["statistics"])
    write_tsv(
        paper_comparison(
            statistics,
            summary(agreement, metrics),
            accuracy_summary,
            timing,
            lesion_acquisition=str(lesions["acquisition"].iloc[0]) if len(lesions) else "epi1avg",
        ),
        outputs["paper_comparison"],
    )
