"""Full-reference image quality: PSNR, SSIM and NRMSE of an image against a reference.

Thin, checked wrappers around :mod:`skimage.metrics` with one convention for every study:

* ``data_range`` defaults to the reference's range (max - min inside the mask), so a metric does
  not depend on the image being judged;
* a ``mask`` restricts PSNR and NRMSE to the voxels inside it and averages the SSIM map over
  them (the SSIM map itself is computed on the whole image, as SSIM needs neighbourhoods; unlike
  skimage's mean, no border is cropped, so that a mask means the same voxels for every metric);
* NRMSE is ``RMSE / RMS(reference)`` (skimage's ``"euclidean"`` normalisation).

2-D images and 3-D volumes are accepted; SSIM of a 3-D volume with a thin last axis (a stack of
slices) is computed per slice (``axis=-1`` as channels) so that the 7-pixel window never spans
slices that are far apart.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from skimage.metrics import mean_squared_error, structural_similarity

__all__ = ["nrmse", "psnr", "ssim"]


def _prepare(
    image: ArrayLike, reference: ArrayLike, mask: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(image, dtype=float)
    ref = np.asarray(reference, dtype=float)
    if x.shape != ref.shape:
        raise ValueError(f"image and reference differ in shape: {x.shape} and {ref.shape}")
    if x.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D or 3-D, got shape {x.shape}")
    inside = np.ones(x.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if inside.shape != x.shape:
        raise ValueError(f"mask shape {inside.shape} differs from the image shape {x.shape}")
    if not inside.any():
        raise ValueError("mask is empty")
    for name, array in (("image", x), ("reference", ref)):
        if not np.all(np.isfinite(array[inside])):
            raise ValueError(f"{name} has non-finite values inside the mask")
    return x, ref, inside


def _range(ref: np.ndarray, inside: np.ndarray, data_range: float | None) -> float:
    value = float(np.ptp(ref[inside])) if data_range is None else float(data_range)
    if not value > 0:
        raise ValueError(f"data_range must be positive (reference is constant?), got {value}")
    return value


def psnr(
    image: ArrayLike,
    reference: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range² / MSE)`` over the mask.

    Raises
    ------
    ValueError
        Shapes differ, not 2-D/3-D, empty mask, non-finite values, or a zero data range.
    """
    x, ref, inside = _prepare(image, reference, mask)
    value_range = _range(ref, inside, data_range)
    mse = mean_squared_error(ref[inside], x[inside])
    return float("inf") if mse == 0 else float(10.0 * np.log10(value_range**2 / mse))


def nrmse(image: ArrayLike, reference: ArrayLike, *, mask: ArrayLike | None = None) -> float:
    """``sqrt(mean((image - reference)²)) / sqrt(mean(reference²))`` over the mask."""
    x, ref, inside = _prepare(image, reference, mask)
    denominator = float(np.sqrt(np.mean(ref[inside] ** 2)))
    if denominator == 0:
        raise ValueError("reference is zero inside the mask: NRMSE is undefined")
    return float(np.sqrt(mean_squared_error(ref[inside], x[inside])) / denominator)


def ssim(
    image: ArrayLike,
    reference: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    data_range: float | None = None,
) -> float:
    """Mean structural similarity (Wang et al. 2004, 7x7 window) over the mask."""
    x, ref, inside = _prepare(image, reference, mask)
    value_range = _range(ref, inside, data_range)
    channel_axis = -1 if x.ndim == 3 else None
    _, full = structural_similarity(
        ref, x, data_range=value_range, channel_axis=channel_axis, full=True
    )
    return float(np.mean(full[inside]))
