"""One table format for putting a paper's numbers beside ours, for every study.

Each study reproduces a paper and writes ``group/paper_comparison.tsv``: one row per published
number, with the same number from this run beside it. The columns are fixed
(:data:`PAPER_COMPARISON_COLUMNS`) so that the report and a reader handle every study alike:

``study``
    The study name.
``comparison``
    The comparison of the study's tidy statistics table the number comes from (e.g.
    ``"DL vs routine: T1 (tissues+regions)"``, ``"resnet50 vs reference (image)"``).
``measure``
    What the paper reports, in the paper's words (``"image accuracy"``, ``"R² DL vs
    routine (tissues+regions)"``).
``paper``
    The published value.
``ours``, ``ours_ci_low``, ``ours_ci_high``
    This run's value and its confidence interval (NaN where the run has no such number or the
    number has no interval, e.g. a p-value).
``paper_source``
    The paper (citation).
``note``
    Anything a reader needs to compare the two (which model, which p-value).

:func:`lookup_estimate` reads one number (and its interval) out of a tidy statistics table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

__all__ = [
    "PAPER_COMPARISON_COLUMNS",
    "PaperValue",
    "lookup_estimate",
    "paper_comparison_table",
]

PAPER_COMPARISON_COLUMNS: tuple[str, ...] = (
    "study",
    "comparison",
    "measure",
    "paper",
    "ours",
    "ours_ci_low",
    "ours_ci_high",
    "paper_source",
    "note",
)
_FLOATS = ("paper", "ours", "ours_ci_low", "ours_ci_high")
_REQUIRED = ("study", "measure", "paper")


@dataclass(frozen=True)
class PaperValue:
    """One row of the paper-comparison table (see the module docstring for the fields)."""

    study: str
    measure: str
    paper: float
    ours: float = math.nan
    ours_ci_low: float = math.nan
    ours_ci_high: float = math.nan
    comparison: str = ""
    paper_source: str = ""
    note: str = ""


def lookup_estimate(
    statistics: pd.DataFrame,
    comparison: str,
    measure: str,
    column: str = "value",
    *,
    statistic: str = "estimate",
) -> tuple[float, float, float]:
    """One number of a tidy statistics table and its interval.

    Parameters
    ----------
    statistics
        A tidy table (:data:`qmrflow.stats.TIDY_COLUMNS`).
    comparison, measure, statistic
        The row (first match).
    column
        ``"value"`` (returned with ``ci_low``, ``ci_high``) or another numeric column such as
        ``"p"`` (returned with NaN bounds).

    Returns
    -------
    tuple of float
        ``(number, ci_low, ci_high)``; all NaN when no row matches.

    Raises
    ------
    ValueError
        The table lacks a needed column.
    """
    needed = ["comparison", "measure", "statistic", column]
    if column == "value":
        needed += ["ci_low", "ci_high"]
    missing = [c for c in needed if c not in statistics.columns]
    if missing:
        raise ValueError(f"statistics table lacks column(s) {missing}")
    hit = statistics[
        (statistics["comparison"] == comparison)
        & (statistics["measure"] == measure)
        & (statistics["statistic"] == statistic)
    ]
    if hit.empty:
        return (math.nan, math.nan, math.nan)
    row = hit.iloc[0]
    if column != "value":
        return (float(row[column]), math.nan, math.nan)
    return (float(row["value"]), float(row["ci_low"]), float(row["ci_high"]))


def paper_comparison_table(rows: Iterable[PaperValue | Mapping[str, Any]]) -> pd.DataFrame:
    """The paper-comparison table of a study, in the common column layout.

    Parameters
    ----------
    rows
        :class:`PaperValue` objects or mappings with their fields (``study``, ``measure`` and
        ``paper`` required; missing optional fields are NaN / empty).

    Returns
    -------
    pandas.DataFrame
        Columns exactly :data:`PAPER_COMPARISON_COLUMNS`, numbers as floats, in ``rows`` order.

    Raises
    ------
    ValueError
        A row lacks a required field or has an unknown one, or a number is not numeric.
    """
    records = []
    for index, row in enumerate(rows):
        record = asdict(row) if isinstance(row, PaperValue) else dict(row)
        missing = [k for k in _REQUIRED if k not in record]
        unknown = sorted(set(record) - set(PAPER_COMPARISON_COLUMNS))
        if missing or unknown:
            raise ValueError(
                f"paper-comparison row {index}: missing {missing}, unknown {unknown}"
                if unknown
                else f"paper-comparison row {index}: missing {missing}"
            )
        records.append(record)
    table = pd.DataFrame(records, columns=list(PAPER_COMPARISON_COLUMNS))
    for column in _FLOATS:
        try:
            table[column] = pd.to_numeric(table[column]).astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"paper-comparison column {column!r}: {exc}") from exc
    for column in ("comparison", "paper_source", "note"):
        table[column] = table[column].fillna("").astype(str)
    return table
