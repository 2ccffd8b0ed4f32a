"""Group evaluation of the dystrophy study: the paper's statistics on the test split.

All numbers come from :mod:`qmrflow.stats`; this module only decides *what* is compared (image
and case level, every architecture, the raters, DMD vs BMD) and lays the results out as the
paper's tables, with the paper's numbers beside ours.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qmrflow.errors import InputDataError
from qmrflow.io import read_tsv, write_tsv
from qmrflow.stats import (
    PaperValue,
    Proportion,
    adjust_table,
    cohen_kappa,
    delong_test,
    diagnostic_metrics,
    fleiss_kappa,
    lookup_estimate,
    paper_comparison_table,
    roc_curve_auc,
    tidy,
    write_tidy,
)
from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES
from qmrflow.studies.dystrophy.paper import HEADLINE, PAPER, SAME_ARCHITECTURE, TABLE_1

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
STUDY = "dystrophy"


@dataclass(frozen=True)
class Evaluation:
    """Every table the evaluation writes (see :func:`evaluate_study`)."""

    predictions: pd.DataFrame
    statistics: pd.DataFrame
    metrics: pd.DataFrame
    roc: pd.DataFrame
    model_comparison: pd.DataFrame
    paper_comparison: pd.DataFrame


def label_predictions(
    probabilities: pd.DataFrame, participants: pd.DataFrame, threshold: float
) -> pd.DataFrame:
    """Join predictions with the reference diagnosis and make the binary call.

    Raises
    ------
    ValueError
        A predicted subject is missing from the participants table.
    """
    reference = participants[["participant_id", "diagnosis"]].astype({"participant_id": str})
    table = probabilities.astype({"participant_id": str}).merge(
        reference, on="participant_id", how="left", validate="many_to_one"
    )
    unknown = table.loc[table["diagnosis"].isna(), "participant_id"].unique()
    if len(unknown):
        raise ValueError(f"predictions for subjects not in the participants table: {list(unknown)}")
    table["truth"] = table["diagnosis"].isin(POSITIVE_DIAGNOSES).astype(int)
    table["call"] = (table["probability"] >= threshold).astype(int)
    return table


def usable_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows the statistics use: without slices (and cases) marked not usable."""
    if "usable" not in predictions.columns:
        return predictions
    return predictions[predictions["usable"].astype(bool)]


def _rater_columns(ratings: pd.DataFrame) -> list[str]:
    return [c for c in ratings.columns if c not in ("participant_id", "slice")]


def validate_ratings(ratings: pd.DataFrame) -> None:
    """Check a raters' table: ``participant_id``, at least two raters, calls 0 or 1.

    Raises
    ------
    ValueError
        Naming the column that is wrong.
    """
    if "participant_id" not in ratings.columns:
        raise ValueError("ratings table has no participant_id column")
    raters = _rater_columns(ratings)
    if len(raters) < 2:
        raise ValueError(f"ratings table needs at least two rater columns, got {raters}")
    for rater in raters:
        bad = sorted(set(ratings[rater].astype(str)) - {"0", "1"})
        if bad:
            raise ValueError(
                f"ratings column {rater!r}: calls must be 1 (dystrophinopathy) or 0, got {bad}"
            )


def _level_of(ratings: pd.DataFrame) -> str:
    return "image" if "slice" in ratings.columns and ratings["slice"].notna().all() else "case"


