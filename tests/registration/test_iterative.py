"""The SimpleITK iterative baseline: axis and sign convention, recovery of known motion, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qmrflow.registration.iterative import (
    SeriesRegistration,
    _report_rejected,
    apply_to,
    register_image,
    register_pair,
    register_series,
)
from qmrflow.registration.warp import compose_affine_field, identity_grid, warp_frames

# Non-square frames: a transposed axis order cannot go unnoticed.
SHAPE = (48, 56)


def _sigmoid(x: np.ndarray, width: float = 1.0) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x / width))


def _phantom_parts(shape=SHAPE) -> dict[str, np.ndarray]:
    """Short-axis-like parts: body, LV blood pool, myocardial ring, RV (asymmetric)."""
    grid = identity_grid(shape)
    centre = np.array([23.0, 28.0])
    radius = np.hypot(grid[0] - centre[0], grid[1] - centre[1])
    return {
        "body": _sigmoid(20.0 - np.hypot(1.1 * (grid[0] - centre[0]), grid[1] - centre[1]), 1.5),
        "blood": _sigmoid(8.0 - radius),
        "myo": _sigmoid(12.0 - radius) - _sigmoid(8.0 - radius),
        "rv": np.exp(-((grid[0] - 23.0) ** 2) / 30.0 - (grid[1] - 12.0) ** 2 / 15.0),
    }


def _reference_series(T: int) -> np.ndarray:
    parts = _phantom_parts()
    t = np.arange(T, dtype=float)[:, None, None]
    return (
        0.3 * parts["body"]
        + (1.0 + 0.3 * t) * parts["blood"]
        + (0.4 + 0.2 * t) * parts["myo"]
        + (0.6 + 0.4 * t) * parts["rv"]
    )


def _shifted(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """The image with its content moved by ``shift`` voxels (``out(p) = image(p - shift)``)."""
    field = np.broadcast_to(-np.asarray(shift, dtype=float)[:, None, None], (2, *image.shape))
    return warp_frames(image[None], field[None])[0]


def _moved_series(T: int = 4, seed: int = 1):
    """Reference series, frames moved by random affine maps, and the exact aligning fields."""
    rng = np.random.default_rng(seed)
    reference = _reference_series(T)
    frames, truth = [], []
    for image in reference:
        angle = np.deg2rad(rng.uniform(-4.0, 4.0))
        scale = 1.0 + rng.uniform(-0.04, 0.04)
        A = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        b = rng.uniform(-4.0, 4.0, 2)
        # frame(p) = reference(Phi(p)); the aligning field maps p to Phi^-1(p).
        frames.append(warp_frames(image[None], compose_affine_field(np.c_[A, b], SHAPE)[None])[0])
        inverse = np.linalg.inv(A)
        truth.append(compose_affine_field(np.c_[inverse, -inverse @ b], SHAPE))
    return np.stack(frames), reference, np.stack(truth)


def test_a_known_shift_is_recovered_with_the_right_sign_and_axis():
    fixed = _reference_series(1)[0]
    mask = fixed > 0.25
    for shift in [(3.0, 0.0), (0.0, -2.5)]:
        field = register_pair(_shifted(fixed, shift), fixed)
        assert field.shape == (2, *SHAPE)
        # warped(p) = moving(p + u) = fixed(p + u - shift) = fixed(p)  =>  u = shift
        for axis in (0, 1):
            np.testing.assert_allclose(field[axis][mask].mean(), shift[axis], atol=0.05)


def test_series_with_known_affine_motion_is_aligned():
    frames, reference, truth = _moved_series()
    result = register_series(frames, reference)
    assert isinstance(result, SeriesRegistration)
    assert result.warped.shape == frames.shape and result.warped.dtype == np.float32
    assert result.displacement.shape == truth.shape and result.seconds > 0
    mask = reference[0] > 0.25
    error = np.linalg.norm(result.displacement - truth, axis=1)[:, mask]
    assert np.linalg.norm(truth, axis=1)[:, mask].max() > 3.0  # the motion is not small
    assert error.max() < 0.5
    assert error.mean() < 0.15
    rms_before = np.sqrt(np.mean((frames - reference) ** 2))
    rms_after = np.sqrt(np.mean((result.warped - reference) ** 2))
    assert rms_after < 0.1 * rms_before
    np.testing.assert_allclose(apply_to(frames, result.displacement), result.warped)


def _inverse_field(field: np.ndarray, iterations: int = 50) -> np.ndarray:
    """``u`` with ``u(p) = -v(p + u(p))`` (fixed point), so that warping by ``u`` undoes ``v``."""
    grid = identity_grid(field.shape[1:])
    inverse = -field.copy()
    for _ in range(iterations):
        inverse = -np.stack(
            [ndimage.map_coordinates(c, grid + inverse, order=1, mode="nearest") for c in field]
        )
    return inverse


def test_bspline_stage_recovers_non_rigid_motion_after_the_affine():
    """A textured disc (no aperture problem) moved by an affine map plus a smooth sine warp."""
    shape = (64, 64)
    grid = identity_grid(shape)
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.normal(size=shape), 2.0)
    disc = _sigmoid(26.0 - np.hypot(grid[0] - 32.0, grid[1] - 32.0), 1.5)
    reference = (disc * (1.0 + 0.3 * texture / texture.std()))[None]
    angle = np.deg2rad(3.0)
    A = 1.03 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    field = compose_affine_field(np.c_[A, [2.5, -3.0]], shape)
    field[0] += 1.2 * np.sin(2 * np.pi * grid[1] / 64 + 1.0)
    field[1] += 1.2 * np.sin(2 * np.pi * grid[0] / 64 + 2.0)
    frames = warp_frames(reference, field[None])
    truth = _inverse_field(field)
    inner = np.zeros(shape, dtype=bool)
    inner[14:-14, 14:-14] = True
    affine = register_pair(frames[0], reference[0], bspline_mesh=None)
    full = register_series(frames, reference).displacement[0]
    affine_error = np.linalg.norm(affine - truth, axis=0)[inner]
    full_error = np.linalg.norm(full - truth, axis=0)[inner]
    assert affine_error.mean() > 0.4  # the sine warp is beyond an affine map
    assert full_error.mean() < 0.2 and full_error.max() < 0.5


def test_identical_frames_give_the_identity_and_results_are_deterministic():
    frames, reference, _ = _moved_series(T=2)
    same = register_series(reference, reference)
    assert np.abs(same.displacement).max() < 0.05
    first = register_series(frames, reference)
    second = register_series(frames, reference)
    np.testing.assert_array_equal(first.displacement, second.displacement)


def test_affine_only_and_correlation_metric():
    frames, reference, truth = _moved_series(T=1, seed=3)
    mask = reference[0] > 0.25
    field = register_pair(frames[0], reference[0], metric="correlation", bspline_mesh=None)
    assert np.linalg.norm(field - truth[0], axis=0)[mask].max() < 0.5


def test_image_of_another_contrast_is_aligned_by_mutual_information():
    parts = _phantom_parts()
    fixed = 0.3 * parts["body"] + 1.0 * parts["blood"] + 0.4 * parts["myo"] + 0.8 * parts["rv"]
    # proton-density-like: flat inside the body, blood darker than the myocardium
    pd = 1.0 * parts["body"] - 0.3 * parts["blood"] + 0.2 * parts["myo"] + 0.1 * parts["rv"]
    moving = _shifted(pd, (2.0, -3.0))
    warped, field = register_image(moving, fixed)
    assert warped.shape == SHAPE and field.shape == (2, *SHAPE)
    mask = fixed > 0.25
    np.testing.assert_allclose(field[0][mask].mean(), 2.0, atol=0.2)
    np.testing.assert_allclose(field[1][mask].mean(), -3.0, atol=0.2)
    assert np.abs(warped - pd)[mask].mean() < 0.25 * np.abs(moving - pd)[mask].mean()


def test_smoothing_keeps_a_known_shift():
    fixed = _reference_series(1)[0]
    mask = fixed > 0.25
    field = register_pair(_shifted(fixed, (2.0, -1.5)), fixed, smoothing=1.0, bspline_mesh=None)
    np.testing.assert_allclose(field[0][mask].mean(), 2.0, atol=0.1)
    np.testing.assert_allclose(field[1][mask].mean(), -1.5, atol=0.1)


def test_flat_frames_give_the_identity():
    field = register_pair(np.zeros(SHAPE), np.ones(SHAPE))
    assert not field.any()


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: register_series(np.zeros((2, 8, 8)), np.zeros((3, 8, 8))), "reference"),
        (lambda: register_series(np.zeros((8, 8)), np.zeros((8, 8))), "frames"),
        (lambda: register_pair(np.zeros((8, 9)), np.zeros((8, 8))), "moving"),
        (lambda: register_pair(np.zeros((8, 8)), np.zeros((2, 8, 8))), "fixed"),
        (lambda: register_pair(np.eye(8), np.eye(8), spacing=(2.0, -1.0)), "spacing"),
        (lambda: register_pair(np.eye(8), np.eye(8), bspline_mesh=(4,)), "bspline_mesh"),
        (lambda: register_pair(np.eye(8), np.eye(8), threads=0), "threads"),
        (lambda: register_pair(np.eye(8), np.eye(8), metric="nmi"), "metric"),
        (lambda: register_pair(np.eye(8), np.eye(8), smoothing=-1.0), "smoothing"),
        (lambda: register_series(np.eye(8)[None], np.eye(8)[None], threads=0), "threads"),
        (lambda: register_image(np.eye(8), np.eye(9)), "moving"),
    ],
)
def test_bad_arguments_are_rejected(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_implausible_affine_maps_are_reported_once_per_pass(caplog):
    caplog.set_level("WARNING", logger="qmrflow.registration.iterative")
    _report_rejected([None, 2.5, None, 5.75, None], "outer iteration 1")
    _report_rejected([None, None], "registration")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "outer iteration 1" in messages[0]
    assert "2 of 5 frames" in messages[0]
    assert "2.5 to 5.75" in messages[0]
