"""Brain mask of a noisy ellipsoid with dark inner structures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qmrflow.errors import InputDataError
from qmrflow.studies.qsm.masking import (
    ball,
    brain_mask,
    phase_reliability_mask,
)

SHAPE = (56, 56, 36)
VOXEL = (2.0, 2.0, 2.5)


def noisy_ellipsoid(seed: int = 1):
    x, y, z = np.meshgrid(
        *[(np.arange(n) - n / 2 + 0.5) * v for n, v in zip(SHAPE, VOXEL, strict=True)],
        indexing="ij",
    )
    brain = (x / 46) ** 2 + (y / 38) ** 2 + (z / 34) ** 2 < 1
    magnitude = brain.astype(float)
    magnitude[(x / 8) ** 2 + (y / 12) ** 2 + (z / 8) ** 2 < 1] = 0.03  # a dark hole
    magnitude[(np.abs(x - 20) < 3) & (np.abs(y) < 4) & brain] = 0.05  # a dark vein, all slices
    magnitude[(x / 6) ** 2 + ((y - 60) / 6) ** 2 + (z / 6) ** 2 < 1] = 1.0  # a detached speck
    rng = np.random.default_rng(seed)
    noisy = np.abs(
        magnitude + 0.05 * (rng.standard_normal(SHAPE) + 1j * rng.standard_normal(SHAPE))
    )
    return noisy, brain


def dice(a, b):
    return 2 * np.sum(a & b) / (a.sum() + b.sum())


def test_ball():
    assert ball(2.0, (2.0, 2.0, 2.0)).sum() == 7
    assert ball(1.0, (2.0, 2.0, 2.0)).sum() == 1
    assert ball(2.0, (1.0, 1.0, 1.0)).sum() == 33
    assert ball(2.0, (1.0, 1.0, 2.0)).shape == (5, 5, 3)


def test_mask_of_a_noisy_ellipsoid():
    magnitude, brain = noisy_ellipsoid()
    mask = brain_mask(magnitude, VOXEL)
    truth = ndimage.binary_erosion(brain, structure=ball(2.0, VOXEL))
    assert mask.dtype == bool and mask.shape == SHAPE
    assert dice(mask, truth) > 0.98
    assert not np.any(mask & ~brain)  # the speck and the background are out
    centre = tuple(n // 2 for n in SHAPE)
    assert mask[centre]  # the dark hole is filled
    assert mask[(SHAPE[0] // 2 + 10, SHAPE[1] // 2, SHAPE[2] // 2)]  # the dark vein too


def test_erosion_is_optional():
    magnitude, brain = noisy_ellipsoid()
    full = brain_mask(magnitude, VOXEL, erode_mm=0.0)
    eroded = brain_mask(magnitude, VOXEL, erode_mm=4.0)
    assert dice(full, brain) > 0.98
    assert eroded.sum() < full.sum() and not np.any(eroded & ~full)


def test_errors():
    with pytest.raises(InputDataError):
        brain_mask(np.zeros(SHAPE), VOXEL)
    with pytest.raises(ValueError):
        brain_mask(np.ones((4, 4)), VOXEL)
    with pytest.raises(ValueError):
        brain_mask(np.ones(SHAPE), VOXEL, threshold=1.5)


def test_noise_factor_keeps_strong_background_noise_out():
    """Noise a fifth of the brain's magnitude: the fixed fraction alone lets it in."""
    _, brain = noisy_ellipsoid()
    rng = np.random.default_rng(3)
    noisy = np.abs(brain + 0.12 * (rng.standard_normal(SHAPE) + 1j * rng.standard_normal(SHAPE)))
    mask = brain_mask(noisy, VOXEL, erode_mm=0.0)
    fixed = brain_mask(noisy, VOXEL, erode_mm=0.0, noise_factor=0.0)
    assert dice(mask, brain) > 0.95
    assert np.sum(fixed & ~brain) > 10 * np.sum(mask & ~brain)


def test_phase_reliability_mask_drops_an_unwrappable_gradient():
    """A field that steps by more than the threshold between neighbours in one corner."""
    shape = (20, 20, 10)
    mask = np.ones(shape, bool)
    x = np.arange(shape[0]).reshape(-1, 1, 1) * np.ones(shape)
    rate = np.where(x >= 15, 0.9 * np.pi, 0.1 * np.pi)  # echo-difference phase step per voxel
    difference = np.cumsum(rate, axis=0)
    images = np.stack([np.ones(shape), np.exp(1j * difference)]).astype(np.complex64)
    reliable = phase_reliability_mask(images, mask)
    assert reliable[:14].all()
    assert not reliable[16:].any()
    # Voxels outside the mask do not count as neighbours.
    inner = np.zeros(shape, bool)
    inner[:14] = True
    assert phase_reliability_mask(images, inner).sum() == inner.sum()
    with pytest.raises(ValueError):
        phase_reliability_mask(images[:1], mask)
    with pytest.raises(ValueError):
        phase_reliability_mask(images, mask, max_jump=0.0)
