"""T1, T2, PD and B1 maps from MDME (QRAPMASTER / MAGiC) images, and synthetic contrasts.

Every voxel's 8 magnitude images (4 saturation delays x 2 echoes, see
:mod:`qmrflow.studies.synthmri.protocol`) are fitted with the MDME signal model (Warntjes et al.
2008, Magn Reson Med 60:320-329)::

    S(TD, TE) = PD · exp(-TE/T2) · |1 - (1 - cos θ) e^(-TD/T1) - cos θ e^(-TR/T1)|
                / (1 - cos θ cos α e^(-TR/T1)),        θ = B1·θ_nom, α = B1·α_nom

for the four unknowns T1, T2, PD and B1, all voxels at once (batched Levenberg-Marquardt,
:func:`qmrflow.fitting.levenberg_marquardt`, with the analytic Jacobian below).

Fitting pipeline (:func:`fit_mdme`)
-----------------------------------
1. **T2, closed form**: log-linear regression of ``ln S`` on TE with one intercept per delay and
   a common slope ``-1/T2``, weighted by ``S²`` (the inverse variance of ``ln S``), so the
   echo pairs of the well-recovered delays dominate and the near-null delay barely counts.
2. **T1 and B1, grid search**: each delay's echoes are reduced to a TE-normalised amplitude
   ``A_d = Σ S·E2 / Σ E2²`` (``E2 = exp(-TE/T2)``); the delay curve ``A`` is matched against the
   model curve ``g(TD; T1, B1) = |R|/D`` on a (T1, B1) grid (log-spaced T1, linear B1) by the
   largest normalised inner product ``A·g / |g|`` -- the grid point of least squared error with
   the scale (PD) profiled out. One matrix product per chunk of voxels.
3. **PD, linear least squares** given T1, T2, B1: ``PD = Σ S m / Σ m²`` with ``m`` the model
   at PD = 1.
4. **Levenberg-Marquardt** on all volumes for (T1, T2, PD, B1) within the bounds
   T1 50-6000 ms, T2 5-3000 ms, PD >= 0, B1 0.5-1.5.
5. **Second start across the null**: magnitude data cannot tell on which side of its null a
   delay with a small recovery term ``R`` lies, and the cost has one basin per side (the
   classic magnitude inversion-recovery ambiguity). Voxels whose solution has a delay with
   ``|R| < 0.2 max|R|`` are fitted again from the best grid point of the other polarity and
   the lower cost wins (Barral et al. 2010, Magn Reson Med 64:1057-1067, fit every null
   position). Without it, several percent of noise-free grey-matter-like voxels (whose null is
   near the 580 ms delay of the default protocol) end in the wrong basin.

The magnitude ``|·|`` is part of the model; its derivative is ``sign(R)·dR``. Magnitude images
carry Rician noise, whose mean exceeds the true signal at low signal-to-noise (Gudbjartsson &
Patz 1995, Magn Reson Med 34:910-914). Given the noise level ``σ`` the fit uses the Rician mean
of the model instead of the model itself (``noise_sigma``; :func:`map_subject` estimates ``σ``
from the image background), which removes the noise-floor bias at the delay near the null.

Precision and B1 smoothing
--------------------------
At SNR 50 (noise σ = 1/50 of the fully relaxed PD = 1 signal) the Cramér-Rao bound of the
default 4x2 protocol is a coefficient of variation of ~10-15 % for T1 and ~8 % for T2 in white
and grey matter with B1 free per voxel (~5-10 % for T1 with B1 known; T2 depends only on the
echo pairs). The fit reaches these bounds and is nearly unbiased (tissue medians within ~1.5 %),
so per-voxel errors of that size are intrinsic to the acquisition. Because the transmit field
varies over centimetres, ``b1_smoothing`` runs a second pass with B1 fixed to the first pass's
B1 smoothed within the mask (local linear regression, :func:`smooth_b1`); this brings T1 close
to the known-B1 bound. Measured on a simulated slab (B1 0.8-1.2, Rician noise, noise σ
estimated from the background), median absolute voxel error in white / grey matter:

=========  ==================  ==================  ====================
SNR        T1, B1 per voxel    T1, B1 smoothed     T2
=========  ==================  ==================  ====================
50         8 %                 5 %                 5.5 %
80         5 %                 3 %                 3.4 %
=========  ==================  ==================  ====================

with tissue medians within ~1.5 % of the truth. :func:`map_subject` smooths B1 by default
(σ = 8 mm).

PD scaling
----------
PD comes out in the receiver's arbitrary units. As synthetic-MRI software does (PD referenced to
CSF = 100 % water; Warntjes et al. 2008), it is divided by the median fitted PD of CSF-like
voxels (T1 > 3000 ms) inside the mask (away from its border, see :func:`normalise_pd`). With
fewer than 20 such voxels the 99th percentile of PD in the mask is used instead and a warning is
logged. The divisor is kept in
:attr:`MdmeMaps.pd_reference`.

Synthetic contrasts
-------------------
:func:`synthesize_contrasts` evaluates the standard spin-echo and inversion-recovery signal
equations (Bernstein, King & Zhou 2004, Handbook of MRI Pulse Sequences; as used for synthetic
MRI by Hagiwara et al. 2017, AJNR 38:1103-1110)::

    spin echo:          S = PD (1 - e^(-TR/T1)) e^(-TE/T2)
    inversion recovery: S = PD |1 - 2 e^(-TI/T1) + e^(-TR/T1)| e^(-TE/T2)

with the parameters of :data:`CONTRASTS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage, special

from qmrflow.errors import InputDataError
from qmrflow.fitting import NllsResult, levenberg_marquardt
from qmrflow.fitting.nlls import Model
from qmrflow.io import load_nifti, save_nifti, write_json
from qmrflow.studies.synthmri.protocol import MdmeProtocol, read_sidecar, sidecar_path

__all__ = [
    "B1_BOUNDS",
    "CONTRASTS",
    "MAP_KEYS",
    "T1_BOUNDS",
    "T2_BOUNDS",
    "Contrast",
    "MdmeMaps",
    "background_mask",
    "estimate_noise_sigma",
    "fit_mdme",
    "image_noise_level",
    "map_subject",
    "mdme_model",
    "normalise_pd",
    "smooth_b1",
    "synthesize_contrasts",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

T1_BOUNDS = (50.0, 6000.0)
"""Fit bounds of T1 (ms)."""
T2_BOUNDS = (5.0, 3000.0)
"""Fit bounds of T2 (ms)."""
B1_BOUNDS = (0.5, 1.5)
"""Fit bounds of the relative transmit field B1."""

CSF_T1_THRESHOLD = 3000.0
"""Voxels with fitted T1 above this (ms) are CSF-like: their median PD is the PD reference."""
MIN_CSF_VOXELS = 20
"""Fewer CSF-like voxels than this: PD is referenced to its 99th percentile instead."""

MAP_KEYS = ("T1map", "T2map", "PDmap", "B1map", "residual", "mask", "synthetic")
"""Keys of the ``outputs`` mapping of :func:`map_subject`."""

_CHUNK = 65536  # voxels per fitting chunk (bounds memory: ~chunk x volumes x 4 x 8 bytes x ~10)
_GRID_CHUNK = 4096  # voxels per grid-search matrix product (chunk x grid points floats)
_GRID_T1 = np.geomspace(T1_BOUNDS[0], T1_BOUNDS[1], 96)
_GRID_B1 = np.linspace(B1_BOUNDS[0], B1_BOUNDS[1], 21)
# A delay whose |R| is below this fraction of the largest |R| may sit on either side of the null.
_NULL_PROXIMITY = 0.2
_NOISE_GUARD = 6.0  # background_mask: threshold at least this many noise sigmas


@dataclass(frozen=True)
class MdmeMaps:
    """Fitted MDME parameter maps (spatial shape of the input; background = 0 in every map).

    Attributes
    ----------
    t1, t2
        Relaxation times (ms).
    pd
        Proton density as a fraction of the reference (CSF = 1 when normalised).
    b1
        Relative transmit field (1 = nominal flip angles).
    residual
        RMS fit residual over the volumes divided by the voxel's mean signal.
    mask
        Voxels that were fitted.
    converged
        Voxels where the Levenberg-Marquardt iteration converged.
    pd_reference
        The fitted PD (image units) that was divided out (1.0 when not normalised).
    """

    t1: np.ndarray
    t2: np.ndarray
    pd: np.ndarray
    b1: np.ndarray
    residual: np.ndarray
    mask: np.ndarray
    converged: np.ndarray
    pd_reference: float = 1.0


@dataclass(frozen=True)
class Contrast:
    """Sequence parameters of a synthetic contrast (ms); ``inversion_time`` set for IR."""

    repetition_time: float
    echo_time: float
    inversion_time: float | None = None


CONTRASTS: dict[str, Contrast] = {
    "T1w": Contrast(repetition_time=500.0, echo_time=10.0),
    "T2w": Contrast(repetition_time=4500.0, echo_time=100.0),
    "PDw": Contrast(repetition_time=4000.0, echo_time=10.0),
    "FLAIR": Contrast(repetition_time=11000.0, echo_time=120.0, inversion_time=2800.0),
}
"""Default synthetic contrasts (typical 3 T clinical values), in output volume order."""


# ----------------------------------------------------------------------------- signal model


def mdme_model(protocol: MdmeProtocol, noise_sigma: float | None = None) -> Model:
    """The MDME model with its analytic Jacobian, in the form the batched solver expects.

    Parameters
    ----------
    protocol
        The acquisition.
    noise_sigma
        Noise standard deviation of the (complex) images in signal units. When given, the model
        returns the mean of the Rician-distributed magnitude (see :func:`_rician_mean`).

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
            signal, slope = _rician_mean(signal, noise_sigma)
            jac = jac * slope[..., None]
        return signal, jac

    return model


