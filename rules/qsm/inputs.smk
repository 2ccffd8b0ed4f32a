"""Paths, participants and input functions of study `qsm` (its chain: chain.smk).

The study's layout (qmrflow.workflow.StudyLayout, built in rules/common.smk) knows its folders,
its validated participants and its models; this file turns them into the file names and input
functions of the study's rules.
"""

from functools import partial
from pathlib import Path

from qmrflow.studies.qsm.study import ACQUISITIONS as QSM_ACQUISITIONS
from qmrflow.studies.qsm.study import EPI as QSM_EPI
from qmrflow.studies.qsm.study import INVERSIONS as QSM_INVERSIONS
from qmrflow.studies.qsm.study import RECONS as QSM_RECONS
from qmrflow.studies.qsm.study import acquisitions_of as qsm_acquisitions_of
from qmrflow.studies.qsm.simulate.files import subject_paths as qsm_subject_paths

QSM_LAYOUT = LAYOUTS["qsm"]
QSM = QSM_LAYOUT.study
QSM_TRAINS = set(QSM_LAYOUT.models_to_train)
#: The acquisition whose CR and DLR QSM the lesions are rated on.
QSM_LESION_ACQ = QSM["lesions"]["acquisition"]


def qsm_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return QSM_LAYOUT.row(wildcards.subject)


def qsm_kspace(subject, acq):
    """An acquisition's raw multi-coil k-space (ISMRMRD HDF5) in the input dataset."""
    return qsm_truth(f"kspace_{acq}", subject)


def qsm_megre_pattern(subject, acq):
    """Where a user's magnitude/phase images of an acquisition are looked for (BIDS MEGRE)."""
    folder = Path(QSM_LAYOUT.dataset_file("FLAIR", sub=subject)).parent
    return str(
        folder / f"sub-{subject}_acq-{acq}_echo-<n>_part-<mag|phase>_MEGRE.nii.gz"
    )


def qsm_megre_files(subject, acq):
    """A user's MEGRE images and sidecars of one acquisition, as found on disk."""
    folder = Path(QSM_LAYOUT.dataset_file("FLAIR", sub=subject)).parent
    return sorted(
        str(p) for p in folder.glob(f"sub-{subject}_acq-{acq}_echo-*_MEGRE.*")
    )


def qsm_source(subject, acq):
    """An acquisition's input: its k-space (the demo, or a user's file on disk), else the
    user's MEGRE images (empty when neither is there: the job then names what it expected).
    """
    kspace = qsm_kspace(subject, acq)
    if QSM_LAYOUT.demo or Path(kspace).is_file():
        return [kspace]
    return qsm_megre_files(subject, acq)


def qsm_reconstruct_inputs(wildcards):
    return {acq: qsm_source(wildcards.subject, acq) for acq in QSM_ACQUISITIONS}


def qsm_flair(subject):
    """The subject's FLAIR image."""
    return qsm_truth("flair", subject)


def qsm_dataset_paths(subject):
    """Every input file of a subject (the demo writes them all; a user's dataset has the same
    layout): ``kspace_<acq>``, ``flair``, under derivatives/labels/ ``lesions`` (FLAIR lesion
    labels) and ``aseg`` (tissue labels) with its ``aseg_lut``, and the demo's truth under
    derivatives/truth/: ``chi``, ``brain_mask`` and ``lesion_table``."""
    return {k: str(v) for k, v in qsm_subject_paths(QSM_LAYOUT.root, subject).items()}


def qsm_truth(kind, subject):
    """One file of the dataset's derivatives (see qsm_dataset_paths)."""
    return qsm_dataset_paths(subject)[kind]


def qsm_echoes(subject, acq, recon, part):
    """A reconstruction's echoes: ``part`` is ``mag`` or ``phase`` (4D, echo last)."""
    return QSM_LAYOUT.derivative("MEGRE", sub=subject, acq=acq, rec=recon, part=part)


def qsm_echo_outputs(subject, recon):
    """Magnitude and phase of every acquisition of one reconstruction, by key."""
    return {
        f"{acq}_{part}": qsm_echoes(subject, acq, recon, part)
        for acq in qsm_acquisitions_of(recon)
        for part in ("mag", "phase")
    }


def qsm_map(subject, acq, recon, inversion):
    """A susceptibility map (ppm, referenced to the lateral ventricles' CSF)."""
    return QSM_LAYOUT.derivative(
        "Chimap", sub=subject, acq=acq, rec=recon, desc=inversion
    )


