"""DICOM series reading: single-frame 2D slices with a NIfTI-convention (RAS+) affine.

A folder tree holds one series of axial slices, one single-frame file per slice, either
directly or in sub-folders (``dicom/sub-01/series1/IM0001``, a CD/PACS export with its
``DICOMDIR``). Files that are not DICOM images are skipped with a note in the log: hidden files,
0-byte files, files without the ``DICM`` marker of a DICOM file (a README, a checksum list) and
``DICOMDIR`` indexes. Every other file is checked at the boundary (readable DICOM, an image
object rather than a segmentation, structure set, report or presentation state, MONOCHROME1/2,
single-frame, pixel data present, complete and decodable, one series, one matrix size, one image
per slice position, finite values after the modality rescale); a problem raises
:class:`qmrflow.errors.InputDataError` naming the subject and the offending file. A file that
carries the ``DICM`` marker but is truncated or corrupt is an error, never skipped. An exact
copy of a slice (same SOPInstanceUID or same position, identical pixels) is dropped with a
warning.

Compressed transfer syntaxes (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K, RLE)
are decoded by pydicom's plugins, installed with qmrflow (``pylibjpeg``, ``pylibjpeg-libjpeg``,
``pylibjpeg-openjpeg``, ``pyjpegls``); when none is available the error names the package to
install.

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
_EXPECTED = "expected MONOCHROME1/MONOCHROME2 single-frame image slices"
_GREYSCALE = ("MONOCHROME1", "MONOCHROME2")
#: Media Storage Directory Storage: a DICOMDIR index of a CD or PACS export.
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_PARAMETRIC_MAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.30"  # an image, though not "Image Storage"
#: Modalities of objects that are not images (segmentations, RT objects, reports, ...).
_NON_IMAGE_MODALITIES = frozenset(
    {"SEG", "RTSTRUCT", "RTPLAN", "RTRECORD", "SR", "PR", "KO", "REG", "FID", "DOC", "PLAN"}
)
#: Two slices closer than this along the normal (mm) are at the same position.
_SAME_POSITION_MM = 1e-3
#: Packages to install for pydicom to decode a compressed transfer syntax (the plugin last).
_DECODER_PACKAGES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            "1.2.840.10008.1.2.4.50",  # JPEG Baseline (8-bit)
            "1.2.840.10008.1.2.4.51",  # JPEG Extended (12-bit)
            "1.2.840.10008.1.2.4.57",  # JPEG Lossless, process 14
            "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
        ),
        ("pylibjpeg", "pylibjpeg-libjpeg"),
    ),
    **dict.fromkeys(
        ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),  # JPEG-LS (near-)lossless
        ("pyjpegls",),
    ),
    **dict.fromkeys(
        (
            "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
            "1.2.840.10008.1.2.4.91",  # JPEG 2000
            "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
            "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
            "1.2.840.10008.1.2.4.203",  # HTJ2K
        ),
        ("pylibjpeg", "pylibjpeg-openjpeg"),
    ),
    "1.2.840.10008.1.2.5": ("pylibjpeg", "pylibjpeg-rle"),  # RLE (pydicom also decodes it)
}
#: Transfer syntaxes newer than pydicom's UID dictionary.
_SYNTAX_NAMES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
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
    sop_uid: str | None  # SOPInstanceUID
    instance: int | None
    position: np.ndarray | None  # ImagePositionPatient, LPS mm
    orientation: np.ndarray | None  # ImageOrientationPatient (row cosine, column cosine)
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns)
    thickness: float | None  # SpacingBetweenSlices, else SliceThickness
    inverted: bool  # MONOCHROME1


def load_dicom_series(
    directory: str | os.PathLike[str], *, subject: str | None = None
) -> list[Image]:
    """Read a folder tree of single-frame 2D DICOM files (one series) as 2D images.

    Parameters
    ----------
    directory
        Folder holding the series, one file per slice, directly or in sub-folders (searched
        recursively). Hidden files and folders, 0-byte files, files that are not DICOM (no
        ``DICM`` marker after the 128-byte preamble) and ``DICOMDIR`` indexes are skipped, with
        a note in the log.
    subject
        Participant label (without ``sub-``), used in error messages.

    Returns
    -------
    list of Image
        One 2D image per slice, ``data`` float32 of shape ``(columns, rows)`` = ``(X, Y)``
        after RescaleSlope/RescaleIntercept, ``affine`` RAS+ in millimetres. Slices are ordered
        by ImagePositionPatient projected on the slice normal (ascending; inferior to superior
        for axial slices), or by InstanceNumber when positions are missing. An exact duplicate
        of a slice (same SOPInstanceUID or position, identical pixel data) is dropped with a
        warning.

    Raises
    ------
    InputDataError
        The folder is missing, empty or holds no DICOM file; a DICOM file is truncated,
        corrupt or unreadable, is not an image (segmentation, structure set, report,
        presentation state, ...), is PALETTE COLOR or colour, multi-frame, has no pixel data or
        pixel data no installed plugin decodes (the message names the package to install); the
        files belong to more than one SeriesInstanceUID or differ in rows/columns; two different
        images share a position (or SOPInstanceUID); values are NaN or infinite after the
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
        Folder (tree) holding the series.
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
    files = _list_files(directory)
    if not files:
        raise InputDataError(
            "DICOM folder is empty (no files in it or its sub-folders)",
            subject=subject,
            path=directory,
        )
    slices, skipped = [], []
    for path in files:
        opened = _open(path, subject=subject)
        if isinstance(opened, str):
            name = path.relative_to(directory)
            skipped.append(f"{name} ({opened})")
            level = logging.INFO if "DICOMDIR" in opened else logging.WARNING
            logger.log(level, "sub-%s %s: skipped %s: %s", subject, directory, name, opened)
            continue
        slices.append(_read_slice(opened, path, subject=subject))
    if not slices:
        shown = "; ".join(skipped[:5]) + (
            f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        )
        raise InputDataError(
            f"no DICOM image file in the folder tree; skipped {len(skipped)} file(s): {shown}",
            subject=subject,
            path=directory,
        )
    _check_consistent(slices, root=directory, subject=subject)
    slices = _drop_duplicates(slices, root=directory, subject=subject)
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


