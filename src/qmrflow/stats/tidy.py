"""Long-format ("tidy") tables of statistical results.

Every result object in ``qmrflow.stats`` has a ``to_rows()`` method returning a list of dicts
with the keys of :data:`ROW_KEYS`; :func:`tidy` stacks them and adds the ``study``,
``comparison`` and ``p_adjusted`` columns. Any later statistic plugs in by implementing
``to_rows()``. :func:`write_tidy` is the one way a study's group rule writes its statistics
table (TSV); :func:`read_tidy` reads it back with the right dtypes.

Row conventions
---------------
``measure``
    What is estimated: ``sensitivity``, ``auc``, ``cohen_kappa``, ``auc_difference``, ...
``statistic``
    Which number about it the row holds: ``estimate`` (with ``ci_low``/``ci_high`` and, for
    tests, ``p``), ``se``, ``null_se``, ``z``, ``count``, ...
``n``
    The sample size behind the row (the denominator for proportions).
``p_adjusted``
    The p-value adjusted for multiple comparisons by
    :func:`qmrflow.stats.multiplicity.adjust_table` (NaN when no correction was applied); the
    ``method`` column then names the correction and the family size.
``method``
    The estimator and interval/test used, with references.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from qmrflow.io.tables import read_tsv, write_tsv

__all__ = [
    "ROW_KEYS",
    "TIDY_COLUMNS",
    "SupportsRows",
    "check_tidy",
    "read_tidy",
    "tidy",
    "write_tidy",
]

logger = logging.getLogger(__name__)

ROW_KEYS: tuple[str, ...] = (
    "measure",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "p",
    "n",
    "method",
)
TIDY_COLUMNS: tuple[str, ...] = (
    "study",
    "comparison",
    "measure",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "p",
    "p_adjusted",
    "n",
    "method",
)
_FLOAT_COLUMNS = ("value", "ci_low", "ci_high", "p", "p_adjusted")
_TEXT_COLUMNS = ("study", "comparison", "measure", "statistic", "method")


@runtime_checkable
class SupportsRows(Protocol):
    """Anything that can describe itself as tidy rows."""

    def to_rows(self) -> list[dict[str, Any]]:
        """Rows with exactly the keys of :data:`ROW_KEYS`."""
        ...


def tidy(
    results: SupportsRows | Iterable[SupportsRows] | Mapping[str, Any],
    *,
    study: str,
    comparison: str | None = None,
) -> pd.DataFrame:
    """Stack result objects into one long-format table.

    Parameters
    ----------
    results
        One result object (anything with ``to_rows()``), an iterable of them, or a mapping
        ``comparison -> result(s)`` that tabulates several comparisons at once (then
        ``comparison`` must be omitted).
    study
        Study identifier, e.g. ``"dystrophy"``.
    comparison
        What was compared, e.g. ``"CNN vs reference standard"``; required unless ``results``
        is a mapping.

    Returns
    -------
    pandas.DataFrame
        Columns exactly :data:`TIDY_COLUMNS`: ``study``, ``comparison``, ``measure``,
        ``statistic``, ``value``, ``ci_low``, ``ci_high``, ``p``, ``p_adjusted``, ``n``,
        ``method``. The float columns are NaN where not applicable (``inf`` kept),
        ``p_adjusted`` is NaN until :func:`qmrflow.stats.multiplicity.adjust_table` fills it,
        ``n`` is the nullable integer dtype ``Int64``.

    Raises
    ------
    ValueError
        ``study`` or ``comparison`` is empty (or given together with a mapping), or a row does
        not have exactly the expected keys.
    TypeError
        An element of ``results`` has no ``to_rows()`` method.
    """
    if isinstance(results, Mapping):
        if comparison is not None:
            raise ValueError("comparison must be omitted when results is a mapping")
        frames = [tidy(items, study=study, comparison=name) for name, items in results.items()]
        if not frames:
            return _typed(pd.DataFrame(columns=list(TIDY_COLUMNS)))
        return pd.concat(frames, ignore_index=True)
    for name, label in (("study", study), ("comparison", comparison)):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"{name} must be a non-empty string, got {label!r}")
    items = [results] if isinstance(results, SupportsRows) else list(results)
    rows: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        if not isinstance(item, SupportsRows):
            raise TypeError(f"results[{position}] ({type(item).__name__}) has no to_rows() method")
        for row in item.to_rows():
            keys = set(row)
            if keys != set(ROW_KEYS):
                missing = sorted(set(ROW_KEYS) - keys)
                extra = sorted(keys - set(ROW_KEYS))
                raise ValueError(
                    f"results[{position}] ({type(item).__name__}) produced a row with "
                    f"missing keys {missing} and unexpected keys {extra}"
                )
            rows.append({"study": study, "comparison": comparison, **row, "p_adjusted": np.nan})
    return _typed(pd.DataFrame(rows, columns=list(TIDY_COLUMNS)))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """The tidy dtypes: text as object, floats as float64, ``n`` as nullable Int64."""
    table = table.copy()
    for column in _TEXT_COLUMNS:
        table[column] = table[column].astype(object)
    for column in _FLOAT_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="raise").astype(np.float64)
    table["n"] = pd.array(
        [None if v is None or pd.isna(v) else int(v) for v in table["n"]], dtype="Int64"
    )
    return table


def check_tidy(table: pd.DataFrame, name: str = "table") -> None:
    """ValueError unless ``table`` has exactly the columns of :data:`TIDY_COLUMNS`, in order."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    if list(table.columns) != list(TIDY_COLUMNS):
        raise ValueError(
            f"{name} is not a tidy statistics table: columns {list(table.columns)}, "
            f"expected {list(TIDY_COLUMNS)} (build it with qmrflow.stats.tidy)"
        )


def write_tidy(tables: pd.DataFrame | Iterable[pd.DataFrame], path: str | os.PathLike[str]) -> Path:
    """Write one or more tidy tables, stacked, as one TSV (atomically, full float precision).

    Raises
    ------
    ValueError
        A table does not have the tidy columns.
    """
    frames = [tables] if isinstance(tables, pd.DataFrame) else list(tables)
    for position, frame in enumerate(frames):
        check_tidy(frame, f"tables[{position}]")
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else _typed(pd.DataFrame(columns=list(TIDY_COLUMNS)))
    )
    # 10 significant digits: enough for a published example's precision, stable across runs.
    written = write_tsv(table, path, float_format="%.10g")
    logger.info("%d statistics rows written to %s", len(table), written)
    return written


def read_tidy(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by :func:`write_tidy` with the tidy dtypes.

    Raises
    ------
    ValueError
        The file does not have the tidy columns (the message names the file).
    """
    table = read_tsv(path)
    check_tidy(table, str(path))
    return _typed(table)
