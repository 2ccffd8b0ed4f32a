"""The table of studies the workflow contract (test_studies.py) runs over: one row per study.

A row holds a tiny configuration of the study's demo, the names of its per-subject and group
rules, and how to change or break one test subject's input. A new study adds a row here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np


@dataclass(frozen=True)
class Breakage:
    """One test subject's broken input and what its failing job must report."""

    broken: Path  #: the broken input file
    rule: str  #: the per-subject rule that fails
    log: str  #: its log, relative to results/logs/<rule>/, with {subject}
    expected: tuple[str, ...]  #: text the log must hold (besides sub-<id>), with {subject}
    absent: tuple[str, ...]  #: that job's outputs, relative to the workdir, with {subject}


@dataclass(frozen=True)
class StudyCase:
    """What the workflow contract needs to know about one study."""

    name: str
    config: dict  #: the study's section of a tiny demo configuration
    subject_rules: frozenset[str]  #: rules run per test subject
    group_rules: frozenset[str]  #: group rules that follow a test subject's change
    train_rules: frozenset[str]  #: rules that train the study's models
    subject_outputs: tuple[str, ...]  #: a test subject's last per-subject outputs, with {subject}
    demo_rule: str  #: the rule that simulates one demo subject's input
    change: Callable[[Path, str], None]  #: alter one subject's input (dataset root, subject)
    breakage: Callable[[Path, str], Breakage]  #: break one subject's input (dataset root, subject)
    bad_config: tuple[dict, str]  #: a bad value of the study's section and the error's key
    first_log: str  #: the log of a subject's first job, relative to results/logs, with {subject}
    #: a change of the study's section and the one rule whose params it changes (a group rule;
    #: besides the rules that record the whole section, e.g. describe_derivatives)
    parameter: tuple[dict, str]

    def tiny(self, **demo) -> dict:
        """The whole tiny configuration, with demo settings overridden."""
        section = json.loads(json.dumps(self.config))
        section["demo"].update(demo)
        return {"studies": [self.name], self.name: section}


def _scale_image(path: Path, factor: float = 1.01) -> None:
    image = nib.load(path)
    data = image.get_fdata().astype(np.float32) * factor
    nib.save(nib.Nifti1Image(data, image.affine, image.header), path)


# ------------------------------------------------------------------ dystrophy
def _dystrophy_stack(root: Path, subject: str) -> Path:
    return root / f"sub-{subject}/anat/sub-{subject}_T1w.nii.gz"


def _dystrophy_change(root: Path, subject: str) -> None:
    _scale_image(_dystrophy_stack(root, subject))


def _dystrophy_break(root: Path, subject: str) -> Breakage:
    broken = _dystrophy_stack(root, subject)
    broken.write_bytes(b"\x00garbage" * 50)
    return Breakage(
        broken=broken,
        rule="localise_dystrophy_roi",
        log="sub-{subject}.log",
        expected=("sub-{subject}_T1w.nii.gz",),
        absent=(
            "results/dystrophy/sub-{subject}/anat/sub-{subject}_roi.tsv",
            "results/dystrophy/sub-{subject}/anat/sub-{subject}_desc-roi_T1w.nii.gz",
        ),
    )


DYSTROPHY = StudyCase(
    name="dystrophy",
    config={
        "demo": {"n_cases": 14, "slices_per_case": 2, "image_shape": [128, 96]},
        "roi": {"out_shape": [64, 32]},
        "model": {"architectures": ["resnet10-lite"], "epochs": 2, "batch_size": 8},
    },
    subject_rules=frozenset(
        {"localise_dystrophy_roi", "classify_dystrophy_subject", "write_qc_page"}
    ),
    group_rules=frozenset({"evaluate_dystrophy", "plot_dystrophy_figures", "index_qc_pages"}),
    train_rules=frozenset({"train_dystrophy_classifier"}),
    subject_outputs=(
        "results/dystrophy/sub-{subject}/sub-{subject}_probabilities.tsv",
        "results/qc/dystrophy/sub-{subject}.html",
    ),
    demo_rule="simulate_dystrophy_subject",
    change=_dystrophy_change,
    breakage=_dystrophy_break,
    bad_config=({"model": {"epochs": -3}}, "dystrophy.model.epochs"),
    first_log="localise_dystrophy_roi/sub-{subject}.log",
    parameter=({"confidence": 0.9}, "evaluate_dystrophy"),
)


# ------------------------------------------------------------------ synthmri
def _mdme(root: Path, subject: str, acq: str) -> Path:
    return root / f"sub-{subject}/anat/sub-{subject}_acq-{acq}_MDME.nii.gz"


def _synthmri_change(root: Path, subject: str) -> None:
    _scale_image(_mdme(root, subject, "fast"))


def _synthmri_break(root: Path, subject: str) -> Breakage:
    sidecar = _mdme(root, subject, "routine").with_name(f"sub-{subject}_acq-routine_MDME.json")
    meta = json.loads(sidecar.read_text())
    meta["EchoTime"] = meta["EchoTime"][:-1]  # one echo time short of the 8 volumes
    sidecar.write_text(json.dumps(meta))
    return Breakage(
        broken=sidecar,
        rule="fit_synthmri_maps",
        log="sub-{subject}_acq-routine.log",
        expected=("EchoTime has 7 value(s)", sidecar.name),
        absent=("results/synthmri/sub-{subject}/anat/sub-{subject}_acq-routine_T1map.nii.gz",),
    )


