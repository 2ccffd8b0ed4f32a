"""ROC curve with AUC and confidence interval, plus reader operating points."""

from __future__ import annotations

import math
from collections.abc import Mapping

from matplotlib.axes import Axes

from qmrflow.stats.roc import RocResult

__all__ = ["plot_roc"]

_RATER_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def plot_roc(
    ax: Axes,
    curve: RocResult,
    *,
    label: str,
    raters: Mapping[str, tuple[float, float]] | None = None,
) -> Axes:
    """Draw an empirical ROC curve and, optionally, raters' operating points.

    Parameters
    ----------
    ax
        Axes to draw on (not cleared; several curves can share one Axes).
    curve
        Result of :func:`qmrflow.stats.roc_curve_auc`.
    label
        Name of the model/reader the curve belongs to. The legend entry reads
        ``"<label> (AUC 0.xxx, 95% CI 0.xxx–0.xxx)"`` (``CI n/a`` when the CI is NaN).
    raters
        Operating points of binary readers, ``name -> (sensitivity, specificity)``, plotted
        at ``(1 - specificity, sensitivity)`` with one marker per rater.

    Returns
    -------
    Axes
        ``ax``, for chaining.

    Raises
    ------
    ValueError
        ``label`` is empty, or a rater's sensitivity/specificity is not a number in [0, 1].
    """
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    points: list[tuple[str, float, float]] = []
    for name, pair in (raters or {}).items():
        try:
            sensitivity, specificity = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise ValueError(
                f"raters[{name!r}] must be a (sensitivity, specificity) pair, got {pair!r}"
            ) from None
        for what, value in (("sensitivity", sensitivity), ("specificity", specificity)):
            if not 0.0 <= value <= 1.0:  # also rejects NaN
                raise ValueError(f"raters[{name!r}] {what} must be in [0, 1], got {value!r}")
        points.append((str(name), sensitivity, specificity))

    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", linewidth=0.8, color="0.6", zorder=1)
    ax.plot(curve.fpr, curve.tpr, linewidth=1.8, label=_curve_label(curve, label), zorder=2)
    for index, (name, sensitivity, specificity) in enumerate(points):
        ax.plot(
            1.0 - specificity,
            sensitivity,
            linestyle="none",
            marker=_RATER_MARKERS[index % len(_RATER_MARKERS)],
            markersize=7,
            markeredgecolor="black",
            label=f"{name} (sens {sensitivity:.2f}, spec {specificity:.2f})",
            zorder=3,
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    return ax


def _curve_label(curve: RocResult, label: str) -> str:
    level = f"{curve.confidence * 100:g}%"
    if math.isfinite(curve.ci_low) and math.isfinite(curve.ci_high):
        interval = f"{level} CI {curve.ci_low:.3f}–{curve.ci_high:.3f}"
    else:
        interval = f"{level} CI n/a"
    return f"{label} (AUC {curve.auc:.3f}, {interval})"
