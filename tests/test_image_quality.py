"""Tests of qmrflow.image_quality."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from qmrflow.image_quality import nrmse, psnr, ssim


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    reference = np.outer(np.hanning(40), np.hanning(32)) * 1000
    return reference + rng.normal(0, 10, reference.shape), reference


def test_matches_skimage_without_mask(images):
    image, reference = images
    value_range = np.ptp(reference)
    assert psnr(image, reference) == pytest.approx(
        peak_signal_noise_ratio(reference, image, data_range=value_range)
    )
    # skimage's mean crops a 3-pixel border; ours averages the whole SSIM map (or the mask).
    _, full = structural_similarity(reference, image, data_range=value_range, full=True)
    assert ssim(image, reference) == pytest.approx(full.mean())
    expected = np.sqrt(np.mean((image - reference) ** 2)) / np.sqrt(np.mean(reference**2))
    assert nrmse(image, reference) == pytest.approx(expected)


def test_identical_images_and_ordering(images):
    image, reference = images
    assert psnr(reference, reference) == np.inf
    assert ssim(reference, reference) == pytest.approx(1.0)
    assert nrmse(reference, reference) == 0.0
    worse = reference + (image - reference) * 3
    assert psnr(worse, reference) < psnr(image, reference)
    assert ssim(worse, reference) < ssim(image, reference)
    assert nrmse(worse, reference) > nrmse(image, reference)


def test_mask_restricts_the_comparison(images):
    image, reference = images
    mask = reference > 100
    image = image.copy()
    image[~mask] = 1e6  # garbage outside the mask is ignored by PSNR and NRMSE
    inside = image[mask] - reference[mask]
    assert nrmse(image, reference, mask=mask) == pytest.approx(
        np.sqrt(np.mean(inside**2)) / np.sqrt(np.mean(reference[mask] ** 2))
    )
    assert np.isfinite(psnr(image, reference, mask=mask))


def test_stack_of_slices(images):
    image, reference = images
    stack, ref_stack = np.stack([image, image], -1), np.stack([reference, reference], -1)
    assert ssim(stack, ref_stack) == pytest.approx(ssim(image, reference), rel=1e-6)


@pytest.mark.parametrize(
    ("image", "reference", "kwargs", "match"),
    [
        (np.ones((4, 4)), np.ones((4, 5)), {}, "differ in shape"),
        (np.ones(4), np.ones(4), {}, "2-D or 3-D"),
        (np.ones((8, 8)), np.ones((8, 8)), {}, "data_range must be positive"),
        (np.full((8, 8), np.nan), np.eye(8), {}, "image has non-finite"),
        (np.eye(8), np.eye(8), {"mask": np.zeros((8, 8))}, "mask is empty"),
    ],
)
def test_bad_input(image, reference, kwargs, match):
    with pytest.raises(ValueError, match=match):
        psnr(image, reference, **kwargs)
