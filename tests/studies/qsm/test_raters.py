"""Simulated raters, ratings tables and rating statistics (qmrflow.studies.qsm.raters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import write_tsv
from qmrflow.stats import TIDY_COLUMNS
from qmrflow.studies.qsm.raters import (
    DEFAULT_RATERS,
    RATING_COLUMNS,
    SCORE_COLUMNS,
    SCORE_RANGES,
    RaterSpec,
    check_ratings,
    rating_statistics,
    read_ratings,
    simulate_ratings,
)

N = 80


def lesion_truth(n=N, seed=1):
    """True findings of ``n`` lesions: rim, vein and core contrast (ppm)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lesion": np.arange(1, n + 1),
            "rim": rng.random(n) < 0.3,
            "vein": rng.random(n) < 0.5,
            "core": rng.choice([0.06, 0.0, -0.03], n),
        }
    )


def features(truth, noise_ppm, recon, seed=2, jitter=0.25):
    """Feature rows of one recon: contrasts of the truth plus estimation noise."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    rim = np.where(truth["rim"], 0.1, 0.0) + rng.normal(0, jitter * noise_ppm, n)
    return pd.DataFrame(
        {
            "participant_id": "01",
            "lesion": truth["lesion"],
            "recon": recon,
            "rim_contrast": rim,
            "rim_nawm_contrast": rim,
            "vein_contrast": np.where(truth["vein"], 0.15, 0.05 * noise_ppm / 0.03)
            + rng.normal(0, jitter * noise_ppm, n),
            "qsm_contrast": truth["core"] + rng.normal(0, jitter * noise_ppm, n),
            "noise_ppm": noise_ppm * np.exp(rng.normal(0, 0.05, n)),
        }
    )


@pytest.fixture(scope="module")
def truth():
    return lesion_truth()


@pytest.fixture(scope="module")
def two_recons(truth):
    return pd.concat([features(truth, 0.04, "cr", seed=2), features(truth, 0.02, "dlr", seed=3)])


@pytest.fixture(scope="module")
def ratings(two_recons):
    return simulate_ratings(two_recons, seed=7)


# ------------------------------------------------------------------------------------------
# Simulated raters
# ------------------------------------------------------------------------------------------


def test_layout_and_ranges(ratings):
    assert list(ratings.columns) == list(RATING_COLUMNS)
    assert len(ratings) == N * 2 * len(DEFAULT_RATERS)
    assert set(ratings["rater"]) == {"rater1", "rater2"}
    for column, (low, high) in SCORE_RANGES.items():
        assert ratings[column].between(low, high).all()
        assert ratings[column].dtype == np.int64
    check_ratings(ratings)  # a valid ratings table


def test_deterministic_by_seed(two_recons, ratings):
    pd.testing.assert_frame_equal(simulate_ratings(two_recons, seed=7), ratings)
    other = simulate_ratings(two_recons, seed=8)
    assert not other[list(SCORE_COLUMNS)].equals(ratings[list(SCORE_COLUMNS)])


def test_scores_of_a_lesion_do_not_depend_on_other_lesions(two_recons, ratings):
    subset = two_recons[two_recons["lesion"] <= 10]
    alone = simulate_ratings(subset, seed=7)
    expected = ratings[ratings["lesion"] <= 10].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected)


def test_scores_follow_the_findings(truth, ratings):
    scored = ratings.merge(truth, on="lesion")
    for rater in ("rater1", "rater2"):
        mine = scored[(scored["rater"] == rater) & (scored["recon"] == "dlr")]
        assert mine.loc[mine["rim"], "prl"].mean() > mine.loc[~mine["rim"], "prl"].mean() + 1.5
        assert mine.loc[mine["vein"], "cvs"].mean() > mine.loc[~mine["vein"], "cvs"].mean() + 1.5
        hyper = mine["core"] > 0
        assert mine.loc[hyper, "hyperiso"].mean() > 0.8
        assert mine.loc[~hyper, "hyperiso"].mean() < 0.2


def test_higher_cnr_gives_higher_scores(ratings):
    means = ratings.groupby("recon")[list(SCORE_COLUMNS)].mean()
    for item in ("prl", "cvs", "quality"):
        assert means.loc["dlr", item] > means.loc["cr", item]


def test_kappa_high_when_recons_look_alike(truth):
    alike = pd.concat([features(truth, 0.03, "cr", seed=2), features(truth, 0.03, "dlr", seed=2)])
    statistics = rating_statistics(simulate_ratings(alike, seed=5))
    kappa = statistics[
        statistics["measure"].str.startswith("cohen_kappa")
        & (statistics["statistic"] == "estimate")
    ]
    assert len(kappa) == len(SCORE_COLUMNS) * 2
    assert (kappa["value"] > 0.7).all()
    # rater1 reads more consistently than rater2.
    by_rater = kappa.groupby(kappa["comparison"].str.contains("rater1"))["value"].mean()
    assert by_rater[True] > by_rater[False]


def test_noise_free_features_and_missing_features(truth):
    table = features(truth, 0.0, "cr")
    table.loc[0, "vein_contrast"] = np.nan
    rated = simulate_ratings(table, [{"name": "solo", "noise_sd": 0.0, "read_noise_sd": 0.0}])
    assert rated.loc[0, "cvs"] == 1  # a missing feature is invisible
    assert (rated["quality"] == 5).all()


def test_participant_id_argument(truth):
    table = features(truth, 0.03, "cr").drop(columns="participant_id")
    with pytest.raises(ValueError, match="participant_id"):
        simulate_ratings(table)
    rated = simulate_ratings(table, participant_id="p9")
    assert (rated["participant_id"] == "p9").all()


@pytest.mark.parametrize(
    ("raters", "message"),
    [
        ([], "one or more"),
        ([RaterSpec("a"), RaterSpec("a")], "different names"),
        ([{"name": "a", "colour": 1}], "unknown rater setting"),
        ([{"name": "a", "slope": 0}], "slope"),
        ([{"name": "a", "noise_sd": -1}], "noise_sd"),
        ([{"name": ""}], "name"),
    ],
)
def test_bad_raters(truth, raters, message):
    with pytest.raises(ValueError, match=message):
        simulate_ratings(features(truth, 0.03, "cr"), raters)


def test_bad_features(truth):
    table = features(truth, 0.03, "cr")
    with pytest.raises(ValueError, match="recon values"):
        simulate_ratings(table.assign(recon="gre"))
    with pytest.raises(ValueError, match="more than once"):
        simulate_ratings(pd.concat([table, table]))
    with pytest.raises(ValueError, match="noise_ppm"):
        simulate_ratings(table.drop(columns="noise_ppm"))


# ------------------------------------------------------------------------------------------
# Ratings tables
# ------------------------------------------------------------------------------------------


def small_table():
    rows = []
    for lesion in (1, 2, 3):
        for recon in ("cr", "dlr"):
            rows.append(
                {"participant_id": "sub-01", "lesion": lesion, "rater": "A", "recon": recon,
                 "prl": 1 + lesion, "cvs": 2, "hyperiso": lesion % 2, "quality": 4}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_read_ratings(tmp_path):
    path = tmp_path / "ratings.tsv"
    table = small_table()
    table["comment"] = "x"
    table.loc[0, "recon"] = "CR"
    write_tsv(table, path)
    ratings = read_ratings(path, subject="01", lesions=[1, 2, 3, 4])
    assert list(ratings.columns) == list(RATING_COLUMNS)
    assert (ratings["participant_id"] == "01").all()
    assert ratings.loc[0, "recon"] == "cr"
    assert ratings["prl"].dtype == np.int64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="quality"), "lacks column"),
        (lambda t: t.assign(prl=6), "'prl' must hold integers 1-5"),
        (lambda t: t.assign(hyperiso=2), "'hyperiso' must hold integers 0-1"),
        (lambda t: t.assign(cvs=2.5), "'cvs' must hold integers"),
        (lambda t: t.assign(recon="gre"), "'recon' holds"),
        (lambda t: t.assign(lesion=0), "'lesion' must hold"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "more than once"),
        (lambda t: t.assign(quality=np.where(t.index == 2, np.nan, 4)), "missing values"),
        (lambda t: t.assign(lesion=t["lesion"] + 10), "not in the lesion map"),
        (lambda t: t.assign(participant_id="sub-02"), "no ratings for this participant"),
    ],
)
def test_read_ratings_errors(tmp_path, change, message):
    path = tmp_path / "ratings.tsv"
    write_tsv(change(small_table()), path)
    with pytest.raises(InputDataError, match=message) as error:
        read_ratings(path, subject="01", lesions=[1, 2, 3])
    assert str(path) in str(error.value)
    assert "sub-01" in str(error.value)


def test_read_ratings_missing_file(tmp_path):
    with pytest.raises(InputDataError, match="not found"):
        read_ratings(tmp_path / "ratings.tsv")


# ------------------------------------------------------------------------------------------
# Rating statistics
# ------------------------------------------------------------------------------------------


def paired(cr_scores, dlr_scores, item="prl", rater="A"):
    """A ratings table whose ``item`` has the given CR and DLR scores (others constant-ish)."""
    n = len(cr_scores)
    rows = []
    for recon, scores in (("cr", cr_scores), ("dlr", dlr_scores)):
        for lesion, score in enumerate(scores, start=1):
            row = {"participant_id": "01", "lesion": lesion, "rater": rater, "recon": recon,
                   "prl": 1 + lesion % 5, "cvs": 1 + lesion % 5, "hyperiso": lesion % 2,
                   "quality": 1 + lesion % 5}  # fmt: skip
            row[item] = score
            rows.append(row)
    assert len(rows) == 2 * n
    return pd.DataFrame(rows)


def estimate(statistics, comparison, measure, statistic="estimate"):
    rows = statistics[
        (statistics["comparison"] == comparison)
        & (statistics["measure"] == measure)
        & (statistics["statistic"] == statistic)
    ]
    assert len(rows) == 1, (comparison, measure, statistic)
    return rows.iloc[0]


def test_identical_scores_give_kappa_one():
    scores = [1, 2, 3, 4, 5, 3, 2, 4, 5, 1]
    statistics = rating_statistics(paired(scores, scores))
    assert list(statistics.columns) == list(TIDY_COLUMNS)
    assert set(statistics["study"]) == {"qsm"}
    for item in SCORE_COLUMNS:
        comparison = f"{item}, rater A: DLR vs CR"
        measure = "cohen_kappa" if item == "hyperiso" else "cohen_kappa_quadratic"
        assert estimate(statistics, comparison, measure)["value"] == pytest.approx(1.0)
        test = estimate(statistics, comparison, "wilcoxon_v")
        assert np.isnan(test["value"])
        assert "zero" in test["method"]


def test_wilcoxon_direction_when_dlr_scores_higher():
    rng = np.random.default_rng(0)
    cr = rng.integers(1, 4, 40)
    dlr = np.minimum(cr + rng.integers(0, 3, 40), 5)
    statistics = rating_statistics(paired(cr, dlr, item="quality"))
    comparison = "quality, rater A: DLR vs CR"
    test = estimate(statistics, comparison, "wilcoxon_v")
    assert test["p"] < 0.001
    assert estimate(statistics, comparison, "rank_biserial")["value"] == pytest.approx(1.0)
    assert estimate(statistics, comparison, "median_difference")["value"] >= 0
    cr_mean = estimate(statistics, comparison, "score_cr", "mean")["value"]
    dlr_mean = estimate(statistics, comparison, "score_dlr", "mean")["value"]
    assert dlr_mean == pytest.approx(dlr.mean())
    assert cr_mean == pytest.approx(cr.mean())
    kappa = estimate(statistics, comparison, "cohen_kappa_quadratic")["value"]
    assert 0 < kappa < 1


def test_undefined_kappa_and_unpaired_lesions():
    table = paired([3, 3, 3, 3], [3, 3, 3, 3], item="quality")
    extra = table.iloc[:1].assign(lesion=9)  # scored on CR only
    statistics = rating_statistics(pd.concat([table, extra], ignore_index=True))
    kappa = estimate(statistics, "quality, rater A: DLR vs CR", "cohen_kappa_quadratic")
    assert np.isnan(kappa["value"])
    assert "not computed" in kappa["method"]
    assert "one reconstruction only" in kappa["method"]
    assert kappa["n"] == 4


def test_statistics_order_and_raters(ratings):
    statistics = rating_statistics(ratings)
    comparisons = list(dict.fromkeys(statistics["comparison"]))
    assert comparisons == [
        f"{item}, rater {rater}: DLR vs CR"
        for item in SCORE_COLUMNS
        for rater in ("rater1", "rater2")
    ]


def test_rater_without_pairs_is_an_error():
    table = paired([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="no lesion on both"):
        rating_statistics(table[table["recon"] == "cr"])
