"""The MDME signal model with its Jacobian, the starting values and the fit of one chunk.

The model and the fitting pipeline are described in :mod:`qmrflow.studies.synthmri.mapping`
(steps 1-5 there: closed-form T2, (T1, B1) grid search, linear PD, Levenberg-Marquardt, second
start across the null). This module holds the per-voxel mathematics (the MDME model and the
starts of steps 1-3); steps 4-5 are the shared two-start fit
:func:`qmrflow.fitting.fit_across_null`, and the voxelwise driver
(:func:`qmrflow.fitting.fit_voxels`) runs :func:`fit_chunk` over the masked voxels.
"""

from __future__ import annotations

import numpy as np

from qmrflow.fitting import (
    GridStart,
    Model,
    fit_across_null,
    recovery_grid_start,
    rician_mean,
)
from qmrflow.studies.synthmri.protocol import MdmeProtocol

__all__ = ["B1_BOUNDS", "T1_BOUNDS", "T2_BOUNDS", "fit_chunk", "mdme_model"]

T1_BOUNDS = (50.0, 6000.0)
"""Fit bounds of T1 (ms)."""
T2_BOUNDS = (5.0, 3000.0)
"""Fit bounds of T2 (ms)."""
B1_BOUNDS = (0.5, 1.5)
"""Fit bounds of the relative transmit field B1."""

_GRID_T1 = np.geomspace(T1_BOUNDS[0], T1_BOUNDS[1], 96)
_GRID_B1 = np.linspace(B1_BOUNDS[0], B1_BOUNDS[1], 21)


# ----------------------------------------------------------------------------- signal model


