"""The unit dipole kernel and the forward field model of quantitative susceptibility mapping.

A susceptibility distribution ``chi`` (ppm) in a main field ``B0`` along the scanner's z axis
perturbs the field by ``delta_B / B0 = F^-1[ D(k) F[chi] ]`` with the unit dipole kernel in
k-space (Salomir et al., Concepts Magn Reson B 2003; Marques & Bowtell, ibid. 2005)::

    D(k) = 1/3 - (k . b)^2 / |k|^2,     D(0) = 0

where ``b`` is the unit vector of ``B0`` in voxel coordinates. ``D(0) = 0`` makes the field
relative to the mean susceptibility of the (periodic) volume. The kernel is sampled on the
discrete k-space grid of the (zero-padded) volume; FFT convolution is circular, so
:func:`dipole_field` zero-pads to avoid wrap-around from the opposite side.

No maintained Python QSM library fits our stack (QSMxT pins numpy 1.24 and runs its
algorithms outside Python), so the kernel and the steps built on it are written here as
vectorised numpy FFT code and validated on analytic cases in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["GAMMA_HZ_PER_T", "dipole_field", "dipole_kernel", "padded_shape"]

#: Gyromagnetic ratio of the proton over 2 pi (Hz/T).
GAMMA_HZ_PER_T = 42.577478e6


def dipole_kernel(
    shape: Sequence[int],
    voxel_mm: Sequence[float] = (1.0, 1.0, 1.0),
    b0_direction: Sequence[float] = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """The unit dipole kernel ``D(k)`` on the unshifted FFT grid of ``shape`` (float64).

    Parameters
    ----------
    shape
        Volume shape ``(X, Y, Z)``.
    voxel_mm
        Voxel size (mm) along each axis (the kernel depends on the physical k-space position).
    b0_direction
        Direction of ``B0`` in voxel axes (normalised here); axial acquisitions: ``(0, 0, 1)``.

    Returns
    -------
    numpy.ndarray
        ``D`` with ``D[0, 0, 0] = 0``, for ``numpy.fft.fftn`` ordering (no fftshift).
    """
    if len(shape) != 3 or len(voxel_mm) != 3:
        raise ValueError(f"need a 3D shape and voxel size, got {shape}, {voxel_mm}")
    b = np.asarray(b0_direction, dtype=float)
    if not np.linalg.norm(b) > 0:
        raise ValueError(f"b0_direction must be non-zero, got {b0_direction}")
    b = b / np.linalg.norm(b)
    k = [
        np.fft.fftfreq(int(n), d=float(d)).reshape([-1 if a == i else 1 for a in range(3)])
        for i, (n, d) in enumerate(zip(shape, voxel_mm, strict=True))
    ]
    kb = k[0] * b[0] + k[1] * b[1] + k[2] * b[2]
    k2 = k[0] ** 2 + k[1] ** 2 + k[2] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = 1.0 / 3.0 - kb**2 / k2
    kernel[0, 0, 0] = 0.0
    return kernel


def padded_shape(shape: Sequence[int], factor: float = 2.0, multiple: int = 2) -> tuple[int, ...]:
    """``shape`` enlarged by ``factor`` and rounded up to a multiple of ``multiple`` (FFT pad)."""
    return tuple(int(-(-round(n * factor) // multiple) * multiple) for n in shape)


def dipole_field(
    chi: np.ndarray,
    voxel_mm: Sequence[float] = (1.0, 1.0, 1.0),
    b0_direction: Sequence[float] = (0.0, 0.0, 1.0),
    *,
    pad: float = 2.0,
) -> np.ndarray:
    """The relative field ``delta_B / B0`` (ppm when ``chi`` is in ppm) of a susceptibility map.

    ``chi`` is zero-padded to ``pad`` times its shape (the sources are isolated, as in a real
    head in air-free surroundings), convolved with :func:`dipole_kernel` and cropped back.

    Returns
    -------
    numpy.ndarray
        float64 field, same shape as ``chi``.
    """
    chi = np.asarray(chi, dtype=float)
    if chi.ndim != 3:
        raise ValueError(f"chi must be 3D, got shape {chi.shape}")
    big = padded_shape(chi.shape, pad) if pad > 1 else chi.shape
    kernel = dipole_kernel(big, voxel_mm, b0_direction)
    field = np.fft.ifftn(kernel * np.fft.fftn(chi, s=big, axes=(0, 1, 2))).real
    return field[: chi.shape[0], : chi.shape[1], : chi.shape[2]]
