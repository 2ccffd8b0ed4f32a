"""Multi-coil k-space sampling with noise: coil maps, Cartesian masks, radial NUFFT, noise.

The forward model of every simulated acquisition: an image (complex, ``(..., X, Y[, Z])``) is
weighted by coil sensitivities, Fourier transformed, sampled on a Cartesian mask or a
non-Cartesian trajectory, and given complex Gaussian noise.

Conventions
-----------
- Fourier transforms are *centred* and *orthonormal*: :func:`fftc` is
  ``fftshift(fftn(ifftshift(x), norm="ortho"))``, so k-space index ``N // 2`` is DC and a
  fully sampled transform keeps the noise SD and the image norm.
- Non-Cartesian coordinates are in radians per pixel, in ``[-pi, pi)`` (``pi``: the Nyquist
  edge), last axis ``(kx, ky[, kz])``. :func:`nufft_forward` on the Cartesian grid
  ``2 pi (m - N // 2) / N`` equals :func:`fftc`. The NUFFT is FINUFFT (Barnett et al., SIAM
  J Sci Comput 2019), a maintained library, imported only when called.
- The operators (:func:`fftc`, :func:`ifftc`, :func:`nufft_forward`, :func:`nufft_adjoint`,
  :func:`radial_density`) are defined in :mod:`qmrflow.recon.fourier`, shared with the
  reconstruction, and re-exported here; an image ``(X, Y)`` has ``X`` along ``kx``.
- Noise is complex Gaussian with SD ``sigma`` in each of the real and imaginary channels,
  drawn as ``sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))`` (real
  channel first). With orthonormal transforms the image-domain noise of a fully sampled
  single-coil scan has the same SD, so ``sigma = signal / snr`` (:func:`sigma_for_snr`).
"""

from __future__ import annotations

import math

import numpy as np

# The Fourier operators are shared with reconstruction and live there once; re-exported here.
from qmrflow.recon.fourier import fftc, ifftc, nufft_adjoint, nufft_forward, radial_density

__all__ = [
    "GOLDEN_ANGLE",
    "cartesian_mask",
    "coil_sensitivities",
    "complex_noise",
    "fftc",
    "ifftc",
    "nufft_adjoint",
    "nufft_forward",
    "radial_density",
    "radial_trajectory",
    "sample_cartesian",
    "sample_noncartesian",
    "sigma_for_snr",
]

GOLDEN_ANGLE: float = math.pi * (math.sqrt(5.0) - 1.0) / 2.0
"""Golden angle of radial MRI between successive full spokes: 180 deg / golden ratio,
about 111.25 deg (Winkelmann et al., IEEE TMI 2007), in radians."""


