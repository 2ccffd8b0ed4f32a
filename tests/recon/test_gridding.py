"""Gridding reconstruction: smooth objects, orientation, batching, coil combination."""

from __future__ import annotations

import numpy as np

from qmrflow.recon import reconstruct_series
from qmrflow.recon.fourier import BatchedNufft, radial_dcf
from qmrflow.recon.gridding import combine_coils, grid_frames
from qmrflow.simulate.kspace import coil_sensitivities
from tests.recon.phantoms import MATRIX, acquire, relative_error, smooth_object, turns_trajectory


def test_gridding_of_a_fully_sampled_radial_acquisition_recovers_a_smooth_object():
    truth = smooth_object()[None]
    traj = turns_trajectory(1, 77, 2 * MATRIX[0])  # > pi/2 * 48 spokes, 2x oversampled readout
    kspace, _ = acquire(truth, traj, sigma=1e-3)
    result = reconstruct_series(kspace, traj, MATRIX, method="gridding")
    assert result.frames.shape == (1, *MATRIX) and result.frames.dtype == np.float32
    assert relative_error(result.frames, truth) < 0.05  # units of the forward model: no rescaling


def test_the_image_keeps_the_simulators_orientation():
    # Asymmetric object: a blob at +x and -y of centre, and an L-shaped bar.
    truth = np.zeros(MATRIX)
    truth[30:36, 16:20] = 1.0
    truth[12:28, 30:33] = 0.6
    truth[12:15, 30:40] = 0.6
    traj = turns_trajectory(5, 21, 2 * MATRIX[0])
    kspace, maps = acquire(np.repeat(truth[None], 5, axis=0), traj)
    result = reconstruct_series(kspace, traj, MATRIX, method="gridding", coils=maps)
    mean = result.frames.mean(axis=0)
    assert np.unravel_index(np.argmax(mean), MATRIX)[0] >= 30  # the bright blob stays at high x
    error = relative_error(mean, truth)
    for flipped in (truth.T, truth[::-1], truth[:, ::-1]):
        assert error < 0.6 * relative_error(mean, flipped)


def test_batched_gridding_equals_the_per_frame_loop_and_combination_is_masked():
    truth = np.repeat(smooth_object()[None], 7, axis=0)
    traj = turns_trajectory(7, 9, 96, turns=3)
    kspace, _ = acquire(truth, traj, sigma=0.01)
    data = kspace.reshape(7, 4, -1)
    maps = coil_sensitivities(MATRIX, 4).astype(np.complex64)
    maps[:, :5] = 0  # a masked strip
    op = BatchedNufft(traj, MATRIX)
    density = radial_dcf(traj, MATRIX).reshape(7, -1)
    batched = grid_frames(data, op, maps, density=density, chunk=2)
    for t in range(7):
        single = BatchedNufft(traj[t : t + 1], MATRIX)
        one = grid_frames(data[t : t + 1], single, maps, density=density[t : t + 1])
        np.testing.assert_allclose(batched[t], one[0], atol=1e-5)
    assert np.all(batched[:, :5] == 0)
    images = np.ones((2, 4, *MATRIX), np.complex64)
    np.testing.assert_allclose(combine_coils(images * maps, maps)[:, 5:], 1.0, atol=1e-5)
