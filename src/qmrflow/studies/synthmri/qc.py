"""The synthmri study's QC page of one test subject: the fits against their source images, the
super-resolved maps against the routine ones.

Images
    ``Fit of the <acq> MDME`` (:func:`plot_fit_against_source`, one per acquisition): the middle
    slice of every source image (one row per echo time, one column per saturation delay, as the
    sidecar names them) above the fitted T1, T2, PD and B1 maps and the fit's relative residual.
    ``Maps of every method`` (:func:`qmrflow.studies.synthmri.figures.plot_example_maps`): T1,
    T2 and PD of the routine protocol, the fast one (spline-upsampled), the DL super-resolution
    and (demo) the truth, one grey window per map.
Measures (:func:`subject_measures`)
    The median relative fit residual inside the brain of each acquisition; the routine maps'
    tissue means (CSF, GM, WM, deep GM); SSIM and NRMSE of DL and fast against routine per map.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmrflow.io import load_nifti, read_tsv
from qmrflow.report.qc import (
    QCImage,
    QCSection,
    SubjectQC,
    image_from_figure,
    measures_table,
)
from qmrflow.studies.synthmri.protocol import MdmeProtocol, read_sidecar
from qmrflow.studies.synthmri.study import MAPS

__all__ = [
    "ACQUISITIONS",
    "QC_TISSUES",
    "plot_fit_against_source",
    "subject_measures",
    "subject_qc",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The MDME protocols of every subject.
ACQUISITIONS: tuple[str, ...] = ("routine", "fast")
#: Tissues of the ROI table whose routine means are compared with the cohort.
QC_TISSUES: tuple[str, ...] = ("CSF", "GM", "WM", "deepGM")
_UNITS = {"T1map": "ms", "T2map": "ms", "PDmap": "1", "B1map": "1"}


def _middle(volume: np.ndarray) -> np.ndarray:
    return np.nan_to_num(volume[:, :, volume.shape[2] // 2])


def plot_fit_against_source(
    source: np.ndarray,
    protocol: MdmeProtocol,
    maps: Mapping[str, np.ndarray],
    residual: np.ndarray,
    mask: np.ndarray,
    title: str,
    spacing: tuple[float, float] = (1.0, 1.0),
) -> Figure:
    """Source images and fitted maps of one acquisition, middle slice.

    Parameters
    ----------
    source
        The MDME image ``(X, Y, Z, volumes)``.
    protocol
        Its delays and echo times (one per volume).
    maps
        ``T1map``, ``T2map``, ``PDmap``, ``B1map`` on the same grid.
    residual
        The fit's relative residual map.
    mask
        The fitted voxels (the grey windows are taken inside it).
    title
        The figure's title.
    spacing
        In-plane voxel size (mm) along X and Y: the images are drawn to scale.
    """
    delays = sorted(set(protocol.delays))
    echoes = sorted(set(protocol.echo_times))
    columns = max(len(delays), len(maps) + 1)
    aspect = spacing[1] / spacing[0]
    ratio = source.shape[1] * aspect / source.shape[0]  # drawn height / width
    panel = 1.5
    fig = Figure(
        figsize=(panel * columns + 0.4, panel * ratio * (len(echoes) + 1) + 0.6),
        layout="constrained",
    )
    axes = fig.subplots(len(echoes) + 1, columns, squeeze=False)
    inside = _middle(mask.astype(float)) > 0
    slices = _middle(source)
    vmax = float(np.percentile(slices[inside], 99)) if inside.any() else float(slices.max())
    for volume, (delay, echo) in enumerate(zip(protocol.delays, protocol.echo_times, strict=True)):
        ax = axes[echoes.index(echo), delays.index(delay)]
        ax.imshow(
            slices[:, :, volume].T,
            cmap="gray",
            origin="lower",
            vmin=0,
            vmax=vmax or 1.0,
            aspect=aspect,
        )
        ax.set_title(f"TD {delay:g} ms, TE {echo:g} ms", fontsize=7)
    fitted = {**maps, "residual": residual}
    for column, (key, volume) in enumerate(fitted.items()):
        image = _middle(volume)
        values = image[inside] if inside.any() else image.ravel()
        high = float(np.percentile(values, 99)) if values.size else 1.0
        ax = axes[-1, column]
        ax.imshow(
            np.where(inside, image, 0).T,
            cmap="gray",
            origin="lower",
            vmin=0,
            vmax=high or 1.0,
            aspect=aspect,
        )
        unit = _UNITS.get(key, "")
        unit = f" {unit}" if unit not in ("", "1") else ""
        ax.set_title(f"{key.removesuffix('map')} (0-{high:.3g}{unit})", fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return fig


def subject_measures(
    rois: pd.DataFrame, quality: pd.DataFrame, residuals: Mapping[str, float]
) -> pd.DataFrame:
    """The subject's key measures (:data:`qmrflow.report.qc.MEASURE_COLUMNS`).

    Parameters
    ----------
    rois, quality
        The subject's ROI and image-quality tables.
    residuals
        Acquisition -> the median relative fit residual inside the brain.
    """
    rows: list[tuple[str, float, str]] = [
        (f"fit_residual_{acq}", value, "1") for acq, value in residuals.items()
    ]
    routine = rois[(rois["method"] == "routine") & (rois["roi_type"] == "tissue")]
    for tissue in QC_TISSUES:
        for key in MAPS:
            name = key.removesuffix("map")
            hit = routine[(routine["roi"] == tissue) & (routine["map"] == name)]
            if len(hit):
                rows.append((f"routine_{tissue}_{name}", float(hit["mean"].iloc[0]), _UNITS[key]))
    against = quality[quality["reference"] == "routine"]
    for method in ("dl", "fast"):
        for key in MAPS:
            name = key.removesuffix("map")
            hit = against[(against["method"] == method) & (against["map"] == name)]
            for metric in ("ssim", "nrmse"):
                if len(hit):
                    rows.append((f"{method}_{name}_{metric}", float(hit[metric].iloc[0]), "1"))
    return measures_table(rows)


def _fit_image(inputs: Mapping[str, Any], acq: str, subject: str) -> tuple[QCImage, float]:
    loaded = load_nifti(inputs[f"mdme_{acq}"], subject=subject, ndim=4)
    source = loaded.data
    protocol = read_sidecar(inputs[f"mdme_{acq}"], source.shape[-1], subject=subject)

    def volume(key: str) -> np.ndarray:
        return load_nifti(inputs[key], subject=subject, ndim=3, allow_nonfinite=True).data

    maps = {key: volume(f"{acq}_{key}") for key in (*MAPS, "B1map")}
    residual = volume(f"{acq}_residual")
    mask = volume(f"{acq}_mask") > 0
    inside = residual[mask & np.isfinite(residual)]
    median = float(np.median(inside)) if inside.size else float("nan")
    figure = plot_fit_against_source(
        source,
        protocol,
        maps,
        residual,
        mask,
        f"sub-{subject}: {acq} MDME, middle slice",
        spacing=(loaded.spacing[0], loaded.spacing[1]),
    )
    image = image_from_figure(
        figure,
        f"Fit of the {acq} MDME",
        "Top: the source images (echo time by row, saturation delay by column); bottom: the "
        "fitted T1, T2, PD and B1 maps and the relative residual, inside the brain mask "
        f"(median residual {median:.3g}).",
    )
    return image, median


def subject_qc(subject: str, inputs: Mapping[str, Any], **options: Any) -> SubjectQC:
    """The subject's page (:mod:`qmrflow.report.qc`).

    Parameters
    ----------
    subject
        Participant label.
    inputs
        Per acquisition ``<acq>`` (``routine``, ``fast``): ``mdme_<acq>`` (the 4D source image,
        with its sidecar beside it), ``<acq>_T1map``, ``<acq>_T2map``, ``<acq>_PDmap``,
        ``<acq>_B1map``, ``<acq>_residual`` and ``<acq>_mask``; on the routine grid
        ``spline_<map>`` and ``dl_<map>`` (and, demo, ``truth_<map>``); the ``rois`` and
        ``quality`` tables.
    options
        None used.
    """
    from qmrflow.studies.synthmri.figures import plot_example_maps

    if options:
        raise TypeError(f"unexpected options {sorted(options)}")
    fits, residuals = [], {}
    for acq in ACQUISITIONS:
        image, residuals[acq] = _fit_image(inputs, acq, subject)
        fits.append(image)
    examples = {"routine": {key: inputs[f"routine_{key}"] for key in MAPS}}
    for method, prefix in (("fast", "spline"), ("dl", "dl"), ("truth", "truth")):
        if all(f"{prefix}_{key}" in inputs for key in MAPS):
            examples[method] = {key: inputs[f"{prefix}_{key}"] for key in MAPS}
    methods = image_from_figure(
        plot_example_maps(examples, subject),
        "Maps of every method",
        "Middle slice of the routine maps, the fast protocol's (spline-upsampled), the DL "
        "super-resolution of the fast maps and (demo) the truth; one grey window per map.",
    )
    rois = read_tsv(inputs["rois"], subject=subject)
    quality = read_tsv(inputs["quality"], subject=subject)
    return SubjectQC(
        study="synthmri",
        subject=subject,
        sections=(
            QCSection("Fitted maps against the source images", images=tuple(fits)),
            QCSection("Super-resolution against routine", images=(methods,)),
        ),
        measures=subject_measures(rois, quality, residuals),
        sources={"ROI means": inputs["rois"], "image quality": inputs["quality"]},
    )