def qsm_map_outputs(subject, recon):
    """Every QSM map and brain mask of one reconstruction, by key."""
    outputs = {}
    for acq in qsm_acquisitions_of(recon):
        for inversion in QSM_INVERSIONS:
            outputs[f"{acq}_{inversion}"] = qsm_map(subject, acq, recon, inversion)
        outputs[f"{acq}_mask"] = QSM_LAYOUT.derivative(
            "mask", sub=subject, acq=acq, rec=recon, desc="brain"
        )
    return outputs


def qsm_table(kind, subject, recon=None):
    """A per-subject table: ``timing`` (per reconstruction), ``lesions``, ``rois``,
    ``agreement``, ``accuracy`` (demo) or ``ratings`` (demo: simulated raters)."""
    return QSM_LAYOUT.derivative(kind, ".tsv", sub=subject, rec=recon, datatype=None)


def qsm_training_items(split):
    """Subject -> (EPI CR echoes by acquisition, reference GRE CR echoes): the DLR's data."""
    return {
        s: {
            "inputs": {
                acq: [qsm_echoes(s, acq, "cr", p) for p in ("mag", "phase")]
                for acq in QSM_EPI
            },
            "target": [qsm_echoes(s, "gre", "cr", p) for p in ("mag", "phase")],
        }
        for s in QSM_LAYOUT.subjects(split)
    }


def qsm_reconstruction_training_inputs():
    """Echo files of the train and val subjects, flat, so Snakemake tracks them."""
    items = {**qsm_training_items("train"), **qsm_training_items("val")}
    return [
        path
        for item in items.values()
        for paths in (*item["inputs"].values(), item["target"])
        for path in paths
    ]


def qsm_dataset_files(subject):
    """The subject's FLAIR and its lesion and tissue labels in the input dataset."""
    return {
        "flair": qsm_flair(subject),
        "lesions": qsm_truth("lesions", subject),
        "tissues": qsm_truth("aseg", subject),
    }


def qsm_dataset_inputs(subject):
    """Those of them on disk (a missing one fails the subject's job, which names it)."""
    return QSM_LAYOUT.on_disk(qsm_dataset_files(subject))


def qsm_compute_inputs(wildcards, recon):
    """A reconstruction's echoes and the tissue labels (the reference region)."""
    inputs = qsm_echo_outputs(wildcards.subject, recon)
    tissues = qsm_dataset_inputs(wildcards.subject)
    return {**inputs, **{k: v for k, v in tissues.items() if k == "tissues"}}


def qsm_measure_inputs(wildcards):
    """Every QSM map and mask, the echoes, the FLAIR, the labels and (demo) the truth."""
    subject = wildcards.subject
    inputs = {
        **{
            f"{recon}_{key}": path
            for recon in QSM_RECONS
            for key, path in qsm_map_outputs(subject, recon).items()
        },
        **{
            f"{recon}_{key}": path
            for recon in QSM_RECONS
            for key, path in qsm_echo_outputs(subject, recon).items()
            if key.startswith(QSM_LESION_ACQ)
        },
        **qsm_dataset_inputs(subject),
    }
    if QSM_LAYOUT.demo:
        inputs["truth"] = qsm_truth("chi", subject)
    return inputs


#: Per-subject tables of every test subject (``accuracy``: the demo's truth).
QSM_SUBJECT_TABLES = ("lesions", "rois", "agreement") + (
    ("accuracy",) if QSM_LAYOUT.demo else ()
)


def qsm_test_tables(kind):
    """One per-subject table of every test subject (timing: per reconstruction)."""
    test = QSM_LAYOUT.subjects("test")
    if kind == "timing":
        return [qsm_table("timing", s, r) for s in test for r in QSM_RECONS]
    return [qsm_table(kind, s) for s in test]


def qsm_ratings_inputs():
    """The lesion ratings: the demo's simulated raters per test subject, else the user's table
    (``qsm.ratings``; none: the rating statistics are left out)."""
    if QSM_LAYOUT.demo:
        return [qsm_table("ratings", s) for s in QSM_LAYOUT.subjects("test")]
    return [QSM["ratings"]] if QSM["ratings"] else []


def qsm_figure_inputs(wildcards):
    """The group tables and the first test subject's maps, labels and (demo) truth."""
    example = QSM_LAYOUT.subjects("test")[0]
    inputs = {f"table_{key}": path for key, path in QSM_LAYOUT.tables().items()}
    for recon in QSM_RECONS:
        for key, path in qsm_map_outputs(example, recon).items():
            inputs[f"{recon}_{key}"] = path
    inputs["lesions"] = qsm_truth("lesions", example)
    if QSM_LAYOUT.demo:
        inputs["truth"] = qsm_truth("chi", example)
    return inputs
