"""MDME chunk fit (qmrflow.studies.synthmri.mdme) near the null of the saturation delays."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from qmrflow.studies.synthmri.mdme import T1_BOUNDS, fit_chunk
from qmrflow.studies.synthmri.protocol import DEFAULT_PROTOCOL, mdme_signal

# The delays 150 and 580 ms; the longer delays have no null within the T1 bounds.
NULL_DELAYS = np.unique(DEFAULT_PROTOCOL.delays)[:2]
FACTORS = np.array([0.95, 0.97, 0.99, 1.01, 1.03, 1.05])


def _null_t1(delay: float, b1: float) -> float:
    """T1 at which the recovery term R of ``delay`` is zero (the signal null)."""
    theta = np.deg2rad(DEFAULT_PROTOCOL.saturation_angle) * b1
    tr = DEFAULT_PROTOCOL.repetition_time

    def recovery(t1: float) -> float:
        return 1 - (1 - np.cos(theta)) * np.exp(-delay / t1) - np.cos(theta) * np.exp(-tr / t1)

    return brentq(recovery, T1_BOUNDS[0], T1_BOUNDS[1])


def _near_null(b1: np.ndarray, seed: int = 0) -> np.ndarray:
    """(T1, T2, PD, B1) with T1 1-5 % either side of the null of 150 or 580 ms at that B1."""
    rng = np.random.default_rng(seed)
    n = b1.size
    t1 = [_null_t1(NULL_DELAYS[i % 2], b) * FACTORS[i % FACTORS.size] for i, b in enumerate(b1)]
    return np.column_stack([t1, rng.uniform(40.0, 200.0, n), rng.uniform(0.5, 1.0, n), b1])


def test_noise_free_voxels_near_the_null_are_recovered() -> None:
    truth = _near_null(np.random.default_rng(1).uniform(0.95, 1.15, 60))
    signal = mdme_signal(*truth.T, DEFAULT_PROTOCOL)
    params, converged, prediction = fit_chunk(signal, DEFAULT_PROTOCOL, None, 50)
    assert params.shape == (60, 4) and prediction.shape == signal.shape
    assert converged.all()
    np.testing.assert_allclose(params, truth, rtol=1e-4)
    np.testing.assert_allclose(prediction, signal, atol=1e-8)


def test_known_b1_is_held_and_the_rest_recovered() -> None:
    # B1 on the grid's B1 columns (step 0.05): with B1 fixed, the grid start's polarity classes
    # are those of the nearest grid column, so only there are they exact within 1 % of the null.
    b1 = np.round(np.random.default_rng(1).uniform(0.95, 1.15, 60) / 0.05) * 0.05
    truth = _near_null(b1)
    signal = mdme_signal(*truth.T, DEFAULT_PROTOCOL)
    params, converged, _ = fit_chunk(signal, DEFAULT_PROTOCOL, None, 50, b1)
    np.testing.assert_array_equal(params[:, 3], b1)
    assert converged.all()
    np.testing.assert_allclose(params, truth, rtol=1e-4)
