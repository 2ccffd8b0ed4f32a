"""Robust PCA by inexact ALM: exact recovery, the perfusion reference, diagnostics, errors."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.registration.rpca import (
    RobustPCA,
    default_lambda,
    pca_reference,
    robust_pca,
    rpca_reference,
    synthetic_series,
)
from qmrflow.registration.warp import identity_grid


def _low_rank_plus_sparse(m=200, n=50, rank=2, fraction=0.05, seed=0):
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(m, rank)) @ rng.normal(size=(rank, n))
    sparse = np.zeros((m, n))
    mask = rng.random((m, n)) < fraction
    sparse[mask] = rng.uniform(-10.0, 10.0, mask.sum())
    return low, sparse


def test_recovers_a_rank_two_plus_sparse_matrix():
    low, sparse = _low_rank_plus_sparse()
    result = robust_pca(low + sparse)
    assert isinstance(result, RobustPCA)
    assert result.converged and result.residual < 1e-7
    assert result.rank == 2
    assert np.linalg.norm(result.low_rank - low) / np.linalg.norm(low) < 1e-4
    assert np.linalg.norm(result.sparse - sparse) / np.linalg.norm(sparse) < 1e-4


def test_iteration_limit_and_convergence_flag():
    low, sparse = _low_rank_plus_sparse()
    short = robust_pca(low + sparse, max_iterations=3)
    assert short.iterations == 3 and not short.converged and short.residual > 1e-7
    full = robust_pca(low + sparse)
    assert 3 < full.iterations < 100 and full.converged
    # a looser tolerance stops earlier; a slower penalty growth takes longer
    assert robust_pca(low + sparse, tol=1e-3).iterations < full.iterations
    assert robust_pca(low + sparse, rho=1.2).iterations > full.iterations


def test_zero_matrix_is_trivially_converged():
    result = robust_pca(np.zeros((10, 4)))
    assert result.converged and result.iterations == 0 and result.rank == 0
    assert not result.low_rank.any() and not result.sparse.any()


def _perfusion_like(T=30, shape=(32, 32)):
    """A fixed image times a smooth enhancement curve, plus a bright blob moving across."""
    grid = identity_grid(shape)
    image = 1.0 + np.exp(-((grid[0] - 16) ** 2 + (grid[1] - 16) ** 2) / 60.0)
    t = np.arange(T, dtype=float)
    course = 1.0 + 3.0 * (t / 8.0) ** 2 * np.exp(-t / 4.0)  # gamma-variate-like bolus
    clean = course[:, None, None] * image
    centres = np.linspace(4.0, 27.0, T)  # one voxel a frame along the first axis
    blob = 4.0 * np.exp(-((grid[0] - centres[:, None, None]) ** 2 + (grid[1] - 8) ** 2) / 2.0)
    return clean, blob, course


def test_reference_keeps_the_time_course_and_removes_the_moving_blob():
    clean, blob, course = _perfusion_like()
    frames = clean + blob
    reference = rpca_reference(frames)
    assert reference.shape == frames.shape and reference.dtype == np.float32
    blob_region = blob > 0.5
    error_with_blob = np.abs(frames - clean)[blob_region].mean()
    error_reference = np.abs(reference - clean)[blob_region].mean()
    assert error_reference < 0.1 * error_with_blob
    # the mean enhancement curve of the object follows the input course
    curve = reference[:, 12:20, 12:20].mean(axis=(1, 2))
    np.testing.assert_allclose(curve / curve.max(), course / course.max(), atol=0.02)
    assert np.abs(reference - clean).mean() < 0.02 * clean.mean()


@pytest.mark.parametrize(
    ("matrix", "name"),
    [
        (np.ones(5), "M"),
        (np.ones((2, 2, 2)), "M"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "M"),
    ],
)
def test_bad_matrices_are_rejected(matrix, name):
    with pytest.raises(ValueError, match=name):
        robust_pca(matrix)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"lam": -1.0}, "lam"),
        ({"mu": 0.0}, "mu"),
        ({"rho": 1.0}, "rho"),
        ({"tol": 0.0}, "tol"),
        ({"blas_threads": 0}, "blas_threads"),
    ],
)
def test_bad_options_are_rejected(options, name):
    with pytest.raises(ValueError, match=name):
        robust_pca(np.eye(4), **options)


def test_reference_rejects_bad_frames():
    with pytest.raises(ValueError, match="frames"):
        rpca_reference(np.ones((4, 4)))
    frames = np.ones((3, 4, 4))
    frames[1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="frames"):
        rpca_reference(frames)


def test_default_lambda():
    assert default_lambda((4096, 40)) == pytest.approx(1 / 64)
    assert default_lambda((10, 400)) == pytest.approx(1 / 20)


def test_pca_reference_is_the_truncated_svd():
    clean, blob, _ = _perfusion_like()
    # a rank-one series is reproduced by one component
    np.testing.assert_allclose(pca_reference(clean, 1), clean, rtol=1e-5, atol=1e-5)
    reference = pca_reference(clean + blob, 2)
    assert reference.shape == clean.shape and reference.dtype == np.float32
    singular = np.linalg.svd((clean + blob).reshape(len(clean), -1), compute_uv=False)
    residual = np.linalg.norm(reference - (clean + blob))
    np.testing.assert_allclose(residual, np.sqrt(np.sum(singular[2:] ** 2)), rtol=1e-4)
    with pytest.raises(ValueError, match="components"):
        pca_reference(clean, 0)
    with pytest.raises(ValueError, match="components"):
        pca_reference(clean, len(clean) + 1)


def test_synthetic_series_rpca_is_gain_matched_low_rank():
    clean, blob, _ = _perfusion_like()
    frames = clean + blob
    series, rank = synthetic_series(frames, "rpca", 0.5 * default_lambda((32 * 32, 30)))
    low = rpca_reference(frames, lam=0.5 * default_lambda((32 * 32, 30)))
    assert rank >= 1
    # each frame is the low-rank frame times its least-squares gain onto the input frame
    gain = (series * frames).sum(axis=(1, 2)) / (series * series).sum(axis=(1, 2))
    np.testing.assert_allclose(gain, 1.0, atol=1e-6)
    ratio = series.sum(axis=(1, 2)) / low.sum(axis=(1, 2))
    np.testing.assert_allclose(series, low * ratio[:, None, None], rtol=1e-4, atol=1e-4)
    series, rank = synthetic_series(frames, "pca", 3)
    assert rank == 3
    np.testing.assert_allclose(series, pca_reference(frames, 3), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="stage"):
        synthetic_series(frames, "ica", 3)  # type: ignore[arg-type]
