"""Paths, participants and input functions of study `dystrophy` (its chain: chain.smk).

The study's layout (qmrflow.workflow.StudyLayout, built in rules/common.smk) knows its folders,
its validated participants and its models; this file turns them into the file names and input
functions of the study's rules (Snakemake's linter keeps functions out of files with rules).
"""

from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES

DYSTROPHY_LAYOUT = LAYOUTS["dystrophy"]
DYSTROPHY = DYSTROPHY_LAYOUT.study
DYSTROPHY_ARCHITECTURES = DYSTROPHY_LAYOUT.model_names
DYSTROPHY_PRIMARY = DYSTROPHY_ARCHITECTURES[0]
DYSTROPHY_N_SLICES = DYSTROPHY["demo"]["slices_per_case"]


def dystrophy_labels(split):
    """Subject -> 1 (dystrophinopathy) / 0 for one split: the training rule's params."""
    rows = DYSTROPHY_LAYOUT.rows
    return {
        pid: int(rows[pid]["diagnosis"] in POSITIVE_DIAGNOSES)
        for pid in DYSTROPHY_LAYOUT.subjects(split)
    }


def dystrophy_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return DYSTROPHY_LAYOUT.row(wildcards.subject)


def dystrophy_image(subject):
    """A subject's T1w slice stack in the dataset (one 3D volume, as dcm2niix writes it)."""
    return DYSTROPHY_LAYOUT.dataset_file("T1w", sub=subject)


def dystrophy_slices():
    """A subject's input images: its T1w stack, 2D NIfTI slices, or one DICOM series folder.

    The demo's stack is a file pattern, which Snakemake fills in per job faster than it calls
    a function. For user data the files are found on disk by :func:`dystrophy_found_slices`.
    """
    if DYSTROPHY_LAYOUT.demo:
        return [dystrophy_image("{subject}")]
    return dystrophy_found_slices


def dystrophy_found_slices(wildcards):
    """A user subject's images on disk: ``sub-<id>_T1w.nii[.gz]``, else 2D slice files
    ``sub-<id>_slice-<n>_T1w.nii[.gz]`` (qmrflow's older form), else a DICOM series under
    ``sourcedata/sub-<id>/`` (or ``sub-<id>/dicom/``). Nothing found is that subject's
    failure, reported by its ROI job (``dystrophy_expected_images``), not the whole run's.
    """
    subject = wildcards.subject
    anat = Path(dystrophy_image(subject)).parent
    for pattern in (f"sub-{subject}_T1w.nii*", f"sub-{subject}_slice-*_T1w.nii*"):
        found = sorted(anat.glob(pattern)) if anat.is_dir() else []
        if found:
            return [str(path) for path in found]  # the ROI job orders slices by number
    for dicom in (
        Path(DYSTROPHY_LAYOUT.root, "sourcedata", f"sub-{subject}"),
        anat.with_name("dicom"),
    ):
        if dicom.is_dir():
            return [str(dicom)]
    return []


def dystrophy_expected_images(wildcards):
    """What the ROI job says it looked for when a subject has no images."""
    subject = wildcards.subject
    return (
        f"{dystrophy_image(subject)} (or 2D files sub-{subject}_slice-<n>_T1w.nii.gz beside "
        f"it), or a DICOM series under {DYSTROPHY_LAYOUT.root}/sourcedata/sub-{subject}/"
    )


def dystrophy_subject_file(kind, subject):
    """Path of a per-subject derivative (``crops``, ``roi``, ``probabilities``, ``cam``)."""
    derivative = DYSTROPHY_LAYOUT.derivative
    if kind == "crops":
        return derivative("T1w", sub=subject, desc="roi")
    if kind == "roi":
        return derivative("roi", ".tsv", sub=subject)
    if kind == "probabilities":
        return derivative("probabilities", ".tsv", sub=subject, datatype=None)
    if kind == "cam":  # crops and maps stacked (4D): no BIDS suffix, see .bidsignore
        return derivative("cam", sub=subject)
    if kind == "overlay":
        return derivative("cam", ".png", sub=subject, datatype="figures")
    raise KeyError(kind)


def dystrophy_files(kind, *splits):
    """One per-subject derivative for every subject of the given splits."""
    return [dystrophy_subject_file(kind, s) for s in DYSTROPHY_LAYOUT.subjects(*splits)]


def dystrophy_training_inputs():
    """ROI crops and tables of the train and val subjects (never the test subjects), and the
    pre-trained backbone file when transfer learning is configured.

    Computed once at parse time (the same for every architecture): an input function would be
    evaluated per job and its files compared one by one while the DAG is built.
    """
    backbone = DYSTROPHY["model"]["pretrained_backbone"]
    return {
        "crops": dystrophy_files("crops", "train", "val"),
        "tables": dystrophy_files("roi", "train", "val"),
        **({"backbone": backbone} if backbone else {}),
    }


def dystrophy_models(wildcards=None):
    """The checkpoint applied for every configured architecture (trained here or given)."""
    return [DYSTROPHY_LAYOUT.model_file(arch) for arch in DYSTROPHY_ARCHITECTURES]


def dystrophy_model_metadata(wildcards=None):
    """The metadata JSON of every architecture's checkpoint."""
    return [DYSTROPHY_LAYOUT.model_metadata(arch) for arch in DYSTROPHY_ARCHITECTURES]


def dystrophy_histories(wildcards=None):
    """The training history of every architecture (beside its checkpoint)."""
    return [
        str(Path(path).with_name("history.tsv")) for path in dystrophy_models(wildcards)
    ]


def dystrophy_ratings(wildcards=None):
    """Raters' calls: the configured file, else ``<dataset>/ratings.tsv`` if present."""
    if DYSTROPHY["ratings"]:
        return [DYSTROPHY["ratings"]]
    default = f"{DYSTROPHY_LAYOUT.root}/ratings.tsv"
    return [default] if DYSTROPHY_LAYOUT.demo or Path(default).is_file() else []
