"""The dataset-level files of a simulated demo dataset, so that it is valid BIDS.

A demo dataset is a raw BIDS dataset (participants table with its JSON, dataset description,
``.bidsignore`` for the study's files BIDS has no name for) with derivative datasets beside it
under ``derivatives/<pipeline>`` (the ground truth, labels), each with its own description.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmrflow.io.bids import write_dataset_files, write_participants

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]


def dataset_level_files(
    root: PathLike, *, pipelines: Sequence[str], ignore: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Key -> path of every dataset-level file :func:`write_demo_dataset` writes.

    Keys: ``participants``, ``participants_json``, ``description`` and, when the raw dataset
    has ignore patterns, ``bidsignore``; per pipeline ``<pipeline>_description`` and, with
    patterns, ``<pipeline>_bidsignore``.
    """
    root = str(root).rstrip("/")
    files = {
        "participants": f"{root}/participants.tsv",
        "participants_json": f"{root}/participants.json",
        "description": f"{root}/dataset_description.json",
    }
    if ignore.get("raw"):
        files["bidsignore"] = f"{root}/.bidsignore"
    for pipeline in pipelines:
        files[f"{pipeline}_description"] = f"{root}/derivatives/{pipeline}/dataset_description.json"
        if ignore.get(pipeline):
            files[f"{pipeline}_bidsignore"] = f"{root}/derivatives/{pipeline}/.bidsignore"
    return files


def write_demo_dataset(
    root: PathLike,
    *,
    study: str,
    participants: pd.DataFrame,
    schema: Mapping[str, Any],
    pipelines: Sequence[str],
    ignore: Mapping[str, Sequence[str]],
) -> list[Path]:
    """Write the dataset-level files of study ``study``'s demo dataset under ``root``.

    Parameters
    ----------
    root
        The demo dataset's folder.
    study
        The study's name (in the descriptions).
    participants
        The demo cohort (bare labels; written as ``sub-<label>``).
    schema
        The participants schema (the column descriptions of ``participants.json``).
    pipelines
        The derivative pipelines the demo writes (``derivatives/<pipeline>``).
    ignore
        ``.bidsignore`` patterns by dataset (``raw`` and pipeline names).

    Returns
    -------
    list of Path
        Every file written.
    """
    written = list(write_participants(participants, root, schema))
    written += write_dataset_files(
        root,
        name=f"qmrflow demo cohort: study {study}",
        dataset_type="raw",
        generated_by=f"simulated demo cohort of study {study}, with known ground truth",
        ignore=ignore.get("raw", ()),
    )
    for pipeline in pipelines:
        written += write_dataset_files(
            Path(root, "derivatives", pipeline),
            name=f"qmrflow demo cohort: study {study}, {pipeline}",
            dataset_type="derivative",
            generated_by=f"the simulation of the demo cohort of study {study} ({pipeline})",
            ignore=ignore.get(pipeline, ()),
            source=root,
        )
    return written
