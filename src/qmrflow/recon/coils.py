"""Coil sensitivities estimated from the data of a radial series (Walsh's adaptive combine).

A real-time radial series carries its own calibration: the frames' spokes together (the
interleaved turns, or many golden-angle frames) sample k-space close to fully. So

1. the k-space of each trajectory group is averaged over its frames and all groups are gridded
   together (density-compensated adjoint NUFFT on the union of their spokes,
   :func:`time_averaged_images`), with a Hann window over the central ``window`` Cartesian
   samples: smooth low-resolution coil images ``I_c`` without Gibbs ringing;
2. the sensitivities are Walsh's adaptive-combine weights (Walsh, Gmitro and Marcellin, MRM
   2000): per pixel ``r`` the dominant eigenvector of the locally smoothed coil covariance
   ``R(r) = sum_{r' near r} I(r') I(r')^H`` (``C x C``), all pixels at once with
   :func:`numpy.linalg.eigh` (:func:`walsh_sensitivities`);
3. each pixel's free phase is fixed against one global reference direction (the dominant
   eigenvector of the covariance summed over the body), so the maps' phase is smooth (as in
   Inati et al.'s adaptive combine, MRM 2014);
4. a body mask from the low-resolution root-sum-of-squares image (threshold, holes filled,
   dilated a few pixels) zeroes the maps outside the body (:func:`body_mask`).

Why Walsh rather than the simpler normalised coil images ``I_c / sqrt(sum |I_c|^2)``: both give
the same maps where the low-resolution images are clean, but the eigenvector of the *locally
averaged* covariance is the noise-optimal combination under local stationarity and degrades
gracefully at low signal (edges, signal voids), where the ratio of two noisy images does not; on
a 96 x 96 matrix with 8 coils it costs a few milliseconds.

Maps are normalised so that ``sum_c |S_c|^2 = 1`` inside the mask and are 0 outside: SENSE then
returns 0 (its regularisation target) outside the body instead of amplified noise, and a
gridding combination ``sum conj(S) x / sum |S|^2`` is 0 there. The mask is dilated so that the
edge of the body, blurred outwards by the low resolution, stays inside it. The image ``x`` that
goes with these maps carries the object's phase plus the reference phase; its magnitude is the
object's (the maps' magnitude is the coils').
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from qmrflow.recon.fourier import BatchedNufft, radial_dcf

__all__ = [
    "CoilMaps",
    "body_mask",
    "estimate_coil_maps",
    "hann_window",
    "time_averaged_images",
    "walsh_sensitivities",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoilMaps:
    """Coil sensitivities estimated from a series (:func:`estimate_coil_maps`).

    Attributes
    ----------
    maps
        complex64 ``(C, X, Y)``: ``sum_c |S_c|^2 = 1`` inside ``mask``, 0 outside.
    mask
        bool ``(X, Y)``: the body (support) mask.
    lowres
        float32 ``(X, Y)``: root-sum-of-squares of the low-resolution coil images.
    """

    maps: np.ndarray
    mask: np.ndarray
    lowres: np.ndarray


def hann_window(trajectory: np.ndarray, matrix: Sequence[int], width: float) -> np.ndarray:
    """Radial Hann window over the central ``width`` Cartesian samples of k-space.

    With ``m = k N / (2 pi)`` the Cartesian index of a sample (per axis, ``N`` the matrix) and
    ``rho = |m| / (width / 2)``, the window is ``cos^2(pi rho / 2)`` for ``rho < 1``, else 0.

    Returns
    -------
    numpy.ndarray
        float32 of ``trajectory.shape[:-1]``.
    """
    nx, ny = (int(m) for m in matrix)
    if not float(width) > 0:
        raise ValueError(f"window width must be positive, got {width}")
    half = 0.5 * float(width)
    mx = trajectory[..., 0] * nx / (2 * np.pi)
    my = trajectory[..., 1] * ny / (2 * np.pi)
    rho = np.sqrt(mx**2 + my**2) / half
    return np.where(rho < 1, np.cos(0.5 * np.pi * np.minimum(rho, 1)) ** 2, 0.0).astype(np.float32)


def time_averaged_images(
    kspace: np.ndarray,
    operator: BatchedNufft,
    *,
    density: np.ndarray | None = None,
    window: float | None = None,
) -> np.ndarray:
    """Coil images of the whole series: all frames' spokes gridded together.

    The samples of each trajectory group are averaged over its frames, then the ``G`` group
    trajectories are treated as one acquisition and gridded (density-compensated adjoint NUFFT).
    Motion blurs the result, which is harmless for the smooth coil profiles.

    Parameters
    ----------
    kspace
        ``(T, C, M)`` samples (``M = prod(operator.sample_shape)``).
    operator
        The series' :class:`~qmrflow.recon.fourier.BatchedNufft`.
    density
        Density compensation of the union of the groups' samples, ``(G, M)``; None: the radial
        ramp (:func:`~qmrflow.recon.fourier.radial_dcf`) of all groups' spokes together.
    window
        Hann window width in Cartesian samples (:func:`hann_window`); None: full resolution.

    Returns
    -------
    numpy.ndarray
        complex64 ``(C, X, Y)``.
    """
    n_groups = operator.n_groups
    union_traj = operator.group_trajectories  # (G, *sample_shape, 2)
    if density is None:
        if len(operator.sample_shape) != 2:
            raise ValueError("the radial density needs spokes: kspace (T, C, S, N)")
        spokes = union_traj.reshape(1, -1, operator.sample_shape[-1], 2)
        density = radial_dcf(spokes, operator.matrix).reshape(n_groups, -1)
    weights = np.asarray(density, dtype=np.float32).reshape(n_groups, -1)
    if window is not None:
        weights = weights * hann_window(union_traj, operator.matrix, window).reshape(n_groups, -1)
    averaged = operator.group_average(kspace)  # (G, C, M)
    union = BatchedNufft(
        union_traj.reshape(1, -1, 2), operator.matrix, eps=operator.eps, threads=operator.threads
    )
    data = (averaged * weights[:, None, :]).transpose(1, 0, 2).reshape(1, averaged.shape[1], -1)
    return union.adjoint(data)[0]


def walsh_sensitivities(
    coil_images: np.ndarray, *, kernel: int = 5, mask: np.ndarray | None = None
) -> np.ndarray:
    """Walsh's adaptive-combine sensitivities of coil images ``(C, X, Y)``.

    Per pixel the dominant eigenvector of ``R = box_kernel * (I I^H)`` (a ``kernel`` x
    ``kernel`` moving average of the coil covariance), unit norm, with its phase fixed so that
    ``u^H S(r)`` is real and positive for the global reference ``u`` (the dominant eigenvector
    of ``R`` summed over ``mask``, or over the image).

    Returns
    -------
    numpy.ndarray
        complex64 ``(C, X, Y)``, ``sum_c |S_c|^2 = 1`` at every pixel.
    """
    images = np.asarray(coil_images, dtype=np.complex64)
    if images.ndim != 3:
        raise ValueError(f"coil images must be (C, X, Y), got {images.shape}")
    cov = images[:, None] * np.conj(images[None])  # (C, C, X, Y): R_ij = I_i conj(I_j)
    if kernel > 1:
        size = (1, 1, int(kernel), int(kernel))
        cov = ndimage.uniform_filter(cov.real, size, mode="nearest") + 1j * ndimage.uniform_filter(
            cov.imag, size, mode="nearest"
        )
    pixels = np.ascontiguousarray(cov.transpose(2, 3, 0, 1))  # (X, Y, C, C), Hermitian
    _, vectors = np.linalg.eigh(pixels)
    dominant = vectors[..., -1]  # (X, Y, C), unit norm, arbitrary phase per pixel
    region = np.ones(images.shape[1:], bool) if mask is None or not mask.any() else mask
    _, global_vectors = np.linalg.eigh(pixels[region].sum(axis=0))
    reference = global_vectors[:, -1]
    projection = dominant @ np.conj(reference)  # u^H v per pixel
    phase = np.exp(-1j * np.angle(projection))
    return np.ascontiguousarray((dominant * phase[..., None]).transpose(2, 0, 1), np.complex64)


def body_mask(rss: np.ndarray, *, threshold: float = 0.1, dilation: int = 3) -> np.ndarray:
    """Support of the object from a smooth magnitude image (low-resolution RSS).

    Pixels above ``threshold`` times the 99th percentile, enclosed holes filled (lungs, signal
    voids inside the body), dilated by ``dilation`` pixels. ``threshold <= 0``: everything.
    """
    rss = np.asarray(rss)
    if threshold <= 0:
        return np.ones(rss.shape, bool)
    mask = rss > float(threshold) * np.percentile(rss, 99)
    mask = ndimage.binary_fill_holes(mask)
    if dilation > 0:
        square = ndimage.generate_binary_structure(2, 2)  # 3 x 3: diagonals grow too
        mask = ndimage.binary_dilation(mask, structure=square, iterations=int(dilation))
    return mask


def estimate_coil_maps(
    kspace: np.ndarray,
    trajectory: np.ndarray | None = None,
    matrix: Sequence[int] | None = None,
    *,
    operator: BatchedNufft | None = None,
    density: np.ndarray | None = None,
    window: float = 24,
    kernel: int = 5,
    threshold: float = 0.1,
    dilation: int = 3,
) -> CoilMaps:
    """Coil sensitivities and body mask of a radial series, from its own data.

    Parameters
    ----------
    kspace
        ``(T, C, S, N)`` (or ``(T, C, M)``) complex samples.
    trajectory, matrix
        ``(T, S, N, 2)`` radians per pixel and the image matrix ``(X, Y)``; or ``operator``.
    operator
        A :class:`~qmrflow.recon.fourier.BatchedNufft` of the series (reused, not rebuilt).
    density
        Density compensation of the union of the groups' samples (see
        :func:`time_averaged_images`); None: the radial ramp.
    window
        Width of the Hann-windowed k-space centre, in Cartesian samples (24: a nominal
        resolution of 4 pixels at 96 x 96, about 6 after the Hann taper; far finer than coil
        profiles, coarse enough to stay clear of the undersampled periphery and of noise).
    kernel
        Side of Walsh's covariance smoothing box, pixels.
    threshold, dilation
        Body mask (:func:`body_mask`).

    Returns
    -------
    CoilMaps
    """
    started = time.perf_counter()
    if operator is None:
        if trajectory is None or matrix is None:
            raise ValueError("estimate_coil_maps needs trajectory and matrix, or operator")
        operator = BatchedNufft(trajectory, matrix)
    kspace = np.asarray(kspace)
    data = kspace.reshape(kspace.shape[0], kspace.shape[1], -1)
    if data.shape[0] != operator.n_frames or data.shape[2] != operator.n_samples:
        raise ValueError(
            f"kspace {kspace.shape} does not match the trajectory: {operator.n_frames} frames of "
            f"{operator.n_samples} samples"
        )
    lowres = time_averaged_images(data, operator, density=density, window=window)
    rss = np.sqrt(np.sum(np.abs(lowres) ** 2, axis=0)).astype(np.float32)
    mask = body_mask(rss, threshold=threshold, dilation=dilation)
    maps = walsh_sensitivities(lowres, kernel=kernel, mask=mask) * mask
    log.info(
        "coil maps: %d coils, %d trajectory groups, mask %.0f%% of the image, %.3f s",
        maps.shape[0],
        operator.n_groups,
        100 * mask.mean(),
        time.perf_counter() - started,
    )
    return CoilMaps(maps=maps.astype(np.complex64), mask=mask, lowres=rss)
