"""Registry row of study ``perfusion``: DL vs iterative motion correction of stress CMR."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from qmrflow.config import check_study_splits
from qmrflow.io.bids import sidecar_path
from qmrflow.workflow.layout import StudyLayout, StudySpec, with_id_prefix
from qmrflow.workflow.missing import SUBJECT, RequiredInput

#: The alignments compared, in the order of the tables: none, iterative, DL.
METHODS: tuple[str, ...] = ("none", "iterative", "dl")

#: The networks the study trains (or applies, when given in the config).
MODELS: tuple[str, ...] = ("registration", "segmentation")


def _demo_participants(demo: Mapping[str, Any]) -> pd.DataFrame:
    """The demo cohort's participants table, from the config's demo block (the table the
    demo's participants rule writes)."""
    from qmrflow.studies.perfusion.simulate import demo_participants

    return with_id_prefix(demo_participants(demo["n_subjects"], demo["seed"]), demo["id_prefix"])


def _models(study: Mapping[str, Any]) -> list[str]:
    return list(MODELS)


def _required_inputs(layout: StudyLayout, split: str) -> list[RequiredInput]:
    """A test subject's stress and AIF series with their sidecars (frame times) and PD images;
    a training subject's stress series, and its labels per frame when the U-Net is trained."""

    def series(acq: str, suffix: str = "perf") -> str:
        return layout.dataset_file(suffix, sub=SUBJECT, acq=acq, datatype="perf")

    def with_sidecar(acq: str) -> RequiredInput:
        return RequiredInput.files(f"{acq} series", series(acq), sidecar_path(series(acq)))

    if split == "test":
        return [
            with_sidecar("stress"),
            with_sidecar("aif"),
            *(RequiredInput.files(f"{acq} PD", series(acq, "PD")) for acq in ("stress", "aif")),
        ]
    training = set(layout.models_to_train)
    required = [with_sidecar("stress")] if training else []
    if "segmentation" in training:
        labels = layout.dataset_derivative(
            "labels", "dseg", sub=SUBJECT, acq="stress", desc="frames", datatype="perf"
        )
        required.append(RequiredInput.files("stress labels", labels))
    return required


STUDY = StudySpec(
    name="perfusion",
    demo_participants=_demo_participants,
    models=_models,
    tables={
        "statistics": "statistics.tsv",
        "methods": "methods.tsv",
        "subjects": "subjects.tsv",
        "paper_comparison": "paper_comparison.tsv",
        "qc_index": "qc.tsv",
    },
    figures={
        "curves": "figures/curves.png",
        "bullseye": "figures/bullseye.png",
        "dice": "figures/dice.png",
        "measures": "figures/measures.png",
        "paper": "figures/paper_comparison.png",
    },
    # The registration network learns from the robust-PCA references the registration section
    # configures.
    training_sections=("registration",),
    check_participants=check_study_splits,
    # Files BIDS has no name for (documented in config/README.md): dynamic cardiac perfusion
    # series and their proton-density images, displacement fields, label maps per frame and
    # the study's tables.
    bids_ignore={
        "raw": ("*_perf.nii.gz", "*_perf.json", "*_PD.nii.gz", "*_PD.json"),
        "truth": (
            "*_xfm.nii.gz",
            "*_xfm.json",
            "*_dseg.nii.gz",
            "*_dseg.json",
            "*_mbf.nii.gz",
            "*_mbf.json",
            "*_segments.tsv",
            "*_aif.tsv",
        ),
        "labels": ("*_dseg.nii.gz", "*_dseg.json"),
        "derivatives": (
            "figures",
            "*_perf.nii.gz",
            "*_perf.json",
            "*_PD.nii.gz",
            "*_PD.json",
            "*_xfm.nii.gz",
            "*_xfm.json",
            "*_dseg.nii.gz",
            "*_dseg.json",
            "*_mbf.nii.gz",
            "*_mbf.json",
            "*.tsv",
        ),
    },
    demo_derivatives=("truth", "labels"),
    required_inputs=_required_inputs,
)
