"""Tests of qmrflow.stats.multiplicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmrflow.stats import adjust_p, adjust_table, paired_ttest, tidy

# Benjamini & Hochberg (1995), J R Stat Soc B 57:289-300, section 4.2: the 15 ordered p-values
# of the myocardial-infarction trial (Neuhaus et al. 1992).
BH_1995 = np.array(
    [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
     0.5719, 0.6528, 0.7590, 1.0000]
)  # fmt: skip


def test_benjamini_hochberg_1995_example():
    """BH rejects the 4 smallest at q = 0.05, Holm (like Bonferroni) only the 3 smallest."""
    bh = adjust_p(BH_1995, "bh")
    holm = adjust_p(BH_1995, "holm")
    assert int((bh <= 0.05).sum()) == 4
    assert int((holm <= 0.05).sum()) == 3
    # R p.adjust(p, "BH")[1:5] and p.adjust(p, "holm")[1:4], i.e. m·p/i and (m-i+1)·p here
    assert bh[:5] == pytest.approx([0.0015, 0.0030, 0.0095, 0.035625, 0.0603], abs=1e-10)
    assert holm[:4] == pytest.approx([0.0015, 0.0056, 0.0247, 0.114], abs=1e-10)


def test_holm_1979_definition_on_unsorted_input():
    p = np.array([0.04, 0.01, 0.03])
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert adjust_p(p, "holm") == pytest.approx([0.06, 0.03, 0.06])
    assert adjust_p(p, "bonferroni") == pytest.approx([0.12, 0.03, 0.09])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.sampled_from(["holm", "bh"]))
def test_adjusted_within_raw_and_one_and_order_preserving(values, method):
    p = np.array(values)
    adjusted = adjust_p(p, method)
    assert np.all(adjusted >= p - 1e-15)
    assert np.all(adjusted <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= -1e-15)
    permutation = np.random.default_rng(len(values)).permutation(p.size)
    assert adjust_p(p[permutation], method) == pytest.approx(adjusted[permutation])


@pytest.mark.parametrize(
    ("values", "match"),
    [([], "empty|at least 1"), ([0.1, np.nan], "p_values"), ([0.1, 1.2], r"\[0, 1\]")],
)
def test_bad_p_values(values, match):
    with pytest.raises(ValueError, match=match):
        adjust_p(np.array(values, dtype=float), "holm")


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        adjust_p([0.1], "hommel-ish")


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    results = {}
    for roi in ("GM", "WM", "CSF", "lesion"):
        for quantity, shift in (("T1", 0.0), ("T2", 0.6)):
            x = rng.normal(size=12)
            results[f"{quantity} {roi}"] = paired_ttest(x + shift + rng.normal(0, 0.3, 12), x)
    return tidy(results, study="demo")


def test_adjust_table_one_family(table):
    adjusted = adjust_table(table, "holm")
    tests = adjusted[(adjusted["statistic"] == "estimate") & adjusted["p"].notna()]
    assert tests["p_adjusted"].to_numpy() == pytest.approx(adjust_p(tests["p"].to_numpy()))
    assert (
        tests["method"]
        .str.endswith(f"p adjusted: Holm (1979) step-down over {len(tests)} tests")
        .all()
    )
    # the t row of a test shares its p and gets the same adjustment
    t_rows = adjusted[adjusted["statistic"] == "t"]
    assert t_rows["p_adjusted"].notna().all()
    merged = t_rows.merge(tests, on=["comparison", "measure"], suffixes=("_t", ""))
    assert merged["p_adjusted_t"].to_numpy() == pytest.approx(merged["p_adjusted"].to_numpy())
    # rows without a test stay NaN; the input table is not modified
    assert adjusted.loc[adjusted["p"].isna(), "p_adjusted"].isna().all()
    assert table["p_adjusted"].isna().all()


def test_adjust_table_families_and_where(table):
    quantity = table["comparison"].str.split().str[0]
    by_quantity = adjust_table(
        table.assign(measure=quantity + " mean_difference"), "bh", by=["measure"]
    )
    for _, family in by_quantity[by_quantity["statistic"] == "estimate"].groupby("measure"):
        family = family[family["p"].notna()]
        assert family["p_adjusted"].to_numpy() == pytest.approx(
            adjust_p(family["p"].to_numpy(), "bh")
        )
    lesions_only = adjust_table(table, "holm", where=table["comparison"].str.contains("lesion"))
    assert lesions_only.loc[~table["comparison"].str.contains("lesion"), "p_adjusted"].isna().all()
    assert lesions_only.loc[table["comparison"].str.contains("lesion"), "p_adjusted"].notna().any()


def test_adjust_table_errors(table):
    with pytest.raises(ValueError, match="by names columns"):
        adjust_table(table, by=["roi"])
    with pytest.raises(ValueError, match="where"):
        adjust_table(table, where=pd.Series(True, index=range(3)))
    with pytest.raises(ValueError, match="not a tidy statistics table"):
        adjust_table(table.drop(columns="p_adjusted"))
