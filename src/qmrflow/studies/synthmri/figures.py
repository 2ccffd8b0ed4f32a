"""The synthmri study's figures: agreement per map, example maps, image quality, the paper.

Output keys of :func:`run_figures` (each optional; PNG unless the file name says otherwise):

``agreement_T1``, ``agreement_T2``, ``agreement_PD``
    One figure per map, 2 x 2: rows DL vs routine and fast vs routine; left the scatter of the
    ROI means (tissues and regions of every subject) with the regression line, its confidence
    band and the identity line (lesions drawn as crosses, not part of the fit), right the
    Bland-Altman plot (other − routine).
``examples``
    Example maps of one subject's middle slice: rows T1, T2, PD; columns routine, fast
    (spline-upsampled), DL and the ground truth where present; one grey window per row
    (0 to the 99th percentile of the routine slice).
``quality``
    Box plots of PSNR, SSIM and NRMSE (columns) of fast and DL per map, one row per reference
    (routine, and truth on the demo).
``paper``
    R² of the regression on routine per map: the paper's DL, our DL and our fast, with the
    lesion paired t-test p-values (paper vs ours) in a text box.

The regression and Bland-Altman results are recomputed from the ROI table with
:mod:`qmrflow.stats` (the same calls as :mod:`qmrflow.studies.synthmri.evaluate`); the paper
comparison is read from the statistics table.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmrflow.figures.agreement import plot_agreement_panel
from qmrflow.figures.overlay import save_figure
from qmrflow.figures.paired import plot_paired
from qmrflow.io import load_nifti, read_tsv
from qmrflow.stats import paired_ttest, read_tidy
from qmrflow.studies.synthmri.evaluate import (
    MAPS,
    METHOD_LABELS,
    METRIC_LABELS,
    METRICS,
    UNITS,
    agreement,
    check_quality_table,
    check_rois_table,
    paired_roi_values,
)
from qmrflow.studies.synthmri.paper import (
    LESION_TTEST_P,
    MEASURE_LESION_P,
    MEASURE_R_SQUARED,
    PAPER,
    comparison_name,
    paper_comparison,
)
from qmrflow.studies.synthmri.rois import MAP_KEYS

__all__ = [
    "FIGURE_KEYS",
    "plot_agreement_figure",
    "plot_example_maps",
    "plot_lesion_figure",
    "plot_paper_figure",
    "plot_quality_figure",
    "run_figures",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Output keys :func:`run_figures` understands.
FIGURE_KEYS: tuple[str, ...] = (
    *(f"agreement_{m}" for m in MAPS),
    "examples",
    "quality",
    "paper",
    "lesions",
)
_COMPARED = ("dl", "fast")
_COLOURS = {"fast": "tab:orange", "dl": "tab:blue"}


def _short_unit(map_name: str) -> str:
    return "" if map_name == "PD" else UNITS[map_name]


def plot_agreement_figure(rois: pd.DataFrame, map_name: str, confidence: float = 0.95) -> Figure:
    """Scatter + regression and Bland-Altman of DL and fast against routine for one map."""
    fig = Figure(figsize=(10, 9), layout="constrained")
    axes = fig.subplots(2, 2, squeeze=False)
    unit = _short_unit(map_name)
    for row, method in enumerate(_COMPARED):
        label = METHOD_LABELS[method]
        result = agreement(rois, map_name, method, confidence=confidence)
        scatter_ax, ba_ax = axes[row]
        x, y = result.pairs["routine"].to_numpy(), result.pairs["other"].to_numpy()
        if result.regression is None or result.bland_altman is None:  # pragma: no cover
            raise ValueError(f"{label} vs routine {map_name}: no regression ({result.note})")
        plot_agreement_panel(
            scatter_ax, ba_ax, x, y, result.regression, result.bland_altman, units=unit
        )
        lesions = paired_roi_values(rois, map_name, method, "lesions")
        if not lesions.empty:
            scatter_ax.scatter(
                lesions["routine"],
                lesions["other"],
                marker="x",
                color="tab:orange",
                zorder=5,
                label=f"lesions (n = {len(lesions)}, not in fit)",
            )
            scatter_ax.legend(loc="upper left", fontsize="small", frameon=False)
        n_subjects = result.pairs["participant_id"].nunique()
        scatter_ax.set_title(
            f"{label} vs routine {map_name}: {len(result.pairs)} ROIs, {n_subjects} subjects",
            fontsize="medium",
        )
    fig.suptitle(f"{map_name}: agreement with the routine protocol (tissues and regions)")
    return fig


def _load_slice(path: PathLike, subject: str) -> np.ndarray:
    volume = load_nifti(path, subject=subject, ndim=3, allow_nonfinite=True).data
    return np.nan_to_num(volume[:, :, volume.shape[2] // 2])


def plot_example_maps(examples: Mapping[str, Mapping[str, PathLike]], subject: str) -> Figure:
    """Middle slice of each method's T1, T2 and PD maps (rows maps, columns methods).

    Raises
    ------
    ValueError
        ``examples`` has no ``routine`` maps or lacks a map key.
    """
    if "routine" not in examples:
        raise ValueError("examples needs the 'routine' maps")
    methods = [m for m in ("routine", "fast", "dl", "truth") if m in examples]
    for method in methods:
        missing = [k for k in MAP_KEYS if k not in examples[method]]
        if missing:
            raise ValueError(f"examples[{method!r}] lacks {missing}")
    slices = {m: {k: _load_slice(examples[m][k], subject) for k in MAP_KEYS} for m in methods}
    height, width = slices["routine"]["T1map"].shape
    panel = 2.4
    fig = Figure(
        figsize=(panel * len(methods) + 1.0, 3 * panel * width / height + 0.6),
        layout="constrained",
    )
    axes = fig.subplots(3, len(methods), squeeze=False)
    titles = {"routine": "routine", "fast": "fast (spline)", "dl": "DL", "truth": "truth"}
    for row, (key, map_name) in enumerate(MAP_KEYS.items()):
        reference = slices["routine"][key]
        inside = reference[reference > 0]
        vmax = float(np.percentile(inside, 99)) if inside.size else 1.0
        image = None
        for column, method in enumerate(methods):
            ax = axes[row, column]
            image = ax.imshow(
                slices[method][key].T, cmap="gray", vmin=0.0, vmax=vmax, origin="lower"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[method])
            if column == 0:
                ax.set_ylabel(map_name)
        fig.colorbar(
            image, ax=axes[row, :].tolist(), shrink=0.8, label=f"{map_name} ({UNITS[map_name]})"
        )
    fig.suptitle(f"sub-{subject}: middle slice", fontsize="medium")
    return fig


def plot_quality_figure(quality: pd.DataFrame) -> Figure:
    """Box plots of PSNR, SSIM and NRMSE of fast and DL, per map and reference."""
    references = [r for r in ("routine", "truth") if (quality["reference"] == r).any()]
    references += sorted(set(quality["reference"]) - set(references))
    fig = Figure(figsize=(12, 3.6 * len(references)), layout="constrained")
    axes = fig.subplots(len(references), len(METRICS), squeeze=False)
    width = 0.35
    for row, reference in enumerate(references):
        sub = quality[quality["reference"] == reference]
        for column, metric in enumerate(METRICS):
            ax = axes[row, column]
            for offset, method in zip((-width / 2, width / 2), _COMPARED, strict=True):
                data = [
                    sub.loc[(sub["method"] == method) & (sub["map"] == m), metric]
                    .replace([np.inf, -np.inf], np.nan)
                    .dropna()
                    .to_numpy()
                    for m in MAPS
                ]
                positions = [i + offset for i, values in enumerate(data) if values.size]
                data = [values for values in data if values.size]
                if not data:
                    continue
                boxes = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True)
                for patch in boxes["boxes"]:
                    patch.set_facecolor(_COLOURS[method])
                    patch.set_alpha(0.6)
                ax.plot([], [], "s", color=_COLOURS[method], label=METHOD_LABELS[method])
            ax.set_xticks(range(len(MAPS)), MAPS)
            ax.set_title(f"{METRIC_LABELS[metric]} against {reference}", fontsize="medium")
            ax.set_ylabel(METRIC_LABELS[metric] + (" (dB)" if metric == "psnr" else ""))
            ax.legend(fontsize="small", frameon=False)
    fig.suptitle("Image quality inside the brain mask (one value per subject)")
    return fig


def _r_squared(statistics: pd.DataFrame, method: str, map_name: str) -> float:
    hit = statistics[
        (statistics["comparison"] == comparison_name(method, map_name, "tissues+regions"))
        & (statistics["measure"] == "r_squared")
        & (statistics["statistic"] == "estimate")
    ]
    return float(hit["value"].iloc[0]) if not hit.empty else math.nan


def plot_paper_figure(statistics: pd.DataFrame) -> Figure:
    """The paper's R² (DL vs routine) beside ours (DL and fast), lesion p-values in a box."""
    table = paper_comparison(statistics).set_index(["measure", "comparison"])
    r2 = table.loc[MEASURE_R_SQUARED].reindex(
        [comparison_name("DL", m, "tissues+regions") for m in MAPS]
    )
    lesion = table.loc[MEASURE_LESION_P].reindex(
        [comparison_name("DL", m, "lesions") for m in MAPS]
    )
    lesion.index = list(MAPS)
    bars = {
        "paper: DL": r2["paper"].to_numpy(dtype=float),
        "ours: DL": r2["ours"].to_numpy(dtype=float),
        "ours: fast": np.array([_r_squared(statistics, "fast", m) for m in MAPS]),
    }
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.26
    colours = ("0.6", "tab:blue", "tab:orange")
    for index, ((name, values), colour) in enumerate(zip(bars.items(), colours, strict=True)):
        positions = np.arange(len(MAPS)) + (index - 1) * width
        ax.bar(positions, np.nan_to_num(values), width, label=name, color=colour)
        for x, value in zip(positions, values, strict=True):
            if math.isfinite(value):
                ax.annotate(
                    f"{value:.3f}",
                    (x, value),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
    finite = np.concatenate([v[np.isfinite(v)] for v in bars.values()])
    low = max(0.0, float(finite.min()) - 0.05) if finite.size else 0.0
    ax.set_ylim(low, 1.02)
    ax.set_xticks(range(len(MAPS)), MAPS)
    ax.set_ylabel("R² of regression on routine (ROI means)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    lines = ["Lesions, paired t-test p (DL vs routine)", "map  paper  ours"]
    for map_name in MAPS:
        ours = lesion["ours"].get(map_name, math.nan)
        ours_text = f"{ours:.2g}" if math.isfinite(ours) else "n/a"
        lines.append(f"{map_name:<4} {lesion['paper'][map_name]:.2f}   {ours_text}")
    ax.text(
        1.02,
        0.0,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=7,
        family="monospace",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
    )
    ax.set_title(f"Paper vs qmrflow\n{PAPER}", fontsize=7)
    return fig


def plot_lesion_figure(rois: pd.DataFrame) -> Figure:
    """Each lesion's mean, routine vs DL, per map (the paper's paired t-tests on lesions)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, map_name in zip(fig.subplots(1, len(MAPS)), MAPS, strict=True):
        pairs = paired_roi_values(rois, map_name, "dl", "lesions")
        if len(pairs) < 2:
            ax.text(0.5, 0.5, f"{len(pairs)} lesion(s): no paired test", ha="center",
                    transform=ax.transAxes)  # fmt: skip
            ax.set_axis_off()
            continue
        test = paired_ttest(pairs["other"], pairs["routine"])
        plot_paired(ax, pairs["routine"], pairs["other"], labels=("routine", "DL"),
                    ylabel=f"lesion mean {map_name} ({UNITS[map_name]})", test=test)  # fmt: skip
        ax.set_title(
            f"{map_name}: {ax.get_title()}; paper p = {LESION_TTEST_P[map_name]:.2f}",
            fontsize="small",
        )
    fig.suptitle("White-matter lesions: routine vs DL (paired t-test)", fontsize=9)
    return fig


def run_figures(
    *,
    rois: PathLike,
    quality: PathLike,
    statistics: PathLike,
    examples: Mapping[str, Mapping[str, PathLike]],
    example_subject: str,
    outputs: Mapping[str, PathLike],
    confidence: float = 0.95,
    dpi: int = 150,
) -> None:
    """Read the group tables and write every figure named in ``outputs``.

    Parameters
    ----------
    rois, quality, statistics
        The group tables written by :func:`qmrflow.studies.synthmri.evaluate.run_evaluation`
        (``rois``, ``quality``, ``statistics``).
    examples
        ``method -> {"T1map", "T2map", "PDmap"} -> path`` of the example subject (routine
        grid; ``routine`` required, ``fast``, ``dl``, ``truth`` drawn when given).
    example_subject
        Its label (without ``sub-``), for the title and error messages.
    outputs
        Any of :data:`FIGURE_KEYS` -> path.
    confidence
        Confidence level of the regression band and Bland-Altman intervals.
    dpi
        Resolution of raster outputs.

    Raises
    ------
    ValueError
        An unknown output key or a bad table.
    """
    unknown = sorted(set(outputs) - set(FIGURE_KEYS))
    if unknown:
        raise ValueError(f"unknown figure key(s) {unknown}; expected a subset of {FIGURE_KEYS}")
    roi_table = check_rois_table(read_tsv(rois), name=f"rois table {rois}")
    for map_name in MAPS:
        key = f"agreement_{map_name}"
        if key in outputs:
            save_figure(plot_agreement_figure(roi_table, map_name, confidence), outputs[key], dpi)
    if "examples" in outputs:
        save_figure(plot_example_maps(examples, example_subject), outputs["examples"], dpi)
    if "quality" in outputs:
        table = check_quality_table(read_tsv(quality), name=f"quality table {quality}")
        save_figure(plot_quality_figure(table), outputs["quality"], dpi)
    if "paper" in outputs:
        save_figure(plot_paper_figure(read_tidy(statistics)), outputs["paper"], dpi)
    if "lesions" in outputs:
        save_figure(plot_lesion_figure(roi_table), outputs["lesions"], dpi)
    logger.info("figures written: %s", ", ".join(str(p) for p in outputs.values()))
