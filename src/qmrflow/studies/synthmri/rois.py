"""Regions of interest and per-subject measurements of the synthmri study.

For each subject the T1, T2 and PD maps of every method (routine, fast = spline-upsampled fast
protocol, dl = super-resolved fast protocol, and on the demo cohort the ground truth), all on
the routine grid, are summarised in the same regions of interest (ROIs):

* tissue ROIs: CSF, GM, WM and, where the label map has it, deep GM (labels 1-4 of the tissue
  segmentation ``..._dseg.nii.gz``);
* region ROIs: each labelled region of ``..._desc-regions_dseg.nii.gz`` intersected with brain
  tissue (GM ∪ WM ∪ deep GM), so that a region's mean is not diluted by CSF;
* lesion ROIs: each connected component of the white-matter lesion mask (``lesion-1``,
  ``lesion-2``, ... in scipy's raster-scan order; 26-connectivity, so that a lesion that
  touches itself only along an edge or a corner on the thick-slice grid stays one lesion).

Lesion voxels are excluded from every tissue and region ROI (the brief asks it for WM; lesions
are WM lesions, but a lesion mask drawn generously may spill into GM or a region, and the
normal-appearing tissue values should not contain lesion voxels anywhere). Every ROI is further
intersected with the brain mask of the fit; an ROI left empty is skipped (and logged).

Partial volume: tissue ROIs are not eroded by default. At the routine in-plane resolution
(2 mm) cortical GM is one or two voxels thick, so a one-voxel in-plane erosion would remove most
of it, and the comparison the paper makes (DL and fast against routine on the same ROIs) is
meant to include the resolution loss at tissue borders, which erosion would hide. ``erode=True``
(one voxel in-plane, a 3x3x1 structuring element, :func:`scipy.ndimage.binary_erosion`) is
offered for users who want core-tissue values; an ROI that erosion empties is skipped.

Without a tissue label map, :func:`segment_tissues` classifies the routine maps by the nearest
literature tissue centroid in (R1, R2, PD) space: a coarse, SyMap-like classification (West et
al. 2012, Eur Radiol 22:998-1007, where tissue is assigned from a lookup in R1-R2-PD space). It
cannot find deep GM (its relaxation times overlap GM and WM), so it only produces labels 1-3.

:func:`measure_subject` writes two long tables per subject:

``rois``
    ``participant_id, method, roi_type, roi, map, mean, median, sd, n_voxels``: one row per
    method, ROI and map (``roi_type`` in {tissue, region, lesion}; ``map`` in {T1, T2, PD};
    ``sd`` with ``ddof = 1``, NaN for a one-voxel ROI).
``quality``
    ``participant_id, method, reference, map, psnr, ssim, nrmse``: full-reference image
    quality (:mod:`qmrflow.image_quality`) of fast and DL against routine and, when present,
    against the ground truth, inside the brain mask, with the data range of the reference.
    Both images are set to 0 outside the brain mask first, so that the background (which the
    fit leaves undefined) does not enter the SSIM windows at the brain edge.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from qmrflow.errors import InputDataError
from qmrflow.image_quality import nrmse, psnr, ssim
from qmrflow.io import Image, load_nifti, read_tsv, write_tsv
from qmrflow.roi import component_masks, label_masks, roi_rows

__all__ = [
    "MAP_KEYS",
    "METHODS",
    "QUALITY_COLUMNS",
    "ROI_COLUMNS",
    "TISSUE_CENTROIDS",
    "TISSUE_NAMES",
    "maps_by_method",
    "measure_subject",
    "read_region_names",
    "roi_masks",
    "segment_tissues",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Tissue label -> ROI name (labels of ``..._dseg.nii.gz``; 0 is background).
TISSUE_NAMES: dict[int, str] = {1: "CSF", 2: "GM", 3: "WM", 4: "deepGM"}
#: Labels that count as brain tissue for the region ROIs.
BRAIN_TISSUE_LABELS: tuple[int, ...] = (2, 3, 4)
WM_LABEL = 3

#: Tissue centroids, label -> (T1 ms, T2 ms, PD fraction): typical 3 T literature values of
#: synthetic-MRI relaxometry for WM and GM, and CSF with long T1/T2 and PD = 1 (approximate by
#: design: the classification only needs the tissues to be told apart).
TISSUE_CENTROIDS: dict[int, tuple[float, float, float]] = {
    1: (4000.0, 1800.0, 1.0),
    2: (1330.0, 90.0, 0.80),
    3: (830.0, 70.0, 0.69),
}

#: Map key of the mappings -> map name in the tables.
MAP_KEYS: dict[str, str] = {"T1map": "T1", "T2map": "T2", "PDmap": "PD"}
#: Methods in table order; "truth" only on the demo cohort.
METHODS: tuple[str, ...] = ("routine", "fast", "dl", "truth")
#: Methods judged for image quality, and their possible references.
QUALITY_METHODS: tuple[str, ...] = ("fast", "dl")
QUALITY_REFERENCES: tuple[str, ...] = ("routine", "truth")

ROI_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "method",
    "roi_type",
    "roi",
    "map",
    "mean",
    "median",
    "sd",
    "n_voxels",
    "voxel_error_percent",
)
QUALITY_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "method",
    "reference",
    "map",
    "psnr",
    "ssim",
    "nrmse",
)

# One voxel in-plane (x, y), none through the slices.
_INPLANE_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_INPLANE_STRUCTURE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


# ------------------------------------------------------------------------------------------
# Segmentation fallback
# ------------------------------------------------------------------------------------------


def _features(t1: np.ndarray, t2: np.ndarray, pd_: np.ndarray) -> np.ndarray:
    """(R1 in 1/s, R2 in 1/s, PD) stacked on a last axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([1000.0 / t1, 1000.0 / t2, pd_], axis=-1)


