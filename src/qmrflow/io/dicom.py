"""DICOM series reading: single-frame 2D slices with a NIfTI-convention (RAS+) affine.

A folder holds one series of axial slices, one single-frame file per slice. Every file is
checked at the boundary (readable DICOM, pixel data present and complete, one series, one
matrix size, finite values after the modality rescale); a problem raises
:class:`qmrflow.errors.InputDataError` naming the subject and the offending file.

Geometry
--------
DICOM patient coordinates are LPS+; the pixel array is ``rows x columns``, i.e. ``(y, x)``.
Each returned slice is transposed to NIfTI index order ``(i, j) = (column, row)`` and gets the
affine

.. math::

    A = \\mathrm{diag}(-1, -1, 1, 1)
        \\begin{pmatrix} \\Delta_c\\,\\mathbf{r} & \\Delta_r\\,\\mathbf{c} & \\Delta_z\\,\\mathbf{n}
        & \\mathbf{p} \\\\ 0 & 0 & 0 & 1 \\end{pmatrix}

with ``r``/``c`` the row/column direction cosines (ImageOrientationPatient), ``Δr, Δc`` the
PixelSpacing, ``n = r × c`` the slice normal, ``Δz`` the slice spacing and ``p`` the
ImagePositionPatient (centre of the first transmitted pixel).
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io.nifti import Image

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

logger = logging.getLogger(__name__)

#: LPS+ (DICOM) to RAS+ (NIfTI): flip the first two world axes.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_DEFAULT_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# Exceptions pydicom raises while parsing or decoding a corrupt or truncated file.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)


@dataclass
class _Slice:
    """One decoded DICOM file before ordering and affine construction."""

    path: Path
    data: np.ndarray  # float32, (rows, columns) as stored
    series_uid: str | None
    instance: int | None
    position: np.ndarray | None  # ImagePositionPatient, LPS mm
    orientation: np.ndarray | None  # ImageOrientationPatient (row cosine, column cosine)
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns)
    thickness: float | None  # SpacingBetweenSlices, else SliceThickness
    inverted: bool  # MONOCHROME1


def load_dicom_series(
    directory: str | os.PathLike[str], *, subject: str | None = None
) -> list[Image]:
    """Read a folder of single-frame 2D DICOM files (one series) as 2D images.

    Parameters
    ----------
    directory
        Folder holding the series, one file per slice. Hidden files (``.DS_Store``) and a
        ``DICOMDIR`` index are ignored; sub-folders are not searched.
    subject
        Participant label (without ``sub-``), used in error messages.

    Returns
    -------
    list of Image
        One 2D image per slice, ``data`` float32 of shape ``(columns, rows)`` = ``(X, Y)``
        after RescaleSlope/RescaleIntercept, ``affine`` RAS+ in millimetres. Slices are ordered
        by ImagePositionPatient projected on the slice normal (ascending; inferior to superior
        for axial slices), or by InstanceNumber when positions are missing.

    Raises
    ------
    InputDataError
        The folder is missing or empty; a file is not DICOM, is truncated or unreadable, has no
        pixel data, is multi-frame or not greyscale; the files belong to more than one
        SeriesInstanceUID or differ in rows/columns; values are NaN or infinite after the
        rescale; or the slices cannot be ordered.
    """
    return [image for _, image in read_dicom_series(directory, subject=subject)]


def read_dicom_series(
    directory: str | os.PathLike[str], *, subject: str | None = None
) -> list[tuple[Path, Image]]:
    """Like :func:`load_dicom_series` but pair each slice with the file it came from.

    Parameters
    ----------
    directory
        Folder holding the series.
    subject
        Participant label, used in error messages.

    Returns
    -------
    list of (Path, Image)
        The source file and the image of each slice, in slice order.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputDataError("DICOM folder not found", subject=subject, path=directory)
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )
    if not files:
        raise InputDataError("DICOM folder is empty (no files)", subject=subject, path=directory)
    slices = [_read_file(path, subject=subject) for path in files]
    _check_consistent(slices, subject=subject)
    slices = _order(slices, subject=subject)
    if any(s.inverted for s in slices):
        # MONOCHROME1 displays the minimum as white; invert over the whole series so that
        # tissue is bright as in MONOCHROME2 and slices stay comparable.
        lo = min(float(s.data.min()) for s in slices)
        hi = max(float(s.data.max()) for s in slices)
        logger.info("sub-%s %s: MONOCHROME1 series, intensities inverted", subject, directory)
        for s in slices:
            s.data = (hi + lo - s.data).astype(np.float32)
    dz = _slice_spacing(slices)
    out = []
    for index, s in enumerate(slices):
        affine = _affine(s, index=index, dz=dz)
        out.append((s.path, Image(data=np.ascontiguousarray(s.data.T), affine=affine)))
    logger.debug("sub-%s %s: read %d DICOM slices", subject, directory, len(out))
    return out


