"""Smooth random fields: Gaussian-filtered white noise, unit variance or scaled to a range.

Simulators use them for everything that varies smoothly in space: B1 and receive-bias fields,
fat-fraction textures, warps of an anatomy. Two filters, because they serve different needs:

- :func:`periodic_field` low-passes in the Fourier domain (a periodic field: it tiles without
  seams, so a texture can be read at any offset, and anisotropic widths are free);
- :func:`smooth_noise` uses :func:`scipy.ndimage.gaussian_filter` (any number of axes, any
  boundary mode; channels independent).

:func:`scale_to_range` maps a field linearly onto ``[low, high]``, and :func:`smooth_field` does
both steps at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["periodic_field", "scale_to_range", "smooth_field", "smooth_noise"]


def periodic_field(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    sigma: float | tuple[float, float],
) -> np.ndarray:
    """Unit-variance periodic Gaussian random field over the last two axes, float32.

    White noise (float32, drawn with ``rng.standard_normal(shape, dtype=float32)``) is
    low-pass filtered in the Fourier domain with a Gaussian of ``sigma`` pixels (one value, or
    one per axis); leading axes are independent fields. The result is divided by its overall
    standard deviation.

    Parameters
    ----------
    rng
        Random generator.
    shape
        Field shape, at least two axes.
    sigma
        Gaussian width (pixels) along the last two axes.

    Returns
    -------
    numpy.ndarray
        float32 of ``shape``.
    """
    if len(shape) < 2:
        raise ValueError(f"periodic_field needs at least two axes, got shape {shape}")
    s0, s1 = (sigma, sigma) if np.isscalar(sigma) else sigma
    noise = rng.standard_normal(shape, dtype=np.float32)
    k0 = np.fft.fftfreq(shape[-2])[:, None]
    k1 = np.fft.rfftfreq(shape[-1])[None, :]
    transfer = np.exp(-2.0 * np.pi**2 * ((s0 * k0) ** 2 + (s1 * k1) ** 2))
    f = np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=shape[-2:])
    return (f / max(float(f.std()), 1e-6)).astype(np.float32)


def smooth_noise(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    sigma: float | Sequence[float],
    *,
    channel_axes: int = 0,
    mode: str = "wrap",
) -> np.ndarray:
    """Gaussian-filtered white noise with unit SD per channel, float64.

    Parameters
    ----------
    rng
        Random generator (``rng.standard_normal(shape)`` is the noise).
    shape
        Field shape: ``channel_axes`` leading channel axes, then the spatial axes.
    sigma
        Gaussian width in pixels: one value for every spatial axis or one per spatial axis.
    channel_axes
        Number of leading axes holding independent fields (not filtered, normalised apart).
    mode
        Boundary mode of :func:`scipy.ndimage.gaussian_filter` (``"wrap"``: periodic).

    Returns
    -------
    numpy.ndarray
        float64 of ``shape``; each channel has mean about 0 and SD exactly 1.
    """
    n_spatial = len(shape) - channel_axes
    if n_spatial < 1:
        raise ValueError(f"shape {shape} has no spatial axes after {channel_axes} channel axes")
    widths = [float(sigma)] * n_spatial if np.isscalar(sigma) else [float(s) for s in sigma]
    if len(widths) != n_spatial:
        raise ValueError(f"{len(widths)} sigmas for {n_spatial} spatial axes")
    noise = rng.standard_normal(shape)
    field = ndimage.gaussian_filter(noise, sigma=(0,) * channel_axes + tuple(widths), mode=mode)
    spatial = tuple(range(channel_axes, len(shape)))
    field /= np.maximum(field.std(axis=spatial, keepdims=True), 1e-12)
    return field


def scale_to_range(field: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``field`` linearly so that its minimum is ``low`` and its maximum ``high``.

    A constant field maps to the middle of the range.
    """
    lo, hi = float(np.min(field)), float(np.max(field))
    if hi - lo <= 0:
        return np.full_like(field, 0.5 * (low + high), dtype=float)
    return low + (high - low) * (field - lo) / (hi - lo)


def smooth_field(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    sigma: float | Sequence[float],
    value_range: tuple[float, float] = (0.0, 1.0),
    *,
    mode: str = "reflect",
) -> np.ndarray:
    """A smooth random field spanning ``value_range`` exactly (e.g. B1 0.8-1.2, bias, fat).

    :func:`smooth_noise` over every axis of ``shape``, then :func:`scale_to_range`.
    """
    noise = smooth_noise(rng, shape, sigma, channel_axes=0, mode=mode)
    return scale_to_range(noise, *value_range)