def mdme_model(protocol: MdmeProtocol, noise_sigma: float | None = None) -> Model:
    """The MDME model with its analytic Jacobian, in the form the batched solver expects.

    Parameters
    ----------
    protocol
        The acquisition.
    noise_sigma
        Noise standard deviation of the (complex) images in signal units. When given, the model
        returns the mean of the Rician-distributed magnitude
        (:func:`qmrflow.fitting.rician_mean`).

    Returns
    -------
    callable
        ``model(params[N, 4]) -> (signal[N, V], jacobian[N, V, 4])`` with columns
        (T1 ms, T2 ms, PD, B1). Derivatives, with ``q = R/D`` and ``s = sign(R)``::

            dS/dPD = E2 |q|             dS/dT2 = S TE / T2²
            dS/dT1 = PD E2 s (R' D - R D') / D²   (' = d/dT1 or d/dB1, likewise for B1)
            dR/dT1 = -[(1 - c) TD E1 + c TR E_TR] / T1²      dD/dT1 = -c cα TR E_TR / T1²
            dR/dB1 = c' (E1 - E_TR)          dD/dB1 = -E_TR (c' cα + c cα')
            c = cos(B1 θ), c' = -θ sin(B1 θ), cα = cos(B1 α), cα' = -α sin(B1 α)
    """
    td = np.asarray(protocol.delays, dtype=float)
    te = np.asarray(protocol.echo_times, dtype=float)
    tr = float(protocol.repetition_time)
    theta = np.deg2rad(protocol.saturation_angle)
    alpha = np.deg2rad(protocol.excitation_angle)

    def model(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t1, t2, pd, b1 = (params[:, k : k + 1] for k in range(4))
        e1 = np.exp(-td / t1)
        etr = np.exp(-tr / t1)
        e2 = np.exp(-te / t2)
        c, ca = np.cos(theta * b1), np.cos(alpha * b1)
        dc, dca = -theta * np.sin(theta * b1), -alpha * np.sin(alpha * b1)
        rec = 1.0 - (1.0 - c) * e1 - c * etr
        den = 1.0 - c * ca * etr
        q = rec / den
        sign = np.where(rec < 0, -1.0, 1.0)
        amp = pd * e2 * sign / den**2
        drec_t1 = -((1.0 - c) * td * e1 + c * tr * etr) / t1**2
        dden_t1 = -c * ca * tr * etr / t1**2
        drec_b1 = dc * (e1 - etr)
        dden_b1 = -etr * (dc * ca + c * dca)
        signal = pd * e2 * np.abs(q)
        jac = np.stack(
            [
                amp * (drec_t1 * den - rec * dden_t1),
                signal * te / t2**2,
                e2 * np.abs(q),
                amp * (drec_b1 * den - rec * dden_b1),
            ],
            axis=-1,
        )
        if noise_sigma:
            signal, slope = rician_mean(signal, noise_sigma)
            jac = jac * slope[..., None]
        return signal, jac

    return model


# ----------------------------------------------------------------------------- initialisation


def _delay_groups(protocol: MdmeProtocol) -> tuple[np.ndarray, np.ndarray]:
    """Distinct delays and, per volume, the index of its delay."""
    delays, group = np.unique(np.asarray(protocol.delays, dtype=float), return_inverse=True)
    return delays, group


def _initial_t2(signal: np.ndarray, protocol: MdmeProtocol) -> np.ndarray:
    """T2 from the echo decay: weighted ``ln S = a_delay - TE/T2`` with a common slope."""
    _, group = _delay_groups(protocol)
    onehot = np.eye(group.max() + 1)[group]  # (V, n_delays)
    te = np.asarray(protocol.echo_times, dtype=float)
    tiny = 1e-6 * np.max(signal, axis=1, keepdims=True) + 1e-30
    s = np.maximum(signal, tiny)
    w = s**2
    y = np.log(s)
    w_d = w @ onehot
    te_mean = ((w * te) @ onehot) / np.maximum(w_d, 1e-300)
    y_mean = ((w * y) @ onehot) / np.maximum(w_d, 1e-300)
    dte = te - te_mean @ onehot.T
    dy = y - y_mean @ onehot.T
    num = np.sum(w * dte * dy, axis=1)
    den = np.sum(w * dte**2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t2 = np.where((num < 0) & (den > 0), -den / num, T2_BOUNDS[1])
    return np.clip(t2, *T2_BOUNDS)


def _initial_t1_b1(
    signal: np.ndarray, t2: np.ndarray, protocol: MdmeProtocol, b1: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starting (T1, B1) by matching the TE-normalised delay curve against a (T1, B1) grid.

    The grid points fall into polarity classes: the number of delays at which the recovery
    term ``R`` is negative (before the null). Magnitude data leave the side of the null
    ambiguous for a delay close to it, and the least-squares cost then has one basin per side
    (separated by the kink of ``|R|``), so a start on the wrong side converges to the wrong
    basin (the classic magnitude inversion-recovery problem; Barral et al. 2010, Magn Reson Med
    64:1057-1067, fit each null position and keep the best). Returned are the best grid point
    overall and the best grid point of every polarity class.

    With ``b1`` given (one value per voxel), only T1 is searched, on the grid column of the
    nearest B1 value (the fit then refines T1 at the exact B1).

    Returns
    -------
    t1, b1 : numpy.ndarray
        ``(1 + n_delays + 1, N)``: row 0 the best grid point, row ``1 + k`` the best grid point
        with ``k`` negative delays.
    valid : numpy.ndarray
        Same shape, bool: the class exists on the grid (for that voxel's B1 when fixed).
    """
    delays, group = _delay_groups(protocol)
    onehot = np.eye(delays.size)[group]  # (V, n_delays)
    e2 = np.exp(-np.asarray(protocol.echo_times, dtype=float) / t2[:, None])
    amplitude = ((signal * e2) @ onehot) / ((e2**2) @ onehot)  # (N, n_delays)

    def model(t1: np.ndarray, b1_: np.ndarray, times: np.ndarray) -> np.ndarray:
        recovery, denominator = _recovery(t1, b1_, times, protocol)
        return recovery / denominator  # D > 0, so the sign is that of R

    start = recovery_grid_start(
        amplitude, delays, model, t1_grid=_GRID_T1, second_grid=_GRID_B1, fixed_second=b1
    )
    return start.t1, start.second, start.valid


def _recovery(
    t1: np.ndarray, b1: np.ndarray, delays: np.ndarray, protocol: MdmeProtocol
) -> tuple[np.ndarray, np.ndarray]:
    """Signed recovery term ``R`` and denominator ``D`` of the MDME model (broadcasting)."""
    cos_theta = np.cos(np.deg2rad(protocol.saturation_angle) * b1)
    cos_alpha = np.cos(np.deg2rad(protocol.excitation_angle) * b1)
    e_tr = np.exp(-protocol.repetition_time / t1)
    recovery = 1.0 - (1.0 - cos_theta) * np.exp(-delays / t1) - cos_theta * e_tr
    return recovery, 1.0 - cos_theta * cos_alpha * e_tr


def _initial_pd(signal: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Linear least-squares scale ``Σ S m / Σ m²`` of the model ``m`` at PD = 1."""
    num = np.sum(signal * shape, axis=1)
    den = np.sum(shape**2, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0).clip(min=0.0)


def fit_chunk(
    signal: np.ndarray,
    protocol: MdmeProtocol,
    noise_sigma: float | None,
    max_iterations: int,
    b1: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``(n, V)`` signals (already scaled); returns params (n, 4), converged, prediction.

    Levenberg-Marquardt runs from the best grid point; voxels whose solution has a delay near
    the null (``|R| < 0.2 max |R|`` over the delays) run again from the best grid point on the
    other side of it (:func:`_initial_t1_b1`), and the lower final cost wins: the shared
    two-start fit :func:`qmrflow.fitting.fit_across_null` with the signed recovery term ``R``
    of :func:`_recovery`. With ``b1`` (n,) the B1 column is held fixed (lower = upper bound).
    """
    n = signal.shape[0]
    t2 = _initial_t2(signal, protocol)
    start = GridStart(*_initial_t1_b1(signal, t2, protocol, b1))
    lower = np.tile([T1_BOUNDS[0], T2_BOUNDS[0], 0.0, B1_BOUNDS[0]], (n, 1))
    upper = np.tile([T1_BOUNDS[1], T2_BOUNDS[1], np.inf, B1_BOUNDS[1]], (n, 1))
    if b1 is not None:
        lower[:, 3] = upper[:, 3] = b1
    shape_model = mdme_model(protocol)
    model = mdme_model(protocol, noise_sigma)
    delays, _ = _delay_groups(protocol)

    def initial(rows: np.ndarray, t1: np.ndarray, b1_rows: np.ndarray) -> np.ndarray:
        shape, _ = shape_model(np.column_stack([t1, t2[rows], np.ones(rows.size), b1_rows]))
        return np.column_stack([t1, t2[rows], _initial_pd(signal[rows], shape), b1_rows])

    def signed(params: np.ndarray) -> np.ndarray:
        recovery, _ = _recovery(params[:, :1], params[:, 3:], delays, protocol)
        return recovery

    fit = fit_across_null(
        model,
        signal,
        start,
        initial,
        signed,
        lower=lower,
        upper=upper,
        max_iterations=max_iterations,
    )
    prediction, _ = model(fit.params)
    return fit.params, fit.converged, prediction
