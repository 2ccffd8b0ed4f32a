"""Tests of qmrflow.figures.paired."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from qmrflow.figures import plot_paired
from qmrflow.stats import paired_ttest


def test_paired_plot_lines_means_and_p(tmp_path):
    rng = np.random.default_rng(2)
    before = rng.normal(10, 2, 12)
    after = before + rng.normal(1, 0.5, 12)
    test = paired_ttest(after, before)
    figure = Figure(figsize=(3, 4))
    ax = figure.subplots()
    assert plot_paired(ax, before, after, labels=("fast", "DL"), ylabel="T1 (ms)", test=test) is ax
    subject_lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 2][:12]
    for line, b, a in zip(subject_lines, before, after, strict=True):
        np.testing.assert_allclose(line.get_ydata(), [b, a])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fast", "DL"]
    assert ax.get_title() == (
        "p < 0.001 (n = 12)" if test.p < 0.001 else f"p = {test.p:.3f} (n = 12)"
    )
    figure.savefig(tmp_path / "paired.png", dpi=40)


def test_paired_plot_rejects_bad_input():
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="same length"):
        plot_paired(ax, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="after contains 1 missing"):
        plot_paired(ax, [1.0, 2.0], [1.0, np.nan])
