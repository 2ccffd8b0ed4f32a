"""Group evaluation of the synthmri study: agreement, lesions, accuracy and image quality.

All numbers come from :mod:`qmrflow.stats`; this module decides what is compared and lays the
results out in one tidy statistics table (:func:`qmrflow.stats.tidy`, study ``"synthmri"``).

Agreement with the routine protocol (per map T1, T2, PD; DL and fast each against routine)
------------------------------------------------------------------------------------------
The unit is an ROI mean of one subject (``rois`` table of
:func:`qmrflow.studies.synthmri.rois.measure_subject`), paired across methods by
``(participant_id, roi_type, roi, map)``.

* Tissues and regions pooled over all subjects (comparison ``"DL vs routine: T1
  (tissues+regions)"``): the method comparison :func:`~qmrflow.stats.compare_pair` with routine
  as the reference: :func:`~qmrflow.stats.linear_regression` of the other method on routine
  (x = routine; the paper's R²), :func:`~qmrflow.stats.bland_altman` of other − routine and
  :func:`~qmrflow.stats.paired_ttest` of other − routine. ROI means of one subject are not
  independent, so these p-values are descriptive, as in the paper.
* Lesions (comparison ``"DL vs routine: T1 (lesions)"``): paired t-test and Bland-Altman over
  every lesion of every subject. With fewer than 2 lesions they are not computed; a row
  (measure ``lesion_rois``, statistic ``count``) records the number and the reason, and a
  warning is logged. Other degenerate lesion data (e.g. identical values) are recorded the same
  way rather than failing the whole evaluation.
* Every comparison set has ``roi_pairs`` and ``subjects`` count rows.

Multiplicity: Holm's step-down correction (:func:`~qmrflow.stats.adjust_table`) across the
paired t-tests of one comparison set: "DL vs routine" is one family (3 maps x {tissues+regions,
lesions}, up to 6 tests), "fast vs routine" another. The regression slopes and Bland-Altman
biases are estimates reported with intervals and are not adjusted (the Bland-Altman bias p is
the paired t-test's p again).

Image quality
-------------
Per method (fast, DL), reference (routine, and truth on the demo) and map: median and
interquartile range of PSNR, SSIM and NRMSE over subjects (statistics ``median``, ``q25``,
``q75``; comparison ``"DL vs routine: T1 image quality"``), and the paired Wilcoxon signed-rank
test DL vs fast per metric (comparison ``"DL vs fast: T1 PSNR (reference routine)"``), Holm
adjusted within each reference (3 metrics x 3 maps).

Accuracy against the ground truth (demo cohort)
-----------------------------------------------
Per subject and tissue ROI, the absolute percentage error ``100·|m − t|/t`` of a method's ROI
mean ``m`` against the truth ROI mean ``t``; the ``accuracy`` table gives its median over
subjects per method, map and tissue (``median_abs_error_percent``), and beside it the median over
subjects of each subject's voxelwise median absolute percentage error in the ROI
(``median_voxel_error_percent``: noise included). The study's target: routine T1 and T2 in WM and
GM within 3%.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.io import read_tsv, write_tsv
from qmrflow.io.tables import typed_table
from qmrflow.stats import (
    BlandAltmanResult,
    PairedTTestResult,
    RegressionResult,
    adjust_table,
    compare_pair,
    paired_values,
    tidy,
    wilcoxon_signed_rank,
    write_tidy,
)
from qmrflow.studies.synthmri.paper import comparison_name, paper_comparison
from qmrflow.studies.synthmri.rois import QUALITY_COLUMNS, ROI_COLUMNS, TISSUE_NAMES

__all__ = [
    "ACCURACY_COLUMNS",
    "MAPS",
    "METHOD_LABELS",
    "METRICS",
    "METRIC_LABELS",
    "QUALITY_SUMMARY_COLUMNS",
    "ROI_SETS",
    "STUDY",
    "UNITS",
    "Agreement",
    "Evaluation",
    "agreement",
    "check_quality_table",
    "check_rois_table",
    "evaluate_study",
    "paired_roi_values",
    "run_evaluation",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
STUDY = "synthmri"

MAPS: tuple[str, ...] = ("T1", "T2", "PD")
UNITS: dict[str, str] = {"T1": "ms", "T2": "ms", "PD": "fraction of water"}
METHOD_LABELS: dict[str, str] = {"routine": "routine", "fast": "fast", "dl": "DL", "truth": "truth"}
#: Methods compared with routine, in table order.
COMPARED: tuple[str, ...] = ("dl", "fast")
#: ROI set name -> roi_type values pooled in it.
ROI_SETS: dict[str, tuple[str, ...]] = {
    "tissues+regions": ("tissue", "region"),
    "lesions": ("lesion",),
}
METRICS: tuple[str, ...] = ("psnr", "ssim", "nrmse")
METRIC_LABELS: dict[str, str] = {"psnr": "PSNR", "ssim": "SSIM", "nrmse": "NRMSE"}

ACCURACY_COLUMNS: tuple[str, ...] = (
    "method",
    "map",
    "roi",
    "median_abs_error_percent",
    "median_voxel_error_percent",
    "n_subjects",
)
QUALITY_SUMMARY_COLUMNS: tuple[str, ...] = (
    "method",
    "reference",
    "map",
    "metric",
    "median",
    "q25",
    "q75",
    "n_subjects",
)
_KEYS = ["participant_id", "roi_type", "roi", "map"]
_NUMERIC_ROI = ("mean", "median", "sd", "n_voxels", "voxel_error_percent")
_IQR_METHOD = "median and interquartile range (25th-75th percentile, linear interpolation)"


# ------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------


def check_rois_table(table: pd.DataFrame, name: str = "rois table") -> pd.DataFrame:
    """Validate an ROI table (columns of :data:`~qmrflow.studies.synthmri.rois.ROI_COLUMNS`).

    Returns a copy with ``participant_id`` as text and the numeric columns as floats.

    Raises
    ------
    ValueError
        Not a table, empty, a missing column, non-numeric values, missing ``mean`` values,
        an unknown map, or duplicate ``(participant_id, method, roi_type, roi, map)`` rows; the
        message names the table and the column.
    """
    out = typed_table(table, ROI_COLUMNS, _NUMERIC_ROI, name)
    if out["mean"].isna().any():
        raise ValueError(f"{name} column 'mean' has {int(out['mean'].isna().sum())} missing values")
    unknown = sorted(set(out["map"]) - set(MAPS))
    if unknown:
        raise ValueError(f"{name} column 'map' holds unknown maps {unknown}; expected {MAPS}")
    unknown = sorted(set(out["roi_type"]) - {"tissue", "region", "lesion"})
    if unknown:
        raise ValueError(f"{name} column 'roi_type' holds unknown values {unknown}")
    duplicated = out.duplicated(["participant_id", "method", *_KEYS[1:]])
    if duplicated.any():
        first = out.loc[duplicated].iloc[0]
        raise ValueError(
            f"{name} has {int(duplicated.sum())} duplicate ROI row(s), e.g. sub-"
            f"{first['participant_id']} {first['method']} {first['roi']} {first['map']}"
        )
    return out


def check_quality_table(table: pd.DataFrame, name: str = "quality table") -> pd.DataFrame:
    """Validate an image-quality table (columns of ``rois.QUALITY_COLUMNS``); a typed copy.

    Raises
    ------
    ValueError
        Not a table, empty, a missing column, or non-numeric metric values (naming them).
    """
    return typed_table(table, QUALITY_COLUMNS, METRICS, name)


# ------------------------------------------------------------------------------------------
# Agreement
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Note:
    """A tidy row recording a count, or why a test was not computed."""

    measure: str
    statistic: str
    value: float
    n: int
    method: str

    def to_rows(self) -> list[dict[str, Any]]:
        nan = float("nan")
        return [
            {
                "measure": self.measure,
                "statistic": self.statistic,
                "value": float(self.value),
                "ci_low": nan,
                "ci_high": nan,
                "p": nan,
                "n": self.n,
                "method": self.method,
            }
        ]


@dataclass(frozen=True)
class Agreement:
    """One comparison set: paired ROI values and the statistics computed on them.

    Attributes
    ----------
    pairs
        ``participant_id, roi_type, roi, map, routine, other`` (other = the compared method).
    regression
        Linear regression of other on routine (tissues+regions only; None for lesions).
    bland_altman, ttest
        Bland-Altman of other − routine and the paired t-test; None when not computed.
    note
        Why a test was not computed ("" when everything was).
    """

    pairs: pd.DataFrame
    regression: RegressionResult | None
    bland_altman: BlandAltmanResult | None
    ttest: PairedTTestResult | None
    note: str = ""


def paired_roi_values(
    rois: pd.DataFrame, map_name: str, method: str, roi_set: str = "tissues+regions"
) -> pd.DataFrame:
    """ROI means of ``method`` paired with routine, for one map and ROI set.

    Returns
    -------
    pandas.DataFrame
        ``participant_id, roi_type, roi, map, routine, other``, sorted; ROIs measured by only
        one of the two methods are left out.
    """
    types = ROI_SETS[roi_set]
    sub = rois[(rois["map"] == map_name) & rois["roi_type"].isin(types)]
    pairs, unmatched = paired_values(sub, method, "routine", keys=_KEYS, value="mean")
    if unmatched:
        logger.warning(
            "%s vs routine %s (%s): %d ROI(s) measured by only one method left out",
            METHOD_LABELS.get(method, method),
            map_name,
            roi_set,
            unmatched,
        )
    return pairs.rename(columns={method: "other"})[[*_KEYS, "routine", "other"]]


def agreement(
    rois: pd.DataFrame,
    map_name: str,
    method: str,
    roi_set: str = "tissues+regions",
    *,
    confidence: float = 0.95,
) -> Agreement:
    """Regression, Bland-Altman and paired t-test of ``method`` against routine.

    The regression is fitted for ``"tissues+regions"`` only. For ``"lesions"`` fewer than 2
    lesions, or data on which a test is undefined, give ``None`` results and a ``note``.

    Raises
    ------
    ValueError
        Tissues and regions on which a statistic is undefined (fewer than 3 ROI pairs,
        constant values); the message names the comparison.
    """
    label = METHOD_LABELS.get(method, method)
    pairs = paired_roi_values(rois, map_name, method, roi_set)
    x, y = pairs["routine"].to_numpy(), pairs["other"].to_numpy()
    names = (f"{label} {map_name}", f"routine {map_name}")
    name = comparison_name(label, map_name, roi_set)
    lesions = roi_set == "lesions"
    if lesions and len(pairs) < 2:
        note = (
            f"paired t-test and Bland-Altman not computed: {len(pairs)} lesion ROI(s) "
            "(at least 2 are needed)"
        )
        logger.warning("%s: %s", name, note)
        return Agreement(pairs, None, None, None, note)
    try:
        result = compare_pair(
            y, x, names=names, confidence=confidence, regression=not lesions, strict=not lesions
        )
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if result.note:
        logger.warning("%s: %s", name, result.note)
    return Agreement(pairs, result.regression, result.bland_altman, result.ttest, result.note)


def _agreement_table(rois: pd.DataFrame, method: str, confidence: float) -> pd.DataFrame:
    """Tidy rows of one comparison set (every map and ROI set), Holm-adjusted t-tests."""
    label = METHOD_LABELS[method]
    frames = []
    for map_name in MAPS:
        for roi_set in ROI_SETS:
            result = agreement(rois, map_name, method, roi_set, confidence=confidence)
            n_subjects = result.pairs["participant_id"].nunique()
            n_pairs = len(result.pairs)
            items: list[Any] = [
                _Note(
                    "roi_pairs",
                    "count",
                    n_pairs,
                    n_pairs,
                    f"ROI means paired by subject and ROI ({roi_set})",
                ),
                _Note("subjects", "count", n_subjects, n_pairs, "subjects with a paired ROI"),
            ]
            if roi_set == "lesions":
                items.append(
                    _Note(
                        "lesion_rois",
                        "count",
                        len(result.pairs),
                        len(result.pairs),
                        result.note or "lesion ROIs (connected components) over all subjects",
                    )
                )
            items += [
                r for r in (result.regression, result.bland_altman, result.ttest) if r is not None
            ]
            frames.append(
                tidy(items, study=STUDY, comparison=comparison_name(label, map_name, roi_set))
            )
    table = pd.concat(frames, ignore_index=True)
    return adjust_table(table, "holm", where=table["measure"] == "mean_difference")


# ------------------------------------------------------------------------------------------
# Image quality
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spread:
    """Median and quartiles of one metric as tidy rows."""

    metric: str
    values: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        q25, median, q75 = np.percentile(self.values, [25, 50, 75])
        nan = float("nan")
        return [
            {
                "measure": self.metric,
                "statistic": statistic,
                "value": float(value),
                "ci_low": nan,
                "ci_high": nan,
                "p": nan,
                "n": int(self.values.size),
                "method": _IQR_METHOD,
            }
            for statistic, value in (("median", median), ("q25", q25), ("q75", q75))
        ]


def _quality_summary(quality: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary table and its tidy rows."""
    rows, frames = [], []
    groups = quality.groupby(["method", "reference", "map"], sort=False)
    for (method, reference, map_name), group in groups:
        items = []
        for metric in METRICS:
            keep = np.isfinite(group[metric].to_numpy(dtype=float))
            finite = group[metric].to_numpy(dtype=float)[keep]
            if not keep.all():
                logger.warning(
                    "%s vs %s %s: %d missing or infinite %s value(s) (identical images) left out",
                    method,
                    reference,
                    map_name,
                    int((~keep).sum()),
                    metric,
                )
            if finite.size == 0:
                continue
            spread = _Spread(METRIC_LABELS[metric], finite)
            items.append(spread)
            q25, median, q75 = np.percentile(finite, [25, 50, 75])
            rows.append(
                {
                    "method": method,
                    "reference": reference,
                    "map": map_name,
                    "metric": METRIC_LABELS[metric],
                    "median": median,
                    "q25": q25,
                    "q75": q75,
                    "n_subjects": int(group.loc[keep, "participant_id"].nunique()),
                }
            )
        if items:
            label = METHOD_LABELS.get(method, method)
            frames.append(
                tidy(
                    items,
                    study=STUDY,
                    comparison=f"{label} vs {reference}: {map_name} image quality",
                )
            )
    summary = pd.DataFrame(rows, columns=list(QUALITY_SUMMARY_COLUMNS))
    return summary, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _quality_tests(quality: pd.DataFrame) -> list[pd.DataFrame]:
    """Paired Wilcoxon DL vs fast per reference, map and metric; Holm within each reference."""
    frames = []
    for reference in quality["reference"].unique():
        sub = quality[quality["reference"] == reference]
        results: dict[str, Any] = {}
        for map_name in MAPS:
            for metric in METRICS:
                label = METRIC_LABELS[metric]
                wide = sub[sub["map"] == map_name].pivot_table(
                    index="participant_id", columns="method", values=metric, aggfunc="first"
                )
                name = f"DL vs fast: {map_name} {label} (reference {reference})"
                if not {"dl", "fast"} <= set(wide.columns):
                    continue
                wide = wide[["dl", "fast"]].replace([np.inf, -np.inf], np.nan).dropna()
                try:
                    results[name] = wilcoxon_signed_rank(
                        wide["dl"].to_numpy(),
                        wide["fast"].to_numpy(),
                        names=(f"DL {label}", f"fast {label}"),
                    )
                except ValueError as exc:
                    logger.warning("%s: Wilcoxon test not computed: %s", name, exc)
                    results[name] = _Note(
                        "wilcoxon_not_computed",
                        "count",
                        len(wide),
                        len(wide),
                        f"Wilcoxon signed-rank test not computed: {exc}; value = subjects",
                    )
        if results:
            table = tidy(results, study=STUDY)
            frames.append(adjust_table(table, "holm", where=table["measure"] == "wilcoxon_v"))
    return frames


