"""Quantification: signal -> concentration, the arterial input, mask resampling and the
Fermi-constrained deconvolution on curves simulated with the same kinetics."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.perfusion.kinetics import (
    fermi_response,
    gamma_variate,
    mbf_to_flow,
    saturation_recovery,
    tissue_operator,
    uniform_grid,
)
from qmrflow.studies.perfusion.quantify import (
    MAX_MBF,
    arterial_input,
    first_pass_frames,
    fit_fermi,
    fit_pixels,
    fit_segments,
    resample_mask,
    robust_segment_curves,
    segment_core,
    series_concentration,
)
from qmrflow.studies.perfusion.segments import segment_curves

SIGNAL = {"saturation_time": 0.1, "relaxivity": 4.5}
R10_BLOOD = 1.0 / 1.8


def frame_times(n: int = 40, seed: int = 3) -> np.ndarray:
    """Non-uniform frame times, 0.6-0.8 s apart (one frame per heartbeat)."""
    steps = np.random.default_rng(seed).uniform(0.6, 0.8, n - 1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def input_curve(times: np.ndarray) -> np.ndarray:
    return gamma_variate(times, onset=4.0, alpha=3.0, beta=1.2, peak=6.0, recirculation=0.1)


def simulate(times, aif, mbf, tau0, k, delay, dt=0.1) -> np.ndarray:
    """``(T, P)`` tissue curves of the project's kinetic model."""
    grid = uniform_grid(times, dt)
    response = fermi_response(grid, mbf_to_flow(mbf), tau0, k, delay)
    return tissue_operator(aif, times, dt) @ np.atleast_2d(response).T


# --- signal to concentration ------------------------------------------------------------------


def test_series_concentration_inverts_the_signal_model():
    rng = np.random.default_rng(0)
    truth = np.zeros((8, 4, 5))
    truth[3:] = rng.uniform(0.0, 3.0, (5, 4, 5))
    pd = rng.uniform(500, 1500, (4, 5))
    signal = saturation_recovery(truth, pd=pd, r10=1.0, **SIGNAL)
    np.testing.assert_allclose(
        series_concentration(signal, pd, r10=1.0, **SIGNAL), truth, atol=1e-9
    )


def test_baseline_subtraction_absorbs_a_wrong_native_r1():
    truth = np.zeros((10, 2, 2))
    truth[4:] = 1.5
    pd = np.full((2, 2), 1000.0)
    signal = saturation_recovery(truth, pd=pd, r10=1 / 1.2, **SIGNAL)
    conc = series_concentration(signal, pd, r10=1 / 1.0, baseline_frames=4, **SIGNAL)
    np.testing.assert_allclose(conc[:4], 0.0, atol=1e-12)
    np.testing.assert_allclose(conc[4:], 1.5, rtol=0.02)


def test_series_concentration_rejects_bad_input():
    series = np.ones((6, 3, 3))
    with pytest.raises(ValueError, match="pd"):
        series_concentration(series, np.ones((3, 4)), r10=1.0, **SIGNAL)
    with pytest.raises(ValueError, match="baseline_frames"):
        series_concentration(series, np.ones((3, 3)), r10=1.0, baseline_frames=0, **SIGNAL)
    bad = series.copy()
    bad[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match="series"):
        series_concentration(bad, np.ones((3, 3)), r10=1.0, **SIGNAL)


# --- arterial input ---------------------------------------------------------------------------


