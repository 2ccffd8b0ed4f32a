"""Figures of the qsm study (group).

``panels``: one axial slice through the deep grey matter of the first test subject, GRE-QSM,
the lesion acquisition's CR- and DLR-QSM and (demo) the truth, one row per inversion (TKD,
TV), on one grey scale (-0.15 to 0.25 ppm). ``lesions``: close-ups of up to four of that
subject's FLAIR lesions (the largest), CR beside DLR (TV), the lesion outlined (window
-0.08 to 0.12 ppm). ``agreement``:
deep grey matter ROI means of every EPI-QSM (CR and DLR, TV) against GRE-QSM's with the
identity line and the regression slope and R². ``ratings``: mean score per item, rater and
reconstruction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import ndimage

from qmrflow.figures.overlay import save_figure
from qmrflow.io import read_tsv
from qmrflow.io.nifti import load_nifti

__all__ = ["plot_lesion_closeups", "plot_qsm_figures", "plot_qsm_panels"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Display window of every QSM panel (ppm).
WINDOW = (-0.15, 0.25)
#: Narrower window of the lesion close-ups (lesion contrasts are a few hundredths of a ppm).
LESION_WINDOW = (-0.08, 0.12)
RECON_COLOURS = {"cr": "tab:grey", "dlr": "tab:green"}


def _slice(volume: np.ndarray, z: int) -> np.ndarray:
    return np.rot90(volume[:, :, z])


def plot_qsm_panels(inputs: Mapping[str, PathLike], lesion_acq: str) -> Figure:
    """GRE, EPI CR, EPI DLR (and truth) per inversion, one slice (the ``panels`` figure, of any
    subject: ``inputs`` holds its ``<recon>_<acq>_<inversion>`` maps, ``cr_gre_mask`` and,
    demo, ``truth``)."""
    columns = [("GRE CR", "cr", "gre"), (f"{lesion_acq} CR", "cr", lesion_acq)]
    columns.append((f"{lesion_acq} DLR", "dlr", lesion_acq))
    truth = load_nifti(inputs["truth"], ndim=3).data if "truth" in inputs else None
    mask = load_nifti(inputs["cr_gre_mask"], ndim=3).data > 0
    z = int(np.argmax(mask.sum(axis=(0, 1))))
    inversions = ("tkd", "tv")
    n_columns = len(columns) + (truth is not None)
    fig = Figure(figsize=(2.4 * n_columns, 2.6 * len(inversions)), layout="constrained")
    axes = fig.subplots(len(inversions), n_columns, squeeze=False)
    image = None
    for row, inversion in enumerate(inversions):
        for column, (title, recon, acq) in enumerate(columns):
            chi = load_nifti(inputs[f"{recon}_{acq}_{inversion}"], ndim=3).data
            image = axes[row, column].imshow(_slice(chi, z), cmap="gray", clim=WINDOW)
            axes[row, column].set_title(f"{title} {inversion.upper()}", fontsize=9)
        if truth is not None:
            axes[row, -1].imshow(_slice(truth * mask, z), cmap="gray", clim=WINDOW)
            axes[row, -1].set_title("truth", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="susceptibility (ppm)")
    return fig


def plot_lesion_closeups(inputs: Mapping[str, PathLike], lesion_acq: str) -> Figure:
    """Close-ups of the largest lesions, CR beside DLR (TV) (the ``lesions`` figure, of any
    subject: ``inputs`` holds its ``lesions`` labels and ``<recon>_<acq>_tv`` maps)."""
    labels = np.rint(load_nifti(inputs["lesions"], ndim=3, dtype=None).data).astype(int)
    maps = {r: load_nifti(inputs[f"{r}_{lesion_acq}_tv"], ndim=3).data for r in ("cr", "dlr")}
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = [int(i) for i in np.argsort(sizes)[::-1][:4] if sizes[i] > 0]
    fig = Figure(figsize=(2.2 * max(len(largest), 1), 4.6), layout="constrained")
    axes = fig.subplots(2, max(len(largest), 1), squeeze=False)
    boxes = ndimage.find_objects(labels)
    for column, lesion in enumerate(largest):
        box = boxes[lesion - 1]
        centre = [(s.start + s.stop) // 2 for s in box]
        half = 8
        crop = tuple(slice(max(c - half, 0), c + half) for c in centre[:2])
        z = centre[2]
        outline = labels[(*crop, z)] == lesion
        for row, recon in enumerate(("cr", "dlr")):
            ax = axes[row, column]
            ax.imshow(np.rot90(maps[recon][(*crop, z)]), cmap="gray", clim=LESION_WINDOW)
            ax.contour(np.rot90(outline), levels=[0.5], colors="tab:red", linewidths=0.8)
            ax.set_title(f"lesion {lesion} {recon.upper()}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    return fig


def _agreement(rois: pd.DataFrame, path: PathLike) -> None:
    """Deep grey matter ROI means of each EPI-QSM (TV) against GRE-QSM's."""
    from qmrflow.studies.qsm.evaluate import roi_pairs

    pairs = roi_pairs(rois)
    pairs = pairs[pairs["inversion"] == "tv"]
    acquisitions = list(dict.fromkeys(pairs["acquisition"]))
    fig = Figure(figsize=(3.6 * max(len(acquisitions), 1), 3.4), layout="constrained")
    axes = fig.subplots(1, max(len(acquisitions), 1), squeeze=False)[0]
    for ax, acq in zip(axes, acquisitions, strict=False):
        rows = pairs[pairs["acquisition"] == acq]
        low = float(min(rows["gre"].min(), rows["epi"].min()))
        high = float(max(rows["gre"].max(), rows["epi"].max()))
        ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="identity")
        for recon, group in rows.groupby("recon", sort=False):
            slope, intercept = np.polyfit(group["gre"], group["epi"], 1)
            r2 = float(np.corrcoef(group["gre"], group["epi"])[0, 1] ** 2)
            ax.scatter(group["gre"], group["epi"], s=14, color=RECON_COLOURS.get(recon))
            ax.plot(
                [low, high],
                [slope * low + intercept, slope * high + intercept],
                color=RECON_COLOURS.get(recon),
                label=f"{recon.upper()}: slope {slope:.2f}, R² {r2:.2f}",
            )
        ax.set_xlabel("GRE-QSM ROI mean (ppm)")
        ax.set_ylabel(f"{acq}-QSM ROI mean (ppm)")
        ax.legend(fontsize=7)
        ax.set_title(f"deep grey matter, {acq}", fontsize=9)
    save_figure(fig, path)


