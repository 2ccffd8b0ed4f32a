"""Tab-separated tables and JSON side files, written atomically.

pandas is imported where a table is read, not with this module: per-subject DL jobs import
``qmrflow.io`` for NIfTI and JSON only, and pandas' import (~0.3 s) is a large share of their
start-up (``benchmarks/inference_startup.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmrflow.errors import InputDataError
from qmrflow.io.atomic import atomic_output
from qmrflow.io.bids import bare_labels

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd


def read_tsv(path: str | os.PathLike[str], *, subject: str | None = None) -> pd.DataFrame:
    """Read a TSV with every column as string-preserving pandas types (ids stay text).

    A ``participant_id`` column is read as bare labels: BIDS tables write ``sub-<label>``,
    qmrflow's own tables and its subject wildcards hold ``<label>``; the prefix is removed here
    once, for every table (participants, ratings, per-subject results).

    Raises
    ------
    InputDataError
        The file is missing or not parseable as a table.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputDataError("file not found", subject=subject, path=path)
    try:
        table = pd.read_csv(path, sep="\t", dtype={"participant_id": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputDataError(
            f"not a readable TSV table: {exc}", subject=subject, path=path
        ) from exc
    if "participant_id" in table.columns:
        table["participant_id"] = bare_labels(table["participant_id"])
    return table


def typed_table(
    table: pd.DataFrame, columns: Sequence[str], numeric: Sequence[str], name: str
) -> pd.DataFrame:
    """A typed copy of a results table: ``numeric`` columns as floats, ``participant_id`` (when
    a column) as text.

    Raises
    ------
    ValueError
        Not a DataFrame, one of ``columns`` missing, no rows, or non-numeric values in a
        ``numeric`` column; the message names the table (``name``) and the column.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; has {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{name} is empty")
    out = table.copy()
    if "participant_id" in out.columns:
        out["participant_id"] = out["participant_id"].astype(str)
    for column in numeric:
        values = pd.to_numeric(out[column], errors="coerce")
        bad = values.isna() & out[column].notna()
        if bad.any():
            raise ValueError(
                f"{name} column {column!r} holds non-numeric values, e.g. "
                f"{out.loc[bad, column].iloc[0]!r}"
            )
        out[column] = values.astype(float)
    return out


def write_tsv(
    table: pd.DataFrame, path: str | os.PathLike[str], *, float_format: str = "%.6g"
) -> Path:
    """Write a table as TSV (no index) atomically."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format, na_rep="n/a")
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON (indented, keys sorted) atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)
