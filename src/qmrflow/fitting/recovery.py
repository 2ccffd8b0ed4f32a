"""Magnitude recovery fits: the three-parameter model and the two-start fit across the null.

Magnitude inversion-recovery data (inversion recovery, Look-Locker, the saturation recovery of
MDME) are fitted voxel by voxel as ``S(t) = |m(t; θ)|``, the magnitude of a signed recovery curve
``m`` that crosses zero (the *null*) once.

Three-parameter model
---------------------
:func:`magnitude_recovery_model` is the generic model::

    S(t) = |A - B exp(-t/T1)|

with ``A`` the (steady-state or fully relaxed) signal and ``B`` the signal change from the
inversion (``B = 2A`` for a perfect inversion with full recovery; ``B/A - 1`` is the inversion
efficiency ``k`` of :func:`qmrflow.fitting.inversion_recovery`). It is the standard model of
inversion recovery with an imperfect inversion (Barral et al. 2010, Magn Reson Med
64:1057-1067) and of Look-Locker / MOLLI data, where ``T1`` is the apparent ``T1*`` to be
corrected by the caller (Deichmann & Haase 1992, J Magn Reson 96:608-612). Its analytic
Jacobian, with ``e = exp(-t/T1)`` and ``s = sign(A - B e)`` (``+1`` at the null)::

    dS/dA = s      dS/dB = -s e      dS/dT1 = -s B e t / T1²

Two starts across the null
--------------------------
Magnitude data cannot tell on which side of the null a time close to it lies, and the
least-squares cost then has one basin per side, separated by the kink of ``|m|``: a fit
started on the wrong side converges to the wrong basin. Barral et al. (2010) fit every null
position and keep the best; :func:`fit_across_null` does the batched equivalent with two
starts, using the polarity classes of :func:`qmrflow.fitting.recovery_grid_start` (the number
of recovery times with ``m < 0``):

1. Levenberg-Marquardt (:func:`qmrflow.fitting.levenberg_marquardt`) from the best grid point.
2. Voxels whose fitted signed curve has a time near its null (``min |m| < p · max |m|``,
   ``p = NULL_PROXIMITY = 0.2``) are fitted again from the best grid point of the polarity
   class on the other side of that time: one class fewer when ``m < 0`` there (the time moves
   after the null), one more otherwise.
3. Per voxel, the start of lower final cost wins.

The signal model itself (and how a grid point becomes a parameter vector) stays with the
caller: MDME fits ``PD · exp(-TE/T2) · |R/D|`` (:mod:`qmrflow.studies.synthmri.mdme`), the
diaphragm T1 study the three-parameter model above (:mod:`qmrflow.studies.breathing.t1`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from qmrflow.fitting.grid import GridStart
from qmrflow.fitting.nlls import Model, NllsResult, levenberg_marquardt

__all__ = [
    "NULL_PROXIMITY",
    "AcrossNullFit",
    "fit_across_null",
    "magnitude_recovery_model",
    "signed_recovery",
]

logger = logging.getLogger(__name__)

NULL_PROXIMITY = 0.2
"""A time whose ``|m|`` is below this fraction of the largest ``|m|`` may lie on either side."""

StartParams = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``initial(rows, t1, second) -> x0[len(rows), P]``: a grid point as a starting vector."""

SignedCurve = Callable[[np.ndarray], np.ndarray]
"""``signed(params[n, P]) -> m[n, M]``: the signed recovery term at the grid's recovery times."""


@dataclass(frozen=True)
class AcrossNullFit(NllsResult):
    """Result of :func:`fit_across_null`: the kept start per voxel.

    Attributes
    ----------
    params, cost, converged
        Of the start with the lower final cost (see :class:`qmrflow.fitting.NllsResult`).
    iterations
        ``(N,)`` iterations of both starts together (the work spent on the voxel).
    restarted
        ``(N,)`` bool: the voxel was near its null and fitted a second time.
    switched
        ``(N,)`` bool: the second start won (the fit moved to the other side of the null).
    """

    restarted: np.ndarray
    switched: np.ndarray


def signed_recovery(params: np.ndarray, times: ArrayLike) -> np.ndarray:
    """Signed three-parameter recovery ``A - B exp(-t/T1)`` for ``params[N, 3]`` = (A, B, T1).

    Returns
    -------
    numpy.ndarray
        ``(N, M)`` for ``M`` times (same unit as ``T1``).
    """
    t = np.asarray(times, dtype=float)
    return params[:, :1] - params[:, 1:2] * np.exp(-t / params[:, 2:3])


