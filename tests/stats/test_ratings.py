"""Tests of qmrflow.stats.ratings: per-rater kappa and Wilcoxon test between two methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import cohen_kappa, wilcoxon_signed_rank
from qmrflow.stats.ratings import rating_agreement
from qmrflow.stats.tidy import TIDY_COLUMNS

# Lesion visibility (1 = not visible ... 4 = excellent) of 10 lesions, two raters, on
# conventional (CR) and deep-learning (DLR) reconstructions. R2 never gives a 4 on CR.
LESIONS = [f"L{i}" for i in range(1, 11)]
SCORES = {
    ("R1", "CR"): [2, 3, 1, 2, 3, 2, 4, 1, 3, 2],
    ("R1", "DLR"): [3, 3, 2, 3, 4, 2, 4, 2, 3, 3],
    ("R2", "CR"): [1, 2, 2, 2, 3, 1, 3, 1, 2, 3],
    ("R2", "DLR"): [2, 3, 2, 4, 3, 2, 4, 1, 3, 3],
}


def _table(scores=SCORES, lesions=LESIONS) -> pd.DataFrame:
    rows = [
        {"lesion": lesion, "rater": rater, "method": method, "score": value}
        for (rater, method), values in scores.items()
        for lesion, value in zip(lesions, values, strict=True)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # row order must not matter


def _estimate(table: pd.DataFrame, comparison: str, measure: str) -> pd.Series:
    rows = table[
        (table["comparison"] == comparison)
        & (table["measure"] == measure)
        & (table["statistic"] == "estimate")
    ]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_per_rater_kappa_and_wilcoxon_equal_direct_calls(weights):
    table = rating_agreement(
        _table(), study="qsm", methods=["CR", "DLR"], weights=weights, confidence=0.9
    )
    assert list(table.columns) == list(TIDY_COLUMNS)
    assert (table["study"] == "qsm").all()
    assert table["comparison"].unique().tolist() == ["rater R1: CR vs DLR", "rater R2: CR vs DLR"]
    measure = {None: "cohen_kappa"}.get(weights, f"cohen_kappa_{weights}")
    for rater in ("R1", "R2"):
        x, y = np.array(SCORES[(rater, "CR")]), np.array(SCORES[(rater, "DLR")])
        kappa = cohen_kappa(x, y, categories=[1, 2, 3, 4], weights=weights, confidence=0.9)
        test = wilcoxon_signed_rank(x, y, names=("CR", "DLR"))
        comparison = f"rater {rater}: CR vs DLR"
        row = _estimate(table, comparison, measure)
        assert row["value"] == pytest.approx(kappa.kappa, rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((kappa.ci_low, kappa.ci_high))
        assert row["p"] == pytest.approx(kappa.p, rel=1e-12)
        assert row["n"] == 10
        row = _estimate(table, comparison, "wilcoxon_v")
        assert row["value"] == test.v
        assert row["p"] == pytest.approx(test.p, rel=1e-12)
        assert "difference = CR − DLR" in row["method"]


def test_default_scale_spans_all_raters():
    # R2 never scores 2, which R1 uses: weighted kappa depends on that interior level (the
    # distances between 1, 3 and 4 change), so the scale is the one observed over the whole
    # table, the same for every rater.
    scores = dict(SCORES)
    scores[("R2", "CR")] = [1, 3, 4, 3, 3, 1, 4, 1, 3, 4]
    scores[("R2", "DLR")] = [3, 3, 4, 4, 3, 1, 4, 1, 4, 3]
    table = rating_agreement(_table(scores), study="qsm", weights="linear")
    x, y = np.array(scores[("R2", "CR")]), np.array(scores[("R2", "DLR")])
    full = cohen_kappa(x, y, categories=[1, 2, 3, 4], weights="linear").kappa
    row = _estimate(table, "rater R2: CR vs DLR", "cohen_kappa_linear")
    assert row["value"] == pytest.approx(full)
    assert row["value"] != pytest.approx(cohen_kappa(x, y, weights="linear").kappa)
    # An explicit scale is passed on.
    wider = rating_agreement(_table(scores), study="qsm", weights="linear", categories=range(6))
    row = _estimate(wider, "rater R2: CR vs DLR", "cohen_kappa_linear")
    assert row["value"] == pytest.approx(
        cohen_kappa(x, y, categories=range(6), weights="linear").kappa
    )


def test_methods_sorted_by_default_or_given_in_order():
    for table in (_table(), _table().sort_values("method", ascending=False)):
        found = rating_agreement(table, study="qsm")
        assert found["comparison"].unique().tolist() == [
            "rater R1: CR vs DLR", "rater R2: CR vs DLR",
        ]  # fmt: skip
    flipped = rating_agreement(_table(), study="qsm", methods=["DLR", "CR"])
    assert flipped["comparison"].iloc[0] == "rater R1: DLR vs CR"
    x, y = np.array(SCORES[("R1", "CR")]), np.array(SCORES[("R1", "DLR")])
    test = _estimate(flipped, "rater R1: DLR vs CR", "wilcoxon_v")
    assert test["value"] == wilcoxon_signed_rank(y, x).v
    assert test["p"] == pytest.approx(wilcoxon_signed_rank(x, y).p)
    kappa = _estimate(flipped, "rater R1: DLR vs CR", "cohen_kappa")
    assert kappa["value"] == pytest.approx(cohen_kappa(x, y).kappa)


def test_other_methods_ignored_when_two_are_given():
    extra = dict(SCORES)
    extra[("R1", "MIP")] = [1] * 10
    table = _table(extra)
    with pytest.raises(ValueError, match="exactly two methods, found 3"):
        rating_agreement(table, study="qsm")
    result = rating_agreement(table, study="qsm", methods=["CR", "DLR"])
    expected = rating_agreement(_table(), study="qsm", methods=["CR", "DLR"])
    pd.testing.assert_frame_equal(result, expected)


def test_custom_column_names():
    table = _table().rename(
        columns={"lesion": "image", "rater": "reader", "method": "recon", "score": "grade"}
    )
    result = rating_agreement(
        table, study="qsm", item="image", rater="reader", method="recon", score="grade",
        methods=["CR", "DLR"],
    )  # fmt: skip
    expected = rating_agreement(_table(), study="qsm", methods=["CR", "DLR"])
    pd.testing.assert_frame_equal(result, expected)


def test_missing_pairs_are_refused_or_dropped_and_counted():
    table = _table()
    drop = (
        (table["rater"] == "R1") & (table["method"] == "DLR") & table["lesion"].isin(["L2", "L5"])
    )
    table = table[~drop]
    with pytest.raises(
        ValueError, match=r"rater 'R1'.*2 item\(s\) without a DLR score: \['L2', 'L5'\]"
    ):
        rating_agreement(table, study="qsm", methods=["CR", "DLR"])
    result = rating_agreement(table, study="qsm", methods=["CR", "DLR"], drop_missing=True)
    keep = [i for i, lesion in enumerate(LESIONS) if lesion not in ("L2", "L5")]
    x = np.array(SCORES[("R1", "CR")])[keep]
    y = np.array(SCORES[("R1", "DLR")])[keep]
    kappa = _estimate(result, "rater R1: CR vs DLR", "cohen_kappa")
    assert kappa["n"] == 8
    assert kappa["value"] == pytest.approx(cohen_kappa(x, y, categories=[1, 2, 3, 4]).kappa)
    assert "2 item(s) without both CR and DLR scores dropped" in kappa["method"]
    test = _estimate(result, "rater R1: CR vs DLR", "wilcoxon_v")
    assert test["p"] == pytest.approx(wilcoxon_signed_rank(x, y).p)
    assert "dropped" in test["method"]
    # R2 is complete: nothing dropped, nothing said.
    assert "dropped" not in _estimate(result, "rater R2: CR vs DLR", "cohen_kappa")["method"]


def test_missing_score_is_a_missing_pair():
    table = _table()
    where = (table["rater"] == "R2") & (table["method"] == "CR") & (table["lesion"] == "L7")
    table.loc[where, "score"] = np.nan
    with pytest.raises(ValueError, match=r"rater 'R2'.*without a CR score: \['L7'\]"):
        rating_agreement(table, study="qsm", methods=["CR", "DLR"])
    result = rating_agreement(table, study="qsm", methods=["CR", "DLR"], drop_missing=True)
    assert _estimate(result, "rater R2: CR vs DLR", "cohen_kappa")["n"] == 9


def test_duplicates_are_refused():
    table = _table()
    twice = pd.concat([table, table.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"2 rows score the same \(rater, lesion, method\)"):
        rating_agreement(twice, study="qsm")


def test_undefined_test_names_the_rater():
    scores = dict(SCORES)
    scores[("R2", "DLR")] = scores[("R2", "CR")]  # identical scores: every difference zero
    with pytest.raises(
        ValueError, match=r"rater 'R2', CR vs DLR: differences CR − DLR are all zero"
    ):
        rating_agreement(_table(scores), study="qsm", methods=["CR", "DLR"])


def _without_rater_at_l3(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(rater=table["rater"].where(table["lesion"] != "L3"))


def _word_score_at_l3(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(score=table["score"].astype(str).where(table["lesion"] != "L3", "good"))


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        (lambda t: t.drop(columns="score"), {}, r"lacks the column\(s\) \{'score': 'score'\}"),
        (lambda t: t, {"score": "rater"}, "must name different columns"),
        (lambda t: t.iloc[:0], {}, "table is empty"),
        (_without_rater_at_l3, {}, "rater column 'rater' has 4 missing"),
        (_word_score_at_l3, {}, r"must be numeric, got \['good'\]"),
        (lambda t: t[t["method"] == "CR"], {}, "exactly two methods, found 1"),
        (lambda t: t, {"methods": ["CR", "XR"]}, r"methods \['XR'\] not in method column"),
        (lambda t: t, {"methods": ["CR", "CR"]}, "two different methods"),
        (lambda t: t, {"methods": ["CR"]}, "two different methods"),
        (lambda t: t, {"weights": "squared"}, "weights must be one of"),
        (lambda t: t, {"confidence": 95}, "confidence must be in"),
        (lambda t: t.to_dict(), {}, "table must be a pandas DataFrame"),
    ],
)
def test_rating_agreement_rejects_bad_input(change, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rating_agreement(change(_table()), study="qsm", **kwargs)
