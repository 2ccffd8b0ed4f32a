"""The breathing study's QC page of one test subject: the lungs over the frames, the diaphragm.

Images
    ``Lungs over frames``: the subject's montage and animation
    (:func:`qmrflow.studies.breathing.figures.plot_subject`: the U-Net's lungs outlined on the
    SENSE sniff frames), downsampled. ``Diaphragm curves`` (:func:`plot_diaphragm_curves`): the
    right and left dome positions over time of every task, SENSE and gridding overlaid (a curve
    that jumps or stays flat is a segmentation to check).
Measures (:func:`subject_measures`)
    Per reconstruction: :data:`QC_MEASURES` of the measures table (excursions, peak sniff
    velocities, the thorax-diaphragm correlation, thoracic width excursion) and, on the demo,
    the mean Dice of the lungs against the truth; the diaphragm T1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmrflow.io import read_tsv
from qmrflow.report.qc import (
    QCSection,
    SubjectQC,
    image_from_figure,
    image_from_file,
    measures_table,
)
from qmrflow.studies.breathing.study import METHODS, TASKS

__all__ = ["QC_MEASURES", "plot_diaphragm_curves", "subject_measures", "subject_qc"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: (task, side, measure) of the measures table shown and compared with the cohort.
QC_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("breathing", "right", "excursion"),
    ("breathing", "left", "excursion"),
    ("sniff", "right", "excursion"),
    ("sniff", "left", "excursion"),
    ("sniff", "right", "peak_velocity"),
    ("sniff", "left", "peak_velocity"),
    ("breathing", "right", "synchronicity_r"),
    ("breathing", "left", "synchronicity_r"),
    ("breathing", "both", "thoracic_width_excursion"),
)
_SIDE_COLOURS = {"right": "tab:blue", "left": "tab:orange"}
_METHOD_STYLES = {"sense": "-", "gridding": "--"}


def plot_diaphragm_curves(curves: pd.DataFrame, subject: str) -> Figure:
    """Dome position over time, one panel per task: right and left, one line style per
    reconstruction (rows of the curves tables of every reconstruction)."""
    tasks = [
        t for t in (*TASKS, *sorted(set(curves["task"]) - set(TASKS))) if t in set(curves["task"])
    ]
    fig = Figure(figsize=(4.6 * max(len(tasks), 1), 2.8), layout="constrained")
    axes = fig.subplots(1, max(len(tasks), 1), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=False):
        for method, rows in curves[curves["task"] == task].groupby("method", sort=False):
            rows = rows.sort_values("time")
            for side, colour in _SIDE_COLOURS.items():
                ax.plot(
                    rows["time"],
                    rows[f"dome_{side}_mm"],
                    color=colour,
                    linestyle=_METHOD_STYLES.get(str(method), ":"),
                    linewidth=1.0,
                    label=f"{side} dome, {method}",
                )
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel("dome position (mm, + head)", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"sub-{subject}: diaphragm dome position over time", fontsize=9)
    return fig


def subject_measures(
    measures: pd.DataFrame, t1: pd.DataFrame, quality: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The subject's key measures (:data:`qmrflow.report.qc.MEASURE_COLUMNS`): the
    :data:`QC_MEASURES` of each reconstruction (``<method>_<task>_<side>_<measure>``), the
    demo's mean lung Dice per reconstruction (``<method>_lung_dice``) and ``diaphragm_t1``."""
    rows: list[tuple[str, float, str]] = []
    for method in [m for m in METHODS if (measures["method"] == m).any()]:
        mine = measures[measures["method"] == method]
        for task, side, measure in QC_MEASURES:
            hit = mine[
                (mine["task"] == task) & (mine["side"] == side) & (mine["measure"] == measure)
            ]
            if len(hit):
                rows.append(
                    (
                        f"{method}_{task}_{side}_{measure}",
                        float(hit["value"].iloc[0]),
                        str(hit["unit"].iloc[0]),
                    )
                )
        if quality is not None and "dice" in quality:
            dice = quality.loc[quality["method"] == method, "dice"]
            rows.append((f"{method}_lung_dice", float(dice.mean()) if len(dice) else np.nan, "1"))
    if len(t1):
        rows.append(("diaphragm_t1", float(t1["diaphragm_t1"].iloc[0]), "s"))
    return measures_table(rows)


def _tables(inputs: Mapping[str, Any], kind: str, subject: str) -> pd.DataFrame | None:
    paths = [inputs[f"{kind}_{m}"] for m in METHODS if f"{kind}_{m}" in inputs]
    if not paths:
        return None
    return pd.concat([read_tsv(p, subject=subject) for p in paths], ignore_index=True)


def subject_qc(subject: str, inputs: Mapping[str, Any], **options: Any) -> SubjectQC:
    """The subject's page (:mod:`qmrflow.report.qc`).

    Parameters
    ----------
    subject
        Participant label.
    inputs
        ``montage`` and ``animation`` (the lung QC images); ``curves_<method>``,
        ``measures_<method>`` and (demo) ``quality_<method>`` of every reconstruction; ``t1``
        (the diaphragm T1 table).
    options
        None used.
    """
    if options:
        raise TypeError(f"unexpected options {sorted(options)}")
    curves = _tables(inputs, "curves", subject)
    measures = _tables(inputs, "measures", subject)
    quality = _tables(inputs, "quality", subject)
    if curves is None or measures is None:
        raise KeyError(f"sub-{subject}: the curves and measures tables are needed")
    t1 = read_tsv(inputs["t1"], subject=subject)
    lungs = (
        image_from_file(
            inputs["montage"],
            "Lungs over the sniff",
            "SENSE frames with the U-Net's lungs outlined (right blue, left orange) and the "
            "dome positions below.",
        ),
        image_from_file(
            inputs["animation"], "Animation", "Every second sniff frame with the outlines."
        ),
    )
    curve_image = image_from_figure(
        plot_diaphragm_curves(curves, subject),
        "Diaphragm curves",
        "Dome positions from the lung masks of every frame: SENSE solid, gridding dashed.",
    )
    sources = {
        f"{kind} ({m})": inputs[f"{kind}_{m}"]
        for kind in ("measures", "curves", "quality")
        for m in METHODS
        if f"{kind}_{m}" in inputs
    }
    return SubjectQC(
        study="breathing",
        subject=subject,
        sections=(
            QCSection("Lung masks over frames", images=lungs),
            QCSection("Diaphragm motion", images=(curve_image,)),
        ),
        measures=subject_measures(measures, t1, quality),
        sources={**sources, "T1": inputs["t1"]},
    )
