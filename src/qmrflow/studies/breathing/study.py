"""Registry row of study ``breathing``: real-time MRI of breathing in Pompe disease."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from qmrflow.config import check_study_splits
from qmrflow.workflow.layout import StudyLayout, StudySpec, with_id_prefix
from qmrflow.workflow.missing import SUBJECT, RequiredInput

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


def _required_inputs(layout: StudyLayout, split: str) -> list[RequiredInput]:
    """Every task's raw k-space; for a test subject also its inversion-recovery images and the
    diaphragm ROI of the T1 slice, for a training subject its lung labels per task."""
    test = split == "test"
    if not test and not layout.models_to_train:
        return []
    required = [
        RequiredInput.files(
            f"k-space task-{task}",
            layout.dataset_file("kspace", ".h5", sub=SUBJECT, task=task, datatype="rtmri"),
        )
        for task in TASKS
    ]
    if test:
        anat = Path(layout.dataset_file("IRT1", sub=SUBJECT, inv=1)).parent
        roi = layout.dataset_derivative("labels", "mask", sub=SUBJECT, desc="diaphragm")
        required += [
            RequiredInput.files("IRT1 images", anat / f"sub-{SUBJECT}_inv-*_IRT1.nii.gz"),
            RequiredInput.files("diaphragm ROI", roi),
        ]
    else:
        required += [
            RequiredInput.files(
                f"lung labels task-{task}",
                layout.dataset_derivative(
                    "labels", "dseg", sub=SUBJECT, task=task, desc="lungs", datatype="rtmri"
                ),
            )
            for task in TASKS
        ]
    return required


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
    required_inputs=_required_inputs,
)
