"""Reconstructed real-time series on disk: a 4-D NIfTI with a JSON sidecar of frame times.

A series of one task (``breathing`` or ``sniff``) is ``(X, Y, 1, T)`` float32 magnitude frames on
the coronal grid of the reconstruction, with a BIDS JSON sidecar
(:func:`qmrflow.io.bids.sidecar_path`) holding ``FrameTimes`` (seconds from the first frame, one
per frame, strictly increasing) and ``FrameDuration`` (seconds). Label series (the U-Net's lung
masks per frame) share the layout as uint8 without the times.

In memory a series is ``(T, X, Y)``: frames first, the layout of the segmentation engine
(:mod:`qmrflow.dl.frames`) and of the measures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io import load_nifti, save_nifti
from qmrflow.io.bids import sidecar_path

__all__ = ["RealtimeSeries", "load_frames", "load_labels", "save_frames", "save_labels"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RealtimeSeries:
    """Frames ``(T, X, Y)``, the NIfTI affine, frame times (s) and the source path."""

    frames: np.ndarray
    affine: np.ndarray
    frame_times: np.ndarray
    path: Path

    @property
    def spacing(self) -> tuple[float, float]:
        """In-plane pixel size (mm) along axes 0 and 1."""
        zooms = np.sqrt((self.affine[:3, :2] ** 2).sum(axis=0))
        return float(zooms[0]), float(zooms[1])


def _to_nifti(frames: np.ndarray) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim != 3:
        raise ValueError(f"frames must be (T, X, Y), got shape {array.shape}")
    return np.ascontiguousarray(np.moveaxis(array, 0, -1)[:, :, None, :])


def save_frames(
    frames: np.ndarray,
    affine: np.ndarray,
    path: PathLike,
    *,
    frame_times: np.ndarray,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``(T, X, Y)`` frames as ``(X, Y, 1, T)`` float32 with their sidecar (atomically)."""
    times = np.asarray(frame_times, dtype=float)
    if times.shape != (np.shape(frames)[0],) or np.any(np.diff(times) <= 0):
        raise ValueError("frame_times must be one strictly increasing time per frame")
    sidecar = {
        "FrameTimes": [round(float(t), 6) for t in times],
        "FrameDuration": round(float(np.median(np.diff(times))), 6) if times.size > 1 else None,
        **dict(extra or {}),
    }
    return save_nifti(_to_nifti(frames).astype(np.float32), path, affine, sidecar=sidecar)


def load_frames(path: PathLike, *, subject: str | None = None) -> RealtimeSeries:
    """Read a series written by :func:`save_frames`, checking its sidecar's frame times.

    Raises
    ------
    InputDataError
        The image is not ``(X, Y, 1, T)``, has non-finite values, or the sidecar is missing, has
        no ``FrameTimes`` or times that do not match the frames.
    """
    image = load_nifti(path, subject=subject, ndim=4)
    if image.data.shape[2] != 1:
        raise InputDataError(
            f"a real-time series has one slice, found {image.data.shape[2]}",
            subject=subject,
            path=path,
        )
    side = sidecar_path(path)
    try:
        times = np.asarray(json.loads(Path(side).read_text())["FrameTimes"], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(
            f"no readable FrameTimes in the sidecar {side} ({exc})", subject=subject, path=path
        ) from exc
    n_frames = image.data.shape[3]
    if times.shape != (n_frames,) or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise InputDataError(
            f"FrameTimes must hold {n_frames} strictly increasing seconds, found {times.size}",
            subject=subject,
            path=path,
        )
    frames = np.ascontiguousarray(np.moveaxis(image.data[:, :, 0, :], -1, 0))
    return RealtimeSeries(frames, image.affine, times, Path(path))


def save_labels(labels: np.ndarray, affine: np.ndarray, path: PathLike) -> Path:
    """Write ``(T, X, Y)`` label frames as ``(X, Y, 1, T)`` uint8 (atomically)."""
    return save_nifti(_to_nifti(labels).astype(np.uint8), path, affine)


def load_labels(path: PathLike, *, subject: str | None = None) -> np.ndarray:
    """Read ``(X, Y, 1, T)`` label frames as ``(T, X, Y)`` uint8."""
    image = load_nifti(path, subject=subject, ndim=4, dtype=None)
    return np.ascontiguousarray(np.moveaxis(image.data[:, :, 0, :], -1, 0).astype(np.uint8))