def _list_files(directory: Path) -> list[Path]:
    """Every non-hidden file under ``directory`` (recursively), in sorted path order."""
    files = []
    for root, dirs, names in os.walk(directory):
        hidden = sorted(d for d in dirs if d.startswith("."))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [*hidden, *(n for n in names if n.startswith("."))]:
            logger.debug("%s: hidden, ignored", Path(root) / name)
        files.extend(
            Path(root) / name
            for name in names
            if not name.startswith(".") and (Path(root) / name).is_file()
        )
    return sorted(files)


def _open(path: Path, *, subject: str | None) -> Dataset | str:
    """Parse one file, or say why it is skipped (not DICOM, empty, a DICOMDIR).

    A file with the ``DICM`` marker that cannot be parsed raises: it is a broken DICOM file.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    if path.name.upper() == "DICOMDIR":
        return "DICOMDIR index of the export, not an image"
    with path.open("rb") as handle:
        head = handle.read(132)
    if head[128:132] != b"DICM":
        if len(head) < 132 and not head.strip(b"\x00"):
            raise InputDataError(
                f"truncated DICOM file: {len(head)} bytes, ending inside the 128-byte preamble",
                subject=subject,
                path=path,
            )
        return "not a DICOM file (no 'DICM' marker after the 128-byte preamble)"
    try:
        ds = pydicom.dcmread(path, force=False)
    except (*_READ_ERRORS, InvalidDicomError) as exc:
        raise InputDataError(
            f"unreadable DICOM file (corrupt or truncated): {exc}", subject=subject, path=path
        ) from exc
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        raise InputDataError(
            "unreadable DICOM file (corrupt or truncated): its file meta information has no "
            "TransferSyntaxUID",
            subject=subject,
            path=path,
        )
    if str(meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_SOP_CLASS:
        return f"DICOMDIR index (MediaStorageSOPClassUID {_DICOMDIR_SOP_CLASS}), not an image"
    return ds


def _check_image(ds: Dataset, path: Path, subject: str | None) -> None:
    """Refuse what is not a greyscale single-frame image: SEG, RTSTRUCT, SR, palette, colour."""
    from pydicom.uid import UID

    sop = str(ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID") or "")
    modality = str(ds.get("Modality") or "").upper()
    sop_uid = UID(sop)
    what = None
    if (
        sop_uid.type == "SOP Class"
        and "Image Storage" not in sop_uid.name
        and sop != _PARAMETRIC_MAP_SOP_CLASS
    ):
        what = f"a {sop_uid.name} object"
    elif modality in _NON_IMAGE_MODALITIES:
        what = f"a non-image {modality} object"
    if what is not None:
        raise InputDataError(
            f"not an image slice: the file holds {what} (SOPClassUID {sop or 'missing'}, "
            f"Modality {modality or 'missing'}); {_EXPECTED}",
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
            f"multi-frame DICOM ({frames} frames); {_EXPECTED}", subject=subject, path=path
        )
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    if photometric == "PALETTE COLOR":
        raise InputDataError(
            "PALETTE COLOR image: its pixel values are indices into a colour lookup table, not "
            f"intensities; {_EXPECTED}",
            subject=subject,
            path=path,
        )
    if photometric and photometric not in _GREYSCALE:
        raise InputDataError(
            f"colour image (PhotometricInterpretation {photometric}); {_EXPECTED}",
            subject=subject,
            path=path,
        )
    samples = _get_int(ds, "SamplesPerPixel", path, subject)
    if samples is not None and samples != 1:
        raise InputDataError(
            f"expected a greyscale image, got SamplesPerPixel={samples}", subject=subject, path=path
        )


def _decode(ds: Dataset, path: Path, subject: str | None) -> np.ndarray:
    """The pixel array; a transfer syntax no installed plugin decodes names what to install."""
    import pydicom
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    label = f"{_SYNTAX_NAMES.get(syntax, syntax.name)} ({syntax})"
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        packages = _DECODER_PACKAGES.get(syntax)
        if packages is None:
            message = (
                f"convert the series to an uncompressed transfer syntax (e.g. `gdcmconv --raw` "
                f"or DCMTK's `dcmdjpeg`): pydicom {pydicom.__version__} has no decoder for "
                f"{label} pixel data, so there is no plugin to install"
            )
        else:
            missing = "; ".join(decoder.missing_dependencies) if decoder is not None else ""
            message = (
                f"install {packages[-1]} (`pip install {' '.join(packages)}`, part of qmrflow's "
                f"dependencies) to decode {label} pixel data: no pydicom decoder plugin for it "
                f"is installed" + (f" ({missing})" if missing else "")
            )
        raise InputDataError(message, subject=subject, path=path)
    try:
        return ds.pixel_array
    except _READ_ERRORS as exc:
        raise InputDataError(
            f"cannot decode the {label} pixel data (corrupt or truncated file?): {exc}",
            subject=subject,
            path=path,
        ) from exc


def _read_slice(ds: Dataset, path: Path, *, subject: str | None) -> _Slice:
    """Check and decode one parsed single-frame DICOM file, checking what can be checked alone."""
    _check_image(ds, path, subject)
    pixels = _decode(ds, path, subject)
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
    series_uid, sop_uid = ds.get("SeriesInstanceUID"), ds.get("SOPInstanceUID")
    return _Slice(
        path=path,
        data=data,
        series_uid=None if series_uid is None else str(series_uid),
        sop_uid=str(sop_uid) if sop_uid else None,
        instance=_get_int(ds, "InstanceNumber", path, subject),
        position=position,
        orientation=orientation,
        pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
        thickness=thickness if thickness is not None and thickness > 0 else None,
        inverted=str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1",
    )


def _check_consistent(slices: list[_Slice], *, root: Path, subject: str | None) -> None:
    """One SeriesInstanceUID and one matrix size across the files."""
    first = slices[0]
    for s in slices[1:]:
        if s.series_uid != first.series_uid:
            examples: dict[str | None, list[_Slice]] = {}
            for t in slices:
                examples.setdefault(t.series_uid, []).append(t)
            listing = "; ".join(
                f"{uid}: {len(group)} file(s), e.g. {group[0].path.relative_to(root)}"
                for uid, group in examples.items()
            )
            raise InputDataError(
                f"folder mixes {len(examples)} DICOM series ({listing}): SeriesInstanceUID "
                f"{s.series_uid} of this file differs from {first.series_uid} of "
                f"{first.path.relative_to(root)}; give the folder of one series",
                subject=subject,
                path=s.path,
            )
        if s.data.shape != first.data.shape:
            raise InputDataError(
                f"inconsistent matrix size: rows x columns {s.data.shape} differs from "
                f"{first.data.shape} of {first.path.relative_to(root)}",
                subject=subject,
                path=s.path,
            )


def _drop_duplicates(slices: list[_Slice], *, root: Path, subject: str | None) -> list[_Slice]:
    """Drop exact copies of a slice; refuse two different images at one position or UID.

    Two files are the same slice when they share the SOPInstanceUID or the position along the
    slice normal (the InstanceNumber when a position is missing). They are an exact duplicate
    when position, orientation and pixel data are identical too: the later file (in path order)
    is dropped with a warning. Otherwise the series is ambiguous and refused.
    """
    normal = _normal(slices[0].orientation) if _located(slices) else None  # type: ignore[arg-type]
    by_uid: dict[str, _Slice] = {}
    by_place: dict[int, list[tuple[float, _Slice]]] = {}  # 1 µm bin (or InstanceNumber)
    kept = []
    for s in slices:
        key: int | None
        if normal is not None:
            place = float(np.dot(s.position, normal))  # type: ignore[arg-type]
            key = round(place / _SAME_POSITION_MM)
            near = [
                t
                for k in (key - 1, key, key + 1)
                for at, t in by_place.get(k, [])
                if abs(at - place) < _SAME_POSITION_MM
            ]
        else:
            place, key = 0.0, s.instance
            near = [t for _, t in by_place.get(key, [])] if key is not None else []
        twin, reason = by_uid.get(s.sop_uid or ""), "SOPInstanceUID"
        if twin is None and near:
            twin = near[0]
            reason = "slice position" if normal is not None else "InstanceNumber (no position)"
        if twin is None:
            kept.append(s)
            if s.sop_uid:
                by_uid[s.sop_uid] = s
            if key is not None:
                by_place.setdefault(key, []).append((place, s))
            continue
        names = f"{twin.path.relative_to(root)} and {s.path.relative_to(root)}"
        if _identical(s, twin):
            logger.warning(
                "sub-%s %s: %s are the same slice (same %s, identical position and pixel "
                "data); dropped the copy %s",
                subject,
                root,
                names,
                reason,
                s.path.relative_to(root),
            )
            continue
        raise InputDataError(
            f"two different images share one {reason}: {names} (ImagePositionPatient "
            f"{_fmt(twin.position)} and {_fmt(s.position)}); expected one image per slice",
            subject=subject,
            path=s.path,
        )
    return kept


def _identical(a: _Slice, b: _Slice) -> bool:
    """Same position, orientation and pixel values."""
    for u, v in ((a.position, b.position), (a.orientation, b.orientation)):
        if (u is None) != (v is None) or (u is not None and not np.allclose(u, v, atol=1e-6)):
            return False
    return bool(np.array_equal(a.data, b.data))


def _fmt(vector: np.ndarray | None) -> str:
    return "missing" if vector is None else "[" + ", ".join(f"{v:g}" for v in vector) + "]"


def _order(slices: list[_Slice], *, subject: str | None) -> list[_Slice]:
    """Sort slices along the normal (ImagePositionPatient), else by InstanceNumber."""
    if len(slices) == 1:
        return slices
    if _located(slices):
        normal = _normal(slices[0].orientation)  # type: ignore[arg-type]
        keys = {id(s): float(np.dot(s.position, normal)) for s in slices}  # type: ignore[arg-type]
        return sorted(
            slices,
            key=lambda s: (keys[id(s)], s.instance if s.instance is not None else 0, s.path.name),
        )
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