def magnitude_recovery_model(times: ArrayLike) -> Model:
    """The magnitude model ``|A - B exp(-t/T1)|`` with its analytic Jacobian.

    Parameters
    ----------
    times
        ``(M,)`` recovery times (inversion times; the unit of ``T1``).

    Returns
    -------
    callable
        ``model(params[N, 3]) -> (signal[N, M], jacobian[N, M, 3])``, columns ``(A, B, T1)``,
        as :func:`qmrflow.fitting.levenberg_marquardt` expects. With ``e = exp(-t/T1)`` and
        ``s = sign(A - B e)`` (``+1`` at the null)::

            dS/dA = s      dS/dB = -s e      dS/dT1 = -s B e t / T1²

    References
    ----------
    Barral et al. 2010, Magn Reson Med 64:1057-1067 (the model, magnitude fitting);
    Deichmann & Haase 1992, J Magn Reson 96:608-612 (Look-Locker: ``T1 = T1* (B/A - 1)``).
    """
    t = np.asarray(times, dtype=float)

    def model(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b, t1 = params[:, :1], params[:, 1:2], params[:, 2:3]
        e = np.exp(-t / t1)
        signed = a - b * e
        s = np.where(signed < 0, -1.0, 1.0)
        jac = np.stack([s * np.ones_like(e), -s * e, -s * b * e * t / t1**2], axis=-1)
        return np.abs(signed), jac

    return model


def _other_side(
    signed: np.ndarray, valid: np.ndarray, null_proximity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Voxels to restart and, for each voxel, the grid row of the class across the null.

    Parameters
    ----------
    signed
        ``(n, M)`` signed recovery of the first fit at the grid's recovery times.
    valid
        ``(1 + M + 1, n)`` :attr:`GridStart.valid`.
    null_proximity
        See :data:`NULL_PROXIMITY`.

    Returns
    -------
    rows : numpy.ndarray
        Indices of the voxels with a time near the null whose other class exists on the grid.
    grid_row : numpy.ndarray
        ``(n,)`` row of :class:`GridStart` holding the best grid point of the other class.
    """
    n, m = signed.shape
    everything = np.arange(n)
    magnitude = np.abs(signed)
    nearest = np.argmin(magnitude, axis=1)
    near_null = magnitude[everything, nearest] < null_proximity * magnitude.max(axis=1)
    klass = np.count_nonzero(signed < 0, axis=1)
    other = klass + np.where(signed[everything, nearest] < 0, -1, 1)
    grid_row = 1 + np.clip(other, 0, m)
    rows = np.flatnonzero(near_null & (other >= 0) & (other <= m) & valid[grid_row, everything])
    return rows, grid_row


def fit_across_null(
    model: Model,
    data: ArrayLike,
    start: GridStart,
    initial: StartParams,
    signed: SignedCurve,
    *,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    max_iterations: int = 100,
    null_proximity: float = NULL_PROXIMITY,
) -> AcrossNullFit:
    """Batched magnitude recovery fit with a second start across the null (see the module docs).

    Parameters
    ----------
    model
        Magnitude model with Jacobian (:data:`qmrflow.fitting.Model`), e.g.
        :func:`magnitude_recovery_model`.
    data
        ``(N, V)`` measurements.
    start
        Grid start of the ``N`` voxels (:func:`qmrflow.fitting.recovery_grid_start`) over ``M``
        recovery times.
    initial
        ``initial(rows, t1, second) -> x0[len(rows), P]``: the starting parameters of the
        voxels ``rows`` from grid values of T1 and of the second grid parameter (e.g. with the
        scale profiled out of ``data[rows]``).
    signed
        ``signed(params[n, P]) -> m[n, M]``: the signed recovery term of fitted parameters at
        the ``M`` recovery times of the grid (only its sign and relative size are used), e.g.
        :func:`signed_recovery`.
    lower, upper
        Bounds, broadcastable to ``(N, P)`` (see :func:`qmrflow.fitting.levenberg_marquardt`).
    max_iterations
        Levenberg-Marquardt iteration limit per start.
    null_proximity
        ``min |m| < null_proximity · max |m|`` marks a voxel for the second start.

    Returns
    -------
    AcrossNullFit
        Per voxel the start of lower final cost, and which voxels were restarted / switched.

    Raises
    ------
    ValueError
        ``data`` is not 2-D, ``start`` is not for ``N`` voxels, or ``signed`` returns a number
        of times that does not match the grid's polarity classes.
    """
    values = np.asarray(data, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"data must be (N, V), got shape {values.shape}")
    n = values.shape[0]
    if start.t1.ndim != 2 or start.t1.shape[1] != n:
        raise ValueError(f"grid start holds {start.t1.shape[-1]} voxels, data {n}")

    def run(rows: np.ndarray, t1: np.ndarray, second: np.ndarray) -> NllsResult:
        x0 = np.asarray(initial(rows, t1, second), dtype=float)
        shape = (n, x0.shape[1])
        lo = None if lower is None else np.broadcast_to(np.asarray(lower, float), shape)[rows]
        hi = None if upper is None else np.broadcast_to(np.asarray(upper, float), shape)[rows]
        return levenberg_marquardt(
            model, x0, values[rows], lower=lo, upper=hi, max_iterations=max_iterations
        )

    everything = np.arange(n)
    first = run(everything, start.t1[0], start.second[0])
    params, cost, converged = first.params, first.cost, first.converged
    iterations = first.iterations.copy()
    curve = np.asarray(signed(params), dtype=float)
    if curve.shape != (n, start.t1.shape[0] - 2):
        raise ValueError(
            f"signed returned shape {curve.shape}; the grid start has "
            f"{start.t1.shape[0] - 2} recovery times for {n} voxels"
        )
    rows, grid_row = _other_side(curve, start.valid, null_proximity)
    restarted = np.zeros(n, dtype=bool)
    switched = np.zeros(n, dtype=bool)
    if rows.size:
        second = run(rows, start.t1[grid_row[rows], rows], start.second[grid_row[rows], rows])
        better = second.cost < cost[rows]
        keep = rows[better]
        params[keep] = second.params[better]
        cost[keep] = second.cost[better]
        converged[keep] = second.converged[better]
        iterations[rows] += second.iterations
        restarted[rows] = True
        switched[keep] = True
    logger.debug(
        "fit across the null: %d voxels, %d restarted, %d switched sides",
        n,
        rows.size,
        int(switched.sum()),
    )
    return AcrossNullFit(
        params=params,
        cost=cost,
        iterations=iterations,
        converged=converged,
        restarted=restarted,
        switched=switched,
    )
