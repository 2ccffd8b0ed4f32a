"""The shared magnitude recovery fit (qmrflow.fitting.recovery) on noiseless curves."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.fitting import (
    NULL_PROXIMITY,
    GridStart,
    fit_across_null,
    inversion_recovery,
    magnitude_recovery_model,
    recovery_grid_start,
    signed_recovery,
)

TI = np.array([100.0, 300.0, 800.0, 1500.0, 3000.0])
T1_GRID = np.geomspace(100.0, 5000.0, 120)
EFFICIENCY = np.linspace(0.5, 1.0, 11)
LOWER = np.array([0.0, 0.0, 10.0])
UPPER = np.array([np.inf, np.inf, 1e4])


def _initial(data: np.ndarray):
    """Grid point (T1, k) -> (A, B, T1) with A profiled out of ``data`` (B = A (1 + k))."""

    def initial(rows: np.ndarray, t1: np.ndarray, k: np.ndarray) -> np.ndarray:
        shape = np.abs(inversion_recovery(t1[:, None], k[:, None], TI))
        a = np.sum(data[rows] * shape, axis=1) / np.sum(shape**2, axis=1)
        return np.column_stack([a, a * (1.0 + k), t1])

    return initial


def _fit(data: np.ndarray, start: GridStart | None = None, **kwargs):
    if start is None:
        start = recovery_grid_start(
            data, TI, inversion_recovery, t1_grid=T1_GRID, second_grid=EFFICIENCY
        )
    options = {"lower": LOWER, "upper": UPPER, **kwargs}
    return fit_across_null(
        magnitude_recovery_model(TI),
        data,
        start,
        _initial(data),
        lambda params: signed_recovery(params, TI),
        **options,
    )


def _wrong_side_first(data: np.ndarray, truth: np.ndarray) -> GridStart:
    """A grid start whose first point is the best of the class across the null from the truth.

    The truth's TI closest to its null is put on the other side: one negative TI more when it
    lies after the null, one fewer when before.
    """
    start = recovery_grid_start(
        data, TI, inversion_recovery, t1_grid=T1_GRID, second_grid=EFFICIENCY
    )
    signed = signed_recovery(truth, TI)
    rows = np.arange(truth.shape[0])
    nearest = np.argmin(np.abs(signed), axis=1)
    klass = np.count_nonzero(signed < 0, axis=1)
    wrong = 1 + klass + np.where(signed[rows, nearest] < 0, -1, 1)
    t1, second = start.t1.copy(), start.second.copy()
    t1[0], second[0] = start.t1[wrong, rows], start.second[wrong, rows]
    return GridStart(t1, second, start.valid)


def test_model_jacobian_matches_finite_differences_on_both_sides_of_the_null() -> None:
    model = magnitude_recovery_model(TI)
    params = np.array([[1.0, 2.0, 1100.0], [2.0, 3.6, 400.0], [0.5, 0.9, 3000.0]])
    signal, jac = model(params)
    signed = signed_recovery(params, TI)
    assert (signed < 0).any() and (signed > 0).any()
    np.testing.assert_allclose(
        signal, np.abs(params[:, :1] - params[:, 1:2] * np.exp(-TI / params[:, 2:]))
    )
    np.testing.assert_array_equal(signal, np.abs(signed))
    for p in range(3):
        h = np.zeros_like(params)
        h[:, p] = 1e-6 * params[:, p]
        numeric = (model(params + h)[0] - model(params - h)[0]) / (2 * h[:, p : p + 1])
        np.testing.assert_allclose(jac[..., p], numeric, rtol=1e-6, atol=1e-9)


def test_recovers_known_parameters() -> None:
    rng = np.random.default_rng(0)
    n = 200
    a = rng.uniform(0.5, 3.0, n)
    b = a * rng.uniform(1.6, 2.0, n)
    t1 = rng.uniform(150.0, 3000.0, n)
    truth = np.column_stack([a, b, t1])
    fit = _fit(np.abs(signed_recovery(truth, TI)))
    assert fit.converged.all()
    np.testing.assert_allclose(fit.params, truth, rtol=1e-6)
    assert fit.restarted.any()  # T1 spread over the TIs puts some TI near every null
    assert fit.iterations.shape == (n,) and np.all(fit.iterations > 0)


def test_restart_across_the_null_chooses_the_right_polarity() -> None:
    # A TI (800) within a few percent of the null: both sides of it fit the data nearly equally
    # well locally, and a start on the wrong side stays there without the second start.
    truth = np.array([[1.0, 2.0, 1100.0], [2.0, 4.0, 1250.0]])
    signed = signed_recovery(truth, TI)
    data = np.abs(signed)
    start = _wrong_side_first(data, truth)

    without = _fit(data, start, null_proximity=0.0)
    assert not without.restarted.any()
    wrong = np.count_nonzero(signed_recovery(without.params, TI) < 0, axis=1)
    assert np.all(wrong != np.count_nonzero(signed < 0, axis=1))  # stuck across the null
    assert np.all(without.cost > 1e-6)

    fit = _fit(data, start)
    assert fit.restarted.all() and fit.switched.all()
    np.testing.assert_array_equal(
        np.count_nonzero(signed_recovery(fit.params, TI) < 0, axis=1),
        np.count_nonzero(signed < 0, axis=1),
    )
    np.testing.assert_allclose(fit.params, truth, rtol=1e-6)
    assert np.all(fit.cost < without.cost)


def test_right_first_start_is_kept_and_far_voxels_are_not_restarted() -> None:
    # Voxel 0: TI 800 near the null (restarted, first start kept); voxel 1: the null at
    # 500 = T1 ln 2, midway between the TIs 300 and 800 (no TI within 0.2 max of it).
    truth = np.array([[1.0, 2.0, 1100.0], [1.0, 2.0, 500.0 / np.log(2.0)]])
    signed = signed_recovery(truth, TI)
    magnitude = np.abs(signed)
    assert magnitude[1].min() > NULL_PROXIMITY * magnitude[1].max()
    fit = _fit(magnitude)
    np.testing.assert_array_equal(fit.restarted, [True, False])
    assert not fit.switched.any()
    np.testing.assert_allclose(fit.params, truth, rtol=1e-6)


def test_bounds_are_respected_by_both_starts() -> None:
    truth = np.array([[1.0, 2.0, 1100.0], [1.0, 2.0, 1250.0], [1.0, 1.8, 3000.0]])
    data = np.abs(signed_recovery(truth, TI))
    upper = np.array([np.inf, np.inf, 1000.0])  # every true T1 above the bound
    fit = _fit(data, _wrong_side_first(data, truth), upper=upper)
    assert fit.restarted.any()
    assert np.all(fit.params >= LOWER) and np.all(fit.params <= upper)
    np.testing.assert_allclose(fit.params[:, 2], 1000.0)
    # Per-voxel bounds (N, P): B held fixed at its true value in voxel 1 only.
    lower = np.tile(LOWER, (3, 1))
    upper = np.tile(UPPER, (3, 1))
    lower[1, 1] = upper[1, 1] = 1.9
    fit = _fit(data, lower=lower, upper=upper)
    assert fit.params[1, 1] == 1.9
    assert np.all(fit.params >= lower) and np.all(fit.params <= upper)


def test_rejects_inconsistent_inputs() -> None:
    data = np.abs(signed_recovery(np.array([[1.0, 2.0, 1100.0]]), TI))
    start = recovery_grid_start(data, TI, inversion_recovery, t1_grid=T1_GRID)
    model = magnitude_recovery_model(TI)
    with pytest.raises(ValueError, match="recovery times"):
        fit_across_null(model, data, start, _initial(data), lambda p: signed_recovery(p, TI[:3]))
    with pytest.raises(ValueError, match="voxels"):
        fit_across_null(model, np.vstack([data, data]), start, _initial(data), lambda p: p)
    with pytest.raises(ValueError, match="data must be"):
        fit_across_null(model, data[0], start, _initial(data), lambda p: p)
