"""Reconstruction of a real-time multi-coil radial series: the entry point of the workflow.

:func:`reconstruct_series` takes what the raw-data reader gives (``kspace (T, C, S, N)``,
``trajectory (T, S, N, 2)`` in radians per pixel, the matrix ``(X, Y)``) and returns one
magnitude image per frame:

1. one :class:`~qmrflow.recon.fourier.BatchedNufft` for the series (frames grouped by
   trajectory, FINUFFT plans kept);
2. radial density weights per frame (:func:`~qmrflow.recon.fourier.radial_dcf`);
3. coil sensitivities and body mask from the time-averaged data
   (:func:`~qmrflow.recon.coils.estimate_coil_maps`), unless given;
4. ``method="gridding"``: :func:`~qmrflow.recon.gridding.grid_frames`;
   ``method="sense"``: :func:`~qmrflow.recon.sense.sense_frames`, the first frame's prior being
   the time-averaged (all spokes) gridding image.

Image units and orientation: the transforms are orthonormal and the density weights are in
Cartesian cells, so for data ``y = A S x`` (as :func:`qmrflow.simulate.kspace.nufft_forward` of
coil images ``S x``) both methods return ``|x|``: the units are those of the forward model,
the same for every frame and independent of the number of spokes, the readout oversampling
and the matrix; nothing is normalised per frame or per series. Image axis 0 (``X``) runs along
trajectory component 0 (``kx``), axis 1 (``Y``) along ``ky``, pixel ``X // 2, Y // 2`` at the
centre of the field of view, exactly as in the simulator.

Device (``device``): by default (``"auto"``) SENSE's frame-by-frame CG runs on a GPU when one
is present (torch, the normal operators by Toeplitz embedding: :mod:`qmrflow.recon.toeplitz`),
else on the CPU (numpy and FINUFFT, FINUFFT's threads via ``threads``). The per-frame cost is a
few small NUFFTs, which one CPU core does faster than real time for the demo protocol
(``benchmarks/radial_recon.py``). Coil estimation, the right-hand sides and gridding stay on the
CPU with FINUFFT (batched over frames, they are a small part of the time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qmrflow.recon.coils import estimate_coil_maps, time_averaged_images
from qmrflow.recon.fourier import BatchedNufft, _matrix, radial_dcf
from qmrflow.recon.gridding import combine_coils, grid_frames
from qmrflow.recon.sense import sense_frames
from qmrflow.recon.toeplitz import resolve_device

__all__ = ["ReconResult", "reconstruct_series"]

log = logging.getLogger(__name__)

Method = Literal["sense", "gridding"]


@dataclass
class ReconResult:
    """Reconstructed series (:func:`reconstruct_series`).

    Attributes
    ----------
    frames
        float32 ``(T, X, Y)``: magnitude images, in the units of the forward model.
    images
        complex64 ``(T, X, Y)`` (the phase includes the coil maps' reference phase), or None
        unless asked for.
    sensitivities
        complex64 ``(C, X, Y)``: the coil maps used.
    mask
        bool ``(X, Y)``: the body mask (where the maps are non-zero).
    method
        ``"sense"`` or ``"gridding"``.
    seconds
        Wall time of the whole reconstruction (coil estimation included).
    frames_per_second
        ``T / seconds``.
    timings
        Seconds per stage: ``operator`` (trajectory grouping), ``density``, ``coils``,
        ``frames`` (all frames); for SENSE also, within ``frames``, ``prior`` (time-averaged
        image), ``rhs`` (batched right-hand sides) and ``cg`` (the frame-by-frame solves).
    device
        Where SENSE's CG ran: ``"cpu"`` (numpy and FINUFFT) or ``"torch:<device>"`` (e.g.
        ``"torch:cuda"``).
    """

    frames: np.ndarray
    images: np.ndarray | None
    sensitivities: np.ndarray
    mask: np.ndarray
    method: str
    seconds: float
    frames_per_second: float
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"

    def realtime_factor(self, frame_duration: float) -> float:
        """Acquisition time over processing time (``>= 1``: faster than real time)."""
        return len(self.frames) * float(frame_duration) / self.seconds


def _check_inputs(
    kspace: np.ndarray, trajectory: np.ndarray, matrix: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Validated ``(kspace (T, C, S, N) complex64, trajectory float32, matrix)``."""
    shape = _matrix(matrix)
    kspace = np.asarray(kspace)
    trajectory = np.asarray(trajectory)
    if kspace.ndim != 4:
        raise ValueError(
            f"kspace must be (frames, coils, spokes, samples), got shape {kspace.shape}"
        )
    if trajectory.shape != (kspace.shape[0], *kspace.shape[2:], 2):
        raise ValueError(
            f"trajectory must be (frames, spokes, samples, 2) = "
            f"{(kspace.shape[0], *kspace.shape[2:], 2)} to match kspace {kspace.shape}, "
            f"got {trajectory.shape}"
        )
    if not np.iscomplexobj(kspace):
        raise ValueError(f"kspace must be complex, got {kspace.dtype}")
    if not np.all(np.isfinite(kspace)):
        raise ValueError("kspace contains NaN or infinite values")
    if not np.all(np.isfinite(trajectory)):
        raise ValueError("trajectory contains NaN or infinite values")
    return kspace.astype(np.complex64, copy=False), trajectory.astype(np.float32), shape


