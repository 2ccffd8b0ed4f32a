"""The voxelwise fitting driver: mask -> voxels -> chunks -> solver -> maps.

Every quantitative map (T1/T2/PD from MDME, T1 from inversion recovery, perfusion, ...) is the
same loop: take the voxels of a mask as rows ``(N, V)`` (``V`` measurements per voxel), solve
them in chunks of a bounded number of voxels (a batched solver such as
:func:`qmrflow.fitting.levenberg_marquardt` holds several ``(chunk, V, P)`` arrays, so the chunk
bounds memory), and scatter the per-voxel results back into maps of the image's spatial shape.
This module does that loop once; a study supplies only its solver.

A solver is ``solver(data[n, V], *per_voxel) -> (params[n, P], converged[n], prediction[n, V])``
where each ``per_voxel`` argument is an array with one row per voxel (e.g. a known B1 per voxel)
or ``None``, sliced to the chunk by the driver. Rows must be independent: the result of a voxel
may not depend on which other voxels share its chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_CHUNK",
    "MaskedFit",
    "Solver",
    "VoxelFit",
    "fit_masked",
    "fit_voxels",
    "masked_voxels",
    "relative_residual",
    "to_map",
]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 65536
"""Voxels per chunk (bounds memory: ~chunk x volumes x parameters x 8 bytes x ~10)."""

Solver = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
"""``solver(data[n, V], *per_voxel) -> (params[n, P], converged[n], prediction[n, V])``."""


@dataclass(frozen=True)
class VoxelFit:
    """Per-voxel result of :func:`fit_voxels` (rows in the order of the input voxels).

    Attributes
    ----------
    params
        ``(N, P)`` fitted parameters.
    converged
        ``(N,)`` bool, the solver's convergence flag.
    residual
        ``(N,)`` RMS residual over the measurements divided by the voxel's mean measurement
        (:func:`relative_residual`).
    """

    params: np.ndarray
    converged: np.ndarray
    residual: np.ndarray


@dataclass(frozen=True)
class MaskedFit:
    """Maps of :func:`fit_masked` (spatial shape of the images; 0 / False outside the mask).

    Attributes
    ----------
    params
        ``spatial + (P,)`` fitted parameters.
    converged, residual
        Spatial maps of the convergence flag and the relative residual.
    mask
        The voxels that were fitted.
    """

    params: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    mask: np.ndarray


def masked_voxels(
    images: ArrayLike, mask: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The voxels of a mask as rows.

    Parameters
    ----------
    images
        ``(..., V)`` images, measurements on the last axis.
    mask
        Boolean array of the spatial shape ``images.shape[:-1]``; ``None`` takes every voxel
        whose measurements are not all zero.

    Returns
    -------
    data : numpy.ndarray
        ``(N, V)`` float64 measurements of the ``N`` masked voxels (C order).
    mask : numpy.ndarray
        The boolean mask used.

    Raises
    ------
    ValueError
        The images hold NaN or infinite values, or the mask shape differs.
    """
    values = np.asarray(images, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("images hold NaN or infinite values")
    spatial = values.shape[:-1]
    if mask is None:
        selected = np.any(values != 0, axis=-1)
    else:
        selected = np.asarray(mask, dtype=bool)
        if selected.shape != spatial:
            raise ValueError(f"mask shape {selected.shape} differs from the images' {spatial}")
    return values[selected], selected


def to_map(values: ArrayLike, mask: np.ndarray, dtype: type | np.dtype = float) -> np.ndarray:
    """Scatter per-voxel values (rows in mask order) back into an array of the mask's shape.

    ``values`` of shape ``(N,)`` give a map of ``mask.shape``; ``(N, P)`` give
    ``mask.shape + (P,)``. Voxels outside the mask are 0 (False for bool).
    """
    rows = np.asarray(values)
    out = np.zeros(mask.shape + rows.shape[1:], dtype=dtype)
    out[mask] = rows
    return out


def relative_residual(prediction: np.ndarray, data: np.ndarray) -> np.ndarray:
    """RMS of ``prediction - data`` over the last axis divided by the mean of ``data``.

    0 where the mean measurement is not positive.
    """
    rms = np.sqrt(np.mean((prediction - data) ** 2, axis=1))
    mean = np.mean(data, axis=1)
    return np.where(mean > 0, rms / np.maximum(mean, 1e-30), 0.0)


def fit_voxels(
    data: ArrayLike,
    solver: Solver,
    *per_voxel: np.ndarray | None,
    chunk: int = DEFAULT_CHUNK,
    n_params: int | None = None,
) -> VoxelFit:
    """Solve ``(N, V)`` voxels in chunks of at most ``chunk`` rows.

    Parameters
    ----------
    data
        ``(N, V)`` measurements, one row per voxel.
    solver
        See the module docstring.
    *per_voxel
        Arrays with ``N`` rows passed to the solver chunk by chunk, or ``None`` (passed as is).
    chunk
        Rows per solver call.
    n_params
        Number of parameters ``P``: gives ``params`` its shape ``(0, P)`` when there is no
        voxel (otherwise taken from the solver's first result; ``(0, 0)`` without voxels).

    Returns
    -------
    VoxelFit
        Parameters, convergence and relative residual per voxel.

    Raises
    ------
    ValueError
        ``data`` is not 2-D, ``chunk`` is not positive, a per-voxel array has the wrong number
        of rows, or the solver returns arrays of the wrong shape.
    """
    values = np.asarray(data, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"data must be (N, V), got shape {values.shape}")
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    n = values.shape[0]
    for index, extra in enumerate(per_voxel):
        if extra is not None and np.shape(extra)[0] != n:
            raise ValueError(f"per-voxel argument {index} has {np.shape(extra)[0]} rows, not {n}")
    params = None if n_params is None else np.zeros((n, n_params))
    converged = np.zeros(n, dtype=bool)
    residual = np.zeros(n)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        rows = values[part]
        extras = [None if extra is None else extra[part] for extra in per_voxel]
        p, conv, prediction = solver(rows, *extras)
        p = np.asarray(p, dtype=float)
        if p.ndim != 2 or p.shape[0] != rows.shape[0] or np.shape(prediction) != rows.shape:
            raise ValueError(
                f"solver returned params {p.shape} and prediction {np.shape(prediction)} "
                f"for {rows.shape} data"
            )
        if params is None:
            params = np.zeros((n, p.shape[1]))
        params[part], converged[part] = p, conv
        residual[part] = relative_residual(prediction, rows)
    if params is None:
        params = np.zeros((0, 0))
    return VoxelFit(params=params, converged=converged, residual=residual)


def fit_masked(
    images: ArrayLike,
    solver: Solver,
    *,
    mask: ArrayLike | None = None,
    per_voxel: tuple[ArrayLike | None, ...] = (),
    chunk: int = DEFAULT_CHUNK,
    n_params: int | None = None,
) -> MaskedFit:
    """Fit every voxel of a mask and return maps: :func:`masked_voxels`, :func:`fit_voxels`,
    :func:`to_map` in one call.

    Parameters
    ----------
    images
        ``(..., V)`` images, measurements on the last axis.
    solver
        See the module docstring.
    mask
        Voxels to fit (see :func:`masked_voxels`).
    per_voxel
        Maps of the spatial shape (or ``None``) whose masked voxels are passed to the solver.
    chunk
        Voxels per solver call.
    n_params
        Number of parameters (see :func:`fit_voxels`).

    Returns
    -------
    MaskedFit
        Parameter maps (``spatial + (P,)``), convergence and residual maps, the mask.
    """
    data, selected = masked_voxels(images, mask)
    extras = []
    for extra in per_voxel:
        if extra is None:
            extras.append(None)
            continue
        array = np.asarray(extra)
        if array.shape[: selected.ndim] != selected.shape:
            raise ValueError(
                f"per-voxel map shape {array.shape} differs from the mask's {selected.shape}"
            )
        extras.append(array[selected])
    fit = fit_voxels(data, solver, *extras, chunk=chunk, n_params=n_params)
    logger.debug("voxelwise fit: %d voxels, %d converged", data.shape[0], int(fit.converged.sum()))
    return MaskedFit(
        params=to_map(fit.params, selected),
        converged=to_map(fit.converged, selected, bool),
        residual=to_map(fit.residual, selected),
        mask=selected,
    )