# ------------------------------------------------------------------------------------------
# Accuracy
# ------------------------------------------------------------------------------------------


def _accuracy(rois: pd.DataFrame) -> pd.DataFrame:
    """Median absolute % error of each method's tissue ROI means against the truth."""
    tissue = rois[rois["roi_type"] == "tissue"]
    truth = tissue[tissue["method"] == "truth"][[*_KEYS, "mean"]].rename(columns={"mean": "truth"})
    if truth.empty:
        return pd.DataFrame(columns=list(ACCURACY_COLUMNS))
    zero = truth["truth"] == 0
    if zero.any():
        logger.warning("%d truth ROI mean(s) of 0 left out of the accuracy table", int(zero.sum()))
        truth = truth[~zero]
    rows = []
    roi_order = {name: i for i, name in enumerate(TISSUE_NAMES.values())}
    for method in ("routine", "fast", "dl"):
        measured = tissue[tissue["method"] == method][[*_KEYS, "mean", "voxel_error_percent"]]
        joined = measured.merge(truth, on=_KEYS, how="inner", validate="one_to_one")
        joined["error"] = 100.0 * (joined["mean"] - joined["truth"]).abs() / joined["truth"].abs()
        groups = sorted(
            joined.groupby(["map", "roi"]),
            key=lambda item: (MAPS.index(item[0][0]), roi_order.get(item[0][1], 99), item[0][1]),
        )
        for (map_name, roi), group in groups:
            rows.append(
                {
                    "method": method,
                    "map": map_name,
                    "roi": roi,
                    "median_abs_error_percent": float(group["error"].median()),
                    "median_voxel_error_percent": float(group["voxel_error_percent"].median()),
                    "n_subjects": int(group["participant_id"].nunique()),
                }
            )
    table = pd.DataFrame(rows, columns=list(ACCURACY_COLUMNS))
    return table[list(ACCURACY_COLUMNS)]