def complex_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Complex Gaussian noise, SD ``sigma`` per real/imaginary channel (real drawn first)."""
    return sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


def sigma_for_snr(signal: float, snr: float) -> float:
    """Noise SD per channel giving ``snr`` for a reference ``signal`` (0 when snr is inf).

    With the orthonormal transforms here the image-domain noise of a fully sampled
    single-coil image has the k-space SD, so this SD applies in either domain.
    """
    snr = float(snr)
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    return 0.0 if math.isinf(snr) else float(signal) / snr


def coil_sensitivities(
    shape: tuple[int, ...],
    n_coils: int,
    *,
    radius: float = 1.5,
    width: float = 1.0,
    phase_cycles: float = 1.0,
) -> np.ndarray:
    """Smooth birdcage-like receive sensitivities, normalised to a root-sum-of-squares of 1.

    The coils sit evenly on a circle of ``radius`` (in units of the half field of view) around
    the first two spatial axes; each coil's magnitude falls off as a Gaussian of its distance
    (``width``, same units); its phase is the coil's azimuth plus a linear ramp towards the
    coil of ``phase_cycles`` quarter turns per half field of view, as for the loop elements of
    a head or torso array. Further axes (3D) are
    treated alike (the profile does not vary along them).

    Parameters
    ----------
    shape
        Spatial shape ``(X, Y[, Z])``.
    n_coils
        Number of coil elements (>= 1).
    radius, width
        Ring radius and Gaussian fall-off, in half fields of view.
    phase_cycles
        Quarter turns of the phase ramp per half field of view (0: constant phase per coil).

    Returns
    -------
    numpy.ndarray
        complex128 ``(n_coils, *shape)``; ``sqrt(sum |S_c|^2) == 1`` everywhere. For 3D shapes
        a read-only broadcast along the further axes (``.copy()`` it to write).
    """
    if int(n_coils) < 1 or len(shape) < 2:
        raise ValueError(f"need n_coils >= 1 and a 2D or 3D shape, got {n_coils}, {shape}")
    n_coils = int(n_coils)
    x = np.linspace(-1.0, 1.0, shape[0])[:, None]
    y = np.linspace(-1.0, 1.0, shape[1])[None, :]
    angles = 2.0 * np.pi * np.arange(n_coils) / n_coils
    cx = (radius * np.cos(angles))[:, None, None]
    cy = (radius * np.sin(angles))[:, None, None]
    distance2 = (x[None] - cx) ** 2 + (y[None] - cy) ** 2
    magnitude = np.exp(-0.5 * distance2 / width**2)
    # Phase: the coil's azimuth plus a gentle ramp across the field of view towards the coil.
    toward = x[None] * np.cos(angles)[:, None, None] + y[None] * np.sin(angles)[:, None, None]
    phase = angles[:, None, None] + phase_cycles * np.pi / 2 * toward
    maps = magnitude * np.exp(1j * phase)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    extra = shape[2:]
    return np.broadcast_to(maps.reshape(*maps.shape, *([1] * len(extra))), (n_coils, *shape))


def cartesian_mask(
    shape: tuple[int, int],
    acceleration: float,
    *,
    center_fraction: float = 0.08,
    pattern: str = "random",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Phase-encoding line mask (lines along axis 0, phase encoding along axis 1).

    A fully sampled central band of ``round(center_fraction * ny)`` lines (at least 1) around
    DC (index ``ny // 2``, as for :func:`fftc`), plus outer lines up to ``ny / acceleration``
    in all: drawn at random without replacement (``pattern="random"``, needs ``rng``) or every
    ``acceleration``-th line (``"equispaced"``).

    Returns
    -------
    numpy.ndarray
        bool ``shape``, constant along axis 0.
    """
    nx, ny = int(shape[0]), int(shape[1])
    if not float(acceleration) >= 1.0:
        raise ValueError(f"acceleration must be >= 1, got {acceleration}")
    n_lines = max(1, round(ny / float(acceleration)))
    n_center = min(n_lines, max(1, round(float(center_fraction) * ny)))
    lines = np.zeros(ny, dtype=bool)
    start = ny // 2 - n_center // 2
    lines[start : start + n_center] = True
    outer = np.flatnonzero(~lines)
    n_outer = n_lines - n_center
    if n_outer > 0:
        if pattern == "random":
            if rng is None:
                raise ValueError("a random Cartesian mask needs rng")
            lines[rng.choice(outer, size=n_outer, replace=False)] = True
        elif pattern == "equispaced":
            step = max(1, len(outer) // n_outer)
            lines[outer[::step][:n_outer]] = True
        else:
            raise ValueError(f"unknown mask pattern {pattern!r}: random or equispaced")
    return np.broadcast_to(lines[None, :], (nx, ny)).copy()


def _coil_images(image: np.ndarray, coils: np.ndarray | None) -> np.ndarray:
    """``(C, *image.shape)`` coil images; one uniform coil when ``coils`` is None."""
    image = np.asarray(image)
    if coils is None:
        return image[None].astype(np.complex128)
    coils = np.asarray(coils)
    if coils.shape[1:] != image.shape:
        raise ValueError(f"coil maps {coils.shape} do not match the image {image.shape}")
    return coils * image[None]


def sample_cartesian(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    coils: np.ndarray | None = None,
    sigma: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Multi-coil Cartesian k-space of a 2D ``image`` on ``mask``, with noise.

    Parameters
    ----------
    image
        Complex or real image ``(X, Y)``.
    mask
        bool ``(X, Y)``: acquired samples (:func:`cartesian_mask`); True everywhere for a fully
        sampled scan.
    coils
        Sensitivities ``(C, X, Y)`` (:func:`coil_sensitivities`); None: one uniform coil.
    sigma
        Noise SD per channel on every acquired sample.
    rng
        Noise generator (needed when ``sigma > 0``).

    Returns
    -------
    numpy.ndarray
        complex128 ``(C, X, Y)``, zero where not acquired.
    """
    weighted = _coil_images(image, coils)
    kspace = fftc(weighted, axes=(-2, -1))
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), kspace.shape)
    if sigma > 0:
        if rng is None:
            raise ValueError("noise needs rng")
        kspace = kspace + complex_noise(kspace.shape, sigma, rng)
    return np.where(mask, kspace, 0.0)


def radial_trajectory(
    n_spokes: int,
    n_readout: int,
    *,
    angle_increment: float = GOLDEN_ANGLE,
    first_angle: float = 0.0,
) -> np.ndarray:
    """2D radial k-space trajectory (golden-angle by default), radians per pixel.

    Spoke ``s`` runs through the centre at angle ``first_angle + s * angle_increment``;
    its ``n_readout`` samples sit at ``2 pi (m - n_readout // 2) / n_readout``, as one line of
    a Cartesian grid of ``n_readout`` pixels (so DC is sampled once per spoke).

    Returns
    -------
    numpy.ndarray
        float64 ``(n_spokes, n_readout, 2)``: ``(kx, ky)`` in ``[-pi, pi)``.
    """
    if int(n_spokes) < 1 or int(n_readout) < 2:
        raise ValueError(f"need n_spokes >= 1 and n_readout >= 2, got {n_spokes}, {n_readout}")
    radius = 2.0 * np.pi * (np.arange(int(n_readout)) - int(n_readout) // 2) / int(n_readout)
    angles = float(first_angle) + float(angle_increment) * np.arange(int(n_spokes))
    direction = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return radius[None, :, None] * direction[:, None, :]


def sample_noncartesian(
    image: np.ndarray,
    trajectory: np.ndarray,
    *,
    coils: np.ndarray | None = None,
    sigma: float = 0.0,
    rng: np.random.Generator | None = None,
    eps: float = 1e-7,
) -> np.ndarray:
    """Multi-coil non-Cartesian k-space (e.g. golden-angle radial) of an image, with noise.

    Parameters
    ----------
    image
        Complex or real image ``(X, Y[, Z])``.
    trajectory
        k-space points ``(..., d)`` (:func:`radial_trajectory`).
    coils
        Sensitivities ``(C, *image.shape)``; None: one uniform coil.
    sigma
        Noise SD per channel on every sample.
    rng
        Noise generator (needed when ``sigma > 0``).

    Returns
    -------
    numpy.ndarray
        complex128 ``(C, *trajectory.shape[:-1])``.
    """
    weighted = _coil_images(image, coils)
    data = nufft_forward(weighted, trajectory, eps=eps)
    if sigma > 0:
        if rng is None:
            raise ValueError("noise needs rng")
        data = data + complex_noise(data.shape, sigma, rng)
    return data