def _rician_mean(nu: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a Rician magnitude with true signal ``nu`` and noise ``sigma``, and d/dnu.

    ``E = σ sqrt(π/2) L_{1/2}(-ν²/2σ²)`` (Gudbjartsson & Patz 1995), written with the
    exponentially scaled Bessel functions to stay finite at high SNR: with ``z = ν²/4σ²``,
    ``E = σ sqrt(π/2) [(1 + 2z) I0e(z) + 2z I1e(z)]`` and ``dE/dν = sqrt(π/2) ν (I0e + I1e)/2σ``.
    """
    z = nu**2 / (4.0 * sigma**2)
    i0, i1 = special.i0e(z), special.i1e(z)
    k = np.sqrt(np.pi / 2.0)
    return sigma * k * ((1.0 + 2.0 * z) * i0 + 2.0 * z * i1), k * nu * (i0 + i1) / (2.0 * sigma)


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

    t1_grid, b1_grid = np.meshgrid(_GRID_T1, _GRID_B1, indexing="ij")  # (T, B)
    recovery, denominator = _recovery(t1_grid[..., None], b1_grid[..., None], delays, protocol)
    curves = np.abs(recovery / denominator)  # (T, B, n_delays)
    curves /= np.maximum(np.linalg.norm(curves, axis=-1, keepdims=True), 1e-300)
    polarity = np.count_nonzero(recovery < 0, axis=-1)  # (T, B)
    n_classes = delays.size + 1

    n = signal.shape[0]
    best_t1 = np.zeros((1 + n_classes, n))
    best_b1 = np.zeros((1 + n_classes, n))
    valid = np.zeros((1 + n_classes, n), dtype=bool)
    if b1 is not None:
        # Known B1: the T1 column of the nearest grid B1, per voxel.
        column = np.abs(np.asarray(b1, dtype=float)[:, None] - _GRID_B1).argmin(axis=1)
        best_b1[:] = b1
        for start in range(0, n, _GRID_CHUNK):
            part = slice(start, min(start + _GRID_CHUNK, n))
            score = np.einsum("tcd,cd->ct", curves[:, column[part]], amplitude[part])
            klass = polarity[:, column[part]].T  # (c, T)
            best_t1[0, part] = _GRID_T1[np.argmax(score, axis=1)]
            valid[0, part] = True
            for k in range(n_classes):
                masked = np.where(klass == k, score, -np.inf)
                best_t1[1 + k, part] = _GRID_T1[np.argmax(masked, axis=1)]
                valid[1 + k, part] = np.any(klass == k, axis=1)
        return best_t1, best_b1, valid

    # Free B1: grid points sorted by polarity class, so each class is a contiguous block.
    order = np.argsort(polarity.ravel(), kind="stable")
    flat_curves = curves.reshape(-1, delays.size)[order]
    flat_t1, flat_b1 = t1_grid.ravel()[order], b1_grid.ravel()[order]
    bounds = np.searchsorted(polarity.ravel()[order], np.arange(n_classes + 1))
    flat_curves = flat_curves.astype(np.float32)  # the argmax needs no more precision
    rows = np.arange(min(_GRID_CHUNK, n))
    for start in range(0, n, _GRID_CHUNK):
        part = slice(start, min(start + _GRID_CHUNK, n))
        score = amplitude[part].astype(np.float32) @ flat_curves.T  # (c, K)
        top_score = np.full(score.shape[0], -np.inf, dtype=np.float32)
        for k in range(n_classes):
            lo, hi = bounds[k], bounds[k + 1]
            if hi > lo:
                top = lo + np.argmax(score[:, lo:hi], axis=1)
                best_t1[1 + k, part], best_b1[1 + k, part] = flat_t1[top], flat_b1[top]
                valid[1 + k, part] = True
                value = score[rows[: top.size], top]
                better = value > top_score
                top_score[better] = value[better]
                best_t1[0, part][better] = flat_t1[top[better]]
                best_b1[0, part][better] = flat_b1[top[better]]
        valid[0, part] = True
    return best_t1, best_b1, valid


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


def _fit_chunk(
    signal: np.ndarray,
    protocol: MdmeProtocol,
    noise_sigma: float | None,
    max_iterations: int,
    b1: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``(n, V)`` signals (already scaled); returns params (n, 4), converged, prediction.

    Levenberg-Marquardt runs from the best grid point; voxels whose solution has a delay near
    the null run again from the best grid point on the other side of it
    (:func:`_initial_t1_b1`), and the lower final cost wins. With ``b1`` (n,) the B1 column is
    held fixed (lower = upper bound).
    """
    n = signal.shape[0]
    t2 = _initial_t2(signal, protocol)
    t1_start, b1_start, valid = _initial_t1_b1(signal, t2, protocol, b1)
    lower = np.tile([T1_BOUNDS[0], T2_BOUNDS[0], 0.0, B1_BOUNDS[0]], (n, 1))
    upper = np.tile([T1_BOUNDS[1], T2_BOUNDS[1], np.inf, B1_BOUNDS[1]], (n, 1))
    if b1 is not None:
        lower[:, 3] = upper[:, 3] = b1
    shape_model = mdme_model(protocol)
    model = mdme_model(protocol, noise_sigma)
    delays, _ = _delay_groups(protocol)

    def run(rows: np.ndarray, t1: np.ndarray, b1_rows: np.ndarray) -> NllsResult:
        shape, _ = shape_model(np.column_stack([t1, t2[rows], np.ones(rows.size), b1_rows]))
        x0 = np.column_stack([t1, t2[rows], _initial_pd(signal[rows], shape), b1_rows])
        return levenberg_marquardt(
            model,
            x0,
            signal[rows],
            lower=lower[rows],
            upper=upper[rows],
            max_iterations=max_iterations,
        )

    everything = np.arange(n)
    first = run(everything, t1_start[0], b1_start[0])
    params, cost, converged = first.params, first.cost, first.converged
    # Second start on the other side of the null for voxels with a delay close to it: the
    # best grid point of the polarity class that flips the delay of smallest |R|.
    recovery, _ = _recovery(params[:, :1], params[:, 3:], delays, protocol)
    magnitude = np.abs(recovery)
    nearest = np.argmin(magnitude, axis=1)
    near_null = magnitude[everything, nearest] < _NULL_PROXIMITY * magnitude.max(axis=1)
    klass = np.count_nonzero(recovery < 0, axis=1)
    other = klass + np.where(recovery[everything, nearest] < 0, -1, 1)
    other_row = 1 + np.clip(other, 0, delays.size)
    rows = np.flatnonzero(
        near_null & (other >= 0) & (other <= delays.size) & valid[other_row, everything]
    )
    if rows.size:
        second = run(rows, t1_start[other_row[rows], rows], b1_start[other_row[rows], rows])
        better = second.cost < cost[rows]
        keep = rows[better]
        params[keep] = second.params[better]
        cost[keep] = second.cost[better]
        converged[keep] = second.converged[better]
    prediction, _ = model(params)
    return params, converged, prediction


def smooth_b1(b1: np.ndarray, weights: np.ndarray, sigma: float | ArrayLike) -> np.ndarray:
    """Smooth a B1 map by Gaussian-weighted local linear regression within the weights' support.

    At each voxel ``x0`` the plane ``b1(x) ≈ a + bᵀ(x - x0)`` is fitted by weighted least
    squares with weights ``w(x) G(x - x0)`` (``G`` a Gaussian of standard deviation ``sigma``
    voxels, one value or one per spatial axis; axes with ``sigma = 0`` are not smoothed) and
    ``a`` is the smoothed value. This is first-order normalised convolution (Knutsson & Westin
    1993, Proc IEEE CVPR 515-523), computed from Gaussian-filtered weighted moments: unlike the
    plain weighted average ``G(w b1)/G(w)`` it has no first-order bias where the window is
    one-sided (the edge of the brain, where CSF sits and T1 is most sensitive to B1). The
    transmit field varies over centimetres, much more slowly than anatomy, which is what makes
    smoothing it legitimate.

    Parameters
    ----------
    b1
        B1 map (spatial shape).
    weights
        Non-negative weights of the same shape (0 outside the mask / for unreliable voxels).
    sigma
        Gaussian standard deviation(s) in voxels.

    Returns
    -------
    numpy.ndarray
        The smoothed map, clipped to :data:`B1_BOUNDS` (1 where no weight is near).
    """
    b1 = np.asarray(b1, dtype=float)
    w = np.asarray(weights, dtype=float)
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (b1.ndim,))
    axes = [k for k in range(b1.ndim) if sigmas[k] > 0 and b1.shape[k] > 1]

    def blur(values: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(values, sigmas, mode="constant", cval=0.0)

    # Coordinates centred on the array (keeps the moments well scaled).
    coords = [
        (np.arange(b1.shape[k]) - (b1.shape[k] - 1) / 2.0).reshape(
            [-1 if j == k else 1 for j in range(b1.ndim)]
        )
        for k in axes
    ]
    s0 = blur(w)
    support = s0 > 1e-6 * max(float(s0.max()), 1e-300)
    out = np.ones_like(b1)
    if not support.any():
        return out
    d = len(axes)
    # Normal equations per voxel for (a, b): moments of the shifted coordinates u = x - x0.
    first = [blur(w * c) for c in coords]  # G(w x_i)
    t0 = blur(w * b1)
    t1 = [blur(w * b1 * c) for c in coords]
    matrix = np.zeros((*b1.shape, d + 1, d + 1))
    rhs = np.zeros((*b1.shape, d + 1))
    matrix[..., 0, 0] = s0
    rhs[..., 0] = t0
    for i, ci in enumerate(coords):
        s1 = first[i] - ci * s0
        matrix[..., 0, i + 1] = matrix[..., i + 1, 0] = s1
        rhs[..., i + 1] = t1[i] - ci * t0
        for j in range(i, d):
            cj = coords[j]
            s2 = blur(w * ci * cj) - ci * first[j] - cj * first[i] + ci * cj * s0
            matrix[..., i + 1, j + 1] = matrix[..., j + 1, i + 1] = s2
    # A small ridge on the slopes keeps thin or one-sided supports solvable.
    ridge = 1e-3 * (sigmas[axes] ** 2 if d else np.zeros(0))
    m = matrix[support]
    m[:, 1:, 1:] += (ridge * m[:, :1, :1].reshape(-1, 1))[:, :, None] * np.eye(d)
    solution = np.linalg.solve(m, rhs[support][..., None])[..., 0]
    out[support] = solution[:, 0]
    return np.clip(out, *B1_BOUNDS)


# ----------------------------------------------------------------------------- public API


def fit_mdme(
    images: ArrayLike,
    protocol: MdmeProtocol,
    *,
    mask: ArrayLike | None = None,
    max_iterations: int = 50,
    noise_sigma: float | None = None,
    normalise: bool = True,
    b1: ArrayLike | None = None,
    b1_smoothing: float | ArrayLike | None = None,
) -> MdmeMaps:
    """Fit T1, T2, PD and B1 to every masked voxel of MDME magnitude images.

    Parameters
    ----------
    images
        ``(..., V)`` magnitude images, ``V = protocol.n_volumes``, volumes in the protocol's
        order.
    protocol
        Delays, echo times, TR and angles of the volumes.
    mask
        Boolean array of the spatial shape ``images.shape[:-1]``: voxels to fit. ``None`` fits
        every voxel whose signal is not all zero (use :func:`background_mask` for images).
    max_iterations
        Levenberg-Marquardt iteration limit.
    noise_sigma
        Noise standard deviation of the images (same units). Given (and > 0), the model's
        Rician mean is fitted instead of the noiseless magnitude (see the module docstring).
    normalise
        Divide PD by the CSF reference (see the module docstring); otherwise PD stays in image
        units and ``pd_reference`` is 1.
    b1
        A known B1 map (spatial shape, e.g. from a separate B1 scan): B1 is then held fixed
        and only T1, T2 and PD are fitted.
    b1_smoothing
        Gaussian standard deviation in voxels (one value or one per spatial axis). When
        given (and ``b1`` is not), the fit runs twice: all four parameters, then T1, T2, PD
        again with B1 fixed to the first pass's B1 smoothed within the mask
        (:func:`smooth_b1`). The transmit field is spatially smooth, so this trades no
        resolution for a lower T1/PD variance (about half the T1 CRLB variance at SNR 50).

    Returns
    -------
    MdmeMaps
        Maps of the spatial shape (float64), 0 outside the mask.

    Raises
    ------
    ValueError
        The last axis does not match the protocol, the mask or B1 shape differs, or values are
        not finite.
    """
    data = np.asarray(images, dtype=float)
    if data.ndim < 1 or data.shape[-1] != protocol.n_volumes:
        raise ValueError(
            f"images have {data.shape[-1] if data.ndim else 0} volumes on the last axis, "
            f"the protocol {protocol.n_volumes}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError("images hold NaN or infinite values")
    spatial = data.shape[:-1]
    if mask is None:
        fit_mask = np.any(data != 0, axis=-1)
    else:
        fit_mask = np.asarray(mask, dtype=bool)
        if fit_mask.shape != spatial:
            raise ValueError(f"mask shape {fit_mask.shape} differs from the images' {spatial}")
    known_b1 = None
    if b1 is not None:
        known_b1 = np.asarray(b1, dtype=float)
        if known_b1.shape != spatial or not np.all(np.isfinite(known_b1[fit_mask])):
            raise ValueError(f"b1 must be a finite map of shape {spatial}")
        known_b1 = np.clip(known_b1[fit_mask], *B1_BOUNDS)
    signal = data[fit_mask]
    n = signal.shape[0]
    # One global scale keeps PD ~ 1 (the solver's tolerances are relative anyway).
    scale = float(np.percentile(signal.max(axis=1), 99)) if n else 1.0
    scale = scale if scale > 0 else 1.0
    sigma = noise_sigma / scale if noise_sigma else None

    def fit(fixed_b1: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        params = np.zeros((n, 4))
        converged = np.zeros(n, dtype=bool)
        residual = np.zeros(n)
        for start in range(0, n, _CHUNK):
            part = slice(start, start + _CHUNK)
            chunk = signal[part] / scale
            p, conv, pred = _fit_chunk(
                chunk,
                protocol,
                sigma,
                max_iterations,
                None if fixed_b1 is None else fixed_b1[part],
            )
            params[part], converged[part] = p, conv
            rms = np.sqrt(np.mean((pred - chunk) ** 2, axis=1))
            mean = np.mean(chunk, axis=1)
            residual[part] = np.where(mean > 0, rms / np.maximum(mean, 1e-30), 0.0)
        return params, converged, residual

    def to_map(values: np.ndarray, dtype: type = float) -> np.ndarray:
        out = np.zeros(spatial, dtype=dtype)
        out[fit_mask] = values
        return out

    params, converged, residual = fit(known_b1)
    if known_b1 is None and b1_smoothing is not None and n:
        inside = (params[:, 3] > B1_BOUNDS[0]) & (params[:, 3] < B1_BOUNDS[1])
        weights = to_map(converged & inside, float)
        if not weights.any():
            weights = fit_mask.astype(float)
        smoothed = smooth_b1(to_map(params[:, 3]), weights, b1_smoothing)[fit_mask]
        params, converged, residual = fit(smoothed)
    params[:, 2] *= scale

    t1, t2, pd, b1_map = (to_map(params[:, k]) for k in range(4))
    reference = 1.0
    if normalise and n:
        pd, reference = normalise_pd(pd, t1, fit_mask)
    if n:
        logger.info(
            "MDME fit: %d voxels, %.1f %% converged, median relative residual %.4f",
            n,
            100.0 * np.mean(converged),
            float(np.median(residual)),
        )
    return MdmeMaps(
        t1=t1,
        t2=t2,
        pd=pd,
        b1=b1_map,
        residual=to_map(residual),
        mask=fit_mask,
        converged=to_map(converged, bool),
        pd_reference=reference,
    )


def normalise_pd(pd: np.ndarray, t1: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """PD as a fraction of the CSF reference (CSF = 100 % water).

    The reference is the median PD of the CSF-like voxels (``T1 > 3000 ms``) in the interior of
    ``mask``: for images (2 or more spatial axes) the mask is first eroded by one voxel
    in-plane, because voxels on its border share their volume with the background, which
    lowers their PD while their noisy, low signal often fits to a long T1 (in the demo
    cohort those border voxels alone pull the median 2-3 % low). With fewer than 20 interior
    CSF-like voxels all CSF-like voxels in the mask are used; with fewer than 20 of those, the
    99th percentile of PD in the mask (a warning is logged).

    Returns
    -------
    pd : numpy.ndarray
        ``pd / reference`` (0 outside the mask).
    reference : float
        The divisor.
    """
    mask = np.asarray(mask, dtype=bool)
    csf = mask & (t1 > CSF_T1_THRESHOLD)
    if mask.ndim >= 2:
        interior = csf & ndimage.binary_erosion(mask, structure=_in_plane(mask.ndim))
        if np.count_nonzero(interior) >= MIN_CSF_VOXELS:
            csf = interior
    n_csf = int(np.count_nonzero(csf))
    if n_csf >= MIN_CSF_VOXELS:
        reference = float(np.median(pd[csf]))
    else:
        reference = float(np.percentile(pd[mask], 99)) if mask.any() else 0.0
        logger.warning(
            "only %d CSF-like voxels (T1 > %g ms, need %d): PD referenced to its 99th "
            "percentile in the mask instead of CSF",
            n_csf,
            CSF_T1_THRESHOLD,
            MIN_CSF_VOXELS,
        )
    if not reference > 0:
        logger.warning("PD reference is %g; PD left unnormalised", reference)
        return np.where(mask, pd, 0.0), 1.0
    return np.where(mask, pd / reference, 0.0), reference


def background_mask(images: ArrayLike, threshold: float = 0.05) -> np.ndarray:
    """Foreground (head) mask of MDME images.

    A voxel is foreground when its largest signal over the volumes exceeds ``threshold`` times
    a robust maximum (the 99th percentile of that largest signal over all voxels), and also
    ``6 σ̂`` with ``σ̂`` the image noise level (:func:`image_noise_level`): at routine SNR
    (~50) the largest of 8 Rayleigh-distributed background values often exceeds 5 % of the
    tissue signal, and the noise guard keeps the background out (the largest of 8 pure-noise
    values exceeds 4 σ in ~0.3 % of voxels). The mask is then cleaned slice by slice (the
    acquisition is multi-slice 2D; in-plane 4-connectivity): a binary opening removes isolated
    voxels and holes are filled.

    Parameters
    ----------
    images
        ``(x, y[, z], V)`` magnitude images.
    threshold
        Fraction of the robust maximum.

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``images.shape[:-1]``.
    """
    data = np.asarray(images, dtype=float)
    peak = data.max(axis=-1)
    robust = float(np.percentile(peak, 99))
    level = threshold * robust
    if peak.ndim >= 2:
        level = max(level, _NOISE_GUARD * image_noise_level(data))
    mask = peak > level
    if mask.ndim >= 2:
        structure = _in_plane(mask.ndim)
        mask = ndimage.binary_opening(mask, structure=structure)
        mask = ndimage.binary_fill_holes(mask, structure=structure)
    return mask


def image_noise_level(images: ArrayLike) -> float:
    """Noise standard deviation of images from their finest in-plane detail.

    Immerkaer's estimator (Immerkaer 1996, Comput Vis Image Underst 64:300-302) made robust:
    each (x, y) plane is convolved with the difference of two Laplacians
    ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]``, which removes locally linear structure and
    multiplies white noise's standard deviation by 6, and the median absolute response
    (instead of the mean) ignores the edges: ``σ̂ = median|I * N| / (0.6745 · 6)``. In a
    Rayleigh background this reads ~0.65 σ, in tissue σ, so it is a lower bound of the complex
    noise σ; it is 0 for zero-filled backgrounds.

    Parameters
    ----------
    images
        ``(x, y, ...)`` array (further axes: slices, volumes).
    """
    data = np.asarray(images, dtype=float)
    kernel = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    kernel = kernel.reshape((3, 3) + (1,) * (data.ndim - 2))
    response = ndimage.convolve(data, kernel, mode="reflect")
    return float(np.median(np.abs(response)) / (0.6745 * 6.0))


def _in_plane(ndim: int) -> np.ndarray:
    """4-connected in-plane structuring element for an ``ndim`` array (x, y, ...)."""
    return ndimage.generate_binary_structure(2, 1).reshape((3, 3) + (1,) * (ndim - 2))


def estimate_noise_sigma(images: ArrayLike, mask: ArrayLike, *, margin: int = 3) -> float | None:
    """Noise σ of magnitude images from their background (Rayleigh-distributed there).

    Uses the voxels farther than ``margin`` voxels (in-plane) from the mask, all volumes,
    ignoring exact zeros (zero-filled regions): ``σ = median / sqrt(2 ln 2)``, the median of a
    Rayleigh distribution being ``σ sqrt(2 ln 2)``.

    Returns
    -------
    float or None
        ``None`` when fewer than 1000 non-zero background values exist.
    """
    data = np.asarray(images, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim >= 2 and margin > 0:
        mask = ndimage.binary_dilation(mask, structure=_in_plane(mask.ndim), iterations=margin)
    values = data[~mask].ravel()
    values = values[values > 0]
    if values.size < 1000:
        return None
    return float(np.median(values) / np.sqrt(2.0 * np.log(2.0)))


def synthesize_contrasts(
    t1: ArrayLike,
    t2: ArrayLike,
    pd: ArrayLike,
    mask: ArrayLike,
    contrasts: Mapping[str, Contrast] | None = None,
) -> dict[str, np.ndarray]:
    """Contrast-weighted images from T1, T2, PD maps (spin echo / inversion recovery).

    Parameters
    ----------
    t1, t2
        Maps (ms).
    pd
        PD map (fraction).
    mask
        Voxels to synthesise; 0 elsewhere.
    contrasts
        Name -> :class:`Contrast`; default :data:`CONTRASTS` (T1w TR 500 TE 10; T2w TR 4500
        TE 100; PDw TR 4000 TE 10; FLAIR TR 11000 TI 2800 TE 120 ms).

    Returns
    -------
    dict
        Name -> float64 image of the maps' shape, in ``contrasts`` order. Equations in the
        module docstring.
    """
    mask = np.asarray(mask, dtype=bool)
    t1 = np.where(mask, np.asarray(t1, dtype=float), 1.0)
    t2 = np.where(mask, np.asarray(t2, dtype=float), 1.0)
    pd = np.where(mask, np.asarray(pd, dtype=float), 0.0)
    out = {}
    for name, c in (CONTRASTS if contrasts is None else contrasts).items():
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            etr = np.exp(-c.repetition_time / t1)
            if c.inversion_time is None:
                recovery = 1.0 - etr
            else:
                recovery = np.abs(1.0 - 2.0 * np.exp(-c.inversion_time / t1) + etr)
            image = pd * recovery * np.exp(-c.echo_time / t2)
        out[name] = np.where(mask, image, 0.0)
    return out


def map_subject(
    image: PathLike,
    *,
    subject: str,
    outputs: Mapping[str, PathLike],
    mask_threshold: float = 0.05,
    max_iterations: int = 50,
    noise_correction: bool = True,
    b1_smoothing_mm: float | None = 8.0,
) -> MdmeMaps:
    """Fit one subject's MDME acquisition and write its maps and synthetic contrasts.

    Parameters
    ----------
    image
        4D MDME NIfTI (x, y, slices, volumes) with its JSON sidecar beside it.
    subject
        Participant label (without ``sub-``), for messages.
    outputs
        Paths for the keys of :data:`MAP_KEYS`: ``"T1map"``, ``"T2map"``, ``"PDmap"``,
        ``"B1map"``, ``"residual"`` (float32), ``"mask"`` (uint8), ``"synthetic"`` (4D float32,
        volumes T1w, T2w, PDw, FLAIR, with a JSON sidecar of the same name naming them and
        their sequence parameters). Every map has the source affine; files are written
        atomically, after the whole fit succeeded.
    mask_threshold
        Threshold of :func:`background_mask`.
    max_iterations
        Levenberg-Marquardt iteration limit.
    noise_correction
        Estimate the noise σ from the background (:func:`estimate_noise_sigma`) and fit the
        Rician mean; skipped when the background is too small or zero-filled.
    b1_smoothing_mm
        Gaussian standard deviation (mm) of the B1 smoothing between the two fit passes (see
        :func:`fit_mdme`), converted to voxels with the image spacing so that acquisitions of
        different resolution are smoothed alike; ``None`` fits B1 freely per voxel.

    Returns
    -------
    MdmeMaps
        The fitted maps.

    Raises
    ------
    InputDataError
        The image or sidecar is missing or invalid (not 4D, negative values, sidecar not
        matching the volumes), or no voxel is above the mask threshold.
    """
    missing = [key for key in MAP_KEYS if key not in outputs]
    if missing:
        raise KeyError(f"outputs lacks {missing}")
    loaded = load_nifti(image, subject=subject, ndim=4)
    data = loaded.data
    protocol = read_sidecar(image, data.shape[-1], subject=subject)
    if np.any(data < 0):
        raise InputDataError(
            f"{int(np.count_nonzero(data < 0))} negative voxel values; MDME images must be "
            "magnitude images",
            subject=subject,
            path=image,
        )
    mask = background_mask(data, mask_threshold)
    if not mask.any():
        raise InputDataError(
            f"no voxel above the mask threshold ({mask_threshold:g} of the robust maximum)",
            subject=subject,
            path=image,
        )
    sigma = estimate_noise_sigma(data, mask) if noise_correction else None
    logger.info(
        "sub-%s: fitting %d voxels of %s (%d volumes), noise sigma %s",
        subject,
        int(mask.sum()),
        Path(image).name,
        data.shape[-1],
        "not used" if sigma is None else f"{sigma:.4g}",
    )
    smoothing = (
        None
        if b1_smoothing_mm is None
        else tuple(b1_smoothing_mm / np.asarray(loaded.spacing[:3], dtype=float))
    )
    maps = fit_mdme(
        data,
        protocol,
        mask=mask,
        max_iterations=max_iterations,
        noise_sigma=sigma,
        b1_smoothing=smoothing,
    )
    fitted = maps.mask
    logger.info(
        "sub-%s: %.1f %% of voxels converged; median relative residual %.4f; median T1 %.0f ms, "
        "T2 %.0f ms, B1 %.3f; PD reference %.4g",
        subject,
        100.0 * float(np.mean(maps.converged[fitted])),
        float(np.median(maps.residual[fitted])),
        float(np.median(maps.t1[fitted])),
        float(np.median(maps.t2[fitted])),
        float(np.median(maps.b1[fitted])),
        maps.pd_reference,
    )
    synthetic = synthesize_contrasts(maps.t1, maps.t2, maps.pd, fitted)
    stack = np.stack(list(synthetic.values()), axis=-1).astype(np.float32)

    affine = loaded.affine
    for key, values in (
        ("T1map", maps.t1),
        ("T2map", maps.t2),
        ("PDmap", maps.pd),
        ("B1map", maps.b1),
        ("residual", maps.residual),
    ):
        save_nifti(values.astype(np.float32), outputs[key], affine)
    save_nifti(fitted.astype(np.uint8), outputs["mask"], affine)
    save_nifti(stack, outputs["synthetic"], affine)
    write_json(
        {
            "Volumes": list(synthetic),
            "SequenceParameters": {
                name: {
                    bids: value
                    for bids, value in (
                        ("RepetitionTime", c.repetition_time),
                        ("EchoTime", c.echo_time),
                        ("InversionTime", c.inversion_time),
                    )
                    if value is not None
                }
                for name, c in CONTRASTS.items()
            },
            "Units": "ms; intensities in PD fraction units",
            "Equations": {
                "spin_echo": "PD * (1 - exp(-TR/T1)) * exp(-TE/T2)",
                "inversion_recovery": "PD * |1 - 2 exp(-TI/T1) + exp(-TR/T1)| * exp(-TE/T2)",
            },
            "Sources": [Path(image).name],
        },
        sidecar_path(outputs["synthetic"]),
    )
    return maps