def reconstruct_series(
    kspace: np.ndarray,
    trajectory: np.ndarray,
    matrix: Sequence[int],
    *,
    method: Method = "sense",
    coils: np.ndarray | None = None,
    density: np.ndarray | None = None,
    iterations: int = 6,
    lam: float = 0.3,
    lam0: float = 0.01,
    first_frame_damping: float = 0.5,
    weighting: bool = False,
    warm_start: bool = True,
    coil_window: float = 24,
    mask_threshold: float = 0.1,
    eps: float = 1e-4,
    threads: int | None = 1,
    device: str | None = "auto",
    return_complex: bool = False,
) -> ReconResult:
    """Reconstruct every frame of a real-time multi-coil radial series.

    Parameters
    ----------
    kspace
        complex ``(T, C, S, N)``: frames, coils, spokes per frame, samples per spoke.
    trajectory
        ``(T, S, N, 2)`` radians per pixel in ``[-pi, pi]``, ``(kx, ky)``.
    matrix
        Image matrix ``(X, Y)`` (``X`` along ``kx``).
    method
        ``"sense"`` (temporally regularised CG-SENSE, :mod:`qmrflow.recon.sense`) or
        ``"gridding"`` (density-compensated adjoint, coil-combined).
    coils
        ``(C, X, Y)`` sensitivities; None: estimated from the data
        (:func:`~qmrflow.recon.coils.estimate_coil_maps`).
    density
        ``(T, S, N)`` density weights; None: the radial ramp of each frame's spokes
        (:func:`~qmrflow.recon.fourier.radial_dcf`).
    iterations, lam, lam0, first_frame_damping, weighting, warm_start
        SENSE settings (:func:`~qmrflow.recon.sense.sense_frames`). Defaults, from the
        benchmark's moving object at the demo protocol (``benchmarks/radial_recon.py``): 6 CG
        iterations per frame (warm-started, within 1 % of the converged image; the error does
        not fall further), ``lam = 0.3`` (the lowest error over the whole image and the moving
        heart together, between 0.1 at low noise and 1 at high noise), ``lam0 = 0.01``, the
        data term unweighted (lower error than density weighting at the same speed).
    coil_window, mask_threshold
        Coil estimation: Hann window width (Cartesian samples) and body-mask threshold.
    eps, threads
        FINUFFT precision and threads (default 1; None: all cores; see
        :class:`~qmrflow.recon.fourier.BatchedNufft` on why not all by default).
    device
        SENSE's CG: ``"auto"`` (a GPU when present, else the CPU), ``"cpu"`` or None (numpy and
        FINUFFT), or a torch device (``"cuda"``; ``"torch-cpu"``: the torch path on the CPU);
        see :func:`qmrflow.recon.toeplitz.resolve_device`.
    return_complex
        Keep the complex images in the result.

    Returns
    -------
    ReconResult

    Raises
    ------
    ValueError
        On inconsistent shapes, a matrix that is not 2-D, NaN or infinite values, a trajectory
        outside ``[-pi, pi]`` or an unknown method.
    """
    if method not in ("sense", "gridding"):
        raise ValueError(f"unknown method {method!r}: 'sense' or 'gridding'")
    started = time.perf_counter()
    kspace, trajectory, shape = _check_inputs(kspace, trajectory, matrix)
    n_frames, n_coils = kspace.shape[:2]
    data = kspace.reshape(n_frames, n_coils, -1)
    timings: dict[str, float] = {}
    cg_device = resolve_device(device) if method == "sense" else None

    clock = time.perf_counter()
    operator = BatchedNufft(trajectory, shape, eps=eps, threads=threads)
    timings["operator"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if density is None:
        # Frames of a group share their weights: compute once per group.
        per_group = radial_dcf(operator.group_trajectories, shape).reshape(operator.n_groups, -1)
        weights = per_group[operator.groups]
        union_density = None
    else:
        density = np.asarray(density, dtype=np.float32)
        if density.shape != trajectory.shape[:-1]:
            raise ValueError(f"density must be {trajectory.shape[:-1]}, got {density.shape}")
        weights = density.reshape(n_frames, -1)
        # The union of the groups: each group's weights shared among the groups.
        union_density = np.stack([weights[f[0]] for f in operator.group_frames]) / operator.n_groups
    timings["density"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if coils is None:
        estimate = estimate_coil_maps(
            data,
            operator=operator,
            density=union_density,
            window=coil_window,
            threshold=mask_threshold,
        )
        maps, mask = estimate.maps, estimate.mask
    else:
        maps = np.asarray(coils).astype(np.complex64)
        if maps.shape != (n_coils, *shape):
            raise ValueError(f"coils must be {(n_coils, *shape)}, got {maps.shape}")
        mask = np.sum(np.abs(maps) ** 2, axis=0) > 1e-6
    timings["coils"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if method == "gridding":
        images = grid_frames(data, operator, maps, density=weights)
    else:
        average = time_averaged_images(data, operator, density=union_density)
        prior = combine_coils(average, maps)
        timings["prior"] = time.perf_counter() - clock
        images = sense_frames(
            data,
            operator,
            maps,
            density=weights,
            iterations=iterations,
            lam=lam,
            lam0=lam0,
            first_frame_damping=first_frame_damping,
            prior=prior,
            weighting=weighting,
            warm_start=warm_start,
            timings=timings,
            device=cg_device,
        )
    timings["frames"] = time.perf_counter() - clock
    seconds = time.perf_counter() - started
    log.info(
        "%s (%s): %d frames of %d coils, %d x %d, in %.2f s (%.1f frames/s; coils %.2f s)",
        method,
        cg_device or "cpu",
        n_frames,
        n_coils,
        *shape,
        seconds,
        n_frames / seconds,
        timings["coils"],
    )
    return ReconResult(
        frames=np.abs(images).astype(np.float32),
        images=images if return_complex else None,
        sensitivities=maps,
        mask=mask,
        method=method,
        seconds=seconds,
        frames_per_second=n_frames / seconds,
        timings=timings,
        device="cpu" if cg_device is None else f"torch:{cg_device}",
    )
