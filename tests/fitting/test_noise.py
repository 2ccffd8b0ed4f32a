"""Noise estimation (qmrflow.fitting.noise) on synthetic Rician images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qmrflow.fitting import (
    background_mask,
    estimate_noise_sigma,
    image_noise_level,
    rician_mean,
)


def _phantom(sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64), indexing="ij")
    inside = np.sqrt(x**2 + y**2) < 0.6
    clean = np.where(inside, 1.0, 0.0)[..., None, None] * np.array([1.0, 0.6, 0.3])
    clean = np.broadcast_to(clean, (64, 64, 2, 3))
    noise = rng.standard_normal((2, *clean.shape))
    return np.abs(clean + sigma * (noise[0] + 1j * noise[1])), np.repeat(inside[..., None], 2, -1)


def test_background_mask_and_sigma_from_the_rayleigh_background():
    images, inside = _phantom(0.02)
    mask = background_mask(images)
    assert np.mean(mask == inside) > 0.99
    sigma = estimate_noise_sigma(images, mask)
    assert sigma == pytest.approx(0.02, rel=0.05)
    assert estimate_noise_sigma(images[:8, :8], np.zeros((8, 8, 2), bool)) is None


def test_image_noise_level_reads_white_noise_sigma():
    rng = np.random.default_rng(2)
    assert image_noise_level(5.0 + 0.1 * rng.standard_normal((80, 80, 4))) == pytest.approx(
        0.1, rel=0.05
    )
    assert image_noise_level(np.zeros((10, 10))) == 0.0


def test_rician_mean_matches_scipy_and_its_derivative():
    nu = np.array([0.0, 0.5, 2.0, 40.0])
    mean, slope = rician_mean(nu, 1.0)
    np.testing.assert_allclose(mean[:3], stats.rice.mean(nu[:3], scale=1.0), rtol=1e-8)
    step = 1e-6
    numeric = (rician_mean(nu + step, 1.0)[0] - rician_mean(nu - step, 1.0)[0]) / (2 * step)
    np.testing.assert_allclose(slope, numeric, rtol=1e-5, atol=1e-8)
    assert mean[-1] == pytest.approx(40.0, rel=1e-3)