def _rater_rows(
    ratings: pd.DataFrame, predictions: pd.DataFrame, primary: str, confidence: float
) -> list[pd.DataFrame]:
    """Raters' accuracy, Fleiss' kappa among them and Cohen's kappa model vs each rater.

    Compared on the images (or cases) that both the raters and the model read.
    """
    level = _level_of(ratings)
    keys = ["participant_id", "slice"] if level == "image" else ["participant_id"]
    model = predictions[(predictions["architecture"] == primary) & (predictions["level"] == level)]
    ratings = ratings.astype({"participant_id": str})
    if level == "image":
        ratings = ratings.astype({"slice": int})
        model = model.astype({"slice": int})
    joined = model.merge(ratings, on=keys, how="inner", validate="one_to_one")
    raters = _rater_columns(ratings)
    if joined.empty:
        raise ValueError("no rated image/case matches a model prediction")
    validate_ratings(ratings)
    frames = []
    for rater in raters:
        calls = joined[rater].astype(int).to_numpy()
        result = diagnostic_metrics(joined["truth"].to_numpy(), calls, confidence=confidence)
        frames.append(tidy([result], study=STUDY, comparison=f"{rater} vs reference ({level})"))
        agreement = cohen_kappa(joined["call"].to_numpy(), calls, confidence=confidence)
        frames.append(tidy([agreement], study=STUDY, comparison=f"{primary} vs {rater} ({level})"))
    frames.append(
        tidy(
            [fleiss_kappa(joined[raters].astype(int).to_numpy(), layout="ratings")],
            study=STUDY,
            comparison=f"raters among themselves ({level} level)",
        )
    )
    logger.info("%d raters compared on %d %ss", len(raters), len(joined), level)
    return frames


@dataclass(frozen=True)
class _Exclusions:
    """Counts of images and cases left out because the legs could not be separated."""

    predictions: pd.DataFrame
    architecture: str

    def to_rows(self) -> list[dict]:
        table = self.predictions[self.predictions["architecture"] == self.architecture]
        rows = []
        for level in ("image", "case"):
            sub = table[table["level"] == level]
            excluded = len(sub) - len(usable_predictions(sub))
            rows.append(
                {
                    "measure": f"excluded_{level}s",
                    "statistic": "count",
                    "value": float(excluded),
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                    "p": float("nan"),
                    "n": len(sub),
                    "method": "slices whose legs could not be separated (dropped as in "
                    "the paper); cases with no usable slice",
                }
            )
        return rows


@dataclass(frozen=True)
class _Sensitivity:
    """A sensitivity proportion in the form :func:`qmrflow.stats.tidy` takes."""

    proportion: Proportion

    def to_rows(self) -> list[dict]:
        return [self.proportion.to_row("sensitivity")]


def _auc_comparisons(
    predictions: pd.DataFrame, architectures: Sequence[str], confidence: float
) -> pd.DataFrame:
    """DeLong tests of the primary architecture's AUC against each other one, Holm-adjusted.

    The family is every comparison at both levels (images and cases), so a model is not called
    better by testing it several ways.
    """
    primary, others = architectures[0], architectures[1:]
    results = {}
    for level in ("image", "case"):
        sub = predictions[predictions["level"] == level]
        keys = ["participant_id", "slice"] if level == "image" else ["participant_id"]
        scores = sub.pivot_table(index=keys, columns="architecture", values="probability")
        truth = sub.groupby(keys)["truth"].first().reindex(scores.index)
        for other in others:
            # Paired test: only the images (cases) that both models scored.
            both = scores[[primary, other]].notna().all(axis=1).to_numpy()
            results[f"{primary} vs {other} ({level})"] = delong_test(
                truth.to_numpy()[both],
                scores[primary].to_numpy()[both],
                scores[other].to_numpy()[both],
                confidence=confidence,
            )
    return adjust_table(tidy(results, study=STUDY), "holm")


def _dmd_bmd_rows(predictions: pd.DataFrame, primary: str, confidence: float) -> pd.DataFrame:
    rows = []
    for level in ("image", "case"):
        sub = predictions[
            (predictions["architecture"] == primary) & (predictions["level"] == level)
        ]
        for diagnosis in ("DMD", "BMD"):
            calls = sub.loc[sub["diagnosis"] == diagnosis, "call"]
            proportion = Proportion.from_counts(int(calls.sum()), len(calls), confidence=confidence)
            rows.append(
                tidy(
                    _Sensitivity(proportion),
                    study=STUDY,
                    comparison=f"{primary} {diagnosis} ({level})",
                )
            )
    return pd.concat(rows, ignore_index=True)


