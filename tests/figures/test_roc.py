"""Tests of qmrflow.figures.roc (drawn on a pyplot-free Figure, rendered with Agg)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from qmrflow.figures import plot_roc
from qmrflow.stats import roc_curve_auc


@pytest.fixture
def curve():
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 1], [40, 35])
    return roc_curve_auc(truth, truth + rng.normal(size=truth.size))


def test_plot_roc_draws_curve_legend_and_rater_points(curve, tmp_path):
    figure = Figure(figsize=(4, 4))
    ax = figure.subplots()
    raters = {"Radiologist 1": (0.80, 0.90), "Radiologist 2": (0.70, 0.95)}
    assert plot_roc(ax, curve, label="CNN", raters=raters) is ax

    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    expected = f"CNN (AUC {curve.auc:.3f}, 95% CI {curve.ci_low:.3f}–{curve.ci_high:.3f})"
    assert labels[0] == expected
    assert labels[1].startswith("Radiologist 1") and labels[2].startswith("Radiologist 2")

    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines[expected].get_xdata(), curve.fpr)
    np.testing.assert_allclose(lines[expected].get_ydata(), curve.tpr)
    point = lines[labels[1]]
    assert point.get_xdata()[0] == pytest.approx(1 - 0.90)  # 1 - specificity
    assert point.get_ydata()[0] == pytest.approx(0.80)  # sensitivity
    assert ax.get_xlabel() == "1 − specificity" and ax.get_ylabel() == "Sensitivity"

    out = tmp_path / "roc.png"
    figure.savefig(out, dpi=50)  # Figure without pyplot renders through the Agg canvas
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_roc_without_raters_and_with_undefined_ci():
    single_positive = roc_curve_auc([0, 0, 0, 1], [0.1, 0.4, 0.35, 0.8])
    ax = Figure().subplots()
    plot_roc(ax, single_positive, label="model")
    (label,) = [text.get_text() for text in ax.get_legend().get_texts()]
    assert label == "model (AUC 1.000, 95% CI n/a)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label": ""}, "label must be a non-empty string"),
        ({"label": "m", "raters": {"R1": (1.2, 0.5)}}, r"raters\['R1'\] sensitivity"),
        ({"label": "m", "raters": {"R1": (0.5, float("nan"))}}, r"raters\['R1'\] specificity"),
        ({"label": "m", "raters": {"R1": (0.5,)}}, r"raters\['R1'\] must be a"),
    ],
)
def test_plot_roc_rejects_bad_input(curve, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_roc(Figure().subplots(), curve, **kwargs)
