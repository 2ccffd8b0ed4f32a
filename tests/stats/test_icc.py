"""Tests of qmrflow.stats.icc against published worked examples and pingouin."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from qmrflow.stats.icc import IccResult, icc
from qmrflow.stats.tidy import tidy

# Shrout PE & Fleiss JL (1979) "Intraclass correlations: uses in assessing rater reliability",
# Psychol Bull 86:420-428, Table 2: 6 targets rated by 4 judges. Table 4 prints
# ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71, ICC(1,4) = .44, ICC(2,4) = .62,
# ICC(3,4) = .91.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]
SHROUT_FLEISS_TABLE_4 = {
    ("oneway", True): 0.17,
    ("agreement", True): 0.29,
    ("consistency", True): 0.71,
    ("oneway", False): 0.44,
    ("agreement", False): 0.62,
    ("consistency", False): 0.91,
}
# The same data are the example of R psych::ICC, whose output prints the F tests and 95%
# intervals (as reproduced e.g. in D. Wollschläger's RExRepos, "Interrater reliability"):
#                          type  ICC    F df1 df2       p lower bound upper bound
# Single_raters_absolute   ICC1 0.17  1.8   5  18 0.16477      -0.133        0.72
# Single_random_raters     ICC2 0.29 11.0   5  15 0.00013       0.019        0.76
# Single_fixed_raters      ICC3 0.71 11.0   5  15 0.00013       0.342        0.95
# Average_raters_absolute ICC1k 0.44  1.8   5  18 0.16477      -0.884        0.91
# Average_random_raters   ICC2k 0.62 11.0   5  15 0.00013       0.071        0.93
# Average_fixed_raters    ICC3k 0.91 11.0   5  15 0.00013       0.676        0.99
# DescTools::ICC on the same data prints F 1.79 / 11.03 and p 0.164769 / 0.000135.
PSYCH_ICC = {
    ("oneway", True): (18, 0.16477, -0.133, 0.72),
    ("agreement", True): (15, 0.00013, 0.019, 0.76),
    ("consistency", True): (15, 0.00013, 0.342, 0.95),
    ("oneway", False): (18, 0.16477, -0.884, 0.91),
    ("agreement", False): (15, 0.00013, 0.071, 0.93),
    ("consistency", False): (15, 0.00013, 0.676, 0.99),
}

# R irr package, data "anxiety" (20 subjects, 3 raters; values as in the statsmodels test-suite,
# statsmodels/stats/tests/test_inter_rater.py). Help-page example
# icc(anxiety, model = "twoway", type = "agreement") prints: ICC(A,1) = 0.198,
# F(19,39.7) = 1.83, p = 0.0543, 95% CI -0.039 < ICC < 0.494.
ANXIETY = np.array(
    [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3,
     3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4,
     2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2],
    dtype=float,
).reshape(20, 3, order="F")  # fmt: skip


@pytest.mark.parametrize(("kind", "single"), list(SHROUT_FLEISS_TABLE_4))
def test_reproduces_shrout_fleiss_1979_table_4_and_psych(kind, single):
    result = icc(SHROUT_FLEISS, kind=kind, single=single)
    assert round(result.icc, 2) == pytest.approx(SHROUT_FLEISS_TABLE_4[kind, single])
    df2, p, low, high = PSYCH_ICC[kind, single]
    assert (result.df1, result.df2) == (5, df2)
    assert round(result.f, 2) == pytest.approx(1.79 if kind == "oneway" else 11.03)
    assert float(f"{result.p:.5g}" if result.p > 1e-3 else f"{result.p:.2g}") == pytest.approx(p)
    assert round(result.ci_low, 3) == pytest.approx(low)
    assert round(result.ci_high, 2) == pytest.approx(high)
    assert (result.n, result.n_raters, result.n_dropped) == (6, 4, 0)


def test_labels():
    labels = {
        (kind, single): (result.label, result.mcgraw_wong_label)
        for (kind, single) in SHROUT_FLEISS_TABLE_4
        for result in [icc(SHROUT_FLEISS, kind=kind, single=single)]
    }
    assert labels == {
        ("oneway", True): ("ICC(1,1)", "ICC(1)"),
        ("agreement", True): ("ICC(2,1)", "ICC(A,1)"),
        ("consistency", True): ("ICC(3,1)", "ICC(C,1)"),
        ("oneway", False): ("ICC(1,k)", "ICC(k)"),
        ("agreement", False): ("ICC(2,k)", "ICC(A,k)"),
        ("consistency", False): ("ICC(3,k)", "ICC(C,k)"),
    }


def test_reproduces_irr_anxiety_example():
    result = icc(ANXIETY, kind="agreement")
    assert (result.n, result.n_raters) == (20, 3)
    assert round(result.icc, 3) == pytest.approx(0.198)
    assert round(result.f, 2) == pytest.approx(1.83)
    assert round(result.ci_low, 3) == pytest.approx(-0.039)
    assert round(result.ci_high, 3) == pytest.approx(0.494)
    # irr tests with Satterthwaite df (39.7) where Shrout & Fleiss / pingouin use
    # (n - 1)(k - 1) = 38: same F, slightly different p (0.0543 vs 0.0562).
    assert result.df2 == 38
    assert round(stats.f.sf(result.f, 19, 39.746), 4) == pytest.approx(0.0543)
    assert result.p == pytest.approx(stats.f.sf(result.f, 19, 38))


def _pingouin_table(values: np.ndarray) -> pd.DataFrame:
    n, k = values.shape
    long = pd.DataFrame(
        {"target": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n)}
    ).assign(rating=values.ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecation warnings raised inside pingouin
        return pingouin.intraclass_corr(long, "target", "rater", "rating").set_index("Type")


_PINGOUIN_TYPE = {
    ("oneway", True): "ICC(1,1)",
    ("agreement", True): "ICC(A,1)",
    ("consistency", True): "ICC(C,1)",
    ("oneway", False): "ICC(1,k)",
    ("agreement", False): "ICC(A,k)",
    ("consistency", False): "ICC(C,k)",
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pingouin(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(15, 1)) + rng.normal(size=(1, 3)) * 0.5 + rng.normal(size=(15, 3))
    for data in (values, np.array(SHROUT_FLEISS, dtype=float), ANXIETY):
        reference = _pingouin_table(data)
        for (kind, single), name in _PINGOUIN_TYPE.items():
            result = icc(data, kind=kind, single=single)
            expected = reference.loc[name]
            assert result.icc == pytest.approx(expected["ICC"], rel=1e-10, abs=1e-12)
            assert result.f == pytest.approx(expected["F"], rel=1e-10)
            assert (result.df1, result.df2) == (expected["df1"], expected["df2"])
            assert result.p == pytest.approx(expected["pval"], rel=1e-8)
            # pingouin 0.7.0 rounds its 95% interval to 2 decimals.
            low, high = expected["CI95"]
            assert result.ci_low == pytest.approx(low, abs=0.005 + 1e-12)
            assert result.ci_high == pytest.approx(high, abs=0.005 + 1e-12)


def test_confidence_level_and_interval_order():
    wide = icc(SHROUT_FLEISS, confidence=0.99)
    narrow = icc(SHROUT_FLEISS, confidence=0.80)
    base = icc(SHROUT_FLEISS)
    assert wide.ci_low < base.ci_low < narrow.ci_low < base.icc
    assert base.icc < narrow.ci_high < base.ci_high < wide.ci_high
    assert wide.confidence == 0.99


def test_dataframe_input_and_drop_missing():
    frame = pd.DataFrame(SHROUT_FLEISS, columns=["j1", "j2", "j3", "j4"])
    assert icc(frame).icc == pytest.approx(icc(SHROUT_FLEISS).icc)
    with_gaps = pd.concat(
        [frame, pd.DataFrame({"j1": [3.0, None], "j2": [1.0, 2.0], "j3": [np.nan, 4.0]})],
        ignore_index=True,
    )
    result = icc(with_gaps, kind="consistency", drop_missing=True)
    assert result.n_dropped == 2 and result.n == 6
    assert result.icc == pytest.approx(icc(SHROUT_FLEISS, kind="consistency").icc)
    assert "2 target(s) with missing values dropped" in result.method
    nullable = frame.astype("Int64")
    nullable.loc[0, "j2"] = pd.NA
    assert icc(nullable, drop_missing=True).n_dropped == 1
    with pytest.raises(ValueError, match="ratings contains 1 missing"):
        icc(nullable)


@pytest.mark.parametrize(
    ("ratings", "kwargs", "match"),
    [
        ([1.0, 2.0, 3.0], {}, "ratings must be 2-dimensional"),
        (np.ones((2, 2, 2)), {}, "ratings must be 2-dimensional"),
        ([[1.0], [2.0], [3.0]], {}, "ratings needs at least 2 raters"),
        ([[1.0, 2.0]], {}, "ratings targets .* at least 2"),
        ([[1.0, 2.0], [np.nan, 3.0], [2.0, 2.0]], {}, "ratings contains 1 missing"),
        ([[1.0, 2.0], [np.nan, 3.0]], {"drop_missing": True}, "ratings targets"),
        ([[1.0, np.inf], [2.0, 3.0]], {}, "ratings contains 1 infinite"),
        ([["a", "b"], ["c", "d"]], {}, "ratings must be numeric"),
        ([[True, False], [False, True]], {}, "ratings must be numeric"),
        ([[4.0, 4.0], [4.0, 4.0], [4.0, 4.0]], {}, "ratings is constant"),
        ([[1.0, 2.0], [2.0, 1.0], [3.0, 0.0]], {}, r"ratings target \(row\) means is constant"),
        (
            [[4.0, 0.0], [0.0, 3.0], [1.0, 2.0], [0.0, 4.0]],
            {"single": False},
            r"ICC\(A,1\) = -1.42 <= -1/\(k - 1\).*ICC\(A,k\) is undefined",
        ),
        (SHROUT_FLEISS, {"kind": "absolute"}, "kind must be one of"),
        (SHROUT_FLEISS, {"single": "yes"}, "single must be True or False"),
        (SHROUT_FLEISS, {"confidence": 0}, "confidence must be in"),
    ],
)
def test_rejects_bad_input(ratings, kwargs, match):
    with pytest.raises(ValueError, match=match):
        icc(ratings, **kwargs)


def test_small_tables_work():
    # pingouin refuses fewer than 5 ratings; the ICC itself is defined for 2 x 2.
    result = icc([[1.0, 2.0], [3.0, 5.0]], kind="consistency")
    assert result.df1 == 1 and result.df2 == 1 and math.isfinite(result.icc)


def test_rows_through_tidy():
    results = [icc(SHROUT_FLEISS, kind=kind) for kind in ("agreement", "consistency")]
    table = tidy(results, study="shrout_fleiss_1979", comparison="4 judges")
    assert (table["measure"] == "icc").all()
    assert table["statistic"].tolist() == ["estimate", "f", "df1", "df2"] * 2
    assert (table["n"] == 6).all()
    estimate = table.iloc[0]
    assert estimate["value"] == pytest.approx(0.2898, abs=1e-4)
    assert estimate["ci_low"] == pytest.approx(0.0188, abs=1e-4)
    assert estimate["p"] == pytest.approx(0.000135, abs=1e-6)
    assert "ICC(2,1)" in estimate["method"] and "ICC(A,1)" in estimate["method"]
    assert "McGraw & Wong (1996)" in estimate["method"]
    assert table.iloc[3]["value"] == 15.0


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

_tables = st.integers(3, 12).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 20), min_size=3, max_size=3), min_size=n, max_size=n)
)


def _defined(values: np.ndarray) -> bool:
    means = values.mean(axis=1)
    return bool(np.ptp(values) > 0 and np.ptp(means) > 0)


@settings(max_examples=50, deadline=None)
@given(data=_tables, seed=st.integers(0, 2**16))
def test_permuting_targets_or_raters_changes_nothing(data, seed):
    values = np.array(data, dtype=float)
    assume(_defined(values))
    rng = np.random.default_rng(seed)
    shuffled = values[rng.permutation(values.shape[0])][:, rng.permutation(values.shape[1])]
    for kind in ("agreement", "consistency", "oneway"):
        base: IccResult = icc(values, kind=kind)
        other = icc(shuffled, kind=kind)
        for name in ("icc", "ci_low", "ci_high", "f", "p"):
            assert getattr(other, name) == pytest.approx(getattr(base, name), rel=1e-9, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    targets=st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=15),
    k=st.integers(2, 4),
    single=st.booleans(),
)
def test_identical_methods_give_icc_one(targets, k, single):
    column = np.array(targets)
    assume(np.ptp(column) > 1e-6)
    values = np.repeat(column[:, None], k, axis=1)
    for kind in ("agreement", "consistency", "oneway"):
        result = icc(values, kind=kind, single=single)
        assert result.icc == pytest.approx(1.0, abs=1e-9)
        assert result.ci_low == pytest.approx(1.0, abs=1e-6)
        assert result.ci_high == pytest.approx(1.0, abs=1e-9)
        assert result.p < 1e-6


def test_n_targets_is_a_deprecated_alias_of_n():
    result = icc(np.array([[1.0, 2.0], [2.0, 3.5], [3.0, 3.0], [4.0, 5.0]]))
    with pytest.warns(DeprecationWarning, match="n_targets is deprecated, use .n"):
        assert result.n_targets == result.n == 4
