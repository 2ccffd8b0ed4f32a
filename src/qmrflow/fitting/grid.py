"""Grid-search starting values for magnitude recovery (inversion / saturation recovery) fits.

A T1 fit of magnitude recovery data (inversion recovery, Look-Locker, saturation recovery as in
MDME) is started from the best point of a grid over T1 and, optionally, a second parameter that
scales the preparation (inversion efficiency, or a relative transmit field B1). The voxel's
recovery curve ``a`` (one amplitude per recovery time, scale free) is matched against each grid
curve ``g = |m(T1, k; t)|`` by the largest normalised inner product ``a·g / |g|``: the grid
point of least squared error with the scale (PD, M0) profiled out. One matrix product per
chunk of voxels, so a map is searched in a few array operations.

Polarity classes (the magnitude ambiguity)
------------------------------------------
Magnitude data cannot tell on which side of its null a time close to the null lies, and the
least-squares cost then has one basin per side, separated by the kink of ``|m|``: a start on
the wrong side converges to the wrong basin. Following Barral et al. 2010 (Magn Reson Med
64:1057-1067: fit each null position, keep the best), grid points are grouped by their
*polarity class* (how many recovery times have a negative signed model ``m``, i.e. lie before
the null), and the best grid point of every class is returned beside the overall best, so that
a fit can be restarted on the other side of the null and the lower cost kept.

Why hand-written: no maintained library offers a batched dictionary match with these polarity
classes (scikit-learn's nearest-neighbour search does not profile out the scale); the code is a
normalised matrix product and an argmax.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "GRID_CHUNK",
    "GridStart",
    "RecoveryModel",
    "inversion_recovery",
    "recovery_grid_start",
]

GRID_CHUNK = 4096
"""Voxels per grid-search matrix product (chunk x grid points floats)."""

RecoveryModel = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``model(t1, k, times) -> signed signal`` (broadcasting; the scale is irrelevant)."""


@dataclass(frozen=True)
class GridStart:
    """Best grid points of :func:`recovery_grid_start`.

    Attributes
    ----------
    t1, second
        ``(1 + n_times + 1, N)``: row 0 the best grid point over all classes, row ``1 + c`` the
        best grid point with ``c`` negative recovery times (``second`` is the efficiency / B1
        value; the given one when it was fixed per voxel).
    valid
        Same shape, bool: the class exists on the grid (for that voxel's fixed value).
    """

    t1: np.ndarray
    second: np.ndarray
    valid: np.ndarray


def inversion_recovery(
    t1: np.ndarray,
    efficiency: np.ndarray,
    times: np.ndarray,
    repetition_time: float | None = None,
) -> np.ndarray:
    """Signed inversion-recovery signal ``1 - (1 + k) e^(-TI/T1) [+ k e^(-TR/T1)]`` (M0 = 1).

    ``k`` is the inversion efficiency (1 = perfect inversion, ``1 - 2 e^(-TI/T1)``); with a
    repetition time the incomplete recovery before the inversion is included
    (``1 - (1 + k) e^(-TI/T1) + k e^(-TR/T1)``, which for ``k = 1`` is the textbook
    ``1 - 2 e^(-TI/T1) + e^(-TR/T1)``; Bernstein, King & Zhou 2004, Handbook of MRI Pulse
    Sequences). For Look-Locker data pass the apparent ``T1*`` as ``t1`` (Deichmann & Haase
    1992, J Magn Reson 96:608-612) and correct it after the fit.

    Parameters
    ----------
    t1, efficiency, times
        Broadcasting arrays (ms, dimensionless, ms).
    repetition_time
        TR (ms), or ``None`` for full recovery between inversions.
    """
    t1 = np.asarray(t1, dtype=float)
    k = np.asarray(efficiency, dtype=float)
    signal = 1.0 - (1.0 + k) * np.exp(-np.asarray(times, dtype=float) / t1)
    if repetition_time is not None:
        signal = signal + k * np.exp(-repetition_time / t1)
    return signal


