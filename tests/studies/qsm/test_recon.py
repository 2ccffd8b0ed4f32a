"""Conventional reconstruction: Hermitian-inner-product coil combination, zero-filled EPI."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.recon.fourier import fftc
from qmrflow.simulate.kspace import coil_sensitivities
from qmrflow.studies.qsm.recon import combine_hermitian, reconstruct_cr, sampled_mask

SHAPE = (16, 18, 6)
TE = np.array([0.005, 0.012, 0.019])


def _echoes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Echo images of a smooth object with a field and a phase offset; and the field's phase
    rate (rad/s)."""
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    magnitude = np.exp(-(x**2 + y**2 + z**2)) + 0.2
    rate = 200.0 * x + 80.0 * y * z  # rad/s
    offset = 1.3 + 0.4 * y
    images = magnitude * np.exp(1j * (offset + rate * TE.reshape(-1, 1, 1, 1)))
    return images, rate


def test_the_combination_cancels_the_coils_phase_and_keeps_the_field():
    images, rate = _echoes(np.random.default_rng(0))
    coils = coil_sensitivities(SHAPE, 6)
    combined = combine_hermitian(coils[:, None] * images[None])
    assert combined.shape == images.shape and combined.dtype == np.complex64
    np.testing.assert_allclose(np.angle(combined[0]), 0.0, atol=1e-6)
    for e in (1, 2):
        expected = np.angle(np.exp(1j * rate * (TE[e] - TE[0])))
        np.testing.assert_allclose(np.angle(combined[e]), expected, atol=1e-4)
    # root-sum-of-squares weighting: |S| summed in quadrature is 1
    np.testing.assert_allclose(np.abs(combined), np.abs(images), rtol=1e-4)


def test_the_cr_of_fully_sampled_kspace_is_the_combination_of_the_coil_images():
    images, _ = _echoes(np.random.default_rng(1))
    coils = coil_sensitivities(SHAPE, 4)
    kspace = fftc(coils[:, None] * images[None], axes=(-3, -2, -1))
    cr = reconstruct_cr(kspace, TE)
    np.testing.assert_allclose(
        cr.images, combine_hermitian(coils[:, None] * images[None]), atol=1e-4
    )
    assert cr.encoded == SHAPE and cr.sampled.all()


@pytest.mark.parametrize(("n", "m"), [(16, 10), (17, 10), (16, 9)])
def test_the_sampled_block_is_centred_on_dc(n, m):
    mask = sampled_mask((n, n), (m, m))
    rows = np.flatnonzero(mask.any(axis=1))
    assert rows.size == m and rows[0] == n // 2 - m // 2 and mask[n // 2, n // 2]


def test_a_zero_filled_acquisition_is_lower_resolution_on_the_same_grid():
    images, _ = _echoes(np.random.default_rng(2))
    kspace = fftc(images[None], axes=(-3, -2, -1))
    keep = sampled_mask(SHAPE[:2], (8, 10))[:, :, None]
    cr = reconstruct_cr(np.where(keep, kspace, 0), TE, encoded=(8, 10, SHAPE[2]))
    assert cr.images.shape == images.shape
    assert cr.sampled.sum() == 80
    error = np.linalg.norm(np.abs(cr.images) - np.abs(images)) / np.linalg.norm(images)
    assert 0.01 < error < 0.3
