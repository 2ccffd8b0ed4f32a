"""Region of interest for the dystrophy CNN: both thighs in an adaptive window.

Yang et al. (BMC Neurology 2021) fed the CNN axial mid-thigh T1-weighted slices cropped to
the two legs: the body was found by Otsu thresholding, holes were filled, the largest connected
components kept, the left and right leg separated, and an adaptive window (the smallest
rectangle holding both legs) cut out; slices whose legs were too close to be separated were
dropped. :func:`localise_roi` does this for one slice, :func:`localise_rois` for a stack.

Conventions
-----------
A slice is a 2D array in NIfTI index order ``(X, Y)``; ``X`` is the left-right axis, so the
two legs lie side by side along axis 0. Boxes are half-open pixel index ranges
``(x0, x1, y0, y1)`` of the input: ``image[x0:x1, y0:y1]``. "Left" and "right" leg mean lower
and higher ``X`` index; which anatomical side that is depends on the affine.

Separability
------------
* Two comparable components (the smaller at least ``min_leg_fraction`` of the larger): the
  legs are apart; ``gap_px`` is the narrowest background gap between them along ``X``
  (measured row by row where both legs are present).
* One component: the legs touch (or the slice holds a single blob). The split column is the
  column with the fewest body pixels within the central half of the body's bounding box. The
  legs count as separable when the body pixels in that column (the contact) are at most
  ``max_contact_fraction`` of the thinner leg's height (its largest column count) and the
  smaller side holds at least ``min_leg_fraction`` of the larger side's area.

Intensities are normalised by the 99th percentile inside the body mask and clipped to
``[0, 1.5]``; the crop is zero-padded symmetrically to the aspect ratio of ``out_shape`` and
resized to it (linear interpolation, Gaussian anti-aliasing when shrinking).

scipy, scikit-image and pandas are imported inside the functions so that importing this module
stays cheap (a Snakemake DAG build imports it without running it).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qmrflow.errors import InputDataError

if TYPE_CHECKING:
    import pandas as pd

    from qmrflow.io.nifti import Image

logger = logging.getLogger(__name__)

#: ``(x0, x1, y0, y1)``: half-open pixel index ranges along X and Y.
Box = tuple[int, int, int, int]

#: Columns of the table returned by :func:`localise_rois`.
ROI_COLUMNS = (
    "slice",
    "x0",
    "x1",
    "y0",
    "y1",
    "separable",
    "gap_px",
    "n_components",
    "threshold",
    "contact_fraction",
)

# The split between touching legs is searched in the central half of the body's extent.
_CENTRAL_FRACTION = 0.5
# A body must cover at least this fraction of the slice (and 16 pixels).
_MIN_BODY_FRACTION = 0.005
_NORMALISE_PERCENTILE = 99.0
_CLIP_MAX = 1.5


@dataclass(frozen=True)
class RoiResult:
    """The localised region of interest of one slice.

    Attributes
    ----------
    crop
        float32 array of shape ``out_shape``: the normalised, padded and resized window.
    box
        The window ``(x0, x1, y0, y1)`` in input pixel indices (half-open), margin included.
    separable
        Whether the two legs could be separated (see the module notes).
    n_components
        Number of connected components (after hole filling) of comparable size, i.e. at least
        ``min_leg_fraction`` of the largest: 1 when the legs touch, 2 when apart. Only the two
        largest are used as legs.
    gap_px
        Narrowest background gap between the legs along ``X`` in pixels; 0 when they touch.
    left_box, right_box
        Bounding boxes (half-open, no margin) of the leg at lower and higher ``X``.
    threshold
        The Otsu threshold, in input intensity units.
    contact_fraction
        Body pixels in the split column over the thinner leg's height; 0 when the legs are
        apart.
    """

    crop: np.ndarray
    box: Box
    separable: bool
    n_components: int
    gap_px: int
    left_box: Box
    right_box: Box
    threshold: float
    contact_fraction: float = 0.0


def localise_roi(
    image: np.ndarray | Image,
    *,
    out_shape: tuple[int, int] = (128, 64),
    margin: int = 4,
    min_leg_fraction: float = 0.2,
    max_contact_fraction: float = 0.15,
    subject: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> RoiResult:
    """Find both legs on one axial thigh slice and crop them by an adaptive window.

    Parameters
    ----------
    image
        2D slice ``(X, Y)`` with the legs side by side along ``X`` (an array or an
        :class:`qmrflow.io.Image`).
    out_shape
        Shape ``(X, Y)`` of the returned crop.
    margin
        Pixels added around the legs' bounding box before clipping to the image.
    min_leg_fraction
        A second component counts as a leg when its area is at least this fraction of the
        largest; when the legs touch, the smaller side of the split must hold at least this
        fraction of the larger side's area for the slice to be separable.
    max_contact_fraction
        Touching legs are separable when the contact at the split column is at most this
        fraction of the thinner leg's height.
    subject, path
        Named in error messages.

    Returns
    -------
    RoiResult
        The crop, the window, the leg boxes and the separability decision.

    Raises
    ------
    InputDataError
        The image is not 2D, holds NaN or infinite values, is blank (no body found), or the
        body's intensities are not positive.
    ValueError
        An option is out of range.
    """
    return _localise(
        image,
        out_shape=out_shape,
        margin=margin,
        min_leg_fraction=min_leg_fraction,
        max_contact_fraction=max_contact_fraction,
        subject=subject,
        path=path,
        what="",
    )


def localise_rois(
    images: Sequence[np.ndarray | Image],
    *,
    paths: Sequence[str | os.PathLike[str] | None] | None = None,
    out_shape: tuple[int, int] = (128, 64),
    margin: int = 4,
    min_leg_fraction: float = 0.2,
    max_contact_fraction: float = 0.15,
    subject: str | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Localise the region of interest on every slice of a subject.

    Parameters
    ----------
    images
        2D slices ``(X, Y)`` (arrays or :class:`qmrflow.io.Image`), any sizes.
    paths
        Source file of each slice, named in error messages (optional).
    out_shape, margin, min_leg_fraction, max_contact_fraction
        As in :func:`localise_roi`.
    subject
        Named in error messages.

    Returns
    -------
    crops : numpy.ndarray
        float32 array ``(n, *out_shape)``.
    table : pandas.DataFrame
        One row per slice with columns :data:`ROI_COLUMNS`: ``slice`` (1-based), the window
        ``x0, x1, y0, y1``, ``separable``, ``gap_px``, ``n_components``, ``threshold`` and
        ``contact_fraction``.

    Raises
    ------
    InputDataError
        A slice is unusable (see :func:`localise_roi`); the message names the slice number.
    """
    import pandas as pd

    if paths is not None and len(paths) != len(images):
        raise ValueError(f"got {len(paths)} paths for {len(images)} images")
    crops = np.zeros((len(images), *_check_shape(out_shape)), dtype=np.float32)
    rows = []
    for index, image in enumerate(images):
        result = _localise(
            image,
            out_shape=out_shape,
            margin=margin,
            min_leg_fraction=min_leg_fraction,
            max_contact_fraction=max_contact_fraction,
            subject=subject,
            path=None if paths is None else paths[index],
            what=f"slice {index + 1}: ",
        )
        crops[index] = result.crop
        x0, x1, y0, y1 = result.box
        rows.append(
            (
                index + 1,
                x0,
                x1,
                y0,
                y1,
                result.separable,
                result.gap_px,
                result.n_components,
                result.threshold,
                result.contact_fraction,
            )
        )
    table = pd.DataFrame.from_records(rows, columns=list(ROI_COLUMNS))
    table = table.astype(
        {
            "slice": "int64",
            "x0": "int64",
            "x1": "int64",
            "y0": "int64",
            "y1": "int64",
            "separable": "bool",
            "gap_px": "int64",
            "n_components": "int64",
            "threshold": "float64",
            "contact_fraction": "float64",
        }
    )
    n_bad = int((~table["separable"]).sum())
    if n_bad:
        logger.info("sub-%s: %d of %d slices not separable", subject, n_bad, len(table))
    return crops, table


