"""Shared ROI measurement (qmrflow.roi) on tiny label images and lesion masks."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.roi import (
    component_masks,
    dice,
    label_components,
    label_masks,
    largest_component,
    measure_components,
    measure_labels,
    roi_rows,
)


def test_measure_labels_mean_sd_median_and_count():
    labels = np.array([[1, 1, 2], [2, 2, 0]])
    t1 = np.array([[1.0, 3.0, 10.0], [20.0, 60.0, 99.0]])
    table = measure_labels(labels, {"T1": t1, "T2": 2 * t1}, names={1: "GM", 2: "WM"})
    assert list(table["roi"]) == ["GM", "GM", "WM", "WM"]
    gm = table.iloc[0]
    assert (gm["mean"], gm["median"], gm["n_voxels"]) == (2.0, 2.0, 2)
    assert gm["sd"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    wm_t2 = table.iloc[3]
    assert wm_t2["map"] == "T2" and wm_t2["median"] == 40.0 and wm_t2["mean"] == pytest.approx(60)
    assert table["voxel_error_percent"].isna().all()
    with pytest.raises(ValueError, match="label 2 has no name"):
        measure_labels(labels, {"T1": t1}, names={1: "GM"})
    assert list(label_masks(labels, {1: "GM"}, skip_unnamed=True)) == ["GM"]
    assert list(label_masks(labels, prefix="region")) == ["region-1", "region-2"]


def test_components_connectivity_and_per_lesion_measures():
    mask = np.zeros((4, 4, 2), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True  # corner-touching pair
    mask[3, 3, 0] = True
    assert label_components(mask)[1] == 2  # 26-connectivity by default
    assert label_components(mask, connectivity=1)[1] == 3
    masks = component_masks(mask, prefix="lesion")
    assert list(masks) == ["lesion-1", "lesion-2"]
    assert masks["lesion-1"].sum() == 2
    values = np.arange(32, dtype=float).reshape(4, 4, 2)
    table = measure_components(mask, {"T1": values}, reference={"T1": values / 2})
    first = table.iloc[0]
    assert first["n_voxels"] == 2 and first["mean"] == pytest.approx((0 + 11) / 2)
    assert table.iloc[1]["sd"] != table.iloc[1]["sd"]  # one voxel: NaN
    assert table.iloc[1]["voxel_error_percent"] == pytest.approx(100.0)
    assert measure_components(np.zeros((2, 2)), {"T1": np.ones((2, 2))}).empty
    with pytest.raises(ValueError, match="connectivity"):
        label_components(mask, connectivity=4)


def test_roi_rows_tuple_keys_reference_error_and_shape_check():
    mask = np.array([True, True, False])
    rows = roi_rows(
        {("tissue", "WM"): mask},
        {"PD": np.array([1.1, 0.9, 5.0])},
        reference={"PD": np.array([1.0, 1.0, 1.0])},
        key_names=("roi_type", "roi"),
    )
    assert rows[0]["roi_type"] == "tissue" and rows[0]["roi"] == "WM"
    assert rows[0]["voxel_error_percent"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="shape"):
        roi_rows({"a": mask}, {"PD": np.ones(4)})
    with pytest.raises(ValueError, match="key columns"):
        roi_rows({("a", "b"): mask}, {"PD": np.ones(3)})


def test_largest_component_of_a_volume():
    mask = np.zeros((10, 10, 10), bool)
    mask[1:3, 1:3, 1:3] = True
    mask[5:9, 5:9, 5:9] = True
    assert largest_component(mask).sum() == 64
    assert not largest_component(np.zeros((4, 4), bool)).any()
    # face connectivity splits cubes touching at a corner only; full connectivity joins them
    corner = np.zeros((4, 4, 4), bool)
    corner[:2, :2, :2] = corner[2:3, 2:3, 2:3] = True
    assert largest_component(corner, 1).sum() == 8
    assert largest_component(corner).sum() == 9


def test_largest_component_per_frame_never_joins_frames():
    frames = np.zeros((3, 6, 6), bool)
    frames[0, :3, :3] = True  # frame 0: 9 pixels ...
    frames[0, 5, 5] = True  # ... and a stray one
    frames[1, 4:6, 4:6] = True  # frame 1: 4 pixels that would touch frame 0's blob in 3-D
    frames[1, 0, 5] = True
    frames[1, 1, 4] = True  # diagonal neighbour: joined in-plane (8-connectivity)
    kept = largest_component(frames, per_frame=True)
    assert kept[0].sum() == 9 and not kept[0, 5, 5]
    assert kept[1].sum() == 4 and kept[1, 4:6, 4:6].all()
    assert not kept[2].any()
    assert largest_component(frames, 1, per_frame=True)[1].sum() == 4
    with pytest.raises(ValueError, match="connectivity"):
        largest_component(frames, 3, per_frame=True)


def test_dice_per_frame():
    a = np.zeros((4, 4, 1, 3), np.uint8)
    b = a.copy()
    a[:2, :2, 0, 0] = 2  # 4 voxels
    b[:2, :1, 0, 0] = 2  # 2 of them
    a[0, 0, 0, 1] = 2
    d = dice(a, b, 2)
    assert d.shape == (1, 3)
    np.testing.assert_allclose(d[0, :2], [2 * 2 / 6, 0.0])
    assert np.isnan(d[0, 2])
    stack = np.moveaxis(a[:, :, 0], -1, 0)
    np.testing.assert_allclose(dice(stack, stack, 2, axes=(1, 2))[:2], [1.0, 1.0])
