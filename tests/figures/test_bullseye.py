"""Bull's-eye geometry and drawing, and per-method box plots (qmrflow.figures.bullseye)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Wedge

from qmrflow.figures.bullseye import aha_segment_geometry, plot_bullseye, plot_method_boxes


def _side(segment: int) -> float:
    """cos of the centre angle: < 0 left (septum), > 0 right (lateral wall)."""
    return math.cos(math.radians(aha_segment_geometry(segment).theta_centre))


def test_rings_run_from_base_outside_to_apex_inside():
    rings = {s: aha_segment_geometry(s) for s in range(1, 17)}
    assert {rings[s].ring_name for s in range(1, 7)} == {"basal"}
    assert {rings[s].ring_name for s in range(7, 13)} == {"mid"}
    assert {rings[s].ring_name for s in range(13, 17)} == {"apical"}
    assert rings[1].r_inner == pytest.approx(rings[7].r_outer)
    assert rings[7].r_inner == pytest.approx(rings[13].r_outer)
    assert rings[1].r_outer == 1.0 and rings[13].r_inner == 0.0


def test_sectors_run_counter_clockwise_from_the_anterior_segment():
    # anterior at the top, inferior at the bottom
    for segment in (1, 7, 13):
        assert aha_segment_geometry(segment).theta_centre == pytest.approx(90.0)
    for segment in (4, 10, 15):
        assert aha_segment_geometry(segment).theta_centre == pytest.approx(270.0)
    # septum on the left, lateral wall on the right
    for segment in (2, 3, 8, 9, 14):
        assert _side(segment) < 0
    for segment in (5, 6, 11, 12, 16):
        assert _side(segment) > 0
    # consecutive segments step counter-clockwise by 60° (basal, mid) or 90° (apical)
    for first, last, step in ((1, 6, 60.0), (7, 12, 60.0), (13, 16, 90.0)):
        for segment in range(first, last + 1):
            wedge = aha_segment_geometry(segment)
            assert wedge.sector == segment - first
            assert wedge.theta_end - wedge.theta_start == pytest.approx(step)
            assert 0.0 <= wedge.theta_start < 360.0
            expected = (90.0 + (segment - first) * step) % 360.0
            assert wedge.theta_centre == pytest.approx(expected)


@pytest.mark.parametrize("bad", [0, 17, 2.5, True])
def test_a_bad_segment_is_refused(bad):
    with pytest.raises(ValueError, match="1-16"):
        aha_segment_geometry(bad)


def test_plot_bullseye_draws_16_wedges_in_segment_order():
    fig = Figure()
    ax = fig.subplots()
    values = {s: float(s) for s in range(1, 16)}  # segment 16 missing
    mappable = plot_bullseye(ax, values, vmin=0.0, vmax=16.0)
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    assert len(wedges) == 16
    for segment, wedge in enumerate(wedges, start=1):
        geometry = aha_segment_geometry(segment)
        assert (wedge.theta1, wedge.theta2) == (geometry.theta_start, geometry.theta_end)
        assert wedge.r == pytest.approx(geometry.r_outer)
    assert np.allclose(wedges[4].get_facecolor(), mappable.to_rgba(5.0))
    assert not np.allclose(wedges[15].get_facecolor(), mappable.to_rgba(16.0))
    assert {t.get_text() for t in ax.texts} == {f"{s:.2f}" for s in range(1, 16)}
    with pytest.raises(ValueError, match="16"):
        plot_bullseye(ax, np.ones(12))


def test_plot_method_boxes_joins_each_subjects_methods():
    fig = Figure()
    ax = fig.subplots()
    values = {"none": [0.8, 0.7, 0.82], "iterative": [0.9, 0.91, np.nan], "DL": [0.92, 0.9, 0.93]}
    plot_method_boxes(ax, values, ylabel="Dice")
    assert len(ax.lines) >= 3  # one grey line per subject (plus the box artists)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["none\n(n = 3)", "iterative\n(n = 2)", "DL\n(n = 3)"]
    with pytest.raises(ValueError, match="equal lengths"):
        plot_method_boxes(ax, {"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match="no finite"):
        plot_method_boxes(ax, {"a": [np.nan]}, paired=False)