def _localise(
    image: np.ndarray | Image,
    *,
    out_shape: tuple[int, int],
    margin: int,
    min_leg_fraction: float,
    max_contact_fraction: float,
    subject: str | None,
    path: str | os.PathLike[str] | None,
    what: str,
) -> RoiResult:
    """:func:`localise_roi` with ``what`` prefixed to error messages."""
    out_shape = _check_shape(out_shape)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not 0.0 < min_leg_fraction <= 1.0:
        raise ValueError(f"min_leg_fraction must be in (0, 1], got {min_leg_fraction}")
    if max_contact_fraction < 0.0:
        raise ValueError(f"max_contact_fraction must be >= 0, got {max_contact_fraction}")

    arr = _checked_slice(image, subject=subject, path=path, what=what)
    threshold, labels, major = _body_components(arr, min_leg_fraction, subject, path, what)
    leg_mask, left, right, separable, contact_fraction, gap_px = _legs(
        labels,
        major,
        min_leg_fraction=min_leg_fraction,
        max_contact_fraction=max_contact_fraction,
        log_context=(subject, path, what),
    )

    bx0, bx1, by0, by1 = _bbox(leg_mask)
    if bx1 - bx0 < by1 - by0:
        logger.warning(
            "sub-%s %s: %sbody is narrower along X (%d px) than along Y (%d px); are the legs "
            "side by side along the first axis?",
            subject,
            path,
            what,
            bx1 - bx0,
            by1 - by0,
        )
    box = (
        max(0, bx0 - margin),
        min(arr.shape[0], bx1 + margin),
        max(0, by0 - margin),
        min(arr.shape[1], by1 + margin),
    )
    scale = float(np.percentile(arr[leg_mask], _NORMALISE_PERCENTILE))
    if scale <= 0.0:
        raise InputDataError(
            f"{what}body intensities are not positive (99th percentile {scale:g})",
            subject=subject,
            path=path,
        )
    x0, x1, y0, y1 = box
    crop = np.clip(arr[x0:x1, y0:y1] / scale, 0.0, _CLIP_MAX)
    crop = _fit(crop, out_shape)
    return RoiResult(
        crop=crop,
        box=box,
        separable=bool(separable),
        n_components=len(major),
        gap_px=int(gap_px),
        left_box=_bbox(left),
        right_box=_bbox(right),
        threshold=threshold,
        contact_fraction=float(contact_fraction),
    )


