"""Bull's-eye plot of the 16 AHA myocardial segments, and box plots of a value per method.

Bull's-eye (Cerqueira et al., Circulation 2002;105:539-542, without the apical cap 17): three
rings, basal outside (segments 1-6), mid (7-12), apical inside (13-16). Seen from the apex with
the anterior wall at the top and the septum on the left, segments run counter-clockwise from the
anterior one: basal and mid anterior, anteroseptal, inferoseptal, inferior, inferolateral,
anterolateral (60° each, the anterior centred at 90°); apical anterior, septal, inferior,
lateral (90° each). :func:`aha_segment_geometry` gives each segment's ring and sector; angles
are in degrees counter-clockwise from the positive x axis (matplotlib's convention).

:func:`plot_method_boxes` draws one box per method with each subject's values joined by a grey
line across the methods (the paired design of a method comparison).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.patches import Wedge
from numpy.typing import ArrayLike

__all__ = [
    "AHA_RINGS",
    "SegmentWedge",
    "aha_segment_geometry",
    "plot_bullseye",
    "plot_method_boxes",
]

#: Ring name -> its segments, outside to inside.
AHA_RINGS: dict[str, tuple[int, ...]] = {
    "basal": tuple(range(1, 7)),
    "mid": tuple(range(7, 13)),
    "apical": tuple(range(13, 17)),
}
_RADII = ((2 / 3, 1.0), (1 / 3, 2 / 3), (0.0, 1 / 3))


@dataclass(frozen=True)
class SegmentWedge:
    """Where one AHA segment lies in the bull's-eye.

    Attributes
    ----------
    segment
        AHA segment number (1-16).
    ring
        0 basal (outer), 1 mid, 2 apical (inner).
    ring_name
        ``"basal"``, ``"mid"`` or ``"apical"``.
    sector
        Position within the ring, counter-clockwise from the anterior segment (0).
    r_inner, r_outer
        Radii of the ring (the bull's-eye has radius 1).
    theta_start, theta_end
        Angular extent in degrees counter-clockwise from the positive x axis;
        ``0 <= theta_start < 360`` and ``theta_end = theta_start + width`` (may exceed 360).
    """

    segment: int
    ring: int
    ring_name: str
    sector: int
    r_inner: float
    r_outer: float
    theta_start: float
    theta_end: float

    @property
    def theta_centre(self) -> float:
        """Centre angle in degrees, in [0, 360)."""
        return (self.theta_start + self.theta_end) / 2 % 360.0

    @property
    def centre(self) -> tuple[float, float]:
        """Cartesian centre of the wedge (for a label)."""
        radius = (self.r_inner + self.r_outer) / 2 if self.r_inner > 0 else self.r_outer * 0.55
        angle = math.radians(self.theta_centre)
        return (radius * math.cos(angle), radius * math.sin(angle))


def aha_segment_geometry(segment: int) -> SegmentWedge:
    """Ring and angular sector of an AHA segment (1-16) in the bull's-eye.

    Raises
    ------
    ValueError
        ``segment`` is not an integer in 1-16.
    """
    if isinstance(segment, bool) or not float(segment).is_integer() or not 1 <= segment <= 16:
        raise ValueError(f"segment must be an AHA segment 1-16, got {segment!r}")
    segment = int(segment)
    for ring, (name, members) in enumerate(AHA_RINGS.items()):
        if segment in members:
            sector = members.index(segment)
            width = 360.0 / len(members)
            start = (90.0 - width / 2 + sector * width) % 360.0
            r_inner, r_outer = _RADII[ring]
            return SegmentWedge(segment, ring, name, sector, r_inner, r_outer, start, start + width)
    raise AssertionError("unreachable")  # pragma: no cover


def _segment_values(values: Mapping[int, float] | ArrayLike) -> dict[int, float]:
    if isinstance(values, Mapping):
        out = {}
        for key, value in values.items():
            out[aha_segment_geometry(int(key)).segment] = float(value)
        return out
    array = np.asarray(values, dtype=float).ravel()
    if array.size != 16:
        raise ValueError(f"values must hold 16 segment values (1-16 in order), got {array.size}")
    return {i + 1: float(v) for i, v in enumerate(array)}


def plot_bullseye(
    ax: Axes,
    values: Mapping[int, float] | ArrayLike,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    annotate: bool = True,
    fmt: str = "{:.2f}",
    missing_colour: str = "0.85",
) -> ScalarMappable:
    """Draw 16 AHA segment values as a bull's-eye.

    Parameters
    ----------
    ax
        Axes to draw on (its aspect is set equal, its frame removed).
    values
        ``segment -> value`` (missing segments drawn in ``missing_colour``), or 16 values for
        segments 1-16 in order; NaN is drawn as missing.
    cmap, vmin, vmax
        Colour map and limits (default: the finite values' range).
    annotate
        Write each value (``fmt``) in its segment.
    missing_colour
        Colour of segments without a finite value.

    Returns
    -------
    matplotlib.cm.ScalarMappable
        The colour mapping, for ``fig.colorbar``.

    Raises
    ------
    ValueError
        A segment outside 1-16, or an array that does not hold 16 values.
    """
    by_segment = _segment_values(values)
    finite = [v for v in by_segment.values() if math.isfinite(v)]
    low = vmin if vmin is not None else (min(finite) if finite else 0.0)
    high = vmax if vmax is not None else (max(finite) if finite else 1.0)
    if high <= low:
        high = low + 1.0
    mappable = ScalarMappable(norm=Normalize(low, high), cmap=cmap)
    for segment in range(1, 17):
        wedge = aha_segment_geometry(segment)
        value = by_segment.get(segment, math.nan)
        colour = mappable.to_rgba(value) if math.isfinite(value) else missing_colour
        ax.add_patch(
            Wedge(
                (0.0, 0.0),
                wedge.r_outer,
                wedge.theta_start,
                wedge.theta_end,
                width=wedge.r_outer - wedge.r_inner,
                facecolor=colour,
                edgecolor="white",
                linewidth=1.2,
            )
        )
        if annotate and math.isfinite(value):
            red, green, blue, _ = mappable.to_rgba(value)
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(
                *wedge.centre,
                fmt.format(value),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return mappable


def plot_method_boxes(
    ax: Axes,
    values: Mapping[str, ArrayLike],
    *,
    paired: bool = True,
    ylabel: str = "",
    colours: Sequence[str] | None = None,
) -> Axes:
    """One box per method; with ``paired``, each subject's values joined across the methods.

    Parameters
    ----------
    ax
        Axes to draw on.
    values
        Method label -> values, in drawing order. With ``paired`` every array has the same
        length and position ``i`` is the same subject in each; NaN is left out of the boxes
        and breaks that subject's line.
    paired
        Draw the grey subject lines.
    ylabel
        Label of the value axis.
    colours
        Box colours, one per method (default matplotlib's cycle).

    Returns
    -------
    Axes
        ``ax``; each tick label gives the method and its number of values.

    Raises
    ------
    ValueError
        No methods, a method without a finite value, or unequal lengths with ``paired``.
    """
    if not values:
        raise ValueError("values must name at least one method")
    labels = list(values)
    arrays = [np.asarray(values[label], dtype=float).ravel() for label in labels]
    if paired and len({a.size for a in arrays}) > 1:
        sizes = {label: a.size for label, a in zip(labels, arrays, strict=True)}
        raise ValueError(f"paired values must have equal lengths, got {sizes}")
    finite = [a[np.isfinite(a)] for a in arrays]
    for label, data in zip(labels, finite, strict=True):
        if data.size == 0:
            raise ValueError(f"values[{label!r}] has no finite value")
    positions = np.arange(len(labels), dtype=float)
    if paired and len(labels) > 1:
        stacked = np.vstack(arrays)
        ax.plot(
            positions,
            stacked,
            color="0.6",
            linewidth=0.8,
            marker="o",
            markersize=3,
            alpha=0.7,
            zorder=3,
        )
    boxes = ax.boxplot(
        finite,
        positions=positions,
        widths=0.5,
        patch_artist=True,
        showfliers=not paired,
        zorder=2,
        medianprops={"color": "black"},
    )
    cycle = colours or [f"C{i}" for i in range(len(labels))]
    for patch, colour in zip(boxes["boxes"], cycle, strict=False):
        patch.set_facecolor(colour)
        patch.set_alpha(0.5)
    ax.set_xticks(
        positions, [f"{lab}\n(n = {d.size})" for lab, d in zip(labels, finite, strict=True)]
    )
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylabel(ylabel)
    return ax