def segment_tissues(t1: np.ndarray, t2: np.ndarray, pd: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Coarse tissue classification by the nearest literature centroid in (R1, R2, PD) space.

    A SyMap-like classification (West et al. 2012): each voxel inside ``mask`` is assigned the
    tissue of :data:`TISSUE_CENTROIDS` closest to its ``(R1, R2, PD) = (1000/T1, 1000/T2, PD)``
    (``R`` in 1/s) in the Euclidean distance after dividing each axis by the range of the
    centroids along it (R1 0.95/s, R2 13.7/s, PD 0.31), so that no axis dominates because of
    its unit. Relaxation *rates* are used rather than times because tissue mixtures are close
    to linear in rates (fast exchange), and CSF's very long T1/T2 would otherwise stretch the
    space.

    Parameters
    ----------
    t1, t2
        T1 and T2 maps in ms (same shape).
    pd
        PD map as a fraction of water.
    mask
        Brain mask (nonzero = brain).

    Returns
    -------
    numpy.ndarray
        uint8 labels: 0 background (outside ``mask``, or a voxel whose T1/T2 is not a positive
        finite number or whose PD is not finite), 1 CSF, 2 GM, 3 WM. Deep GM (4) cannot be
        told apart from GM and WM by relaxometry alone and is never assigned.

    Raises
    ------
    ValueError
        The arrays differ in shape.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (t1, t2, pd)]
    inside = np.asarray(mask) != 0
    shapes = {a.shape for a in arrays} | {inside.shape}
    if len(shapes) != 1:
        raise ValueError(f"t1, t2, pd and mask must have the same shape, got {sorted(shapes)}")
    t1_, t2_, pd_ = arrays
    valid = inside & (t1_ > 0) & (t2_ > 0) & np.isfinite(t1_) & np.isfinite(t2_)
    valid &= np.isfinite(pd_)
    labels = np.array(sorted(TISSUE_CENTROIDS), dtype=np.uint8)
    centroids = _features(*(np.array([TISSUE_CENTROIDS[k][i] for k in labels]) for i in range(3)))
    scale = np.ptp(centroids, axis=0)
    voxels = _features(t1_[valid], t2_[valid], pd_[valid]) / scale
    distance = np.linalg.norm(voxels[:, None, :] - (centroids / scale)[None, :, :], axis=-1)
    out = np.zeros(inside.shape, dtype=np.uint8)
    out[valid] = labels[np.argmin(distance, axis=1)]
    logger.info(
        "segmented %d voxels by nearest tissue centroid: %s",
        int(valid.sum()),
        ", ".join(f"{TISSUE_NAMES[k]} {int((out == k).sum())}" for k in labels),
    )
    return out


# ------------------------------------------------------------------------------------------
# ROI masks
# ------------------------------------------------------------------------------------------


