"""Group evaluation of the perfusion study: alignment quality, MBF, accuracy and speed.

All numbers come from :mod:`qmrflow.stats` (and the order-statistic interval of a median,
:func:`median_ci`); this module decides what is compared and lays the results out in one tidy
statistics table (study ``"perfusion"``; comparison names from
:mod:`qmrflow.studies.perfusion.paper`).

Inputs (per test subject and method, written by the per-subject jobs)
---------------------------------------------------------------------
segments table (:data:`SEGMENT_COLUMNS`)
    One row per AHA segment: the fitted ``mbf``, the SD of the pixel MBF in the segment
    (``pixel_mbf_sd``), ``n_pixels`` and the demo's ``truth_mbf`` (NaN for user data).
quality table (:data:`QUALITY_COLUMNS`)
    One row per slice: ``dice`` (mean over frames of the myocardial Dice of each frame's
    segmentation against the reference frame's), ``dice_truth`` (the demo's true labels warped
    by the method's displacement; NaN for user data), ``smoothness`` (temporal smoothness of the
    myocardial time-intensity curves, lower = smoother), ``frames``, ``seconds`` (the method's
    time for the whole subject, repeated on each slice row) and ``device``.

Every subject must have all three methods (none, iterative, dl) in both tables.

Subject values (:func:`subject_measures`)
-----------------------------------------
``dice``, ``dice_truth``, ``smoothness``: mean over the subject's slices (``dice_truth`` over its
finite values). ``segment_sd``: median over the subject's segments of ``pixel_mbf_sd``.
``mbf_error_percent`` (demo): median over segments of ``100·|mbf − truth|/truth``. ``seconds``,
``frames`` (summed over slices) and ``frames_per_second = frames / seconds`` (NaN when
``seconds <= 0``).

Statistics table
----------------
* ``"<method>: per subject"``: per outcome (measure = outcome) the ``mean`` (t interval),
  ``sd``, ``median`` (order-statistic interval), ``q25`` and ``q75`` over subjects.
* ``"<x> vs <y>: <outcome>"`` for DL vs iterative, DL vs none and iterative vs none, outcomes
  ``dice``, ``dice_truth``, ``smoothness``, ``segment_sd``, ``mbf_error_percent`` (the last two
  only with truth): :func:`~qmrflow.stats.paired_ttest` and
  :func:`~qmrflow.stats.wilcoxon_signed_rank` of ``x − y`` on subject values, and a
  ``subjects`` count. Holm's correction (:func:`~qmrflow.stats.adjust_table`, ``by=("measure",)``)
  within each outcome and test: the 3 t-tests (``mean_difference``) form one family, the 3
  Wilcoxon tests (``wilcoxon_v``) another. A test undefined on the data (fewer than 2 subjects,
  constant differences) gives a ``<test>_not_computed`` count row and a warning.
* ``"<method>: per segment"``: ``pixel_mbf_sd`` over every segment of every subject: ``median``
  (order-statistic interval), ``q25``, ``q75`` (the paper's "median segment SD").
* Demo only, ``"<method> vs truth: MBF error (segments)"``: over every segment of every subject,
  ``abs_error_percent`` (``100·|m − t|/t``), ``error_percent`` (signed) and ``abs_error``
  (ml/min/g): ``median`` with the distribution-free interval of a median from binomial order
  statistics (no bootstrap; :func:`median_ci`), ``q25``, ``q75``. ``"<method> vs truth: MBF
  (segments)"``: :func:`~qmrflow.stats.compare_pair` of the method's segment MBF against the
  truth (regression with the truth as ``x`` and the method as ``y``, Bland-Altman of method −
  truth, paired t-test). Segments of one subject are not independent: these intervals and
  p-values are descriptive.
* ``"iterative vs DL: speed"``: ``speed_ratio`` = per subject iterative seconds / DL seconds
  (both from the same run): ``median`` (order-statistic interval), ``q25``, ``q75``; the
  ``method`` column names the devices. Seconds and frames per second of each method are in the
  per-subject summaries.

``methods`` table (:data:`METHODS_COLUMNS`): one row per method with the mean and SD over subjects
of dice, dice_truth, smoothness and segment_sd, the median absolute MBF error (percent, pooled
over segments), the median seconds and frames per second, and the device(s).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from qmrflow.io import read_tsv, tables, write_tsv
from qmrflow.stats import (
    adjust_table,
    compare_pair,
    paired_ttest,
    tidy,
    wilcoxon_signed_rank,
    write_tidy,
)
from qmrflow.stats.tidy import TIDY_COLUMNS
from qmrflow.studies.perfusion.paper import (
    METHOD_LABELS,
    METHODS,
    STUDY,
    paired_comparison,
    paper_comparison,
    segment_comparison,
    speed_comparison,
    subject_comparison,
    truth_comparison,
)
from qmrflow.studies.perfusion.segments import TERRITORIES

__all__ = [
    "COMPARISONS",
    "METHODS_COLUMNS",
    "OUTPUT_KEYS",
    "QUALITY_COLUMNS",
    "SEGMENT_COLUMNS",
    "SUBJECT_COLUMNS",
    "Evaluation",
    "MedianCI",
    "check_quality_table",
    "check_segments_table",
    "evaluate_perfusion",
    "evaluate_study",
    "median_ci",
    "read_tables",
    "segment_errors",
    "subject_measures",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
TableLike = PathLike | pd.DataFrame

SEGMENT_COLUMNS: tuple[str, ...] = tuple(
    "participant_id method slice segment territory mbf pixel_mbf_sd n_pixels truth_mbf".split()
)
QUALITY_COLUMNS: tuple[str, ...] = tuple(
    "participant_id method slice frames dice dice_truth smoothness seconds device".split()
)
SUBJECT_COLUMNS: tuple[str, ...] = tuple(
    "participant_id method dice dice_truth smoothness segment_sd mbf_error_percent seconds "
    "frames frames_per_second device".split()
)
METHODS_COLUMNS: tuple[str, ...] = tuple(
    "method n_subjects dice_mean dice_sd dice_truth_mean dice_truth_sd smoothness_mean "
    "smoothness_sd segment_sd_mean segment_sd_sd mbf_error_percent_median seconds_median "
    "frames_per_second_median device".split()
)
#: Paired comparisons ``(x, y)``: differences are ``x − y``.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("dl", "iterative"),
    ("dl", "none"),
    ("iterative", "none"),
)
#: Subject outcomes compared between methods (those that need the truth only on the demo).
PAIRED_OUTCOMES: tuple[str, ...] = tuple(
    "dice dice_truth smoothness segment_sd mbf_error_percent".split()
)
SUMMARY_OUTCOMES: tuple[str, ...] = (*PAIRED_OUTCOMES, "seconds", "frames_per_second")
_SEGMENT_NUMERIC = ("slice", "segment", "mbf", "pixel_mbf_sd", "n_pixels", "truth_mbf")
_QUALITY_NUMERIC = ("slice", "frames", "dice", "dice_truth", "smoothness", "seconds")
_QUALITY_REQUIRED = ("slice", "frames", "dice", "smoothness", "seconds")
_IQR = "quartiles (linear interpolation)"

#: Output keys :func:`evaluate_perfusion` understands.
OUTPUT_KEYS: tuple[str, ...] = tuple(
    "statistics methods paper_comparison subjects segment_errors segments quality".split()
)


# ------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------


def typed_table(
    table: pd.DataFrame, columns: Sequence[str], numeric: Sequence[str], name: str
) -> pd.DataFrame:
    """A typed copy of a per-subject table (:func:`qmrflow.io.tables.typed_table`) whose
    ``method`` column holds known methods; a ValueError naming the table and the column
    otherwise."""
    out = tables.typed_table(table, columns, numeric, name)
    out["method"] = out["method"].astype(str)
    unknown = sorted(set(out["method"]) - set(METHODS))
    if unknown:
        raise ValueError(
            f"{name} column 'method' holds unknown methods {unknown}; expected {METHODS}"
        )
    return out


def _check_unique(table: pd.DataFrame, keys: list[str], name: str) -> None:
    duplicated = table.duplicated(keys)
    if duplicated.any():
        first = table.loc[duplicated].iloc[0]
        where = ", ".join(f"{k} {first[k]}" for k in keys[1:])
        raise ValueError(
            f"{name} has {int(duplicated.sum())} duplicate row(s), e.g. sub-"
            f"{first['participant_id']} {where}"
        )


def check_segments_table(table: pd.DataFrame, name: str = "segments table") -> pd.DataFrame:
    """Validate a segments table (:data:`SEGMENT_COLUMNS`); a typed copy.

    Raises
    ------
    ValueError
        Not a table, empty, a missing column, non-numeric values, an unknown method or
        territory, a segment outside 1-16, or a duplicate ``(participant_id, method, slice,
        segment)``; the message names the table and the column.
    """
    out = typed_table(table, SEGMENT_COLUMNS, _SEGMENT_NUMERIC, name)
    bad = ~out["segment"].isin(range(1, 17))
    if bad.any():
        raise ValueError(
            f"{name} column 'segment' must hold AHA segments 1-16, got "
            f"{sorted(out.loc[bad, 'segment'].unique().tolist())[:5]}"
        )
    out["segment"] = out["segment"].astype(int)
    out["slice"] = out["slice"].astype(int)
    unknown = sorted(set(out["territory"].astype(str)) - set(TERRITORIES))
    if unknown:
        raise ValueError(f"{name} column 'territory' holds {unknown}; expected {TERRITORIES}")
    _check_unique(out, ["participant_id", "method", "slice", "segment"], name)
    return out


def check_quality_table(table: pd.DataFrame, name: str = "quality table") -> pd.DataFrame:
    """Validate a quality table (:data:`QUALITY_COLUMNS`); a typed copy.

    Raises
    ------
    ValueError
        Not a table, empty, a missing column, non-numeric or missing values (``dice_truth`` may
        be NaN), an unknown method, a duplicate ``(participant_id, method, slice)``, or a
        subject whose ``seconds`` differ between its slice rows.
    """
    out = typed_table(table, QUALITY_COLUMNS, _QUALITY_NUMERIC, name)
    for column in _QUALITY_REQUIRED:
        if out[column].isna().any():
            first = out.loc[out[column].isna()].iloc[0]
            raise ValueError(
                f"{name} column {column!r} has {int(out[column].isna().sum())} missing value(s), "
                f"e.g. sub-{first['participant_id']} {first['method']} slice {first['slice']:g}"
            )
    out["slice"] = out["slice"].astype(int)
    out["device"] = out["device"].fillna("").astype(str)
    _check_unique(out, ["participant_id", "method", "slice"], name)
    for (pid, method), group in out.groupby(["participant_id", "method"]):
        seconds = group["seconds"].to_numpy()
        if not np.allclose(seconds, seconds[0], rtol=1e-6, atol=0.0):
            raise ValueError(
                f"{name}: sub-{pid} {method} has different 'seconds' on its slice rows "
                f"({seconds.tolist()}); it is the time for the whole subject"
            )
    return out


def _check_complete(segments: pd.DataFrame, quality: pd.DataFrame) -> None:
    """Every subject in either table has every method in both (ValueError naming it)."""
    subjects = sorted(set(segments["participant_id"]) | set(quality["participant_id"]))
    for pid in subjects:
        for kind, table in (("segments", segments), ("quality", quality)):
            present = set(table.loc[table["participant_id"] == pid, "method"])
            missing = [m for m in METHODS if m not in present]
            if missing:
                raise ValueError(
                    f"sub-{pid}: the {kind} tables lack method(s) {missing}; every subject "
                    f"needs {list(METHODS)}"
                )


def read_tables(items: TableLike | Sequence[TableLike], check: Any, kind: str) -> pd.DataFrame:
    """Read and validate tables (paths or DataFrames) and stack them.

    Raises
    ------
    ValueError
        No table given, or a bad table (the message names the file).
    """
    if isinstance(items, (str, os.PathLike, pd.DataFrame)):
        items = [items]
    items = list(items)
    if not items:
        raise ValueError(f"no {kind} tables given")
    frames = []
    for index, item in enumerate(items):
        if isinstance(item, pd.DataFrame):
            frames.append(check(item, name=f"{kind} table {index}"))
        else:
            frames.append(check(read_tsv(item), name=f"{kind} table {item}"))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# Per-subject and per-segment values
# ------------------------------------------------------------------------------------------


def segment_errors(segments: pd.DataFrame) -> pd.DataFrame:
    """MBF error of every segment with a finite, positive truth and a finite fit.

    Returns
    -------
    pandas.DataFrame
        The segment rows with ``error = mbf − truth_mbf``, ``abs_error`` (ml/min/g),
        ``error_percent = 100·error/truth_mbf`` and ``abs_error_percent``; empty without truth.
    """
    finite = np.isfinite(segments["truth_mbf"]) & np.isfinite(segments["mbf"])
    table = segments[finite].copy()
    bad = table["truth_mbf"] <= 0
    if bad.any():
        logger.warning("%d segment(s) with a true MBF <= 0 left out of the errors", int(bad.sum()))
        table = table[~bad]
    unfitted = np.isfinite(segments["truth_mbf"]) & ~np.isfinite(segments["mbf"])
    if unfitted.any():
        logger.warning("%d segment(s) without a fitted MBF left out of the errors", unfitted.sum())
    table["error"] = table["mbf"] - table["truth_mbf"]
    table["abs_error"] = table["error"].abs()
    table["error_percent"] = 100.0 * table["error"] / table["truth_mbf"]
    table["abs_error_percent"] = table["error_percent"].abs()
    return table.reset_index(drop=True)


def _nanmean(values: pd.Series) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def subject_measures(segments: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """One row per subject and method (:data:`SUBJECT_COLUMNS`; see the module docstring).

    Raises
    ------
    ValueError
        A subject lacks a method in either table (the message names the subject).
    """
    _check_complete(segments, quality)
    errors = segment_errors(segments)
    keys = ["participant_id", "method"]
    q = quality.groupby(keys, sort=False)
    table = pd.DataFrame(
        {
            "dice": q["dice"].mean(),
            "dice_truth": q["dice_truth"].agg(_nanmean),
            "smoothness": q["smoothness"].mean(),
            "seconds": q["seconds"].first(),
            "frames": q["frames"].sum(),
            "device": q["device"].first(),
        }
    )
    table["segment_sd"] = segments.groupby(keys)["pixel_mbf_sd"].median()
    table["mbf_error_percent"] = errors.groupby(keys)["abs_error_percent"].median()
    seconds = table["seconds"].where(table["seconds"] > 0)
    table["frames_per_second"] = table["frames"] / seconds
    table = table.reset_index()
    table["order"] = table["method"].map(METHODS.index)
    table = table.sort_values(["participant_id", "order"], ignore_index=True)
    return table[list(SUBJECT_COLUMNS)]


# ------------------------------------------------------------------------------------------
# Summaries
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MedianCI:
    """A median and its distribution-free interval (see :func:`median_ci`)."""

    median: float
    ci_low: float
    ci_high: float
    coverage: float
    n: int

    @property
    def method(self) -> str:
        """How the interval was computed, for the tidy ``method`` column."""
        if not math.isfinite(self.coverage):
            return "median; order-statistic interval undefined (too few values)"
        return (
            "median; distribution-free interval from binomial order statistics "
            f"(actual coverage {self.coverage:.3f})"
        )


def median_ci(values: np.ndarray, confidence: float = 0.95) -> MedianCI:
    """The median with its distribution-free (binomial order-statistic) interval.

    The interval is ``[x_(k+1), x_(n-k)]`` of the sorted values with the largest ``k`` such that
    ``2·P(B <= k) <= 1 − confidence``, ``B ~ Binomial(n, 1/2)``; its coverage ``1 − 2·P(B <= k)``
    is at least ``confidence`` for any continuous distribution. No bootstrap. With too few
    values (e.g. n < 6 at 95%) the bounds are NaN.

    Raises
    ------
    ValueError
        No finite value, or ``confidence`` outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        raise ValueError("median_ci: no finite values")
    k = np.arange(0, n // 2 + 1)
    tail = scipy_stats.binom.cdf(k, n, 0.5)
    ok = np.flatnonzero(2.0 * tail <= 1.0 - confidence)
    median = float(np.median(x))
    if ok.size == 0:
        return MedianCI(median, math.nan, math.nan, math.nan, n)
    j = int(k[ok[-1]])
    return MedianCI(median, float(x[j]), float(x[n - 1 - j]), float(1.0 - 2.0 * tail[j]), n)


def _row(
    measure: str, statistic: str, value: float, n: int, method: str, ci: tuple = (math.nan,) * 2
) -> dict[str, Any]:
    """A tidy row without a p-value."""
    low, high = map(float, ci)
    return {"measure": measure, "statistic": statistic, "value": float(value), "ci_low": low,
            "ci_high": high, "p": math.nan, "n": int(n), "method": method}  # fmt: skip


@dataclass(frozen=True)
class _Summary:
    """Mean (t interval), SD, median (order-statistic interval) and quartiles as tidy rows."""

    measure: str
    values: np.ndarray
    confidence: float
    mean: bool = True
    note: str = ""

    def to_rows(self) -> list[dict[str, Any]]:
        x = np.asarray(self.values, dtype=float)
        x = x[np.isfinite(x)]
        n, suffix = x.size, (f"; {self.note}" if self.note else "")
        if n == 0:
            return []
        rows = []
        if self.mean:
            mean, sd = float(x.mean()), (float(x.std(ddof=1)) if n > 1 else math.nan)
            t = float(scipy_stats.t.ppf(0.5 + self.confidence / 2, n - 1)) if n > 1 else math.nan
            ci = (mean - t * sd / math.sqrt(n), mean + t * sd / math.sqrt(n))
            method = f"mean; {self.confidence:.0%} t interval{suffix}"
            rows.append(_row(self.measure, "mean", mean, n, method, ci))
            rows.append(_row(self.measure, "sd", sd, n, f"SD (ddof 1){suffix}"))
        med = median_ci(x, self.confidence)
        ci = (med.ci_low, med.ci_high)
        rows.append(_row(self.measure, "median", med.median, n, med.method + suffix, ci))
        for statistic, value in zip(("q25", "q75"), np.percentile(x, [25, 75]), strict=True):
            rows.append(_row(self.measure, statistic, value, n, _IQR + suffix))
        return rows


@dataclass(frozen=True)
class _Count:
    """A count, or why a test was not computed, as a tidy row."""

    measure: str
    value: int
    method: str

    def to_rows(self) -> list[dict[str, Any]]:
        return [_row(self.measure, "count", self.value, self.value, self.method)]


def _has_values(subjects: pd.DataFrame, outcome: str) -> bool:
    return bool(np.isfinite(subjects[outcome].to_numpy(dtype=float)).any())


def _subject_summaries(subjects: pd.DataFrame, confidence: float) -> list[pd.DataFrame]:
    frames = []
    for method in METHODS:
        sub = subjects[subjects["method"] == method]
        items = [
            _Summary(outcome, sub[outcome].to_numpy(dtype=float), confidence)
            for outcome in SUMMARY_OUTCOMES
            if _has_values(sub, outcome)
        ]
        frames.append(tidy(items, study=STUDY, comparison=subject_comparison(method)))
    return frames


def _paired_tests(subjects: pd.DataFrame, outcome: str, confidence: float) -> pd.DataFrame:
    """t-test and Wilcoxon of every method pair on one outcome; Holm within each test."""
    wide = subjects.pivot(index="participant_id", columns="method", values=outcome)
    results: dict[str, list[Any]] = {}
    for x, y in COMPARISONS:
        name = paired_comparison(x, y, outcome)
        pair = wide[[x, y]].dropna()
        if len(pair) < len(wide):
            logger.warning(
                "%s: %d subject(s) without a value left out", name, len(wide) - len(pair)
            )
        names = (f"{METHOD_LABELS[x]} {outcome}", f"{METHOD_LABELS[y]} {outcome}")
        items: list[Any] = [_Count("subjects", len(pair), "subjects with both values")]
        for test, function in (("ttest", paired_ttest), ("wilcoxon", wilcoxon_signed_rank)):
            try:
                kwargs = {"confidence": confidence} if test == "ttest" else {}
                items.append(function(x=pair[x], y=pair[y], names=names, **kwargs))
            except ValueError as exc:
                logger.warning("%s: %s not computed: %s", name, test, exc)
                items.append(
                    _Count(f"{test}_not_computed", len(pair), f"not computed: {exc}; value = n")
                )
        results[name] = items
    table = tidy(results, study=STUDY)
    return adjust_table(table, "holm", by=("measure",))


def _segment_rows(
    segments: pd.DataFrame, errors: pd.DataFrame, confidence: float
) -> list[pd.DataFrame]:
    """Pooled segment SD per method; on the demo, MBF error and agreement with the truth."""
    frames = []
    for method in METHODS:
        sd = segments.loc[segments["method"] == method, "pixel_mbf_sd"].to_numpy(dtype=float)
        if np.isfinite(sd).any():
            note = "over every segment of every subject"
            item = _Summary("pixel_mbf_sd", sd, confidence, mean=False, note=note)
            frames.append(tidy(item, study=STUDY, comparison=segment_comparison(method)))
    if errors.empty:
        return frames
    note = "over every segment of every subject; segments of a subject are not independent"
    for method in METHODS:
        sub = errors[errors["method"] == method]
        if sub.empty:
            continue
        items = [
            _Summary(measure, sub[measure].to_numpy(), confidence, mean=False, note=note)
            for measure in ("abs_error_percent", "error_percent", "abs_error")
        ]
        items.append(_Count("segments", len(sub), "segments with a finite truth and fit"))
        what = truth_comparison(method, "MBF error (segments)")
        frames.append(tidy(items, study=STUDY, comparison=what))
        label = METHOD_LABELS[method]
        result = compare_pair(
            sub["mbf"].to_numpy(),
            sub["truth_mbf"].to_numpy(),
            names=(f"{label} MBF", "truth MBF"),
            confidence=confidence,
            strict=False,
        )
        what = truth_comparison(method, "MBF (segments)")
        if result.note:
            logger.warning("%s: %s", what, result.note)
        count = _Count("segments", len(sub), f"{note}; {result.note}".rstrip("; "))
        frames.append(tidy([count, result], study=STUDY, comparison=what))
    return frames


def _speed_rows(subjects: pd.DataFrame, confidence: float) -> list[pd.DataFrame]:
    """Per-subject iterative / DL seconds: median (order-statistic interval) and quartiles."""
    wide = subjects.pivot(index="participant_id", columns="method", values="seconds")
    usable = (wide["iterative"] > 0) & (wide["dl"] > 0)
    if not usable.all():
        logger.warning("speed ratio: %d subject(s) with a time <= 0 left out", int((~usable).sum()))
    if not usable.any():
        return []
    ratio = (wide.loc[usable, "iterative"] / wide.loc[usable, "dl"]).to_numpy()
    devices = {
        m: ", ".join(sorted(set(subjects.loc[subjects["method"] == m, "device"]) - {""})) or "n/a"
        for m in ("iterative", "dl")
    }
    note = (
        f"per subject iterative seconds / DL seconds of the same run (iterative on "
        f"{devices['iterative']}, DL on {devices['dl']})"
    )
    item = _Summary("speed_ratio", ratio, confidence, mean=False, note=note)
    return [tidy(item, study=STUDY, comparison=speed_comparison())]


def _methods_table(subjects: pd.DataFrame, errors: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for method in METHODS:
        sub = subjects[subjects["method"] == method]
        row: dict[str, Any] = {"method": method, "n_subjects": int(sub["participant_id"].nunique())}
        for outcome in ("dice", "dice_truth", "smoothness", "segment_sd"):
            values = sub[outcome].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            row[f"{outcome}_mean"] = float(values.mean()) if values.size else math.nan
            row[f"{outcome}_sd"] = float(values.std(ddof=1)) if values.size > 1 else math.nan
        error = errors.loc[errors["method"] == method, "abs_error_percent"]
        row["mbf_error_percent_median"] = float(error.median()) if len(error) else math.nan
        row["seconds_median"] = float(sub["seconds"].median())
        row["frames_per_second_median"] = float(sub["frames_per_second"].median())
        row["device"] = ", ".join(sorted(set(sub["device"]) - {""}))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(METHODS_COLUMNS))


# ------------------------------------------------------------------------------------------
# The study
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Every table the evaluation writes (see :func:`evaluate_study`)."""

    statistics: pd.DataFrame
    methods: pd.DataFrame
    paper_comparison: pd.DataFrame
    subjects: pd.DataFrame
    segment_errors: pd.DataFrame
    segments: pd.DataFrame
    quality: pd.DataFrame


def _log_targets(methods: pd.DataFrame) -> None:
    """The study's accuracy targets on the demo (issue: Dice and MBF error), as log lines."""
    table = methods.set_index("method")
    dice = (
        table["dice_truth_mean"] if table["dice_truth_mean"].notna().all() else table["dice_mean"]
    )
    logger.info(
        "mean Dice: DL %.3f, iterative %.3f, none %.3f (target: DL >= iterative - 0.01, both "
        "clearly above none)",
        dice["dl"],
        dice["iterative"],
        dice["none"],
    )
    error = table.loc["dl", "mbf_error_percent_median"]
    if math.isfinite(error):
        logger.info("DL median absolute MBF error %.1f%% (target <= 10%%)", error)


def evaluate_study(
    segments: pd.DataFrame, quality: pd.DataFrame, *, confidence: float = 0.95
) -> Evaluation:
    """Compute the study's statistics from the stacked per-subject tables.

    Parameters
    ----------
    segments, quality
        The segments and quality tables of every test subject and method (validated here).
    confidence
        Confidence level of every interval.

    Returns
    -------
    Evaluation
        ``statistics`` (tidy; see the module docstring), ``methods``, ``paper_comparison``,
        ``subjects`` (:func:`subject_measures`), ``segment_errors`` (empty without truth) and
        the validated inputs.

    Raises
    ------
    ValueError
        A bad table (naming the table and column) or a subject lacking a method (naming it).
    """
    segments = check_segments_table(segments)
    quality = check_quality_table(quality)
    subjects = subject_measures(segments, quality)
    errors = segment_errors(segments)
    frames = _subject_summaries(subjects, confidence)
    for outcome in PAIRED_OUTCOMES:
        if _has_values(subjects, outcome):
            frames.append(_paired_tests(subjects, outcome, confidence))
        else:
            logger.info("%s: no values (no ground truth); not compared", outcome)
    frames += _segment_rows(segments, errors, confidence)
    frames += _speed_rows(subjects, confidence)
    statistics = pd.concat(frames, ignore_index=True)[list(TIDY_COLUMNS)]
    methods = _methods_table(subjects, errors)
    _log_targets(methods)
    return Evaluation(
        statistics=statistics,
        methods=methods,
        paper_comparison=paper_comparison(statistics),
        subjects=subjects,
        segment_errors=errors,
        segments=segments,
        quality=quality,
    )


def evaluate_perfusion(
    segments: TableLike | Sequence[TableLike],
    quality: TableLike | Sequence[TableLike],
    *,
    confidence: float = 0.95,
    outputs: Mapping[str, PathLike],
) -> Evaluation:
    """Read the per-subject tables, evaluate, and write every table named in ``outputs``.

    Parameters
    ----------
    segments, quality
        The per-subject, per-method segments and quality tables (paths or DataFrames).
    confidence
        Confidence level of every interval.
    outputs
        Any of :data:`OUTPUT_KEYS` -> path: ``statistics`` (tidy TSV), ``methods``,
        ``paper_comparison``, ``subjects`` (needed by the figures), ``segment_errors``, and
        ``segments`` and ``quality`` (the stacked inputs).

    Raises
    ------
    ValueError
        An unknown output key, no input tables, a bad table or a subject lacking a method.
    """
    unknown = sorted(set(outputs) - set(OUTPUT_KEYS))
    if unknown:
        raise ValueError(f"unknown output key(s) {unknown}; expected a subset of {OUTPUT_KEYS}")
    evaluation = evaluate_study(
        read_tables(segments, check_segments_table, "segments"),
        read_tables(quality, check_quality_table, "quality"),
        confidence=confidence,
    )
    for key, path in outputs.items():
        if key == "statistics":
            write_tidy(evaluation.statistics, path)
        else:
            write_tsv(getattr(evaluation, key), path, float_format="%.10g")
    logger.info(
        "evaluated %d subjects: %s",
        evaluation.subjects["participant_id"].nunique(),
        ", ".join(str(p) for p in outputs.values()),
    )
    return evaluation
