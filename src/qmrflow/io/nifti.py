"""NIfTI reading and writing through nibabel, with validation at the boundary."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from qmrflow.errors import InputDataError
from qmrflow.io.atomic import atomic_output
from qmrflow.io.bids import sidecar_path
from qmrflow.io.tables import write_json


@dataclass(frozen=True)
class Image:
    """An image array with its voxel-to-world affine (RAS+, millimetres).

    Attributes
    ----------
    data
        The voxel array, in NIfTI index order (x, y[, z[, t]]).
    affine
        4x4 voxel-to-world matrix.
    """

    data: np.ndarray
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, ...]:
        """Voxel size in millimetres along each spatial axis of ``data`` (at most 3)."""
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return tuple(float(z) for z in zooms[: min(self.data.ndim, 3)])


def load_nifti(
    path: str | os.PathLike[str],
    *,
    subject: str | None = None,
    ndim: int | None = None,
    dtype: type[np.floating] | None = np.float32,
    allow_nonfinite: bool = False,
) -> Image:
    """Read a NIfTI file and check it is what the caller expects.

    Parameters
    ----------
    path
        ``.nii`` or ``.nii.gz`` file.
    subject
        Participant label, used in error messages.
    ndim
        Required number of dimensions. Trailing singleton axes beyond ``ndim`` are squeezed
        (a 2D slice stored as x, y, 1 is accepted as 2D).
    dtype
        Cast the data to this type (``None`` keeps the stored type).
    allow_nonfinite
        Accept NaN or infinite voxels (rejected by default).

    Returns
    -------
    Image
        The data and affine.

    Raises
    ------
    InputDataError
        The file is missing, is not a readable NIfTI (corrupt or truncated), has the wrong
        number of dimensions, or holds non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError("file not found", subject=subject, path=path)
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except (ImageFileError, OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputDataError(
            f"not a readable NIfTI file (corrupt or truncated): {exc}", subject=subject, path=path
        ) from exc
    if ndim is not None:
        while data.ndim > ndim and data.shape[-1] == 1:
            data = data[..., 0]
        if data.ndim != ndim:
            raise InputDataError(
                f"expected a {ndim}D image, got shape {tuple(data.shape)}",
                subject=subject,
                path=path,
            )
    if data.size == 0 or min(data.shape) == 0:
        raise InputDataError(f"image is empty (shape {data.shape})", subject=subject, path=path)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if not allow_nonfinite and np.issubdtype(data.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise InputDataError(
                f"{bad} of {data.size} voxels are NaN or infinite", subject=subject, path=path
            )
    return Image(data=np.ascontiguousarray(data), affine=np.asarray(img.affine, dtype=np.float64))


def save_nifti(
    data: np.ndarray | Image,
    path: str | os.PathLike[str],
    affine: np.ndarray | None = None,
    *,
    sidecar: Mapping[str, Any] | None = None,
) -> Path:
    """Write an array (or :class:`Image`) as NIfTI atomically, with its JSON sidecar if given.

    Parameters
    ----------
    data
        Array or Image. Boolean arrays are stored as uint8.
    path
        Destination (``.nii.gz`` recommended).
    affine
        4x4 affine; taken from ``data`` when it is an Image, identity when neither is given.
    sidecar
        BIDS sidecar keys, written to the image's ``.json`` (:func:`qmrflow.io.bids.sidecar_path`)
        after the image, by the same job (a derivative's required keys, e.g. ``SkullStripped``).

    Returns
    -------
    Path
        The written path.
    """
    if isinstance(data, Image):
        affine = data.affine if affine is None else affine
        data = data.data
    array = np.asarray(data)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    img = nib.Nifti1Image(array, np.eye(4) if affine is None else np.asarray(affine))
    img.header.set_xyzt_units("mm", "sec")
    with atomic_output(path) as tmp:
        nib.save(img, tmp)
    if sidecar is not None:
        write_json(dict(sidecar), sidecar_path(path))
    return Path(path)
