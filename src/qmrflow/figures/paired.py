"""Paired before/after plot: one line per subject between two conditions, means with CIs."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from qmrflow.stats._checks import numeric_pairs

__all__ = ["plot_paired"]


class _PairedTest(Protocol):
    """What the annotation needs from a paired test result (t test or Wilcoxon)."""

    p: float
    method: str


def plot_paired(
    ax: Axes,
    before: ArrayLike,
    after: ArrayLike,
    *,
    labels: tuple[str, str] = ("before", "after"),
    ylabel: str = "",
    test: _PairedTest | None = None,
) -> Axes:
    """Draw each subject's pair as a grey line, and each condition's mean ± SD in black.

    Parameters
    ----------
    ax
        Axes to draw on.
    before, after
        The paired values (same subjects, same order, no missing values).
    labels
        Names of the two conditions (x tick labels).
    ylabel
        Label of the value axis.
    test
        Optional paired test result (e.g. :func:`qmrflow.stats.paired_ttest`); its p-value is
        written above the pairs, ``p < 0.001`` below that.

    Returns
    -------
    Axes
        ``ax``.

    Raises
    ------
    ValueError
        Unequal lengths, missing or non-numeric values (the message names ``before``/``after``).
    """
    pairs = numeric_pairs(before, after, ("before", "after"))
    x = np.array([0.0, 1.0])
    ax.plot(
        np.broadcast_to(x[:, None], (2, pairs.x.size)),
        np.vstack([pairs.x, pairs.y]),
        color="0.6",
        linewidth=0.8,
        marker="o",
        markersize=3,
        alpha=0.7,
        zorder=1,
    )
    means = np.array([pairs.x.mean(), pairs.y.mean()])
    sds = np.array([pairs.x.std(ddof=1), pairs.y.std(ddof=1)]) if pairs.x.size > 1 else None
    ax.errorbar(
        x, means, yerr=sds, color="black", linewidth=2, capsize=6, marker="s", zorder=3,
        label="mean ± SD",
    )  # fmt: skip
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylabel(ylabel)
    if test is not None and math.isfinite(test.p):
        text = "p < 0.001" if test.p < 0.001 else f"p = {test.p:.3f}"
        ax.set_title(f"{text} (n = {pairs.x.size})", fontsize="small")
    ax.legend(loc="best", fontsize="small", frameon=False)
    return ax