def aif_phantom(times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LV pool: a 5x5 core with the full input inside a 7x7 mask whose edge is half partial-
    volumed with myocardium (half the concentration)."""
    aif = input_curve(times)
    conc = np.zeros((times.size, 12, 12))
    conc[:, 2:9, 2:9] = 0.5 * aif[:, None, None]
    conc[:, 3:8, 3:8] = aif[:, None, None]
    pd = np.full((12, 12), 800.0)
    series = saturation_recovery(conc, pd=pd, r10=R10_BLOOD, **SIGNAL)
    mask = np.zeros((12, 12), dtype=bool)
    mask[2:9, 2:9] = True
    return series, pd, mask, aif


def test_arterial_input_uses_the_core_of_the_pool():
    times = frame_times()
    series, pd, mask, aif = aif_phantom(times)
    core = arterial_input(series, pd, mask, r10=R10_BLOOD, **SIGNAL)
    np.testing.assert_allclose(core, aif, atol=1e-9)
    plain = arterial_input(series, pd, mask, r10=R10_BLOOD, robust=False, **SIGNAL)
    np.testing.assert_allclose(plain, aif, atol=1e-9)
    whole = arterial_input(
        series, pd, mask, r10=R10_BLOOD, core_fraction=None, robust=False, **SIGNAL
    )
    np.testing.assert_allclose(whole, aif * (25 + 0.5 * 24) / 49, atol=1e-9)
    # the per-frame median of the whole mask is a core value: 25 of its 49 pixels
    median = arterial_input(series, pd, mask, r10=R10_BLOOD, core_fraction=None, **SIGNAL)
    np.testing.assert_allclose(median, aif, atol=1e-9)


def test_arterial_input_removes_the_noise_floor_of_a_short_saturation_time():
    """At the AIF series' short saturation time the pre-contrast signal is near the noise:
    the magnitude's (Rician) bias there must not lower the whole input."""
    rng = np.random.default_rng(3)
    times = frame_times()
    aif = input_curve(times)
    signal = {"saturation_time": 0.02, "relaxivity": 4.5}
    pd = np.full((16, 16), 1000.0)
    clean = saturation_recovery(
        np.broadcast_to(aif[:, None, None], (40, 16, 16)), pd=pd, r10=R10_BLOOD, **signal
    )
    sigma = clean.max() / 30.0  # SNR 30 at the peak, about 0.7 before the contrast
    noise = rng.normal(0.0, sigma, (2, *clean.shape))
    series = np.hypot(clean + noise[0], noise[1])
    pd_noisy = np.hypot(pd + rng.normal(0, sigma, pd.shape), rng.normal(0, sigma, pd.shape))
    mask = np.ones((16, 16), dtype=bool)
    tail = times > 20.0
    robust = arterial_input(series, pd_noisy, mask, r10=R10_BLOOD, **signal)
    plain = arterial_input(series, pd_noisy, mask, r10=R10_BLOOD, robust=False, **signal)
    assert abs(np.mean(robust[tail] - aif[tail])) < 0.03
    assert np.mean(plain[tail] - aif[tail]) < -0.05  # the biased baseline lowers the tail
    np.testing.assert_allclose(robust.max(), aif.max(), rtol=0.02)
    assert abs(np.mean(robust[:5])) < 0.03


def test_arterial_input_rejects_bad_masks():
    times = frame_times(12)
    series, pd, mask, _ = aif_phantom(times)
    with pytest.raises(ValueError, match="lv_mask"):
        arterial_input(series, pd, np.zeros_like(mask), r10=R10_BLOOD, **SIGNAL)
    with pytest.raises(ValueError, match="lv_mask"):
        arterial_input(series, pd, mask[:5], r10=R10_BLOOD, **SIGNAL)
    with pytest.raises(ValueError, match="core_fraction"):
        arterial_input(series, pd, mask, r10=R10_BLOOD, core_fraction=1.5, **SIGNAL)


# --- mask resampling --------------------------------------------------------------------------


def test_resample_mask_goes_through_world_coordinates():
    rng = np.random.default_rng(1)
    source = rng.random((40, 40, 3)) > 0.5
    source_affine = np.diag([1.0, 1.0, 10.0, 1.0])
    target_affine = np.diag([2.0, 2.0, 10.0, 1.0])
    target_affine[:3, 3] = [3.0, 0.0, 12.0]  # 3 mm along x; z = 12 mm is nearest slice 1
    target = resample_mask(source, source_affine, target_affine, (16, 20, 1))
    np.testing.assert_array_equal(target[..., 0], source[3:35:2, 0:40:2, 1])
    # a 2-D source mask is one slice; a 2-D target shape gives a 2-D mask
    flat = resample_mask(source[..., 1], source_affine, target_affine, (16, 20))
    np.testing.assert_array_equal(flat, target[..., 0])
    # beyond the grid in plane: False
    assert not resample_mask(source, source_affine, target_affine, (20, 20, 1))[
        19:
    ].any()  # x = 41 mm


def test_resample_mask_clips_the_slice_of_a_thick_aif_slice():
    source = np.ones((8, 8, 3), dtype=bool)
    source_affine = np.diag([1.0, 1.0, 10.0, 1.0])
    target_affine = np.diag([1.0, 1.0, 10.0, 1.0])
    target_affine[2, 3] = -8.0  # the AIF slice lies just basal to the stack
    assert resample_mask(source, source_affine, target_affine, (8, 8, 1)).all()
    empty = resample_mask(source, source_affine, target_affine, (8, 8, 1), clip_slices=False)
    assert not empty.any()
    with pytest.raises(ValueError, match="source_affine"):
        resample_mask(source, np.eye(3), target_affine, (8, 8, 1))
    with pytest.raises(ValueError, match="target_affine"):
        resample_mask(source, source_affine, np.zeros((4, 4)), (8, 8, 1))


# --- Fermi deconvolution ----------------------------------------------------------------------

MBF = np.array([1.0, 2.5, 3.5, 1.0, 2.5, 3.5])
TAU0 = np.array([2.0, 3.0, 2.5, 4.0, 2.0, 3.5])
K = np.array([0.7, 1.0, 1.4, 0.5, 0.8, 1.2])


@pytest.mark.parametrize(
    ("delays", "candidates"),
    [
        (np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]), None),  # default candidates: every dt
        (np.array([0.25, 0.75, 1.25, 2.25, 2.75, 0.0]), np.arange(0.0, 3.01, 0.25)),
    ],
)
def test_fit_fermi_recovers_noise_free_mbf(delays, candidates):
    times = frame_times()
    aif = input_curve(times)
    tissue = simulate(times, aif, MBF, TAU0, K, delays)
    fit = fit_fermi(tissue, aif, times, delays=candidates)
    np.testing.assert_allclose(fit.mbf, MBF, rtol=0.02)
    np.testing.assert_allclose(fit.delay, delays, atol=1e-9)
    np.testing.assert_allclose(fit.tau0, TAU0, rtol=0.02)
    np.testing.assert_allclose(fit.k, K, rtol=0.02)
    assert fit.converged.all()
    assert fit.residual.max() < 1e-3
    assert fit.n_frames == first_pass_frames(aif, times)
    exhaustive = fit_fermi(tissue, aif, times, delays=candidates, exhaustive=True)
    np.testing.assert_allclose(exhaustive.mbf, fit.mbf, rtol=1e-6)
    # noise-free, the best delay fits far better than its neighbours: the average is the best
    averaged = fit_fermi(tissue, aif, times, delays=candidates, average_delay=True)
    np.testing.assert_allclose(averaged.mbf, MBF, rtol=0.02)
    np.testing.assert_allclose(averaged.delay, delays, atol=0.02)


