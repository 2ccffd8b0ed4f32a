"""Method comparison (qmrflow.stats.comparison) against the underlying statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import (
    TIDY_COLUMNS,
    bland_altman,
    compare_methods,
    compare_pair,
    linear_regression,
    paired_ttest,
    paired_values,
)


def _long_table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(500, 1500, 12)
    rows = []
    for method, (bias, noise) in {"ref": (0, 5), "a": (20, 10), "b": (-5, 40)}.items():
        for unit, value in enumerate(truth):
            rows.append(
                {"unit": unit, "method": method, "value": value + bias + noise * rng.normal()}
            )
    return pd.DataFrame(rows)


def test_compare_pair_matches_regression_bland_altman_and_ttest():
    table = _long_table()
    pairs, unmatched = paired_values(table, "a", "ref", keys=["unit"])
    assert unmatched == 0 and list(pairs.columns) == ["unit", "ref", "a"]
    result = compare_pair(pairs["a"], pairs["ref"], names=("a", "ref"))
    fit = linear_regression(pairs["ref"], pairs["a"], names=("ref", "a"))
    assert result.regression.slope == pytest.approx(fit.slope)
    assert result.bland_altman.bias == pytest.approx(bland_altman(pairs["a"], pairs["ref"]).bias)
    assert result.ttest.p == pytest.approx(paired_ttest(pairs["a"], pairs["ref"]).p)
    assert result.bland_altman.bias > 0  # a reads ~20 higher than ref
    assert len(result.to_rows()) == sum(
        len(r.to_rows()) for r in (result.regression, result.bland_altman, result.ttest)
    )


def test_compare_pair_not_strict_records_why():
    result = compare_pair([1.0], [2.0], regression=False, strict=False)
    assert result.ttest is None and result.bland_altman is None
    assert result.note.startswith("paired t-test and Bland-Altman not computed")
    with pytest.raises(ValueError):
        compare_pair([1.0], [2.0])


def test_compare_methods_any_reference_gives_one_tidy_table():
    table = _long_table().iloc[:-1]  # unit 11 of method b missing
    out = compare_methods(table, study="demo", reference="ref", keys=["unit"])
    assert tuple(out.columns) == TIDY_COLUMNS
    assert list(pd.unique(out["comparison"])) == ["a vs ref", "b vs ref"]
    pairs = out[(out["measure"] == "pairs")].set_index("comparison")["value"]
    assert pairs.to_dict() == {"a vs ref": 12.0, "b vs ref": 11.0}
    swapped = compare_methods(table, study="demo", reference="a", keys=["unit"], methods=["ref"])
    bias = swapped[(swapped["measure"] == "mean_difference") & (swapped["statistic"] == "estimate")]
    forward = out[(out["comparison"] == "a vs ref") & (out["measure"] == "mean_difference")]
    forward = forward[forward["statistic"] == "estimate"]
    assert bias["value"].iloc[0] == pytest.approx(-forward["value"].iloc[0])
    with pytest.raises(ValueError, match="same"):
        paired_values(table, "a", "a", keys=["unit"])
