"""The perfusion study's figures: curves before/after, MBF bull's-eyes, Dice, the paper.

Output keys of :func:`plot_perfusion_figures` (each optional; PNG):

``curves``
    Time-intensity curves of the example subject: columns none, iterative, DL; top row the
    arterial input (segment 0 of the curves table), bottom row the myocardial segments of its
    middle slice. Motion shows as jitter that correction removes.
``bullseye``
    MBF per AHA segment of the example subject (:func:`qmrflow.figures.bullseye.plot_bullseye`),
    one bull's-eye per method and the demo's truth where present, one colour scale.
``dice``
    Box plots of the subject Dice per method, each subject's methods joined
    (:func:`qmrflow.figures.bullseye.plot_method_boxes`); a second panel with the Dice against
    the warped true labels on the demo.
``measures``
    The same for temporal smoothness, MBF segment SD and (demo) the MBF error.
``paper``
    The paper's numbers beside ours (:func:`qmrflow.studies.perfusion.paper.paper_comparison`):
    Dice per method, median segment SD, the speed ratio, and the smoothness p in a text box.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmrflow.figures.bullseye import plot_bullseye, plot_method_boxes
from qmrflow.figures.overlay import save_figure
from qmrflow.io import read_tsv
from qmrflow.stats import read_tidy
from qmrflow.studies.perfusion.evaluate import (
    SUBJECT_COLUMNS,
    check_segments_table,
    read_tables,
    typed_table,
)
from qmrflow.studies.perfusion.paper import (
    DICE,
    MEASURE_DICE,
    MEASURE_SEGMENT_SD,
    MEASURE_SMOOTHNESS_P,
    MEASURE_SPEED_RATIO,
    METHOD_LABELS,
    METHODS,
    PAPER,
    SEGMENT_SD,
    paper_comparison,
    segment_comparison,
    subject_comparison,
)

__all__ = [
    "CURVE_COLUMNS",
    "FIGURE_KEYS",
    "check_curves_table",
    "plot_bullseye_figure",
    "plot_curves_figure",
    "plot_dice_figure",
    "plot_measures_figure",
    "plot_paper_figure",
    "plot_perfusion_figures",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
TableLike = PathLike | pd.DataFrame

CURVE_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "method",
    "slice",
    "segment",
    "frame",
    "time",
    "signal",
    "concentration",
)
#: Output keys :func:`plot_perfusion_figures` understands.
FIGURE_KEYS: tuple[str, ...] = ("curves", "bullseye", "dice", "measures", "paper")
_COLOURS = {"none": "tab:grey", "iterative": "tab:orange", "dl": "tab:blue"}
_MBF_UNIT = "ml/min/g"


def check_curves_table(table: pd.DataFrame, name: str = "curves table") -> pd.DataFrame:
    """Validate a curves table (:data:`CURVE_COLUMNS`); a typed copy.

    Raises
    ------
    ValueError
        Not a table, empty, a missing column, non-numeric values or an unknown method.
    """
    return typed_table(table, CURVE_COLUMNS, CURVE_COLUMNS[2:], name)


def _example(table: pd.DataFrame, subject: str | None, what: str) -> tuple[pd.DataFrame, str]:
    """The rows of the example subject (default the first one), ValueError if absent."""
    subjects = sorted(table["participant_id"].unique())
    if subject is None:
        subject = subjects[0]
    rows = table[table["participant_id"] == str(subject)]
    if rows.empty:
        raise ValueError(f"{what} has no rows of the example subject sub-{subject}; has {subjects}")
    return rows, str(subject)


def _methods(table: pd.DataFrame) -> list[str]:
    return [m for m in METHODS if (table["method"] == m).any()]


def plot_curves_figure(
    curves: pd.DataFrame, subject: str | None = None, *, quantity: str = "signal"
) -> Figure:
    """AIF and myocardial segment curves of one subject, one column per method.

    Parameters
    ----------
    curves
        A curves table (:data:`CURVE_COLUMNS`) holding the subject's rows.
    subject
        The example subject (default: the first in the table).
    quantity
        ``"signal"`` (time-intensity curves) or ``"concentration"``.
    """
    if quantity not in ("signal", "concentration"):
        raise ValueError(f"quantity must be 'signal' or 'concentration', got {quantity!r}")
    rows, subject = _example(curves, subject, "curves table")
    methods = _methods(rows)
    tissue = rows[rows["segment"] > 0]
    slices = sorted(tissue["slice"].unique())
    middle = slices[len(slices) // 2] if slices else math.nan
    fig = Figure(figsize=(3.6 * len(methods) + 0.8, 6.0), layout="constrained")
    axes = fig.subplots(2, len(methods), squeeze=False, sharex=True, sharey="row")
    unit = "a.u." if quantity == "signal" else "mM"
    # The arterial input is measured as concentration (from the AIF series' LV pool); its
    # signal is not in the table (n/a), so its row shows concentration whatever ``quantity``.
    aif_rows = rows[rows["segment"] == 0]
    aif_quantity = quantity if aif_rows[quantity].notna().any() else "concentration"
    aif_unit = "a.u." if aif_quantity == "signal" else "mM"
    for column, method in enumerate(methods):
        sub = rows[rows["method"] == method]
        aif = sub[sub["segment"] == 0]
        for slice_index, group in aif.groupby("slice"):
            group = group.sort_values("time")
            axes[0, column].plot(
                group["time"],
                group[aif_quantity],
                color="tab:red",
                label=f"AIF (slice {slice_index:g})",
            )
        myo = sub[(sub["segment"] > 0) & (sub["slice"] == middle)]
        for segment, group in myo.groupby("segment"):
            group = group.sort_values("time")
            axes[1, column].plot(
                group["time"], group[quantity], linewidth=1.0, label=f"segment {segment:g}"
            )
        axes[0, column].set_title(METHOD_LABELS[method])
        axes[1, column].set_xlabel("time (s)")
    axes[0, 0].set_ylabel(f"AIF {aif_quantity} ({aif_unit})")
    axes[1, 0].set_ylabel(f"myocardium {quantity} ({unit})")
    for ax in axes[:, -1]:
        if ax.has_data():
            ax.legend(fontsize="x-small", frameon=False, loc="upper right")
    fig.suptitle(
        f"sub-{subject}: time-{quantity} curves before and after motion correction "
        f"(myocardium: slice {middle:g})",
        fontsize="medium",
    )
    return fig


def plot_bullseye_figure(segments: pd.DataFrame, subject: str | None = None) -> Figure:
    """MBF bull's-eye per method (and the truth, when finite) of one subject, one scale."""
    rows, subject = _example(segments, subject, "segments table")
    panels: dict[str, dict[int, float]] = {}
    for method in _methods(rows):
        sub = rows[rows["method"] == method]
        panels[METHOD_LABELS[method]] = sub.groupby("segment")["mbf"].mean().to_dict()
    truth = rows.groupby("segment")["truth_mbf"].mean()
    if np.isfinite(truth.to_numpy(dtype=float)).any():
        panels["truth"] = truth.to_dict()
    finite = [v for p in panels.values() for v in p.values() if math.isfinite(v)]
    vmax = max(finite) if finite else 1.0
    fig = Figure(figsize=(2.9 * len(panels) + 1.0, 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    mappable = None
    for ax, (label, values) in zip(axes, panels.items(), strict=True):
        mappable = plot_bullseye(ax, values, vmin=0.0, vmax=vmax, cmap="inferno")
        ax.set_title(label)
    if mappable is not None:
        fig.colorbar(mappable, ax=list(axes), shrink=0.8, label=f"MBF ({_MBF_UNIT})")
    fig.suptitle(
        f"sub-{subject}: MBF per AHA segment (base outside, apex inside; anterior up, septum left)",
        fontsize="medium",
    )
    return fig


def _boxes(ax, subjects: pd.DataFrame, outcome: str, ylabel: str) -> None:
    wide = subjects.pivot(index="participant_id", columns="method", values=outcome)
    methods = [m for m in METHODS if m in wide.columns and wide[m].notna().any()]
    plot_method_boxes(
        ax,
        {METHOD_LABELS[m]: wide[m].to_numpy(dtype=float) for m in methods},
        ylabel=ylabel,
        colours=[_COLOURS[m] for m in methods],
    )


def _outcomes_figure(
    subjects: pd.DataFrame, outcomes: Sequence[tuple[str, str]], title: str
) -> Figure:
    present = [
        (o, label) for o, label in outcomes if np.isfinite(subjects[o].to_numpy(dtype=float)).any()
    ]
    fig = Figure(figsize=(3.8 * max(len(present), 1) + 0.4, 4.0), layout="constrained")
    axes = fig.subplots(1, max(len(present), 1), squeeze=False)[0]
    for ax, (outcome, label) in zip(axes, present, strict=False):
        _boxes(ax, subjects, outcome, label)
    n = subjects["participant_id"].nunique()
    fig.suptitle(
        f"{title} ({n} test subjects; grey lines join a subject's methods)", fontsize="medium"
    )
    return fig


def plot_dice_figure(subjects: pd.DataFrame) -> Figure:
    """Box plots of the subject Dice per method (and against the warped truth, on the demo)."""
    outcomes = (
        ("dice", "myocardial Dice vs reference frame"),
        ("dice_truth", "myocardial Dice vs warped true labels"),
    )
    return _outcomes_figure(subjects, outcomes, "Myocardial Dice after alignment")


def plot_measures_figure(subjects: pd.DataFrame) -> Figure:
    """Box plots of smoothness, MBF segment SD and (demo) MBF error per method."""
    outcomes = (
        ("smoothness", "temporal smoothness (lower = smoother)"),
        ("segment_sd", f"median pixel MBF SD in a segment ({_MBF_UNIT})"),
        ("mbf_error_percent", "median |MBF error| over segments (%)"),
    )
    return _outcomes_figure(subjects, outcomes, "Curves and MBF per method")


def _bars(ax, labels: Sequence[str], paper: Sequence[float], ours: pd.DataFrame, unit: str) -> None:
    positions = np.arange(len(labels), dtype=float)
    width = 0.38
    values = ours["ours"].to_numpy(dtype=float)
    errors = np.vstack(
        [
            values - ours["ours_ci_low"].to_numpy(dtype=float),
            ours["ours_ci_high"].to_numpy(dtype=float) - values,
        ]
    )
    errors = np.where(np.isfinite(errors), errors, 0.0)
    ax.bar(positions - width / 2, paper, width, color="0.6", label="paper")
    ax.bar(
        positions + width / 2,
        np.nan_to_num(values),
        width,
        color="tab:blue",
        label="ours",
        yerr=errors,
        capsize=3,
    )
    tops = values + errors[1]
    for x, value, top in zip(positions, values, tops, strict=True):
        if math.isfinite(value):
            ax.annotate(
                f"{value:.2f}",
                (x + width / 2, top),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
    ax.set_xticks(positions, labels)
    ax.set_ylabel(unit)


def plot_paper_figure(statistics: pd.DataFrame) -> Figure:
    """The paper's Dice, segment SD and speed ratio beside ours; smoothness p in a text box."""
    table = paper_comparison(statistics)

    def rows(measure: str, comparisons: Sequence[str]) -> pd.DataFrame:
        sub = table[table["measure"] == measure].set_index("comparison")
        return sub.reindex(list(comparisons))

    fig = Figure(figsize=(11.0, 3.8), layout="constrained")
    dice_ax, sd_ax, speed_ax = fig.subplots(1, 3, width_ratios=(3, 2, 1.3))
    dice_methods = ("none", "iterative", "dl")
    _bars(
        dice_ax,
        [METHOD_LABELS[m] for m in dice_methods],
        [DICE[m] for m in dice_methods],
        rows(MEASURE_DICE, [subject_comparison(m) for m in dice_methods]),
        "mean Dice",
    )
    dice_ax.set_ylim(0.0, 1.2)
    dice_ax.set_title("Myocardial Dice", fontsize="medium")
    dice_ax.legend(fontsize="small", frameon=False, loc="upper left", ncol=2)
    sd_methods = ("iterative", "dl")
    _bars(
        sd_ax,
        [METHOD_LABELS[m] for m in sd_methods],
        [SEGMENT_SD[m] for m in sd_methods],
        rows(MEASURE_SEGMENT_SD, [segment_comparison(m) for m in sd_methods]),
        _MBF_UNIT,
    )
    sd_ax.set_title("Median MBF segment SD", fontsize="medium")
    speed = table[table["measure"] == MEASURE_SPEED_RATIO]
    _bars(speed_ax, ["iterative / DL"], speed["paper"].tolist(), speed, "times faster")
    speed_ax.set_title("Speed ratio", fontsize="medium")
    smooth = table[table["measure"] == MEASURE_SMOOTHNESS_P]
    ours_p = float(smooth["ours"].iloc[0]) if not smooth.empty else math.nan
    ours_text = (
        "n/a" if not math.isfinite(ours_p) else ("< 0.001" if ours_p < 0.001 else f"{ours_p:.3g}")
    )
    speed_ax.text(
        1.05,
        0.0,
        f"Smoothness DL vs none\npaper: p < 0.001\nours: p {ours_text}\n(Wilcoxon, Holm)",
        transform=speed_ax.transAxes,
        fontsize=7,
        va="bottom",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
    )
    fig.suptitle(f"Paper vs qmrflow: {PAPER}", fontsize="small")
    return fig


def _read_subjects(subjects: TableLike) -> pd.DataFrame:
    table = subjects if isinstance(subjects, pd.DataFrame) else read_tsv(subjects)
    missing = [c for c in SUBJECT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"subjects table lacks column(s) {missing}")
    table = table.copy()
    table["participant_id"] = table["participant_id"].astype(str)
    for column in SUBJECT_COLUMNS[2:-1]:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def plot_perfusion_figures(
    *,
    outputs: Mapping[str, PathLike],
    subjects: TableLike | None = None,
    segments: TableLike | Sequence[TableLike] | None = None,
    curves: TableLike | Sequence[TableLike] | None = None,
    statistics: TableLike | None = None,
    example_subject: str | None = None,
    dpi: int = 150,
) -> None:
    """Read the tables and write every figure named in ``outputs``.

    Parameters
    ----------
    outputs
        Any of :data:`FIGURE_KEYS` -> path.
    subjects
        The ``subjects`` table of :func:`qmrflow.studies.perfusion.evaluate.evaluate_perfusion`
        (for ``dice`` and ``measures``).
    segments, curves
        Segments and curves tables (paths or DataFrames, one or a list, e.g. the example
        subject's per-method files) holding the example subject (for ``bullseye``, ``curves``).
    statistics
        The tidy statistics table (for ``paper``).
    example_subject
        The example subject's label (without ``sub-``); default the first one in the tables.
    dpi
        Resolution of the PNGs.

    Raises
    ------
    ValueError
        An unknown output key, a needed table not given, or a bad table.
    """
    unknown = sorted(set(outputs) - set(FIGURE_KEYS))
    if unknown:
        raise ValueError(f"unknown figure key(s) {unknown}; expected a subset of {FIGURE_KEYS}")
    needs = {
        "curves": curves,
        "bullseye": segments,
        "dice": subjects,
        "measures": subjects,
        "paper": statistics,
    }
    absent = [key for key in outputs if needs[key] is None]
    if absent:
        raise ValueError(f"figure(s) {absent} need a table that was not given")
    if "curves" in outputs:
        table = read_tables(curves, check_curves_table, "curves")
        save_figure(plot_curves_figure(table, example_subject), outputs["curves"], dpi)
    if "bullseye" in outputs:
        table = read_tables(segments, check_segments_table, "segments")
        save_figure(plot_bullseye_figure(table, example_subject), outputs["bullseye"], dpi)
    if "dice" in outputs or "measures" in outputs:
        table = _read_subjects(subjects)
        if "dice" in outputs:
            save_figure(plot_dice_figure(table), outputs["dice"], dpi)
        if "measures" in outputs:
            save_figure(plot_measures_figure(table), outputs["measures"], dpi)
    if "paper" in outputs:
        table = statistics if isinstance(statistics, pd.DataFrame) else read_tidy(statistics)
        save_figure(plot_paper_figure(table), outputs["paper"], dpi)
    logger.info("figures written: %s", ", ".join(str(p) for p in outputs.values()))
