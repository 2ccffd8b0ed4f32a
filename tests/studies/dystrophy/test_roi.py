"""ROI localisation on synthetic thigh slices: window, separability, crop, errors."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import Image
from qmrflow.studies.dystrophy.roi import ROI_COLUMNS, RoiResult, localise_roi, localise_rois

SHAPE = (160, 96)
MARGIN = 4


def thighs(
    centres: tuple[tuple[float, float], ...] = ((45.0, 48.0), (115.0, 48.0)),
    radii: tuple[tuple[float, float], ...] = ((30.0, 26.0), (30.0, 26.0)),
    *,
    shape: tuple[int, int] = SHAPE,
    angle_deg: float = 0.0,
    scale: float = 1000.0,
    noise: float = 0.03,
    seed: int = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Axial thigh-like slice ``(X, Y)``: ellipses with a fat rim, a dark cortical ring and
    bright marrow, a bias field along X and Rician-like noise. Returns the image and the true
    mask of each ellipse."""
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    theta = np.deg2rad(angle_deg)
    image = np.zeros(shape)
    masks = []
    for (cx, cy), (rx, ry) in zip(centres, radii, strict=True):
        dx, dy = x - cx, y - cy
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        r = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
        leg = r <= 1.0
        tissue = np.select([r < 0.12, r < 0.2, r < 0.85, leg], [0.9, 0.05, 0.6, 1.0], default=0.0)
        image = np.maximum(image, tissue)
        masks.append(leg)
    bias = 0.7 + 0.6 * x / shape[0]
    rng = np.random.default_rng(seed)
    noisy = np.hypot(image * bias + rng.normal(0, noise, shape), rng.normal(0, noise, shape))
    return (scale * noisy).astype(np.float32), masks


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    xs = np.flatnonzero(mask.any(axis=1))
    ys = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1


def assert_tight(box: tuple[int, int, int, int], truth: np.ndarray, margin: int = MARGIN) -> None:
    """``box`` holds ``truth`` and adds no more than the margin (plus one pixel) around it."""
    x0, x1, y0, y1 = box
    tx0, tx1, ty0, ty1 = bbox(truth)
    assert x0 <= tx0 and x1 >= tx1 and y0 <= ty0 and y1 >= ty1, (box, (tx0, tx1, ty0, ty1))
    assert tx0 - x0 <= margin + 1 and x1 - tx1 <= margin + 1
    assert ty0 - y0 <= margin + 1 and y1 - ty1 <= margin + 1


def test_separated_legs() -> None:
    image, (left, right) = thighs()
    result = localise_roi(image, margin=MARGIN)
    assert isinstance(result, RoiResult)
    assert result.separable
    assert result.n_components == 2
    assert 7 <= result.gap_px <= 11  # true gap: columns 76..84
    assert result.contact_fraction == 0.0
    assert_tight(result.box, left | right)
    assert_tight(result.left_box, left, margin=0)
    assert_tight(result.right_box, right, margin=0)
    assert result.crop.shape == (128, 64)
    assert result.crop.dtype == np.float32
    assert 0.0 <= result.crop.min() and result.crop.max() <= 1.5
    assert result.crop.max() > 0.8
    assert 0 < result.threshold < image.max()


def test_touching_legs_are_one_component_but_separable() -> None:
    image, (left, right) = thighs(centres=((45.0, 48.0), (105.0, 48.0)))
    result = localise_roi(image)
    assert result.n_components == 1
    assert result.gap_px == 0
    assert result.separable
    assert result.contact_fraction <= 0.15
    assert_tight(result.box, left | right)
    # The split lies at the contact column, between the two legs.
    assert result.left_box[1] <= 76 and result.right_box[0] >= 75


def test_heavily_overlapping_legs_not_separable() -> None:
    image, (left, right) = thighs(centres=((55.0, 48.0), (95.0, 48.0)))
    result = localise_roi(image)
    assert result.n_components == 1
    assert not result.separable
    assert result.contact_fraction > 0.5
    assert_tight(result.box, left | right)


def test_single_blob_not_separable() -> None:
    image, (blob,) = thighs(centres=((80.0, 48.0),), radii=((50.0, 30.0),))
    result = localise_roi(image)
    assert result.n_components == 1
    assert not result.separable
    assert_tight(result.box, blob)


@pytest.mark.parametrize(("angle", "shift"), [(12.0, (6.0, -8.0)), (-20.0, (-10.0, 5.0))])
def test_rotated_and_shifted_legs(angle: float, shift: tuple[float, float]) -> None:
    # Rotate the leg centres about the image centre and shift them; rotate the ellipses too.
    theta = np.deg2rad(angle)
    centres = []
    for cx, cy in ((45.0, 48.0), (115.0, 48.0)):
        dx, dy = cx - 80.0, cy - 48.0
        centres.append(
            (
                80.0 + dx * np.cos(theta) - dy * np.sin(theta) + shift[0],
                48.0 + dx * np.sin(theta) + dy * np.cos(theta) + shift[1],
            )
        )
    image, (left, right) = thighs(
        centres=tuple(centres), radii=((28.0, 22.0), (28.0, 22.0)), angle_deg=-angle, seed=2
    )
    result = localise_roi(image)
    assert result.separable
    assert result.n_components == 2
    assert_tight(result.box, left | right)


