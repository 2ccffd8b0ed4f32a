"""Tests of qmrflow.stats.tidy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import (
    TIDY_COLUMNS,
    cohen_kappa,
    delong_test,
    diagnostic_metrics,
    fleiss_kappa,
    read_tidy,
    roc_curve_auc,
    tidy,
    write_tidy,
)

EXPECTED_COLUMNS = [
    "study", "comparison", "measure", "statistic", "value", "ci_low", "ci_high", "p",
    "p_adjusted", "n", "method",
]  # fmt: skip


@pytest.fixture
def results():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], [30, 25])
    scores = truth + rng.normal(size=truth.size)
    other = truth + rng.normal(size=truth.size)
    decisions = (scores > 0.5).astype(int)
    return [
        diagnostic_metrics(truth, decisions),
        roc_curve_auc(truth, scores),
        delong_test(truth, scores, other),
        cohen_kappa(decisions, (other > 0.5).astype(int)),
        fleiss_kappa(np.column_stack([decisions, (other > 0.5), (scores > 0.3)]).astype(int)),
    ]


def test_columns_and_dtypes(results):
    table = tidy(results, study="yang2021", comparison="CNN vs reference")
    assert list(table.columns) == EXPECTED_COLUMNS == list(TIDY_COLUMNS)
    for column in ("value", "ci_low", "ci_high", "p", "p_adjusted"):
        assert table[column].dtype == np.float64
    assert table["p_adjusted"].isna().all()
    assert table["n"].dtype == pd.Int64Dtype()
    assert (table["study"] == "yang2021").all()
    assert (table["comparison"] == "CNN vs reference").all()
    assert table["method"].map(lambda m: isinstance(m, str) and m != "").all()
    expected_rows = sum(len(r.to_rows()) for r in results)
    assert len(table) == expected_rows
    assert {"sensitivity", "auc", "auc_difference", "cohen_kappa", "fleiss_kappa"} <= set(
        table["measure"]
    )


def test_single_result_and_values(results):
    metrics = results[0]
    table = tidy(metrics, study="s", comparison="c")
    sens = table[(table["measure"] == "sensitivity") & (table["statistic"] == "estimate")]
    assert len(sens) == 1
    row = sens.iloc[0]
    assert row["value"] == pytest.approx(metrics.sensitivity.estimate)
    assert row["ci_low"] == pytest.approx(metrics.sensitivity.ci_low)
    assert row["n"] == metrics.sensitivity.n
    assert math.isnan(row["p"])


def test_inf_and_nan_survive():
    perfect_specificity = diagnostic_metrics([1, 1, 0, 0], [1, 0, 0, 0])
    table = tidy([perfect_specificity], study="s", comparison="c")
    lr = table[table["measure"] == "lr_positive"].iloc[0]
    assert lr["value"] == math.inf and math.isnan(lr["ci_low"])


def test_empty_iterable_gives_empty_table_with_columns():
    table = tidy([], study="s", comparison="c")
    assert list(table.columns) == EXPECTED_COLUMNS and table.empty


@dataclass(frozen=True)
class _MeanDifference:
    """A statistic from a later issue: plugs in by implementing to_rows()."""

    value: float

    def to_rows(self):
        return [
            {
                "measure": "mean_difference", "statistic": "estimate", "value": self.value,
                "ci_low": self.value - 1, "ci_high": self.value + 1, "p": 0.04, "n": None,
                "method": "t test",
            }
        ]  # fmt: skip


def test_any_object_with_to_rows_plugs_in(results):
    table = tidy([results[1], _MeanDifference(2.5)], study="s", comparison="c")
    row = table[table["measure"] == "mean_difference"].iloc[0]
    assert row["value"] == 2.5 and row["p"] == 0.04 and pd.isna(row["n"])


@dataclass(frozen=True)
class _BadRows:
    def to_rows(self):
        return [{"measure": "x", "value": 1.0}]


@pytest.mark.parametrize(
    ("items", "kwargs", "error", "match"),
    [
        ([], {"study": "", "comparison": "c"}, ValueError, "study must be a non-empty string"),
        ([], {"study": "s", "comparison": " "}, ValueError, "comparison must be a non-empty"),
        ([object()], {"study": "s", "comparison": "c"}, TypeError, r"results\[0\] \(object\)"),
        ([_BadRows()], {"study": "s", "comparison": "c"}, ValueError, "missing keys"),
    ],
)
def test_tidy_rejects_bad_input(items, kwargs, error, match):
    with pytest.raises(error, match=match):
        tidy(items, **kwargs)


def test_mapping_of_comparisons(results):
    table = tidy({"CNN vs reference": results[:2], "raters": results[4]}, study="s")
    assert list(table["comparison"].unique()) == ["CNN vs reference", "raters"]
    assert len(table) == sum(len(r.to_rows()) for r in (*results[:2], results[4]))
    assert list(tidy({}, study="s").columns) == EXPECTED_COLUMNS
    with pytest.raises(ValueError, match="comparison must be omitted"):
        tidy({"a": results[0]}, study="s", comparison="b")


def test_write_and_read_round_trip(results, tmp_path):
    first = tidy(results[:2], study="s", comparison="a")
    second = tidy(results[2:], study="s", comparison="b")
    path = write_tidy([first, second], tmp_path / "statistics.tsv")
    back = read_tidy(path)
    expected = pd.concat([first, second], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected, check_exact=False, rtol=1e-9)


def test_write_tidy_refuses_other_tables(tmp_path):
    with pytest.raises(ValueError, match=r"tables\[0\] is not a tidy statistics table"):
        write_tidy(pd.DataFrame({"value": [1.0]}), tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()
    (tmp_path / "y.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match=r"y\.tsv is not a tidy statistics table"):
        read_tidy(tmp_path / "y.tsv")
