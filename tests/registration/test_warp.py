"""Warping frames with displacement fields: shifts, affine maps and label maps."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.registration.warp import compose_affine_field, identity_grid, warp_frames


def _blob(shape=(32, 24), centre=(15.0, 11.0)) -> np.ndarray:
    grid = identity_grid(shape)
    return np.exp(-((grid[0] - centre[0]) ** 2 + (grid[1] - centre[1]) ** 2) / 8.0)


def test_an_integer_shift_moves_the_frame():
    frame = _blob()
    field = np.zeros((1, 2, *frame.shape))
    field[0, 0] = 2.0  # sample 2 voxels further along x: content moves 2 voxels back
    out = warp_frames(frame[None], field)
    np.testing.assert_allclose(out[0, 5:-5, 5:-5], frame[7:-3, 5:-5], atol=1e-6)


def test_one_field_for_all_frames_and_zero_is_identity():
    frames = np.stack([_blob(), 2 * _blob()])
    np.testing.assert_allclose(warp_frames(frames, np.zeros((2, 32, 24))), frames, atol=1e-6)


def test_labels_keep_values_and_dtype():
    labels = (_blob() > 0.5).astype(np.uint8) * 3
    field = np.full((1, 2, *labels.shape), 0.4)
    out = warp_frames(labels[None], field, labels=True)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 3}


def test_affine_field_of_a_translation_and_a_rotation():
    shape = (21, 21)
    shift = compose_affine_field([[1, 0, 1.5], [0, 1, -2.0]], shape)
    np.testing.assert_allclose(shift[0], 1.5)
    np.testing.assert_allclose(shift[1], -2.0)
    c, s = np.cos(0.3), np.sin(0.3)
    rotation = compose_affine_field([[c, -s, 0], [s, c, 0]], shape)
    assert np.allclose(rotation[:, 10, 10], 0.0)  # the centre stays


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(T, X, Y\)"):
        warp_frames(np.zeros((4, 4)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="displacement must be"):
        warp_frames(np.zeros((2, 4, 4)), np.zeros((3, 2, 4, 4)))
