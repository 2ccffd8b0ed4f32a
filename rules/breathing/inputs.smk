"""Paths, participants and input functions of study `breathing` (its chain: chain.smk).

The study's layout (qmrflow.workflow.StudyLayout, built in rules/common.smk) knows its folders,
its validated participants and its models; this file turns them into the file names and input
functions of the study's rules.
"""

from pathlib import Path

from qmrflow.studies.breathing.simulate import SimulationSettings
from qmrflow.studies.breathing.study import METHODS as BREATHING_METHODS
from qmrflow.studies.breathing.study import TASKS as BREATHING_TASKS

BREATHING_LAYOUT = LAYOUTS["breathing"]
BREATHING = BREATHING_LAYOUT.study
BREATHING_TRAINS = set(BREATHING_LAYOUT.models_to_train)
#: The demo's inversion times (one IRT1 image each).
BREATHING_DEMO_INVERSIONS = len(SimulationSettings().ir_times)


def breathing_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return BREATHING_LAYOUT.row(wildcards.subject)


def breathing_kspace(subject, task):
    """A task's raw k-space (ISMRMRD HDF5) in the input dataset."""
    return BREATHING_LAYOUT.dataset_file(
        "kspace", ".h5", sub=subject, task=task, datatype="rtmri"
    )


def breathing_inversion(subject, index):
    """One inversion-recovery image (BIDS IRT1, ``inv-<index>``)."""
    return BREATHING_LAYOUT.dataset_file(
        "IRT1", sub=subject, inv=index, datatype="anat"
    )


def breathing_inversion_pattern(subject):
    """The names a subject's IRT1 images are looked for under (for error messages)."""
    folder = Path(breathing_inversion(subject, 1)).parent
    return str(folder / f"sub-{subject}_inv-<index>_IRT1.nii.gz")


def breathing_inversions(subject):
    """A subject's IRT1 images: the demo's, or those of a user's dataset on disk."""
    if BREATHING_LAYOUT.demo:
        count = BREATHING_DEMO_INVERSIONS
        return [breathing_inversion(subject, k) for k in range(1, count + 1)]
    folder = Path(breathing_inversion(subject, 1)).parent
    return sorted(str(p) for p in folder.glob(f"sub-{subject}_inv-*_IRT1.nii.gz"))


def breathing_t1_inputs(wildcards):
    """The IRT1 images with their sidecars (a changed TI reruns) and the diaphragm ROI."""
    images = breathing_inversions(wildcards.subject)
    return {
        "inversions": images,
        "sidecars": [str(sidecar_path(p)) for p in images],
        "roi": breathing_truth("roi", wildcards.subject),
    }


#: The dataset's own derivatives: ``labels`` (the demo's truth or a user's manual lung labels
#: per frame, and the diaphragm ROI of the T1 slice) and the demo's ``truth``: pipeline, suffix,
#: extension and entities per kind.
BREATHING_TRUTH = {
    **{
        f"labels_{task}": (
            "labels",
            "dseg",
            ".nii.gz",
            dict(task=task, desc="lungs", datatype="rtmri"),
        )
        for task in BREATHING_TASKS
    },
    "roi": ("labels", "mask", ".nii.gz", dict(desc="diaphragm", datatype="anat")),
    **{
        f"curves_{task}": ("truth", "curves", ".tsv", dict(task=task, datatype=None))
        for task in BREATHING_TASKS
    },
    "t1map": ("truth", "T1map", ".nii.gz", dict(datatype="anat")),
    "truth": ("truth", "truth", ".tsv", dict(datatype=None)),
}


def breathing_truth(kind, subject):
    """A file of the dataset's derivatives (see BREATHING_TRUTH)."""
    pipeline, suffix, extension, entities = BREATHING_TRUTH[kind]
    return BREATHING_LAYOUT.dataset_derivative(
        pipeline, suffix, extension, sub=subject, **entities
    )


def breathing_frames(subject, task, method):
    """A reconstructed real-time series."""
    return BREATHING_LAYOUT.derivative(
        "rtmri", sub=subject, task=task, rec=method, datatype="rtmri"
    )


def breathing_timing(subject, task, method):
    """The timing row of one reconstruction."""
    return BREATHING_LAYOUT.derivative(
        "timing", ".tsv", sub=subject, task=task, rec=method, datatype=None
    )


def breathing_labels(subject, task, method):
    """The U-Net's lung labels of every frame of one reconstruction."""
    return BREATHING_LAYOUT.derivative(
        "dseg", sub=subject, task=task, rec=method, desc="lungs", datatype="rtmri"
    )


def breathing_table(kind, subject, method=None):
    """A per-subject table: ``curves``, ``measures``, ``quality`` (per method) or ``t1``."""
    return BREATHING_LAYOUT.derivative(
        kind, ".tsv", sub=subject, rec=method, datatype=None
    )


def breathing_t1map(subject):
    """The fitted T1 map of the inversion-recovery slice."""
    return BREATHING_LAYOUT.derivative("T1map", sub=subject, datatype="anat")


def breathing_qc(kind, subject):
    """A subject's QC image: ``montage`` (PNG) or ``animation`` (GIF) of the lungs over frames."""
    extension = ".png" if kind == "montage" else ".gif"
    return BREATHING_LAYOUT.derivative(
        "qc", extension, sub=subject, desc="lungs", datatype="figures"
    )


def breathing_training_items(split):
    """Subject -> one (SENSE frames, lung labels) pair per task (the U-Net's data)."""
    return {
        s: [
            (breathing_frames(s, t, "sense"), breathing_truth(f"labels_{t}", s))
            for t in BREATHING_TASKS
        ]
        for s in BREATHING_LAYOUT.subjects(split)
    }


def breathing_segmentation_training_inputs():
    """Frames and labels of the train and val subjects, flat, so Snakemake tracks them."""
    items = {**breathing_training_items("train"), **breathing_training_items("val")}
    return [path for pairs in items.values() for pair in pairs for path in pair]


#: Per-subject tables of each reconstruction (``quality``: the demo's accuracy).
BREATHING_MEASURES = ("curves", "measures") + (
    ("quality",) if BREATHING_LAYOUT.demo else ()
)


def breathing_measure_inputs(wildcards):
    """Every reconstruction's frames and lung labels per task, and (demo) the truth."""
    subject = wildcards.subject
    inputs = {
        **{
            f"frames_{t}_{m}": breathing_frames(subject, t, m)
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
        **{
            f"labels_{t}_{m}": breathing_labels(subject, t, m)
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
    }
    if BREATHING_LAYOUT.demo:
        for kind in (
            *(f"labels_{t}" for t in BREATHING_TASKS),
            *(f"curves_{t}" for t in BREATHING_TASKS),
            "truth",
        ):
            inputs[f"truth_{kind}"] = breathing_truth(kind, subject)
    return inputs


def breathing_test_tables(kind):
    """One per-subject table of every test subject (and reconstruction, except ``t1``)."""
    test = BREATHING_LAYOUT.subjects("test")
    if kind == "t1":
        return [breathing_table("t1", s) for s in test]
    if kind == "timing":
        return [
            breathing_timing(s, t, m)
            for s in test
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        ]
    return [breathing_table(kind, s, m) for s in test for m in BREATHING_METHODS]
