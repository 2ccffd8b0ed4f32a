"""A subject's 2D slices, from a NIfTI slice stack, 2D NIfTI slice files or a DICOM series.

The dystrophy study takes axial mid-thigh T1-weighted slices. They arrive as one BIDS volume
``sub-<id>_T1w.nii.gz`` holding the stack (X, Y, slices), as dcm2niix writes a multi-slice
series; as 2D NIfTI files ``sub-<id>_slice-<n>_T1w.nii.gz`` (qmrflow's older, non-BIDS form);
or as a folder holding one DICOM series. Either way :func:`load_slices` returns the 2D slices
in order and checks each one (2D, at least ``min_size`` pixels along each axis, finite), naming
the subject and the file on failure.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io.bids import parse_entities, subject_of
from qmrflow.io.dicom import read_dicom_series
from qmrflow.io.nifti import Image, load_nifti

logger = logging.getLogger(__name__)

#: Smallest accepted slice, in pixels along each axis.
MIN_SLICE_SIZE = 32

_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_DIGITS = re.compile(r"(\d+)")

PathArg = str | os.PathLike[str]


def load_slices(
    paths: PathArg | Sequence[PathArg], *, subject: str, min_size: int = MIN_SLICE_SIZE
) -> list[Image]:
    """Read a subject's 2D slices from NIfTI slice files or one DICOM series folder.

    Parameters
    ----------
    paths
        One 3D NIfTI slice stack (``sub-<id>_T1w.nii.gz``, slices along the third axis), 2D
        NIfTI files (``.nii``/``.nii.gz``, typically ``sub-<id>_slice-<n>_T1w.nii.gz``), or a
        single DICOM series folder (each given alone or as a one-element list).
    subject
        Participant label without ``sub-``; used in error messages and checked against the
        ``sub-<id>`` entity of NIfTI file names when they carry one.
    min_size
        Smallest accepted number of pixels along each axis.

    Returns
    -------
    list of Image
        2D images (float32, index order ``(X, Y)``) in slice order: along the third axis of a
        stack (each slice's affine translated to its position), by the ``slice-<n>`` entity
        for 2D NIfTI files (natural order of the names when no name carries one), by position
        along the slice normal for DICOM.

    Raises
    ------
    InputDataError
        No path given; a path is missing; folders and files are mixed or several folders
        given; a file is not NIfTI; file names disagree with ``subject``, repeat a slice
        number or only some carry one; a file is unreadable (corrupt or truncated), not 2D,
        smaller than ``min_size``, or holds NaN or infinite values; or any DICOM problem
        listed in :func:`qmrflow.io.dicom.load_dicom_series`.
    """
    items = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    if not items:
        raise InputDataError("no input slices given", subject=subject)
    for path in items:
        if not path.exists():
            raise InputDataError("file or folder not found", subject=subject, path=path)
    folders = [p for p in items if p.is_dir()]
    if folders:
        if len(items) > 1:
            raise InputDataError(
                f"expected NIfTI slice files or exactly one DICOM folder, got {len(folders)} "
                f"folder(s) among {len(items)} paths",
                subject=subject,
                path=folders[0],
            )
        pairs = read_dicom_series(folders[0], subject=subject)
    elif len(items) == 1:
        pairs = _stack_slices(items[0], subject=subject)
    else:
        pairs = [
            (path, load_nifti(path, subject=subject, ndim=2))
            for path in _order_nifti(items, subject=subject)
        ]
    for path, image in pairs:
        check_slice(image.data, subject=subject, path=path, min_size=min_size)
    logger.debug("sub-%s: loaded %d slices", subject, len(pairs))
    return [image for _, image in pairs]


def _stack_slices(path: Path, *, subject: str) -> list[tuple[Path, Image]]:
    """The slices of one NIfTI file: a 3D stack's slices, or the file itself when it is 2D."""
    _check_name(path, subject=subject)
    image = load_nifti(path, subject=subject)
    if image.data.ndim == 2:
        return [(path, image)]
    if image.data.ndim != 3:
        raise InputDataError(
            f"expected a 3D slice stack (X, Y, slices) or a 2D slice, got shape "
            f"{tuple(image.data.shape)}",
            subject=subject,
            path=path,
        )
    slices = []
    for k in range(image.data.shape[2]):
        affine = image.affine.copy()
        affine[:3, 3] = image.affine[:3, :3] @ [0.0, 0.0, float(k)] + image.affine[:3, 3]
        slices.append((path, Image(np.ascontiguousarray(image.data[:, :, k]), affine)))
    return slices


def check_slice(
    data: np.ndarray,
    *,
    subject: str | None = None,
    path: PathArg | None = None,
    min_size: int = MIN_SLICE_SIZE,
) -> None:
    """Check that an array is a usable 2D slice.

    Parameters
    ----------
    data
        The slice array.
    subject, path
        Named in the error message.
    min_size
        Smallest accepted number of pixels along each axis.

    Raises
    ------
    InputDataError
        The array is not 2D, is smaller than ``min_size`` along an axis, or holds NaN or
        infinite values.
    """
    if data.ndim != 2:
        raise InputDataError(
            f"expected a 2D slice, got shape {tuple(data.shape)}", subject=subject, path=path
        )
    if min(data.shape) < min_size:
        raise InputDataError(
            f"slice of shape {tuple(data.shape)} is smaller than {min_size}x{min_size}",
            subject=subject,
            path=path,
        )
    if np.issubdtype(data.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise InputDataError(
                f"{bad} of {data.size} pixels are NaN or infinite", subject=subject, path=path
            )


def slice_number(path: PathArg) -> int | None:
    """The ``slice-<n>`` entity of a file name, or None when it has none."""
    try:
        label = parse_entities(path).get("slice")
    except ValueError:  # not a BIDS name: ordered by name instead
        return None
    return int(label) if label is not None and label.isdigit() else None


def _check_name(path: Path, *, subject: str) -> None:
    """A NIfTI file of this subject (when its name carries a subject)."""
    if not path.name.lower().endswith(_NIFTI_SUFFIXES):
        raise InputDataError(
            "unsupported input: expected a .nii/.nii.gz image or a DICOM series folder",
            subject=subject,
            path=path,
        )
    named = subject_of(path)
    if named is not None and named != subject:
        raise InputDataError(
            f"file belongs to sub-{named}, not sub-{subject}", subject=subject, path=path
        )


def _order_nifti(files: list[Path], *, subject: str) -> list[Path]:
    """Check names and sort NIfTI slice files by their ``slice-<n>`` entity."""
    numbers: dict[Path, int] = {}
    for path in files:
        _check_name(path, subject=subject)
        number = slice_number(path)
        if number is not None:
            numbers[path] = number
    if not numbers:
        return sorted(files, key=lambda p: _natural_key(p.name))
    if len(numbers) != len(files):
        unnumbered = next(p for p in files if p not in numbers)
        raise InputDataError(
            "cannot order slices: this file has no slice-<n> entity while others do",
            subject=subject,
            path=unnumbered,
        )
    seen: dict[int, Path] = {}
    for path in sorted(files, key=lambda p: _natural_key(p.name)):
        number = numbers[path]
        if number in seen:
            raise InputDataError(
                f"slice-{number} given twice (also {seen[number]})", subject=subject, path=path
            )
        seen[number] = path
    missing = sorted(set(range(1, max(seen) + 1)) - set(seen))
    if missing:
        expected = ", ".join(f"sub-{subject}_slice-{k}_T1w.nii.gz" for k in missing)
        raise InputDataError(
            f"missing slice(s) {missing} (found {sorted(seen)}); expected {expected}",
            subject=subject,
            path=files[0].parent,
        )
    return [seen[n] for n in sorted(seen)]


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``slice-2`` before ``slice-10``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in _DIGITS.split(name)
        if part
    )
