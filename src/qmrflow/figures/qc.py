"""The index of every subject's QC images, one table per study."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_qc_index"]

PathLike = str | os.PathLike[str]


def write_qc_index(images: Mapping[str, Mapping[str, PathLike]], path: PathLike) -> None:
    """The table of every subject's QC images, relative to the table's folder.

    ``images`` maps each kind of image (a column, e.g. ``strip``, ``animation``) to
    ``{subject: file}``; the table has ``participant_id`` and one column per kind, one row per
    subject of the first kind, so a reader finds each subject's check from the group folder.
    """
    import pandas as pd

    from qmrflow.io import write_tsv

    base = Path(path).resolve().parent

    def relative(file: PathLike) -> str:
        return os.path.relpath(Path(file).resolve(), base)

    kinds = list(images)
    subjects = list(images[kinds[0]]) if kinds else []
    rows = [
        {"participant_id": subject} | {kind: relative(images[kind][subject]) for kind in kinds}
        for subject in subjects
    ]
    write_tsv(pd.DataFrame(rows, columns=["participant_id", *kinds]), path)