def test_fit_fermi_with_mild_noise():
    rng = np.random.default_rng(7)
    times = frame_times()
    aif = input_curve(times)
    n = 150
    mbf = rng.choice([1.0, 2.5, 3.5], n)
    tissue = simulate(
        times, aif, mbf, rng.uniform(2, 4, n), rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 2, n)
    )
    noisy = tissue + rng.normal(0.0, 0.005, tissue.shape)  # ~1 % of the tissue peak
    error = fit_fermi(noisy, aif, times).mbf / mbf - 1
    assert np.median(np.abs(error)) < 0.05
    assert abs(np.median(error)) < 0.02
    averaged = fit_fermi(noisy, aif, times, average_delay=True).mbf / mbf - 1
    assert np.median(np.abs(averaged)) < 0.05
    assert abs(np.median(averaged)) < 0.02
    with pytest.raises(ValueError, match="average_delay"):
        fit_fermi(noisy, aif, times, delay=1.0, average_delay=True)


def test_averaging_the_delay_steadies_noisy_fits():
    rng = np.random.default_rng(8)
    times = frame_times()
    aif = input_curve(times)
    n = 100
    mbf = rng.uniform(1.0, 3.5, n)
    tissue = simulate(
        times, aif, mbf, rng.uniform(2, 4, n), rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 2, n)
    )
    noisy = tissue + rng.normal(0.0, 0.02, tissue.shape)  # a segment curve of ~10 pixels
    best = np.abs(fit_fermi(noisy, aif, times).mbf / mbf - 1)
    averaged = np.abs(fit_fermi(noisy, aif, times, average_delay=True).mbf / mbf - 1)
    assert np.percentile(averaged, 90) < np.percentile(best, 90)
    assert np.median(averaged) < np.median(best)


