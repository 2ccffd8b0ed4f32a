"""Registry row of study ``qsm``: DL-reconstructed 3D-EPI QSM in multiple sclerosis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from qmrflow.config import check_study_splits
from qmrflow.workflow.layout import StudyLayout, StudySpec, with_id_prefix
from qmrflow.workflow.missing import SUBJECT, RequiredInput

#: The acquisitions of every subject: the reference GRE, then 2- and 1-average 3D-EPI.
ACQUISITIONS: tuple[str, ...] = ("gre", "epi2avg", "epi1avg")
#: The fast acquisitions the DL reconstruction is for.
EPI: tuple[str, ...] = ("epi2avg", "epi1avg")
#: Reconstructions: conventional (every acquisition) and deep learning (EPI only).
RECONS: tuple[str, ...] = ("cr", "dlr")
#: Dipole inversions compared: direct (TKD) and iterative regularised (TV-ADMM).
INVERSIONS: tuple[str, ...] = ("tkd", "tv")
#: The network the study trains (or applies, when given in the config).
MODELS: tuple[str, ...] = ("reconstruction",)
#: The parts of a user's MEGRE images, one file per echo each.
PARTS: tuple[str, ...] = ("mag", "phase")


def acquisitions_of(recon: str) -> tuple[str, ...]:
    """The acquisitions a reconstruction is made of (DLR: the EPI only)."""
    return EPI if recon == "dlr" else ACQUISITIONS


def _demo_participants(demo: Mapping[str, Any]) -> pd.DataFrame:
    """The demo cohort's participants table, from the config's demo block."""
    from qmrflow.studies.qsm.simulate import demo_participants

    table = demo_participants(demo["n_subjects"], demo["seed"], splits=demo["splits"])
    return with_id_prefix(table, demo["id_prefix"])


def _models(study: Mapping[str, Any]) -> list[str]:
    return list(MODELS)


def _required_inputs(layout: StudyLayout, split: str) -> list[RequiredInput]:
    """Every acquisition as raw k-space or as MEGRE magnitude and phase images; for a test
    subject also its FLAIR, lesion labels and tissue labels (the reference region)."""
    from qmrflow.studies.qsm.simulate.files import subject_paths

    test = split == "test"
    if not test and not layout.models_to_train:
        return []
    paths = subject_paths(layout.root, SUBJECT)
    anat = paths["flair"].parent
    required = [
        RequiredInput.one_of(
            f"acq-{acq}",
            [paths[f"kspace_{acq}"]],
            [anat / f"sub-{SUBJECT}_acq-{acq}_echo-*_part-{part}_MEGRE.nii*" for part in PARTS],
        )
        for acq in ACQUISITIONS
    ]
    if test:
        required += [
            RequiredInput.files(kind, paths[key])
            for kind, key in (
                ("FLAIR", "flair"),
                ("lesion labels", "lesions"),
                ("tissue labels", "aseg"),
            )
        ]
    return required


STUDY = StudySpec(
    name="qsm",
    demo_participants=_demo_participants,
    models=_models,
    tables={
        "statistics": "statistics.tsv",
        "ratings": "ratings.tsv",
        "lesions": "lesions.tsv",
        "rois": "rois.tsv",
        "agreement": "agreement.tsv",
        "accuracy": "accuracy.tsv",
        "timing": "timing.tsv",
        "paper_comparison": "paper_comparison.tsv",
    },
    figures={
        "panels": "figures/qsm_panels.png",
        "lesions": "figures/lesions.png",
        "agreement": "figures/agreement.png",
        "ratings": "figures/ratings.png",
    },
    check_participants=check_study_splits,
    # Files BIDS has no name for (documented in config/README.md): raw multi-coil k-space in
    # ISMRMRD HDF5, the reconstructions' echo series (4D, echo last), QSM maps per inversion,
    # the demo's lesion truth and the study's tables and figures.
    bids_ignore={
        "raw": ("kspace",),
        "truth": ("*_lesions.tsv",),
        "derivatives": ("*_MEGRE.*", "*_Chimap.*", "*.tsv"),
    },
    demo_derivatives=("truth", "labels"),
    required_inputs=_required_inputs,
)
