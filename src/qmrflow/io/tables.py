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
