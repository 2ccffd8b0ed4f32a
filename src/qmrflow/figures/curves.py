"""Training curves of any study's model: loss and metrics per epoch, the best epoch marked."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["best_epoch", "plot_training_curves"]


def best_epoch(history: pd.DataFrame, select: str = "val_loss", mode: str = "min") -> float:
    """The epoch at which ``select`` is best (``mode`` ``"min"`` or ``"max"``; first on ties).

    Returns NaN when the column is absent or has no finite value.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if select not in history.columns or "epoch" not in history.columns:
        return math.nan
    values = pd.to_numeric(history[select], errors="coerce")
    if not values.notna().any():
        return math.nan
    index = values.idxmin() if mode == "min" else values.idxmax()
    return float(history.loc[index, "epoch"])


def plot_training_curves(
    histories: Mapping[str, pd.DataFrame],
    *,
    losses: Sequence[str] = ("train_loss", "val_loss"),
    metrics: Sequence[str] = ("val_auc",),
    select: str = "val_loss",
    mode: str = "min",
    loss_label: str = "loss",
    metric_label: str = "metric",
    metric_limits: tuple[float, float] | None = None,
) -> Figure:
    """Loss (left) and metric (right) curves per model, the selected epoch marked.

    Parameters
    ----------
    histories
        Model name -> history table with an ``epoch`` column and the ``losses`` and
        ``metrics`` columns (e.g. the history a :mod:`qmrflow.dl.training` run writes);
        absent columns are skipped.
    losses
        Loss columns, drawn solid for the first and dashed for the others, one colour per
        model.
    metrics
        Metric columns of the right panel (no right panel when none is present).
    select, mode
        The column and direction that chose the kept model (:func:`best_epoch`); the chosen
        epoch is a dotted vertical line in the model's colour.
    loss_label, metric_label
        Y axis labels.
    metric_limits
        Y limits of the metric panel (e.g. ``(0.4, 1.01)`` for an AUC).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (save it with :func:`qmrflow.figures.save_figure`).
    """
    present = [m for m in metrics if any(m in h.columns for h in histories.values())]
    fig = Figure(figsize=(10 if present else 5.5, 4), layout="constrained")
    axes = fig.subplots(1, 2 if present else 1, squeeze=False)[0]
    loss_ax = axes[0]
    metric_ax = axes[1] if present else None
    styles = ("-", "--", ":", "-.")
    for name, history in histories.items():
        colour = None
        for index, column in enumerate(c for c in losses if c in history.columns):
            (line,) = loss_ax.plot(
                history["epoch"],
                history[column],
                styles[index % len(styles)],
                color=colour,
                label=f"{name} {column.removesuffix('_loss')}",
            )
            colour = line.get_color()
        if metric_ax is not None:
            for column in (c for c in present if c in history.columns):
                (line,) = metric_ax.plot(
                    history["epoch"],
                    history[column],
                    color=colour,
                    label=name if len(present) == 1 else f"{name} {column}",
                )
                colour = line.get_color()
        chosen = best_epoch(history, select, mode)
        if math.isfinite(chosen):
            for ax in axes:
                ax.axvline(chosen, color=colour, linestyle=":", linewidth=1, alpha=0.8)
    loss_ax.set(xlabel="epoch", ylabel=loss_label, title="Loss")
    loss_ax.legend(fontsize="small")
    if metric_ax is not None:
        title = "Validation " + present[0].removeprefix("val_").upper() if len(present) == 1 else ""
        metric_ax.set(xlabel="epoch", ylabel=metric_label, title=title or "Metrics")
        if metric_limits is not None:
            metric_ax.set_ylim(*metric_limits)
        metric_ax.legend(fontsize="small")
    fig.text(0.01, 0.01, f"dotted: epoch of best {select}", fontsize=7, color="0.4")
    return fig