SYNTHMRI = StudyCase(
    name="synthmri",
    config={
        "demo": {"n_subjects": 6, "n_slices": 2, "matrix": [64, 80]},
        "model": {
            "residual_blocks": 1,
            "channels": 8,
            "pretrain_epochs": 1,
            "adversarial_epochs": 1,
            "batch_size": 4,
        },
    },
    subject_rules=frozenset(
        {
            "fit_synthmri_maps",
            "superresolve_synthmri_subject",
            "measure_synthmri_subject",
            "write_qc_page",
        }
    ),
    group_rules=frozenset({"evaluate_synthmri", "plot_synthmri_figures", "index_qc_pages"}),
    train_rules=frozenset({"train_synthmri_superresolution"}),
    subject_outputs=(
        "results/synthmri/sub-{subject}/sub-{subject}_rois.tsv",
        "results/qc/synthmri/sub-{subject}.html",
    ),
    demo_rule="simulate_synthmri_subject",
    change=_synthmri_change,
    breakage=_synthmri_break,
    bad_config=({"model": {"adversarial_weight": -1}}, "synthmri.model.adversarial_weight"),
    first_log="fit_synthmri_maps/sub-{subject}_acq-routine.log",
    parameter=({"confidence": 0.9}, "evaluate_synthmri"),
)


# ------------------------------------------------------------------ perfusion
def _perfusion_series(root: Path, subject: str) -> Path:
    return root / f"sub-{subject}/perf/sub-{subject}_acq-stress_perf.nii.gz"


def _perfusion_change(root: Path, subject: str) -> None:
    _scale_image(_perfusion_series(root, subject))


def _perfusion_break(root: Path, subject: str) -> Breakage:
    sidecar = _perfusion_series(root, subject).with_name(f"sub-{subject}_acq-stress_perf.json")
    meta = json.loads(sidecar.read_text())
    meta["FrameTimes"] = meta["FrameTimes"][:-1]  # one frame time short of the frames
    sidecar.write_text(json.dumps(meta))
    return Breakage(
        broken=sidecar,
        rule="correct_perfusion_motion",
        log="sub-{subject}_desc-iterative.log",
        expected=("FrameTimes", sidecar.name),
        absent=(
            "results/perfusion/sub-{subject}/perf/sub-{subject}_acq-stress_desc-iterative_perf.nii.gz",
        ),
    )


PERFUSION = StudyCase(
    name="perfusion",
    config={
        "demo": {"n_subjects": 6, "n_frames": 12},
        # one affine round against a 3-component PCA reference: the method's shape, quickly
        "registration": {"iterative": {"lambdas": [], "components": [3], "bspline_mesh": None}},
        "model": {"registration": {"epochs": 2}, "segmentation": {"epochs": 2}},
    },
    subject_rules=frozenset(
        {
            "correct_perfusion_motion",
            "correct_perfusion_motion_dl",
            "segment_perfusion_subject",
            "measure_perfusion_subject",
            "plot_perfusion_subject",
            "write_qc_page",
        }
    ),
    group_rules=frozenset(
        {"evaluate_perfusion", "plot_perfusion_figures", "index_perfusion_qc", "index_qc_pages"}
    ),
    train_rules=frozenset({"train_perfusion_registration", "train_perfusion_segmentation"}),
    subject_outputs=(
        "results/perfusion/sub-{subject}/sub-{subject}_desc-dl_segments.tsv",
        "results/qc/perfusion/sub-{subject}.html",
    ),
    demo_rule="simulate_perfusion_subject",
    change=_perfusion_change,
    breakage=_perfusion_break,
    bad_config=(
        {"model": {"registration": {"epochs": 0}}},
        "perfusion.model.registration.epochs",
    ),
    first_log="correct_perfusion_motion/sub-{subject}_desc-none.log",
    parameter=({"confidence": 0.9}, "evaluate_perfusion"),
)


# ------------------------------------------------------------------ breathing
def _breathing_kspace(root: Path, subject: str) -> Path:
    return root / f"sub-{subject}/rtmri/sub-{subject}_task-sniff_kspace.h5"


def _breathing_change(root: Path, subject: str) -> None:
    from qmrflow.io import read_radial_series, write_radial_series

    path = _breathing_kspace(root, subject)
    series = read_radial_series(path)
    write_radial_series(
        path,
        series.kspace * np.complex64(1.01),
        series.trajectory,
        series.frame_times,
        matrix=series.matrix,
        fov_mm=series.fov_mm,
        field_strength=series.field_strength,
        protocol=series.protocol,
        affine=series.affine,
    )