def test_first_pass_window():
    times = np.arange(30.0)
    aif = np.zeros(30)
    aif[5:12] = [1, 4, 8, 10, 6, 2, 1]  # peak at 8 s, below 25 % from 10 s
    assert first_pass_frames(aif, times) == 15  # frames up to 10 + 4 s
    assert first_pass_frames(aif, times, margin=0.0) == 11
    assert first_pass_frames(np.ones(8), np.arange(8.0)) == 8  # never falls: every frame


def test_fit_fermi_rejects_bad_input():
    times = frame_times(20)
    aif = input_curve(times)
    tissue = simulate(times, aif, [2.0], [2.0], [1.0], [0.5])
    with pytest.raises(ValueError, match="tissue"):
        fit_fermi(tissue[:-1], aif, times)
    with pytest.raises(ValueError, match="aif"):
        fit_fermi(tissue, aif[:-1], times)
    bad = tissue.copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError, match="tissue holds NaN"):
        fit_fermi(bad, aif, times)
    bad_aif = aif.copy()
    bad_aif[2] = np.inf
    with pytest.raises(ValueError, match="aif holds NaN"):
        fit_fermi(tissue, bad_aif, times)
    with pytest.raises(ValueError, match="frame_times"):
        fit_fermi(tissue, aif, times[::-1])
    with pytest.raises(ValueError, match="delays"):
        fit_fermi(tissue, aif, times, delays=[-1.0, 0.0])
    with pytest.raises(ValueError, match="n_frames"):
        fit_fermi(tissue, aif, times, n_frames=3)
    with pytest.raises(ValueError, match="aif"):
        fit_fermi(tissue, np.zeros_like(aif), times)


def test_fit_segments_and_fit_pixels():
    times = frame_times(30)
    aif = input_curve(times)
    segments = np.zeros((6, 5), dtype=int)
    segments[1, 1:4] = 7
    segments[3, 1:3] = 9
    truth = {7: 3.0, 9: 1.0}
    concentration = np.zeros((times.size, 6, 5))
    for segment, mbf in truth.items():
        curve = simulate(times, aif, [mbf], [2.5], [1.0], [1.0])[:, 0]
        concentration[:, segments == segment] = curve[:, None]
    fit = fit_segments(concentration, segments, aif, times)
    assert fit.mbf.shape == (16,)
    np.testing.assert_allclose(fit.mbf[[6, 8]], [3.0, 1.0], rtol=0.02)
    assert np.isnan(np.delete(fit.mbf, [6, 8])).all()
    assert fit.converged[[6, 8]].all() and not np.delete(fit.converged, [6, 8]).any()

    maps = fit_pixels(concentration, segments > 0, aif, times)
    assert maps.mbf.shape == (6, 5)
    np.testing.assert_allclose(maps.mbf[segments == 7], 3.0, rtol=0.02)
    np.testing.assert_allclose(maps.mbf[segments == 9], 1.0, rtol=0.02)
    assert np.all(maps.mbf[segments == 0] == 0) and not maps.converged[segments == 0].any()
    empty = fit_pixels(concentration, np.zeros((6, 5), dtype=bool), aif, times)
    assert not empty.mbf.any() and not empty.converged.any()
    with pytest.raises(ValueError, match="mask"):
        fit_pixels(concentration, np.ones((5, 5), dtype=bool), aif, times)
    with pytest.raises(ValueError, match="segments"):
        fit_segments(concentration, np.zeros((6, 5), dtype=int), aif, times)


def test_fit_fermi_at_given_delays():
    times = frame_times()
    aif = input_curve(times)
    delays = np.array([0.5, 1.0, 1.5, 2.0, 0.7, 1.2])
    tissue = simulate(times, aif, MBF, TAU0, K, delays)
    fit = fit_fermi(tissue, aif, times, delay=delays)
    np.testing.assert_allclose(fit.mbf, MBF, rtol=0.02)
    np.testing.assert_allclose(fit.delay, delays, atol=1e-9)
    # a wrong delay biases the flow: the reason pixels borrow their segment's delay
    late = fit_fermi(tissue, aif, times, delay=delays + 0.3)
    assert np.all(late.mbf > MBF * 1.03)
    with pytest.raises(ValueError, match="delay"):
        fit_fermi(tissue, aif, times, delay=-1.0)


