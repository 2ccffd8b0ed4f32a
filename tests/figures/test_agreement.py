"""Tests of qmrflow.figures.agreement (pyplot-free Figures rendered with Agg)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from qmrflow.figures import plot_bland_altman, plot_scatter_regression
from qmrflow.stats import bland_altman, linear_regression


@pytest.fixture
def pairs():
    rng = np.random.default_rng(4)
    truth = rng.uniform(600, 1600, 40)  # e.g. T1 in ms
    return truth + rng.normal(0, 20, 40), 1.02 * truth + rng.normal(5, 20, 40)


def _hlines(ax):
    return sorted(
        line.get_ydata()[0]
        for line in ax.get_lines()
        if len(set(np.asarray(line.get_ydata(), float))) == 1 and len(line.get_xdata()) == 2
    )


def test_bland_altman_draws_points_bias_limits_and_bands(pairs, tmp_path):
    result = bland_altman(*pairs, names=("DL", "routine"), proportional_bias=True)
    figure = Figure(figsize=(5, 4))
    ax = figure.subplots()
    assert plot_bland_altman(ax, result, units="ms") is ax
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], result.means)
    np.testing.assert_allclose(offsets[:, 1], result.differences)
    assert _hlines(ax) == pytest.approx(
        sorted([result.lower_limit, result.bias, result.upper_limit])
    )
    bands = [patch for patch in ax.patches]  # axhspan: one CI band per line
    assert len(bands) == 3
    assert ax.get_ylabel() == "DL − routine (ms)"
    assert ax.get_xlabel() == "mean of DL and routine (ms)"
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"bias {result.bias:.3g}" in texts and "1.96 SD" in texts
    assert "proportional bias" in ax.get_legend().get_texts()[0].get_text()
    figure.savefig(tmp_path / "ba.png", dpi=40)
    assert (tmp_path / "ba.png").stat().st_size > 0


def test_scatter_regression_draws_fit_band_and_identity(pairs, tmp_path):
    x, y = pairs
    fit = linear_regression(x, y, names=("routine", "DL"))
    figure = Figure(figsize=(4, 4))
    ax = figure.subplots()
    assert plot_scatter_regression(ax, x, y, fit, units="ms") is ax
    lines = {line.get_label(): line for line in ax.get_lines()}
    fitted = next(label for label in lines if label.startswith("y = "))
    assert f"R² = {fit.r_squared:.3f}" in fitted
    line = lines[fitted]
    np.testing.assert_allclose(line.get_ydata(), fit.predict(line.get_xdata()))
    identity = lines["identity"]
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    assert len(ax.collections) == 2  # points and the confidence band
    assert ax.get_xlabel() == "routine (ms)" and ax.get_ylabel() == "DL (ms)"
    figure.savefig(tmp_path / "scatter.png", dpi=40)


def test_scatter_through_origin_equation_and_shape_check(pairs):
    x, y = pairs
    fit = linear_regression(x, y, through_origin=True)
    ax = Figure().subplots()
    plot_scatter_regression(ax, x, y, fit, identity=False, band=False)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0].startswith(f"y = {fit.slope:.3g}x,")
    assert "identity" not in labels
    with pytest.raises(ValueError, match="same length"):
        plot_scatter_regression(ax, x[:-1], y, fit)
