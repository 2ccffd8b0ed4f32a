"""The common paper-comparison table (qmrflow.stats.paper)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from qmrflow.stats import (
    PAPER_COMPARISON_COLUMNS,
    PaperValue,
    lookup_estimate,
    paper_comparison_table,
)

STATS = pd.DataFrame(
    {
        "comparison": ["m vs ref", "m vs ref"],
        "measure": ["auc", "mean_difference"],
        "statistic": ["estimate", "estimate"],
        "value": [0.9, 1.5],
        "ci_low": [0.8, 0.2],
        "ci_high": [0.95, 2.8],
        "p": [math.nan, 0.03],
    }
)


def test_lookup_estimate_value_with_interval_p_without_and_missing_nan():
    assert lookup_estimate(STATS, "m vs ref", "auc") == (0.9, 0.8, 0.95)
    p = lookup_estimate(STATS, "m vs ref", "mean_difference", "p")
    assert p[0] == 0.03 and math.isnan(p[1])
    assert all(math.isnan(v) for v in lookup_estimate(STATS, "x", "auc"))
    with pytest.raises(ValueError, match="lacks"):
        lookup_estimate(STATS.drop(columns="ci_low"), "m vs ref", "auc")


def test_table_has_fixed_columns_from_objects_and_mappings():
    table = paper_comparison_table(
        [
            PaperValue("s", "AUC", 0.98, 0.9, 0.8, 0.95, "m vs ref", "Paper 2021", "model m"),
            {"study": "s", "measure": "p", "paper": 0.67, "ours": 0.03},
        ]
    )
    assert tuple(table.columns) == PAPER_COMPARISON_COLUMNS
    assert table["paper"].tolist() == [0.98, 0.67]
    assert table.loc[1, "comparison"] == "" and math.isnan(table.loc[1, "ours_ci_low"])
    with pytest.raises(ValueError, match="missing"):
        paper_comparison_table([{"study": "s", "paper": 1.0}])
    with pytest.raises(ValueError, match="unknown"):
        paper_comparison_table([{"study": "s", "measure": "x", "paper": 1.0, "map": "T1"}])