def _ratings(ratings: pd.DataFrame, path: PathLike) -> None:
    """Mean score per item, rater and reconstruction."""
    items = ("prl", "cvs", "hyperiso", "quality")
    raters = sorted(ratings["rater"].unique()) if len(ratings) else []
    fig = Figure(figsize=(3.0 * len(items), 3.0), layout="constrained")
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    for ax, item in zip(axes, items, strict=True):
        for offset, recon in enumerate(("cr", "dlr")):
            means = [
                ratings[(ratings["rater"] == r) & (ratings["recon"] == recon)][item].mean()
                for r in raters
            ]
            x = np.arange(len(raters)) + (offset - 0.5) * 0.35
            ax.bar(x, means, width=0.35, color=RECON_COLOURS[recon], label=recon.upper())
        ax.set_xticks(np.arange(len(raters)), raters)
        ax.set_title(item, fontsize=9)
    axes[0].set_ylabel("mean score")
    axes[0].legend(fontsize=7)
    if not raters:
        fig.suptitle("no lesion ratings")
    save_figure(fig, path)


def plot_qsm_figures(
    *,
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    lesion_acquisition: str,
) -> None:
    """Write the group figures (module docstring).

    ``inputs``: ``table_<name>`` group tables, the first test subject's maps and masks
    (``<recon>_<acq>_<inversion>``, ``<recon>_<acq>_mask``), its ``lesions`` labels and (demo)
    ``truth``. ``outputs``: ``panels``, ``lesions``, ``agreement``, ``ratings``.
    """
    save_figure(plot_qsm_panels(inputs, lesion_acquisition), outputs["panels"])
    save_figure(plot_lesion_closeups(inputs, lesion_acquisition), outputs["lesions"])
    _agreement(read_tsv(inputs["table_rois"]), outputs["agreement"])
    _ratings(read_tsv(inputs["table_ratings"]), outputs["ratings"])
