"""MDME acquisition of the synthmri demo: B1 field, signed MDME signal, k-space sampling."""

from __future__ import annotations

import math

import numpy as np

from qmrflow.simulate.kspace import complex_noise
from qmrflow.studies.synthmri.protocol import MdmeProtocol, mdme_signal
from qmrflow.studies.synthmri.simulate.geometry import FOV_CENTRE_MM


def _b1_field(x: np.ndarray, y: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth transmit field, brighter in the centre (dielectric effect at 3 T), 0.85-1.15."""
    xn = (x / 90.0)[:, None, None]
    yn = ((y - FOV_CENTRE_MM[1]) / 110.0)[None, :, None]
    zn = ((z - 16.0) / 60.0)[None, None, :]
    q = rng.uniform(0.15, 0.25)
    slope = rng.normal(0.0, 0.02, size=3)
    b1 = 1.0 + q * (0.45 - xn**2 - yn**2) + slope[0] * xn + slope[1] * yn + slope[2] * zn
    b1 = b1 - 0.03 * zn**2
    return np.clip(b1, 0.85, 1.15)


def _signed_signal(
    t1: np.ndarray, t2: np.ndarray, pd: np.ndarray, b1: np.ndarray, protocol: MdmeProtocol
) -> np.ndarray:
    """Real (phase-corrected) MDME signal: :func:`mdme_signal` with the sign of Mz.

    After a ~120 degree saturation, long-T1 tissue (CSF) still has negative longitudinal
    magnetisation at short delays; the complex image is then negative, the magnitude positive.
    Voxels with ``pd == 0`` (outside the brain) give 0.
    """
    tissue = pd > 0
    t1s = np.where(tissue, t1, 1.0)
    t2s = np.where(tissue, t2, 1.0)
    magnitude = mdme_signal(t1s, t2s, pd, b1, protocol)
    theta = np.deg2rad(protocol.saturation_angle) * b1[..., None]
    delays = np.asarray(protocol.delays, dtype=float)
    cos_theta = np.cos(theta)
    recovery = (
        1.0
        - (1.0 - cos_theta) * np.exp(-delays / t1s[..., None])
        - cos_theta * np.exp(-protocol.repetition_time / t1s[..., None])
    )
    return np.where(recovery < 0, -magnitude, magnitude)


def _acquire(image: np.ndarray, n_lines: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Sample ``image`` (x, y, ...) in k-space, add noise, reconstruct ``n_lines`` along y.

    Orthonormal FFT along x and y; complex Gaussian noise of SD ``sigma`` per channel on every
    acquired sample; the central ``n_lines`` phase-encoding lines are reconstructed on a grid of
    ``n_lines`` voxels with amplitude ``sqrt(n_lines / ny)`` and a half-voxel-difference shift
    so that the field of view matches (see the module docstring). Returns the magnitude.
    """
    ny = image.shape[1]
    kspace = np.fft.fft(np.fft.fft(image, axis=0, norm="ortho"), axis=1, norm="ortho")
    half = n_lines // 2
    ky = np.arange(-half, n_lines - half)  # signed integer frequencies kept
    data = kspace[:, ky % ny]
    if sigma > 0:
        data = data + complex_noise(data.shape, sigma, rng)
    shift = (ny / n_lines - 1.0) / 2.0
    ramp = np.exp(2j * np.pi * ky * shift / ny) * math.sqrt(n_lines / ny)
    data = data * ramp.reshape(1, -1, *([1] * (image.ndim - 2)))
    reordered = np.empty_like(data)
    reordered[:, ky % n_lines] = data
    recon = np.fft.ifft(np.fft.ifft(reordered, axis=1, norm="ortho"), axis=0, norm="ortho")
    return np.abs(recon)
