"""Contrast kinetics of first-pass myocardial perfusion: one model for simulation and fitting.

* Arterial input: a gamma variate ``A (t - t0)^alpha exp(-(t - t0)/beta)`` for ``t > t0``,
  scaled to its peak concentration, with an optional delayed, damped second pass
  (recirculation).
* Tissue: the input convolved with the Fermi impulse response (Jerosch-Herold et al., Med Phys
  1998;25:73-84), normalised so that its value at ``t = 0`` is the flow ``F``::

      R(t) = F (1 + exp(-k tau0)) / (1 + exp(k (t - tau0)))     for t >= delay (shifted), else 0

  ``F`` is in ml/s per ml of tissue; myocardial blood flow in ml/min/g is ``60 F / density``
  (:func:`flow_to_mbf`).
* Signal: saturation recovery, ``S = PD (1 - exp(-TS R1))`` with ``R1 = R10 + r1 C``; its
  inverse gives the concentration from the PD-normalised signal.

Frame times of real acquisitions are not uniform (one frame per heartbeat), so the convolution
is evaluated on a uniform grid and read at the frame times through one matrix
(:func:`tissue_operator`): a tissue curve is ``M @ R(grid)``, for any number of pixels at once.
No maintained Python library implements these first-pass kinetic models, so they are written
here, each a few lines of array code (tested against analytic cases in
``tests/studies/perfusion/test_kinetics.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DENSITY",
    "concentration_from_signal",
    "fermi_response",
    "flow_to_mbf",
    "gamma_variate",
    "mbf_to_flow",
    "saturation_recovery",
    "tissue_operator",
    "uniform_grid",
]

#: Myocardial tissue density in g/ml.
DENSITY = 1.05


def flow_to_mbf(flow: ArrayLike) -> np.ndarray:
    """Flow ``F`` (ml/s per ml tissue) as myocardial blood flow in ml/min/g."""
    return np.asarray(flow, dtype=float) * 60.0 / DENSITY


def mbf_to_flow(mbf: ArrayLike) -> np.ndarray:
    """Myocardial blood flow in ml/min/g as ``F`` in ml/s per ml tissue."""
    return np.asarray(mbf, dtype=float) * DENSITY / 60.0


def gamma_variate(
    t: ArrayLike,
    *,
    onset: float,
    alpha: float,
    beta: float,
    peak: float,
    recirculation: float = 0.0,
    recirculation_delay: float = 8.0,
) -> np.ndarray:
    """Arterial concentration (mM) at times ``t`` (s): a gamma variate with its peak at ``peak``.

    Parameters
    ----------
    t
        Times in seconds.
    onset
        Arrival time ``t0`` (s).
    alpha, beta
        Shape (> 0) and scale (s, > 0); the peak lies at ``t0 + alpha beta``.
    peak
        Peak concentration of the first pass (mM).
    recirculation
        Height of the second pass relative to the first (0 for none): the same shape, delayed by
        ``recirculation_delay`` seconds and widened 1.5x.
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"alpha and beta must be positive, got {alpha}, {beta}")
    times = np.asarray(t, dtype=float)

    def shape(delay: float, scale: float) -> np.ndarray:
        # (s e^{1-s})^alpha, s = (t - t0)/(alpha beta): 1 at the peak s = 1, 0 before t0
        s = np.clip(times - onset - delay, 0.0, None) / (alpha * scale)
        return (s * np.exp(1.0 - s)) ** alpha

    curve = shape(0.0, beta)
    if recirculation:
        curve = curve + recirculation * shape(recirculation_delay, 1.5 * beta)
    return peak * curve


def fermi_response(
    t: ArrayLike,
    flow: ArrayLike,
    tau0: ArrayLike,
    k: ArrayLike,
    delay: ArrayLike = 0.0,
) -> np.ndarray:
    """Fermi impulse response ``R(t)`` for every parameter set: shape ``(*params, len(t))``.

    Parameters
    ----------
    t
        Times (s), 1-D.
    flow
        ``F = R(delay)`` in ml/s per ml tissue.
    tau0
        Width of the shoulder (s).
    k
        Decay rate after the shoulder (1/s).
    delay
        Arrival delay of the tissue curve relative to the input (s); ``R`` is 0 before it.
    """
    times = np.asarray(t, dtype=float)
    f, w, rate, d = (np.asarray(v, dtype=float)[..., None] for v in (flow, tau0, k, delay))
    shifted = times - d
    # log-sum-exp form of 1/(1 + exp(k(t - tau0))): no overflow for a steep decay
    response = f * (1.0 + np.exp(-rate * w)) * np.exp(-np.logaddexp(0.0, rate * (shifted - w)))
    return np.where(shifted >= 0.0, response, 0.0)


