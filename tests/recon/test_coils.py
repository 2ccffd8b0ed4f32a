"""Coil sensitivities from the data: Walsh's adaptive combine, phase reference, body mask."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.recon.coils import body_mask, estimate_coil_maps, walsh_sensitivities
from qmrflow.recon.fourier import BatchedNufft
from qmrflow.simulate.kspace import coil_sensitivities
from tests.recon.phantoms import MATRIX, acquire, smooth_object, turns_trajectory


def _series(n_frames=10, spokes=13, sigma=0.002):
    truth = np.repeat(smooth_object()[None], n_frames, axis=0)
    traj = turns_trajectory(n_frames, spokes, 2 * MATRIX[0])  # 2x readout oversampling
    kspace, maps = acquire(truth, traj, sigma=sigma)
    return truth, traj, kspace, maps


def test_walsh_recovers_the_maps_of_exact_coil_images_up_to_a_phase():
    obj = smooth_object()
    maps = coil_sensitivities(MATRIX, 4)
    estimate = walsh_sensitivities(maps * obj, kernel=1)
    assert estimate.shape == maps.shape and estimate.dtype == np.complex64
    np.testing.assert_allclose(np.sum(np.abs(estimate) ** 2, axis=0), 1.0, atol=1e-5)
    inside = obj > 0.1
    coherence = np.abs(
        np.sum(np.conj(estimate) * maps, axis=0)
    )  # |<S_est, S>| = 1: same up to phase
    assert coherence[inside].min() > 0.999


def test_maps_estimated_from_an_interleaved_series_match_the_true_ones():
    truth, traj, kspace, maps = _series()
    result = estimate_coil_maps(kspace, traj, MATRIX)
    inside = truth[0] > 0.25
    assert result.mask[inside].all()
    est = result.maps
    coherence = np.abs(np.sum(np.conj(est) * maps, axis=0))
    assert np.percentile(coherence[inside], 5) > 0.99 and coherence[inside].min() > 0.97
    assert np.abs(np.abs(est) - np.abs(maps))[:, inside].max() < 0.08
    # One global phase reference: the phase offset to the true maps is smooth, not per pixel.
    offset = np.angle(np.sum(np.conj(maps) * est, axis=0))
    step = np.abs(np.angle(np.exp(1j * np.diff(offset, axis=0))))[inside[1:] & inside[:-1]]
    assert step.max() < 0.2
    # Zero outside the mask, unit RSS inside.
    rss = np.sqrt(np.sum(np.abs(est) ** 2, axis=0))
    np.testing.assert_allclose(rss[result.mask], 1.0, atol=1e-4)
    assert np.all(est[:, ~result.mask] == 0) and (~result.mask).sum() > 0.2 * result.mask.size


def test_an_operator_can_be_reused_and_inputs_are_checked():
    _, traj, kspace, _ = _series(n_frames=5)
    op = BatchedNufft(traj, MATRIX)
    a = estimate_coil_maps(kspace, operator=op)
    b = estimate_coil_maps(kspace, traj, MATRIX)
    np.testing.assert_allclose(a.maps, b.maps, atol=1e-5)
    with pytest.raises(ValueError, match="does not match"):
        estimate_coil_maps(kspace[:4], operator=op)
    with pytest.raises(ValueError, match="needs trajectory"):
        estimate_coil_maps(kspace)


def test_body_mask_fills_holes_and_dilates():
    image = np.zeros((40, 40))
    image[10:30, 10:30] = 1.0
    image[15:25, 15:25] = 0.0  # a signal void inside the body (lungs)
    mask = body_mask(image, threshold=0.5, dilation=2)
    assert mask[15:25, 15:25].all() and mask[8:32, 8:32].all() and not mask[:7].any()
    assert body_mask(image, threshold=0).all()
