"""Look-Locker T1 fit on synthetic voxels with known A, B and T1."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.breathing.t1 import T1Fit, fit_t1, look_locker_model, roi_t1

TI = 0.05 + 0.1 * np.arange(40)  # s: one single-shot inversion recovery, 50 ms to 3.95 s


def voxels(
    shape: tuple[int, ...], seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random ``A`` (50-200), ``B/A`` (1.8-2.0), T1 (0.4-1.5 s); T1* = T1 / (B/A - 1)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(50.0, 200.0, shape)
    ratio = rng.uniform(1.8, 2.0, shape)
    t1 = rng.uniform(0.4, 1.5, shape)
    return a, a * ratio, t1, t1 / (ratio - 1.0)


def signal(
    a: np.ndarray, b: np.ndarray, t1_star: np.ndarray, snr: float | None = None, seed: int = 1
) -> np.ndarray:
    """``(..., M)`` magnitude images; with ``snr`` complex Gaussian noise of ``sigma = A/snr``."""
    signed = a[..., None] - b[..., None] * np.exp(-TI / t1_star[..., None])
    if snr is None:
        return np.abs(signed)
    rng = np.random.default_rng(seed)
    sigma = (a / snr)[..., None]
    return np.hypot(
        signed + rng.normal(size=signed.shape) * sigma, rng.normal(size=signed.shape) * sigma
    )


def test_noise_free_recovers_t1_within_half_a_percent() -> None:
    a, b, t1, t1_star = voxels((20, 15))
    fit = fit_t1(signal(a, b, t1_star), TI)
    assert isinstance(fit, T1Fit)
    assert fit.t1.shape == (20, 15) and fit.valid.all()
    np.testing.assert_allclose(fit.t1, t1, rtol=0.005)
    np.testing.assert_allclose(fit.t1_star, t1_star, rtol=0.005)
    np.testing.assert_allclose(fit.a, a, rtol=0.005)
    np.testing.assert_allclose(fit.b, b, rtol=0.005)
    assert np.all(fit.r2 > 0.9999)


def test_noise_free_with_a_ti_at_the_null() -> None:
    """T1* chosen so that the signal is exactly zero at one inversion time."""
    a = np.full(5, 100.0)
    ratio = np.array([1.8, 1.9, 2.0, 1.85, 1.95])
    t1_star = TI[[3, 5, 8, 10, 12]] / np.log(ratio)  # A = B exp(-TI/T1*) at that TI
    fit = fit_t1(signal(a, a * ratio, t1_star), TI)
    np.testing.assert_allclose(fit.t1, t1_star * (ratio - 1), rtol=0.005)


def test_snr_50_median_error_within_three_percent() -> None:
    a, b, t1, t1_star = voxels((2000,), seed=2)
    fit = fit_t1(signal(a, b, t1_star, snr=50.0, seed=3), TI)
    assert fit.valid.mean() > 0.98
    error = (fit.t1[fit.valid] - t1[fit.valid]) / t1[fit.valid]
    assert abs(np.median(error)) < 0.03
    assert np.median(np.abs(error)) < 0.02


def test_frames_first_and_masked() -> None:
    a, b, _, t1_star = voxels((6, 7), seed=4)
    images = signal(a, b, t1_star)
    mask = np.zeros((6, 7), dtype=bool)
    mask[1:4, 2:6] = True
    fit = fit_t1(np.moveaxis(images, -1, 0), TI, mask, axis=0)
    last = fit_t1(images, TI, mask)
    np.testing.assert_allclose(fit.t1, last.t1)
    assert np.array_equal(fit.mask, mask)
    assert np.all(fit.t1[~mask] == 0) and not fit.valid[~mask].any()


def test_failed_fits_are_invalid_and_roi_median_ignores_them() -> None:
    a = np.full((10, 10), 100.0)
    t1 = np.where(np.arange(10)[:, None] < 5, 0.8, 1.2) * np.ones((10, 10))
    ratio = np.full((10, 10), 1.9)
    images = signal(a, a * ratio, t1 / (ratio - 1), snr=200.0, seed=5)
    rng = np.random.default_rng(6)
    images[0, :4] = rng.uniform(0, 5, (4, TI.size))  # lung: noise only, no recovery curve
    images[1, :2] = 50.0 + 0 * TI  # flat signal, no recovery
    fit = fit_t1(images, TI)
    assert not fit.valid[0, :4].any() and not fit.valid[1, :2].any()
    roi = np.zeros((10, 10), dtype=bool)
    roi[:3, :] = True  # 24 voxels of T1 = 0.8 s, 6 failed voxels
    assert roi_t1(fit, roi) == pytest.approx(0.8, rel=0.01)
    mixed = np.zeros((10, 10), dtype=bool)
    mixed[2:9, 0] = True  # 3 voxels at 0.8 s, 4 at 1.2 s
    assert roi_t1(fit, mixed) == pytest.approx(1.2, rel=0.01)
    only_failed = np.zeros((10, 10), dtype=bool)
    only_failed[0, :4] = True
    assert np.isnan(roi_t1(fit, only_failed))


def test_model_jacobian_matches_finite_differences() -> None:
    model = look_locker_model(TI)
    params = np.array([[100.0, 190.0, 0.9], [80.0, 150.0, 1.4]])
    _, jac = model(params)
    step = 1e-6 * params
    for p in range(3):
        up, down = params.copy(), params.copy()
        up[:, p] += step[:, p]
        down[:, p] -= step[:, p]
        numeric = (model(up)[0] - model(down)[0]) / (2 * step[:, p : p + 1])
        np.testing.assert_allclose(jac[..., p], numeric, rtol=1e-5, atol=1e-6)


def test_bad_inputs() -> None:
    a, b, _, t1_star = voxels((3, 3))
    images = signal(a, b, t1_star)
    with pytest.raises(ValueError, match="one inversion time per image"):
        fit_t1(images, TI[:-1])
    nan = images.copy()
    nan[1, 1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_t1(nan, TI)
    with pytest.raises(ValueError, match="distinct"):
        fit_t1(images, np.r_[TI[:-1], TI[0]])
    with pytest.raises(ValueError, match="at least 4"):
        fit_t1(images[..., :3], TI[:3])
    with pytest.raises(ValueError, match="mask shape"):
        fit_t1(images, TI, np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="bounds"):
        fit_t1(images, TI, t1_star_bounds=(2.0, 1.0))
    fit = fit_t1(images, TI)
    with pytest.raises(ValueError, match="ROI shape"):
        roi_t1(fit, np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="no voxel"):
        roi_t1(fit, np.zeros((3, 3), dtype=bool))
