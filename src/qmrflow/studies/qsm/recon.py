"""Conventional reconstruction (CR) of multi-coil multi-echo Cartesian k-space, phase preserved.

CR is what the scanner does: a centred inverse FFT of every coil's zero-filled k-space (the
3D-EPI's unacquired outer k-space stays zero, so its images are zero-fill interpolated onto the
reference grid) and a coil combination. QSM needs the phase, so the combination must not leave
the coils' phase offsets in it (the naive ``sum_c y_c`` cancels signal, and the
root-sum-of-squares drops the phase). We use the Hermitian inner product of every echo with the
first one (Bernstein et al., MRM 1994; used for multi-echo QSM e.g. by Robinson et al., NMR
Biomed 2017)::

    z_e = sum_c y_ce conj(y_c1) / sqrt(sum_c |y_c1|^2)

Every coil's phase offset (its sensitivity and the receiver) cancels; the magnitude is the
magnitude of echo ``e`` weighted like a root-sum-of-squares; the phase is ``phi_e - phi_1``, the
field's phase accrued from the first echo, so a fit of phase against echo time with a free
intercept (:func:`~qmrflow.studies.qsm.field.fit_field`) sees the field alone. No maintained
Python package offers a phase-preserving multi-echo combination for numpy arrays, so it is
these few vectorised lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qmrflow.recon.fourier import fftc, ifftc

__all__ = ["MultiEcho", "combine_hermitian", "reconstruct_cr", "sampled_mask"]

logger = logging.getLogger(__name__)

_SPATIAL = (-3, -2, -1)


@dataclass(frozen=True)
class MultiEcho:
    """Coil-combined multi-echo images on the reconstruction grid.

    Attributes
    ----------
    images
        complex64 ``(E, X, Y, Z)``; echo 1 real and positive (phase relative to echo 1).
    echo_times
        float64 ``(E,)`` seconds.
    encoded
        The acquired central k-space block ``(x, y, z)`` (the grid's shape when fully sampled).
    """

    images: np.ndarray
    echo_times: np.ndarray
    encoded: tuple[int, int, int]

    @property
    def sampled(self) -> np.ndarray:
        """bool ``(X, Y)``: the in-plane k-space samples the acquisition measured."""
        return sampled_mask(self.images.shape[1:3], self.encoded[:2])


def sampled_mask(shape: Sequence[int], encoded: Sequence[int]) -> np.ndarray:
    """bool mask of the central ``encoded`` block of a centred k-space grid of ``shape``.

    The block starts at ``n // 2 - m // 2`` on every axis, as the ISMRMRD reader places an
    acquired centre (DC at ``n // 2``).
    """
    mask = np.zeros(tuple(int(n) for n in shape), dtype=bool)
    index = tuple(
        slice(int(n) // 2 - int(m) // 2, int(n) // 2 - int(m) // 2 + int(m))
        for n, m in zip(shape, encoded, strict=True)
    )
    mask[index] = True
    return mask


def combine_hermitian(coil_images: np.ndarray) -> np.ndarray:
    """Phase-preserving combination ``(C, E, ...) -> (E, ...)`` by the Hermitian inner product
    of every echo with the first (module docstring). complex64."""
    coil_images = np.asarray(coil_images)
    if coil_images.ndim < 3:
        raise ValueError(f"need (coils, echoes, ...) images, got shape {coil_images.shape}")
    first = coil_images[:, :1]
    weight = np.sqrt(np.sum(np.abs(first) ** 2, axis=0))
    combined = np.sum(coil_images * np.conj(first), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = np.where(weight > 0, combined / weight, 0)
    return combined.astype(np.complex64)


def reconstruct_cr(
    kspace: np.ndarray, echo_times: Sequence[float], encoded: Sequence[int] | None = None
) -> MultiEcho:
    """CR of multi-coil multi-echo k-space ``(C, E, X, Y, Z)`` (centred, zero-filled).

    Returns the coil-combined echoes (:func:`combine_hermitian`) on the ``(X, Y, Z)`` grid.
    """
    kspace = np.asarray(kspace)
    if kspace.ndim != 5:
        raise ValueError(f"need k-space (coils, echoes, x, y, z), got shape {kspace.shape}")
    coil_images = ifftc(kspace, axes=_SPATIAL)
    images = combine_hermitian(coil_images)
    encoded = tuple(kspace.shape[2:]) if encoded is None else tuple(int(n) for n in encoded)
    logger.debug(
        "CR of %d coils x %d echoes, encoded %s", kspace.shape[0], kspace.shape[1], encoded
    )
    return MultiEcho(images=images, echo_times=np.asarray(echo_times, float), encoded=encoded)


def kspace_of(images: np.ndarray) -> np.ndarray:
    """Centred orthonormal 3D FFT of images ``(..., X, Y, Z)`` (for data consistency checks)."""
    return fftc(images, axes=_SPATIAL)