def test_unequal_legs_and_small_extra_object_ignored() -> None:
    image, (left, right, _extra) = thighs(
        centres=((45.0, 48.0), (112.0, 48.0), (152.0, 8.0)),
        radii=((30.0, 26.0), (20.0, 18.0), (4.0, 4.0)),
    )
    result = localise_roi(image)
    assert result.separable
    assert result.n_components == 2
    assert_tight(result.box, left | right)
    assert result.box[1] < 150  # the small object at x ~ 152 is not part of the window


def test_intensity_scale_invariance() -> None:
    base, _ = thighs(scale=1.0)
    ref = localise_roi(base)
    for factor in (1e-3, 1e3):
        other = localise_roi(base.astype(np.float64) * factor)
        assert other.box == ref.box
        assert other.separable == ref.separable
        assert other.threshold == pytest.approx(ref.threshold * factor, rel=1e-5)
        np.testing.assert_allclose(other.crop, ref.crop, atol=1e-5)


def test_deterministic() -> None:
    image, _ = thighs(centres=((45.0, 48.0), (105.0, 48.0)), seed=5)
    a = localise_roi(image)
    b = localise_roi(image.copy())
    assert a.box == b.box and a.separable == b.separable
    np.testing.assert_array_equal(a.crop, b.crop)


def test_crop_padded_to_aspect_and_custom_shape() -> None:
    image, (left, right) = thighs()
    result = localise_roi(image, out_shape=(64, 64), margin=0)
    assert result.crop.shape == (64, 64)
    # The legs are about 2.4 times wider than tall: zero padding above and below.
    assert result.crop[:, 0].max() == 0.0
    assert result.crop[:, -1].max() == 0.0
    assert result.crop[:, 32].max() > 0.5
    assert result.box == bbox(left | right)


def test_image_object_accepted() -> None:
    image, _ = thighs()
    a = localise_roi(Image(data=image, affine=np.eye(4)))
    b = localise_roi(image)
    np.testing.assert_array_equal(a.crop, b.crop)


@pytest.mark.parametrize("value", [0.0, 5.0])
def test_blank_image_raises(value: float) -> None:
    with pytest.raises(InputDataError, match="no body found") as info:
        localise_roi(np.full(SHAPE, value), subject="07", path="sub-07_slice-1_T1w.nii.gz")
    assert "sub-07" in str(info.value)
    assert "sub-07_slice-1_T1w.nii.gz" in str(info.value)


def test_single_bright_pixel_is_no_body() -> None:
    image = np.zeros(SHAPE)
    image[10, 10] = 100.0
    with pytest.raises(InputDataError, match="no body found"):
        localise_roi(image, subject="07")


def test_3d_input_raises() -> None:
    with pytest.raises(InputDataError, match="2D") as info:
        localise_roi(np.zeros((32, 32, 3)), subject="07", path="x.nii.gz")
    assert info.value.subject == "07"


def test_nan_input_raises() -> None:
    image, _ = thighs()
    image[3, 3] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        localise_roi(image, subject="07")


def test_bad_options() -> None:
    image, _ = thighs()
    with pytest.raises(ValueError, match="margin"):
        localise_roi(image, margin=-1)
    with pytest.raises(ValueError, match="out_shape"):
        localise_roi(image, out_shape=(0, 4))


def test_localise_rois_stack_and_table() -> None:
    apart, _ = thighs()
    overlapping, _ = thighs(centres=((55.0, 48.0), (95.0, 48.0)), seed=1)
    smaller, _ = thighs(centres=((38.0, 40.0), (102.0, 40.0)), shape=(140, 80), seed=3)
    crops, table = localise_rois([apart, overlapping, smaller], out_shape=(96, 48), subject="01")
    assert crops.shape == (3, 96, 48) and crops.dtype == np.float32
    assert tuple(table.columns) == ROI_COLUMNS
    assert table["slice"].tolist() == [1, 2, 3]
    assert table["separable"].tolist() == [True, False, True]
    assert table["n_components"].tolist() == [2, 1, 2]
    assert table["separable"].dtype == bool
    single = localise_roi(apart, out_shape=(96, 48))
    np.testing.assert_array_equal(crops[0], single.crop)
    assert tuple(table.loc[0, ["x0", "x1", "y0", "y1"]]) == single.box


def test_localise_rois_empty() -> None:
    crops, table = localise_rois([])
    assert crops.shape == (0, 128, 64)
    assert len(table) == 0 and tuple(table.columns) == ROI_COLUMNS


def test_localise_rois_names_slice_and_file() -> None:
    good, _ = thighs()
    with pytest.raises(InputDataError, match="slice 2: no body found") as info:
        localise_rois([good, np.zeros(SHAPE)], subject="03", paths=["a.nii.gz", "b.nii.gz"])
    assert info.value.path == "b.nii.gz"
    assert "sub-03" in str(info.value)


def test_roi_against_the_demo_ground_truth():
    """On simulated cases the window holds the legs (truth labels) with little background, and
    legs the simulation drew apart are reported separable."""
    from qmrflow.studies.dystrophy.simulate import demo_participants, simulate_case

    table = demo_participants(40, seed=3)
    coverage, fill, separable_when_apart = [], [], []
    for row in table.to_dict(orient="records"):
        case = simulate_case(row, 1, shape=(192, 144))
        result = localise_roi(case.images[0])
        x0, x1, y0, y1 = result.box
        body = case.labels[0] > 0
        coverage.append(body[x0:x1, y0:y1].sum() / body.sum())
        fill.append(body[x0:x1, y0:y1].mean())
        if case.leg_gap_px >= 4:
            separable_when_apart.append(result.separable)
    assert min(coverage) > 0.995
    assert np.median(fill) > 0.5
    assert np.mean(separable_when_apart) > 0.95
