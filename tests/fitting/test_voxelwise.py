"""The voxelwise driver (qmrflow.fitting.voxelwise) on small synthetic images."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.fitting import (
    fit_masked,
    fit_voxels,
    levenberg_marquardt,
    masked_voxels,
    relative_residual,
    to_map,
)

TIMES = np.array([10.0, 30.0, 60.0, 120.0])


def _exp_solver(data: np.ndarray, start: np.ndarray | None = None):
    """Mono-exponential S = A exp(-t/T) by Levenberg-Marquardt (start T per voxel or 50)."""

    def model(p):
        e = np.exp(-TIMES / p[:, 1:2])
        return p[:, :1] * e, np.stack([e, p[:, :1] * e * TIMES / p[:, 1:2] ** 2], axis=-1)

    t0 = np.full(data.shape[0], 50.0) if start is None else start
    x0 = np.column_stack([data[:, 0], t0])
    result = levenberg_marquardt(model, x0, data, lower=[0.0, 1.0], upper=[np.inf, 1e4])
    return result.params, result.converged, model(result.params)[0]


def test_fit_masked_recovers_maps_and_leaves_background_zero():
    rng = np.random.default_rng(0)
    amplitude = rng.uniform(1.0, 2.0, (5, 4, 3))
    decay = rng.uniform(20.0, 80.0, (5, 4, 3))
    images = amplitude[..., None] * np.exp(-TIMES / decay[..., None])
    mask = np.zeros((5, 4, 3), bool)
    mask[1:4, 1:3] = True
    fit = fit_masked(images, _exp_solver, mask=mask, chunk=5)
    assert fit.params.shape == (5, 4, 3, 2)
    np.testing.assert_allclose(fit.params[mask][:, 1], decay[mask], rtol=1e-5)
    np.testing.assert_allclose(fit.params[mask][:, 0], amplitude[mask], rtol=1e-5)
    assert np.all(fit.params[~mask] == 0) and not fit.converged[~mask].any()
    assert fit.converged[mask].all()
    assert np.all(fit.residual[mask] < 1e-5)


def test_chunking_does_not_change_the_result_and_slices_per_voxel_arrays():
    rng = np.random.default_rng(1)
    data = rng.uniform(1.0, 2.0, (23, 1)) * np.exp(-TIMES / rng.uniform(20, 80, (23, 1)))
    data += 0.01 * rng.standard_normal(data.shape)
    starts = rng.uniform(30.0, 60.0, 23)
    whole = fit_voxels(data, _exp_solver, starts, chunk=100)
    parts = fit_voxels(data, _exp_solver, starts, chunk=4)
    np.testing.assert_array_equal(whole.params, parts.params)
    np.testing.assert_array_equal(whole.residual, parts.residual)
    seen = []

    def spy(rows, extra):
        seen.append((rows.shape[0], None if extra is None else extra.shape[0]))
        return np.zeros((rows.shape[0], 1)), np.ones(rows.shape[0], bool), rows

    fit_voxels(data, spy, starts, chunk=10)
    assert seen == [(10, 10), (10, 10), (3, 3)]
    seen.clear()
    fit_voxels(data, spy, None, chunk=20)
    assert seen == [(20, None), (3, None)]


def test_masked_voxels_default_mask_and_errors():
    images = np.zeros((3, 3, 2))
    images[1, 2] = [1.0, 0.5]
    data, mask = masked_voxels(images)
    assert mask.sum() == 1 and data.tolist() == [[1.0, 0.5]]
    with pytest.raises(ValueError, match="mask shape"):
        masked_voxels(images, np.ones((3, 2), bool))
    images[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        masked_voxels(images)


def test_to_map_relative_residual_and_empty_fit():
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(to_map([2.0, 3.0], mask), [[2.0, 0.0], [0.0, 3.0]])
    assert to_map(np.ones((2, 3)), mask).shape == (2, 2, 3)
    data = np.array([[1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(
        relative_residual(data + np.array([[1.0, -1.0], [1.0, 1.0]]), data), [0.5, 0.0]
    )
    empty = fit_voxels(np.zeros((0, 4)), _exp_solver, n_params=2)
    assert empty.params.shape == (0, 2)
    with pytest.raises(ValueError, match="rows"):
        fit_voxels(np.zeros((3, 4)), _exp_solver, np.zeros(2))