def _architecture_rows(
    predictions: pd.DataFrame, architecture: str, confidence: float, description: str
) -> tuple[list[pd.DataFrame], list[pd.DataFrame], dict]:
    """Metrics and ROC of one architecture at image and case level.

    Returns the tidy frames, the ROC point frames and the model-comparison row (image level).
    """
    tidy_frames, roc_frames = [], []
    comparison_row: dict = {}
    for level in ("image", "case"):
        sub = predictions[
            (predictions["architecture"] == architecture) & (predictions["level"] == level)
        ]
        truth, score = sub["truth"].to_numpy(), sub["probability"].to_numpy()
        metrics = diagnostic_metrics(truth, sub["call"].to_numpy(), confidence=confidence)
        roc = roc_curve_auc(truth, score, confidence=confidence)
        name = f"{architecture} vs reference ({level})"
        tidy_frames.append(tidy([metrics, roc], study=STUDY, comparison=name))
        roc_frames.append(
            pd.DataFrame(
                {
                    "architecture": architecture,
                    "level": level,
                    "fpr": roc.fpr,
                    "tpr": roc.tpr,
                    "threshold": roc.thresholds,
                }
            )
        )
        if level == "image":
            comparison_row = {
                "architecture": architecture,
                "description": description,
                "accuracy": metrics.accuracy.estimate,
                "specificity": metrics.specificity.estimate,
                "sensitivity": metrics.sensitivity.estimate,
                "auc": roc.auc,
                "auc_ci_low": roc.ci_low,
                "auc_ci_high": roc.ci_high,
                "n_images": metrics.n,
                "source": "qmrflow (this run)",
            }
    return tidy_frames, roc_frames, comparison_row


