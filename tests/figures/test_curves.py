"""Training curves (qmrflow.figures.curves) and the agreement panel."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from qmrflow.figures import best_epoch, plot_agreement_panel, plot_training_curves
from qmrflow.stats import compare_pair

HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2, 3, 4],
        "train_loss": [0.9, 0.6, 0.4, 0.3],
        "val_loss": [1.0, 0.7, 0.65, 0.8],
        "val_dice": [0.3, 0.6, 0.7, 0.72],
    }
)


def test_best_epoch_min_max_and_missing():
    assert best_epoch(HISTORY) == 3
    assert best_epoch(HISTORY, "val_dice", "max") == 4
    assert math.isnan(best_epoch(HISTORY, "val_auc"))
    with pytest.raises(ValueError, match="mode"):
        best_epoch(HISTORY, mode="best")


def test_training_curves_of_any_metric_mark_the_best_epoch():
    fig = plot_training_curves({"unet": HISTORY}, metrics=("val_dice",), metric_label="Dice")
    loss_ax, metric_ax = fig.axes
    assert len(loss_ax.get_lines()) == 3  # train, val, best-epoch line
    assert metric_ax.get_ylabel() == "Dice"
    marks = [line for line in loss_ax.get_lines() if line.get_linestyle() == ":"]
    assert marks and marks[0].get_xdata()[0] == 3
    only_loss = plot_training_curves({"a": HISTORY}, metrics=("val_auc",))
    assert len(only_loss.axes) == 1


def test_agreement_panel_draws_scatter_and_bland_altman():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 20)
    y = x + rng.normal(0, 0.5, 20)
    result = compare_pair(y, x, names=("new", "old"))
    fig = Figure()
    left, right = fig.subplots(1, 2)
    plot_agreement_panel(left, right, x, y, result.regression, result.bland_altman, units="ms")
    assert left.get_xlabel() == "old (ms)"
    assert right.get_ylabel().startswith("new − old")
