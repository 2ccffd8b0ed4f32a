"""The total field from multi-echo complex images: Laplacian unwrapping and a weighted linear fit.

The phase of echo ``e`` is ``phi_e = phi_0 + 2 pi gamma B0 f TE_e`` with the relative field
``f`` (ppm, times 1e-6) and a phase offset ``phi_0`` (the transceive phase; close to zero
everywhere after a Hermitian-inner-product coil combination that references echo 1, any smooth
map otherwise). The steps:

1. a first field estimate from the phase difference of the first two echoes, unwrapped, is
   taken out of every echo (its phase wraps far less than a late echo's), then each echo's
   residual phase is unwrapped with :func:`.unwrap.laplacian_unwrap` (inside the brain mask
   when one is given, so that the random phase of air does not spread into the brain). Each
   echo comes back up to a constant and, with a mask, a harmonic function; both are linear in
   the true phase and hence linear in TE, so they end up in the fitted intercept and in a
   harmonic part of the field, which background-field removal takes out;
2. per voxel a weighted least-squares line ``phi_e = a + b TE_e`` with weights ``|S_e|^2`` (the
   inverse phase-noise variance: the phase of a signal ``S`` in complex noise of SD ``sigma``
   has SD ``sigma / |S|``), in closed form (the normal equations of a line), vectorised over the
   volume (Wu et al., MRM 2012, and the multi-echo fits of MEDI, Liu et al., MRM 2013, are of
   this kind; the intercept is free, as in Robinson et al., NMR Biomed 2017, so that an
   unknown phase offset costs no bias);
3. the field is ``f = b / (2 pi gamma B0)`` and its standard error
   ``sigma_f = sigma sqrt(W / Delta) / (2 pi gamma B0)`` with ``W = sum w``,
   ``Delta = W sum w TE^2 - (sum w TE)^2``; the complex noise SD ``sigma`` is estimated once for
   the volume: from the fit residuals with three or more echoes (median of the per-voxel
   weighted residual sum over the mask, divided by the chi-square median of ``E - 2`` degrees of
   freedom: robust to the few voxels with unwrapping errors, which still raise their own
   residual), from the first echo's second differences (median absolute deviation) with two.

No maintained Python QSM library fits our numpy-2 stack (QSMxT pins numpy 1.24 and runs its
algorithms outside Python), so the fit is written here as closed-form numpy and checked against
synthetic multi-echo data in the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from qmrflow.studies.qsm.dipole import GAMMA_HZ_PER_T
from qmrflow.studies.qsm.unwrap import laplacian_unwrap

__all__ = ["FieldFit", "field_to_phase", "fit_field", "phase_scale"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldFit:
    """The fitted total field of a multi-echo acquisition.

    Attributes
    ----------
    field_ppm
        Total relative field ``delta_B / B0`` (ppm), ``(X, Y, Z)`` float32; defined up to a
        constant (and, with a mask, a harmonic function inside it); 0 outside the mask.
    noise_ppm
        Standard error of ``field_ppm`` (ppm), ``(X, Y, Z)`` float32, for weighting; 0 outside
        the mask.
    offset_rad
        The fitted phase intercept at ``TE = 0`` (rad), ``(X, Y, Z)`` float32; 0 outside the mask.
    sigma
        The estimated complex noise SD, in the units of the images' magnitude.
    """

    field_ppm: np.ndarray
    noise_ppm: np.ndarray
    offset_rad: np.ndarray
    sigma: float


def phase_scale(b0_tesla: float, echo_times: ArrayLike) -> np.ndarray:
    """Phase (rad) per ppm of field at each echo time: ``2 pi gamma B0 1e-6 TE``."""
    te = np.asarray(echo_times, dtype=float)
    return 2.0 * np.pi * GAMMA_HZ_PER_T * float(b0_tesla) * 1e-6 * te


def field_to_phase(
    field_ppm: ArrayLike, b0_tesla: float, echo_times: ArrayLike, offset_rad: ArrayLike = 0.0
) -> np.ndarray:
    """The (unwrapped) phase ``(E, X, Y, Z)`` of a field ``(X, Y, Z)`` at each echo time."""
    scale = phase_scale(b0_tesla, echo_times).reshape(-1, 1, 1, 1)
    return np.asarray(offset_rad, dtype=float) + scale * np.asarray(field_ppm, dtype=float)


def _check_inputs(
    images: np.ndarray, echo_times: np.ndarray, b0_tesla: float, mask: np.ndarray | None
) -> None:
    if images.ndim != 4:
        raise ValueError(f"images must be (E, X, Y, Z), got shape {images.shape}")
    if images.shape[0] < 2:
        raise ValueError(f"need at least two echoes, got {images.shape[0]}")
    if echo_times.shape != (images.shape[0],):
        raise ValueError(f"{echo_times.size} echo times for {images.shape[0]} echoes")
    if not (np.all(echo_times > 0) and np.all(np.diff(echo_times) > 0)):
        raise ValueError(f"echo times must be positive and increasing, got {echo_times}")
    if not b0_tesla > 0:
        raise ValueError(f"b0_tesla must be positive, got {b0_tesla}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images have non-finite values")
    if mask is not None and mask.shape != images.shape[1:]:
        raise ValueError(f"mask shape {mask.shape} differs from the images' {images.shape[1:]}")


def _sigma_from_differences(image: np.ndarray, inside: np.ndarray) -> float:
    """Complex noise SD from second differences along x (MAD; ``var(d2) = 6 sigma^2``)."""
    d2 = image[2:] - 2.0 * image[1:-1] + image[:-2]
    keep = inside[2:] & inside[1:-1] & inside[:-2]
    values = np.concatenate([d2.real[keep], d2.imag[keep]]) if keep.any() else np.zeros(1)
    return float(np.median(np.abs(values)) / stats.norm.ppf(0.75) / np.sqrt(6.0))


def fit_field(
    images: np.ndarray,
    echo_times: ArrayLike,
    b0_tesla: float,
    mask: np.ndarray | None = None,
    voxel_mm: Sequence[float] = (1.0, 1.0, 1.0),
) -> FieldFit:
    """Fit the total field (ppm) and its standard error to multi-echo complex images.

    Parameters
    ----------
    images
        Complex images ``(E, X, Y, Z)`` (e.g. coil-combined), at least two echoes.
    echo_times
        Echo times (s), strictly increasing, one per echo.
    b0_tesla
        Main field (T).
    mask
        Optional boolean brain mask ``(X, Y, Z)``: the phase is unwrapped inside it, the noise is
        estimated over it and the outputs are zero outside it. Without a mask the whole volume is
        unwrapped and fitted.
    voxel_mm
        Voxel size (mm), for the unwrapping's Laplacian.

    Returns
    -------
    FieldFit
        Field, its standard error and the phase intercept (float32 ``(X, Y, Z)``) and the noise
        SD; see the module docstring for the method.

    Raises
    ------
    ValueError
        Not ``(E, X, Y, Z)``, fewer than two echoes, echo times that do not match or do not
        increase, a non-positive field, non-finite images or a mask of another shape.
    """
    z = np.asarray(images)
    te = np.asarray(echo_times, dtype=float).ravel()
    inside = None if mask is None else np.asarray(mask, dtype=bool)
    _check_inputs(z, te, b0_tesla, inside)
    n_echoes = z.shape[0]

    # Demodulate by a first field estimate from the first echo spacing, whose phase wraps far
    # less than the later echoes' (a background gradient of 0.2 ppm per voxel near the sinuses
    # turns by 3.4 rad per voxel at 19 ms at 3 T, beyond what any spatial unwrapping can
    # resolve, but by 1.2 rad over a 7 ms spacing): the residual phases are then smooth. This
    # is the temporal-difference start of MEDI's complex fit (Liu et al., MRM 2013).
    first = laplacian_unwrap(np.angle(z[1] * np.conj(z[0])), voxel_mm, mask=inside)
    rate = first / (te[1] - te[0])
    demodulated = z * np.exp(-1j * rate * te.reshape(-1, 1, 1, 1))
    phase = laplacian_unwrap(np.angle(demodulated), voxel_mm, mask=inside)
    phase = phase + rate * te.reshape(-1, 1, 1, 1)
    weight = np.abs(z).astype(float) ** 2
    t = te.reshape(-1, 1, 1, 1)
    sw = weight.sum(axis=0)
    st = (weight * t).sum(axis=0)
    stt = (weight * t**2).sum(axis=0)
    sp = (weight * phase).sum(axis=0)
    stp = (weight * t * phase).sum(axis=0)
    det = sw * stt - st**2
    region = np.ones(z.shape[1:], bool) if inside is None else inside
    # Echo times are distinct, so det > 0 wherever at least two echoes have signal.
    valid = region & (det > 1e-12 * np.max(det, initial=0.0))
    safe = np.where(valid, det, 1.0)
    slope = np.where(valid, (sw * stp - st * sp) / safe, 0.0)
    intercept = np.where(valid, (stt * sp - st * stp) / safe, 0.0)

    if n_echoes > 2:
        residual = phase - intercept - slope * t
        chi2 = (weight * residual**2).sum(axis=0)[valid]
        dof = n_echoes - 2
        sigma2 = float(np.median(chi2) / stats.chi2.median(dof)) if chi2.size else 0.0
        sigma = float(np.sqrt(sigma2))
    else:
        sigma = _sigma_from_differences(z[0], region)
    slope_se = np.where(valid, sigma * np.sqrt(np.where(valid, sw, 0.0) / safe), 0.0)
    if np.any(region & ~valid):
        worst = float(slope_se[valid].max()) if valid.any() else 0.0
        slope_se = np.where(region & ~valid, worst, slope_se)
        logger.warning("%d voxels in the mask have no signal to fit", int(np.sum(region & ~valid)))

    per_ppm = float(phase_scale(b0_tesla, 1.0))
    logger.info(
        "field fit: %d echoes, noise SD %.4g, median field SE %.4g ppm",
        n_echoes,
        sigma,
        float(np.median(slope_se[valid]) / per_ppm) if valid.any() else float("nan"),
    )
    return FieldFit(
        field_ppm=(slope / per_ppm).astype(np.float32),
        noise_ppm=(slope_se / per_ppm).astype(np.float32),
        offset_rad=intercept.astype(np.float32),
        sigma=sigma,
    )
