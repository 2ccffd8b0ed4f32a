"""Smooth random fields of the simulation kit."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.simulate.fields import periodic_field, scale_to_range, smooth_field, smooth_noise


def _lag1_correlation(field: np.ndarray, axis: int) -> float:
    a = field - field.mean()
    return float((a * np.roll(a, 1, axis=axis)).mean() / (a * a).mean())


def test_periodic_field_is_unit_variance_smooth_and_seeded() -> None:
    f = periodic_field(np.random.default_rng(1), (128, 128), 4.0)
    assert f.dtype == np.float32 and f.shape == (128, 128)
    assert f.std() == pytest.approx(1.0, rel=1e-5)
    # Gaussian filter of width s: lag-1 correlation exp(-1 / (4 s^2)) = 0.98 for s = 4.
    assert _lag1_correlation(f, 0) == pytest.approx(np.exp(-1 / 64), abs=0.01)
    assert np.array_equal(f, periodic_field(np.random.default_rng(1), (128, 128), 4.0))
    white = periodic_field(np.random.default_rng(1), (128, 128), 0.01)
    assert abs(_lag1_correlation(white, 0)) < 0.05


def test_periodic_field_anisotropy_and_leading_axes() -> None:
    f = periodic_field(np.random.default_rng(2), (3, 64, 64), (4.0, 0.5))
    assert f.shape == (3, 64, 64)
    assert _lag1_correlation(f[0], 0) > 0.9 > 0.5 > _lag1_correlation(f[0], 1)
    with pytest.raises(ValueError):
        periodic_field(np.random.default_rng(0), (10,), 1.0)


def test_smooth_noise_per_channel_unit_sd() -> None:
    f = smooth_noise(np.random.default_rng(3), (3, 20, 20, 20), 2.0, channel_axes=1)
    np.testing.assert_allclose(f.std(axis=(1, 2, 3)), 1.0, rtol=1e-12)
    assert all(_lag1_correlation(f[c], 0) > 0.8 for c in range(3))
    with pytest.raises(ValueError):
        smooth_noise(np.random.default_rng(0), (3, 20), (1.0, 2.0), channel_axes=1)


def test_scale_to_range_and_smooth_field() -> None:
    np.testing.assert_allclose(scale_to_range(np.array([1.0, 2.0, 3.0]), 0.8, 1.2), [0.8, 1.0, 1.2])
    np.testing.assert_allclose(scale_to_range(np.ones(4), 0.0, 2.0), 1.0)
    b1 = smooth_field(np.random.default_rng(4), (32, 32, 8), (6.0, 6.0, 2.0), (0.85, 1.15))
    assert b1.min() == pytest.approx(0.85) and b1.max() == pytest.approx(1.15)
    assert np.abs(np.diff(b1, axis=0)).max() < 0.1  # smooth: no jumps between neighbours
