"""Registry row of study ``synthmri``: synthetic-MRI T1/T2/PD mapping with DL super-resolution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from qmrflow.config import check_study_splits
from qmrflow.errors import ConfigError
from qmrflow.io.bids import sidecar_path
from qmrflow.workflow.layout import StudyLayout, StudySpec, with_id_prefix
from qmrflow.workflow.missing import SUBJECT, RequiredInput

#: The quantitative maps of every method, in the order of the tables.
MAPS: tuple[str, ...] = ("T1map", "T2map", "PDmap")


def _demo_participants(demo: Mapping[str, Any]) -> pd.DataFrame:
    """The demo cohort's participants table, from the config's demo block (the table the
    demo's participants rule writes)."""
    from qmrflow.studies.synthmri.simulate import demo_participants

    return with_id_prefix(demo_participants(demo["n_subjects"], demo["seed"]), demo["id_prefix"])


def _models(study: Mapping[str, Any]) -> list[str]:
    return ["generator"]


def _check_config(study: Mapping[str, Any], configfile: str | None) -> None:
    """The demo's fast protocol must match the generator's upsampling factor."""
    if study["dataset"] != "demo":
        return
    fraction = study["demo"]["fast_phase_fraction"]
    if round(1 / fraction) != study["model"]["scale"][1]:
        raise ConfigError(
            f"fast_phase_fraction {fraction} needs model.scale [1, {round(1 / fraction)}], got "
            f"{study['model']['scale']}",
            file=configfile,
            location="synthmri.demo.fast_phase_fraction",
        )


def _required_inputs(layout: StudyLayout, split: str) -> list[RequiredInput]:
    """A subject's routine and fast MDME images with their sidecars (the fit reads the
    timing there), when it is tested or trained on; the labels are optional."""
    if split != "test" and not layout.models_to_train:
        return []
    required = []
    for acq in ("routine", "fast"):
        image = layout.dataset_file("MDME", sub=SUBJECT, acq=acq)
        required.append(RequiredInput.files(f"MDME acq-{acq}", image, sidecar_path(image)))
    return required


STUDY = StudySpec(
    name="synthmri",
    demo_participants=_demo_participants,
    models=_models,
    tables={
        "statistics": "statistics.tsv",
        "rois": "rois.tsv",
        "quality": "quality.tsv",
        "quality_summary": "quality_summary.tsv",
        "accuracy": "accuracy.tsv",
        "paper_comparison": "paper_comparison.tsv",
    },
    figures={
        "agreement_T1": "figures/agreement_T1.png",
        "agreement_T2": "figures/agreement_T2.png",
        "agreement_PD": "figures/agreement_PD.png",
        "examples": "figures/example_maps.png",
        "quality": "figures/image_quality.png",
        "paper": "figures/paper_comparison.png",
        "lesions": "figures/lesions.png",
    },
    training_sections=("mapping",),
    check_participants=check_study_splits,
    check_config=_check_config,
    # Files BIDS has no name for (documented in config/README.md): the MDME acquisition has no
    # BIDS suffix, nor do the fit's residual and the stack of synthetic contrasts.
    bids_ignore={
        "raw": ("*_MDME.nii.gz", "*_MDME.json"),
        "labels": ("/desc-regions_dseg.tsv",),
        "derivatives": (
            "*_desc-residual_map.nii.gz",
            "*_desc-synthetic_MRI.nii.gz",
            "*_desc-synthetic_MRI.json",
            "*_rois.tsv",
            "*_quality.tsv",
        ),
    },
    demo_derivatives=("truth", "labels"),
    required_inputs=_required_inputs,
)