def roi_masks(
    tissue: np.ndarray,
    regions: np.ndarray | None = None,
    region_names: Mapping[int, str] | None = None,
    lesions: np.ndarray | None = None,
    *,
    erode: bool = False,
) -> dict[tuple[str, str], np.ndarray]:
    """Boolean masks of the tissue, region and lesion ROIs (see the module docstring).

    Parameters
    ----------
    tissue
        3-D integer tissue labels (0 background, 1 CSF, 2 GM, 3 WM, 4 deep GM).
    regions
        3-D integer region labels (0 = none), or None.
    region_names
        Region label -> name; None names them ``region-<label>``.
    lesions
        3-D lesion mask (nonzero = lesion), or None.
    erode
        Erode each tissue ROI by one voxel in-plane (off by default, see the module docstring).

    Returns
    -------
    dict
        ``(roi_type, roi_name) -> mask`` in the order tissue (CSF, GM, WM, deepGM), regions
        (by label), lesions (``lesion-1``, ...); ROIs that are empty are left out.

    Raises
    ------
    ValueError
        Arrays of different shapes, not 3-D, or a region label missing from ``region_names``.
    """
    tissue = np.asarray(tissue)
    if tissue.ndim != 3:
        raise ValueError(f"tissue labels must be 3-D, got shape {tissue.shape}")
    for name, array in (("regions", regions), ("lesions", lesions)):
        if array is not None and np.shape(array) != tissue.shape:
            raise ValueError(
                f"{name} shape {np.shape(array)} differs from the tissue shape {tissue.shape}"
            )
    lesion = np.zeros(tissue.shape, bool) if lesions is None else np.asarray(lesions) != 0
    normal = ~lesion
    masks: dict[tuple[str, str], np.ndarray] = {}
    for label, name in TISSUE_NAMES.items():
        roi = (tissue == label) & normal
        if erode:
            roi = ndimage.binary_erosion(roi, structure=_INPLANE_STRUCTURE)
        if roi.any():
            masks[("tissue", name)] = roi
        elif label != 4:
            logger.warning("tissue ROI %s is empty%s", name, " after erosion" if erode else "")
    if regions is not None:
        brain = np.isin(tissue, BRAIN_TISSUE_LABELS) & normal
        for name, region in label_masks(regions, region_names, prefix="region").items():
            roi = region & brain
            if roi.any():
                masks[("region", name)] = roi
            else:
                logger.info("region %s holds no brain tissue: skipped", name)
    for name, roi in component_masks(lesion, prefix="lesion").items():
        masks[("lesion", name)] = roi
    return masks


def read_region_names(path: PathLike, *, subject: str | None = None) -> dict[int, str]:
    """Region lookup table (TSV with columns ``index`` and ``name``) as ``label -> name``.

    Raises
    ------
    InputDataError
        Missing columns, non-integer or duplicate indices, empty names.
    """
    table = read_tsv(path, subject=subject)
    missing = [c for c in ("index", "name") if c not in table.columns]
    if missing:
        raise InputDataError(
            f"region lookup table lacks column(s) {missing}", subject=subject, path=path
        )
    try:
        indices = pd.to_numeric(table["index"], errors="raise").astype(int)
    except (TypeError, ValueError) as exc:
        raise InputDataError(
            f"region lookup column 'index' is not integer: {exc}", subject=subject, path=path
        ) from exc
    if indices.duplicated().any():
        raise InputDataError(
            f"duplicate region indices {sorted(set(indices[indices.duplicated()]))}",
            subject=subject,
            path=path,
        )
    names = table["name"].astype(str).str.strip()
    if table["name"].isna().any() or (names == "").any():
        raise InputDataError("empty region name(s)", subject=subject, path=path)
    return dict(zip(indices.tolist(), names.tolist(), strict=True))


# ------------------------------------------------------------------------------------------
# Per-subject measurement
# ------------------------------------------------------------------------------------------


