"""AHA 16-segment model per short-axis slice: segment maps, segment curves, bull's-eye values.

Orientation convention
----------------------
Angles are measured in the ``(X, Y)`` voxel plane of a slice (NIfTI voxel axes 0 and 1, after
multiplying by the pixel spacing), about the centroid of the LV blood pool: angle 0 points along
``+axis 0`` and the angle *increases from axis 0 toward axis 1* (``atan2(dy, dx)`` with ``dx``
along axis 0, ``dy`` along axis 1). The study assumes this direction is counter-clockwise as
seen from the apex, so segment numbers increase with the angle (``direction=1``); data stored
mirrored pass ``direction=-1``.

The septum faces the RV: the reference is the direction from the LV centroid to the RV
blood-pool centroid, taken as the centre of the septum. Basal and mid slices have six 60-degree
sectors with the two septal segments (anteroseptal, inferoseptal) on either side of it, so the
anterior RV insertion (the anterior / anteroseptal boundary) lies 60 degrees before the RV
direction and segment 1 (anterior) starts 120 degrees before it. Apical slices have four
90-degree sectors with the septal segment (14) centred on it. With the RV toward ``-axis 0``
(angle 180 degrees) a basal slice reads: anterior (1) toward ``+axis 1``, anteroseptal (2) and
inferoseptal (3) toward ``-axis 0``, inferior (4) toward ``-axis 1``, inferolateral (5) and
anterolateral (6) toward ``+axis 0``.

Segment arrays (:func:`segment_curves`, :func:`bullseye_values`) have 16 entries, entry ``j``
for segment ``j + 1``, the order :func:`qmrflow.figures.bullseye.plot_bullseye` draws (its
:func:`~qmrflow.figures.bullseye.aha_segment_geometry` places each segment on the plot).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "LEVELS",
    "N_SEGMENTS",
    "SEGMENT_NAMES",
    "SEGMENT_TERRITORY",
    "TERRITORIES",
    "bullseye_values",
    "segment_curves",
    "segment_map",
]

logger = logging.getLogger(__name__)

N_SEGMENTS = 16

LEVELS: dict[str, tuple[int, int]] = {"basal": (1, 6), "mid": (7, 6), "apical": (13, 4)}
"""Slice level -> (first segment, number of sectors)."""

SEGMENT_NAMES: tuple[str, ...] = (
    *(
        f"{level} {name}"
        for level in ("basal", "mid")
        for name in (
            "anterior",
            "anteroseptal",
            "inferoseptal",
            "inferior",
            "inferolateral",
            "anterolateral",
        )
    ),
    "apical anterior",
    "apical septal",
    "apical inferior",
    "apical lateral",
)
"""Names of segments 1-16 (entry ``j`` for segment ``j + 1``)."""

#: Coronary territories.
TERRITORIES: tuple[str, ...] = ("LAD", "RCA", "LCx")

#: AHA segment (1-16) -> coronary territory.
SEGMENT_TERRITORY: dict[int, str] = {
    **dict.fromkeys((1, 2, 7, 8, 13, 14), "LAD"),
    **dict.fromkeys((3, 4, 9, 10, 15), "RCA"),
    **dict.fromkeys((5, 6, 11, 12, 16), "LCx"),
}

_SEPTAL_OFFSET = {6: 120.0, 4: 135.0}  # degrees from the start of the first sector to the RV


def _centroid(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0) * spacing


def segment_map(
    labels: ArrayLike,
    *,
    slice_level: Literal["basal", "mid", "apical"],
    direction: Literal[1, -1] = 1,
    spacing: tuple[float, float] = (1.0, 1.0),
    rv_angle: float | None = None,
) -> np.ndarray:
    """AHA segment (1-16) of every myocardial pixel of one short-axis slice.

    Parameters
    ----------
    labels
        ``(X, Y)`` label map: 1 LV blood pool, 2 myocardium, 3 RV blood pool (others ignored).
    slice_level
        ``"basal"`` (segments 1-6), ``"mid"`` (7-12) or ``"apical"`` (13-16).
    direction
        1: segment numbers increase with the angle from axis 0 toward axis 1 (the module's
        convention); -1: the mirror.
    spacing
        Pixel spacing along axes 0 and 1 (angles are taken in physical space).
    rv_angle
        Direction of the septum centre in degrees (module convention), overriding the RV
        centroid, e.g. for an apical slice without an RV label.

    Returns
    -------
    numpy.ndarray
        ``(X, Y)`` int map, the segment on myocardial pixels and 0 elsewhere.

    Raises
    ------
    ValueError
        ``labels`` is not 2-D or has no myocardium, no RV (without ``rv_angle``), or
        ``slice_level`` / ``direction`` is unknown.
    """
    label_map = np.asarray(labels)
    if label_map.ndim != 2:
        raise ValueError(f"labels must be a 2-D slice, got shape {label_map.shape}")
    if slice_level not in LEVELS:
        raise ValueError(f"slice_level must be one of {sorted(LEVELS)}, got {slice_level!r}")
    if direction not in (1, -1):
        raise ValueError(f"direction must be 1 or -1, got {direction}")
    first, sectors = LEVELS[slice_level]
    myocardium = label_map == 2
    if not np.any(myocardium):
        raise ValueError("labels has no myocardium (label 2)")
    scale = np.asarray(spacing, dtype=float)
    pool = label_map == 1
    # Without an LV pool (a small apical slice), the myocardium's centroid is the centre.
    centre = _centroid(pool if np.any(pool) else myocardium, scale)
    if rv_angle is None:
        rv = label_map == 3
        if not np.any(rv):
            raise ValueError("labels has no RV (label 3); pass rv_angle")
        dx, dy = _centroid(rv, scale) - centre
        rv_angle = float(np.degrees(np.arctan2(dy, dx)))
    position = np.argwhere(myocardium) * scale - centre
    angle = np.degrees(np.arctan2(position[:, 1], position[:, 0]))
    relative = np.mod(direction * (angle - rv_angle) + _SEPTAL_OFFSET[sectors], 360.0)
    sector = np.minimum((relative // (360.0 / sectors)).astype(int), sectors - 1)
    result = np.zeros(label_map.shape, dtype=int)
    result[myocardium] = first + sector
    return result


def segment_curves(concentration: ArrayLike, segments: ArrayLike) -> np.ndarray:
    """Mean curve of every AHA segment.

    Parameters
    ----------
    concentration
        ``(T, ...)`` curves (one slice ``(T, X, Y)`` or a stack ``(T, X, Y, S)``).
    segments
        Segment map (1-16, 0 elsewhere) of the spatial shape ``concentration.shape[1:]``.

    Returns
    -------
    numpy.ndarray
        ``(T, 16)``, column ``j`` the mean over segment ``j + 1``; NaN where it has no pixel.

    Raises
    ------
    ValueError
        Shapes differ, segments outside 0-16, or non-finite values inside the segments.
    """
    values = np.asarray(concentration, dtype=float)
    labels = _segment_labels(segments, values.shape[1:], "concentration")
    inside = labels > 0
    rows = values[:, inside]  # (T, N)
    if not np.all(np.isfinite(rows)):
        raise ValueError("concentration holds NaN or infinite values inside the segments")
    one_hot = labels[inside][:, None] == np.arange(1, N_SEGMENTS + 1)  # (N, 16)
    counts = one_hot.sum(axis=0)
    sums = rows @ one_hot
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def bullseye_values(
    values: ArrayLike | Mapping[int, float],
    segments: ArrayLike | None = None,
    *,
    statistic: Literal["mean", "median", "std"] = "mean",
) -> np.ndarray:
    """The 16 per-segment values of a bull's-eye plot (entry ``j`` for segment ``j + 1``).

    Parameters
    ----------
    values
        With ``segments``: a map (e.g. pixel MBF) of the segment map's shape, summarised per
        segment by ``statistic`` over its finite values. Without: a mapping
        ``{segment: value}`` or a sequence of 16 values (e.g. :func:`.quantify.fit_segments`'s
        ``mbf``), checked and returned as an array.
    segments
        Segment map (1-16, 0 elsewhere), one slice or a stack.
    statistic
        ``"mean"``, ``"median"`` or ``"std"`` (``ddof = 1``) of the map per segment.

    Returns
    -------
    numpy.ndarray
        ``(16,)`` float, NaN for segments without a value.
    """
    result = np.full(N_SEGMENTS, np.nan)
    if segments is None:
        if isinstance(values, Mapping):
            for segment, value in values.items():
                if not 1 <= int(segment) <= N_SEGMENTS:
                    raise ValueError(f"values names segment {segment}, not in 1-16")
                result[int(segment) - 1] = float(value)
            return result
        array = np.asarray(values, dtype=float)
        if array.shape != (N_SEGMENTS,):
            raise ValueError(f"values must hold 16 segment values, got shape {array.shape}")
        return array.copy()
    reducers = {"mean": np.mean, "median": np.median, "std": lambda v: np.std(v, ddof=1)}
    if statistic not in reducers:
        raise ValueError(f"statistic must be one of {sorted(reducers)}, got {statistic!r}")
    data = np.asarray(values, dtype=float)
    labels = _segment_labels(segments, data.shape, "values")
    for segment in range(1, N_SEGMENTS + 1):  # 16 segments, not a loop over pixels
        inside = data[(labels == segment) & np.isfinite(data)]
        if inside.size > (1 if statistic == "std" else 0):
            result[segment - 1] = float(reducers[statistic](inside))
    return result


def _segment_labels(segments: ArrayLike, shape: tuple[int, ...], other: str) -> np.ndarray:
    """The segment map as int, checked against the spatial shape of ``other``."""
    labels = np.asarray(segments)
    if labels.shape != shape:
        raise ValueError(f"segments shape {labels.shape} differs from {other}' grid {shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError("segments must hold integer segment numbers")
        labels = labels.astype(int)
    if labels.size and (labels.min() < 0 or labels.max() > N_SEGMENTS):
        raise ValueError("segments must hold 0 (none) or AHA segments 1-16")
    return labels
