"""Multiple-comparison correction of p-values, alone or across a tidy result table.

Methods
-------
``"holm"``
    Holm (1979, Scand J Stat 6:65-70) step-down Bonferroni; controls the family-wise error
    rate under any dependence. ``p_(i) adj = max_{j <= i} min(1, (m - j + 1) p_(j))``.
``"bh"``
    Benjamini & Hochberg (1995, J R Stat Soc B 57:289-300) step-up; controls the false
    discovery rate for independent or positively dependent tests.
    ``p_(i) adj = min_{j >= i} min(1, m p_(j) / j)``.
``"bonferroni"``
    ``min(1, m p)``.

The adjusted values are R's ``p.adjust`` values; they are computed by
:func:`statsmodels.stats.multitest.multipletests` (``holm``, ``fdr_bh``, ``bonferroni``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

from qmrflow.stats._checks import check_choice, numeric_sample

__all__ = ["ADJUST_METHODS", "adjust_p", "adjust_table"]

logger = logging.getLogger(__name__)

ADJUST_METHODS: dict[str, tuple[str, str]] = {
    # our name: (statsmodels name, description for the tidy method column)
    "holm": ("holm", "Holm (1979) step-down"),
    "bh": ("fdr_bh", "Benjamini-Hochberg (1995) FDR"),
    "bonferroni": ("bonferroni", "Bonferroni"),
}


def adjust_p(p_values: ArrayLike, method: str = "holm") -> np.ndarray:
    """Adjusted p-values (R's ``p.adjust``) for one family of tests.

    Parameters
    ----------
    p_values
        Raw p-values of the family, each in [0, 1], no missing values.
    method
        ``"holm"``, ``"bh"`` or ``"bonferroni"`` (see the module docstring).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order, each in [raw p, 1].

    Raises
    ------
    ValueError
        Unknown method, empty input, missing values, or a value outside [0, 1].
    """
    check_choice(method, "method", list(ADJUST_METHODS))
    p = numeric_sample(p_values, "p_values").values
    outside = (p < 0.0) | (p > 1.0)
    if outside.any():
        raise ValueError(f"p_values must lie in [0, 1]; found {p[outside][:5].tolist()}")
    return np.asarray(multipletests(p, method=ADJUST_METHODS[method][0])[1], dtype=float)


def adjust_table(
    table: pd.DataFrame,
    method: str = "holm",
    *,
    by: Sequence[str] = (),
    where: pd.Series | None = None,
) -> pd.DataFrame:
    """Fill ``p_adjusted`` across a tidy result table, one family per group of ``by``.

    A family is every row that carries a test, i.e. has a ``p`` and ``statistic ==
    "estimate"`` (the row of the estimate a test is about; rows repeating the same p for the
    test statistic, such as ``t`` or ``z``, get the same adjusted value), optionally restricted
    by ``where`` and split into families by the columns in ``by`` (e.g. ``("measure",)`` to
    correct each outcome across its comparisons). The ``method`` column of adjusted rows gains
    ``"; p adjusted: <method> over m tests"``.

    Parameters
    ----------
    table
        A tidy table (:func:`qmrflow.stats.tidy`).
    method
        ``"holm"``, ``"bh"`` or ``"bonferroni"``.
    by
        Columns whose combinations define separate families; empty for one family.
    where
        Boolean Series aligned with ``table`` selecting the rows eligible for correction.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``p_adjusted`` filled for the corrected rows (NaN elsewhere).

    Raises
    ------
    ValueError
        Unknown method, a ``by`` column missing from the table, ``where`` not aligned with
        the table, or a table without the tidy columns.
    """
    from qmrflow.stats.tidy import check_tidy

    check_choice(method, "method", list(ADJUST_METHODS))
    check_tidy(table, "table")
    missing = [column for column in by if column not in table.columns]
    if missing:
        raise ValueError(f"by names columns not in the table: {missing}")
    eligible = pd.Series(True, index=table.index)
    if where is not None:
        if not isinstance(where, pd.Series) or not where.index.equals(table.index):
            raise ValueError("where must be a boolean Series with the table's index")
        eligible &= where.astype(bool)
    tests = eligible & table["p"].notna() & (table["statistic"] == "estimate")

    out = table.copy()
    out["p_adjusted"] = out["p_adjusted"].astype(np.float64)
    label = ADJUST_METHODS[method][1]
    adjusted = pd.Series(np.nan, index=out.index)
    notes = pd.Series("", index=out.index, dtype=object)
    groups = out[tests].groupby(list(by), sort=False) if by else [((), out[tests])]
    for _, family in groups:
        if family.empty:  # a table without tests: nothing to adjust
            continue
        adjusted[family.index] = adjust_p(family["p"].to_numpy(), method)
        notes[family.index] = f"; p adjusted: {label} over {len(family)} tests"
    # A test's other rows (t, z, ...) repeat its p: give them the same adjusted value.
    keys = ["study", "comparison", "measure", "p"]
    lookup = (
        out.loc[tests, keys]
        .assign(p_adjusted=adjusted[tests], note=notes[tests])
        .drop_duplicates(keys)
    )
    candidates = eligible & out["p"].notna()
    matched = out.loc[candidates, keys].merge(lookup, on=keys, how="left")
    matched.index = out.index[candidates]
    hit = matched.index[matched["p_adjusted"].notna()]
    out.loc[hit, "p_adjusted"] = matched.loc[hit, "p_adjusted"]
    out.loc[hit, "method"] = out.loc[hit, "method"] + matched.loc[hit, "note"]
    logger.info("p adjusted (%s) in %d row(s)", label, int(out["p_adjusted"].notna().sum()))
    return out