class _Grid:
    """The routine grid: shape and affine every image must match."""

    def __init__(self, image: Image, path: PathLike, subject: str) -> None:
        self.shape = image.data.shape
        self.affine = image.affine
        self.path = Path(path)
        self.subject = subject

    def check(self, image: Image, path: PathLike) -> None:
        if image.data.shape != self.shape:
            raise InputDataError(
                f"shape {image.data.shape} differs from the brain mask's {self.shape} "
                f"({self.path.name}); every map must be on the routine grid",
                subject=self.subject,
                path=path,
            )
        # 1 µm tolerance: the same grid written by different tools.
        if not np.allclose(image.affine, self.affine, rtol=0.0, atol=1e-3):
            raise InputDataError(
                f"affine differs from the brain mask's ({self.path.name}); every map must be "
                f"on the routine grid:\n{np.round(image.affine, 4)}\nvs\n"
                f"{np.round(self.affine, 4)}",
                subject=self.subject,
                path=path,
            )


def _load_labels(path: PathLike, grid: _Grid, subject: str) -> np.ndarray:
    image = load_nifti(path, subject=subject, ndim=3, dtype=None)
    grid.check(image, path)
    data = image.data
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
            raise InputDataError("label map holds non-integer values", subject=subject, path=path)
    elif not np.issubdtype(data.dtype, np.integer) and data.dtype != bool:
        raise InputDataError(f"label map has dtype {data.dtype}", subject=subject, path=path)
    if (data < 0).any():
        raise InputDataError("label map holds negative labels", subject=subject, path=path)
    return data.astype(np.int32)


def _load_map(path: PathLike, grid: _Grid, brain: np.ndarray, subject: str) -> np.ndarray:
    image = load_nifti(path, subject=subject, ndim=3, allow_nonfinite=True)
    grid.check(image, path)
    data = image.data.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(data[brain])))
    if bad:
        raise InputDataError(
            f"{bad} voxel(s) inside the brain mask are NaN or infinite", subject=subject, path=path
        )
    # Outside the mask the fit is undefined: zero it (see the module docstring).
    return np.where(brain, data, 0.0)


def _check_maps(maps: Mapping[str, Mapping[str, PathLike]]) -> None:
    unknown = sorted(set(maps) - set(METHODS))
    if unknown:
        raise ValueError(f"maps: unknown method(s) {unknown}; expected a subset of {METHODS}")
    for required in ("routine", "fast", "dl"):
        if required not in maps:
            raise ValueError(f"maps: method {required!r} is missing")
    for method, paths in maps.items():
        missing = [k for k in MAP_KEYS if k not in paths]
        if missing:
            raise ValueError(f"maps[{method!r}] lacks {missing}")


def maps_by_method(inputs: Mapping[str, PathLike]) -> dict[str, dict[str, PathLike]]:
    """``{"<method>_<map key>": path}`` (a rule's flat inputs) -> ``{method: {map key: path}}``
    for every method of :data:`METHODS` whose maps are all present."""
    return {
        method: {key: inputs[f"{method}_{key}"] for key in MAP_KEYS}
        for method in METHODS
        if all(f"{method}_{key}" in inputs for key in MAP_KEYS)
    }


def _roi_rows(
    subject: str,
    method: str,
    volumes: Mapping[str, np.ndarray],
    masks: Mapping[tuple[str, str], np.ndarray],
    truth: Mapping[str, np.ndarray] | None,
) -> list[dict]:
    """One row per ROI and map (:func:`qmrflow.roi.roi_rows`); ``voxel_error_percent`` is the
    median over the ROI's voxels of ``100·|value − truth|/truth`` (NaN without truth, for the
    truth itself, or where the truth is 0)."""
    reference = truth if method != "truth" else None
    rows = roi_rows(masks, volumes, reference=reference, key_names=("roi_type", "roi"))
    return [{"participant_id": subject, "method": method, **row} for row in rows]


def _quality_rows(
    subject: str,
    volumes: Mapping[str, Mapping[str, np.ndarray]],
    brain: np.ndarray,
    maps: Mapping[str, Mapping[str, PathLike]],
) -> list[dict]:
    """PSNR, SSIM and NRMSE of fast and DL against each reference present, per map."""
    rows = []
    for method in QUALITY_METHODS:
        for reference in (r for r in QUALITY_REFERENCES if r in volumes):
            for name in MAP_KEYS.values():
                image, ref = volumes[method][name], volumes[reference][name]
                try:
                    row = {
                        "psnr": psnr(image, ref, mask=brain),
                        "ssim": ssim(image, ref, mask=brain),
                        "nrmse": nrmse(image, ref, mask=brain),
                    }
                except ValueError as exc:
                    raise InputDataError(
                        f"image quality of {method} {name} against {reference}: {exc}",
                        subject=subject,
                        path=maps[reference][f"{name}map"],
                    ) from exc
                rows.append(
                    {
                        "participant_id": subject,
                        "method": method,
                        "reference": reference,
                        "map": name,
                        **row,
                    }
                )
    return rows


