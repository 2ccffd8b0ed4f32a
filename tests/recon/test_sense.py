"""Temporally regularised CG-SENSE and the series entry point."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.recon import ReconResult, reconstruct_series
from qmrflow.recon.fourier import BatchedNufft, radial_dcf
from qmrflow.recon.sense import sense_frames
from qmrflow.simulate.kspace import coil_sensitivities
from tests.recon.phantoms import (
    MATRIX,
    acquire,
    relative_error,
    structured_object,
    turns_trajectory,
)


def _moving(n_frames: int, speed: float) -> np.ndarray:
    """The discs of the structured object drifting along x by ``speed`` pixels per frame."""
    return np.stack([structured_object(shift=speed * (t - n_frames / 2)) for t in range(n_frames)])


def test_cg_solves_the_regularised_normal_equations():
    # A 12 x 12 problem small enough for a dense solve of the same normal equations.
    shape, n_coils = (12, 12), 2
    traj = turns_trajectory(2, 5, 24, turns=2)
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, n_coils, 120)) + 1j * rng.standard_normal((2, n_coils, 120))
    maps = coil_sensitivities(shape, n_coils).astype(np.complex64)
    op = BatchedNufft(traj, shape, eps=1e-6, threads=1)
    w = radial_dcf(traj, shape).reshape(2, -1)
    prior = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    lam, lam0, damping = 0.4, 0.05, 0.5
    x = sense_frames(
        y.astype(np.complex64),
        op,
        maps,
        density=w,
        iterations=150,
        lam=lam,
        lam0=lam0,
        first_frame_damping=damping,
        prior=prior,
        weighting=True,
    )
    basis = np.eye(144, dtype=np.complex64).reshape(144, *shape)
    previous = prior.ravel()
    for t in range(2):
        a = op.forward(np.repeat(basis[None], 1, 0).reshape(1, 144, *shape), frames=[t])[0].T
        e = np.concatenate([a * maps[c].ravel()[None] for c in range(n_coils)])  # (C M, 144)
        wt = np.tile(w[t], n_coils)
        lam_t = lam * (damping if t == 0 else 1.0)
        normal = e.conj().T @ (wt[:, None] * e) + (lam_t + lam0) * np.eye(144)
        rhs = e.conj().T @ (wt * y[t].ravel()) + lam_t * previous
        exact = np.linalg.solve(normal, rhs)
        assert relative_error(x[t].ravel(), exact) < 1e-3
        previous = exact


def test_sense_beats_gridding_on_an_undersampled_noisy_acquisition():
    truth = np.repeat(structured_object()[None], 5, axis=0)
    traj = turns_trajectory(5, 13, 2 * MATRIX[0])
    kspace, _ = acquire(truth, traj, sigma=0.01, seed=1)
    grid = reconstruct_series(kspace, traj, MATRIX, method="gridding")
    sense = reconstruct_series(kspace, traj, MATRIX, method="sense")
    e_grid, e_sense = relative_error(grid.frames, truth), relative_error(sense.frames, truth)
    assert e_sense < 0.6 * e_grid
    # A single frame (no other turns to borrow from): still better than gridding.
    one = reconstruct_series(kspace[:1], traj[:1], MATRIX)
    one_grid = reconstruct_series(kspace[:1], traj[:1], MATRIX, method="gridding")
    assert relative_error(one.frames, truth[:1]) < relative_error(one_grid.frames, truth[:1])


def test_temporal_regularisation_lowers_the_error_of_a_slowly_moving_object():
    truth = _moving(12, speed=0.15)
    traj = turns_trajectory(12, 9, 2 * MATRIX[0])
    kspace, _ = acquire(truth, traj, sigma=0.03, seed=2)
    errors = {}
    for name, lam, warm in (("independent", 0.0, False), ("warm", 0.0, True), ("both", 0.3, True)):
        result = reconstruct_series(kspace, traj, MATRIX, lam=lam, lam0=0.01, warm_start=warm)
        errors[name] = relative_error(result.frames[4:], truth[4:])
    # The default (temporal term and warm start) against frames solved independently, and the
    # temporal term against the warm start alone (CG keeps the previous null-space components).
    assert errors["both"] < 0.85 * errors["independent"]
    assert errors["both"] < 0.95 * errors["warm"]


def test_the_result_carries_frames_maps_and_timing():
    truth = _moving(6, speed=0.2)
    traj = turns_trajectory(6, 13, 2 * MATRIX[0])
    kspace, maps = acquire(truth, traj, sigma=0.005)
    result = reconstruct_series(kspace, traj, MATRIX, return_complex=True, threads=1)
    assert isinstance(result, ReconResult) and result.method == "sense"
    assert result.frames.shape == (6, *MATRIX) and result.frames.dtype == np.float32
    assert result.images.shape == (6, *MATRIX) and result.images.dtype == np.complex64
    np.testing.assert_allclose(np.abs(result.images), result.frames, rtol=1e-6)
    assert result.sensitivities.shape == (4, *MATRIX) and result.mask.shape == MATRIX
    assert result.seconds > 0 and result.frames_per_second == pytest.approx(6 / result.seconds)
    assert result.realtime_factor(0.05) == pytest.approx(0.3 / result.seconds)
    assert set(result.timings) == {"operator", "density", "coils", "frames", "prior", "rhs", "cg"}
    # Given maps are used as they are; the complex images are dropped unless asked for.
    given = reconstruct_series(kspace, traj, MATRIX, coils=maps)
    assert given.images is None and np.array_equal(given.sensitivities, maps.astype(np.complex64))
    assert relative_error(given.frames, truth) < 0.5


def test_bad_inputs_raise_clear_errors():
    traj = turns_trajectory(3, 5, 32)
    kspace = np.zeros((3, 2, 5, 32), np.complex64)
    with pytest.raises(ValueError, match="trajectory must be"):
        reconstruct_series(kspace, traj[:2], (16, 16))
    with pytest.raises(ValueError, match="kspace must be"):
        reconstruct_series(kspace[0], traj, (16, 16))
    with pytest.raises(ValueError, match="2-D"):
        reconstruct_series(kspace, traj, (16, 16, 4))
    with pytest.raises(ValueError, match="2-D"):
        reconstruct_series(kspace, traj, 16)
    bad = kspace.copy()
    bad[1, 0, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        reconstruct_series(bad, traj, (16, 16))
    with pytest.raises(ValueError, match="complex"):
        reconstruct_series(kspace.real, traj, (16, 16))
    with pytest.raises(ValueError, match="unknown method"):
        reconstruct_series(kspace, traj, (16, 16), method="nlinv")
    with pytest.raises(ValueError, match="coils must be"):
        reconstruct_series(kspace, traj, (16, 16), coils=np.ones((3, 16, 16)))
    with pytest.raises(ValueError, match="density must be"):
        reconstruct_series(kspace, traj, (16, 16), density=np.ones((3, 5)))
    with pytest.raises(ValueError, match="iterations"):
        reconstruct_series(kspace, traj, (16, 16), iterations=0)
