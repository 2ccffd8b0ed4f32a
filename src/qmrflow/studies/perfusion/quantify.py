"""Quantification of first-pass perfusion: signal -> concentration -> Fermi deconvolution -> MBF.

Steps (all vectorised over pixels; the kinetic model is :mod:`.kinetics`):

1. :func:`series_concentration`: PD-normalised saturation-recovery signal to contrast
   concentration (:func:`.kinetics.concentration_from_signal`), minus the pre-contrast baseline
   (mean of the first ``baseline_frames`` frames, which absorbs a misfit native ``R10``).
2. :func:`arterial_input`: the arterial input function (AIF) from the LV blood pool of the
   low-resolution AIF series: the pool's *core* pixels, per frame the median of the squared
   PD-normalised signal with the magnitude noise floor removed (the AIF series' pre-contrast
   signal lies near the noise, where magnitude images are biased up). :func:`resample_mask`
   carries an LV mask from the perfusion series grid to the AIF series grid through both NIfTI
   affines.
3. Segment curves: the mean over each AHA segment's *core* (:func:`segment_core`: the
   myocardium less its border pixels, which share their area with the blood pools), leaving out
   pixel values that are outliers in a frame (:func:`robust_segment_curves`).
4. :func:`fit_fermi`: Fermi-constrained deconvolution (Jerosch-Herold et al. 1998): each tissue
   curve is fitted by ``M @ R(grid; F, tau0, k, d)`` with ``M`` the convolution operator of the
   AIF (:func:`.kinetics.tissue_operator`, built once) and ``R`` the Fermi response, 0 before
   the delay ``d``. ``F``, ``tau0``, ``k`` are fitted for many curves at once by the project's
   batched Levenberg-Marquardt (:func:`qmrflow.fitting.levenberg_marquardt`, analytic Jacobian,
   bounds ``0 <= F <= MAX_MBF`` (10 ml/min/g), ``0.05 <= tau0 <= 60 s``,
   ``0.001 <= k <= 50 /s``), each started from the best point of an 8 x 8 ``(tau0, k)`` grid
   with ``F`` profiled out (the model is linear in ``F``). The delay is searched on a grid of
   candidates (default every ``dt`` from 0 to 3 s): per candidate a grid start, then LM fits at
   the best grid delay and its neighbours, extended while a neighbour fits better
   (:func:`_delay_search`); each curve keeps the delay of lowest residual, or (``average_delay``)
   the flow is averaged over the delays weighted by their likelihood. A fixed ``delay`` per
   curve replaces the search. :func:`fit_segments` fits the segment curves (delay averaged),
   :func:`fit_pixels` every pixel of a mask (about 0.6-0.8 s for 1000 pixels x 40 frames on one
   loaded CPU core with the search; faster at given delays, e.g. each pixel at its segment's).

Conditioning
------------
``F = R(d)`` is the height of the response at its very start, so the fitted flow follows the
fitted delay (about 5 % per 0.1 s); with the delay free, the Cramer-Rao bound of ``F`` for a
segment curve of the demo (SNR 20 per pixel, ~40 pixels, 0.65 s frames) is 8-10 % SD, and a
single pixel's curve (noise ~0.06 mM against a ~1 mM peak) cannot place its own delay. Hence
segment curves from many clean pixels, the averaged delay for segments, and pixels fitted at
their segment's delay with a bounded flow (pixel SDs within a segment ~0.4 ml/min/g on
motion-free demo data instead of ~0.9 with free delays and run-aways to hundreds).

Fit window
----------
The Fermi function describes the first pass; later frames carry recirculation and
extravascular effects it does not model. Only frames up to the end of the AIF's first pass plus
a margin are fitted (:func:`first_pass_frames`): the end is the first frame after the AIF peak
where the AIF has fallen below ``fraction`` (0.25) of its peak, and the margin (default 4 s)
lets the tissue curve, which peaks several seconds after the AIF, reach its own peak and early
wash-out. ``n_frames`` overrides the choice (``n_frames=len(frame_times)``: the whole series).
Since the convolution is causal, the operator of the window is built from the window's frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from qmrflow.fitting import Model, levenberg_marquardt, to_map
from qmrflow.studies.perfusion.kinetics import (
    concentration_from_signal,
    flow_to_mbf,
    mbf_to_flow,
    tissue_operator,
    uniform_grid,
)
from qmrflow.studies.perfusion.segments import N_SEGMENTS, segment_curves

__all__ = [
    "MAX_DELAY",
    "MAX_MBF",
    "FermiFit",
    "arterial_input",
    "first_pass_frames",
    "fit_fermi",
    "fit_pixels",
    "fit_segments",
    "resample_mask",
    "robust_segment_curves",
    "segment_core",
    "series_concentration",
]

logger = logging.getLogger(__name__)

MAX_DELAY = 3.0
"""Largest default candidate arrival delay of a tissue curve after the AIF (s)."""

MAX_MBF = 10.0
"""Default upper bound of the fitted MBF (ml/min/g): hyperaemic MBF stays well below it."""

_TAU0_STARTS = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 9.0])
_K_STARTS = np.array([0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5, 4.0])
_LOWER = np.array([0.0, 0.05, 1e-3])  # F (ml/s/ml), tau0 (s), k (1/s)
_UPPER = np.array([np.inf, 60.0, 50.0])
_MIN_FRAMES = 6


@dataclass(frozen=True)
class FermiFit:
    """Result of a Fermi-constrained deconvolution, one value per curve (or a map per field).

    Attributes
    ----------
    flow
        ``F = R(delay)`` in ml/s per ml tissue.
    mbf
        Myocardial blood flow in ml/min/g (:func:`.kinetics.flow_to_mbf`).
    tau0, k
        Shoulder width (s) and decay rate (1/s) of the Fermi response.
    delay
        Arrival delay of the tissue curve after the AIF (s), from the candidate grid.
    residual
        RMS residual over the fitted frames (mM).
    converged
        The solver's convergence flag at the chosen delay.
    n_frames
        Number of frames fitted (the window, see the module docstring).
    """

    flow: np.ndarray
    mbf: np.ndarray
    tau0: np.ndarray
    k: np.ndarray
    delay: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    n_frames: int


def series_concentration(
    series: ArrayLike,
    pd: ArrayLike,
    *,
    saturation_time: float,
    r10: ArrayLike,
    relaxivity: float,
    baseline_frames: int = 3,
) -> np.ndarray:
    """Concentration (mM) of every pixel and frame of a saturation-recovery series.

    Parameters
    ----------
    series
        ``(T, X, Y)`` signal (any trailing spatial shape).
    pd
        Proton-density signal of the spatial shape ``series.shape[1:]``.
    saturation_time
        Saturation time of the series (s).
    r10
        Native ``R1`` (1/s): a scalar or a map of the spatial shape.
    relaxivity
        ``r1`` of the contrast agent (1/(mM s)).
    baseline_frames
        Pre-contrast frames (before arrival) whose mean concentration is subtracted.

    Returns
    -------
    numpy.ndarray
        ``(T, X, Y)`` concentration; NaN where the PD is not positive.

    Raises
    ------
    ValueError
        Shapes differ, non-finite values, or ``baseline_frames`` is outside ``[1, T)``.
    """
    signal = np.asarray(series, dtype=float)
    pd_map = np.asarray(pd, dtype=float)
    if signal.ndim < 2:
        raise ValueError(f"series must be (T, X, Y), got shape {signal.shape}")
    if pd_map.shape != signal.shape[1:]:
        raise ValueError(f"pd shape {pd_map.shape} differs from the series' {signal.shape[1:]}")
    for name, values in (("series", signal), ("pd", pd_map)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} holds NaN or infinite values")
    if not 1 <= baseline_frames < signal.shape[0]:
        raise ValueError(
            f"baseline_frames must be in [1, {signal.shape[0]}), got {baseline_frames}"
        )
    if saturation_time <= 0 or relaxivity <= 0:
        raise ValueError("saturation_time and relaxivity must be positive")
    concentration = concentration_from_signal(
        signal, pd=pd_map, saturation_time=saturation_time, r10=r10, relaxivity=relaxivity
    )
    return concentration - concentration[:baseline_frames].mean(axis=0)


def arterial_input(
    aif_series: ArrayLike,
    aif_pd: ArrayLike,
    lv_mask: ArrayLike,
    *,
    saturation_time: float,
    r10: ArrayLike,
    relaxivity: float,
    baseline_frames: int = 3,
    core_fraction: float | None = 0.7,
    robust: bool = True,
) -> np.ndarray:
    """Arterial input function (mM per frame) from the LV blood pool of the AIF series.

    Pool pixels
        With ``core_fraction``, only the pool's core enters: pixels whose peak concentration
        (:func:`series_concentration`) is at least ``core_fraction`` times the mask's reference
        peak (the 90th percentile of the pixels' peaks, robust to one noisy pixel). At the AIF
        series' 3-4 mm pixels the pool's edge pixels are partial-volumed with the myocardium
        and would lower (and delay) the input, which biases MBF upwards; the core avoids them.
    ``robust=True`` (default)
        Per frame, the *median* over the pool pixels of the squared PD-normalised signal
        ``m2(t)`` (a pixel that leaves the pool in a frame, through residual motion, does not
        move the median), corrected for the noise floor of the magnitude images:
        ``E[|s + n|^2] = s^2 + 2 sigma^2``. The AIF series has a short saturation time, so its
        pre-contrast signal lies near the noise (SNR about 1 in the demo) and its magnitude is
        biased up (Rician); subtracting that biased baseline would lower the whole curve
        (-0.1 mM, about -15 % of the tail in the demo). Instead, the pre-contrast frames
        calibrate the noise term: ``2 sigma^2 = mean(m2[:baseline_frames]) - x0^2`` with
        ``x0 = 1 - exp(-TS R10)`` the noise-free pre-contrast signal the native ``R1`` predicts
        (0 if negative), and the input is the concentration of ``sqrt(m2 - 2 sigma^2)``. No
        further baseline is subtracted (at the AIF series' short saturation time a misfit
        ``R10`` shifts the concentration by only ``TS``-weighted hundredths of a mM).
    ``robust=False``
        The mean of the pixels' baseline-subtracted concentrations (no noise correction).

    Parameters
    ----------
    aif_series
        ``(T, x, y)`` signal of the AIF series (one slice).
    aif_pd
        ``(x, y)`` PD image of the AIF series.
    lv_mask
        ``(x, y)`` bool LV blood-pool mask on the AIF grid (:func:`resample_mask`).
    saturation_time, r10, relaxivity, baseline_frames
        See :func:`series_concentration` (``r10`` of blood: a scalar or a map).
    core_fraction
        Fraction of the reference peak a pixel must reach; ``None`` takes the whole mask.
    robust
        Median and noise correction (above) or the plain mean.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` concentration of the arterial input.

    Raises
    ------
    ValueError
        The mask is empty, of another shape, or ``core_fraction`` is outside ``(0, 1]``.
    """
    mask = np.asarray(lv_mask, dtype=bool)
    concentration = series_concentration(
        aif_series,
        aif_pd,
        saturation_time=saturation_time,
        r10=r10,
        relaxivity=relaxivity,
        baseline_frames=baseline_frames,
    )
    if mask.shape != concentration.shape[1:]:
        raise ValueError(f"lv_mask shape {mask.shape} differs from the AIF series' grid")
    selected = mask & np.all(np.isfinite(concentration), axis=0)
    if not selected.any():
        raise ValueError("lv_mask selects no pixel with a valid AIF signal")
    curves = concentration[:, selected]
    keep = np.ones(curves.shape[1], dtype=bool)
    if core_fraction is not None:
        if not 0 < core_fraction <= 1:
            raise ValueError(f"core_fraction must be in (0, 1], got {core_fraction}")
        peaks = curves.max(axis=0)
        keep = peaks >= core_fraction * np.percentile(peaks, 90)
        logger.debug("AIF core: %d of %d LV pixels", int(keep.sum()), int(mask.sum()))
    if not robust:
        return curves[:, keep].mean(axis=1)
    signal = np.asarray(aif_series, dtype=float)[:, selected][:, keep]
    ratio = signal / np.asarray(aif_pd, dtype=float)[selected][keep]
    r10_pool = float(np.median(np.broadcast_to(np.asarray(r10, dtype=float), mask.shape)[selected]))
    expected = 1.0 - np.exp(-saturation_time * r10_pool)  # noise-free pre-contrast ratio
    m2 = np.median(ratio**2, axis=1)
    noise = max(float(m2[:baseline_frames].mean()) - expected**2, 0.0)
    logger.debug(
        "AIF noise floor: sigma/PD %.4f (pre-contrast ratio %.4f)", np.sqrt(noise / 2), expected
    )
    level = np.sqrt(np.clip(m2 - noise, 0.0, None))
    return concentration_from_signal(
        level, pd=1.0, saturation_time=saturation_time, r10=r10_pool, relaxivity=relaxivity
    )


def resample_mask(
    mask: ArrayLike,
    source_affine: ArrayLike,
    target_affine: ArrayLike,
    target_shape: tuple[int, ...],
    *,
    clip_slices: bool = True,
) -> np.ndarray:
    """Carry a mask to another grid by nearest-neighbour sampling through world coordinates.

    Every target voxel centre ``v`` is mapped to the source voxel
    ``round(inv(source_affine) @ target_affine @ v)``; it takes that voxel's mask value (False
    outside the source grid in plane).

    Parameters
    ----------
    mask
        ``(X, Y)`` or ``(X, Y, Z)`` bool mask on the source grid (a 2-D mask is one slice).
    source_affine, target_affine
        4 x 4 NIfTI voxel-to-world affines of the source and target grids.
    target_shape
        ``(x, y)`` or ``(x, y, z)`` shape of the target grid (a 2-D shape gives a 2-D mask).
    clip_slices
        Clip the source slice index into the source's slices instead of leaving target voxels
        beyond them empty: the thick single-slice AIF series is planned at the basal level but
        its centre need not fall inside the perfusion stack, and the LV pool changes slowly
        through the plane.

    Returns
    -------
    numpy.ndarray
        Bool mask of ``target_shape``.

    Raises
    ------
    ValueError
        An affine is not a finite, invertible 4 x 4 matrix, or the shapes are not 2-D / 3-D.
    """
    source = np.asarray(mask, dtype=bool)
    shape = tuple(int(n) for n in target_shape)
    if source.ndim not in (2, 3) or len(shape) not in (2, 3):
        raise ValueError(f"mask {source.shape} and target_shape {shape} must be 2-D or 3-D")
    affines = []
    for name, value in (("source_affine", source_affine), ("target_affine", target_affine)):
        affine = np.asarray(value, dtype=float)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ValueError(f"{name} must be a finite 4 x 4 matrix, got shape {affine.shape}")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError(f"{name} is singular")
        affines.append(affine)
    source3 = source[..., None] if source.ndim == 2 else source
    shape3 = (*shape, 1) if len(shape) == 2 else shape
    voxels = np.indices(shape3).reshape(3, -1)
    homogeneous = np.vstack([voxels, np.ones((1, voxels.shape[1]))])
    index = np.rint((np.linalg.inv(affines[0]) @ affines[1] @ homogeneous)[:3]).astype(int)
    if clip_slices:
        index[2] = np.clip(index[2], 0, source3.shape[2] - 1)
    inside = np.all((index >= 0) & (index < np.array(source3.shape)[:, None]), axis=0)
    values = np.zeros(index.shape[1], dtype=bool)
    values[inside] = source3[tuple(index[:, inside])]
    return values.reshape(shape3)[..., 0] if len(shape) == 2 else values.reshape(shape3)


def first_pass_frames(
    aif: ArrayLike, frame_times: ArrayLike, *, fraction: float = 0.25, margin: float = 4.0
) -> int:
    """Number of frames of the fit window: the AIF's first pass plus ``margin`` seconds.

    The first pass ends at the first frame after the AIF peak whose value is below
    ``fraction`` of the peak (the last frame if none is); the window holds every frame up to
    that frame's time plus ``margin``, and at least 6 frames (all if fewer).
    """
    values = np.asarray(aif, dtype=float)
    times = np.asarray(frame_times, dtype=float)
    peak = int(np.argmax(values))
    below = np.flatnonzero(values[peak:] < fraction * values[peak])
    end = times[peak + below[0]] if below.size else times[-1]
    count = int(np.searchsorted(times, end + margin, side="right"))
    return min(times.size, max(count, _MIN_FRAMES))


def _fermi_shape(
    s: np.ndarray, tau0: np.ndarray, k: np.ndarray, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``g = R / F`` at times ``s`` after the delay, and its derivatives in ``tau0`` and ``k``.

    ``g = c p`` with ``c = 1 + e^{-k tau0}``, ``p = 1 / (1 + e^u)``, ``u = k (s - tau0)``:
    ``dg/dtau0 = k p (c (1 - p) - e^{-k tau0})``,
    ``dg/dk = -p (tau0 e^{-k tau0} + c (1 - p) (s - tau0))``. ``s`` is ``(G,)`` or ``(n, G)``;
    where ``valid`` (broadcast to ``(n, G)``) is False (before the delay) all three are 0.
    Returns three ``(n, G)`` arrays.
    """
    w, rate = tau0[:, None], k[:, None]
    lag = s - w
    # in-place array arithmetic: this is the inner loop of every fit (about half its time)
    work = np.multiply(rate, lag)
    np.clip(work, -700.0, 700.0, out=work)
    np.exp(work, out=work)  # e^u
    p = work + 1.0
    np.reciprocal(p, out=p)
    if valid is not None:
        p *= valid  # p = 0 zeroes g and both derivatives
    work *= p  # q = 1 - p = e^u p, without cancellation
    e = np.exp(-rate * w)
    c = 1.0 + e
    work *= c  # c q
    g = c * p
    dg_k = lag * work
    dg_k += w * e
    dg_k *= -p
    work -= e
    work *= p
    work *= rate  # dg/dtau0
    return g, work, dg_k


def _grid_start(
    data: np.ndarray, operator: np.ndarray, s: np.ndarray, max_flow: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``(F, tau0, k)`` of the start grid per curve (``F`` profiled) and its cost.

    ``operator`` is ``(T, G_d)``, the columns of the grid times ``s`` after the delay; the
    profiled ``F`` is clipped to ``[0, max_flow]``.
    """
    tau0, k = (v.ravel() for v in np.meshgrid(_TAU0_STARTS, _K_STARTS, indexing="ij"))
    basis = _fermi_shape(s, tau0, k)[0] @ operator.T  # (K, T)
    norm2 = np.maximum(np.einsum("kt,kt->k", basis, basis), 1e-300)
    dot = data @ basis.T  # (n, K)
    flow = np.clip(np.clip(dot, 0.0, None) / norm2, None, max_flow)
    cost = np.einsum("nt,nt->n", data, data)[:, None] - 2 * flow * dot + flow**2 * norm2
    best = np.argmin(cost, axis=1)
    start = np.column_stack([flow[np.arange(data.shape[0]), best], tau0[best], k[best]])
    return start, cost[np.arange(data.shape[0]), best]


def _fermi_model(grid: np.ndarray, operator: np.ndarray, dt: float) -> Model:
    """The tissue model ``operator @ R(grid)`` for the solver, with its analytic Jacobian.

    Parameters per row: ``(F, tau0, k, delay)``. The delay is a per-row constant, held fixed
    by equal lower and upper bounds (its Jacobian column is 0, so the solver never moves it):
    the way to give one batched fit rows of different candidate delays.
    """
    block = np.ascontiguousarray(operator.T)  # (G, T)

    def model(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = grid - x[:, 3:4]
        g, dg_tau0, dg_k = _fermi_shape(s, x[:, 1], x[:, 2], s >= -1e-9 * dt)
        flow = x[:, :1]
        shape = g @ block
        jac = np.zeros((*shape.shape, 4))
        jac[..., 0] = shape
        jac[..., 1] = flow * (dg_tau0 @ block)
        jac[..., 2] = flow * (dg_k @ block)
        return flow * shape, jac

    return model


def _delay_search(
    data: np.ndarray,
    model: Model,
    candidates: np.ndarray,
    starts: np.ndarray,
    grid_cost: np.ndarray,
    *,
    exhaustive: bool,
    max_iterations: int,
    tol: float,
    upper: np.ndarray = _UPPER,
    fixed: np.ndarray | None = None,
    full: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt fits over the (sorted) candidate delays; the best per curve.

    Local search (default): each curve is fitted at the delay of its best grid-start cost and
    its two neighbours; while a curve's best fitted delay is at the edge of those it has been
    fitted at, the next delay beyond is fitted too (a descent on the delay grid). On noise-free
    curves the grid-start delay is within one step of the truth, and the search visits about 3
    of 13 delays per curve. ``exhaustive`` fits every delay for every curve. Every round is one
    batched solver call over all its (curve, delay) pairs.

    ``upper`` bounds ``(F, tau0, k)``. ``fixed`` (one candidate index per curve) fits each
    curve at that delay only.

    Returns the best cost, parameters ``(P, 3)``, delay index and convergence flag per curve;
    with ``full``, the cost ``(P, D)`` (inf where not fitted), parameters ``(P, D, 3)``, best
    delay index and convergence ``(P, D)`` of every (curve, delay) pair.
    """
    n, n_delays = grid_cost.shape
    cost = np.full((n, n_delays), np.inf)
    params = np.zeros((n, n_delays, 3))
    converged = np.zeros((n, n_delays), dtype=bool)
    visited = np.zeros((n, n_delays), dtype=bool)
    column = np.arange(n_delays)
    if fixed is not None:
        pending = column == np.asarray(fixed)[:, None]
    elif exhaustive:
        pending = np.isfinite(grid_cost)
    else:
        centre = np.argmin(grid_cost, axis=1)[:, None]
        pending = (np.abs(column - centre) <= 1) & np.isfinite(grid_cost)
    while np.any(pending):
        rows, cols = np.nonzero(pending)
        delay = candidates[cols, None]
        fit = levenberg_marquardt(
            model,
            np.hstack([starts[rows, cols], delay]),
            data[rows],
            lower=np.hstack([np.broadcast_to(_LOWER, (rows.size, 3)), delay]),
            upper=np.hstack([np.broadcast_to(upper, (rows.size, 3)), delay]),
            max_iterations=max_iterations,
            tol=tol,
        )
        cost[rows, cols] = fit.cost
        params[rows, cols] = fit.params[:, :3]
        converged[rows, cols] = fit.converged
        visited |= pending
        if fixed is not None:
            break
        best = np.argmin(cost, axis=1)[:, None]
        pending = (np.abs(column - best) == 1) & ~visited & np.isfinite(grid_cost)
    best = np.argmin(cost, axis=1)
    rows = np.arange(n)
    logger.debug("Fermi delay search: %.1f delays fitted per curve", visited.sum() / max(n, 1))
    if full:
        return cost, params, best, converged
    return cost[rows, best], params[rows, best], best, converged[rows, best]


def _validate(
    tissue: ArrayLike, aif: ArrayLike, frame_times: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays of :func:`fit_fermi` as float, tissue 2-D; ValueError naming a bad argument."""
    curves = np.asarray(tissue, dtype=float)
    if curves.ndim == 1:
        curves = curves[:, None]
    values = np.asarray(aif, dtype=float)
    times = np.asarray(frame_times, dtype=float)
    if times.ndim != 1 or times.size < _MIN_FRAMES:
        raise ValueError(f"frame_times must be 1-D with >= {_MIN_FRAMES} frames: {times.shape}")
    if values.shape != times.shape:
        raise ValueError(f"aif has shape {values.shape}, frame_times {times.shape}")
    if curves.ndim != 2 or curves.shape[0] != times.size:
        raise ValueError(f"tissue must be (T={times.size}, P), got shape {curves.shape}")
    for name, array in (("tissue", curves), ("aif", values), ("frame_times", times)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds NaN or infinite values")
    if np.any(np.diff(times) <= 0) or times[0] < 0:
        raise ValueError("frame_times must increase and start at or after 0")
    if values.max() <= 0:
        raise ValueError("aif has no positive concentration")
    return curves, values, times


def fit_fermi(
    tissue: ArrayLike,
    aif: ArrayLike,
    frame_times: ArrayLike,
    *,
    delays: ArrayLike | None = None,
    delay: ArrayLike | None = None,
    dt: float = 0.1,
    n_frames: int | None = None,
    exhaustive: bool = False,
    max_mbf: float | None = MAX_MBF,
    average_delay: bool = False,
    max_iterations: int = 50,
    tol: float = 1e-7,
) -> FermiFit:
    """Fermi-constrained deconvolution of many tissue curves at once (see the module docstring).

    Parameters
    ----------
    tissue
        ``(T, P)`` tissue concentration curves (mM), or one ``(T,)`` curve.
    aif
        ``(T,)`` arterial concentration at the same frame times (mM).
    frame_times
        ``(T,)`` increasing frame times (s), not necessarily uniform.
    delays
        Candidate tissue delays (s, >= 0). ``None``: every grid step from 0 to
        :data:`MAX_DELAY`, ``0, dt, 2 dt, ...``. The discrete model resolves a delay only to
        ``dt`` (``R`` is 0 on grid points before it), and candidates coarser than that bias the
        flow of curves whose delay falls between them (a 0.25 s grid: median |error| 8 % on
        noise-free curves with delays uniform in 0.5-2 s; the dt grid: 0.2 %).
    delay
        Instead of a search: one fixed delay per curve (s, ``(P,)`` or a scalar, rounded to the
        ``dt`` grid), e.g. each pixel fitted at its segment's delay (:func:`fit_pixels`). The
        flow's sensitivity to the delay is what makes single noisy curves unstable (about 5 %
        of ``F`` per 0.1 s); a delay taken from a less noisy curve removes most of it.
    dt
        Step of the convolution grid (s).
    n_frames
        Frames to fit; ``None`` chooses the first-pass window (:func:`first_pass_frames`).
    exhaustive
        Fit every candidate delay for every curve instead of the local search (about 10x slower;
        see :func:`_delay_search`).
    max_mbf
        Upper bound of the MBF (ml/min/g; default :data:`MAX_MBF`, None for none). Noisy or
        contaminated single-pixel curves otherwise run off to implausible flows (a short
        shoulder with a huge ``F``).
    average_delay
        Marginalise the delay instead of taking the best one: every candidate is fitted
        (``exhaustive``) and ``F``, ``tau0``, ``k`` and the delay are the averages over the
        candidates weighted by ``exp(-(SSR_d - SSR_min) / (2 s^2))``, ``s^2 = SSR_min / (n - 4)``
        the residual variance (a flat prior on the candidates; the profile likelihood of each).
        Neighbouring delays fit noisy curves almost equally well while their flows differ by
        about 5 % per 0.1 s, so the best delay's flow is noisier than their average (median
        error of noisy demo segment curves 8 % -> 7 %). ``residual`` and ``converged`` remain
        those of the best delay. Not with ``delay``.
    max_iterations, tol
        Passed to :func:`qmrflow.fitting.levenberg_marquardt`.

    Returns
    -------
    FermiFit
        Arrays of shape ``(P,)``.

    Raises
    ------
    ValueError
        Mismatched lengths, NaN / infinite values, non-increasing frame times, an AIF without
        positive values, negative delays or a bad ``n_frames``.
    """
    curves, values, times = _validate(tissue, aif, frame_times)
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    if max_mbf is not None and not max_mbf > 0:
        raise ValueError(f"max_mbf must be positive or None, got {max_mbf}")
    upper = _UPPER.copy()
    if max_mbf is not None:
        upper[0] = float(mbf_to_flow(max_mbf))
    fixed = None
    if delay is not None:
        per_curve = np.broadcast_to(np.asarray(delay, dtype=float), (curves.shape[1],))
        if np.any(per_curve < 0) or not np.all(np.isfinite(per_curve)):
            raise ValueError("delay must be finite and non-negative")
        steps = np.rint(per_curve / dt)
        candidates, fixed = np.unique(steps, return_inverse=True)
        candidates = candidates * dt
    else:
        if delays is None:
            delays = np.arange(0.0, MAX_DELAY + dt / 2, dt)
        candidates = np.unique(np.asarray(delays, dtype=float))  # sorted: neighbours are steps
        if candidates.size == 0 or np.any(candidates < 0) or not np.all(np.isfinite(candidates)):
            raise ValueError(f"delays must be finite, non-negative and not empty: {candidates}")
    if n_frames is None:
        n_frames = first_pass_frames(values, times)
    if not _MIN_FRAMES <= n_frames <= times.size:
        raise ValueError(f"n_frames must be in [{_MIN_FRAMES}, {times.size}], got {n_frames}")
    data = curves[:n_frames].T  # (P, T)
    operator = tissue_operator(values[:n_frames], times[:n_frames], dt)
    grid = uniform_grid(times[:n_frames], dt)
    n = data.shape[0]
    # grid search over every candidate delay: starts (P, D, 3) and their costs (P, D)
    starts = np.zeros((n, candidates.size, 3))
    grid_cost = np.full((n, candidates.size), np.inf)
    for index, candidate in enumerate(candidates):
        after = grid - candidate >= -1e-9 * dt
        rows = slice(None) if fixed is None else np.flatnonzero(fixed == index)
        if np.any(after):
            s = np.clip(grid[after] - candidate, 0.0, None)
            starts[rows, index], grid_cost[rows, index] = _grid_start(
                data[rows], operator[:, after], s, upper[0]
            )
    if average_delay and fixed is not None:
        raise ValueError("average_delay needs a delay search, not fixed delays")
    best, params, chosen, converged = _delay_search(
        data,
        _fermi_model(grid, operator, dt),
        candidates,
        starts,
        grid_cost,
        exhaustive=exhaustive or average_delay,
        max_iterations=max_iterations,
        tol=tol,
        upper=upper,
        fixed=fixed,
        full=average_delay,
    )
    delay_values = candidates[chosen]
    if average_delay:
        rows = np.arange(n)
        cost, every = best, params
        best, params, converged = cost[rows, chosen], every[rows, chosen], converged[rows, chosen]
        variance = np.maximum(2.0 * best / max(n_frames - 4, 1), 1e-30)[:, None]
        weights = np.exp(-(cost - best[:, None]) / variance)  # cost = SSR / 2; 0 where inf
        weights /= weights.sum(axis=1, keepdims=True)
        params = np.einsum("pd,pdk->pk", weights, every)
        delay_values = weights @ candidates
    logger.debug(
        "Fermi fit: %d curves, %d frames, %d delays, %d converged",
        n,
        n_frames,
        candidates.size,
        int(converged.sum()),
    )
    return FermiFit(
        flow=params[:, 0],
        mbf=flow_to_mbf(params[:, 0]),
        tau0=params[:, 1],
        k=params[:, 2],
        delay=delay_values,
        residual=np.sqrt(2.0 * best / n_frames),
        converged=converged,
        n_frames=int(n_frames),
    )


def segment_core(segments: ArrayLike, *, min_pixels: int = 5) -> np.ndarray:
    """The segment map on the myocardium's core: pixels whose 8 in-plane neighbours are all
    myocardium.

    The border pixels of the myocardium share their area with the blood pools (6-8 mM at the
    first pass, 5-10x the tissue) or the epicardial tissue, through partial volume and any
    residual misalignment; a few % of blood in a segment's mean raises its MBF by tens of %.
    The core (the myocardium, ``segments > 0``, eroded by one pixel) avoids them. A segment
    whose core has fewer than ``min_pixels`` pixels (a thin wall) keeps all its pixels.

    Returns
    -------
    numpy.ndarray
        Segment map of the same shape: the segment number on core pixels, 0 elsewhere.
    """
    from scipy import ndimage

    labels = np.asarray(segments)
    if labels.ndim not in (2, 3):
        raise ValueError(f"segments must be a slice (X, Y) or a stack (X, Y, S): {labels.shape}")
    in_plane = np.ones((3, 3, 1) if labels.ndim == 3 else (3, 3), dtype=bool)
    inner = ndimage.binary_erosion(labels > 0, structure=in_plane, border_value=0)
    core = np.where(inner, labels, 0)
    present, counts = np.unique(labels[labels > 0], return_counts=True)
    kept = np.bincount(core[core > 0].astype(int), minlength=N_SEGMENTS + 1)
    for segment, count in zip(present, counts, strict=True):
        if kept[int(segment)] < min(min_pixels, count):
            core = np.where(labels == segment, labels, core)
    return core


def robust_segment_curves(
    concentration: ArrayLike,
    segments: ArrayLike,
    *,
    clip: float | None = 3.0,
    baseline_frames: int = 3,
) -> np.ndarray:
    """Mean curve of every AHA segment, without the pixel values that are outliers in a frame.

    Per segment and frame, pixel values further than ``clip`` robust SDs from the segment's
    median are left out of the mean (a pixel that shows blood or epicardial tissue in a frame
    through residual misalignment). The robust SD is the larger of the frame's scaled median
    absolute deviation and the noise, estimated the same way over the segment's first
    ``baseline_frames`` (pre-contrast) frames; with a zero SD nothing is left out. ``clip=None``
    is the plain mean (:func:`.segments.segment_curves`).

    Returns
    -------
    numpy.ndarray
        ``(T, 16)``, column ``j`` for segment ``j + 1``; NaN for segments without pixels.
    """
    if clip is None:
        return segment_curves(concentration, segments)
    if clip <= 0:
        raise ValueError(f"clip must be positive or None, got {clip}")
    values = np.asarray(concentration, dtype=float)
    labels = np.asarray(segments)
    result = segment_curves(values, labels)  # validates; NaN columns for absent segments
    for segment in np.unique(labels[labels > 0]).astype(int):  # <= 16 segments
        curves = values[:, labels == segment]  # (T, N)
        centre = np.median(curves, axis=1, keepdims=True)
        deviation = np.abs(curves - centre)
        spread = 1.4826 * np.median(deviation, axis=1, keepdims=True)
        noise = 1.4826 * np.median(deviation[: max(1, baseline_frames)])
        scale = np.maximum(spread, noise)
        keep = (deviation <= clip * scale) | (scale == 0)
        result[:, segment - 1] = (curves * keep).sum(axis=1) / keep.sum(axis=1)
    return result


def fit_segments(
    concentration: ArrayLike,
    segments: ArrayLike,
    aif: ArrayLike,
    frame_times: ArrayLike,
    *,
    core: bool = True,
    clip: float | None = 3.0,
    average_delay: bool = True,
    **options: object,
) -> FermiFit:
    """Fermi fit of the curve of every AHA segment present.

    Parameters
    ----------
    concentration
        ``(T, ...)`` tissue concentration (one slice ``(T, X, Y)`` or a stack ``(T, X, Y, S)``).
    segments
        AHA segment map (1-16, 0 elsewhere) of the spatial shape (:func:`.segments.segment_map`).
    aif, frame_times
        See :func:`fit_fermi`.
    core
        Average each segment over its core only (:func:`segment_core`).
    clip
        Leave per-frame outlier pixels out of the mean (:func:`robust_segment_curves`); None
        averages every pixel.
    average_delay
        Marginalise the delay (:func:`fit_fermi`); the segments are few, so the exhaustive
        search it needs costs little.
    **options
        Passed to :func:`fit_fermi`.

    Returns
    -------
    FermiFit
        Arrays of shape ``(16,)``, entry ``j`` for segment ``j + 1``; NaN (``converged``
        False) for segments absent from the map.
    """
    labels = np.asarray(segments)
    if core:
        labels = segment_core(labels)
    curves = robust_segment_curves(concentration, labels, clip=clip)  # (T, 16)
    present = np.all(np.isfinite(curves), axis=0)
    if not np.any(present):
        raise ValueError("segments holds no AHA segment (1-16)")
    fit = fit_fermi(
        curves[:, present],
        aif,
        frame_times,
        average_delay=average_delay,
        **options,  # type: ignore[arg-type]
    )
    fields = {}
    for name in ("flow", "mbf", "tau0", "k", "delay", "residual"):
        full = np.full(N_SEGMENTS, np.nan)
        full[present] = getattr(fit, name)
        fields[name] = full
    converged = np.zeros(N_SEGMENTS, dtype=bool)
    converged[present] = fit.converged
    return FermiFit(**fields, converged=converged, n_frames=fit.n_frames)


def fit_pixels(
    concentration: ArrayLike,
    mask: ArrayLike,
    aif: ArrayLike,
    frame_times: ArrayLike,
    *,
    delay: ArrayLike | None = None,
    **options: object,
) -> FermiFit:
    """Fermi fit of every pixel of a mask (e.g. the myocardium of a slice): maps.

    Parameters
    ----------
    concentration
        ``(T, X, Y)`` tissue concentration (any trailing spatial shape).
    mask
        Bool mask of the spatial shape; only its pixels are fitted (and must be finite).
    aif, frame_times
        See :func:`fit_fermi`.
    delay
        A map of the spatial shape (or a scalar): each pixel is fitted at this delay instead of
        searching one (:func:`fit_fermi`'s ``delay``), e.g. its segment's delay from
        :func:`fit_segments`. A single pixel's curve (SNR about 10 at the peak in the demo)
        cannot pin its own delay, and the flow follows the delay.
    **options
        Passed to :func:`fit_fermi`.

    Returns
    -------
    FermiFit
        Maps of the spatial shape; 0 (``converged`` False) outside the mask, as
        :func:`qmrflow.fitting.to_map` leaves them.
    """
    values = np.asarray(concentration, dtype=float)
    selected = np.asarray(mask, dtype=bool)
    if values.ndim < 2 or selected.shape != values.shape[1:]:
        raise ValueError(f"mask shape {selected.shape} differs from concentration's grid")
    if delay is not None:
        delay_map = np.broadcast_to(np.asarray(delay, dtype=float), selected.shape)
        options = {**options, "delay": delay_map[selected]}
    fit = fit_fermi(values[:, selected], aif, frame_times, **options)  # type: ignore[arg-type]
    maps = {
        name: to_map(getattr(fit, name), selected)
        for name in ("flow", "mbf", "tau0", "k", "delay", "residual")
    }
    return FermiFit(**maps, converged=to_map(fit.converged, selected, bool), n_frames=fit.n_frames)
