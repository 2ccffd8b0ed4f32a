"""Noise of magnitude images: level, background mask, background sigma and the Rician mean.

Quantitative maps are fitted to magnitude images, whose noise is Rician (Rayleigh where there
is no signal; Gudbjartsson & Patz 1995, Magn Reson Med 34:910-914). This module estimates the
noise and models its bias, for any voxelwise fit:

* :func:`image_noise_level`: a noise standard deviation from the finest in-plane detail
  (Immerkaer's estimator, robust form), usable without a background;
* :func:`background_mask`: the foreground of a multi-volume acquisition, thresholded above a
  fraction of the robust maximum and above the noise level, cleaned slice by slice;
* :func:`estimate_noise_sigma`: the complex-noise sigma from the Rayleigh background outside a
  mask;
* :func:`rician_mean`: the mean of a Rician magnitude and its derivative, to fit in place of the
  noiseless model (removes the noise-floor bias at low signal-to-noise).

Arrays are ``(x, y[, z, ...])``: the first two axes are the image plane (multi-slice 2D
acquisitions are cleaned and dilated in-plane only).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage, special

__all__ = [
    "background_mask",
    "estimate_noise_sigma",
    "image_noise_level",
    "in_plane_structure",
    "rician_mean",
]

NOISE_GUARD = 6.0
""":func:`background_mask` thresholds at least this many noise sigmas."""
MIN_BACKGROUND_VALUES = 1000
""":func:`estimate_noise_sigma` needs at least this many non-zero background values."""


def in_plane_structure(ndim: int) -> np.ndarray:
    """4-connected in-plane (x, y) structuring element for an ``ndim``-dimensional array."""
    return ndimage.generate_binary_structure(2, 1).reshape((3, 3) + (1,) * (ndim - 2))


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


def background_mask(images: ArrayLike, threshold: float = 0.05) -> np.ndarray:
    """Foreground mask of multi-volume magnitude images (volumes on the last axis).

    A voxel is foreground when its largest signal over the volumes exceeds ``threshold`` times
    a robust maximum (the 99th percentile of that largest signal over all voxels), and also
    ``6 σ̂`` with ``σ̂`` the image noise level (:func:`image_noise_level`): at routine SNR
    (~50) the largest of 8 Rayleigh-distributed background values often exceeds 5 % of the
    tissue signal, and the noise guard keeps the background out (the largest of 8 pure-noise
    values exceeds 4 σ in ~0.3 % of voxels). The mask is then cleaned slice by slice (in-plane
    4-connectivity): a binary opening removes isolated voxels and holes are filled.

    Parameters
    ----------
    images
        ``(x, y[, z], V)`` magnitude images (``V`` may be 1).
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
        level = max(level, NOISE_GUARD * image_noise_level(data))
    mask = peak > level
    if mask.ndim >= 2:
        structure = in_plane_structure(mask.ndim)
        mask = ndimage.binary_opening(mask, structure=structure)
        mask = ndimage.binary_fill_holes(mask, structure=structure)
    return mask


def estimate_noise_sigma(images: ArrayLike, mask: ArrayLike, *, margin: int = 3) -> float | None:
    """Noise σ of magnitude images from their background (Rayleigh-distributed there).

    Uses the voxels farther than ``margin`` voxels (in-plane) from the mask, all volumes,
    ignoring exact zeros (zero-filled regions): ``σ = median / sqrt(2 ln 2)``, the median of a
    Rayleigh distribution being ``σ sqrt(2 ln 2)``.

    Parameters
    ----------
    images
        ``(x, y[, z], V)`` magnitude images.
    mask
        Foreground of the spatial shape ``images.shape[:-1]`` (e.g. :func:`background_mask`).
    margin
        In-plane dilation of the mask (voxels) before the background is taken.

    Returns
    -------
    float or None
        ``None`` when fewer than 1000 non-zero background values exist.
    """
    data = np.asarray(images, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim >= 2 and margin > 0:
        mask = ndimage.binary_dilation(
            mask, structure=in_plane_structure(mask.ndim), iterations=margin
        )
    values = data[~mask].ravel()
    values = values[values > 0]
    if values.size < MIN_BACKGROUND_VALUES:
        return None
    return float(np.median(values) / np.sqrt(2.0 * np.log(2.0)))


def rician_mean(nu: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a Rician magnitude with true signal ``nu`` and noise ``sigma``, and d/dnu.

    ``E = σ sqrt(π/2) L_{1/2}(-ν²/2σ²)`` (Gudbjartsson & Patz 1995), written with the
    exponentially scaled Bessel functions to stay finite at high SNR: with ``z = ν²/4σ²``,
    ``E = σ sqrt(π/2) [(1 + 2z) I0e(z) + 2z I1e(z)]`` and ``dE/dν = sqrt(π/2) ν (I0e + I1e)/2σ``.

    Parameters
    ----------
    nu
        Noiseless magnitude (any shape).
    sigma
        Noise standard deviation of the complex data (same units), > 0.

    Returns
    -------
    mean, slope : numpy.ndarray
        ``E[|ν + noise|]`` and its derivative with respect to ``ν`` (shape of ``nu``).
    """
    z = nu**2 / (4.0 * sigma**2)
    i0, i1 = special.i0e(z), special.i1e(z)
    k = np.sqrt(np.pi / 2.0)
    return sigma * k * ((1.0 + 2.0 * z) * i0 + 2.0 * z * i1), k * nu * (i0 + i1) / (2.0 * sigma)
