"""Breathing measures from per-frame lung masks of coronal real-time MRI.

Zeng et al. (MedComm 2026) segment the right and the left lung in every frame of a coronal
real-time MRI series (50 ms per frame) acquired during quiet breathing, deep breathing and a
sniff manoeuvre, and derive from the masks the diaphragm position per hemithorax over time, its
excursion and velocity, the peak sniff velocity, the thoracic width, the synchronicity of
diaphragm and chest wall, and paradoxical diaphragm motion. This module computes these measures,
each vectorised over frames (no Python loop over frames or pixels).

Conventions
-----------
* ``masks``: ``(T, X, Y)`` integer label frames. Label :data:`RIGHT_LUNG` (1) is the right lung,
  :data:`LEFT_LUNG` (2) the left lung; every other label (other tissues) is ignored.
* Axis 1 (``X``) runs left-right, axis 2 (``Y``) craniocaudally with increasing index toward the
  head. ``spacing = (dx, dy)`` is the pixel size in mm along these two axes.
* Coordinates: the centre of pixel ``(i, j)`` lies at ``(i dx, j dy)`` mm, so pixel ``j`` spans
  ``[(j - ½) dy, (j + ½) dy]`` craniocaudally. Positions are in mm, positive toward the head.
  The origin is arbitrary: every reported measure (excursion, velocity, correlation, the
  paradoxical displacement) is invariant to a constant shift of the position.
* ``times``: ``(T,)`` frame times in seconds, strictly increasing.
* The diaphragm dome is the lower (caudal) border of a lung; inspiration moves it caudally, i.e.
  the position *decreases*.
* :func:`subject_measures` takes each lung, in each frame, as the largest connected component
  of its label (:func:`largest_components`): a segmentation's stray fragments (e.g. in the
  streaks of an undersampled gridding reconstruction, or the gastric air below the left dome)
  would otherwise become the lowest "lung" pixels of their columns or the thorax's lateral edge.

Sub-pixel precision from binary masks comes from combining many columns: the lower border of a
curved dome crosses pixel boundaries at different heights in different columns, so the
quantisation errors of the columns are nearly independent and average out in a fit over them.
A flat border (or a straight lateral chest wall) carries no sub-pixel information in a binary
mask; its precision is then that of one pixel (standard deviation ``d/√12``). Near its apex the
dome is such a flat border, so where the reconstructed frames are given the mask's lower border
is refined to sub-pixel from the image's partial volume across it (:func:`diaphragm_position`,
step 1b): on the demo (4 mm pixels) this took the largest excursion error of the SENSE series
from 2.1 to 1.4 mm and of gridding from 3.1 to 1.5-1.8 mm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import ndimage, signal

from qmrflow.roi import largest_component

__all__ = [
    "LEFT_LUNG",
    "MEASURE_COLUMNS",
    "RIGHT_LUNG",
    "SIDES",
    "Paradox",
    "Synchronicity",
    "diaphragm_position",
    "excursion",
    "largest_components",
    "lung_area",
    "lung_labels",
    "paradoxical_motion",
    "peak_sniff_velocity",
    "smoothed_velocity",
    "subject_measures",
    "synchronicity",
    "thoracic_width",
]

logger = logging.getLogger(__name__)

RIGHT_LUNG = 1
"""Label of the right lung in the masks."""
LEFT_LUNG = 2
"""Label of the left lung in the masks."""
SIDES: dict[str, int] = {"right": RIGHT_LUNG, "left": LEFT_LUNG}
"""Side name -> mask label."""


def lung_labels(labels: np.ndarray) -> np.ndarray:
    """Study labels to lung masks: 1 (right lung) and 2 (left lung) kept, all else 0.

    Raises
    ------
    ValueError
        Negative or non-integer labels.
    """
    values = np.asarray(labels)
    as_int = values.astype(np.int64)
    if np.any(as_int != values) or as_int.min(initial=0) < 0:
        raise ValueError(f"labels must be non-negative integers, got {np.unique(values)[:10]}")
    return np.where((as_int == RIGHT_LUNG) | (as_int == LEFT_LUNG), as_int, 0)


MEASURE_COLUMNS = ("task", "side", "measure", "value", "unit")
"""Columns of the tidy table of :func:`subject_measures`."""

_UNIFORM_TOLERANCE = 0.01  # relative spread of frame intervals still treated as uniform
_OUTLIER_PIXELS = 1.5  # dome fit: columns farther than this many pixels from the fit are dropped
#: Sub-pixel border (:func:`_subpixel_border`): pixels below/above the mask's lowest lung pixel
#: summed as partial volume, and how many pixels beyond them give the tissue and lung levels.
_EDGE_BELOW, _EDGE_ABOVE, _LEVEL_PIXELS = 2, 2, 3
#: A column's tissue-lung contrast below this fraction of the frame's median contrast (e.g. the
#: gastric air under the left dome) keeps the mask's border.
_MIN_CONTRAST = 0.3


# ----------------------------------------------------------------------------- validation


def _check_masks(masks: ArrayLike) -> np.ndarray:
    array = np.asarray(masks)
    if array.ndim != 3:
        raise ValueError(f"masks must be (T, X, Y) label frames, got shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"masks must not be empty, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise ValueError(f"masks must hold integer labels, got dtype {array.dtype}")
    return array


def _check_spacing(spacing: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(spacing, dtype=float)
    if values.shape != (2,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"spacing must be two positive pixel sizes (dx, dy) in mm, got {spacing}")
    return float(values[0]), float(values[1])


def _check_times(times: ArrayLike, n: int) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size != n:
        raise ValueError(f"times must be ({n},) to match the curve, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("times hold NaN or infinite values")
    if n > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t


def _side_label(side: str) -> int:
    if side not in SIDES:
        raise ValueError(f"side must be one of {sorted(SIDES)}, got {side!r}")
    return SIDES[side]


def _fill_gaps(curve: ArrayLike, times: ArrayLike | None = None, name: str = "curve") -> np.ndarray:
    """1-D float curve with NaN frames filled by linear interpolation (ends held constant)."""
    values = np.asarray(curve, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {values.shape}")
    if np.any(np.isinf(values)):
        raise ValueError(f"{name} holds infinite values")
    missing = np.isnan(values)
    if missing.all():
        raise ValueError(f"{name} holds no finite value")
    if missing.any():
        axis = np.arange(values.size, dtype=float) if times is None else np.asarray(times, float)
        logger.warning(
            "%s: %d of %d frames missing, interpolated linearly",
            name,
            int(missing.sum()),
            values.size,
        )
        values = values.copy()
        values[missing] = np.interp(axis[missing], axis[~missing], values[~missing])
    return values


def _frame_interval(times: np.ndarray) -> tuple[float, bool]:
    """Median frame interval (s) and whether the intervals are uniform within 1 %."""
    dt = np.diff(times)
    step = float(np.median(dt))
    return step, bool(np.all(np.abs(dt - step) <= _UNIFORM_TOLERANCE * step))


def _window_frames(window_s: float, step: float, n: int, polyorder: int) -> int:
    """Odd Savitzky-Golay window (frames) closest to ``window_s``, > polyorder, <= n."""
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    frames = max(round(window_s / step), polyorder + 1)
    frames += 1 - frames % 2
    if frames > n:
        frames = n - (1 - n % 2)
    if frames <= polyorder:
        raise ValueError(f"{n} frames are too few for a Savitzky-Golay filter of order {polyorder}")
    return frames


# ----------------------------------------------------------------------------- mask measures


def diaphragm_position(
    masks: ArrayLike,
    spacing: Sequence[float],
    *,
    side: str,
    band: float = 0.5,
    method: Literal["mean", "apex"] = "mean",
    exclude_mm: float = 10.0,
    image: ArrayLike | None = None,
) -> np.ndarray:
    """Craniocaudal position of one hemidiaphragm's dome per frame (mm, positive toward the head).

    Definition (reproducible by hand):

    1. *Lower border per column.* For each frame ``t`` and each left-right column ``i`` holding
       pixels of the lung, the lower border ``h[t, i]`` is the lower edge of the column's lowest
       (most caudal) lung pixel: ``(j_min - ½) dy`` with ``j_min`` its index along axis 2.
       *1b. Sub-pixel, with the frames* (``image``): across the border the image goes from the
       tissue below (bright) to the lung (dark). With the tissue level ``S`` (median of pixels
       ``j_min - 3 … j_min - 5``) and the lung level ``L`` (median of ``j_min + 2 … j_min +
       4``), each pixel ``j`` of ``j_min - 2 … j_min + 1`` holds the lung fraction ``f_j =
       clip((S - I_j) / (S - L), 0, 1)``, and the border lies the summed lung length below the
       window's top: ``h = (j_min + 1.5 - Σ f_j) dy``. A sum of partial volumes is unchanged by
       the reconstruction's blur within the window, and ``f = (0, 0, 1, 1)`` gives the mask's
       own border. Columns whose contrast ``S - L`` is below 0.3 times the frame's median (e.g.
       the gastric air under the left dome) keep the mask's border.
    2. *Central columns, fixed over frames.* The lung's left-right extent per frame is
       ``[i_first, i_last]`` (its outermost columns); the medians over the frames in which the
       lung is present give ``[a, b]``. The columns used are those whose centre lies within
       ``band`` of that extent around its middle: ``|i - (a + b)/2| <= band (b - a + 1) / 2``
       (the middle 50 % by default; at least 3 columns). Fixing the set over frames keeps it from
       jumping when the lung's lateral tip appears or disappears.
    3. *Diaphragm columns.* The mean frame's border ``H[i]`` is the mean of ``h[t, i]`` over the
       frames holding column ``i``. Columns whose ``H`` lies more than ``exclude_mm`` (10 mm)
       above the median ``H`` of the band are left out: there the lung's lower border is not
       the diaphragm but the heart or mediastinal fat resting on it (medial in the left lung).
    4. ``method="mean"`` (default): per frame the position is ``max_i H[i] + mean_i (h[t, i] -
       H[i])`` over the remaining columns present in the frame, leaving out columns whose
       deviation differs by more than 1.5 pixels (``1.5 dy``) from the frame's median deviation
       (isolated segmentation errors). The mean frame's border is sub-pixel (the motion dithers
       the quantisation over frames), so ``max_i H[i]`` is the mean frame's dome apex; the
       frame's mean deviation over the columns averages their quantisation errors out
       (sub-pixel). The shape of the dome within the band is taken as that of the mean frame:
       the position moves with the mean height of the central dome and reads as the apex
       (of the band's diaphragm columns).
       ``method="apex"``: per frame a least-squares parabola ``c0 + c1 x + c2 x²`` (``x`` the
       column centre in mm) is fitted to the frame's own borders ``h[t, i]`` of the remaining
       columns; columns more than 1.5 pixels from that fit are dropped and the parabola is
       fitted again; the position is its maximum over the band (the vertex when the parabola is
       concave with the vertex inside the band, otherwise the higher band end): the frame's own
       dome apex, following changes of dome shape, at 2-4 times the noise of ``"mean"`` (three
       parameters per frame instead of one) and biased where the dome is not parabolic.

    Frames in which no band column holds the lung give NaN (``apex``: fewer than 3 columns give
    the mean border of those present).

    Parameters
    ----------
    masks
        ``(T, X, Y)`` label frames (see the module docstring).
    spacing
        ``(dx, dy)`` pixel size in mm.
    side
        ``"right"`` (label 1) or ``"left"`` (label 2).
    band
        Fraction of the lung's left-right extent used (0 < band <= 1).
    method
        ``"mean"`` or ``"apex"`` (see above).
    exclude_mm
        Columns whose mean-frame border lies more than this above the band's median are not
        diaphragm (see step 3).
    image
        ``(T, X, Y)`` reconstructed magnitude frames of the masks: the border is refined to
        sub-pixel (step 1b). Without them it is the masks' own border.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` dome position in mm (NaN where undefined).

    Raises
    ------
    ValueError
        Bad shapes or spacing, an unknown side or method, or the lung is empty in every frame.
    """
    frames = _check_masks(masks)
    dx, dy = _check_spacing(spacing)
    label = _side_label(side)
    if not 0 < band <= 1:
        raise ValueError(f"band must lie in (0, 1], got {band}")
    if not exclude_mm > 0:
        raise ValueError(f"exclude_mm must be positive, got {exclude_mm}")
    if method not in ("apex", "mean"):
        raise ValueError(f"method must be 'apex' or 'mean', got {method!r}")
    lung = frames == label  # (T, X, Y)
    in_column = lung.any(axis=2)  # (T, X)
    present = in_column.any(axis=1)  # (T,)
    if not present.any():
        raise ValueError(f"the {side} lung (label {label}) is empty in every frame")
    n_x = frames.shape[1]
    first = np.argmax(in_column, axis=1)
    last = n_x - 1 - np.argmax(in_column[:, ::-1], axis=1)
    a, b = float(np.median(first[present])), float(np.median(last[present]))
    centre, half = 0.5 * (a + b), 0.5 * band * (b - a + 1)
    columns = np.flatnonzero(np.abs(np.arange(n_x) - centre) <= half)
    if columns.size < 3:  # the 3 columns nearest the centre
        columns = np.sort(np.argsort(np.abs(np.arange(n_x) - centre), kind="stable")[:3])
    lowest = np.argmax(lung[:, columns, :], axis=2)  # (T, C): first lung pixel from below
    valid = in_column[:, columns]
    if image is None:
        edge = lowest - 0.5
    else:
        image = np.asarray(image, dtype=float)
        if image.shape != frames.shape:
            raise ValueError(f"image {image.shape} does not match the masks {frames.shape}")
        edge = _subpixel_border(np.abs(image[:, columns, :]), lowest)
    border = np.where(valid, edge * dy, np.nan)
    typical = _mean_frame(border)
    keep = np.isfinite(typical)
    keep[keep] = typical[keep] <= np.median(typical[keep]) + exclude_mm
    border, valid, typical = border[:, keep], valid[:, keep], typical[keep]
    x = (columns[keep] - centre) * dx  # mm from the band centre
    if method == "mean":
        return _referenced_max(border, typical, _OUTLIER_PIXELS * dy)
    weight = valid.astype(float)
    border = np.nan_to_num(border)
    count = weight.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weight * border).sum(axis=1) / count
    coef = _weighted_parabola(x, border, weight)
    residual = np.abs(_parabola(coef, x) - border)
    weight = weight * (residual <= _OUTLIER_PIXELS * dy)
    refit = weight.sum(axis=1) >= 3
    coef[refit] = _weighted_parabola(x, border[refit], weight[refit])
    apex = _parabola_max(coef, x[0], x[-1])
    return np.where(count >= 3, apex, mean)


def _subpixel_border(profiles: np.ndarray, lowest: np.ndarray) -> np.ndarray:
    """Lower lung border per frame and column in pixels, refined by partial volume (step 1b of
    :func:`diaphragm_position`; the mask's ``lowest - ½`` where the contrast is too low).

    Written here, vectorised over frames and columns: it is a few array lookups on the mask's
    border, which no imaging library offers in this form.

    Parameters
    ----------
    profiles
        ``(T, C, Y)`` image magnitude of the band's columns.
    lowest
        ``(T, C)`` index of each column's lowest lung pixel.
    """
    n_y = profiles.shape[2]

    def level(offsets: range) -> np.ndarray:
        index = np.clip(lowest[None] + np.asarray(offsets)[:, None, None], 0, n_y - 1)
        return np.take_along_axis(profiles[None], index[..., None], axis=3)[..., 0]

    window = level(range(-_EDGE_BELOW, _EDGE_ABOVE))  # (K, T, C)
    above = _EDGE_ABOVE + _LEVEL_PIXELS
    lung = np.median(level(range(_EDGE_ABOVE, above)), axis=0)
    tissue = np.median(level(range(-_EDGE_BELOW - 1, -_EDGE_BELOW - 1 - _LEVEL_PIXELS, -1)), axis=0)
    contrast = tissue - lung
    floor = _MIN_CONTRAST * np.median(np.where(contrast > 0, contrast, 0.0), axis=1, keepdims=True)
    usable = (contrast > 0) & (contrast > floor)
    fraction = np.clip((tissue - window) / np.where(usable, contrast, 1.0), 0.0, 1.0)
    refined = lowest + _EDGE_ABOVE - 0.5 - fraction.sum(axis=0)
    return np.where(usable, refined, lowest - 0.5)


def largest_components(masks: ArrayLike) -> np.ndarray:
    """Each lung label reduced to its largest connected component in each frame
    (:func:`qmrflow.roi.largest_component` per frame, in-plane 8-connectivity, frames never
    joined); other pixels of that label become background (0), other labels are kept.

    Parameters
    ----------
    masks
        ``(T, X, Y)`` label frames.

    Returns
    -------
    numpy.ndarray
        The cleaned frames, same shape and dtype.
    """
    frames = _check_masks(masks)
    out = frames.copy()
    for label in SIDES.values():
        lung = frames == label
        out[lung & ~largest_component(lung, per_frame=True)] = 0
    return out


def _mean_frame(values: np.ndarray) -> np.ndarray:
    """Mean over frames (axis 0) of ``(T, C)`` values ignoring NaN; NaN where never defined."""
    defined = np.isfinite(values)
    count = defined.sum(axis=0)
    total = np.where(defined, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _referenced_max(values: np.ndarray, typical: np.ndarray, tolerance: float) -> np.ndarray:
    """``max(typical) + mean_c (values[t, c] - typical[c])`` per frame.

    ``values`` ``(T, C)`` (NaN where undefined), ``typical`` ``(C,)`` the mean frame. Per frame,
    deviations farther than ``tolerance`` from the frame's median deviation are left out; NaN
    where a frame has no value.
    """
    reference = float(np.nanmax(typical))
    deviation = values - typical  # NaN where undefined
    usable = np.isfinite(deviation)
    some = usable.any(axis=1)
    middle = np.zeros(values.shape[0])
    middle[some] = np.nanmedian(deviation[some], axis=1)
    usable &= np.abs(np.nan_to_num(deviation) - middle[:, None]) <= tolerance
    kept = usable.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_deviation = np.where(usable, deviation, 0.0).sum(axis=1) / kept
    return np.where(kept > 0, reference + mean_deviation, np.nan)


def _weighted_parabola(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row weighted least-squares coefficients ``(c0, c1, c2)`` of ``y ≈ c0 + c1 x + c2 x²``.

    Rows with fewer than 3 positive weights get NaN.
    """
    basis = np.stack([np.ones_like(x), x, x**2], axis=-1)  # (C, 3)
    normal = np.einsum("tc,cp,cq->tpq", w, basis, basis)
    rhs = np.einsum("tc,tc,cp->tp", w, y, basis)
    ok = np.count_nonzero(w > 0, axis=1) >= 3
    coef = np.full(rhs.shape, np.nan)
    if ok.any():
        coef[ok] = np.linalg.solve(normal[ok], rhs[ok][..., None])[..., 0]
    return coef


def _parabola(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return coef[:, :1] + coef[:, 1:2] * x + coef[:, 2:3] * x**2


def _parabola_max(coef: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Maximum of each row's parabola over ``[lo, hi]`` (vertex or an interval end)."""
    c0, c1, c2 = coef.T
    ends = np.maximum(c0 + c1 * lo + c2 * lo**2, c0 + c1 * hi + c2 * hi**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        vertex_x = np.where(c2 < 0, -c1 / (2.0 * c2), np.nan)
    inside = (c2 < 0) & (vertex_x >= lo) & (vertex_x <= hi)
    vertex = np.where(inside, c0 - np.where(inside, c1**2 / (4.0 * c2), 0.0), -np.inf)
    return np.maximum(ends, vertex)


def thoracic_width(
    masks: ArrayLike, spacing: Sequence[float], *, band_mm: float = 40.0
) -> np.ndarray:
    """Thoracic width per frame: the largest distance between the lateral borders of the lungs.

    Definition (reproducible by hand):

    1. *Row widths.* In every row (craniocaudal level ``j``) holding pixels of *both* lungs,
       the row width is the left-right extent of the two lungs together, from the outer edge of
       the outermost pixel on one side to that on the other: ``W[t, j] = (i_last - i_first + 1)
       dx`` (undefined where a lung is absent from the row).
    2. *Rows present throughout.* Only rows defined in at least 90 % of the frames are used
       (the rows that hold both lungs in the most frames if none is), so that the costophrenic
       recesses, which only inspiration fills, do not decide the level.
    3. *Mean frame and level.* The mean over frames of the row widths, ``P[j]``, is the width
       profile of the mean frame (a mean rather than a median: as the width changes over the
       frames, the pixel quantisation averages out, so ``P`` is sub-pixel). The band of rows is
       centred on the middle of the rows whose ``P`` lies within one pixel (``dx``) of its
       largest value, spans ``band_mm`` craniocaudally (rows whose centre lies within
       ``band_mm / 2``) and is the same in every frame.
    4. *Per frame.* ``width[t] = max_j P[j] + mean_j (W[t, j] - P[j])`` over the band rows
       defined in frame ``t``, leaving out rows whose deviation differs by more than 1.5 pixels
       (``1.5 dx``) from the frame's median deviation (single-row segmentation errors). Where
       the chest wall is curved, it crosses pixel boundaries at different levels and the mean
       deviation is sub-pixel; a vertical wall leaves a precision of about one pixel (both
       borders quantised: standard deviation ``dx/√6``). Frames without a usable band row give
       NaN (and a warning).

    Parameters
    ----------
    masks
        ``(T, X, Y)`` label frames.
    spacing
        ``(dx, dy)`` pixel size in mm.
    band_mm
        Craniocaudal extent of the band of rows (mm).

    Returns
    -------
    numpy.ndarray
        ``(T,)`` thoracic width in mm.

    Raises
    ------
    ValueError
        Bad shapes or spacing, or no frame holds a row with both lungs.
    """
    frames = _check_masks(masks)
    dx, dy = _check_spacing(spacing)
    if band_mm <= 0:
        raise ValueError(f"band_mm must be positive, got {band_mm}")
    right, left = frames == RIGHT_LUNG, frames == LEFT_LUNG
    both = right.any(axis=1) & left.any(axis=1)  # (T, Y)
    if not both.any():
        raise ValueError("no frame holds a row with both lungs: thoracic width undefined")
    lungs = right | left
    n_x, n_y = frames.shape[1], frames.shape[2]
    first = np.argmax(lungs, axis=1)  # (T, Y)
    last = n_x - 1 - np.argmax(lungs[:, ::-1, :], axis=1)
    width = np.where(both, (last - first + 1) * dx, np.nan)
    coverage = both.sum(axis=0)  # frames per row
    candidate = coverage >= min(0.9 * both.any(axis=1).sum(), coverage.max())
    profile = np.where(candidate, _mean_frame(width), -np.inf)
    widest = np.flatnonzero(profile >= np.max(profile) - dx)
    centre = 0.5 * (widest[0] + widest[-1])
    rows = np.flatnonzero(candidate & (np.abs(np.arange(n_y) - centre) * dy <= band_mm / 2))
    if rows.size == 0:
        rows = widest
    result = _referenced_max(width[:, rows], profile[rows], _OUTLIER_PIXELS * dx)
    missing = int(np.count_nonzero(np.isnan(result)))
    if missing:
        logger.warning("thoracic width undefined in %d of %d frames", missing, result.size)
    return result


def lung_area(masks: ArrayLike, spacing: Sequence[float], *, side: str) -> np.ndarray:
    """Area of one lung per frame in mm²: its pixel count times ``dx dy``.

    Raises
    ------
    ValueError
        Bad shapes or spacing, an unknown side, or the lung is empty in every frame.
    """
    frames = _check_masks(masks)
    dx, dy = _check_spacing(spacing)
    label = _side_label(side)
    count = np.count_nonzero(frames == label, axis=(1, 2))
    if not count.any():
        raise ValueError(f"the {side} lung (label {label}) is empty in every frame")
    return count * dx * dy


# ----------------------------------------------------------------------------- curve measures


def smoothed_velocity(
    curve: ArrayLike, times: ArrayLike, *, window_s: float = 0.25, polyorder: int = 2
) -> np.ndarray:
    """Smoothed time derivative of a curve (curve units per second, e.g. mm/s).

    A Savitzky-Golay filter (:func:`scipy.signal.savgol_filter`, ``mode="interp"``: the ends
    are taken from the polynomial fitted to the first / last window) fits a polynomial of order
    ``polyorder`` to a sliding window of ``round(window_s / Δt)`` frames (made odd, at least
    ``polyorder + 1``, at most the number of frames) and returns its derivative at the window
    centre; ``Δt`` is the median frame interval. With uniform frames (intervals within 1 % of
    the median) this is the filter's own derivative (``deriv=1``); otherwise the same local
    polynomial fit is done against the true frame times (a least-squares polynomial per window
    of frames, differentiated at the frame's own time; the first / last window serves the end
    frames). NaN frames are filled by linear interpolation in time first. A polynomial of order
    ``<= polyorder`` (a linear ramp for any order) is differentiated exactly.

    Parameters
    ----------
    curve
        ``(T,)`` values (e.g. dome position in mm).
    times
        ``(T,)`` frame times in s, strictly increasing.
    window_s
        Smoothing window in seconds (0.25 s = 5 frames at 20 frames/s).
    polyorder
        Polynomial order (2 or 3 are typical).

    Returns
    -------
    numpy.ndarray
        ``(T,)`` velocity.

    Raises
    ------
    ValueError
        Mismatched lengths, non-increasing times, too few frames, a non-positive window.
    """
    values = np.asarray(curve, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"curve must be 1-D, got shape {values.shape}")
    if polyorder < 1:
        raise ValueError(f"polyorder must be >= 1 for a derivative, got {polyorder}")
    t = _check_times(times, values.size)
    values = _fill_gaps(values, t)
    if values.size < 2:
        raise ValueError("a velocity needs at least 2 frames")
    step, uniform = _frame_interval(t)
    frames = _window_frames(window_s, step, values.size, polyorder)
    if uniform:
        return signal.savgol_filter(values, frames, polyorder, deriv=1, delta=step, mode="interp")
    logger.info("frame intervals are not uniform: local polynomial fits in time")
    return _local_polynomial_derivative(values, t, frames, polyorder)


def _local_polynomial_derivative(
    values: np.ndarray, times: np.ndarray, frames: int, polyorder: int
) -> np.ndarray:
    """Savitzky-Golay derivative for uneven times: per window a least-squares polynomial."""
    half = frames // 2
    window_t = np.lib.stride_tricks.sliding_window_view(times, frames)  # (K, frames)
    window_v = np.lib.stride_tricks.sliding_window_view(values, frames)
    origin = window_t[:, half : half + 1]
    scale = float(np.median(np.diff(times))) * half  # conditions the Vandermonde matrix
    u = (window_t - origin) / scale
    powers = np.arange(polyorder + 1)
    vander = u[..., None] ** powers  # (K, frames, P)
    normal = vander.transpose(0, 2, 1) @ vander
    rhs = (vander.transpose(0, 2, 1) @ window_v[..., None])[..., 0]
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]  # (K, P)
    window = np.clip(np.arange(values.size) - half, 0, window_t.shape[0] - 1)
    at = (times - origin[window, 0]) / scale
    slope = coef[window, 1:] * powers[1:] * at[:, None] ** (powers[1:] - 1)
    return slope.sum(axis=1) / scale


def _lightly_smoothed(curve: ArrayLike, spike_frames: int, smooth_frames: int) -> np.ndarray:
    """Running median of ``spike_frames`` then a quadratic Savitzky-Golay of ``smooth_frames``."""
    values = _fill_gaps(curve)
    if spike_frames > 1:
        values = ndimage.median_filter(values, size=spike_frames, mode="nearest")
    frames = min(smooth_frames, values.size - (1 - values.size % 2))
    if frames > 2:
        frames += 1 - frames % 2
        values = signal.savgol_filter(values, frames, 2, mode="interp")
    return values


def excursion(curve: ArrayLike, *, spike_frames: int = 3, smooth_frames: int = 5) -> float:
    """Range (maximum minus minimum) of a lightly smoothed curve, in the curve's units (mm).

    Smoothing, so that noise and single-frame segmentation errors do not inflate the range:
    a running median over ``spike_frames`` frames (:func:`scipy.ndimage.median_filter`, ends
    repeated; removes an isolated wrong frame) followed by a quadratic Savitzky-Golay filter over
    ``smooth_frames`` frames (``mode="interp"``; a quadratic keeps the height of a smooth peak).
    At 20 frames/s the defaults span 0.15 s and 0.25 s, short against a breath (>= 1 s).
    NaN frames are filled by linear interpolation. The result is invariant to a constant
    offset of the curve.

    Parameters
    ----------
    curve
        ``(T,)`` values, e.g. :func:`diaphragm_position` in mm.
    spike_frames, smooth_frames
        Filter lengths in frames (1 or less switches a filter off).

    Returns
    -------
    float
        ``max - min`` of the smoothed curve.
    """
    values = _lightly_smoothed(curve, spike_frames, smooth_frames)
    return float(values.max() - values.min())


def peak_sniff_velocity(
    position: ArrayLike, times: ArrayLike, *, window_s: float = 0.35, polyorder: int = 3
) -> float:
    """Peak caudal (inspiratory) velocity of the dome during a sniff, in mm/s, positive.

    ``max(-v)`` over the task, with ``v`` the :func:`smoothed_velocity` of the dome position
    (mm, positive toward the head): inspiration moves the dome caudally, i.e. ``v < 0``. Divide
    by 10 for cm/s, the unit of the paper (and of :func:`subject_measures`). A dome that never
    moves caudally gives a value <= 0. The defaults (a cubic over 0.35 s, 7 frames at 20
    frames/s) keep the peak of a sniff: a raised-cosine descent of 0.25-0.3 s is differentiated
    to within 3 % of its true peak, where a quadratic (i.e. a local linear slope) over 5
    frames already loses 5 % on a 0.5 s descent. The largest frame value is refined by a
    parabola through it and its two neighbours (the true peak falls between frames; sampling
    alone can lose 5 % of a 0.25 s sniff's peak at 20 frames/s).
    """
    caudal = -smoothed_velocity(position, times, window_s=window_s, polyorder=polyorder)
    best = int(np.argmax(caudal))
    peak = float(caudal[best])
    if 0 < best < caudal.size - 1:
        left, right = caudal[best - 1], caudal[best + 1]
        curvature = left - 2.0 * peak + right
        if curvature < 0:
            peak -= 0.125 * (left - right) ** 2 / curvature
    return peak


@dataclass(frozen=True)
class Synchronicity:
    """Diaphragm-chest wall synchronicity (see :func:`synchronicity`).

    Attributes
    ----------
    r
        Pearson correlation at zero lag between caudal dome displacement and thoracic width.
    lag_s
        Lag (s) of the maximal correlation within the search range; positive: the chest wall
        follows the diaphragm. NaN when the maximum lies at the edge of the range.
    r_at_lag
        The correlation at that lag (at the edge when ``lag_s`` is NaN).
    """

    r: float
    lag_s: float
    r_at_lag: float


def synchronicity(
    diaphragm: ArrayLike, width: ArrayLike, times: ArrayLike, *, max_lag_s: float = 1.0
) -> Synchronicity:
    """Correlation and lag between the diaphragm's caudal displacement and the thoracic width.

    Definition: ``x = -position`` (caudal displacement, rising on inspiration) and ``y = width``
    are linearly detrended (:func:`scipy.signal.detrend`) and standardised (zero mean, unit
    standard deviation); NaN frames are interpolated first. ``r`` is their Pearson correlation
    at lag 0 (positive: the chest expands while the diaphragm descends, the normal pattern;
    negative: paradoxical). For every lag ``k`` frames with ``|k Δt| <= max_lag_s`` the Pearson
    correlation of the overlapping parts ``y[n + k]`` and ``x[n]`` is computed from
    :func:`scipy.signal.correlate` and prefix sums (normalised by the overlap, so long lags are
    not penalised by a shrinking sum); the lag of the largest correlation is refined by a
    parabola through it and its neighbours (sub-frame; frame times are assumed uniform with
    ``Δt`` the median interval). A positive lag means ``y(t) ≈ x(t - lag)``: the chest wall
    follows the diaphragm. When the largest correlation lies at the edge of the search range
    (no peak within ``±max_lag_s``, e.g. for paradoxical, anti-correlated motion) the lag is
    undefined: ``lag_s`` is NaN. A curve that does not move at all (after detrending; a
    paralysed hemidiaphragm) has no correlation: every value is NaN, with a warning.

    Parameters
    ----------
    diaphragm
        ``(T,)`` dome position (mm, positive toward the head).
    width
        ``(T,)`` thoracic width (mm).
    times
        ``(T,)`` frame times (s), strictly increasing.
    max_lag_s
        Largest lag searched (s).

    Returns
    -------
    Synchronicity
        ``r``, ``lag_s``, ``r_at_lag``.

    Raises
    ------
    ValueError
        Mismatched lengths, fewer than 4 frames, non-increasing times.
    """
    x = np.asarray(diaphragm, dtype=float)
    y = np.asarray(width, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"diaphragm {x.shape} and width {y.shape} must be equal 1-D curves")
    if x.size < 4:
        raise ValueError("synchronicity needs at least 4 frames")
    t = _check_times(times, x.size)
    if max_lag_s < 0:
        raise ValueError(f"max_lag_s must be >= 0, got {max_lag_s}")
    try:
        x = _standardised(-_fill_gaps(x, t, "diaphragm"), "diaphragm")
        y = _standardised(_fill_gaps(y, t, "width"), "width")
    except ValueError as error:
        # a still hemidiaphragm (paralysis) or chest wall: no correlation to measure
        logger.warning("synchronicity undefined: %s", error)
        return Synchronicity(r=float("nan"), lag_s=float("nan"), r_at_lag=float("nan"))
    step, _ = _frame_interval(t)
    n = x.size
    lags = signal.correlation_lags(n, n, mode="full")
    keep = (np.abs(lags) * step <= max_lag_s + 1e-9 * step) & (n - np.abs(lags) >= 3)
    lags = lags[keep]
    sxy = signal.correlate(y, x, mode="full")[keep]
    r_lag = _overlap_pearson(x, y, lags, sxy)
    zero = int(np.flatnonzero(lags == 0)[0])
    best = int(np.nanargmax(r_lag))
    lag_s = float("nan")
    if 0 < best < lags.size - 1:
        left, centre, right = r_lag[best - 1 : best + 2]
        curvature = left - 2.0 * centre + right
        shift = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)) if curvature < 0 else 0
        lag_s = float((lags[best] + shift) * step)
    else:
        logger.info("synchronicity: no correlation peak within ±%.2f s, lag undefined", max_lag_s)
    return Synchronicity(r=float(r_lag[zero]), lag_s=lag_s, r_at_lag=float(r_lag[best]))


def _standardised(values: np.ndarray, name: str) -> np.ndarray:
    detrended = signal.detrend(values)
    scale = detrended.std()
    if not scale > 1e-12 * max(1.0, float(np.abs(values).max())):
        raise ValueError(f"{name} is constant (after detrending): correlation undefined")
    return (detrended - detrended.mean()) / scale


def _overlap_pearson(x: np.ndarray, y: np.ndarray, lags: np.ndarray, sxy: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``y[n + k]`` with ``x[n]`` over their overlap, per lag ``k``."""
    n = x.size
    px, py = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(y)])
    pxx, pyy = np.concatenate([[0.0], np.cumsum(x**2)]), np.concatenate([[0.0], np.cumsum(y**2)])
    y0, y1 = np.maximum(lags, 0), n + np.minimum(lags, 0)
    x0, x1 = np.maximum(-lags, 0), n - np.maximum(lags, 0)
    m = (n - np.abs(lags)).astype(float)
    sx, sy = px[x1] - px[x0], py[y1] - py[y0]
    sxx, syy = pxx[x1] - pxx[x0], pyy[y1] - pyy[y0]
    cov = sxy - sx * sy / m
    var = np.maximum(sxx - sx**2 / m, 0.0) * np.maximum(syy - sy**2 / m, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, cov / np.sqrt(var), np.nan)


@dataclass(frozen=True)
class Paradox:
    """Paradoxical diaphragm motion during chest expansion (see :func:`paradoxical_motion`).

    Attributes
    ----------
    paradoxical
        The dome rose by more than ``threshold_mm`` while the chest expanded.
    displacement_mm
        Signed dome displacement over the expansion interval (mm; positive = cranial).
    start_s, end_s
        The expansion interval (s).
    threshold_mm
        The threshold used.
    """

    paradoxical: bool
    displacement_mm: float
    start_s: float
    end_s: float
    threshold_mm: float


def paradoxical_motion(
    position: ArrayLike,
    width: ArrayLike,
    times: ArrayLike,
    *,
    threshold_mm: float = 2.5,
    window_s: float = 0.25,
    max_half_s: float = 0.75,
) -> Paradox:
    """Whether the dome moves cranially while the chest expands (paradoxical motion).

    Definition:

    1. The thoracic width's :func:`smoothed_velocity` ``w'`` (``window_s``) is computed, and
       the frame of the fastest chest expansion ``t* = argmax w'`` found (in a sniff task: the
       sniff inspiration).
    2. The expansion interval is the run of frames around ``t*`` in which ``w' > 0`` (from the
       width minimum before the sniff to the width maximum after it), limited to
       ``t* ± max_half_s``.
    3. The dome displacement is ``p(end) - p(start)`` of the position smoothed as in
       :func:`excursion` (mm; positive = cranial). Normal: the dome descends while the chest
       expands (negative displacement). The motion is paradoxical when the displacement
       exceeds ``+threshold_mm`` (default 2.5 mm: five times the SD of the dome position from
       the masks, 0.2-0.5 mm on the 4 mm demo grid, so noise alone does not flag a side; the
       rise during the sniff's expansion is only part of a paradoxical side's whole rise).

    Parameters
    ----------
    position
        ``(T,)`` dome position (mm, positive toward the head).
    width
        ``(T,)`` thoracic width (mm).
    times
        ``(T,)`` frame times (s), strictly increasing.
    threshold_mm
        Cranial displacement above which the motion is called paradoxical (>= 0).
    window_s
        Smoothing window of the width velocity (s).
    max_half_s
        Largest extent of the interval on either side of ``t*`` (s).

    Returns
    -------
    Paradox
        The flag, the signed displacement and the interval.

    Raises
    ------
    ValueError
        Mismatched lengths, non-increasing times, a negative threshold.
    """
    p = np.asarray(position, dtype=float)
    w = np.asarray(width, dtype=float)
    if p.shape != w.shape or p.ndim != 1:
        raise ValueError(f"position {p.shape} and width {w.shape} must be equal 1-D curves")
    t = _check_times(times, p.size)
    if threshold_mm < 0:
        raise ValueError(f"threshold_mm must be >= 0, got {threshold_mm}")
    w_velocity = smoothed_velocity(_fill_gaps(w, t, "width"), t, window_s=window_s)
    peak = int(np.argmax(w_velocity))
    within = np.abs(t - t[peak]) <= max_half_s
    # The run ends at the first frame on either side where w' <= 0 (the width minimum / maximum,
    # included) or, failing that, at the last frame within max_half_s.
    turn_before = np.flatnonzero((w_velocity[:peak] <= 0) & within[:peak])
    turn_after = peak + np.flatnonzero((w_velocity[peak:] <= 0) & within[peak:])
    inside = np.flatnonzero(within)
    start = int(turn_before[-1]) if turn_before.size else int(inside[0])
    end = int(turn_after[0]) if turn_after.size else int(inside[-1])
    smooth = _lightly_smoothed(_fill_gaps(p, t, "position"), 3, 5)
    displacement = float(smooth[end] - smooth[start])
    return Paradox(
        paradoxical=bool(displacement > threshold_mm),
        displacement_mm=displacement,
        start_s=float(t[start]),
        end_s=float(t[end]),
        threshold_mm=float(threshold_mm),
    )


# ----------------------------------------------------------------------------- subject table


def subject_measures(
    masks_by_task: Mapping[str, ArrayLike],
    times_by_task: Mapping[str, ArrayLike],
    spacing: Sequence[float],
    *,
    sniff_tasks: Sequence[str] = ("sniff",),
    threshold_mm: float = 2.5,
    images_by_task: Mapping[str, ArrayLike] | None = None,
) -> pd.DataFrame:
    """All breathing measures of one subject as a tidy table (one row per task, side, measure).

    Tidy rows (columns :data:`MEASURE_COLUMNS`: ``task``, ``side``, ``measure``, ``value``,
    ``unit``) rather than one wide row, so that tasks and sides can be added without new
    columns and a cohort table is a plain concatenation with a subject column. ``side`` is
    ``"right"``, ``"left"`` or ``"both"`` (measures of the whole thorax). Rows per task:

    ========================  ======  ======  ================================================
    measure                   side    unit    definition
    ========================  ======  ======  ================================================
    excursion                 r / l   mm      :func:`excursion` of :func:`diaphragm_position`
    peak_velocity             r / l   cm/s    :func:`peak_sniff_velocity` / 10 (sniff tasks)
    paradoxical               r / l   bool    :func:`paradoxical_motion` flag, 1.0 / 0.0 (sniff)
    paradoxical_displacement  r / l   mm      its signed dome displacement (sniff tasks)
    synchronicity_r           r / l   1       :func:`synchronicity` ``r`` (dome vs width)
    synchronicity_lag         r / l   s       :func:`synchronicity` ``lag_s`` (NaN: no peak)
    lung_area_mean            r / l   mm2     mean of :func:`lung_area` over frames
    lung_area_change          r / l   mm2     :func:`excursion` of :func:`lung_area`
    thoracic_width_mean       both    mm      mean of :func:`thoracic_width`
    thoracic_width_excursion  both    mm      :func:`excursion` of :func:`thoracic_width`
    ========================  ======  ======  ================================================

    Parameters
    ----------
    masks_by_task
        Task name -> ``(T, X, Y)`` label frames; each lung is taken as its largest connected
        component per frame (:func:`largest_components`).
    times_by_task
        Task name -> ``(T,)`` frame times (s); the same task names.
    spacing
        ``(dx, dy)`` pixel size in mm (shared by the tasks).
    sniff_tasks
        Task names that are sniff manoeuvres (peak velocity and paradoxical motion).
    threshold_mm
        Threshold of :func:`paradoxical_motion`.
    images_by_task
        Task -> the reconstructed frames of the masks: the diaphragm positions are sub-pixel
        (:func:`diaphragm_position`, ``image``).

    Returns
    -------
    pandas.DataFrame
        Tidy table in the order tasks, then sides, then measures.

    Raises
    ------
    ValueError
        Different task names, mismatched frame counts, empty lungs, bad times.
    """
    if set(masks_by_task) != set(times_by_task):
        raise ValueError(
            f"tasks of masks {sorted(masks_by_task)} and times {sorted(times_by_task)} differ"
        )
    if not masks_by_task:
        raise ValueError("no task given")
    _check_spacing(spacing)
    rows: list[tuple[str, str, str, float, str]] = []
    for task, task_masks in masks_by_task.items():
        frames = largest_components(task_masks)
        t = _check_times(times_by_task[task], frames.shape[0])
        try:
            image = None if images_by_task is None else images_by_task[task]
            positions = {
                side: diaphragm_position(frames, spacing, side=side, image=image) for side in SIDES
            }
            width = thoracic_width(frames, spacing)
            for side, position in positions.items():
                area = lung_area(frames, spacing, side=side)
                sync = synchronicity(position, width, t)
                rows += [
                    (task, side, "excursion", excursion(position), "mm"),
                    (task, side, "synchronicity_r", sync.r, "1"),
                    (task, side, "synchronicity_lag", sync.lag_s, "s"),
                    (task, side, "lung_area_mean", float(area.mean()), "mm2"),
                    (task, side, "lung_area_change", excursion(area), "mm2"),
                ]
                if task in sniff_tasks:
                    paradox = paradoxical_motion(position, width, t, threshold_mm=threshold_mm)
                    rows += [
                        (
                            task,
                            side,
                            "peak_velocity",
                            peak_sniff_velocity(position, t) / 10,
                            "cm/s",
                        ),
                        (task, side, "paradoxical", float(paradox.paradoxical), "bool"),
                        (task, side, "paradoxical_displacement", paradox.displacement_mm, "mm"),
                    ]
            rows += [
                (task, "both", "thoracic_width_mean", float(np.nanmean(width)), "mm"),
                (task, "both", "thoracic_width_excursion", excursion(width), "mm"),
            ]
        except ValueError as error:
            raise ValueError(f"task {task!r}: {error}") from error
    logger.info("breathing measures: %d tasks, %d rows", len(masks_by_task), len(rows))
    return pd.DataFrame(rows, columns=list(MEASURE_COLUMNS))
