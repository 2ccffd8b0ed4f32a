"""AHA segments of a synthetic short-axis ring: orientation, sector sizes, curves, bull's-eye."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.perfusion.segments import (
    N_SEGMENTS,
    SEGMENT_NAMES,
    bullseye_values,
    segment_curves,
    segment_map,
)

CENTRE = np.array([32.0, 32.0])


def ring_labels(rv_angle: float = 180.0, size: int = 64) -> np.ndarray:
    """LV pool (r < 8), myocardium (8 <= r < 12) and an RV disk 17 px from the centre."""
    i, j = np.indices((size, size), dtype=float)
    r = np.hypot(i - CENTRE[0], j - CENTRE[1])
    labels = np.zeros((size, size), dtype=int)
    labels[r < 8] = 1
    labels[(r >= 8) & (r < 12)] = 2
    rv_centre = CENTRE + 17.0 * np.array(
        [np.cos(np.radians(rv_angle)), np.sin(np.radians(rv_angle))]
    )
    labels[np.hypot(i - rv_centre[0], j - rv_centre[1]) < 4.5] = 3
    return labels


def at_angle(segments: np.ndarray, angle: float, radius: float = 10.0) -> int:
    """Segment of the myocardial pixel at ``angle`` (axis 0 toward axis 1) from the centre."""
    offset = radius * np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    i, j = np.rint(CENTRE + offset).astype(int)
    return int(segments[i, j])


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # RV toward -axis 0 (180 deg): anterior toward +axis 1, septum toward -axis 0
        ("basal", {90: 1, 150: 2, 210: 3, 270: 4, 330: 5, 30: 6}),
        ("mid", {90: 7, 150: 8, 210: 9, 270: 10, 330: 11, 30: 12}),
        ("apical", {90: 13, 180: 14, 270: 15, 0: 16}),
    ],
)
def test_segments_face_the_rv_and_count_from_axis0_toward_axis1(level, expected):
    segments = segment_map(ring_labels(180.0), slice_level=level)
    for angle, segment in expected.items():
        assert at_angle(segments, angle) == segment, (level, angle)


def test_segments_cover_the_myocardium_in_equal_sectors():
    labels = ring_labels()
    segments = segment_map(labels, slice_level="mid")
    assert np.all((segments > 0) == (labels == 2))
    counts = np.bincount(segments[segments > 0], minlength=13)[7:13]
    assert counts.sum() == np.count_nonzero(labels == 2)
    np.testing.assert_allclose(counts / counts.mean(), 1.0, atol=0.1)
    apical = segment_map(labels, slice_level="apical")
    assert set(np.unique(apical)) == {0, 13, 14, 15, 16}


def test_numbering_follows_the_rv():
    """RV toward +axis 1 (90 deg): the anterior wall turns to +axis 0."""
    segments = segment_map(ring_labels(90.0), slice_level="basal")
    assert at_angle(segments, 0.0) == 1
    assert at_angle(segments, 60.0) == 2
    assert at_angle(segments, 120.0) == 3
    assert at_angle(segments, 180.0) == 4


def test_mirrored_direction_and_rv_angle_override():
    labels = ring_labels(180.0)
    mirrored = segment_map(labels, slice_level="basal", direction=-1)
    assert at_angle(mirrored, 270.0) == 1
    assert at_angle(mirrored, 90.0) == 4
    no_rv = np.where(labels == 3, 0, labels)
    with pytest.raises(ValueError, match="RV"):
        segment_map(no_rv, slice_level="basal")
    np.testing.assert_array_equal(
        segment_map(no_rv, slice_level="basal", rv_angle=180.0),
        segment_map(labels, slice_level="basal"),
    )


def test_segment_map_rejects_bad_input():
    labels = ring_labels()
    with pytest.raises(ValueError, match="slice_level"):
        segment_map(labels, slice_level="base")
    with pytest.raises(ValueError, match="myocardium"):
        segment_map(np.where(labels == 2, 0, labels), slice_level="mid")
    with pytest.raises(ValueError, match="labels"):
        segment_map(labels[None], slice_level="mid")
    with pytest.raises(ValueError, match="direction"):
        segment_map(labels, slice_level="mid", direction=2)


def test_segment_curves_average_each_segment():
    segments = np.zeros((4, 3), dtype=int)
    segments[0, :2] = 1
    segments[1, 0] = 2
    segments[3, 2] = 16
    t = np.arange(5.0)
    concentration = np.zeros((5, 4, 3))
    concentration[:, 0, 0] = t
    concentration[:, 0, 1] = 3 * t
    concentration[:, 1, 0] = 7.0
    concentration[:, 3, 2] = -t
    concentration[:, 2, 2] = np.nan  # outside every segment: ignored
    curves = segment_curves(concentration, segments)
    assert curves.shape == (5, N_SEGMENTS)
    np.testing.assert_allclose(curves[:, 0], 2 * t)
    np.testing.assert_allclose(curves[:, 1], 7.0)
    np.testing.assert_allclose(curves[:, 15], -t)
    assert np.all(np.isnan(curves[:, 2:15]))
    with pytest.raises(ValueError, match="segments"):
        segment_curves(concentration, segments[:3])
    with pytest.raises(ValueError, match="segments"):
        segment_curves(concentration, segments + 20)


def test_bullseye_values_from_a_map_a_mapping_and_a_sequence():
    segments = np.array([[1, 1, 1], [7, 7, 0], [16, 0, 0]])
    mbf = np.array([[1.0, 2.0, 6.0], [3.0, np.nan, 9.0], [2.5, 0.0, 0.0]])
    mean = bullseye_values(mbf, segments)
    assert mean.shape == (16,)
    assert mean[0] == pytest.approx(3.0)
    assert mean[6] == pytest.approx(3.0)  # NaN pixel skipped
    assert mean[15] == pytest.approx(2.5)
    assert np.isnan(mean[1])
    assert bullseye_values(mbf, segments, statistic="median")[0] == pytest.approx(2.0)
    std = bullseye_values(mbf, segments, statistic="std")
    assert std[0] == pytest.approx(np.std([1.0, 2.0, 6.0], ddof=1))
    assert np.isnan(std[6])  # one pixel: no SD
    from_mapping = bullseye_values({3: 2.0, 14: 1.5})
    assert from_mapping[2] == 2.0 and from_mapping[13] == 1.5
    assert np.count_nonzero(np.isfinite(from_mapping)) == 2
    np.testing.assert_array_equal(bullseye_values(np.arange(16.0)), np.arange(16.0))
    with pytest.raises(ValueError, match="segment 17"):
        bullseye_values({17: 1.0})
    with pytest.raises(ValueError, match="16"):
        bullseye_values(np.arange(6.0))
    with pytest.raises(ValueError, match="statistic"):
        bullseye_values(mbf, segments, statistic="max")
    assert len(SEGMENT_NAMES) == 16 and SEGMENT_NAMES[13] == "apical septal"