def uniform_grid(frame_times: ArrayLike, dt: float) -> np.ndarray:
    """The uniform grid ``0, dt, 2 dt, ...`` covering the last frame time."""
    end = float(np.max(frame_times))
    return np.arange(0.0, end + dt, dt)


def tissue_operator(aif: ArrayLike, frame_times: ArrayLike, dt: float = 0.1) -> np.ndarray:
    """Matrix ``M`` (frames x grid) with ``tissue(frame_times) = M @ R(grid)``.

    The input, sampled at ``frame_times``, is interpolated linearly onto
    :func:`uniform_grid`; ``M`` is the (rectangle-rule) convolution with it, read at the frame
    times by linear interpolation. Apply it to many responses at once: ``R`` of shape
    ``(grid, pixels)`` gives tissue curves ``(frames, pixels)``.

    Parameters
    ----------
    aif
        Arterial concentration at the frame times (1-D, same length as ``frame_times``).
    frame_times
        Increasing frame times (s), with the first at or after 0.
    dt
        Grid step (s).
    """
    times = np.asarray(frame_times, dtype=float)
    values = np.asarray(aif, dtype=float)
    if times.ndim != 1 or values.shape != times.shape:
        raise ValueError(f"aif {values.shape} and frame_times {times.shape} must match (1-D)")
    if np.any(np.diff(times) <= 0) or times[0] < 0:
        raise ValueError("frame_times must increase and start at or after 0")
    grid = uniform_grid(times, dt)
    a = np.interp(grid, times, values, left=values[0])
    n = grid.size
    lag = np.subtract.outer(np.arange(n), np.arange(n))
    convolution = np.where(lag >= 0, a[np.clip(lag, 0, None)], 0.0) * dt
    # linear interpolation of the grid at the frame times, as a (frames x grid) matrix
    position = times / dt
    low = np.clip(np.floor(position).astype(int), 0, n - 1)
    high = np.clip(low + 1, 0, n - 1)
    frac = position - low
    read = np.zeros((times.size, n))
    rows = np.arange(times.size)
    np.add.at(read, (rows, low), 1.0 - frac)
    np.add.at(read, (rows, high), frac)
    return read @ convolution


def saturation_recovery(
    concentration: ArrayLike,
    *,
    pd: ArrayLike,
    saturation_time: float,
    r10: ArrayLike,
    relaxivity: float,
) -> np.ndarray:
    """Signal ``PD (1 - exp(-TS (R10 + r1 C)))`` of a saturation-recovery readout.

    Parameters
    ----------
    concentration
        Contrast concentration (mM).
    pd
        Proton-density (fully relaxed) signal, broadcast against ``concentration``.
    saturation_time
        Time from the saturation pulse to the centre of k-space (s).
    r10
        Native relaxation rate ``1/T1`` (1/s).
    relaxivity
        ``r1`` of the contrast agent (1/(mM s)).
    """
    r1 = np.asarray(r10, dtype=float) + relaxivity * np.asarray(concentration, dtype=float)
    return np.asarray(pd, dtype=float) * (1.0 - np.exp(-saturation_time * r1))


def concentration_from_signal(
    signal: ArrayLike,
    *,
    pd: ArrayLike,
    saturation_time: float,
    r10: ArrayLike,
    relaxivity: float,
    max_fraction: float = 0.995,
) -> np.ndarray:
    """Invert :func:`saturation_recovery`: concentration (mM) from signal and PD.

    The PD-normalised signal is clipped to ``[0, max_fraction]`` (noise can push it past full
    recovery, where the inverse is infinite); a PD of 0 gives NaN.
    """
    pd_values = np.asarray(pd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(signal, dtype=float) / pd_values
    ratio = np.clip(ratio, 0.0, max_fraction)
    r1 = -np.log1p(-ratio) / saturation_time
    result = (r1 - np.asarray(r10, dtype=float)) / relaxivity
    return np.where(pd_values > 0, result, np.nan)
