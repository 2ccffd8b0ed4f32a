"""The shared Fourier operators: batched NUFFT, adjointness, Cartesian equivalence, radial DCF."""

from __future__ import annotations

import numpy as np
import pytest

import qmrflow.simulate.kspace as kspace
from qmrflow.recon import fourier
from qmrflow.recon.fourier import (
    BatchedNufft,
    fftc,
    nufft_adjoint,
    nufft_forward,
    radial_dcf,
    radial_density,
)
from qmrflow.simulate.kspace import radial_trajectory
from tests.recon.phantoms import relative_error, smooth_object, turns_trajectory


def _random(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_the_simulator_reexports_the_moved_operators():
    for name in ("fftc", "ifftc", "nufft_forward", "nufft_adjoint", "radial_density"):
        assert getattr(kspace, name) is getattr(fourier, name)
        assert name in kspace.__all__


def test_forward_and_adjoint_are_adjoint():
    traj = turns_trajectory(7, 5, 32, turns=3)  # 3 groups, uneven sizes
    op = BatchedNufft(traj, (24, 20))
    assert op.n_groups == 3 and list(op.groups) == [0, 1, 2, 0, 1, 2, 0]
    x = _random((7, 2, 24, 20), 1)
    y = _random((7, 2, 5 * 32), 2)
    lhs = np.vdot(op.forward(x), y)
    rhs = np.vdot(x, op.adjoint(y))
    assert lhs == pytest.approx(rhs, rel=1e-4)
    # The normal operator of one frame is A^H W A.
    w = np.random.default_rng(3).uniform(0.5, 2, 5 * 32).astype(np.float32)
    both = op.adjoint(op.forward(x[4:5], frames=[4]) * w, frames=[4])[0]
    np.testing.assert_allclose(op.normal(x[4], 4, w), both, rtol=0, atol=1e-4 * np.abs(both).max())


def test_on_the_cartesian_grid_it_is_the_centred_fft():
    image = smooth_object((32, 24)).astype(np.complex64) * np.exp(0.3j * np.arange(24))[None]
    kx = 2 * np.pi * (np.arange(32) - 16) / 32
    ky = 2 * np.pi * (np.arange(24) - 12) / 24
    grid = np.stack(np.meshgrid(kx, ky, indexing="ij"), axis=-1)  # (32, 24, 2)
    op = BatchedNufft(grid[None], (32, 24))
    reference = fftc(image)
    forward = op.forward(image[None, None])[0, 0].reshape(32, 24)
    assert relative_error(forward, reference) < 1e-3  # FINUFFT's eps is a relative l2 error
    back = op.adjoint(reference.reshape(1, 1, -1).astype(np.complex64))[0, 0]
    assert relative_error(back, image) < 1e-3


def test_single_precision_batched_operator_matches_the_double_precision_functions():
    traj = turns_trajectory(2, 7, 48)
    op = BatchedNufft(traj, (40, 48))
    x = _random((2, 3, 40, 48), 4)
    y = _random((2, 3, 7 * 48), 5)
    for t in range(2):
        ref = nufft_forward(x[t], traj[t]).reshape(3, -1)
        np.testing.assert_allclose(op.forward(x)[t], ref, atol=1e-3 * np.abs(ref).max())
        ref = nufft_adjoint(y[t].reshape(3, 7, 48), traj[t], (40, 48))
        np.testing.assert_allclose(op.adjoint(y)[t], ref, atol=1e-3 * np.abs(ref).max())


def test_the_batched_operator_equals_the_per_frame_loop():
    traj = turns_trajectory(6, 5, 40)
    op = BatchedNufft(traj, (32, 32))
    x = _random((6, 3, 32, 32), 6)
    y = _random((6, 3, 200), 7)
    w = radial_dcf(traj, (32, 32)).reshape(6, -1)
    batched_f, batched_a = op.forward(x), op.adjoint(y, weights=w)
    for t in (5, 0, 3):  # out of order: plans switch groups
        np.testing.assert_allclose(op.forward(x[t : t + 1], frames=[t])[0], batched_f[t], atol=1e-5)
        single = op.adjoint(y[t : t + 1], frames=[t], weights=w[t : t + 1])[0]
        np.testing.assert_allclose(single, batched_a[t], atol=1e-5)
    subset = op.forward(x[[4, 1]], frames=[4, 1])
    np.testing.assert_allclose(subset, batched_f[[4, 1]], atol=1e-5)


def test_frames_are_grouped_by_equal_trajectories():
    traj = turns_trajectory(6, 5, 16, turns=2)
    nearly = traj.copy()
    nearly[3] += 1e-8  # below the default tolerance: still frame 1's group
    assert list(BatchedNufft(nearly, (16, 16)).groups) == [0, 1, 0, 1, 0, 1]
    exact = BatchedNufft(nearly, (16, 16), group_tol=0.0)
    assert list(exact.groups) == [0, 1, 0, 2, 0, 1]
    shifted = traj.copy()
    shifted[4] *= 0.5  # a different trajectory
    op = BatchedNufft(shifted, (16, 16), group_tol=0.0)
    assert list(op.groups) == [0, 1, 0, 1, 2, 1] and op.n_groups == 3
    np.testing.assert_array_equal(op.group_trajectories[2], shifted[4])


def test_radial_dcf_is_the_ramp_and_handles_oversampling_and_uneven_angles():
    # Evenly spread spokes, readout spacing one cell: the simulator's analytic weights.
    traj = radial_trajectory(40, 64, angle_increment=np.pi / 40)
    np.testing.assert_allclose(radial_dcf(traj, (64, 64)), radial_density(traj, 64), rtol=1e-5)
    # 2x readout oversampling: twice the samples, each half the weight; the total is the disc.
    over = radial_trajectory(40, 128, angle_increment=np.pi / 40)
    weights = radial_dcf(over, (64, 64))
    assert weights.sum() == pytest.approx(np.pi * 32**2, rel=0.02)
    centre = weights[:, 64]
    assert np.all(centre > 0) and centre.max() < 0.01 * weights.max()
    # Golden-angle spokes: uneven gaps, the total is still the disc (per frame, leading axes).
    golden = np.stack([radial_trajectory(13, 64, first_angle=a) for a in (0.0, 0.3)])
    dcf = radial_dcf(golden, (64, 64))
    assert dcf.shape == (2, 13, 64)
    np.testing.assert_allclose(dcf.sum(axis=(1, 2)), np.pi * 32**2, rtol=0.05)
    with pytest.raises(ValueError, match="not radial"):
        radial_dcf(np.random.default_rng(0).uniform(-3, 3, (4, 16, 2)), (16, 16))


def test_bad_operator_inputs_raise_clear_errors():
    traj = turns_trajectory(2, 5, 32)
    with pytest.raises(ValueError, match=r"\[-pi, pi\]"):
        BatchedNufft(traj * 2, (32, 32))
    bad = traj.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BatchedNufft(bad, (32, 32))
    with pytest.raises(ValueError, match="2-D"):
        BatchedNufft(traj, (32, 32, 4))
    op = BatchedNufft(traj, (32, 32))
    with pytest.raises(ValueError, match="images must be"):
        op.forward(np.zeros((2, 1, 32, 30), np.complex64))
    with pytest.raises(ValueError, match="data must be"):
        op.adjoint(np.zeros((1, 1, 160), np.complex64))
    with pytest.raises(ValueError, match="frame indices"):
        op.forward(np.zeros((1, 1, 32, 32), np.complex64), frames=[2])
