"""Figures of the breathing study (group) and each subject's lung QC.

Group (:func:`plot_figures`)
    ``curves``: the diaphragm position over time (right and left dome, relative to its mean) of
    every test subject, SENSE reconstruction, patients and controls in two colours, one panel
    per task and side. ``measures``: box plots with the subjects' points of the key measures
    by group. ``correlations``: each key measure against FVC upright with the Spearman rho.
    ``reconstruction``: one sniff frame of the first test subject, gridding beside SENSE, with
    the U-Net's lungs outlined.
Per subject (:func:`plot_subject`)
    ``montage`` (PNG): eight frames over the sniff with the lung masks outlined (right lung
    blue, left lung orange) and the diaphragm-position curves below; ``animation`` (GIF):
    every second frame with the outlines. Images are drawn at most 96 pixels a side so the
    files stay small.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.figure import Figure

from qmrflow.figures.overlay import save_figure
from qmrflow.io import read_tsv
from qmrflow.io.atomic import atomic_output
from qmrflow.studies.breathing.frames import load_frames, load_labels

__all__ = ["plot_figures", "plot_subject"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

GROUP_COLOURS = {"patient": "tab:red", "control": "tab:blue"}
LUNG_COLOURS = {1: "tab:blue", 2: "tab:orange"}
#: Measures of the box plots and correlations (columns of ``subjects``) and their labels.
PANELS: dict[str, str] = {
    "breathing_right_excursion": "deep-breathing excursion, right (mm)",
    "breathing_left_excursion": "deep-breathing excursion, left (mm)",
    "sniff_right_peak_velocity": "peak sniff velocity, right (cm/s)",
    "sniff_left_peak_velocity": "peak sniff velocity, left (cm/s)",
    "breathing_right_synchronicity_lag": "diaphragm-thorax lag, right (s)",
    "diaphragm_t1": "diaphragm T1 (s)",
}
MONTAGE_FRAMES = 8


def _outline(ax: object, labels: np.ndarray) -> None:
    for value, colour in LUNG_COLOURS.items():
        mask = (labels == value).astype(float)
        if mask.any():
            ax.contour(mask.T, levels=[0.5], colors=colour, linewidths=0.7, origin="lower")  # type: ignore[attr-defined]


def plot_figures(
    *,
    subjects: PathLike,
    curves: Sequence[PathLike],
    participants: PathLike,
    example: Mapping[str, tuple[PathLike, PathLike]],
    outputs: Mapping[str, PathLike],
) -> None:
    """Write the group figures (see the module docstring)."""
    table = read_tsv(subjects)
    people = read_tsv(participants)
    group_of = dict(
        zip(people["participant_id"].str.removeprefix("sub-"), people["group"], strict=True)
    )
    frames = pd.concat([read_tsv(p) for p in curves], ignore_index=True)
    frames = frames[frames["method"] == "sense"]

    tasks = list(dict.fromkeys(frames["task"]))
    fig = Figure(figsize=(4.2 * len(tasks), 5.2), layout="constrained")
    axes = fig.subplots(2, len(tasks), squeeze=False)
    for column, task in enumerate(tasks):
        for row, side in enumerate(("right", "left")):
            ax = axes[row, column]
            for subject, part in frames[frames["task"] == task].groupby("participant_id"):
                position = part[f"dome_{side}_mm"].to_numpy(float)
                group = group_of.get(str(subject), "control")
                ax.plot(
                    part["time"],
                    position - np.nanmean(position),
                    color=GROUP_COLOURS[group],
                    lw=0.8,
                    alpha=0.8,
                )
            ax.set_title(f"{task}, {side} dome", fontsize=9)
            ax.set_xlabel("time (s)")
            ax.set_ylabel("position - mean (mm, + head)")
    for group, colour in GROUP_COLOURS.items():
        axes[0, 0].plot([], [], color=colour, label=f"{group}s")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Diaphragm position over time (SENSE reconstruction, test subjects)", fontsize=10)
    save_figure(fig, outputs["curves"], dpi=90)

    sense = table[table["method"] == "sense"]
    present = [c for c in PANELS if c in sense]
    fig = Figure(figsize=(3.0 * max(len(present), 1), 3.2), layout="constrained")
    axes = fig.subplots(1, max(len(present), 1), squeeze=False)[0]
    for ax, column in zip(axes, present, strict=False):
        values = [sense[sense["group"] == g][column].dropna().to_numpy() for g in GROUP_COLOURS]
        ax.boxplot(values, tick_labels=[f"{g}s" for g in GROUP_COLOURS], widths=0.5)
        for position, (points, colour) in enumerate(
            zip(values, GROUP_COLOURS.values(), strict=True), start=1
        ):
            ax.scatter(np.full(points.size, position), points, color=colour, s=12, zorder=3)
        ax.set_title(PANELS[column], fontsize=8)
    fig.suptitle("Patients vs controls (SENSE, test subjects)", fontsize=10)
    save_figure(fig, outputs["measures"], dpi=90)

    fig = Figure(figsize=(3.0 * max(len(present), 1), 3.0), layout="constrained")
    axes = fig.subplots(1, max(len(present), 1), squeeze=False)[0]
    for ax, column in zip(axes, present, strict=False):
        pair = sense[[column, "fvc_upright_pct", "group"]].dropna()
        for group, colour in GROUP_COLOURS.items():
            part = pair[pair["group"] == group]
            ax.scatter(part["fvc_upright_pct"], part[column], color=colour, s=14, label=group)
        rho = (
            pair[column].corr(pair["fvc_upright_pct"], method="spearman")
            if len(pair) > 2
            else np.nan
        )
        ax.set_title(f"{PANELS[column]}\nSpearman rho {rho:.2f}", fontsize=8)
        ax.set_xlabel("FVC upright (% predicted)", fontsize=8)
    fig.suptitle("Measures against lung function (SENSE, test subjects)", fontsize=10)
    save_figure(fig, outputs["correlations"], dpi=90)

    fig = Figure(figsize=(3.2 * len(example), 3.4), layout="constrained")
    axes = fig.subplots(1, len(example), squeeze=False)[0]
    for ax, (method, (frames_path, labels_path)) in zip(axes, example.items(), strict=True):
        series = load_frames(frames_path)
        labels = load_labels(labels_path)
        t = len(series.frames) // 2
        ax.imshow(series.frames[t].T, cmap="gray", origin="lower")
        _outline(ax, labels[t])
        ax.set_title(f"{method}, frame {t}", fontsize=9)
        ax.set_axis_off()
    fig.suptitle("One sniff frame, two reconstructions, the U-Net's lungs", fontsize=10)
    save_figure(fig, outputs["reconstruction"], dpi=90)
    logger.info("breathing figures: %d test subjects", table["participant_id"].nunique())


def _thin(image: np.ndarray, limit: int = 96) -> np.ndarray:
    step = max(1, int(np.ceil(max(image.shape) / limit)))
    return image[::step, ::step]


def plot_subject(
    subject: str,
    *,
    frames: PathLike,
    labels: PathLike,
    outputs: Mapping[str, PathLike],
    fps: int = 10,
) -> None:
    """Write the subject's lung montage (PNG) and animation (GIF)."""
    from qmrflow.studies.breathing.measures import diaphragm_position, largest_components

    series = load_frames(frames, subject=subject)
    masks = load_labels(labels, subject=subject)
    n = len(series.frames)
    vmax = float(np.percentile(series.frames, 99.5)) or 1.0
    shown = np.linspace(0, n - 1, MONTAGE_FRAMES).round().astype(int)
    fig = Figure(figsize=(1.6 * MONTAGE_FRAMES, 3.6), layout="constrained")
    grid = fig.add_gridspec(2, MONTAGE_FRAMES, height_ratios=(1.0, 0.8))
    for column, t in enumerate(shown):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(_thin(series.frames[t]).T, cmap="gray", origin="lower", vmin=0, vmax=vmax)
        if _thin(masks[t]).shape == masks[t].shape:
            _outline(ax, masks[t])
        ax.set_title(f"{series.frame_times[t]:.2f} s", fontsize=7)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[1, :])
    for side, value in (("right", 1), ("left", 2)):
        try:
            position = diaphragm_position(
                largest_components(masks), series.spacing, side=side, image=series.frames
            )
        except ValueError:
            continue
        ax.plot(series.frame_times, position, color=LUNG_COLOURS[value], label=f"{side} dome")
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("mm (+ head)", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle(f"sub-{subject}: sniff, SENSE frames with the U-Net's lungs", fontsize=9)
    save_figure(fig, outputs["montage"], dpi=70)

    animation_fig = Figure(figsize=(2.4, 2.5))
    ax = animation_fig.add_subplot()
    ax.set_axis_off()
    step = 2

    def show(index: int) -> list:
        t = index * step
        ax.clear()
        ax.set_axis_off()
        ax.imshow(_thin(series.frames[t]).T, cmap="gray", origin="lower", vmin=0, vmax=vmax)
        if _thin(masks[t]).shape == masks[t].shape:
            _outline(ax, masks[t])
        ax.set_title(f"sub-{subject} {series.frame_times[t]:.2f} s", fontsize=7)
        return []

    animation = FuncAnimation(animation_fig, show, frames=(n + step - 1) // step, blit=False)
    with atomic_output(outputs["animation"]) as tmp:
        animation.save(tmp, writer=PillowWriter(fps=fps), dpi=50)
    logger.info("sub-%s: lung montage and animation of %d frames", subject, n)
