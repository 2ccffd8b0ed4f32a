"""Method comparison: regression, Bland-Altman and a paired test of one method against another.

A method-comparison study measures the same units (subjects, ROIs, lesions) with two or more
methods and asks how well a method agrees with a reference method (any of them may be the
reference). For one pair of methods, :func:`compare_pair` returns, on the paired values:

* :func:`~qmrflow.stats.linear_regression` of the method on the reference (x = reference; its
  R² is what agreement papers often quote), optional;
* :func:`~qmrflow.stats.bland_altman` of method − reference (bias, limits of agreement, their
  CIs; Bland & Altman 1986, Lancet i:307-310);
* :func:`~qmrflow.stats.paired_ttest` of method − reference.

:func:`paired_values` pairs a long table (one row per unit and method) by its unit keys, and
:func:`compare_methods` runs every method against a reference on such a table and returns one
tidy table (:func:`~qmrflow.stats.tidy`; comparison ``"<method> vs <reference>"``, with a
``pairs`` count row). The regression and Bland-Altman answer different questions (association
vs agreement); both are reported because papers report both. Units of one subject (its ROIs)
are not independent; p-values computed over them are then descriptive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from qmrflow.stats.bland_altman import BlandAltmanResult, bland_altman
from qmrflow.stats.regression import RegressionResult, linear_regression
from qmrflow.stats.tidy import TIDY_COLUMNS, tidy
from qmrflow.stats.ttest import PairedTTestResult, paired_ttest

__all__ = ["MethodComparison", "compare_methods", "compare_pair", "paired_values"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MethodComparison:
    """One method against a reference (see :func:`compare_pair`).

    Attributes
    ----------
    names
        ``(method, reference)`` labels.
    n
        Number of pairs.
    regression
        Regression of the method on the reference, or None (not asked for, or not computed).
    bland_altman, ttest
        Bland-Altman of method − reference and the paired t-test; None when not computed.
    note
        Why a statistic was not computed ("" when everything asked for was).
    """

    names: tuple[str, str]
    n: int
    regression: RegressionResult | None
    bland_altman: BlandAltmanResult | None
    ttest: PairedTTestResult | None
    note: str = ""

    def to_rows(self) -> list[dict[str, Any]]:
        """Rows of the regression, the Bland-Altman analysis and the t-test, in that order."""
        rows: list[dict[str, Any]] = []
        for result in (self.regression, self.bland_altman, self.ttest):
            if result is not None:
                rows += result.to_rows()
        return rows


def compare_pair(
    method: ArrayLike,
    reference: ArrayLike,
    *,
    names: tuple[str, str] = ("method", "reference"),
    confidence: float = 0.95,
    regression: bool = True,
    strict: bool = True,
) -> MethodComparison:
    """Regression, Bland-Altman and paired t-test of ``method`` against ``reference``.

    Parameters
    ----------
    method, reference
        Paired values (same units, same order).
    names
        ``(method, reference)`` labels for the results (axis names of figures).
    confidence
        Confidence level of every interval.
    regression
        Fit the regression of ``method`` on ``reference``.
    strict
        Raise when a statistic is undefined (too few pairs, constant values); otherwise
        return None results and the reason in ``note``.

    Raises
    ------
    ValueError
        With ``strict``, the message of the statistic that failed.
    """
    y = np.asarray(method, dtype=float)
    x = np.asarray(reference, dtype=float)
    try:
        fit = (
            linear_regression(x, y, confidence=confidence, names=names[::-1])
            if regression
            else None
        )
        ba = bland_altman(y, x, confidence=confidence, names=names)
        ttest = paired_ttest(y, x, confidence=confidence, names=names)
    except ValueError as exc:
        if strict:
            raise
        what = "regression, " if regression else ""
        note = f"{what}paired t-test and Bland-Altman not computed: {exc}"
        return MethodComparison(names, int(y.size), None, None, None, note)
    return MethodComparison(names, int(y.size), fit, ba, ttest)


def paired_values(
    table: pd.DataFrame,
    method: str,
    reference: str,
    *,
    keys: Sequence[str],
    value: str = "value",
    method_column: str = "method",
) -> tuple[pd.DataFrame, int]:
    """Values of ``method`` paired with ``reference`` by the unit keys of a long table.

    Parameters
    ----------
    table
        One row per unit and method: ``keys``, ``method_column`` and ``value`` columns.
    method, reference
        The two methods (values of ``method_column``).
    keys
        Columns that identify a unit (e.g. subject, ROI, map).
    value
        The measured value's column.
    method_column
        The column naming the method.

    Returns
    -------
    pairs : pandas.DataFrame
        ``*keys, <reference>, <method>`` sorted by the keys; units measured by only one of the
        two methods are left out.
    unmatched : int
        How many rows were left out that way.

    Raises
    ------
    ValueError
        A column is missing, or a unit appears twice for one method.
    """
    keys = list(keys)
    missing = [c for c in (*keys, value, method_column) if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}")
    if method == reference:
        raise ValueError(f"method and reference are the same ({method!r})")
    ref = table[table[method_column] == reference][[*keys, value]]
    other = table[table[method_column] == method][[*keys, value]]
    pairs = ref.rename(columns={value: reference}).merge(
        other.rename(columns={value: method}), on=keys, how="inner", validate="one_to_one"
    )
    unmatched = len(ref) + len(other) - 2 * len(pairs)
    return pairs.sort_values(keys, ignore_index=True), unmatched


def compare_methods(
    table: pd.DataFrame,
    *,
    study: str,
    reference: str,
    keys: Sequence[str],
    methods: Sequence[str] | None = None,
    value: str = "value",
    method_column: str = "method",
    confidence: float = 0.95,
    regression: bool = True,
    strict: bool = True,
) -> pd.DataFrame:
    """Every method against ``reference`` on a long table, as one tidy table.

    Parameters
    ----------
    table, keys, value, method_column
        See :func:`paired_values`.
    study
        The tidy table's ``study`` column.
    reference
        The reference method (any method in the table).
    methods
        Methods to compare, in table order; default every other method in order of first
        appearance.
    confidence, regression, strict
        See :func:`compare_pair`.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:data:`~qmrflow.stats.TIDY_COLUMNS`): per method a ``pairs`` count row, then
        the regression, Bland-Altman and t-test rows; comparison ``"<method> vs <reference>"``.
    """
    if methods is None:
        methods = [m for m in pd.unique(table[method_column]) if m != reference]
    frames = []
    for method in methods:
        pairs, unmatched = paired_values(
            table, method, reference, keys=keys, value=value, method_column=method_column
        )
        if unmatched:
            logger.warning(
                "%s vs %s: %d unit(s) measured by only one method left out",
                method,
                reference,
                unmatched,
            )
        result = compare_pair(
            pairs[method],
            pairs[reference],
            names=(str(method), str(reference)),
            confidence=confidence,
            regression=regression,
            strict=strict,
        )
        count = _Count(len(pairs), f"units paired by {', '.join(keys)}; {result.note}".rstrip("; "))
        frames.append(tidy([count, result], study=study, comparison=f"{method} vs {reference}"))
    if not frames:
        return pd.DataFrame(columns=list(TIDY_COLUMNS))
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class _Count:
    """The number of pairs as a tidy row."""

    n: int
    method: str

    def to_rows(self) -> list[dict[str, Any]]:
        nan = float("nan")
        return [
            {
                "measure": "pairs",
                "statistic": "count",
                "value": float(self.n),
                "ci_low": nan,
                "ci_high": nan,
                "p": nan,
                "n": self.n,
                "method": self.method,
            }
        ]