def _class_tables(
    model: RecoveryModel, times: np.ndarray, t1_grid: np.ndarray, second_grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid (T, K) of T1 and second values, unit-norm magnitude curves and polarity classes."""
    t1_mesh, second_mesh = np.meshgrid(t1_grid, second_grid, indexing="ij")  # (T, K)
    signed = model(t1_mesh[..., None], second_mesh[..., None], times)  # (T, K, M)
    curves = np.abs(signed)
    curves /= np.maximum(np.linalg.norm(curves, axis=-1, keepdims=True), 1e-300)
    polarity = np.count_nonzero(signed < 0, axis=-1)  # (T, K)
    return t1_mesh, second_mesh, curves, polarity


def recovery_grid_start(
    amplitude: ArrayLike,
    times: ArrayLike,
    model: RecoveryModel,
    *,
    t1_grid: ArrayLike,
    second_grid: ArrayLike = (1.0,),
    fixed_second: ArrayLike | None = None,
    chunk: int = GRID_CHUNK,
) -> GridStart:
    """Best (T1, second parameter) grid points per voxel, overall and per polarity class.

    Parameters
    ----------
    amplitude
        ``(N, M)`` magnitude recovery curves (one amplitude per recovery time, any scale).
    times
        ``(M,)`` recovery times (inversion times, saturation delays; ms).
    model
        Signed signal model ``model(t1, second, times)`` (see :data:`RecoveryModel`), e.g.
        :func:`inversion_recovery`.
    t1_grid
        T1 values to search (ms), e.g. ``numpy.geomspace(50, 6000, 96)``.
    second_grid
        Values of the second parameter (efficiency / B1) to search; one value fixes it.
    fixed_second
        ``(N,)`` known second parameter per voxel: only T1 is searched, on the grid column of
        the nearest ``second_grid`` value (a fit then refines T1 at the exact value).
    chunk
        Voxels per matrix product.

    Returns
    -------
    GridStart
        See the module docstring and :class:`GridStart`.

    Notes
    -----
    With the second parameter free, the score is computed in float32 (the argmax needs no
    more precision, and the matrix product is the cost of the search); with it fixed, in
    float64.
    """
    data = np.asarray(amplitude, dtype=float)
    times = np.asarray(times, dtype=float)
    t1_grid = np.asarray(t1_grid, dtype=float)
    second_grid = np.asarray(second_grid, dtype=float)
    if data.ndim != 2 or data.shape[1] != times.size:
        raise ValueError(f"amplitude must be (N, {times.size}), got shape {data.shape}")
    t1_mesh, second_mesh, curves, polarity = _class_tables(model, times, t1_grid, second_grid)
    n_classes = times.size + 1
    n = data.shape[0]
    best_t1 = np.zeros((1 + n_classes, n))
    best_second = np.zeros((1 + n_classes, n))
    valid = np.zeros((1 + n_classes, n), dtype=bool)
    if fixed_second is not None:
        known = np.asarray(fixed_second, dtype=float)
        column = np.abs(known[:, None] - second_grid).argmin(axis=1)
        best_second[:] = known
        for start in range(0, n, chunk):
            part = slice(start, min(start + chunk, n))
            score = np.einsum("tcd,cd->ct", curves[:, column[part]], data[part])
            klass = polarity[:, column[part]].T  # (c, T)
            best_t1[0, part] = t1_grid[np.argmax(score, axis=1)]
            valid[0, part] = True
            for k in range(n_classes):
                masked = np.where(klass == k, score, -np.inf)
                best_t1[1 + k, part] = t1_grid[np.argmax(masked, axis=1)]
                valid[1 + k, part] = np.any(klass == k, axis=1)
        return GridStart(best_t1, best_second, valid)

    # Free second parameter: grid points sorted by class, so each class is a contiguous block.
    order = np.argsort(polarity.ravel(), kind="stable")
    flat_curves = curves.reshape(-1, times.size)[order].astype(np.float32)
    flat_t1, flat_second = t1_mesh.ravel()[order], second_mesh.ravel()[order]
    bounds = np.searchsorted(polarity.ravel()[order], np.arange(n_classes + 1))
    rows = np.arange(min(chunk, n))
    for start in range(0, n, chunk):
        part = slice(start, min(start + chunk, n))
        score = data[part].astype(np.float32) @ flat_curves.T  # (c, T*K)
        top_score = np.full(score.shape[0], -np.inf, dtype=np.float32)
        for k in range(n_classes):
            lo, hi = bounds[k], bounds[k + 1]
            if hi > lo:
                top = lo + np.argmax(score[:, lo:hi], axis=1)
                best_t1[1 + k, part], best_second[1 + k, part] = flat_t1[top], flat_second[top]
                valid[1 + k, part] = True
                value = score[rows[: top.size], top]
                better = value > top_score
                top_score[better] = value[better]
                best_t1[0, part][better] = flat_t1[top[better]]
                best_second[0, part][better] = flat_second[top[better]]
        valid[0, part] = True
    return GridStart(best_t1, best_second, valid)