def measure_subject(
    *,
    subject: str,
    maps: Mapping[str, Mapping[str, PathLike]],
    tissue: PathLike | None,
    regions: PathLike | None,
    region_names: PathLike | None,
    lesions: PathLike | None,
    mask: PathLike,
    outputs: Mapping[str, PathLike],
    erode: bool = False,
) -> None:
    """ROI statistics and image quality of one subject (see the module docstring).

    Parameters
    ----------
    subject
        Participant label without ``sub-``.
    maps
        ``method -> {"T1map", "T2map", "PDmap"} -> path`` for the methods ``routine``,
        ``fast`` (spline-upsampled onto the routine grid), ``dl`` and optionally ``truth``; all
        on the routine grid.
    tissue
        Tissue label map (0-4), or None to segment the routine maps (:func:`segment_tissues`).
    regions, region_names
        Region label map and its lookup table (``index``, ``name``), or None.
    lesions
        Lesion mask, or None.
    mask
        Brain mask of the routine fit; defines the grid every other image must match.
    outputs
        ``"rois"`` and ``"quality"``: the TSV files to write (atomically).
    erode
        Erode tissue ROIs by one voxel in-plane (default off).

    Raises
    ------
    InputDataError
        A file is missing or unreadable, not on the routine grid (shape or affine; the message
        names the file), has non-finite values in the brain, an empty brain mask, or a bad
        region lookup.
    ValueError
        ``maps`` or ``outputs`` lacks a required key.
    """
    _check_maps(maps)
    missing = [k for k in ("rois", "quality") if k not in outputs]
    if missing:
        raise ValueError(f"outputs lacks {missing}")
    if regions is not None and region_names is None:
        logger.warning("sub-%s: region labels given without a lookup table", subject)

    mask_image = load_nifti(mask, subject=subject, ndim=3, dtype=None)
    brain = np.asarray(mask_image.data) != 0
    if not brain.any():
        raise InputDataError("brain mask is empty", subject=subject, path=mask)
    grid = _Grid(mask_image, mask, subject)

    volumes = {
        method: {MAP_KEYS[key]: _load_map(paths[key], grid, brain, subject) for key in MAP_KEYS}
        for method, paths in maps.items()
    }

    if tissue is not None:
        tissue_labels = _load_labels(tissue, grid, subject)
    else:
        logger.info("sub-%s: no tissue labels; segmenting the routine maps", subject)
        routine = volumes["routine"]
        tissue_labels = segment_tissues(routine["T1"], routine["T2"], routine["PD"], brain)
    region_labels = None if regions is None else _load_labels(regions, grid, subject)
    names = None if region_names is None else read_region_names(region_names, subject=subject)
    lesion_mask = None if lesions is None else _load_labels(lesions, grid, subject) != 0
    try:
        masks = roi_masks(tissue_labels, region_labels, names, lesion_mask, erode=erode)
    except ValueError as exc:
        raise InputDataError(str(exc), subject=subject, path=region_names or regions) from exc
    masks = {key: roi & brain for key, roi in masks.items()}
    empty = [f"{t}/{r}" for (t, r), roi in masks.items() if not roi.any()]
    if empty:
        logger.info("sub-%s: ROIs outside the brain mask skipped: %s", subject, empty)
    masks = {key: roi for key, roi in masks.items() if roi.any()}

    roi_rows = []
    for method in (m for m in METHODS if m in volumes):
        roi_rows += _roi_rows(subject, method, volumes[method], masks, volumes.get("truth"))
    roi_table = pd.DataFrame(roi_rows, columns=list(ROI_COLUMNS))

    quality_rows = _quality_rows(subject, volumes, brain, maps)
    quality_table = pd.DataFrame(quality_rows, columns=list(QUALITY_COLUMNS))

    write_tsv(roi_table, outputs["rois"])
    write_tsv(quality_table, outputs["quality"])
    logger.info(
        "sub-%s: %d ROIs x %d methods measured; %d image-quality rows",
        subject,
        len(masks),
        len(volumes),
        len(quality_table),
    )