def _checked_slice(
    image: np.ndarray | Image,
    *,
    subject: str | None,
    path: str | os.PathLike[str] | None,
    what: str,
) -> np.ndarray:
    """The slice as float64, refused when not 2D, tiny, not finite or blank."""
    if not isinstance(image, np.ndarray) and hasattr(image, "affine"):
        image = image.data
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputDataError(
            f"{what}expected a 2D slice, got shape {arr.shape}", subject=subject, path=path
        )
    if min(arr.shape) < 2:
        raise InputDataError(
            f"{what}slice of shape {arr.shape} is too small", subject=subject, path=path
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputDataError(
            f"{what}slice holds NaN or infinite values", subject=subject, path=path
        )
    lo, hi = float(arr.min()), float(arr.max())
    if hi - lo <= 1e-12 * max(abs(hi), abs(lo), 1.0):
        raise InputDataError(
            f"{what}no body found: the slice is blank (constant intensity {hi:g})",
            subject=subject,
            path=path,
        )
    return arr


def _body_components(
    arr: np.ndarray,
    min_leg_fraction: float,
    subject: str | None,
    path: str | os.PathLike[str] | None,
    what: str,
) -> tuple[float, np.ndarray, list[int]]:
    """Otsu threshold, the labelled body components and the labels of the major ones (at least
    ``min_leg_fraction`` of the largest), largest first."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    threshold = float(threshold_otsu(arr))
    body = ndimage.binary_fill_holes(arr > threshold)
    labels, n_labels = ndimage.label(body, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n_labels + 1)[1:]
    min_body = max(16, math.ceil(_MIN_BODY_FRACTION * arr.size))
    if n_labels == 0 or int(sizes.max()) < min_body:
        raise InputDataError(
            f"{what}no body found: largest object above the Otsu threshold {threshold:g} has "
            f"{int(sizes.max()) if n_labels else 0} pixels (< {min_body})",
            subject=subject,
            path=path,
        )
    order = np.argsort(-sizes, kind="stable")
    major = [int(i) + 1 for i in order if sizes[i] >= min_leg_fraction * sizes[order[0]]]
    return threshold, labels, major


def _legs(
    labels: np.ndarray,
    major: list[int],
    *,
    min_leg_fraction: float,
    max_contact_fraction: float,
    log_context: tuple[object, object, str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, float, int]:
    """The legs' mask, the left and right leg masks (ordered along X), whether they separate,
    the contact fraction of a split body and the gap between two separate legs in pixels."""
    if len(major) >= 2:
        left, right = sorted(
            (labels == major[0], labels == major[1]),
            key=lambda m: float(np.argwhere(m)[:, 0].mean()),
        )
        if len(major) > 2:
            subject, path, what = log_context
            logger.debug(
                "sub-%s %s: %s%d comparable components; the two largest are the legs",
                subject,
                path,
                what,
                len(major),
            )
        return left | right, left, right, True, 0.0, _gap(left, right)
    body = labels == major[0]
    left, right, separable, contact_fraction = _split(
        body, min_leg_fraction=min_leg_fraction, max_contact_fraction=max_contact_fraction
    )
    return body, left, right, separable, contact_fraction, 0


def _split(
    mask: np.ndarray, *, min_leg_fraction: float, max_contact_fraction: float
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Split one connected body at its thinnest central column.

    Returns
    -------
    left, right
        Masks of the body left and right of the split column (the column itself excluded).
    separable
        Whether the contact is narrow and both sides are comparable legs.
    contact_fraction
        Body pixels in the split column over the thinner side's largest column count.
    """
    counts = mask.sum(axis=1)
    columns = np.flatnonzero(counts)
    bx0, bx1 = int(columns[0]), int(columns[-1])
    width = bx1 - bx0 + 1
    half = (1.0 - _CENTRAL_FRACTION) / 2.0
    lo = bx0 + max(1, math.ceil(half * width))
    hi = bx1 - max(1, math.ceil(half * width))
    left = np.zeros_like(mask)
    right = np.zeros_like(mask)
    if hi < lo:  # too narrow to hold two legs
        left[: (bx0 + bx1) // 2 + 1] = mask[: (bx0 + bx1) // 2 + 1]
        right[(bx0 + bx1) // 2 + 1 :] = mask[(bx0 + bx1) // 2 + 1 :]
        return left, right, False, 1.0
    central = counts[lo : hi + 1]
    candidates = np.flatnonzero(central == central.min()) + lo
    centre = (lo + hi) / 2.0
    split = int(candidates[np.argmin(np.abs(candidates - centre))])
    left[:split] = mask[:split]
    right[split + 1 :] = mask[split + 1 :]
    height = min(int(counts[:split].max()), int(counts[split + 1 :].max()))
    contact_fraction = float(counts[split]) / max(height, 1)
    areas = sorted((int(left.sum()), int(right.sum())))
    balanced = areas[0] >= min_leg_fraction * areas[1]
    separable = contact_fraction <= max_contact_fraction and balanced
    return left, right, separable, contact_fraction


def _gap(left: np.ndarray, right: np.ndarray) -> int:
    """Narrowest background run along X between two disjoint leg masks (row by row)."""
    x = np.arange(left.shape[0])[:, None]
    left_max = np.where(left, x, -1).max(axis=0)
    right_min = np.where(right, x, left.shape[0]).min(axis=0)
    shared = left.any(axis=0) & right.any(axis=0)
    if shared.any():
        gaps = right_min[shared] - left_max[shared] - 1
        return max(0, int(gaps.min()))
    lx1 = _bbox(left)[1]
    rx0 = _bbox(right)[0]
    return max(0, rx0 - lx1)


def _bbox(mask: np.ndarray) -> Box:
    """Half-open bounding box ``(x0, x1, y0, y1)`` of a mask; all zeros when empty."""
    xs = np.flatnonzero(mask.any(axis=1))
    ys = np.flatnonzero(mask.any(axis=0))
    if xs.size == 0:
        return (0, 0, 0, 0)
    return (int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1)


def _fit(crop: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad ``crop`` symmetrically to the aspect ratio of ``out_shape``, then resize."""
    from skimage.transform import resize

    tx, ty = out_shape
    cx, cy = crop.shape
    if cx * ty > cy * tx:  # too wide: pad along Y
        px, py = cx, math.ceil(cx * ty / tx)
    else:
        px, py = math.ceil(cy * tx / ty), cy
    before_x, before_y = (px - cx) // 2, (py - cy) // 2
    padded = np.pad(crop, ((before_x, px - cx - before_x), (before_y, py - cy - before_y)))
    shrinking = px > tx or py > ty
    resized = resize(
        padded,
        out_shape,
        order=1,
        mode="edge",
        anti_aliasing=shrinking,
        preserve_range=True,
    )
    return np.clip(resized, 0.0, _CLIP_MAX).astype(np.float32)


def _check_shape(out_shape: tuple[int, int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in out_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"out_shape must be two positive integers, got {out_shape}")
    return shape[0], shape[1]


def localise_subject(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    subject: str,
    out_crops: str | os.PathLike[str],
    out_table: str | os.PathLike[str],
    out_shape: tuple[int, int] = (128, 64),
    margin: int = 4,
    expected: str | None = None,
) -> pd.DataFrame:
    """Read one subject's slices (a NIfTI stack or slice files, or a DICOM folder), localise,
    write the ROIs.

    Parameters
    ----------
    inputs
        The T1w stack, NIfTI slice files, or a one-element list holding a DICOM series
        folder. Empty when the subject's images are missing: that raises here, for this
        subject only.
    subject
        Participant label.
    out_crops
        3D NIfTI (X, Y, slices) of the crops, the classifier's input.
    out_table
        TSV with one row per slice (:data:`ROI_COLUMNS`); ``slice`` is the file's slice number.
    expected
        What was looked for, named in the error when ``inputs`` is empty.

    Raises
    ------
    InputDataError
        No images (``inputs`` empty), or any problem :func:`qmrflow.io.slices.load_slices`
        reports.

    Returns
    -------
    pandas.DataFrame
        The ROI table.
    """
    from qmrflow.io import save_nifti, write_tsv
    from qmrflow.io.slices import load_slices, slice_number

    if not inputs:
        raise InputDataError(
            f"no T1w images found; expected {expected or 'sub-<id>_T1w.nii.gz'}", subject=subject
        )
    images = load_slices(list(inputs), subject=subject)
    numbers = sorted(n for n in map(slice_number, inputs) if n is not None)
    paths = list(inputs) if len(inputs) == len(images) else None
    crops, table = localise_rois(
        images, paths=paths, out_shape=out_shape, margin=margin, subject=subject
    )
    if numbers and len(numbers) == len(table):
        table["slice"] = numbers
    save_nifti(
        np.moveaxis(crops, 0, 2),
        out_crops,
        sidecar={
            "SkullStripped": False,
            "Description": "both-leg ROI of each slice, cropped and resampled (classifier input)",
        },
    )
    write_tsv(table, out_table)
    logger.info(
        "sub-%s: %d slices, %d separable", subject, len(table), int(table["separable"].sum())
    )
    return table
