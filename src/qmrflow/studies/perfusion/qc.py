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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.figure import Figure

from qmrflow.figures.overlay import save_figure
from qmrflow.io.atomic import atomic_output
from qmrflow.studies.perfusion.series import load_series

__all__ = ["plot_motion_qc", "temporal_profile"]

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
