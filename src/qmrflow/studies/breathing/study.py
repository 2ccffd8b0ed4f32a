"""Registry row of study ``breathing``: real-time MRI of breathing in Pompe disease."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from qmrflow.config import check_study_splits
from qmrflow.workflow.layout import StudySpec, with_id_prefix

#: The reconstructions compared, baseline first (:mod:`.reconstruct`).
METHODS: tuple[str, ...] = ("gridding", "sense")
#: The real-time tasks of every subject.
TASKS: tuple[str, ...] = ("breathing", "sniff")
#: The network the study trains (or applies, when given in the config).
MODELS: tuple[str, ...] = ("segmentation",)


def _demo_participants(demo: Mapping[str, Any]) -> pd.DataFrame:
    """The demo cohort's participants table, from the config's demo block."""
    from qmrflow.studies.breathing.simulate import demo_participants

    table = demo_participants(
        demo["n_patients"], demo["n_controls"], demo["seed"], splits=demo["splits"]
    )
    return with_id_prefix(table, demo["id_prefix"])


def _models(study: Mapping[str, Any]) -> list[str]:
    return list(MODELS)


STUDY = StudySpec(
    name="breathing",
    demo_participants=_demo_participants,
    models=_models,
    tables={
        "statistics": "statistics.tsv",
        "subjects": "subjects.tsv",
        "accuracy": "accuracy.tsv",
        "timing": "timing.tsv",
        "paper_comparison": "paper_comparison.tsv",
        "qc_index": "qc.tsv",
    },
    figures={
        "curves": "figures/diaphragm_curves.png",
        "measures": "figures/measures.png",
        "correlations": "figures/correlations.png",
        "reconstruction": "figures/reconstruction.png",
    },
    check_participants=check_study_splits,
    # Files BIDS has no name for (documented in config/README.md): raw real-time k-space in
    # ISMRMRD HDF5, reconstructed real-time series and their lung labels per frame, the
    # diaphragm ROI, the truth's curves and the study's tables and figures.
    bids_ignore={
        "raw": ("rtmri",),
        "labels": ("rtmri", "*_mask.nii.gz", "*_mask.json"),
        "truth": ("*_curves.tsv", "*_truth.tsv"),
        "derivatives": ("figures", "rtmri", "*.tsv"),
    },
    demo_derivatives=("truth", "labels"),
)
