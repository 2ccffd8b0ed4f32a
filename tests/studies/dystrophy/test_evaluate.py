"""Group evaluation (qmrflow.studies.dystrophy.evaluate) on a hand-made test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import (
    PAPER_COMPARISON_COLUMNS,
    adjust_p,
    delong_test,
    diagnostic_metrics,
    fleiss_kappa,
    roc_curve_auc,
)
from qmrflow.studies.dystrophy.evaluate import evaluate_study, label_predictions


def evaluate(probabilities, participants, ratings, architectures=("a", "b")):
    return evaluate_study(
        probabilities,
        participants,
        architectures=list(architectures),
        primary="a",
        threshold=0.5,
        confidence=0.95,
        ratings=ratings,
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    diagnoses = ["DMD"] * 8 + ["BMD"] * 4 + ["LGMD2A"] * 6 + ["myositis"] * 6
    ids = [f"s{i:02d}" for i in range(len(diagnoses))]
    participants = pd.DataFrame({"participant_id": ids, "diagnosis": diagnoses, "split": "test"})
    rows = []
    for pid, diagnosis in zip(ids, diagnoses, strict=True):
        base = 0.75 if diagnosis in ("DMD", "BMD") else 0.3
        probs = np.clip(base + rng.normal(0, 0.2, 2), 0, 1)
        for architecture in ("a", "b"):
            rows += [
                {
                    "participant_id": pid,
                    "architecture": architecture,
                    "level": "image",
                    "slice": k + 1,
                    "probability": p,
                }
                for k, p in enumerate(probs)
            ]
            rows.append(
                {
                    "participant_id": pid,
                    "architecture": architecture,
                    "level": "case",
                    "slice": None,
                    "probability": probs.mean(),
                }
            )
    truth = np.repeat([int(d in ("DMD", "BMD")) for d in diagnoses], 2)
    ratings = pd.DataFrame(
        {
            "participant_id": np.repeat(ids, 2),
            "slice": np.tile([1, 2], len(ids)),
            **{
                f"rater{k}": np.where(rng.random(truth.size) < 0.85, truth, 1 - truth)
                for k in (1, 2, 3)
            },
        }
    )
    return pd.DataFrame(rows), participants, ratings


def test_metrics_match_the_statistics_engine(data):
    probabilities, participants, ratings = data
    result = evaluate(probabilities, participants, ratings)
    images = result.predictions.query("architecture == 'a' and level == 'image'")
    expected = diagnostic_metrics(images["truth"], images["call"])
    got = result.metrics.query("level == 'image'").set_index("measure")["value"]
    assert got["accuracy"] == pytest.approx(expected.accuracy.estimate)
    assert got["sensitivity"] == pytest.approx(expected.sensitivity.estimate)
    assert got["auc"] == pytest.approx(roc_curve_auc(images["truth"], images["probability"]).auc)
    stats = result.statistics
    fleiss = stats.query("measure == 'fleiss_kappa' and statistic == 'estimate'")["value"].iloc[0]
    assert fleiss == pytest.approx(fleiss_kappa(ratings[["rater1", "rater2", "rater3"]]).kappa)
    assert {"a vs rater1 (image)", "a vs rater3 (image)"} <= set(stats["comparison"])
    dmd = stats.query("comparison == 'a DMD (image)' and measure == 'sensitivity'")
    dmd_calls = images.loc[images["diagnosis"] == "DMD", "call"]
    assert dmd["value"].iloc[0] == pytest.approx(dmd_calls.mean())


def test_tables_hold_the_paper_beside_ours(data):
    probabilities, participants, ratings = data
    result = evaluate(probabilities, participants, ratings)
    comparison = result.model_comparison
    assert list(comparison["architecture"][:2]) == ["a", "b"]
    assert {"ResNet50", "VGG-19", "DenseNet201"} <= set(comparison["architecture"])
    paper = result.paper_comparison.set_index("measure")
    assert tuple(result.paper_comparison.columns) == PAPER_COMPARISON_COLUMNS
    assert set(result.paper_comparison["study"]) == {"dystrophy"}
    assert paper.loc["image AUC", "comparison"] == "a vs reference (image)"
    assert paper.loc["image AUC", "ours_ci_low"] < paper.loc["image AUC", "ours"]
    assert paper.loc["image AUC", "paper"] == 0.98
    assert np.isfinite(paper.loc["image AUC", "ours"])
    assert np.isfinite(paper.loc["rater 2 accuracy", "ours"])
    assert set(result.roc["architecture"]) == {"a", "b"}


def test_works_without_ratings(data):
    probabilities, participants, _ = data
    result = evaluate(probabilities, participants, None, architectures=("a",))
    assert "fleiss_kappa" not in set(result.statistics["measure"])


def test_unknown_subject_is_an_error(data):
    probabilities, participants, _ = data
    with pytest.raises(ValueError, match="not in the participants table"):
        label_predictions(probabilities, participants.iloc[1:], 0.5)


def test_rater_calls_must_be_binary(data):
    probabilities, participants, ratings = data
    ratings = ratings.astype({"rater2": object})
    ratings.loc[0, "rater2"] = "yes"
    with pytest.raises(ValueError, match=r"ratings column 'rater2': calls must be 1 .* \['yes'\]"):
        evaluate(probabilities, participants, ratings, architectures=("a",))


def test_unusable_slices_and_cases_are_left_out_and_counted(data):
    probabilities, participants, ratings = data
    probabilities = probabilities.copy()
    probabilities["usable"] = True
    gone = probabilities["participant_id"] == "s00"
    probabilities.loc[gone, "usable"] = False
    probabilities.loc[gone & (probabilities["level"] == "case"), "probability"] = np.nan
    result = evaluate(probabilities, participants, ratings)
    stats = result.statistics.set_index(["comparison", "measure", "statistic"])["value"]
    excluded = "excluded: legs not separable"
    assert stats[(excluded, "excluded_images", "count")] == 2
    assert stats[(excluded, "excluded_cases", "count")] == 1
    assert (
        stats[("a vs reference (case)", "tp", "count")]
        + stats[("a vs reference (case)", "fn", "count")]
        == 11
    )  # 12 positives, one excluded


def test_architectures_compared_by_delong_with_holm(data):
    probabilities, participants, ratings = data
    rng = np.random.default_rng(5)
    b = probabilities["architecture"] == "b"
    probabilities.loc[b, "probability"] = np.clip(
        probabilities.loc[b, "probability"] + rng.normal(0, 0.2, int(b.sum())), 0, 1
    )
    # A case with a slice excluded (legs not separable) must not break the pairing.
    probabilities = probabilities.drop(
        probabilities.index[
            (probabilities["participant_id"] == "s03") & (probabilities["slice"] == 2)
        ]
    )
    stats = evaluate(probabilities, participants, ratings).statistics
    tests = stats.query("measure == 'auc_difference' and statistic == 'estimate'")
    assert list(tests["comparison"]) == ["a vs b (image)", "a vs b (case)"]
    images = probabilities.query("level == 'image'").pivot_table(
        index=["participant_id", "slice"], columns="architecture", values="probability"
    )
    truth = images.index.get_level_values(0).map(
        participants.set_index("participant_id")["diagnosis"].isin(["DMD", "BMD"])
    )
    expected = delong_test(np.asarray(truth, int), images["a"], images["b"])
    assert tests["value"].iloc[0] == pytest.approx(expected.difference)
    assert tests["p"].iloc[0] == pytest.approx(expected.p)
    raw = tests["p"].to_numpy()
    assert tests["p_adjusted"].to_numpy() == pytest.approx(adjust_p(raw, "holm"))
    assert tests["method"].str.contains("Holm").all()