def evaluate_study(
    probabilities: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    architectures: Sequence[str],
    primary: str,
    threshold: float,
    confidence: float,
    ratings: pd.DataFrame | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Evaluation:
    """Compute the study's statistics from the per-subject predictions.

    Parameters
    ----------
    probabilities
        Concatenated per-subject probability tables (participant_id, architecture, level,
        slice, probability).
    participants
        The participants table (participant_id, diagnosis, split).
    architectures
        Architectures in config order; ``primary`` gives the metrics table and rater comparison.
    primary
        The primary architecture.
    threshold
        Probability at or above which a call is positive.
    confidence
        Confidence level of every interval.
    ratings
        Raters' calls (participant_id, optional slice, one column per rater), or None.
    descriptions
        Architecture -> one-line description for the model-comparison table.

    Returns
    -------
    Evaluation
        The tables.
    """
    labelled = label_predictions(probabilities, participants, threshold)
    predictions = usable_predictions(labelled)
    roc_frames: list[pd.DataFrame] = []
    comparison_rows: list[dict] = []
    tidy_frames = [
        tidy(
            _Exclusions(labelled, architectures[0]),
            study=STUDY,
            comparison="excluded: legs not separable",
        )
    ]
    for architecture in architectures:
        frames, rocs, row = _architecture_rows(
            predictions, architecture, confidence, (descriptions or {}).get(architecture, "")
        )
        tidy_frames += frames
        roc_frames += rocs
        comparison_rows.append(row)
    tidy_frames.append(_auc_comparisons(predictions, architectures, confidence))
    tidy_frames.append(_dmd_bmd_rows(predictions, primary, confidence))
    if ratings is not None and not ratings.empty:
        tidy_frames.extend(_rater_rows(ratings, predictions, primary, confidence))
    statistics = pd.concat(tidy_frames, ignore_index=True)

    paper_rows = [
        {
            "architecture": SAME_ARCHITECTURE.get(a, a),
            "description": "",
            "accuracy": v[0],
            "specificity": v[1],
            "sensitivity": v[2],
            "auc": v[3],
            "source": PAPER,
        }
        for a, v in TABLE_1.items()
    ]
    model_comparison = pd.DataFrame(comparison_rows + paper_rows)
    metrics_table = _metrics_table(statistics, primary)
    paper_comparison = _paper_comparison(statistics, primary)
    return Evaluation(
        predictions=labelled,
        statistics=statistics,
        metrics=metrics_table,
        roc=pd.concat(roc_frames, ignore_index=True),
        model_comparison=model_comparison,
        paper_comparison=paper_comparison,
    )


_METRICS = (
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "f1",
    "lr_positive",
    "lr_negative",
    "auc",
)


def _metrics_table(statistics: pd.DataFrame, primary: str) -> pd.DataFrame:
    """The primary model's metrics at image and case level, one row per measure and level."""
    rows = []
    for level in ("image", "case"):
        sub = statistics[
            (statistics["comparison"] == f"{primary} vs reference ({level})")
            & (statistics["statistic"] == "estimate")
        ]
        for measure in _METRICS:
            hit = sub[sub["measure"] == measure]
            if not hit.empty:
                row = hit.iloc[0]
                rows.append(
                    {
                        "architecture": primary,
                        "level": level,
                        "measure": measure,
                        "value": row["value"],
                        "ci_low": row["ci_low"],
                        "ci_high": row["ci_high"],
                        "n": row["n"],
                        "method": row["method"],
                    }
                )
    return pd.DataFrame(rows)


def _paper_comparison(statistics: pd.DataFrame, primary: str) -> pd.DataFrame:
    """The paper's headline numbers beside the same numbers from this run.

    The common layout of :func:`qmrflow.stats.paper_comparison_table`; ``comparison`` names
    the row of the statistics table each number comes from, ``note`` the model.
    """
    image = f"{primary} vs reference (image)"
    sources = {
        "image accuracy": (image, "accuracy"),
        "image sensitivity": (image, "sensitivity"),
        "image specificity": (image, "specificity"),
        "image AUC": (image, "auc"),
        "DMD sensitivity": (f"{primary} DMD (image)", "sensitivity"),
        "BMD sensitivity": (f"{primary} BMD (image)", "sensitivity"),
        "raters Fleiss kappa": ("raters among themselves (image level)", "fleiss_kappa"),
        **{
            f"rater {k} accuracy": (f"rater{k} vs reference (image)", "accuracy") for k in (1, 2, 3)
        },
    }
    rows = []
    for name, value in HEADLINE.items():
        comparison, measure = sources[name]
        ours, low, high = lookup_estimate(statistics, comparison, measure)
        note = f"qmrflow model {primary}"
        rows.append(PaperValue(STUDY, name, value, ours, low, high, comparison, PAPER, note))
    return paper_comparison_table(rows)


def run_evaluation(
    *,
    probabilities: Sequence[PathLike],
    participants: PathLike,
    ratings: Sequence[PathLike],
    metadata: Sequence[PathLike],
    architectures: Sequence[str],
    primary: str,
    threshold: float,
    confidence: float,
    outputs: Mapping[str, PathLike],
) -> Evaluation:
    """Read the per-subject outputs, evaluate, and write every table named in ``outputs``."""
    table = pd.concat([read_tsv(p) for p in probabilities], ignore_index=True)
    rating_table = None
    if ratings:
        rating_table = read_tsv(ratings[0])
        try:
            validate_ratings(rating_table)
        except ValueError as exc:
            raise InputDataError(str(exc), path=ratings[0]) from exc
    descriptions = {}
    for path in metadata:
        meta = json.loads(Path(path).read_text())
        descriptions[meta["architecture"]] = meta.get("description", "")
        logger.info("model %s sha256 %s", meta["architecture"], meta.get("sha256"))
    evaluation = evaluate_study(
        table,
        read_tsv(participants),
        architectures=architectures,
        primary=primary,
        threshold=threshold,
        confidence=confidence,
        ratings=rating_table,
        descriptions=descriptions,
    )
    for key, path in outputs.items():
        if key == "statistics":
            write_tidy(evaluation.statistics, path)
        else:
            write_tsv(getattr(evaluation, key), path)
    return evaluation
