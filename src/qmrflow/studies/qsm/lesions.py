"""Per-lesion features of a QSM map: core, paramagnetic rim, central vein and contrasts.

:func:`lesion_features` measures every lesion of a FLAIR lesion label map (``0`` background,
``1..L`` one label per lesion) on one susceptibility map (and the echo-combined magnitude and
FLAIR images of the same grid), one row per lesion. Every statistic is a label-wise reduction
(``numpy.bincount``, ``numpy.maximum.at``) over region label maps built with whole-volume
``scipy.ndimage`` filters and one Euclidean distance transform, so the cost does not grow with
a Python loop over voxels or lesions.

Regions of a lesion (voxel units, whatever ``voxel_mm``; only voxels with a finite ``chi``)
-------------------------------------------------------------------------------------------
core
    The lesion eroded by one voxel: voxels of the lesion whose six face neighbours all belong
    to the same lesion (a voxel on the volume border is never core). Lesions too small to have
    a core (no voxel survives the erosion) use all their voxels as core.
inner edge
    The lesion minus its core: the 1-voxel layer just inside the FLAIR lesion border.
outer shell
    Non-lesion voxels with a face neighbour in the lesion (Euclidean distance 1 voxel to it):
    the 1-voxel layer just outside the border (within ``reference`` when given). A voxel next
    to two lesions belongs to the nearer one (ties: either).
surrounding tissue ("NAWM shell")
    Non-lesion voxels at a Euclidean distance ``inner < d <= outer`` from the lesion
    (``shell_voxels``, default ``(1, 4)``: the 2-4 voxel shell around it), skipping the outer
    shell so that a rim does not leak into it; voxels nearer to another lesion belong to that
    lesion's shell (one distance transform with nearest-lesion indices), lesion voxels of any
    label are excluded, and, given ``reference``, only its voxels count (e.g. a white-matter or
    brain mask, so that CSF or the outside of the brain never stands in for NAWM).

Features (columns of the returned table; ``chi`` in ppm)
--------------------------------------------------------
``lesion``, ``n_voxels``, ``volume_ml``
    Label, number of voxels and volume (``n_voxels * prod(voxel_mm) / 1000``).
``n_core``
    Voxels in the core (0 when the lesion is too small and the whole lesion is used).
``chi_core``
    Mean ``chi`` over the core.
``chi_rim``
    Mean ``chi`` of the brighter (larger mean) of the two 1-voxel layers at the lesion border,
    the inner edge and the outer shell. A paramagnetic rim lesion (PRL) is a lesion with a
    hyperintense rim at its edge around an iso- or hypointense core; depending on the
    segmentation the rim falls just inside or just outside the FLAIR border, so both layers
    are candidates and the brighter one is the rim.
``rim_contrast``
    ``chi_rim - chi_core``: rim over core (positive for a PRL; about 0 for a uniform lesion).
``chi_nawm``
    Mean ``chi`` of the surrounding tissue (NAWM shell).
``rim_nawm_contrast``
    ``chi_rim - chi_nawm``: rim over surrounding tissue. A hypointense lesion without a rim has
    a positive ``rim_contrast`` (its outer shell is NAWM) but ``rim_nawm_contrast`` about 0; a
    rim must stand out from both.
``qsm_contrast``
    ``chi_core - chi_nawm``: the lesion's QSM appearance (hyper > 0 > hypo).
``vein_contrast``
    Central vein: the largest in-plane local peak of ``chi`` over the core. With ``c`` the
    ``chi`` map averaged over 3 voxels along z (the B0 axis: a vein running through the
    lesion along z is coherent over slices, noise is not), the local peak of a voxel is ``c``
    minus the mean ``c`` of its 8 in-plane neighbours (a 3x3 ring in the x-y plane); the
    feature is the maximum over the core's voxels, i.e. over the lesion's slices (z) of each
    slice's in-plane peak. A central vein (a small hyperintense dot in every slice through the
    lesion) gives a large value; a uniform core gives 0, a smooth gradient or the blurred rim
    at the core's edge little. Noise alone gives roughly 1.5-2 ``noise_ppm`` (the maximum of
    the peak map's noise over the core), so compare with ``noise_ppm``. Relative to the local
    in-plane neighbourhood rather than the lesion mean, so that a rim or a hyperintense core
    does not pass for a vein.
``magnitude_contrast``, ``flair_contrast``
    ``(mean over the lesion - mean over the surrounding tissue) / mean over the surrounding
    tissue`` of the echo-combined magnitude and of the FLAIR image (relative, unit-free:
    magnitudes have arbitrary units). NaN when the surrounding mean is 0.
``noise_ppm``
    Standard deviation (``ddof=1``) of ``chi`` over the surrounding tissue: the fluctuation a
    reader sees around the lesion (image noise plus normal tissue texture).
``appearance``
    ``"hyper"`` when ``qsm_contrast > t``, ``"hypo"`` when ``qsm_contrast < -t``, else
    ``"iso"``, with ``t = max(cnr_threshold * noise_ppm, min_contrast_ppm)`` (defaults 1 noise
    SD and 0.005 ppm, so a noise-free map still needs a real contrast); missing (``None``) when
    ``qsm_contrast`` or ``noise_ppm`` is undefined.

Features of a region with no voxel (e.g. a lesion whose surroundings lie outside
``reference``) are NaN, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import ndimage

from qmrflow.errors import InputDataError

__all__ = [
    "APPEARANCES",
    "FEATURE_COLUMNS",
    "appearance",
    "lesion_features",
]

logger = logging.getLogger(__name__)

#: Columns of :func:`lesion_features`, in order.
FEATURE_COLUMNS: tuple[str, ...] = (
    "lesion",
    "volume_ml",
    "n_voxels",
    "n_core",
    "chi_core",
    "chi_rim",
    "rim_contrast",
    "chi_nawm",
    "rim_nawm_contrast",
    "qsm_contrast",
    "vein_contrast",
    "magnitude_contrast",
    "flair_contrast",
    "noise_ppm",
    "appearance",
)
#: QSM appearances of a lesion core relative to its surroundings.
APPEARANCES: tuple[str, ...] = ("hyper", "iso", "hypo")

# 6-connected structuring element: face neighbours.
_FACES = ndimage.generate_binary_structure(3, 1)


def lesion_features(
    labels: ArrayLike,
    chi: ArrayLike,
    magnitude: ArrayLike,
    flair: ArrayLike,
    voxel_mm: Sequence[float],
    *,
    reference: ArrayLike | None = None,
    shell_voxels: tuple[float, float] = (1.0, 4.0),
    cnr_threshold: float = 1.0,
    min_contrast_ppm: float = 0.005,
    subject: str | None = None,
) -> pd.DataFrame:
    """One row of QSM, magnitude and FLAIR features per FLAIR lesion (module docstring).

    Parameters
    ----------
    labels
        Lesion label map ``(X, Y, Z)``: integers, 0 background, one positive label per lesion
        (labels need not be consecutive; absent labels give no row).
    chi
        Susceptibility map (ppm) on the same grid; non-finite voxels are left out of every
        region.
    magnitude
        Echo-combined magnitude image on the same grid.
    flair
        FLAIR image on the same grid.
    voxel_mm
        Voxel size (mm), three positive numbers (for ``volume_ml``; regions are in voxels).
    reference
        Optional boolean mask of tissue allowed in the surrounding (NAWM) shell, e.g. the
        white matter or the brain mask. Default: every non-lesion voxel.
    shell_voxels
        ``(inner, outer)`` distances (voxels) of the surrounding shell: non-lesion voxels at a
        distance ``inner < d <= outer`` from the lesion. Default ``(1, 4)``: the 2-4 voxel
        shell.
    cnr_threshold, min_contrast_ppm
        ``appearance`` threshold ``t = max(cnr_threshold * noise_ppm, min_contrast_ppm)``.
    subject
        Participant label, for error messages.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FEATURE_COLUMNS`, one row per lesion label present, sorted by label;
        an empty table with these columns when the map has no lesion.

    Raises
    ------
    InputDataError
        Images not 3-D or of different shapes, non-integer or negative labels, a bad
        ``voxel_mm``, ``reference`` of another shape, or a bad shell.
    """
    lab, images, ref = _checked_inputs(labels, (chi, magnitude, flair), reference, subject)
    voxel = _checked_voxel(voxel_mm, subject)
    inner, outer = (float(v) for v in shell_voxels)
    if not 0.0 < inner < outer:
        raise InputDataError(
            f"shell_voxels must satisfy 0 < inner < outer, got {shell_voxels}", subject=subject
        )
    ids = np.unique(lab[lab > 0])
    if ids.size == 0:
        logger.info("lesion_features: no lesion in the label map")
        return _empty_table()
    # Work on the bounding box of all lesions plus the shell (and one voxel for the filters):
    # regions never reach further, and the distance transform is the costliest step.
    box = _bounding_box(lab > 0, margin=int(np.ceil(outer)) + 2)
    lab = lab[box]
    chi_box, magnitude_box, flair_box = (image[box] for image in images)
    ref = None if ref is None else ref[box]

    finite = np.isfinite(chi_box)
    chi_box = np.where(finite, chi_box, 0.0)
    n_labels = int(ids.max()) + 1
    lesion = lab > 0

    # Core: every face neighbour carries the same label (constant 0 outside the volume).
    low = ndimage.minimum_filter(lab, footprint=_FACES, mode="constant", cval=0)
    high = ndimage.maximum_filter(lab, footprint=_FACES, mode="constant", cval=0)
    core = lesion & (low == lab) & (high == lab)
    edge = lesion & ~core
    n_voxels = np.bincount(lab.ravel(), minlength=n_labels)
    n_core = np.bincount(lab[core], minlength=n_labels)
    no_core = n_core == 0
    # Lesions without a core use all their voxels as core.
    core_used = core | (lesion & no_core[lab])

    # Nearest lesion and distance (voxels) for every non-lesion voxel.
    distance, nearest = ndimage.distance_transform_edt(~lesion, return_indices=True)
    owner = lab[tuple(nearest)]
    outside = ~lesion if ref is None else ~lesion & ref
    outer_shell = outside & (distance <= 1.0)
    nawm = outside & (distance > inner) & (distance <= outer)

    chi_core = _label_mean(chi_box, _regions(lab, core_used & finite), n_labels)
    edge_mean = _label_mean(chi_box, _regions(lab, edge & finite), n_labels)
    outer_mean = _label_mean(chi_box, _regions(owner, outer_shell & finite), n_labels)
    chi_rim = np.fmax(edge_mean, outer_mean)
    nawm_regions = _regions(owner, nawm & finite)
    chi_nawm = _label_mean(chi_box, nawm_regions, n_labels)
    noise = _label_sd(chi_box, nawm_regions, n_labels)
    peak = _local_peak(chi_box, lesion & finite)
    vein = _label_max(peak, _regions(lab, core_used & np.isfinite(peak)), n_labels)
    magnitude_contrast = _relative_contrast(magnitude_box, lab, owner, nawm, n_labels)
    flair_contrast = _relative_contrast(flair_box, lab, owner, nawm, n_labels)

    qsm_contrast = chi_core - chi_nawm
    table = pd.DataFrame(
        {
            "lesion": ids.astype(np.int64),
            "volume_ml": n_voxels[ids] * float(np.prod(voxel)) / 1000.0,
            "n_voxels": n_voxels[ids].astype(np.int64),
            "n_core": n_core[ids].astype(np.int64),
            "chi_core": chi_core[ids],
            "chi_rim": chi_rim[ids],
            "rim_contrast": (chi_rim - chi_core)[ids],
            "chi_nawm": chi_nawm[ids],
            "rim_nawm_contrast": (chi_rim - chi_nawm)[ids],
            "qsm_contrast": qsm_contrast[ids],
            "vein_contrast": vein[ids],
            "magnitude_contrast": magnitude_contrast[ids],
            "flair_contrast": flair_contrast[ids],
            "noise_ppm": noise[ids],
        }
    )
    table["appearance"] = appearance(
        table["qsm_contrast"].to_numpy(),
        table["noise_ppm"].to_numpy(),
        cnr_threshold=cnr_threshold,
        min_contrast_ppm=min_contrast_ppm,
    )
    undefined = table[["chi_core", "chi_nawm", "noise_ppm"]].isna().any(axis=1)
    if undefined.any():
        logger.warning(
            "%s%d lesion(s) without core or surrounding-tissue voxels (NaN features): %s",
            f"sub-{subject}: " if subject else "",
            int(undefined.sum()),
            table.loc[undefined, "lesion"].tolist()[:10],
        )
    logger.info("lesion_features: %d lesion(s) measured", len(table))
    return table


def appearance(
    qsm_contrast: ArrayLike,
    noise_ppm: ArrayLike,
    *,
    cnr_threshold: float = 1.0,
    min_contrast_ppm: float = 0.005,
) -> np.ndarray:
    """``"hyper"``/``"iso"``/``"hypo"`` per lesion from its QSM contrast and noise.

    ``t = max(cnr_threshold * noise_ppm, min_contrast_ppm)``; hyper when the contrast exceeds
    ``t``, hypo when it is below ``-t``, iso otherwise; ``None`` where either is NaN.
    """
    contrast = np.asarray(qsm_contrast, dtype=float)
    noise = np.asarray(noise_ppm, dtype=float)
    threshold = np.maximum(cnr_threshold * noise, min_contrast_ppm)
    out = np.where(contrast > threshold, "hyper", np.where(contrast < -threshold, "hypo", "iso"))
    out = out.astype(object)
    out[~(np.isfinite(contrast) & np.isfinite(noise))] = None
    return out


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def _checked_inputs(
    labels: ArrayLike,
    images: tuple[ArrayLike, ...],
    reference: ArrayLike | None,
    subject: str | None,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise InputDataError(f"lesion labels must be 3-D, got shape {lab.shape}", subject=subject)
    if not np.issubdtype(lab.dtype, np.integer):
        as_int = np.rint(lab)
        if not (np.issubdtype(lab.dtype, np.floating) and np.array_equal(as_int, lab)):
            raise InputDataError(
                f"lesion labels must be integers, got dtype {lab.dtype} with fractional values",
                subject=subject,
            )
        lab = as_int
    lab = lab.astype(np.int64)
    if (lab < 0).any():
        raise InputDataError("lesion labels must be >= 0 (0 = background)", subject=subject)
    out = []
    for name, image in zip(("chi", "magnitude", "flair"), images, strict=True):
        array = np.asarray(image, dtype=np.float64)
        if array.shape != lab.shape:
            raise InputDataError(
                f"{name} has shape {array.shape}, the lesion labels {lab.shape}", subject=subject
            )
        out.append(array)
    ref = None
    if reference is not None:
        ref = np.asarray(reference).astype(bool)
        if ref.shape != lab.shape:
            raise InputDataError(
                f"reference mask has shape {ref.shape}, the lesion labels {lab.shape}",
                subject=subject,
            )
    return lab, out, ref


def _checked_voxel(voxel_mm: Sequence[float], subject: str | None) -> np.ndarray:
    voxel = np.asarray(voxel_mm, dtype=float)
    if voxel.shape != (3,) or not np.all(np.isfinite(voxel) & (voxel > 0)):
        raise InputDataError(
            f"voxel_mm must be three positive numbers, got {voxel_mm!r}", subject=subject
        )
    return voxel


def _bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """Slices of the bounding box of ``mask`` grown by ``margin`` (clipped to the volume)."""
    box = []
    for axis, size in enumerate(mask.shape):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        box.append(slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + margin + 1, size)))
    return tuple(box)


def _regions(owner: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Label map of a region: the owning lesion's label inside ``mask``, 0 elsewhere."""
    return np.where(mask, owner, 0)


def _label_mean(values: np.ndarray, regions: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` per region label 0..n-1 (NaN for an empty region)."""
    counts = np.bincount(regions.ravel(), minlength=n).astype(float)
    sums = np.bincount(regions.ravel(), weights=values.ravel(), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _label_sd(values: np.ndarray, regions: np.ndarray, n: int) -> np.ndarray:
    """Sample SD (ddof 1) of ``values`` per region label (NaN with fewer than 2 voxels)."""
    flat, labels = values.ravel(), regions.ravel()
    counts = np.bincount(labels, minlength=n).astype(float)
    mean = _label_mean(values, regions, n)
    # Two-pass (centred) sum of squares: no cancellation for small SDs around large means.
    centred = flat - np.nan_to_num(mean)[labels]
    squares = np.bincount(labels, weights=centred * centred, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 1, np.sqrt(squares / (counts - 1.0)), np.nan)


def _label_max(values: np.ndarray, regions: np.ndarray, n: int) -> np.ndarray:
    """Maximum of ``values`` per region label 1..n-1 (NaN for an empty region and label 0)."""
    out = np.full(n, -np.inf)
    inside = regions > 0
    np.maximum.at(out, regions[inside], values[inside])
    out[np.isneginf(out)] = np.nan
    return out


def _local_peak(chi: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """In-plane local peak map over the voxels of ``inside`` (the lesions).

    ``c``: ``chi`` averaged over the lesion voxels of a 3-voxel window along z; peak: ``c``
    minus the mean ``c`` of the lesion voxels among its 8 in-plane neighbours (NaN without
    any). Normalised convolutions (box sums of ``value * mask`` over box sums of ``mask``)
    keep non-lesion tissue out of both averages, so a lesion's border is no peak.
    """
    weight = inside.astype(np.float64)
    values = np.where(inside, chi, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z_sum = ndimage.uniform_filter1d(values, size=3, axis=2, mode="constant") * 3.0
        z_count = ndimage.uniform_filter1d(weight, size=3, axis=2, mode="constant") * 3.0
        smooth = np.where(inside, z_sum / z_count, 0.0)
        ring_sum = ndimage.uniform_filter(smooth, size=(3, 3, 1), mode="constant") * 9.0 - smooth
        ring_count = ndimage.uniform_filter(weight, size=(3, 3, 1), mode="constant") * 9.0 - weight
        ring_count = np.rint(ring_count)
        return np.where(inside & (ring_count > 0), smooth - ring_sum / ring_count, np.nan)


def _relative_contrast(
    image: np.ndarray, lab: np.ndarray, owner: np.ndarray, nawm: np.ndarray, n: int
) -> np.ndarray:
    """``(lesion mean - surrounding mean) / surrounding mean`` per lesion (NaN if mean is 0)."""
    finite = np.isfinite(image)
    values = np.where(finite, image, 0.0)
    inside = _label_mean(values, _regions(lab, (lab > 0) & finite), n)
    around = _label_mean(values, _regions(owner, nawm & finite), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(around != 0, (inside - around) / around, np.nan)


def _empty_table() -> pd.DataFrame:
    table = pd.DataFrame({column: pd.Series(dtype=float) for column in FEATURE_COLUMNS})
    table["lesion"] = table["lesion"].astype(np.int64)
    table["n_voxels"] = table["n_voxels"].astype(np.int64)
    table["n_core"] = table["n_core"].astype(np.int64)
    table["appearance"] = table["appearance"].astype(object)
    return table
