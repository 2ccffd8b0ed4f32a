"""Registry row of study ``dystrophy``: DL diagnosis of dystrophinopathy on thigh T1w MRI."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from qmrflow.config import check_splits_present, check_training_splits
from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES
from qmrflow.workflow.layout import StudyLayout, StudySpec, with_id_prefix
from qmrflow.workflow.missing import SUBJECT, RequiredInput


def _demo_participants(demo: Mapping[str, Any]) -> pd.DataFrame:
    """The demo cohort's participants table, from the config's demo block (the table the
    demo's participants rule writes)."""
    from qmrflow.studies.dystrophy.simulate import demo_participants

    return with_id_prefix(demo_participants(demo["n_cases"], demo["seed"]), demo["id_prefix"])


def _models(study: Mapping[str, Any]) -> list[str]:
    return list(study["model"]["architectures"])


def _check_participants(table: pd.DataFrame, training: bool, file: Path) -> None:
    if training:
        check_training_splits(table, positive=POSITIVE_DIAGNOSES, file=file)
    check_splits_present(table, splits=("test",), file=file)


def _required_inputs(layout: StudyLayout, split: str) -> list[RequiredInput]:
    """A subject's images, when it is tested or trained on: its T1w stack, 2D slice files
    (qmrflow's older form) or a DICOM series (rules/dystrophy/inputs.smk finds them)."""
    if split != "test" and not layout.models_to_train:
        return []
    anat = Path(layout.dataset_file("T1w", sub=SUBJECT)).parent
    return [
        RequiredInput.one_of(
            "T1w images",
            [anat / f"sub-{SUBJECT}_T1w.nii*"],
            [anat / f"sub-{SUBJECT}_slice-*_T1w.nii*"],
            [f"{layout.root}/sourcedata/sub-{SUBJECT}/"],
            [f"{anat.parent}/dicom/"],
        )
    ]


STUDY = StudySpec(
    name="dystrophy",
    demo_participants=_demo_participants,
    models=_models,
    tables={
        "predictions": "predictions.tsv",
        "statistics": "statistics.tsv",
        "metrics": "metrics.tsv",
        "roc": "roc.tsv",
        "model_comparison": "model_comparison.tsv",
        "paper_comparison": "paper_comparison.tsv",
    },
    figures={
        "roc": "figures/roc.png",
        "cam_panel": "figures/cam_panel.png",
        "training": "figures/training_curves.png",
    },
    training_sections=("roi",),
    # Adding an architecture must not retrain the others.
    untrained_model_keys=("architectures", "trained"),
    check_participants=_check_participants,
    # Files BIDS has no name for (documented in config/README.md).
    bids_ignore={
        "raw": ("/ratings.tsv",),
        "truth": ("*_fatfraction.tsv",),
        "derivatives": (
            "figures",
            "*_roi.tsv",
            "*_probabilities.tsv",
            "*_cam.nii.gz",
        ),
    },
    demo_derivatives=("truth",),
    required_inputs=_required_inputs,
)