def _read_file(path: Path, *, subject: str | None) -> _Slice:
    """Read and decode one single-frame DICOM file, checking what can be checked alone."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, force=False)
    except InvalidDicomError as exc:
        raise InputDataError(f"not a DICOM file: {exc}", subject=subject, path=path) from exc
    except _READ_ERRORS as exc:
        raise InputDataError(
            f"unreadable DICOM file (corrupt or truncated): {exc}", subject=subject, path=path
        ) from exc
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        raise InputDataError(
            "DICOM file meta information has no TransferSyntaxUID (truncated file?)",
            subject=subject,
            path=path,
        )
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise InputDataError(
            "DICOM file has no pixel data (not an image, or truncated)", subject=subject, path=path
        )
    frames = _get_int(ds, "NumberOfFrames", path, subject)
    if frames is not None and frames > 1:
        raise InputDataError(
            f"multi-frame DICOM ({frames} frames); expected single-frame 2D slices",
            subject=subject,
            path=path,
        )
    samples = _get_int(ds, "SamplesPerPixel", path, subject)
    if samples is not None and samples != 1:
        raise InputDataError(
            f"expected a greyscale image, got SamplesPerPixel={samples}", subject=subject, path=path
        )
    try:
        pixels = ds.pixel_array
    except _READ_ERRORS as exc:
        raise InputDataError(
            f"cannot decode the pixel data (truncated file or unsupported transfer syntax): {exc}",
            subject=subject,
            path=path,
        ) from exc
    if pixels.ndim != 2:
        raise InputDataError(
            f"expected a single-frame 2D image, got pixel array of shape {pixels.shape}",
            subject=subject,
            path=path,
        )
    if min(pixels.shape) == 0:
        raise InputDataError(f"image is empty (shape {pixels.shape})", subject=subject, path=path)
    slope = _get_float(ds, "RescaleSlope", path, subject)
    intercept = _get_float(ds, "RescaleIntercept", path, subject)
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    with np.errstate(over="ignore", invalid="ignore"):
        data = (pixels.astype(np.float64) * slope + intercept).astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise InputDataError(
            f"{bad} of {data.size} pixels are NaN or infinite after rescale "
            f"(RescaleSlope={slope}, RescaleIntercept={intercept})",
            subject=subject,
            path=path,
        )
    position = _get_vector(ds, "ImagePositionPatient", 3, path, subject)
    orientation = _get_vector(ds, "ImageOrientationPatient", 6, path, subject)
    if orientation is not None:
        orientation = _normalise_orientation(orientation, path, subject)
    spacing = _get_vector(ds, "PixelSpacing", 2, path, subject)
    if spacing is not None and np.any(spacing <= 0):
        raise InputDataError(
            f"PixelSpacing must be positive, got {spacing.tolist()}", subject=subject, path=path
        )
    thickness = _get_float(ds, "SpacingBetweenSlices", path, subject)
    if thickness is None or thickness <= 0:
        thickness = _get_float(ds, "SliceThickness", path, subject)
    uid = ds.get("SeriesInstanceUID")
    return _Slice(
        path=path,
        data=data,
        series_uid=None if uid is None else str(uid),
        instance=_get_int(ds, "InstanceNumber", path, subject),
        position=position,
        orientation=orientation,
        pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
        thickness=thickness if thickness is not None and thickness > 0 else None,
        inverted=str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1",
    )


def _check_consistent(slices: list[_Slice], *, subject: str | None) -> None:
    """One SeriesInstanceUID and one matrix size across the files."""
    first = slices[0]
    for s in slices[1:]:
        if s.series_uid != first.series_uid:
            n_uids = len({t.series_uid for t in slices})
            raise InputDataError(
                f"folder mixes {n_uids} DICOM series: SeriesInstanceUID {s.series_uid} differs "
                f"from {first.series_uid} of {first.path.name}",
                subject=subject,
                path=s.path,
            )
        if s.data.shape != first.data.shape:
            raise InputDataError(
                f"inconsistent matrix size: rows x columns {s.data.shape} differs from "
                f"{first.data.shape} of {first.path.name}",
                subject=subject,
                path=s.path,
            )


def _order(slices: list[_Slice], *, subject: str | None) -> list[_Slice]:
    """Sort slices along the normal (ImagePositionPatient), else by InstanceNumber."""
    if len(slices) == 1:
        return slices
    if _located(slices):
        normal = _normal(slices[0].orientation)  # type: ignore[arg-type]
        keys = {id(s): float(np.dot(s.position, normal)) for s in slices}  # type: ignore[arg-type]
        ordered = sorted(
            slices,
            key=lambda s: (keys[id(s)], s.instance if s.instance is not None else 0, s.path.name),
        )
        positions = np.array([keys[id(s)] for s in ordered])
        if np.any(np.diff(positions) < 1e-4):
            logger.warning(
                "sub-%s %s: slices share a position along the normal (duplicate files?)",
                subject,
                slices[0].path.parent,
            )
        return ordered
    missing = next(s for s in slices if s.position is None or s.orientation is None)
    if all(s.instance is not None for s in slices):
        logger.warning(
            "sub-%s %s: ImagePositionPatient/ImageOrientationPatient missing (first in %s); "
            "ordering slices by InstanceNumber",
            subject,
            slices[0].path.parent,
            missing.path.name,
        )
        return sorted(slices, key=lambda s: (s.instance, s.path.name))
    no_instance = next(s for s in slices if s.instance is None)
    raise InputDataError(
        "cannot order the slices: neither ImagePositionPatient/ImageOrientationPatient nor "
        "InstanceNumber is present in every file",
        subject=subject,
        path=no_instance.path,
    )


def _located(slices: list[_Slice]) -> bool:
    """Whether every slice has ImagePositionPatient and ImageOrientationPatient."""
    return all(s.position is not None and s.orientation is not None for s in slices)


def _slice_spacing(slices: list[_Slice]) -> float:
    """Spacing along the normal: from positions when available, else the header, else 1 mm."""
    if len(slices) > 1 and _located(slices):
        normal = _normal(slices[0].orientation)  # type: ignore[arg-type]
        steps = np.diff([float(np.dot(s.position, normal)) for s in slices])  # type: ignore[arg-type]
        steps = steps[steps > 1e-4]
        if steps.size:
            return float(np.median(steps))
    for s in slices:
        if s.thickness is not None:
            return s.thickness
    return 1.0


def _affine(s: _Slice, *, index: int, dz: float) -> np.ndarray:
    """RAS+ voxel-to-world affine for NIfTI index order (column, row)."""
    if s.orientation is None or s.position is None or s.pixel_spacing is None:
        logger.warning(
            "%s: geometry incomplete (ImagePositionPatient, ImageOrientationPatient or "
            "PixelSpacing missing); using axial orientation, 1 mm pixels and the slice index "
            "as position where missing",
            s.path,
        )
    orientation = np.asarray(
        s.orientation if s.orientation is not None else _DEFAULT_ORIENTATION, dtype=np.float64
    )
    row_cos, col_cos = orientation[:3], orientation[3:]
    normal = _normal(orientation)
    row_spacing, col_spacing = s.pixel_spacing if s.pixel_spacing is not None else (1.0, 1.0)
    position = s.position if s.position is not None else normal * dz * index
    lps = np.eye(4)
    lps[:3, 0] = row_cos * col_spacing  # i = column index, moves along the row direction
    lps[:3, 1] = col_cos * row_spacing  # j = row index, moves along the column direction
    lps[:3, 2] = normal * dz
    lps[:3, 3] = position
    return LPS_TO_RAS @ lps


def _normal(orientation: np.ndarray) -> np.ndarray:
    normal = np.cross(orientation[:3], orientation[3:])
    return normal / np.linalg.norm(normal)


def _normalise_orientation(orientation: np.ndarray, path: Path, subject: str | None) -> np.ndarray:
    row_cos, col_cos = orientation[:3], orientation[3:]
    row_norm, col_norm = np.linalg.norm(row_cos), np.linalg.norm(col_cos)
    if row_norm < 1e-6 or col_norm < 1e-6:
        raise InputDataError(
            f"degenerate ImageOrientationPatient {orientation.tolist()}", subject=subject, path=path
        )
    row_cos, col_cos = row_cos / row_norm, col_cos / col_norm
    if abs(float(np.dot(row_cos, col_cos))) > 1e-2:
        raise InputDataError(
            f"ImageOrientationPatient directions are not orthogonal: {orientation.tolist()}",
            subject=subject,
            path=path,
        )
    return np.concatenate([row_cos, col_cos])


def _get_vector(
    ds: Dataset, keyword: str, length: int, path: Path, subject: str | None
) -> np.ndarray | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        vector = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"invalid {keyword}: {value!r}", subject=subject, path=path) from exc
    if vector.shape != (length,) or not np.all(np.isfinite(vector)):
        raise InputDataError(
            f"invalid {keyword}: expected {length} finite numbers, got {value!r}",
            subject=subject,
            path=path,
        )
    return vector


def _get_float(ds: Dataset, keyword: str, path: Path, subject: str | None) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"invalid {keyword}: {value!r}", subject=subject, path=path) from exc


def _get_int(ds: Dataset, keyword: str, path: Path, subject: str | None) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"invalid {keyword}: {value!r}", subject=subject, path=path) from exc
