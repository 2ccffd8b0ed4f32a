"""Challenge metrics: identical maps, a known scaling, a known offset and the DGM error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qmrflow.studies.qsm.metrics import (
    DGM_LABELS,
    challenge_metrics,
    hfen,
    rmse_percent,
    roi_means,
    ssim3d,
)

SHAPE = (32, 32, 24)


def maps():
    rng = np.random.default_rng(0)
    truth = ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.5)
    truth *= 0.05 / truth.std()
    x, y, z = np.meshgrid(*[np.arange(n) - n / 2 for n in SHAPE], indexing="ij")
    mask = (x / 14) ** 2 + (y / 14) ** 2 + (z / 10) ** 2 < 1
    labels = np.zeros(SHAPE, int)
    labels[(x < -2) & (y < -2) & mask] = 1
    labels[(x > 2) & (y < -2) & mask] = 2
    labels[(x < -2) & (y > 2) & mask] = 3
    labels[(x > 2) & (y > 2) & mask] = 4
    labels[(np.abs(x) <= 2) & mask] = 6
    return np.where(mask, truth, 0.0), mask, labels


def test_identical_maps():
    truth, mask, labels = maps()
    result = challenge_metrics(truth, truth, mask, labels)
    assert result["rmse"] == 0.0 and result["hfen"] == 0.0 and result["dgm_error"] == 0.0
    assert result["ssim"] == pytest.approx(1.0)
    assert result["correlation"] == pytest.approx(1.0)


def test_known_scaling():
    truth, mask, labels = maps()
    scaled = 1.1 * truth
    assert rmse_percent(scaled, truth, mask) == pytest.approx(10.0)
    assert hfen(scaled, truth, mask) == pytest.approx(10.0)  # the LoG filter is linear
    assert 0.9 < ssim3d(scaled, truth, mask) < 1.0
    result = challenge_metrics(scaled, truth, mask, labels)
    means = roi_means(truth, np.where(mask, labels, 0), DGM_LABELS)
    assert result["dgm_error"] == pytest.approx(0.1 * np.mean([abs(v) for v in means.values()]))
    assert result["correlation"] == pytest.approx(1.0)


def test_offset_is_not_re_referenced():
    truth, mask, labels = maps()
    shifted = np.where(mask, truth + 0.01, 0.0)
    result = challenge_metrics(shifted, truth, mask, labels)
    expected = 100 * 0.01 * np.sqrt(mask.sum()) / np.linalg.norm(truth[mask])
    assert result["rmse"] == pytest.approx(expected)
    assert result["dgm_error"] == pytest.approx(0.01)


def test_noise_lowers_ssim_and_raises_hfen():
    truth, mask, _ = maps()
    noise = np.random.default_rng(1).standard_normal(SHAPE)
    low, high = truth + 0.005 * noise, truth + 0.02 * noise
    assert 0.0 < ssim3d(high, truth, mask) < ssim3d(low, truth, mask) < 1.0
    assert 0.0 < hfen(low, truth, mask) < hfen(high, truth, mask)


def test_roi_means():
    chi = np.arange(8, dtype=float).reshape(2, 2, 2)
    labels = np.array([1, 1, 2, 2, 0, 0, 0, 0]).reshape(2, 2, 2)
    means = roi_means(chi, labels, (1, 2, 5))
    assert means[1] == 0.5 and means[2] == 2.5 and np.isnan(means[5])


def test_no_labels_and_errors():
    truth, mask, _ = maps()
    assert np.isnan(challenge_metrics(truth, truth, mask)["dgm_error"])
    with pytest.raises(ValueError):
        rmse_percent(truth, truth[:-1], mask)
    with pytest.raises(ValueError):
        rmse_percent(truth, np.zeros(SHAPE), mask)
    with pytest.raises(ValueError):
        rmse_percent(truth, truth, np.zeros(SHAPE, bool))
    with pytest.raises(ValueError):
        ssim3d(truth[:, :, :8], truth[:, :, :8], mask[:, :, :8])
