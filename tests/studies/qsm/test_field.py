"""Multi-echo field fit: a known field from noisy synthetic echoes (with a phase offset or
referenced to echo 1), its predicted standard error, and a harmonic difference inside a mask."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.qsm.dipole import GAMMA_HZ_PER_T, dipole_field
from qmrflow.studies.qsm.field import FieldFit, field_to_phase, fit_field, phase_scale

SHAPE = (40, 40, 32)
VOXEL = (2.0, 2.0, 2.0)
TE = np.array([5.0, 10.0, 15.0, 20.0, 25.0]) * 1e-3
B0 = 3.0
SIGMA = 0.02


def grid():
    return np.meshgrid(*[np.arange(n) - n / 2 for n in SHAPE], indexing="ij")


def known_field() -> np.ndarray:
    """A sphere's local field plus a smooth background (ppm), phase gradients < pi per voxel."""
    x, y, z = grid()
    chi = 0.1 * ((x - 4) ** 2 + y**2 + z**2 < 5**2)
    return dipole_field(chi, VOXEL) + 0.05 * np.sin(x / 10) + 0.002 * x


def echoes(field, offset, magnitude, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    decay = np.exp(-TE / 0.05).reshape(-1, 1, 1, 1)
    signal = magnitude * decay * np.exp(1j * field_to_phase(field, B0, TE, offset))
    noise = rng.standard_normal(signal.shape) + 1j * rng.standard_normal(signal.shape)
    return (signal + SIGMA * noise).astype(np.complex64)


def test_phase_scale_and_field_to_phase():
    np.testing.assert_allclose(phase_scale(B0, [0.01]), 2 * np.pi * GAMMA_HZ_PER_T * B0 * 1e-8)
    phase = field_to_phase(np.full((2, 2, 2), 0.1), B0, TE, offset_rad=0.5)
    assert phase.shape == (5, 2, 2, 2)
    np.testing.assert_allclose(phase[:, 0, 0, 0], 0.5 + phase_scale(B0, TE) * 0.1)


@pytest.mark.parametrize("n_echoes", [5, 3, 2])
def test_recovers_a_known_field_with_a_phase_offset(n_echoes):
    field = known_field()
    x, y, _ = grid()
    offset = 1.5 * np.cos(y / 9.0) + 0.5  # a smooth transceive phase, wrapped in places
    magnitude = 1.0 + 0.3 * np.cos(x / 7.0)
    images = echoes(field, offset, magnitude)[:n_echoes]
    fit = fit_field(images, TE[:n_echoes], B0, voxel_mm=VOXEL)
    assert isinstance(fit, FieldFit)
    assert fit.field_ppm.dtype == np.float32 and fit.field_ppm.shape == SHAPE
    error = fit.field_ppm - field
    error -= error.mean()  # Laplacian unwrapping fixes each echo up to a constant
    predicted = float(np.sqrt(np.mean(fit.noise_ppm.astype(float) ** 2)))
    # The error is the fit's noise, and its predicted SE matches the scatter within 10 %.
    assert 0.9 < error.std() / predicted < 1.1
    assert error.std() < 0.01
    assert fit.sigma == pytest.approx(SIGMA, rel=0.05)


def test_echo_one_referenced_input():
    """After a Hermitian-inner-product combination echo 1 has ~zero phase: still the field."""
    field = known_field()
    images = echoes(field, 0.0, 1.0, seed=1)
    referenced = images * np.exp(-1j * np.angle(images[0]))
    fit = fit_field(referenced, TE, B0, voxel_mm=VOXEL)
    error = fit.field_ppm - field
    assert np.std(error - error.mean()) < 1.5 * float(np.median(fit.noise_ppm))
    assert np.abs(fit.offset_rad).max() < np.pi


def test_masked_fit_differs_by_a_harmonic_function():
    field = known_field()
    x, y, z = grid()
    mask = (x / 17) ** 2 + (y / 17) ** 2 + (z / 14) ** 2 < 1
    noise_only = echoes(field, 0.3, 0.0)  # random phase outside the mask
    clean = np.where(mask, np.exp(1j * field_to_phase(field, B0, TE, 0.3)), noise_only)
    fit = fit_field(clean, TE, B0, mask=mask, voxel_mm=VOXEL)
    assert np.all(fit.field_ppm[~mask] == 0) and np.all(fit.noise_ppm[~mask] == 0)
    error = fit.field_ppm.astype(float) - field
    interior = (x / 15) ** 2 + (y / 15) ** 2 + (z / 12) ** 2 < 1

    def laplacian(a):
        return sum(np.roll(a, 1, i) + np.roll(a, -1, i) - 2 * a for i in range(3))

    assert np.abs(laplacian(error)[interior]).max() < 1e-5
    assert np.abs(laplacian(field)[interior]).max() > 1e-2


@pytest.mark.parametrize(
    ("images", "te"),
    [
        (np.ones((1, 4, 4, 4), complex), TE[:1]),
        (np.ones((3, 4, 4, 4), complex), TE[:2]),
        (np.ones((3, 4, 4, 4), complex), TE[[0, 2, 1]]),
        (np.ones((4, 4, 4), complex), TE[:3]),
    ],
)
def test_rejects_bad_input(images, te):
    with pytest.raises(ValueError):
        fit_field(images, te, B0)
