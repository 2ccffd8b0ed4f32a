"""The brain template, its sampling and the per-subject random deformation of the kit."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.simulate.deform import RandomDeformation, linear_weights, rotation_matrix
from qmrflow.simulate.template import inside_ellipsoid, load_mni152, sample_volume


def test_rotation_matrix_is_orthonormal() -> None:
    r = rotation_matrix(np.array([0.1, -0.2, 0.3]))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation_matrix(np.zeros(3)), np.eye(3))


def test_linear_weights_interpolate_and_clamp() -> None:
    w = linear_weights(np.array([0.0, 1.25, 3.0, -2.0, 9.0]), 4)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w @ np.arange(4.0), [0.0, 1.25, 3.0, 0.0, 3.0])


def test_undeformed_draw_is_the_identity() -> None:
    deform = RandomDeformation.draw(
        np.random.default_rng(0),
        scale_sd=0.0,
        axis_sd=0.0,
        rotation_sd_deg=0.0,
        shift_sd_mm=0.0,
        rms_mm=(0.0, 0.0),
    )
    x, y, z = np.array([-40.0, 0.0, 30.0]), np.array([-60.0, 5.0]), np.array([10.0])
    out = deform(x, y, z)
    grid = np.stack(np.meshgrid(x, y, z, indexing="ij"))
    np.testing.assert_allclose(out, grid, atol=1e-12)


def test_deformation_is_seeded_smooth_and_of_the_drawn_size() -> None:
    first = RandomDeformation.draw(np.random.default_rng(5))
    again = RandomDeformation.draw(np.random.default_rng(5))
    np.testing.assert_array_equal(first.field, again.field)
    sd = first.field.std(axis=(1, 2, 3))  # unit SD per component times the drawn size
    assert 1.0 <= sd[0] <= 2.5
    np.testing.assert_allclose(sd, sd[0])
    # Smooth: along a 120 mm line at 2 mm steps the displacement changes by well under a mm.
    line = first(np.linspace(-60, 60, 61), np.array([0.0]), np.array([20.0]))[:, :, 0, 0]
    affine_step = first.matrix[:, 0] * 2.0
    assert np.abs(np.diff(line, axis=1) - affine_step[:, None]).max() < 1.0
    p = np.array([12.0, -30.0, 25.0])
    np.testing.assert_allclose(first.point(p), first(*(v[None] for v in p))[:, 0, 0, 0])


def test_inside_ellipsoid_with_rotation() -> None:
    points = np.array([[0.0, 4.5, 0.0, 0.0], [0.0, 0.0, 4.5, 0.0], [0.0, 0.0, 0.0, 1.5]])
    inside = inside_ellipsoid(points, (0, 0, 0), (5.0, 2.0, 1.0))
    assert inside.tolist() == [True, True, False, False]
    quarter = rotation_matrix(np.array([0.0, 0.0, np.pi / 2]))  # long axis along y
    assert inside_ellipsoid(points, (0, 0, 0), (5.0, 2.0, 1.0), quarter).tolist() == [
        True,
        False,
        True,
        False,
    ]


def test_sample_volume_at_voxel_centres_and_slab() -> None:
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    index = np.array([[1.0, 2.5], [3.0, 1.0], [4.0, 2.0]])
    np.testing.assert_allclose(
        sample_volume(volume, index), [volume[1, 3, 4], 0.5 * (volume[2, 1, 2] + volume[3, 1, 2])]
    )
    np.testing.assert_allclose(sample_volume(volume, index, (2, 6)), sample_volume(volume, index))
    assert sample_volume(volume, np.array([[10.0], [0.0], [0.0]]))[0] == 0.0


def test_mni152_template_fractions() -> None:
    pytest.importorskip("nilearn")
    template = load_mni152()
    assert template.brain.shape == template.gm.shape == template.wm.shape
    assert set(np.unique(template.brain)) == {0.0, 1.0}
    assert template.gm.min() >= 0 and template.wm.max() <= 1
    assert np.all(template.gm + template.wm <= template.brain + 1.01)
    # The anterior commissure (MNI 0, 0, 0) is inside the brain.
    centre = np.round(-template.origin).astype(int)
    assert template.brain[tuple(centre)] == 1.0
    assert load_mni152() is template  # loaded once per process
