"""Batched Levenberg-Marquardt against known answers and scipy.optimize.least_squares."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from qmrflow.fitting import NllsResult, levenberg_marquardt

T = np.linspace(0.0, 5.0, 12)


def decay(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a exp(-k t) + c`` and its Jacobian, batched."""
    a, k, c = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    e = np.exp(-k * T)
    return a * e + c, np.stack([e, -a * T * e, np.ones_like(e)], axis=-1)


def random_truth(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack(
        [rng.uniform(0.5, 2.0, n), rng.uniform(0.3, 3.0, n), rng.uniform(-0.1, 0.1, n)]
    )


def scipy_fit(y: np.ndarray, x0: np.ndarray, **kwargs: object) -> np.ndarray:
    result = least_squares(
        lambda p: decay(p[None])[0][0] - y,
        x0,
        jac=lambda p: decay(p[None])[1][0],
        xtol=1e-14,
        ftol=1e-14,
        gtol=1e-14,
        **kwargs,
    )
    return result.x


def test_recovers_thousands_of_noise_free_decays() -> None:
    rng = np.random.default_rng(0)
    truth = random_truth(rng, 3000)
    y, _ = decay(truth)
    result = levenberg_marquardt(decay, np.tile([1.0, 1.0, 0.0], (3000, 1)), y, tol=1e-10)
    assert isinstance(result, NllsResult)
    assert result.params.shape == (3000, 3)
    assert result.converged.all()
    np.testing.assert_allclose(result.params, truth, atol=1e-6)
    assert np.all(result.cost < 1e-12)
    assert result.iterations.max() <= 50


def test_matches_scipy_least_squares_on_noisy_problems() -> None:
    rng = np.random.default_rng(1)
    truth = random_truth(rng, 6)
    y = decay(truth)[0] + rng.normal(0.0, 0.02, (6, T.size))
    x0 = np.tile([1.0, 1.0, 0.0], (6, 1))
    result = levenberg_marquardt(decay, x0, y, tol=1e-12, max_iterations=200)
    assert result.converged.all()
    for i in range(6):
        reference = scipy_fit(y[i], x0[i], method="lm")
        np.testing.assert_allclose(result.params[i], reference, rtol=1e-6, atol=1e-8)
        residual = decay(reference[None])[0][0] - y[i]
        np.testing.assert_allclose(result.cost[i], 0.5 * residual @ residual, rtol=1e-8)


def test_respects_bounds_and_matches_bounded_scipy() -> None:
    rng = np.random.default_rng(2)
    truth = random_truth(rng, 5)
    truth[:, 1] = rng.uniform(2.0, 3.0, 5)  # true rates above the upper bound
    y = decay(truth)[0] + rng.normal(0.0, 0.01, (5, T.size))
    lower, upper = np.array([0.0, 0.1, -1.0]), np.array([5.0, 1.5, 1.0])
    x0 = np.tile([1.0, 1.0, 0.0], (5, 1))
    result = levenberg_marquardt(
        decay, x0, y, lower=lower, upper=upper, tol=1e-12, max_iterations=200
    )
    assert np.all(result.params >= lower) and np.all(result.params <= upper)
    np.testing.assert_array_equal(result.params[:, 1], 1.5)  # active bound, exactly on it
    assert result.converged.all()
    for i in range(5):
        reference = scipy_fit(y[i], x0[i], bounds=(lower, upper), method="trf")
        np.testing.assert_allclose(result.params[i], reference, rtol=1e-5, atol=1e-6)


def test_per_problem_bounds_fix_a_parameter() -> None:
    rng = np.random.default_rng(3)
    truth = random_truth(rng, 50)
    y, _ = decay(truth)
    lower = np.tile([0.0, 0.0, -1.0], (50, 1))
    upper = np.tile([5.0, 10.0, 1.0], (50, 1))
    lower[:, 2] = upper[:, 2] = truth[:, 2]  # offset known per problem
    result = levenberg_marquardt(
        decay, np.tile([1.0, 1.0, 0.0], (50, 1)), y, lower=lower, upper=upper
    )
    np.testing.assert_array_equal(result.params[:, 2], truth[:, 2])
    np.testing.assert_allclose(result.params, truth, atol=1e-5)


def test_converged_flag_is_meaningful() -> None:
    rng = np.random.default_rng(4)
    truth = random_truth(rng, 200)
    y, _ = decay(truth)
    x0 = np.tile([1.0, 1.0, 0.0], (200, 1))
    short = levenberg_marquardt(decay, x0, y, max_iterations=2, tol=1e-10)
    assert not short.converged.any()
    np.testing.assert_array_equal(short.iterations, 2)
    full = levenberg_marquardt(decay, x0, y, tol=1e-10)
    assert full.converged.all()
    assert np.all(full.cost <= short.cost)


def test_non_finite_model_values_are_not_converged() -> None:
    def model(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred, jac = decay(params)
        bad = params[:, 0] < 0  # model undefined there
        pred[bad] = np.nan
        return pred, jac

    y, _ = decay(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
    result = levenberg_marquardt(model, np.array([[0.8, 1.2, 0.0], [-1.0, 1.0, 0.0]]), y)
    assert result.converged.tolist() == [True, False]
    assert np.isinf(result.cost[1])
    np.testing.assert_allclose(result.params[0], [1.0, 1.0, 0.0], atol=1e-5)


def test_weights_ignore_an_outlier() -> None:
    truth = np.array([[1.5, 0.8, 0.05]])
    y, _ = decay(truth)
    y = y.copy()
    y[0, 3] += 1.0
    weights = np.ones(T.size)
    weights[3] = 0.0
    result = levenberg_marquardt(decay, [[1.0, 1.0, 0.0]], y, weights=weights, tol=1e-10)
    np.testing.assert_allclose(result.params, truth, atol=1e-6)
    unweighted = levenberg_marquardt(decay, [[1.0, 1.0, 0.0]], y, tol=1e-10)
    assert np.abs(unweighted.params - truth).max() > 1e-2


def test_rejects_inconsistent_input() -> None:
    y = np.zeros((3, T.size))
    with pytest.raises(ValueError, match="x0 must be"):
        levenberg_marquardt(decay, np.zeros((2, 3)), y)
    with pytest.raises(ValueError, match="lower bound above"):
        levenberg_marquardt(decay, np.zeros((3, 3)), y, lower=[1, 1, 1], upper=[0, 0, 0])
    with pytest.raises(ValueError, match="weights"):
        levenberg_marquardt(decay, np.zeros((3, 3)), y, weights=-np.ones(T.size))
    with pytest.raises(ValueError, match="model returned"):
        levenberg_marquardt(lambda p: (np.zeros((3, 2)), np.zeros((3, 2, 3))), np.zeros((3, 3)), y)
