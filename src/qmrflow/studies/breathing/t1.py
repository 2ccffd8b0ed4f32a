"""Diaphragm T1 from single-shot inversion-recovery (Look-Locker) images.

After one inversion, a train of low-angle readouts samples the recovering magnetisation at the
inversion times ``TI``; the readouts drive the recovery toward a reduced steady state with the
apparent time constant ``T1* < T1``. The magnitude signal of a voxel is modelled as

    S(TI) = |A - B exp(-TI / T1*)|

(``A`` the steady-state signal, ``B`` the signal change from the inversion; three parameters),
and the readout effect is removed by the Look-Locker correction of Deichmann & Haase (1992,
J Magn Reson 96:608-612):

    T1 = T1* (B / A - 1).

Fatty involution of the diaphragm (e.g. in Pompe disease) shortens its T1, so a lower
diaphragm T1 points to fatty replacement (Zeng et al., MedComm 2026).

Fit, per voxel and vectorised over voxels through the shared driver
(:func:`qmrflow.fitting.masked_voxels`, :func:`qmrflow.fitting.fit_voxels`,
:func:`qmrflow.fitting.to_map`) and the shared magnitude recovery fit
(:func:`qmrflow.fitting.magnitude_recovery_model`, :func:`qmrflow.fitting.fit_across_null`):

1. Each voxel's curve is divided by its largest magnitude (the fit is then scale free; the
   amplitudes are scaled back afterwards).
2. Grid start (:func:`qmrflow.fitting.recovery_grid_start` with the signed model
   :func:`qmrflow.fitting.inversion_recovery`, whose ``1 - (1 + k) exp(-TI/T1*)`` is the model
   above divided by ``A`` with ``k = B/A - 1``): the best (``T1*``, ``B/A``) of a grid, overall
   and per *polarity class* (how many TIs lie before the null); ``A`` follows linearly.
3. Batched Levenberg-Marquardt (:func:`qmrflow.fitting.levenberg_marquardt`, analytic Jacobian,
   bounds ``A, B >= 0`` and ``T1*`` within ``t1_star_bounds``) from the best grid point.
4. The magnitude cost has one basin per side of the null (Barral et al. 2010, Magn Reson Med
   64:1057-1067): voxels whose fitted curve has a TI close to its null (``|A - B e| < 0.2
   max``) are fitted again from the best grid point of the polarity class on the other side
   of that TI, and the lower cost is kept (:func:`qmrflow.fitting.fit_across_null`, shared
   with :mod:`qmrflow.studies.synthmri.mdme`).

Units: ``T1*`` and ``T1`` come in the unit of the inversion times (seconds or milliseconds);
the default ``T1*`` bounds scale with the longest inversion time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from qmrflow.fitting import (
    Model,
    Solver,
    fit_across_null,
    fit_voxels,
    inversion_recovery,
    magnitude_recovery_model,
    masked_voxels,
    recovery_grid_start,
    signed_recovery,
    to_map,
)
from qmrflow.fitting.voxelwise import DEFAULT_CHUNK

__all__ = ["T1Fit", "fit_t1", "look_locker_model", "roi_t1"]

logger = logging.getLogger(__name__)

_BOUNDS_RELATIVE = (0.01, 10.0)  # default T1* bounds, times the longest inversion time
_GRID_T1_POINTS = 160
_GRID_RATIO = np.linspace(1.0, 4.0, 31)  # B/A of the grid (k = B/A - 1 from 0 to 3)
_BOUND_MARGIN = 1e-3  # T1* within this relative distance of a bound: a failed fit


@dataclass(frozen=True)
class T1Fit:
    """Maps of :func:`fit_t1` (spatial shape of the images; 0 / False outside the mask).

    Attributes
    ----------
    a, b
        Fitted ``A`` and ``B`` (signal units).
    t1_star
        Apparent relaxation time ``T1*`` (unit of the inversion times).
    t1
        Look-Locker corrected ``T1 = T1* (B/A - 1)`` (0 where ``A = 0``; <= 0 where ``B <= A``).
    r2
        Coefficient of determination ``1 - Σ(S - fit)² / Σ(S - mean S)²`` per voxel.
    residual
        RMS residual over the mean signal (:func:`qmrflow.fitting.relative_residual`).
    converged
        Levenberg-Marquardt's convergence flag.
    valid
        Usable fits: converged, finite, ``0 < A < B``, ``T1*`` not on a bound (within 0.1 %)
        and ``r2 >= min_r2``.
    mask
        The voxels that were fitted.
    """

    a: np.ndarray
    b: np.ndarray
    t1_star: np.ndarray
    t1: np.ndarray
    r2: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    valid: np.ndarray
    mask: np.ndarray


def look_locker_model(inversion_times: ArrayLike) -> Model:
    """The magnitude model ``|A - B exp(-TI/T1*)|`` with its analytic Jacobian.

    The shared three-parameter recovery model (:func:`qmrflow.fitting.magnitude_recovery_model`)
    with the apparent ``T1*`` in place of ``T1``.

    Returns
    -------
    callable
        ``model(params[N, 3]) -> (signal[N, M], jacobian[N, M, 3])``, columns ``(A, B, T1*)``.
        With ``e = exp(-TI/T1*)`` and ``s = sign(A - B e)`` (``+1`` at the null)::

            dS/dA = s      dS/dB = -s e      dS/dT1* = -s B e TI / T1*²
    """
    return magnitude_recovery_model(inversion_times)


def _check_times(inversion_times: ArrayLike, n_images: int) -> np.ndarray:
    ti = np.asarray(inversion_times, dtype=float)
    if ti.ndim != 1 or ti.size != n_images:
        raise ValueError(
            f"{ti.size} inversion times for {n_images} images: one inversion time per image"
        )
    if not np.all(np.isfinite(ti)) or np.any(ti < 0):
        raise ValueError("inversion times must be finite and non-negative")
    if np.unique(ti).size != ti.size:
        raise ValueError("inversion times must be distinct")
    if ti.size < 4:
        raise ValueError(f"a three-parameter fit needs at least 4 inversion times, got {ti.size}")
    return ti


def _solver(
    ti: np.ndarray, bounds: tuple[float, float], max_iterations: int
) -> tuple[Model, Solver]:
    """The model and the chunk solver for :func:`qmrflow.fitting.fit_voxels`."""
    model = look_locker_model(ti)
    t1_grid = np.geomspace(bounds[0], bounds[1], _GRID_T1_POINTS)
    lower = np.array([0.0, 0.0, bounds[0]])
    upper = np.array([np.inf, np.inf, bounds[1]])

    def solve(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = np.max(np.abs(rows), axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        data = rows / scale[:, None]
        start = recovery_grid_start(
            data, ti, inversion_recovery, t1_grid=t1_grid, second_grid=_GRID_RATIO - 1.0
        )

        def initial(which: np.ndarray, t1s: np.ndarray, k: np.ndarray) -> np.ndarray:
            # A profiled out of the grid curve |1 - (1 + k) e|; B = A (1 + k).
            shape = np.abs(inversion_recovery(t1s[:, None], k[:, None], ti))
            den = np.einsum("nm,nm->n", shape, shape)
            a = np.einsum("nm,nm->n", data[which], shape) / np.maximum(den, 1e-300)
            return np.column_stack([a, a * (1.0 + k), t1s])

        fit = fit_across_null(
            model,
            data,
            start,
            initial,
            lambda params: signed_recovery(params, ti),
            lower=lower,
            upper=upper,
            max_iterations=max_iterations,
        )
        params = fit.params
        prediction, _ = model(params)
        params[:, :2] *= scale[:, None]
        return params, fit.converged, prediction * scale[:, None]

    return model, solve


def fit_t1(
    images: ArrayLike,
    inversion_times: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    axis: int = -1,
    t1_star_bounds: tuple[float, float] | None = None,
    min_r2: float = 0.9,
    max_iterations: int = 100,
    chunk: int = DEFAULT_CHUNK,
) -> T1Fit:
    """Fit ``|A - B exp(-TI/T1*)|`` per voxel and correct ``T1 = T1* (B/A - 1)``.

    Parameters
    ----------
    images
        Magnitude images with the inversion times on ``axis`` (``(..., M)`` by default; pass
        ``axis=0`` for a frames-first ``(M, X, Y)`` series).
    inversion_times
        ``(M,)`` inversion time of each image (s or ms; ``T1`` comes in the same unit).
    mask
        Voxels to fit, of the images' spatial shape; ``None`` fits every voxel whose signal is
        not all zero (:func:`qmrflow.fitting.masked_voxels`).
    axis
        Axis of ``images`` that runs over the inversion times.
    t1_star_bounds
        ``(lower, upper)`` bounds (and grid range) of ``T1*``; by default ``(0.01, 10)`` times
        the longest inversion time.
    min_r2
        Smallest ``R²`` of a valid fit (see :attr:`T1Fit.valid`).
    max_iterations
        Levenberg-Marquardt iteration limit per start.
    chunk
        Voxels per solver call (bounds memory).

    Returns
    -------
    T1Fit
        Maps of ``A``, ``B``, ``T1*``, ``T1``, ``R²``, the relative residual, convergence and
        validity.

    Raises
    ------
    ValueError
        Inversion times that do not match the images (count, non-finite, negative, repeated,
        fewer than 4), NaN or infinite image values, a mask of the wrong shape, bad bounds.
    """
    values = np.moveaxis(np.asarray(images, dtype=float), axis, -1)
    ti = _check_times(inversion_times, values.shape[-1])
    if t1_star_bounds is None:
        bounds = (_BOUNDS_RELATIVE[0] * ti.max(), _BOUNDS_RELATIVE[1] * ti.max())
    else:
        bounds = (float(t1_star_bounds[0]), float(t1_star_bounds[1]))
    if not 0 < bounds[0] < bounds[1] < np.inf:
        raise ValueError(f"t1_star_bounds must satisfy 0 < lower < upper, got {bounds}")
    data, selected = masked_voxels(values, mask)
    model, solve = _solver(ti, bounds, max_iterations)
    fit = fit_voxels(data, solve, chunk=chunk, n_params=3)
    a, b, t1s = fit.params.T
    prediction, _ = model(fit.params)
    ss_res = np.sum((data - prediction) ** 2, axis=1)
    ss_tot = np.sum((data - data.mean(axis=1, keepdims=True)) ** 2, axis=1)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    t1 = np.where(a > 0, t1s * (b / np.where(a > 0, a, 1.0) - 1.0), 0.0)
    inside = (t1s > bounds[0] * (1 + _BOUND_MARGIN)) & (t1s < bounds[1] * (1 - _BOUND_MARGIN))
    valid = (
        fit.converged
        & np.all(np.isfinite(fit.params), axis=1)
        & (a > 0)
        & (b > a)
        & inside
        & (r2 >= min_r2)
    )
    logger.info(
        "Look-Locker T1: %d voxels, %d converged, %d valid",
        a.size,
        int(fit.converged.sum()),
        int(valid.sum()),
    )
    return T1Fit(
        a=to_map(a, selected),
        b=to_map(b, selected),
        t1_star=to_map(t1s, selected),
        t1=to_map(t1, selected),
        r2=to_map(r2, selected),
        residual=to_map(fit.residual, selected),
        converged=to_map(fit.converged, selected, bool),
        valid=to_map(valid, selected, bool),
        mask=selected,
    )


def roi_t1(fit: T1Fit, roi_mask: ArrayLike) -> float:
    """Median T1 over the valid fits of a region of interest (unit of the inversion times).

    Failed fits are excluded by :attr:`T1Fit.valid`: not converged, non-finite, ``B <= A`` (no
    physical Look-Locker correction), ``T1*`` on a bound, or ``R² < min_r2`` of
    :func:`fit_t1`. Voxels of the ROI outside the fitted mask count as failed.

    Why the median: the diaphragm is a few millimetres thick, one to two voxels of a typical
    T1 map, so an ROI drawn on it always holds voxels mixed with lung (almost no signal, a
    poor fit), liver or fat (other T1) and voxels blurred by motion; the Look-Locker correction
    ``T1* (B/A - 1)`` further amplifies the noise of ``B/A`` into a skewed, heavy-tailed error
    distribution. A few such voxels move the mean arbitrarily far; the median (breakdown point
    50 %) reports the T1 of the muscle as long as most ROI voxels are muscle.

    Parameters
    ----------
    fit
        Result of :func:`fit_t1`.
    roi_mask
        Boolean ROI of the maps' spatial shape.

    Returns
    -------
    float
        Median T1 of the valid ROI voxels; NaN (with a warning) when none is valid.

    Raises
    ------
    ValueError
        The ROI's shape differs from the maps' or the ROI is empty.
    """
    roi = np.asarray(roi_mask, dtype=bool)
    if roi.shape != fit.t1.shape:
        raise ValueError(f"ROI shape {roi.shape} differs from the T1 map's {fit.t1.shape}")
    n_roi = int(roi.sum())
    if n_roi == 0:
        raise ValueError("the ROI holds no voxel")
    use = roi & fit.valid
    n_valid = int(use.sum())
    if n_valid < n_roi:
        logger.info("ROI T1: %d of %d voxels excluded as failed fits", n_roi - n_valid, n_roi)
    if n_valid == 0:
        logger.warning("ROI T1: no valid fit among %d ROI voxels", n_roi)
        return float("nan")
    return float(np.median(fit.t1[use]))
