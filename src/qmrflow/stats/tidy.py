"""Long-format ("tidy") tables of statistical results.

Every result object in ``qmrflow.stats`` has a ``to_rows()`` method returning a list of dicts
with the keys of :data:`ROW_KEYS`; :func:`tidy` stacks them and adds the ``study`` and
``comparison`` columns. Any later statistic plugs in by implementing ``to_rows()``.

Row conventions
---------------
``measure``
    What is estimated: ``sensitivity``, ``auc``, ``cohen_kappa``, ``auc_difference``, ...
``statistic``
    Which number about it the row holds: ``estimate`` (with ``ci_low``/``ci_high`` and, for
    tests, ``p``), ``se``, ``se_null``, ``z``, ``count``, ...
``n``
    The sample size behind the row (the denominator for proportions).
``method``
    The estimator and interval/test used, with references.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["ROW_KEYS", "TIDY_COLUMNS", "SupportsRows", "tidy"]

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
TIDY_COLUMNS: tuple[str, ...] = ("study", "comparison", *ROW_KEYS)


@runtime_checkable
class SupportsRows(Protocol):
    """Anything that can describe itself as tidy rows."""

    def to_rows(self) -> list[dict[str, Any]]:
        """Rows with exactly the keys of :data:`ROW_KEYS`."""
        ...


def tidy(
    results: SupportsRows | Iterable[SupportsRows], *, study: str, comparison: str
) -> pd.DataFrame:
    """Stack result objects into one long-format table.

    Parameters
    ----------
    results
        One result object (anything with ``to_rows()``) or an iterable of them.
    study
        Study identifier, e.g. ``"yang2021"``.
    comparison
        What was compared, e.g. ``"CNN vs reference standard"``.

    Returns
    -------
    pandas.DataFrame
        Columns exactly :data:`TIDY_COLUMNS`: ``study``, ``comparison``, ``measure``,
        ``statistic``, ``value``, ``ci_low``, ``ci_high``, ``p``, ``n``, ``method``. ``value``,
        ``ci_low``, ``ci_high`` and ``p`` are float (NaN where not applicable, ``inf`` kept),
        ``n`` is the nullable integer dtype ``Int64``.

    Raises
    ------
    ValueError
        ``study`` or ``comparison`` is empty, or a row does not have exactly the expected keys.
    TypeError
        An element of ``results`` has no ``to_rows()`` method.
    """
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
            rows.append({"study": study, "comparison": comparison, **row})

    table = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    for column in ("study", "comparison", "measure", "statistic", "method"):
        table[column] = table[column].astype(object)
    for column in ("value", "ci_low", "ci_high", "p"):
        table[column] = pd.to_numeric(table[column], errors="raise").astype(np.float64)
    table["n"] = pd.array(
        [None if v is None or pd.isna(v) else int(v) for v in table["n"]], dtype="Int64"
    )
    return table
