"""A reader's check of one subject's motion correction: a frame strip and an animation.

``strip`` (PNG)
    One row per alignment (none, iterative, DL) of the middle slice: a few frames through the
    bolus, and a temporal profile (the line through the heart's centre along the first image
    axis, every frame side by side). Breathing shows as a wavy profile; after a good
    correction the edges of the heart run straight.
``animation`` (GIF)
    Every frame of the middle slice, the alignments side by side, a few frames per second.

Images are downsampled to at most 96 pixels a side and drawn on one grey scale per alignment,
so the files stay small (tens of kilobytes for the strip).

The subject's QC page (:func:`subject_qc`, :mod:`qmrflow.report.qc`) shows the strip and the
animation, the MBF bull's-eye of every alignment (and the demo's truth) and the concentration
curves before and after correction; its measures (:func:`subject_measures`) are, per alignment,
those of the evaluation's subject table (:func:`qmrflow.studies.perfusion.evaluate.
subject_measures`: the Dice of each frame's myocardium against the reference frame's, the
temporal smoothness, the median pixel SD of MBF within a segment, (demo) the median absolute MBF
error) and the mean MBF over the segments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.figure import Figure

from qmrflow.figures.overlay import save_figure
from qmrflow.io.atomic import atomic_output
from qmrflow.studies.perfusion.series import load_series

if TYPE_CHECKING:
    import pandas as pd

    from qmrflow.report.qc import SubjectQC

__all__ = ["plot_motion_qc", "subject_measures", "subject_qc", "temporal_profile"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Largest image side drawn (pixels).
MAX_SIDE = 96
#: Frames shown in the strip.
STRIP_FRAMES = 6


def temporal_profile(frames: np.ndarray, row: int | None = None) -> np.ndarray:
    """The line ``frames[:, row, :]`` of every frame side by side: ``(Y, T)``.

    ``row`` defaults to the middle of the first image axis.
    """
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, X, Y), got shape {frames.shape}")
    index = frames.shape[1] // 2 if row is None else row
    return np.ascontiguousarray(frames[:, index, :].T)


def _thin(image: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil(max(image.shape) / MAX_SIDE)))
    return image[::step, ::step]


def plot_motion_qc(
    subject: str,
    *,
    series: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    fps: int = 6,
) -> None:
    """Write the strip (``outputs["strip"]``) and the animation (``outputs["animation"]``).

    Parameters
    ----------
    subject
        Participant label (titles and errors).
    series
        Alignment name -> aligned stress series ``(X, Y, S, T)``, drawn in this order.
    outputs
        ``strip`` (PNG) and ``animation`` (GIF).
    fps
        Frames per second of the animation.
    """
    stacks = {}
    for name, path in series.items():
        loaded = load_series(path, subject=subject)
        middle = loaded.n_slices // 2
        stacks[name] = np.moveaxis(loaded.data[:, :, middle, :], -1, 0)
    n_frames = min(len(s) for s in stacks.values())
    shown = np.linspace(0, n_frames - 1, STRIP_FRAMES).round().astype(int)
    fig = Figure(figsize=(1.6 * (STRIP_FRAMES + 2), 1.7 * len(stacks)))
    axes = fig.subplots(len(stacks), STRIP_FRAMES + 1, squeeze=False)
    for row, (name, frames) in enumerate(stacks.items()):
        vmax = float(np.percentile(frames, 99.5)) or 1.0
        for col, t in enumerate(shown):
            axes[row, col].imshow(
                _thin(frames[t]).T, cmap="gray", origin="lower", vmin=0, vmax=vmax
            )
            axes[row, col].set_title(f"{name}, frame {t}", fontsize=7)
        axes[row, -1].imshow(
            _thin(temporal_profile(frames)), cmap="gray", origin="lower", aspect="auto", vmax=vmax
        )
        axes[row, -1].set_title(f"{name}: profile over time", fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"sub-{subject}: motion correction, middle slice", fontsize=9)
    save_figure(fig, outputs["strip"], dpi=80)

    animation_fig = Figure(figsize=(2.0 * len(stacks), 2.2))
    panels = animation_fig.subplots(1, len(stacks), squeeze=False)[0]
    images = []
    for ax, (name, frames) in zip(panels, stacks.items(), strict=True):
        vmax = float(np.percentile(frames, 99.5)) or 1.0
        images.append(ax.imshow(_thin(frames[0]).T, cmap="gray", origin="lower", vmin=0, vmax=vmax))
        ax.set_title(name, fontsize=8)
        ax.set_axis_off()

    def show(t: int) -> list:
        for image, frames in zip(images, stacks.values(), strict=True):
            image.set_data(_thin(frames[t]).T)
        return images

    animation = FuncAnimation(animation_fig, show, frames=n_frames, blit=False)
    with atomic_output(outputs["animation"]) as tmp:
        animation.save(tmp, writer=PillowWriter(fps=fps), dpi=60)
    logger.info("sub-%s: motion QC strip and animation of %d frames", subject, n_frames)


def subject_measures(segments: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """The subject's key measures per alignment (:data:`qmrflow.report.qc.MEASURE_COLUMNS`),
    from its segments and quality tables (every alignment's rows)."""
    from qmrflow.report.qc import measures_table
    from qmrflow.studies.perfusion.evaluate import subject_measures as per_method

    summary = per_method(segments, quality)
    mean_mbf = segments.groupby("method")["mbf"].mean()
    rows = []
    for row in summary.itertuples(index=False):
        method = row.method
        rows += [
            (f"dice_{method}", row.dice, "1"),
            (f"smoothness_{method}", row.smoothness, "1"),
            (f"segment_sd_{method}", row.segment_sd, "ml/min/g"),
            (f"mbf_mean_{method}", mean_mbf.get(method, np.nan), "ml/min/g"),
            (f"mbf_error_percent_{method}", row.mbf_error_percent, "%"),
        ]
    return measures_table(rows)


def subject_qc(subject: str, inputs: Mapping[str, Any], **options: Any) -> SubjectQC:
    """The subject's page (:mod:`qmrflow.report.qc`).

    Parameters
    ----------
    subject
        Participant label.
    inputs
        ``strip`` and ``animation`` (:func:`plot_motion_qc`'s files); ``segments_<method>``,
        ``quality_<method>`` and ``curves_<method>`` of every alignment.
    options
        None used.
    """
    from qmrflow.report.qc import QCSection, SubjectQC, image_from_figure, image_from_file
    from qmrflow.studies.perfusion.evaluate import (
        check_quality_table,
        check_segments_table,
        read_tables,
    )
    from qmrflow.studies.perfusion.figures import (
        check_curves_table,
        plot_bullseye_figure,
        plot_curves_figure,
    )
    from qmrflow.studies.perfusion.study import METHODS

    if options:
        raise TypeError(f"unexpected options {sorted(options)}")
    methods = [m for m in METHODS if f"segments_{m}" in inputs]

    def tables(kind: str, check: Any) -> pd.DataFrame:
        return read_tables([inputs[f"{kind}_{m}"] for m in methods], check, kind)

    segments = tables("segments", check_segments_table)
    quality = tables("quality", check_quality_table)
    curves = tables("curves", check_curves_table)
    motion = (
        image_from_file(
            inputs["strip"],
            "Frames and temporal profiles",
            "Middle slice, one row per alignment: frames through the bolus and the line "
            "through the heart over time (wavy edges: breathing motion left).",
        ),
        image_from_file(
            inputs["animation"],
            "Animation",
            "Every frame of the middle slice, the alignments side by side.",
        ),
    )
    bullseye = image_from_figure(
        plot_bullseye_figure(segments, subject),
        "MBF bull's-eye",
        "Fermi-deconvolved MBF per AHA segment for each alignment (and the demo's truth), "
        "one colour scale.",
    )
    curve_image = image_from_figure(
        plot_curves_figure(curves, subject, quantity="concentration"),
        "Concentration curves",
        "Arterial input and the middle slice's myocardial segments per alignment (contrast "
        "agent concentration, the deconvolution's input): motion shows as jitter that "
        "correction removes.",
    )
    return SubjectQC(
        study="perfusion",
        subject=subject,
        sections=(
            QCSection("Motion correction", images=motion),
            QCSection("Myocardial blood flow", images=(bullseye, curve_image)),
        ),
        measures=subject_measures(segments, quality),
        sources={
            f"{kind} ({method})": inputs[f"{kind}_{method}"]
            for kind in ("segments", "quality")
            for method in methods
        },
    )
