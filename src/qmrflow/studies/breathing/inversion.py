"""Inversion-recovery images for diaphragm T1, as BIDS ``IRT1`` file collections.

BIDS stores an inversion-recovery T1 mapping acquisition as one image per inversion time:
``sub-<label>/anat/sub-<label>_inv-<index>_IRT1.nii.gz``, each with a JSON sidecar whose
``InversionTime`` is that image's TI in seconds (the ``inv`` index orders the files, not
necessarily by TI). The study reads the collection of a subject into one ``(X, Y, n_TI)``
stack ordered by TI, checking at the boundary: every file is one 2-D slice on the same grid
(affine), every sidecar has a positive finite ``InversionTime`` in seconds, no two TIs are
equal and there are at least :data:`MIN_INVERSIONS` (a three-parameter fit needs more
points than parameters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io import load_nifti, save_nifti
from qmrflow.io.bids import sidecar_path

__all__ = ["MIN_INVERSIONS", "InversionSeries", "load_inversions", "save_inversions"]

PathLike = str | os.PathLike[str]

#: Fewest inversion times the three-parameter fit accepts.
MIN_INVERSIONS = 4
#: A TI above this (s) is taken for milliseconds and refused (BIDS times are seconds).
MAX_INVERSION_TIME = 20.0


@dataclass(frozen=True)
class InversionSeries:
    """Images ``(X, Y, n_TI)`` float32 ordered by ``inversion_times`` (s), with the affine."""

    images: np.ndarray
    inversion_times: np.ndarray
    affine: np.ndarray


def _inversion_time(path: Path, subject: str | None) -> float:
    side = sidecar_path(path)
    try:
        value = json.loads(Path(side).read_text())["InversionTime"]
        ti = float(value)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(
            f"no numeric InversionTime (seconds) in the sidecar {side} ({exc})",
            subject=subject,
            path=path,
        ) from exc
    if not np.isfinite(ti) or ti <= 0:
        raise InputDataError(
            f"InversionTime {value!r} in {side} is not a positive number of seconds",
            subject=subject,
            path=path,
        )
    if ti > MAX_INVERSION_TIME:
        raise InputDataError(
            f"InversionTime {ti:g} in {side} looks like milliseconds; BIDS times are seconds",
            subject=subject,
            path=path,
        )
    return ti


def load_inversions(paths: Sequence[PathLike], *, subject: str | None = None) -> InversionSeries:
    """Read one subject's ``IRT1`` images into a stack ordered by inversion time.

    Raises
    ------
    InputDataError
        Fewer than :data:`MIN_INVERSIONS` files, an unreadable image or sidecar, a missing or
        implausible ``InversionTime``, two equal TIs, images of different grids, NaNs.
    """
    files = [Path(p) for p in paths]
    if len(files) < MIN_INVERSIONS:
        raise InputDataError(
            f"{len(files)} inversion-recovery image(s), the T1 fit needs at least "
            f"{MIN_INVERSIONS} inversion times",
            subject=subject,
            path=files[0] if files else None,
        )
    images, times, affine = [], [], None
    for path in files:
        image = load_nifti(path, subject=subject, ndim=2)
        if affine is None:
            affine, shape = image.affine, image.data.shape
        elif image.data.shape != shape or not np.allclose(image.affine, affine, atol=1e-4):
            raise InputDataError(
                f"the image is {image.data.shape} on another grid than {files[0].name} {shape}",
                subject=subject,
                path=path,
            )
        images.append(image.data)
        times.append(_inversion_time(path, subject))
    values = np.asarray(times)
    order = np.argsort(values, kind="stable")
    if np.any(np.diff(values[order]) <= 0):
        twice = sorted({t for t in times if times.count(t) > 1})
        raise InputDataError(
            f"inversion times {twice} s occur twice among {len(files)} images",
            subject=subject,
            path=files[0],
        )
    stack = np.stack([images[i] for i in order], axis=-1).astype(np.float32)
    assert affine is not None
    return InversionSeries(stack, values[order], affine)


def save_inversions(
    images: np.ndarray,
    inversion_times: Sequence[float],
    affine: np.ndarray,
    paths: Sequence[PathLike],
    *,
    sidecar: dict | None = None,
) -> None:
    """Write ``(X, Y, n_TI)`` images one file per TI, each with its ``InversionTime`` sidecar."""
    stack = np.asarray(images)
    if stack.ndim != 3 or stack.shape[-1] != len(inversion_times) != 0:
        raise ValueError(f"images {stack.shape} need one inversion time per last-axis image")
    if len(paths) != len(inversion_times):
        raise ValueError(f"{len(paths)} paths for {len(inversion_times)} inversion times")
    for k, (ti, path) in enumerate(zip(inversion_times, paths, strict=True)):
        save_nifti(
            stack[..., k].astype(np.float32),
            path,
            affine,
            sidecar={"InversionTime": float(ti), **dict(sidecar or {})},
        )
