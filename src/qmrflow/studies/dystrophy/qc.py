"""The dystrophy study's QC page of one test subject: where the ROI was cut, what the CNN saw.

Images
    ``ROI``: every T1w slice (at most :data:`MAX_SLICES`) with its adaptive window drawn (green
    where the legs were separated, red where not, so the slice is left out of the case
    probability when ``roi.drop_inseparable``). ``Class activation maps``: the classification
    job's own figure (the crops and the primary architecture's CAMs with each slice's
    probability), downsampled.
Measures (:func:`subject_measures`)
    The number of slices, the fraction whose legs were separated, the mean window size and the
    mean gap between the legs (pixels): a window far larger or smaller than the cohort's, or few
    separable slices, is a localisation to check. The case probabilities are shown above the CAMs
    but not compared with the cohort: they are meant to differ between the classes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from qmrflow.io import read_tsv
from qmrflow.report.qc import (
    QCSection,
    SubjectQC,
    image_from_figure,
    image_from_file,
    measures_table,
)

__all__ = ["MAX_SLICES", "plot_roi_overlay", "subject_measures", "subject_qc"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Slices drawn in the ROI figure at most (spread over the stack).
MAX_SLICES = 6


def plot_roi_overlay(images: Sequence[np.ndarray], roi: pd.DataFrame, subject: str) -> Figure:
    """Slices (index order ``(X, Y)``) with their ROI windows from the ROI table, one column
    each (at most :data:`MAX_SLICES`, evenly spread).

    Raises
    ------
    ValueError
        The table does not hold one row per slice.
    """
    if len(images) != len(roi):
        raise ValueError(f"sub-{subject}: {len(images)} slices but {len(roi)} ROI rows")
    shown = np.unique(np.linspace(0, len(images) - 1, min(MAX_SLICES, len(images))).astype(int))
    height, width = images[0].shape
    fig = Figure(figsize=(2.2 * len(shown), 2.2 * width / height + 0.5), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, index in zip(axes, shown, strict=True):
        image, row = images[index], roi.iloc[index]
        vmax = float(np.percentile(image, 99.5)) or 1.0
        ax.imshow(image.T, cmap="gray", origin="lower", vmin=0.0, vmax=vmax)
        separable = bool(row["separable"])
        ax.add_patch(
            Rectangle(
                (float(row["x0"]) - 0.5, float(row["y0"]) - 0.5),
                float(row["x1"] - row["x0"]),
                float(row["y1"] - row["y0"]),
                fill=False,
                edgecolor="tab:green" if separable else "tab:red",
                linewidth=1.5,
            )
        )
        gap = f"gap {int(row['gap_px'])} px" if separable else "not separable"
        ax.set_title(f"slice {int(row['slice'])}: {gap}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"sub-{subject}: ROI window of each slice", fontsize=9)
    return fig


def subject_measures(roi: pd.DataFrame) -> pd.DataFrame:
    """The subject's key measures (:data:`qmrflow.report.qc.MEASURE_COLUMNS`) from its ROI
    table."""
    separable = roi["separable"].astype(str).str.lower() == "true"
    rows = [
        ("slices", float(len(roi)), "1"),
        ("separable_fraction", float(separable.mean()) if len(roi) else np.nan, "1"),
        ("roi_width_px", float((roi["x1"] - roi["x0"]).mean()), "px"),
        ("roi_height_px", float((roi["y1"] - roi["y0"]).mean()), "px"),
        ("leg_gap_px", float(roi.loc[separable, "gap_px"].mean()), "px"),
    ]
    return measures_table(rows)


def _probability(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "n/a (no usable slice)"


def subject_qc(subject: str, inputs: Mapping[str, Any], **options: Any) -> SubjectQC:
    """The subject's page (:mod:`qmrflow.report.qc`).

    Parameters
    ----------
    subject
        Participant label.
    inputs
        ``slices``: the T1w images as the ROI job read them (a stack, slice files or a DICOM
        folder); ``roi``: the ROI table; ``probabilities``: the classification table;
        ``overlay``: the classification job's CAM figure.
    options
        None used.
    """
    from qmrflow.io.slices import load_slices

    if options:
        raise TypeError(f"unexpected options {sorted(options)}")
    roi = read_tsv(inputs["roi"], subject=subject)
    probabilities = read_tsv(inputs["probabilities"], subject=subject)
    slices = inputs["slices"]
    images = [
        image.data
        for image in load_slices(
            [slices] if isinstance(slices, str | os.PathLike) else list(slices), subject=subject
        )
    ]
    roi_image = image_from_figure(
        plot_roi_overlay(images, roi, subject),
        "ROI",
        "The adaptive window around both thighs on each slice (green: legs separated; red: not "
        "separated, left out of the case probability when roi.drop_inseparable).",
    )
    cam_image = image_from_file(
        inputs["overlay"],
        "Class activation maps",
        "Top: the ROI crops the CNN classified; bottom: the primary architecture's class "
        "activation map over each, with each slice's probability of dystrophinopathy.",
    )
    cases = probabilities[probabilities["level"] == "case"]
    return SubjectQC(
        study="dystrophy",
        subject=subject,
        sections=(
            QCSection("ROI localisation", images=(roi_image,)),
            QCSection(
                "Classification",
                images=(cam_image,),
                text="Case probability: "
                + ", ".join(
                    f"{row.architecture} {_probability(float(row.probability))}"
                    for row in cases.itertuples(index=False)
                ),
            ),
        ),
        measures=subject_measures(roi),
        sources={"ROI table": inputs["roi"], "probabilities": inputs["probabilities"]},
    )
