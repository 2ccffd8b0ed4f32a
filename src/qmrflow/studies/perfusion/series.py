"""Perfusion series on disk: 4-D NIfTI plus JSON sidecar, validated when read, atomic when written.

A dynamic series (stress perfusion or the low-resolution AIF series) is a 4-D NIfTI
``(X, Y, slices, frames)`` with a BIDS JSON sidecar (:func:`qmrflow.io.bids.sidecar_path`)
holding

``FrameTimes``
    Acquisition time of each frame in seconds, one per frame, strictly increasing.
``SaturationTime``
    Saturation-recovery delay (time from the saturation pulse to the centre of k-space) in
    seconds, in (0, 1) s.

Frame-time origin
-----------------
:func:`load_series` keeps the sidecar's times as they are (absolute on the sidecar's own clock;
they need not start at 0). The kinetics need the stress and AIF series on one time axis, and
both series' sidecars share one origin, so re-basing each series on its own first frame would
shift one against the other by the delay between their first frames. Callers that want times
from zero subtract *one* origin common to the series they combine, e.g.
``origin = min(s.frame_times[0] for s in (stress, aif))`` and
:meth:`PerfusionSeries.relative_times` with that origin.

Units
-----
Sidecar times are seconds, as BIDS requires. A value in milliseconds is refused, never rescaled
by guess: frame spacing (median difference of consecutive ``FrameTimes``) must lie in
:data:`PLAUSIBLE_FRAME_SPACING` (one frame per heartbeat or per few beats; milliseconds give
hundreds) and ``SaturationTime`` in :data:`PLAUSIBLE_SATURATION_TIME`.

The proton-density (PD) images (:func:`load_pd`) are a 3-D NIfTI on the grid of the series.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io import Image, load_nifti, save_nifti
from qmrflow.io.bids import sidecar_path

__all__ = [
    "PLAUSIBLE_FRAME_SPACING",
    "PLAUSIBLE_SATURATION_TIME",
    "PerfusionSeries",
    "check_timing",
    "load_pd",
    "load_series",
    "read_timing",
    "save_series",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Median spacing of consecutive frames, seconds (low, high): outside is another unit.
PLAUSIBLE_FRAME_SPACING: tuple[float, float] = (0.05, 10.0)
#: Saturation time, seconds, open interval (low, high).
PLAUSIBLE_SATURATION_TIME: tuple[float, float] = (0.0, 1.0)
#: Largest difference between two affines still taken as the same grid (mm).
AFFINE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PerfusionSeries:
    """A validated dynamic series.

    Attributes
    ----------
    data
        ``(X, Y, S, T)`` float32.
    affine
        4x4 voxel-to-world matrix (mm).
    frame_times
        ``(T,)`` float64, seconds, as in the sidecar (not re-based; see the module notes).
    saturation_time
        Saturation-recovery delay, seconds.
    path
        The NIfTI file it was read from.
    """

    data: np.ndarray
    affine: np.ndarray
    frame_times: np.ndarray
    saturation_time: float
    path: Path

    @property
    def n_slices(self) -> int:
        """Number of slices ``S``."""
        return int(self.data.shape[2])

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.data.shape[3])

    def relative_times(self, origin: float | None = None) -> np.ndarray:
        """Frame times minus ``origin`` (s); default origin this series' first frame.

        Give one origin common to every series combined in a fit (stress and AIF).
        """
        return self.frame_times - (self.frame_times[0] if origin is None else float(origin))


def check_timing(
    frame_times: Sequence[float] | np.ndarray, saturation_time: float, n_frames: int
) -> tuple[np.ndarray, float]:
    """Validate frame times and saturation time against a series of ``n_frames`` frames.

    Parameters
    ----------
    frame_times
        One time per frame, seconds.
    saturation_time
        Seconds.
    n_frames
        Frames of the series.

    Returns
    -------
    tuple
        ``frame_times`` as float64 ``(T,)`` and ``saturation_time`` as float.

    Raises
    ------
    ValueError
        Not a list of finite numbers, wrong count, fewer than 2 frames, not strictly
        increasing, a frame spacing or saturation time implausible in seconds (the message
        names the key and says seconds are expected).
    """
    values = np.atleast_1d(np.asarray(frame_times, dtype=object))
    if values.ndim != 1 or not all(_is_number(v) for v in values):
        raise ValueError("FrameTimes must be a list of numbers (seconds, one per frame)")
    times = values.astype(np.float64)
    if not np.all(np.isfinite(times)):
        raise ValueError("FrameTimes must be finite numbers")
    if times.size != n_frames:
        raise ValueError(
            f"FrameTimes has {times.size} value(s) but the series has {n_frames} frames"
        )
    if n_frames < 2:
        raise ValueError(f"a dynamic series needs at least 2 frames, got {n_frames}")
    steps = np.diff(times)
    if np.any(steps <= 0):
        first = int(np.argmax(steps <= 0))
        raise ValueError(
            f"FrameTimes must be strictly increasing (frame {first + 1} at {times[first + 1]:g} s "
            f"follows {times[first]:g} s)"
        )
    spacing = float(np.median(steps))
    low, high = PLAUSIBLE_FRAME_SPACING
    if not low <= spacing <= high:
        hint = " (these look like milliseconds)" if spacing > high else ""
        raise ValueError(
            f"FrameTimes median spacing {spacing:g} is not plausible in seconds{hint}: BIDS "
            f"sidecars give times in seconds, expected a spacing of {low:g}-{high:g} s"
        )
    if not _is_number(saturation_time) or not np.isfinite(float(saturation_time)):
        raise ValueError("SaturationTime must be a number (seconds)")
    saturation = float(saturation_time)
    low, high = PLAUSIBLE_SATURATION_TIME
    if not low < saturation < high:
        hint = " (this looks like milliseconds)" if saturation >= high else ""
        raise ValueError(
            f"SaturationTime {saturation:g} is not plausible in seconds{hint}: BIDS sidecars "
            f"give times in seconds, expected {low:g} < SaturationTime < {high:g} s"
        )
    return times, saturation


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def read_timing(image: PathLike, n_frames: int, *, subject: str | None) -> tuple[np.ndarray, float]:
    """Read and validate the sidecar of a series of ``n_frames`` frames.

    Returns
    -------
    tuple
        ``FrameTimes`` (float64, seconds, as stored) and ``SaturationTime`` (s).

    Raises
    ------
    InputDataError
        The sidecar is missing, not a JSON object, lacks a key, or fails :func:`check_timing`;
        the message names the subject and the sidecar file.
    """
    path = sidecar_path(image)
    if not path.is_file():
        raise InputDataError(
            f"sidecar missing (needed for the FrameTimes and SaturationTime of {Path(image).name})",
            subject=subject,
            path=path,
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(
            f"sidecar is not valid JSON: {exc}", subject=subject, path=path
        ) from None
    if not isinstance(meta, dict):
        raise InputDataError("sidecar must hold a JSON object", subject=subject, path=path)
    for key in ("FrameTimes", "SaturationTime"):
        if key not in meta:
            raise InputDataError(f"sidecar has no {key!r}", subject=subject, path=path)
    try:
        return check_timing(meta["FrameTimes"], meta["SaturationTime"], n_frames)
    except ValueError as exc:
        raise InputDataError(str(exc), subject=subject, path=path) from None


def load_series(
    path: PathLike, *, subject: str | None, expect_slices: int | None = None
) -> PerfusionSeries:
    """Read a 4-D perfusion (or AIF) series and its sidecar, validated.

    Parameters
    ----------
    path
        ``.nii.gz`` series ``(X, Y, S, T)``; its sidecar beside it.
    subject
        Participant label (for messages).
    expect_slices
        Required number of slices, if known (e.g. the AIF series has one).

    Raises
    ------
    InputDataError
        The image is missing, unreadable, not 4-D, holds NaN or infinite values, has another
        number of slices than expected, or its sidecar is invalid (:func:`read_timing`). The
        message names the subject and the file.
    """
    image = load_nifti(path, subject=subject, ndim=4)
    if expect_slices is not None and image.data.shape[2] != expect_slices:
        raise InputDataError(
            f"expected {expect_slices} slice(s), the series has {image.data.shape[2]} "
            f"(shape {image.data.shape})",
            subject=subject,
            path=path,
        )
    times, saturation = read_timing(path, image.data.shape[3], subject=subject)
    logger.debug(
        "sub-%s: %s, %d frames over %.1f s", subject, Path(path).name, times.size, np.ptp(times)
    )
    return PerfusionSeries(
        data=image.data,
        affine=image.affine,
        frame_times=times,
        saturation_time=saturation,
        path=Path(path),
    )


def load_pd(path: PathLike, *, subject: str | None, like: PerfusionSeries) -> Image:
    """Read the proton-density images (3-D) and check they lie on the grid of ``like``.

    Raises
    ------
    InputDataError
        The image is missing, unreadable, not 3-D, non-finite, or its shape or affine differs
        from the series' (naming the subject and the PD file).
    """
    image = load_nifti(path, subject=subject, ndim=3)
    if image.data.shape != like.data.shape[:3]:
        raise InputDataError(
            f"PD shape {image.data.shape} does not match the series grid {like.data.shape[:3]} "
            f"({like.path.name})",
            subject=subject,
            path=path,
        )
    difference = float(np.max(np.abs(image.affine - like.affine)))
    if difference > AFFINE_TOLERANCE:
        raise InputDataError(
            f"PD affine differs from the series' ({like.path.name}) by up to {difference:.3g} "
            "mm: not the same grid",
            subject=subject,
            path=path,
        )
    return image


def save_series(
    data: np.ndarray,
    affine: np.ndarray,
    path: PathLike,
    *,
    frame_times: Sequence[float] | np.ndarray,
    saturation_time: float,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a series as NIfTI plus its sidecar, each atomically (:func:`qmrflow.io.save_nifti`).

    Parameters
    ----------
    data
        ``(X, Y, S, T)``; stored as float32.
    affine
        4x4 voxel-to-world matrix.
    path
        Destination ``.nii.gz``.
    frame_times, saturation_time
        Written as ``FrameTimes`` / ``SaturationTime`` (seconds), validated first.
    extra
        Further sidecar keys (e.g. ``Description``, the alignment method).

    Raises
    ------
    ValueError
        ``data`` is not 4-D or not finite, the timing fails :func:`check_timing`, or ``extra``
        repeats a timing key. Nothing is written then.
    """
    array = np.asarray(data, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"a series is (X, Y, slices, frames), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{path}: series holds NaN or infinite values")
    times, saturation = check_timing(frame_times, saturation_time, array.shape[3])
    extra = dict(extra or {})
    clash = sorted({"FrameTimes", "SaturationTime"} & set(extra))
    if clash:
        raise ValueError(f"extra sidecar keys repeat the timing keys {clash}")
    sidecar = {**extra, "FrameTimes": times.tolist(), "SaturationTime": saturation}
    return save_nifti(array, path, affine, sidecar=sidecar)