def _breathing_break(root: Path, subject: str) -> Breakage:
    sidecar = root / f"sub-{subject}/anat/sub-{subject}_inv-3_IRT1.json"
    meta = json.loads(sidecar.read_text())
    meta["InversionTime"] = meta["InversionTime"] * 1000  # milliseconds, not seconds
    sidecar.write_text(json.dumps(meta))
    return Breakage(
        broken=sidecar,
        rule="fit_breathing_t1",
        log="sub-{subject}.log",
        expected=("milliseconds", sidecar.name),
        absent=(
            "results/breathing/sub-{subject}/sub-{subject}_t1.tsv",
            "results/breathing/sub-{subject}/anat/sub-{subject}_T1map.nii.gz",
        ),
    )


BREATHING = StudyCase(
    name="breathing",
    config={
        "demo": {
            "n_patients": 2,
            "n_controls": 2,
            "splits": [1, 1, 2],
            "breathing_s": 7.0,
            "sniff_s": 3.0,
            "frame_s": 0.1,
            "n_coils": 4,
        },
        "reconstruction": {"sense": {"iterations": 2}},
        "model": {"segmentation": {"epochs": 2, "frames_per_series": 4}},
    },
    subject_rules=frozenset(
        {
            "reconstruct_breathing_subject",
            "segment_breathing_subject",
            "measure_breathing_subject",
            "plot_breathing_subject",
            "write_qc_page",
        }
    ),
    group_rules=frozenset(
        {"evaluate_breathing", "plot_breathing_figures", "index_breathing_qc", "index_qc_pages"}
    ),
    train_rules=frozenset({"train_breathing_segmentation"}),
    subject_outputs=(
        "results/breathing/sub-{subject}/sub-{subject}_rec-sense_measures.tsv",
        "results/breathing/sub-{subject}/sub-{subject}_rec-gridding_measures.tsv",
        "results/qc/breathing/sub-{subject}.html",
    ),
    demo_rule="simulate_breathing_subject",
    change=_breathing_change,
    breakage=_breathing_break,
    bad_config=(
        {"reconstruction": {"sense": {"iterations": 0}}},
        "breathing.reconstruction.sense.iterations",
    ),
    first_log="reconstruct_breathing_subject/sub-{subject}.log",
    parameter=({"confidence": 0.9}, "evaluate_breathing"),
)


# ------------------------------------------------------------------ qsm
def _qsm_kspace(root: Path, subject: str, acq: str) -> Path:
    return root / f"sub-{subject}/kspace/sub-{subject}_acq-{acq}_kspace.h5"


def _qsm_change(root: Path, subject: str) -> None:
    from qmrflow.io import read_cartesian_echoes, write_cartesian_echoes

    path = _qsm_kspace(root, subject, "gre")
    raw = read_cartesian_echoes(path)
    write_cartesian_echoes(
        path,
        raw.kspace * np.complex64(1.01),
        raw.echo_times,
        fov_mm=raw.fov_mm,
        encoded=raw.encoded,
        affine=raw.affine,
        field_strength=raw.field_strength,
        protocol=raw.protocol,
    )


def _qsm_break(root: Path, subject: str) -> Breakage:
    broken = _qsm_kspace(root, subject, "epi1avg")
    broken.write_bytes(b"\x00garbage" * 50)
    return Breakage(
        broken=broken,
        rule="reconstruct_qsm_subject",
        log="sub-{subject}.log",
        expected=(broken.name,),
        absent=(
            "results/qsm/sub-{subject}/anat/sub-{subject}_acq-gre_rec-cr_part-mag_MEGRE.nii.gz",
            "results/qsm/sub-{subject}/anat/sub-{subject}_acq-epi1avg_rec-cr_part-phase_MEGRE.nii.gz",
        ),
    )


QSM = StudyCase(
    name="qsm",
    config={
        "demo": {
            "n_subjects": 4,
            "splits": [1, 1, 2],
            "matrix": [40, 46, 12],
            "voxel_mm": 4.0,
            "n_coils": 2,
            "lesions": [3, 4],
        },
        "qsm": {"tv_iterations": 10},
        "model": {"reconstruction": {"features": [8, 16], "epochs": 1}},
    },
    subject_rules=frozenset(
        {
            "reconstruct_qsm_subject",
            "reconstruct_qsm_dlr",
            "compute_qsm_cr",
            "compute_qsm_dlr",
            "measure_qsm_subject",
            "rate_qsm_lesions",
            "write_qc_page",
        }
    ),
    group_rules=frozenset({"evaluate_qsm", "plot_qsm_figures", "index_qc_pages"}),
    train_rules=frozenset({"train_qsm_reconstruction"}),
    subject_outputs=(
        "results/qsm/sub-{subject}/sub-{subject}_lesions.tsv",
        "results/qc/qsm/sub-{subject}.html",
    ),
    demo_rule="simulate_qsm_subject",
    change=_qsm_change,
    breakage=_qsm_break,
    bad_config=({"qsm": {"tv_iterations": 0}}, "qsm.qsm.tv_iterations"),
    first_log="reconstruct_qsm_subject/sub-{subject}.log",
    parameter=({"confidence": 0.9}, "evaluate_qsm"),
)


#: Every study of the workflow.
STUDIES: tuple[StudyCase, ...] = (DYSTROPHY, SYNTHMRI, PERFUSION, BREATHING, QSM)
