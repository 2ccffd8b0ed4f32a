"""Image + heat-map overlays (class activation maps, probability maps) in a grid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from qmrflow.io.atomic import atomic_output


def overlay_grid(
    images: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    suptitle: str = "",
    vmax: float = 1.2,
    alpha: float = 0.4,
) -> Figure:
    """Two rows per column: the image, then the image with its map overlaid (jet colours).

    Parameters
    ----------
    images, maps
        2D arrays in NIfTI index order (x, y); drawn with x horizontal (``.T``, origin lower).
    titles
        One title per column.
    suptitle
        Figure title.
    vmax
        Upper grey level of the images (maps are drawn on [0, 1]).
    alpha
        Opacity of the map.
    """
    if not (len(images) == len(maps) == len(titles)):
        raise ValueError(
            f"images, maps and titles differ in length: {len(images)}, {len(maps)}, {len(titles)}"
        )
    columns = max(len(images), 1)
    height, width = images[0].shape if images else (2, 1)
    panel = 2.2
    fig = Figure(figsize=(panel * columns, 2 * panel * width / height + 0.6), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False)
    for column, (image, heat, title) in enumerate(zip(images, maps, titles, strict=True)):
        for ax in axes[:, column]:
            ax.imshow(image.T, cmap="gray", vmin=0, vmax=vmax, origin="lower")
        axes[1, column].imshow(heat.T, cmap="jet", alpha=alpha, vmin=0, vmax=1, origin="lower")
        axes[0, column].set_title(title, fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Save a figure atomically (PNG unless the name says otherwise)."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return Path(path)
