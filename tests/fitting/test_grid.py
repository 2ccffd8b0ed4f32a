"""The recovery grid start (qmrflow.fitting.grid) on noiseless inversion-recovery curves."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.fitting import inversion_recovery, recovery_grid_start

TI = np.array([100.0, 300.0, 800.0, 1500.0, 3000.0])
T1_GRID = np.geomspace(100.0, 5000.0, 200)


def test_grid_finds_t1_of_magnitude_inversion_recovery():
    t1 = np.array([300.0, 800.0, 1400.0, 2500.0])
    curves = 3.0 * np.abs(inversion_recovery(t1[:, None], 1.0, TI))
    start = recovery_grid_start(curves, TI, inversion_recovery, t1_grid=T1_GRID)
    np.testing.assert_allclose(start.t1[0], t1, rtol=0.02)
    assert start.t1.shape == (1 + TI.size + 1, 4) and start.valid[0].all()
    # The class of the truth (number of TIs before the null) holds the truth.
    klass = np.count_nonzero(inversion_recovery(t1[:, None], 1.0, TI) < 0, axis=1)
    np.testing.assert_allclose(start.t1[1 + klass, np.arange(4)], t1, rtol=0.02)


def test_grid_with_efficiency_free_and_fixed():
    efficiency = np.linspace(0.8, 1.0, 11)
    t1 = np.array([600.0, 1200.0])
    k = np.array([0.86, 0.96])
    curves = np.abs(inversion_recovery(t1[:, None], k[:, None], TI))
    free = recovery_grid_start(
        curves, TI, inversion_recovery, t1_grid=T1_GRID, second_grid=efficiency
    )
    np.testing.assert_allclose(free.t1[0], t1, rtol=0.03)
    np.testing.assert_allclose(free.second[0], k, atol=0.011)
    fixed = recovery_grid_start(
        curves, TI, inversion_recovery, t1_grid=T1_GRID, second_grid=efficiency, fixed_second=k
    )
    np.testing.assert_array_equal(fixed.second, np.broadcast_to(k, fixed.second.shape))
    np.testing.assert_allclose(fixed.t1[0], t1, rtol=0.02)


def test_grid_rejects_mismatched_curves_and_has_tr_term():
    with pytest.raises(ValueError, match="amplitude"):
        recovery_grid_start(np.ones((2, 3)), TI, inversion_recovery, t1_grid=T1_GRID)
    signal = inversion_recovery(1000.0, 1.0, TI, repetition_time=4000.0)
    expected = 1 - 2 * np.exp(-TI / 1000.0) + np.exp(-4.0)
    np.testing.assert_allclose(signal, expected)