def test_fit_fermi_bounds_the_flow():
    times = frame_times()
    aif = input_curve(times)
    tissue = simulate(times, aif, [3.0, 14.0], [2.5, 2.5], [1.0, 1.0], [1.0, 1.0])
    fit = fit_fermi(tissue, aif, times)
    np.testing.assert_allclose(fit.mbf[0], 3.0, rtol=0.02)
    assert fit.mbf[1] <= MAX_MBF + 1e-9 and fit.mbf[1] > 0.9 * MAX_MBF
    free = fit_fermi(tissue, aif, times, max_mbf=None)
    np.testing.assert_allclose(free.mbf, [3.0, 14.0], rtol=0.02)
    with pytest.raises(ValueError, match="max_mbf"):
        fit_fermi(tissue, aif, times, max_mbf=0.0)


def ring_segments() -> np.ndarray:
    """Two segments of a 4-pixel thick ring, and a 1-pixel thin segment."""
    xx, yy = np.meshgrid(np.arange(24), np.arange(24), indexing="ij")
    radius = np.hypot(xx - 12, yy - 12)
    segments = np.zeros((24, 24), dtype=int)
    ring = (radius >= 5) & (radius < 9)
    segments[ring & (xx < 12)] = 1
    segments[ring & (xx >= 12)] = 2
    segments[0, 2:10] = 3
    return segments


def test_segment_core_drops_the_border_pixels():
    segments = ring_segments()
    core = segment_core(segments)
    assert set(np.unique(core)) == {0, 1, 2, 3}
    ring = segments > 0
    border = ring & ~np.all(
        [np.roll(np.roll(ring, i, 0), j, 1) for i in (-1, 0, 1) for j in (-1, 0, 1)], axis=0
    )
    assert not core[border & (segments < 3)].any()  # no pixel touching blood or epicardium
    assert np.all(core[segments == 3] == 3)  # too thin for a core: kept whole
    assert 0.2 < (core == 1).sum() / (segments == 1).sum() < 0.7
    stack = segment_core(np.stack([segments, segments], axis=-1))
    np.testing.assert_array_equal(stack[..., 1], core)


def test_robust_segment_curves_leave_out_outlier_pixels():
    rng = np.random.default_rng(0)
    segments = ring_segments()
    n = 12
    truth = np.linspace(0.0, 1.0, n)
    concentration = truth[:, None, None] + rng.normal(0, 0.02, (n, 24, 24))
    concentration[:, segments == 0] = 0.0
    np.testing.assert_allclose(
        robust_segment_curves(concentration, segments, clip=None),
        segment_curves(concentration, segments),
    )
    spiked = concentration.copy()
    pixels = np.argwhere(segments == 1)[:5]
    spiked[8, pixels[:, 0], pixels[:, 1]] += 5.0  # blood in five pixels of one frame
    mean = segment_curves(spiked, segments)[:, 0]
    robust = robust_segment_curves(spiked, segments)[:, 0]
    assert mean[8] - truth[8] > 0.25
    np.testing.assert_allclose(robust, truth, atol=0.02)
    assert np.isnan(robust_segment_curves(spiked, segments)[:, 5]).all()  # absent segment
    # noise-free and uniform: exactly the mean
    flat = np.broadcast_to(truth[:, None, None], (n, 24, 24))
    np.testing.assert_allclose(robust_segment_curves(flat, segments)[:, 0], truth)


def test_fit_pixels_at_their_segment_delay():
    times = frame_times(30)
    aif = input_curve(times)
    delays = {7: 0.6, 9: 1.4}
    segments = np.zeros((6, 5), dtype=int)
    segments[1, 1:4] = 7
    segments[3, 1:3] = 9
    concentration = np.zeros((times.size, 6, 5))
    for segment, mbf in {7: 3.0, 9: 1.0}.items():
        curve = simulate(times, aif, [mbf], [2.5], [1.0], [delays[segment]])[:, 0]
        concentration[:, segments == segment] = curve[:, None]
    per_segment = fit_segments(concentration, segments, aif, times)
    np.testing.assert_allclose(per_segment.delay[[6, 8]], [0.6, 1.4], atol=1e-9)
    delay = np.where(segments > 0, per_segment.delay[np.clip(segments - 1, 0, None)], 0.0)
    maps = fit_pixels(concentration, segments > 0, aif, times, delay=delay)
    np.testing.assert_allclose(maps.delay[segments == 9], 1.4, atol=1e-9)
    np.testing.assert_allclose(maps.mbf[segments == 7], 3.0, rtol=0.02)
    np.testing.assert_allclose(maps.mbf[segments == 9], 1.0, rtol=0.02)
