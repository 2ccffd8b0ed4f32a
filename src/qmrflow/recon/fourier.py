"""Fourier operators of MRI: centred FFTs, the NUFFT, a batched multi-frame NUFFT, radial DCF.

The forward model of a (multi-coil) acquisition and its adjoint live here once; the simulator
(:mod:`qmrflow.simulate.kspace`) imports and re-exports them.

Conventions
-----------
- Fourier transforms are *centred* and *orthonormal*: :func:`fftc` is
  ``fftshift(fftn(ifftshift(x), norm="ortho"))``, so k-space index ``N // 2`` is DC and a
  fully sampled transform keeps the noise SD and the image norm.
- Non-Cartesian coordinates are in radians per pixel, in ``[-pi, pi)`` (``pi``: the Nyquist
  edge), last axis ``(kx, ky[, kz])``. An image ``(..., X, Y)`` has ``X`` along trajectory
  component 0 (``kx``) and ``Y`` along component 1 (``ky``); with the centred pixel index
  ``n = (i_x - X // 2, i_y - Y // 2)`` the forward (type-2) transform of ``P = X Y`` pixels is

  .. math:: y_j = P^{-1/2} \\sum_n x_n \\, e^{-i k_j \\cdot n},

  so :func:`nufft_forward` on the Cartesian grid ``2 pi (m - N // 2) / N`` equals :func:`fftc`,
  and the adjoint (type 1) is ``(A^H y)_n = P^{-1/2} sum_j y_j exp(+i k_j . n)``. The NUFFT is
  FINUFFT (Barnett, Magland and af Klinteberg, SIAM J Sci Comput 2019), imported only when
  called.
- :class:`BatchedNufft` is the operator of a whole real-time series (frames x coils): frames
  that share a trajectory (e.g. the interleaved "turns" of Uecker's radial FLASH) are transformed
  together by one FINUFFT plan with ``n_trans = frames x coils``; plans are kept between calls.
- Density compensation (:func:`radial_dcf`) is in units of Cartesian cells, so
  ``A^H W A x`` approximates ``x`` on the sampled part of k-space and a density-compensated
  adjoint (gridding) returns images in the units of the forward model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "BatchedNufft",
    "fftc",
    "ifftc",
    "nufft_adjoint",
    "nufft_forward",
    "radial_dcf",
    "radial_density",
]

log = logging.getLogger(__name__)


def fftc(image: np.ndarray, axes: Sequence[int] = (-2, -1)) -> np.ndarray:
    """Centred orthonormal FFT over ``axes`` (image -> k-space)."""
    axes = tuple(axes)
    shifted = np.fft.ifftshift(image, axes=axes)
    return np.fft.fftshift(np.fft.fftn(shifted, axes=axes, norm="ortho"), axes=axes)


def ifftc(kspace: np.ndarray, axes: Sequence[int] = (-2, -1)) -> np.ndarray:
    """Centred orthonormal inverse FFT over ``axes`` (k-space -> image)."""
    axes = tuple(axes)
    shifted = np.fft.ifftshift(kspace, axes=axes)
    return np.fft.fftshift(np.fft.ifftn(shifted, axes=axes, norm="ortho"), axes=axes)


def radial_density(trajectory: np.ndarray, n_pixels: int) -> np.ndarray:
    """Density-compensation weights of a 2D radial trajectory (Cartesian cells per sample).

    A sample at radius ``r`` of ``n_spokes`` spokes represents an annulus sector of area
    ``pi r dk / n_spokes`` (``dk = 2 pi / n_pixels``); the centre sample ``pi dk^2 / 4``
    shared by all spokes. Divided by the Cartesian cell ``dk^2`` this is the ramp filter in
    the units where a Cartesian sample weighs 1, so ``nufft_adjoint(w * nufft_forward(x))``
    approximates ``x``. Analytic for radial sampling with evenly spread spokes and a readout
    spacing of one Cartesian cell; :func:`radial_dcf` takes any spoke angles, readout spacing
    and matrix.

    Returns
    -------
    numpy.ndarray
        float64 of ``trajectory.shape[:-1]``.
    """
    n_spokes = trajectory.shape[0]
    dk = 2.0 * np.pi / int(n_pixels)
    radius = np.linalg.norm(trajectory, axis=-1)
    area = np.where(radius > 0.5 * dk, np.pi * radius * dk / n_spokes, np.pi * dk**2 / 4 / n_spokes)
    return area / dk**2


def radial_dcf(trajectory: np.ndarray, matrix: Sequence[int]) -> np.ndarray:
    """Analytic ramp density compensation of 2D radial spokes, any angles, in Cartesian cells.

    Each spoke (a line through the k-space centre, samples along axis -2) is split into two
    half-spokes, at the angle ``theta`` of its outermost sample and at ``theta + pi``. A sample
    at signed radius ``rho`` stands for the annulus sector between ``|rho| -+ drho / 2``
    (``drho``: the local sample spacing along the spoke, central differences) and half-way to
    the neighbouring half-spokes on either side (angular width ``dtheta``, from the sorted
    angles of all half-spokes of the frame), of area ``|rho| drho dtheta``. That is the ramp
    filter ``|k|`` (Jackson et al., IEEE TMI 1991) for evenly spread spokes, and stays right for
    uneven ones (golden-angle frames, a few interleaved turns). The sample at (or within
    ``drho / 2`` of) DC gets the small disc of radius ``drho / 2`` shared by the spokes,
    ``(drho / 2)^2 (dtheta_+ + dtheta_-) / 2``: a small positive weight, so the mean image
    intensity is kept but the many DC samples do not dominate. The area is divided by the
    Cartesian cell ``(2 pi / X)(2 pi / Y)``, so ``A^H W A ~ I`` where k-space is sampled and
    2x readout oversampling (``drho`` half a cell) is accounted for.

    Why analytic rather than iterative (Pipe and Menon, MRM 1999): for radial sampling the
    geometry gives the Voronoi areas in closed form, at no cost and without the iterative
    method's dependence on its kernel and iterations; trajectories that are not radial need
    weights passed in by the caller.

    Parameters
    ----------
    trajectory
        ``(..., S, N, 2)`` radians per pixel: ``S`` spokes of ``N`` samples per frame; leading
        axes (frames) are independent.
    matrix
        Image matrix ``(X, Y)``.

    Returns
    -------
    numpy.ndarray
        float32 ``(..., S, N)``, non-negative.

    Raises
    ------
    ValueError
        If the trajectory is not made of straight spokes through the centre.
    """
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim < 3 or traj.shape[-1] != 2 or traj.shape[-2] < 2:
        raise ValueError(
            f"radial_dcf needs a (..., spokes, samples, 2) trajectory, got {traj.shape}"
        )
    nx, ny = _matrix(matrix)
    radius = np.linalg.norm(traj, axis=-1)  # (..., S, N)
    outer = np.take_along_axis(traj, radius.argmax(axis=-1)[..., None, None], axis=-2)[..., 0, :]
    norm = np.linalg.norm(outer, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("radial_dcf: a spoke has all its samples at the k-space centre")
    direction = outer / norm  # (..., S, 2)
    rho = np.einsum("...snd,...sd->...sn", traj, direction)  # signed radius along the spoke
    normal = np.stack([-direction[..., 1], direction[..., 0]], axis=-1)
    off_line = np.abs(np.einsum("...snd,...sd->...sn", traj, normal))
    if off_line.max() > 1e-3 * np.pi:
        raise ValueError(
            "radial_dcf: the trajectory is not radial (samples off the line through the centre "
            f"by up to {off_line.max():.3g} rad/pixel); pass density weights instead"
        )
    drho = np.abs(np.gradient(rho, axis=-1))
    # Angular widths of the 2S half-spokes: half the gaps to the neighbours on the circle.
    theta = np.arctan2(direction[..., 1], direction[..., 0])  # (..., S)
    halves = np.mod(np.concatenate([theta, theta + np.pi], axis=-1), 2 * np.pi)  # (..., 2S)
    order = np.argsort(halves, axis=-1)
    ordered = np.take_along_axis(halves, order, axis=-1)
    gap_next = np.diff(ordered, axis=-1, append=ordered[..., :1] + 2 * np.pi)
    gap_prev = np.roll(gap_next, 1, axis=-1)
    widths = np.empty_like(halves)
    np.put_along_axis(widths, order, 0.5 * (gap_next + gap_prev), axis=-1)
    n_spokes = theta.shape[-1]
    width_pos, width_neg = widths[..., :n_spokes, None], widths[..., n_spokes:, None]
    dtheta = np.where(rho >= 0, width_pos, width_neg)
    centre = np.abs(rho) < 0.5 * drho
    area = np.where(
        centre, (0.5 * drho) ** 2 * 0.5 * (width_pos + width_neg), np.abs(rho) * drho * dtheta
    )
    cell = (2 * np.pi / nx) * (2 * np.pi / ny)
    return (area / cell).astype(np.float32)


def _matrix(matrix: Sequence[int]) -> tuple[int, int]:
    """``(X, Y)`` as two positive ints, or ValueError."""
    try:
        shape = tuple(int(m) for m in matrix)
    except TypeError as error:
        raise ValueError(f"matrix must be a 2-D shape (X, Y), got {matrix!r}") from error
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"matrix must be a 2-D shape (X, Y) of positive sizes, got {matrix!r}")
    return shape[0], shape[1]


def _finufft():
    import finufft  # imported here: only non-Cartesian simulations and recons need it

    return finufft


def nufft_forward(image: np.ndarray, trajectory: np.ndarray, *, eps: float = 1e-7) -> np.ndarray:
    """Orthonormally scaled type-2 NUFFT: ``sum_x image[..., x] exp(-i k . x) / sqrt(N)``.

    Parameters
    ----------
    image
        Complex ``(..., X, Y)`` or ``(..., X, Y, Z)``; ``trajectory.shape[-1]`` gives the
        number of spatial axes, leading axes (coils, frames) are transformed together.
    trajectory
        k-space points ``(..., d)`` in radians per pixel (pixel index centred at ``N // 2``).
    eps
        FINUFFT relative precision.

    Returns
    -------
    numpy.ndarray
        complex128 ``(*image.shape[:-d], *trajectory.shape[:-1])``.
    """
    finufft = _finufft()
    d = trajectory.shape[-1]
    spatial = image.shape[-d:]
    lead = image.shape[:-d]
    points = [np.ascontiguousarray(trajectory[..., i].ravel(), dtype=np.float64) for i in range(d)]
    f = np.ascontiguousarray(np.reshape(image, (-1, *spatial)), dtype=np.complex128)
    if d == 2:
        c = finufft.nufft2d2(*points, f, eps=eps, isign=-1)
    elif d == 3:
        c = finufft.nufft3d2(*points, f, eps=eps, isign=-1)
    else:
        raise ValueError(f"nufft_forward supports 2D and 3D trajectories, got d={d}")
    return (c / math.sqrt(math.prod(spatial))).reshape(*lead, *trajectory.shape[:-1])


def nufft_adjoint(
    data: np.ndarray,
    trajectory: np.ndarray,
    shape: tuple[int, ...],
    *,
    weights: np.ndarray | None = None,
    eps: float = 1e-7,
) -> np.ndarray:
    """Adjoint of :func:`nufft_forward` (type-1 NUFFT), optionally density-compensated.

    Parameters
    ----------
    data
        Samples ``(..., *trajectory.shape[:-1])``.
    trajectory
        k-space points ``(..., d)``, radians per pixel.
    shape
        Image shape ``(X, Y[, Z])``.
    weights
        Density compensation (e.g. :func:`radial_density`), multiplied into ``data`` first.

    Returns
    -------
    numpy.ndarray
        complex128 ``(..., *shape)``.
    """
    finufft = _finufft()
    d = trajectory.shape[-1]
    if len(shape) != d:
        raise ValueError(f"image shape {shape} does not match a {d}D trajectory")
    n_points = math.prod(trajectory.shape[:-1])
    lead = data.shape[: data.ndim - (trajectory.ndim - 1)]
    values = data if weights is None else data * weights
    c = np.ascontiguousarray(np.reshape(values, (-1, n_points)), dtype=np.complex128)
    points = [np.ascontiguousarray(trajectory[..., i].ravel(), dtype=np.float64) for i in range(d)]
    modes = tuple(int(s) for s in shape)
    if d == 2:
        f = finufft.nufft2d1(*points, c, modes, eps=eps, isign=1)
    elif d == 3:
        f = finufft.nufft3d1(*points, c, modes, eps=eps, isign=1)
    else:
        raise ValueError(f"nufft_adjoint supports 2D and 3D trajectories, got d={d}")
    return (f / math.sqrt(math.prod(modes))).reshape(*lead, *modes)


def _group_rows(rows: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Groups of equal rows (to ``tol``): ``(first row of each group, group of each row)``.

    Rows are quantised to integers and hashed by an integer dot product with fixed random
    weights (exact, wrapping int64 arithmetic), the hashes grouped by :func:`numpy.unique` and
    the groups checked row by row; a hash collision falls back to ``unique(axis=0)`` (which is
    slow for long rows: it compares them as structured records).
    """
    values = np.ascontiguousarray(rows, dtype=np.float64)
    # tol > 0: quantised; tol == 0: the exact float64 bit patterns.
    keys = np.round(values / tol).astype(np.int64) if tol > 0 else values.view(np.int64)
    weights = np.random.default_rng(0).integers(1, 2**31, size=keys.shape[1], dtype=np.int64)
    with np.errstate(over="ignore"):
        hashes = (keys * weights).sum(axis=1)
    _, first, groups = np.unique(hashes, return_index=True, return_inverse=True)
    if not np.array_equal(keys, keys[first[groups]]):
        _, first, groups = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first, groups.ravel()


class BatchedNufft:
    """Orthonormal 2D NUFFT of a multi-frame, multi-coil series, batched by trajectory group.

    Frame ``t`` is sampled on its own trajectory ``k_t``; frames whose trajectories are equal
    (to ``group_tol`` rad/pixel) form a *group* and go through one FINUFFT call with
    ``n_trans = frames x coils`` (FINUFFT spreads and FFTs the batch together). The five
    interleaved turns of Uecker's real-time radial FLASH give five groups; a golden-angle series
    one group per frame. FINUFFT plans are created once per (type, ``n_trans``) and kept; a call
    on another group only resets the points (``setpts``, tens of microseconds), so memory does
    not grow with the number of groups.

    The transforms are those of :func:`nufft_forward` and :func:`nufft_adjoint` (same scaling
    and orientation: image axis 0 along ``kx``), in single precision: ``eps`` ~1e-4 is below the
    noise of any MR acquisition and lets FINUFFT pick its low upsampling (1.25), half the FFT
    size of 2x.

    Parameters
    ----------
    trajectory
        ``(T, *sample_shape, 2)`` radians per pixel in ``[-pi, pi]`` (e.g. ``(T, S, N, 2)``:
        frames, spokes, samples per spoke).
    matrix
        Image matrix ``(X, Y)``.
    eps
        FINUFFT relative precision (>= 1e-6 in single precision).
    threads
        FINUFFT threads (None: FINUFFT's default, all cores). Default 1: a frame's transforms
        are small, and OpenMP threads that spin-wait on small transforms slow down by an order
        of magnitude when other jobs hold the cores (measured: 2.4 s instead of 0.15 s for a
        small test series while another process ran); pass the job's cores when it has them.
    group_tol
        Frames whose trajectories differ by less than this (rad/pixel, after rounding to
        multiples of it) share a group; 0: only bitwise equal trajectories.

    Attributes
    ----------
    groups
        int ``(T,)``: each frame's group.
    group_frames
        Frame indices of each group.
    group_trajectories
        float32 ``(G, *sample_shape, 2)``: each group's trajectory.
    """

    def __init__(
        self,
        trajectory: np.ndarray,
        matrix: Sequence[int],
        *,
        eps: float = 1e-4,
        threads: int | None = 1,
        group_tol: float = 1e-6,
    ) -> None:
        traj = np.asarray(trajectory)
        if traj.ndim < 3 or traj.shape[-1] != 2:
            raise ValueError(
                f"trajectory must be (frames, ..., 2) with (kx, ky) last, got shape {traj.shape}"
            )
        if not np.all(np.isfinite(traj)):
            raise ValueError("trajectory contains NaN or infinite values")
        if np.abs(traj).max() > np.pi * (1 + 1e-4):
            raise ValueError(
                f"trajectory must be in radians per pixel in [-pi, pi], got up to "
                f"{np.abs(traj).max():.4g}"
            )
        if not float(eps) >= 1e-6:
            raise ValueError(f"eps must be >= 1e-6 in single precision, got {eps}")
        self.matrix = _matrix(matrix)
        self.sample_shape: tuple[int, ...] = traj.shape[1:-1]
        self.n_frames = traj.shape[0]
        self.n_samples = math.prod(self.sample_shape)
        self.eps = float(eps)
        self.threads = threads
        first, groups = _group_rows(traj.reshape(self.n_frames, -1), float(group_tol))
        # Number groups in order of first appearance (frame 0 is group 0).
        order = np.argsort(first)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        self.groups = rank[groups.ravel()]
        self.group_frames = [np.flatnonzero(self.groups == g) for g in range(len(order))]
        self.group_trajectories = traj[first[order]].astype(np.float32)
        self._points = [
            (
                np.ascontiguousarray(g.reshape(-1, 2)[:, 0], dtype=np.float32),
                np.ascontiguousarray(g.reshape(-1, 2)[:, 1], dtype=np.float32),
            )
            for g in self.group_trajectories
        ]
        self._scale = np.float32(1.0 / math.sqrt(self.matrix[0] * self.matrix[1]))
        self._plans: dict[tuple[int, int], list[Any]] = {}
        log.debug(
            "BatchedNufft: %d frames in %d trajectory groups, %d samples per frame, matrix %s",
            self.n_frames,
            self.n_groups,
            self.n_samples,
            self.matrix,
        )

    @property
    def n_groups(self) -> int:
        """Number of distinct trajectories."""
        return len(self.group_frames)

    def _plan(self, kind: int, n_trans: int, group: int) -> Any:
        """The FINUFFT plan of ``kind`` (1 or 2) for ``n_trans`` transforms, set to ``group``."""
        key = (kind, n_trans)
        entry = self._plans.get(key)
        if entry is None:
            if len(self._plans) >= 16:  # bound the kept plans (their fine grids hold memory)
                self._plans.pop(next(iter(self._plans)))
            finufft = _finufft()
            options: dict[str, Any] = {} if self.threads is None else {"nthreads": self.threads}
            plan = finufft.Plan(
                kind,
                self.matrix,
                n_trans=n_trans,
                eps=self.eps,
                isign=1 if kind == 1 else -1,
                dtype="complex64",
                **options,
            )
            entry = self._plans[key] = [plan, None]
        if entry[1] != group:
            entry[0].setpts(*self._points[group])
            entry[1] = group
        return entry[0]

    def _frames(self, frames: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if frames is None:
            return np.arange(self.n_frames)
        frames = np.atleast_1d(np.asarray(frames, dtype=np.intp))
        outside = frames.size and (frames.min() < 0 or frames.max() >= self.n_frames)
        if frames.ndim != 1 or outside:
            raise ValueError(f"frame indices must be in [0, {self.n_frames}), got {frames}")
        return frames

    def _by_group(self, frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``(group, positions in frames)`` for each group present in ``frames``."""
        groups = self.groups[frames]
        if groups.size and np.all(groups == groups[0]):
            return [(int(groups[0]), np.arange(len(frames)))]
        return [(int(g), np.flatnonzero(groups == g)) for g in np.unique(groups)]

    def forward(
        self, images: np.ndarray, frames: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """Type-2 NUFFT: images ``(F, C, X, Y)`` -> samples ``(F, C, M)``, ``M`` samples per frame.

        ``frames`` (length ``F``) says which frame each image belongs to (default: all ``T``).
        """
        frames = self._frames(frames)
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[0] != len(frames) or images.shape[2:] != self.matrix:
            raise ValueError(
                f"images must be (frames={len(frames)}, coils, {self.matrix[0]}, "
                f"{self.matrix[1]}), got {images.shape}"
            )
        n_coils = images.shape[1]
        out = np.empty((len(frames), n_coils, self.n_samples), dtype=np.complex64)
        for group, where in self._by_group(frames):
            block = np.ascontiguousarray(images[where], dtype=np.complex64)
            block = block.reshape(-1, *self.matrix)
            plan = self._plan(2, block.shape[0], group)
            result = plan.execute(block).reshape(len(where), n_coils, self.n_samples)
            out[where] = result * self._scale
        return out

    def adjoint(
        self,
        data: np.ndarray,
        frames: Sequence[int] | np.ndarray | None = None,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Type-1 NUFFT: samples ``(F, C, M)`` -> images ``(F, C, X, Y)``.

        ``weights`` (``(F, M)`` or broadcastable to ``data``, e.g. density compensation) are
        multiplied into the samples first.
        """
        frames = self._frames(frames)
        data = np.asarray(data)
        if data.ndim != 3 or data.shape[0] != len(frames) or data.shape[2] != self.n_samples:
            raise ValueError(
                f"data must be (frames={len(frames)}, coils, samples={self.n_samples}), "
                f"got {data.shape}"
            )
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float32)
            if weights.ndim == 2:
                weights = weights[:, None, :]
            data = data * weights
        n_coils = data.shape[1]
        out = np.empty((len(frames), n_coils, *self.matrix), dtype=np.complex64)
        for group, where in self._by_group(frames):
            block = np.ascontiguousarray(data[where], dtype=np.complex64)
            block = block.reshape(-1, self.n_samples)
            plan = self._plan(1, block.shape[0], group)
            result = plan.execute(block).reshape(len(where), n_coils, *self.matrix)
            out[where] = result * self._scale
        return out

    def normal(
        self, images: np.ndarray, frame: int, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """``A_t^H W A_t`` of one frame's coil images ``(C, X, Y)`` (``weights``: ``(M,)``).

        The inner operation of iterative reconstruction: one type-2 and one type-1 call with
        ``n_trans = C``, no per-call grouping or validation.
        """
        group = int(self.groups[frame])
        n_coils = images.shape[0]
        samples = self._plan(2, n_coils, group).execute(np.ascontiguousarray(images))
        if weights is not None:
            samples *= weights
        result = self._plan(1, n_coils, group).execute(samples)
        result *= self._scale * self._scale
        return result

    def group_average(self, data: np.ndarray) -> np.ndarray:
        """Mean of ``data`` ``(T, ...)`` over the frames of each group: ``(G, ...)``."""
        data = np.asarray(data)
        return np.stack([data[frames].mean(axis=0) for frames in self.group_frames])
