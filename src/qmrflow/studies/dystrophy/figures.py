"""The dystrophy study's figures: ROC with the raters, CAM panel, learning curves."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

from qmrflow.figures.curves import plot_training_curves as plot_curves
from qmrflow.figures.overlay import overlay_grid, save_figure
from qmrflow.figures.roc import plot_roc
from qmrflow.io import load_nifti, read_tsv
from qmrflow.io.bids import subject_of
from qmrflow.stats import read_tidy, roc_curve_auc
from qmrflow.studies.dystrophy.evaluate import usable_predictions
from qmrflow.studies.dystrophy.paper import HEADLINE, PAPER

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def rater_points(statistics: pd.DataFrame, level: str = "image") -> dict[str, tuple[float, float]]:
    """Raters' (sensitivity, specificity) from the tidy statistics table."""
    points = {}
    estimates = statistics[statistics["statistic"] == "estimate"]
    suffix = f" vs reference ({level})"
    for comparison in estimates["comparison"].unique():
        if comparison.startswith("rater") and comparison.endswith(suffix):
            sub = estimates[estimates["comparison"] == comparison].set_index("measure")["value"]
            points[comparison.removesuffix(suffix)] = (
                float(sub["sensitivity"]),
                float(sub["specificity"]),
            )
    return points


def plot_roc_figure(
    predictions: pd.DataFrame,
    statistics: pd.DataFrame,
    architectures: Sequence[str],
    out: PathLike,
    confidence: float = 0.95,
) -> None:
    """Image- and case-level ROC of every architecture, raters as points, paper's AUC noted."""
    fig = Figure(figsize=(11, 5.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, level in zip(axes, ("image", "case"), strict=True):
        for index, architecture in enumerate(architectures):
            sub = predictions[
                (predictions["architecture"] == architecture) & (predictions["level"] == level)
            ]
            curve = roc_curve_auc(
                sub["truth"].to_numpy(), sub["probability"].to_numpy(), confidence=confidence
            )
            raters = rater_points(statistics, level) if index == 0 else None
            plot_roc(ax, curve, label=architecture, raters=raters)
        ax.set_title(f"{level.capitalize()} level (test split)")
    axes[0].text(
        0.98,
        0.35,
        f"Paper: ResNet50 AUC {HEADLINE['image AUC']:.2f}\n{PAPER}",
        ha="right",
        fontsize=7,
        transform=axes[0].transAxes,
        color="0.3",
    )
    save_figure(fig, out)


def plot_cam_panel(
    cams: Sequence[PathLike],
    predictions: pd.DataFrame,
    primary: str,
    out: PathLike,
    n_per_class: int = 3,
) -> None:
    """Crops with their class activation maps for the most confident cases of each class."""
    cases = predictions[(predictions["architecture"] == primary) & (predictions["level"] == "case")]
    by_subject = {subject_of(p): p for p in cams}
    picks = pd.concat(
        [
            cases[cases["truth"] == 1].nlargest(n_per_class, "probability"),
            cases[cases["truth"] == 0].nsmallest(n_per_class, "probability"),
        ]
    )
    picks = picks[picks["participant_id"].isin(by_subject)]
    stacks = [load_nifti(by_subject[pid], ndim=4).data for pid in picks["participant_id"]]
    figure = overlay_grid(
        [stack[:, :, 0, 0] for stack in stacks],
        [stack[:, :, 0, 1] for stack in stacks],
        [
            f"sub-{row.participant_id}\n{row.diagnosis} p={row.probability:.2f}"
            for row in picks.itertuples()
        ],
        suptitle=f"Class activation maps ({primary}), first slice of each case",
    )
    save_figure(figure, out)


def plot_training_curves(histories: Mapping[str, pd.DataFrame], out: PathLike) -> None:
    """Training and validation loss, and validation AUC, per architecture; the epoch whose
    weights were kept (lowest validation loss) marked (:func:`qmrflow.figures.curves.
    plot_training_curves`)."""
    figure = plot_curves(
        histories,
        losses=("train_loss", "val_loss"),
        metrics=("val_auc",),
        select="val_loss",
        loss_label="BCE loss",
        metric_label="AUC",
        metric_limits=(0.4, 1.01),
    )
    save_figure(figure, out)


def run_figures(
    *,
    predictions: PathLike,
    statistics: PathLike,
    cams: Sequence[PathLike],
    histories: Sequence[PathLike],
    architectures: Sequence[str],
    outputs: Mapping[str, PathLike],
) -> None:
    """Read the group tables and write every figure named in ``outputs``."""
    table = usable_predictions(read_tsv(predictions))
    plot_roc_figure(table, read_tidy(statistics), architectures, outputs["roc"])
    plot_cam_panel(cams, table, architectures[0], outputs["cam_panel"])
    plot_training_curves(
        {a: read_tsv(p) for a, p in zip(architectures, histories, strict=True)},
        outputs["training"],
    )
    logger.info("figures written: %s", ", ".join(str(p) for p in outputs.values()))
