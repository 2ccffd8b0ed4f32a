"""First-pass kinetics: analytic cases of the input, the Fermi response, the convolution and the
saturation-recovery signal."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.perfusion.kinetics import (
    DENSITY,
    concentration_from_signal,
    fermi_response,
    flow_to_mbf,
    gamma_variate,
    mbf_to_flow,
    saturation_recovery,
    tissue_operator,
    uniform_grid,
)


def test_gamma_variate_peaks_where_and_as_high_as_asked():
    t = np.linspace(0, 40, 40001)
    curve = gamma_variate(t, onset=5.0, alpha=3.0, beta=1.5, peak=6.0)
    assert curve.max() == pytest.approx(6.0)
    assert t[np.argmax(curve)] == pytest.approx(5.0 + 3.0 * 1.5, abs=1e-3)
    assert np.all(curve[t <= 5.0] == 0.0)


def test_recirculation_adds_a_later_smaller_pass():
    t = np.linspace(0, 60, 6001)
    first = gamma_variate(t, onset=5.0, alpha=3.0, beta=1.5, peak=6.0)
    both = gamma_variate(t, onset=5.0, alpha=3.0, beta=1.5, peak=6.0, recirculation=0.2)
    extra = both - first
    assert extra.max() == pytest.approx(0.2 * 6.0, rel=1e-3)
    assert t[np.argmax(extra)] > t[np.argmax(first)] + 7.0


def test_fermi_response_starts_at_the_flow_and_decays():
    t = np.linspace(0, 30, 301)
    r = fermi_response(t, flow=[0.05, 0.02], tau0=[2.0, 4.0], k=[0.5, 1.0])
    assert r.shape == (2, 301)
    np.testing.assert_allclose(r[:, 0], [0.05, 0.02])
    assert np.all(np.diff(r, axis=1) <= 1e-15)
    # at the shoulder t = tau0: F (1 + e^{-k tau0}) / 2
    assert r[0, 20] == pytest.approx(0.05 * (1 + np.exp(-1.0)) / 2)


def test_fermi_response_delay_shifts_it():
    t = np.arange(0, 20, 0.5)
    plain = fermi_response(t, 0.04, 3.0, 0.8)
    late = fermi_response(t, 0.04, 3.0, 0.8, delay=1.5)
    np.testing.assert_allclose(late[3:], plain[:-3])
    assert np.all(late[:3] == 0)


def test_mbf_units_round_trip():
    assert flow_to_mbf(DENSITY / 60.0) == pytest.approx(1.0)
    np.testing.assert_allclose(mbf_to_flow(flow_to_mbf([0.01, 0.05])), [0.01, 0.05])


def test_tissue_operator_convolves_a_box_input_exactly():
    """A constant input of height a convolved with a constant response F gives a F t."""
    frames = np.array([0.0, 1.0, 2.5, 4.0, 7.3, 9.0])
    dt = 0.01
    m = tissue_operator(np.full(frames.size, 2.0), frames, dt)
    grid = uniform_grid(frames, dt)
    tissue = m @ np.full(grid.size, 0.03)
    # rectangle rule counts the sample at t = 0 too: a F (t + dt)
    np.testing.assert_allclose(tissue, 2.0 * 0.03 * (frames + dt), rtol=1e-9)


def test_tissue_operator_handles_many_pixels_at_once():
    frames = np.cumsum(np.full(30, 0.8))
    aif = gamma_variate(frames, onset=3.0, alpha=2.5, beta=1.2, peak=5.0)
    m = tissue_operator(aif, frames, 0.1)
    grid = uniform_grid(frames, 0.1)
    responses = fermi_response(grid, [0.02, 0.04], 3.0, 0.7)
    curves = m @ responses.T
    assert curves.shape == (30, 2)
    np.testing.assert_allclose(curves[:, 1], 2 * curves[:, 0])


def test_tissue_operator_rejects_bad_times():
    with pytest.raises(ValueError, match="increase"):
        tissue_operator([1.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="must match"):
        tissue_operator([1.0, 2.0, 3.0], [1.0, 2.0])


def test_saturation_recovery_inverts():
    c = np.array([0.0, 0.5, 2.0, 6.0])
    kwargs = {"pd": 1000.0, "saturation_time": 0.1, "r10": 1 / 1.2, "relaxivity": 4.5}
    signal = saturation_recovery(c, **kwargs)
    np.testing.assert_allclose(concentration_from_signal(signal, **kwargs), c, atol=1e-9)


def test_concentration_from_signal_clips_and_refuses_zero_pd():
    out = concentration_from_signal(
        np.array([2000.0, 10.0]),
        pd=np.array([1000.0, 0.0]),
        saturation_time=0.1,
        r10=1.0,
        relaxivity=4.5,
    )
    assert np.isfinite(out[0]) and np.isnan(out[1])