# ------------------------------------------------------------------------------------------
# The study
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Every table the evaluation writes (see :func:`evaluate_study`)."""

    statistics: pd.DataFrame
    accuracy: pd.DataFrame
    quality_summary: pd.DataFrame
    paper_comparison: pd.DataFrame
    rois: pd.DataFrame
    quality: pd.DataFrame


def evaluate_study(
    rois: pd.DataFrame, quality: pd.DataFrame, *, confidence: float = 0.95
) -> Evaluation:
    """Compute the study's statistics from the concatenated per-subject tables.

    Parameters
    ----------
    rois
        ROI table (``participant_id, method, roi_type, roi, map, mean, median, sd,
        n_voxels``) of all test subjects; methods ``routine``, ``fast``, ``dl`` (and ``truth``).
    quality
        Image-quality table (``participant_id, method, reference, map, psnr, ssim, nrmse``).
    confidence
        Confidence level of every interval.

    Returns
    -------
    Evaluation
        ``statistics`` (tidy; see the module docstring), ``accuracy`` (empty without truth),
        ``quality_summary``, ``paper_comparison`` and the validated input tables.

    Raises
    ------
    ValueError
        A bad or empty table (the message names the table and column), a method missing, or
        a statistic undefined on the tissues and regions.
    """
    rois = check_rois_table(rois)
    quality = check_quality_table(quality)
    for method in ("routine", *COMPARED):
        if not (rois["method"] == method).any():
            raise ValueError(f"rois table column 'method' has no {method!r} rows")
    frames = [_agreement_table(rois, method, confidence) for method in COMPARED]
    summary, summary_rows = _quality_summary(quality)
    if not summary_rows.empty:
        frames.append(summary_rows)
    frames += _quality_tests(quality)
    statistics = pd.concat(frames, ignore_index=True)
    accuracy = _accuracy(rois)
    if not accuracy.empty:
        target = accuracy[
            (accuracy["method"] == "routine")
            & accuracy["map"].isin(["T1", "T2"])
            & accuracy["roi"].isin(["WM", "GM"])
        ]
        logger.info(
            "routine T1/T2 median absolute error in WM and GM: %s (target <= 3%%)",
            ", ".join(
                f"{r.map} {r.roi} {r.median_abs_error_percent:.2f}%" for r in target.itertuples()
            ),
        )
    return Evaluation(
        statistics=statistics,
        accuracy=accuracy,
        quality_summary=summary,
        paper_comparison=paper_comparison(statistics),
        rois=rois,
        quality=quality,
    )


def _read_all(paths: Sequence[PathLike], check: Any, kind: str) -> pd.DataFrame:
    if not paths:
        raise ValueError(f"no {kind} tables given")
    frames = []
    for path in paths:
        frames.append(check(read_tsv(path), name=f"{kind} table {path}"))
    return pd.concat(frames, ignore_index=True)


#: Output keys :func:`run_evaluation` understands.
OUTPUT_KEYS: tuple[str, ...] = (
    "statistics",
    "accuracy",
    "quality_summary",
    "paper_comparison",
    "rois",
    "quality",
)


def run_evaluation(
    *,
    rois: Sequence[PathLike],
    quality: Sequence[PathLike],
    confidence: float,
    outputs: Mapping[str, PathLike],
) -> Evaluation:
    """Read the per-subject tables, evaluate, and write every table named in ``outputs``.

    Parameters
    ----------
    rois, quality
        Per-subject ``sub-<id>_rois.tsv`` and ``sub-<id>_quality.tsv`` files.
    confidence
        Confidence level of every interval.
    outputs
        Any of :data:`OUTPUT_KEYS` -> path: ``statistics`` (tidy TSV), ``accuracy``,
        ``quality_summary``, ``paper_comparison``, ``rois`` and ``quality`` (concatenated
        inputs).

    Raises
    ------
    ValueError
        An unknown output key, no input files, or a bad table (naming the file and column).
    """
    unknown = sorted(set(outputs) - set(OUTPUT_KEYS))
    if unknown:
        raise ValueError(f"unknown output key(s) {unknown}; expected a subset of {OUTPUT_KEYS}")
    roi_table = _read_all(rois, check_rois_table, "rois")
    quality_table = _read_all(quality, check_quality_table, "quality")
    evaluation = evaluate_study(roi_table, quality_table, confidence=confidence)
    for key, path in outputs.items():
        if key == "statistics":
            write_tidy(evaluation.statistics, path)
        else:
            write_tsv(getattr(evaluation, key), path)
    logger.info(
        "evaluated %d subjects: %s",
        evaluation.rois["participant_id"].nunique(),
        ", ".join(str(p) for p in outputs.values()),
    )
    return evaluation
