"""Laplacian unwrapping: exact recovery of a smooth phase wrapped several times, a harmonic
difference inside a mask, the Schofield & Zhu identity, and echo stacks."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.qsm.unwrap import laplacian_unwrap, wrap

SHAPE = (40, 36, 32)


def smooth_phase(shape=SHAPE, voxel=(1.0, 1.0, 1.0)) -> np.ndarray:
    """A smooth phase spanning about 17 rad (five wraps), under 1 rad per voxel."""
    x, y, z = np.meshgrid(
        *[(np.arange(n) - n / 2) * v for n, v in zip(shape, voxel, strict=True)], indexing="ij"
    )
    return 12.0 * np.exp(-(x**2 + y**2 + (1.3 * z) ** 2) / (2 * 10.0**2)) + 0.15 * x + 0.1 * z


def laplacian(a: np.ndarray) -> np.ndarray:
    return sum(np.roll(a, 1, i) + np.roll(a, -1, i) - 2 * a for i in range(3))


def test_recovers_a_wrapped_phase_up_to_a_constant():
    true = smooth_phase()
    assert np.ptp(true) > 4 * np.pi
    u = laplacian_unwrap(wrap(true))
    error = u - true
    assert np.ptp(error) < 1e-9


def test_anisotropic_voxels():
    voxel = (1.0, 1.0, 2.0)
    true = smooth_phase(voxel=voxel)
    u = laplacian_unwrap(wrap(true), voxel)
    assert np.ptp(u - true) < 1e-9


def test_schofield_identity_is_close():
    """Within 10 % here, where the phase changes by up to 0.9 rad per voxel (the identity's
    curvature is scaled by cos of the gradient there)."""
    true = smooth_phase()
    u = laplacian_unwrap(wrap(true), method="schofield")
    assert np.ptp(u - true) < 0.1 * np.ptp(true)


def test_masked_unwrap_differs_by_a_harmonic_function():
    true = smooth_phase()
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(*[np.arange(n) - n / 2 for n in SHAPE], indexing="ij")
    mask = x**2 + y**2 + z**2 < 14**2
    wrapped = np.where(mask, wrap(true), rng.uniform(-np.pi, np.pi, SHAPE))  # noise outside
    u = laplacian_unwrap(wrapped, mask=mask)
    interior = (x**2 + y**2 + z**2) < 12**2
    error = u - true
    assert np.abs(laplacian(error)[interior]).max() < 1e-8
    assert np.abs(laplacian(true)[interior]).max() > 0.05


def test_echo_stack_is_unwrapped_per_echo():
    true = smooth_phase()
    stack = np.stack([wrap(0.5 * true), wrap(true), wrap(1.5 * true + 1.0)])
    u = laplacian_unwrap(stack)
    assert u.shape == stack.shape
    for echo in range(3):
        np.testing.assert_allclose(u[echo], laplacian_unwrap(stack[echo]), atol=1e-10)
    assert np.ptp(u[1] - true) < 1e-9


@pytest.mark.parametrize(
    ("phase", "kwargs"),
    [
        (np.zeros((4, 4)), {}),
        (np.full(SHAPE, np.nan), {}),
        (np.zeros(SHAPE), {"mask": np.ones((3, 3, 3), bool)}),
        (np.zeros(SHAPE), {"method": "poisson"}),
        (np.zeros(SHAPE), {"voxel_mm": (1.0, 0.0, 1.0)}),
    ],
)
def test_rejects_bad_input(phase, kwargs):
    with pytest.raises(ValueError):
        laplacian_unwrap(phase, **kwargs)
