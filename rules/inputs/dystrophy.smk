"""Paths, participants and input functions of study `dystrophy` (its rules: rules/dystrophy.smk)."""

from qmrflow.studies.dystrophy.simulate import POSITIVE_DIAGNOSES, demo_participants

DYSTROPHY = config["dystrophy"]
DYSTROPHY_DEMO = DYSTROPHY["dataset"] == "demo"
DYSTROPHY_ROOT = (
    f"{RESULTS}/demo/dystrophy" if DYSTROPHY_DEMO else DYSTROPHY["dataset"].rstrip("/")
)
DYSTROPHY_OUT = f"{RESULTS}/dystrophy"
DYSTROPHY_GROUP = f"{DYSTROPHY_OUT}/group"
DYSTROPHY_MODELS = f"{RESULTS}/models/dystrophy"
DYSTROPHY_ARCHITECTURES = DYSTROPHY["model"]["architectures"]
DYSTROPHY_PRIMARY = DYSTROPHY_ARCHITECTURES[0]


def _dystrophy_participants():
    if DYSTROPHY_DEMO:
        demo = DYSTROPHY["demo"]
        return demo_participants(demo["n_cases"], demo["seed"])
    path = Path(DYSTROPHY_ROOT, "participants.tsv")
    table = read_participants(
        path, load_schema(SCHEMAS / "dystrophy.participants.schema.yaml")
    )
    check_training_splits(table, positive=POSITIVE_DIAGNOSES, file=path)
    return table


DYSTROPHY_PARTICIPANTS = _dystrophy_participants() if "dystrophy" in STUDIES else None


def dystrophy_subjects(*splits):
    """Participant labels, in table order, optionally only those of the given splits."""
    table = DYSTROPHY_PARTICIPANTS
    if splits:
        table = table[table["split"].isin(splits)]
    return list(table["participant_id"])


def dystrophy_labels(split):
    """Subject -> 1 (dystrophinopathy) / 0 for one split: the training rule's params."""
    rows = DYSTROPHY_PARTICIPANTS[DYSTROPHY_PARTICIPANTS["split"] == split]
    return {
        pid: int(diagnosis in POSITIVE_DIAGNOSES)
        for pid, diagnosis in zip(rows["participant_id"], rows["diagnosis"])
    }


# Rows as plain dicts, looked up per job in O(1): a table scan per job is quadratic in the
# cohort size and dominated planning time for large cohorts.
DYSTROPHY_ROWS = (
    {
        row["participant_id"]: row
        for row in DYSTROPHY_PARTICIPANTS.to_dict(orient="records")
    }
    if DYSTROPHY_PARTICIPANTS is not None
    else {}
)


def dystrophy_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return DYSTROPHY_ROWS[wildcards.subject]


def dystrophy_slices(wildcards):
    """A subject's input images: 2D NIfTI slices in slice order, or one DICOM series folder.

    Demo subjects have ``slices_per_case`` simulated slices. For user data the files are found
    on disk; a missing slice in the numbering is reported by the ROI job for that subject only.
    """
    subject = wildcards.subject
    anat = Path(DYSTROPHY_ROOT, f"sub-{subject}", "anat")
    if DYSTROPHY_DEMO:
        n = DYSTROPHY["demo"]["slices_per_case"]
        return [
            str(anat / f"sub-{subject}_slice-{k}_T1w.nii.gz") for k in range(1, n + 1)
        ]
    found = (
        sorted(anat.glob(f"sub-{subject}_slice-*_T1w.nii*")) if anat.is_dir() else []
    )
    if found:
        return [str(path) for path in found]  # the ROI job orders them by slice number
    dicom = Path(DYSTROPHY_ROOT, f"sub-{subject}", "dicom")
    if dicom.is_dir():
        return [str(dicom)]
    raise ValueError(
        f"sub-{subject}: no T1w images under {anat} (expected sub-{subject}_slice-<n>_T1w.nii.gz) "
        f"and no DICOM series folder {dicom}"
    )


def dystrophy_subject_file(kind, subject):
    """Path of a per-subject derivative (``crops``, ``roi``, ``probabilities``, ``cam``)."""
    base = f"{DYSTROPHY_OUT}/sub-{subject}"
    return {
        "crops": f"{base}/anat/sub-{subject}_desc-roi_T1w.nii.gz",
        "roi": f"{base}/anat/sub-{subject}_roi.tsv",
        "probabilities": f"{base}/sub-{subject}_probabilities.tsv",
        "cam": f"{base}/anat/sub-{subject}_desc-cam_T1w.nii.gz",
        "overlay": f"{base}/figures/sub-{subject}_desc-cam_T1w.png",
    }[kind]


def dystrophy_files(kind, *splits):
    """One per-subject derivative for every subject of the given splits."""
    return [dystrophy_subject_file(kind, s) for s in dystrophy_subjects(*splits)]


def dystrophy_training_inputs(wildcards):
    """ROI crops and tables of the train and val subjects (never the test subjects)."""
    return {
        "crops": dystrophy_files("crops", "train", "val"),
        "tables": dystrophy_files("roi", "train", "val"),
        **dystrophy_pretrained(wildcards),
    }


def dystrophy_pretrained(wildcards):
    """The pre-trained backbone file, when transfer learning is configured."""
    backbone = DYSTROPHY["model"]["pretrained_backbone"]
    return {"backbone": backbone} if backbone else {}


# What determines a trained model (its params, hashed into its metadata): the data, the ROI
# settings and the training hyper-parameters, but not the list of architectures (adding one
# must not retrain the others) nor evaluation settings such as the threshold.
DYSTROPHY_TRAINING = {
    "dataset": DYSTROPHY["dataset"],
    "demo": DYSTROPHY["demo"] if DYSTROPHY_DEMO else None,
    "roi": DYSTROPHY["roi"],
    "model": {k: v for k, v in DYSTROPHY["model"].items() if k != "architectures"},
}


def dystrophy_models(wildcards=None):
    """Checkpoints of every configured architecture."""
    return [f"{DYSTROPHY_MODELS}/{arch}/model.pt" for arch in DYSTROPHY_ARCHITECTURES]


def dystrophy_participants_file(wildcards=None):
    """The participants table on disk (written by the demo simulation for the demo)."""
    return f"{DYSTROPHY_ROOT}/participants.tsv"


def dystrophy_ratings(wildcards=None):
    """Raters' calls: the configured file, else ``<dataset>/ratings.tsv`` if present."""
    if DYSTROPHY["ratings"]:
        return [DYSTROPHY["ratings"]]
    default = f"{DYSTROPHY_ROOT}/ratings.tsv"
    return [default] if DYSTROPHY_DEMO or Path(default).is_file() else []


def dystrophy_group_file(name):
    """Path of a group-level table or figure."""
    return f"{DYSTROPHY_GROUP}/{name}"


DYSTROPHY_TABLES = {
    "predictions": "predictions.tsv",
    "statistics": "statistics.tsv",
    "metrics": "metrics.tsv",
    "roc": "roc.tsv",
    "model_comparison": "model_comparison.tsv",
    "paper_comparison": "paper_comparison.tsv",
}
DYSTROPHY_FIGURES = {
    "roc": "figures/roc.png",
    "cam_panel": "figures/cam_panel.png",
    "training": "figures/training_curves.png",
}


def dystrophy_targets():
    """The dystrophy study's final outputs."""
    names = list(DYSTROPHY_TABLES.values()) + list(DYSTROPHY_FIGURES.values())
    return [dystrophy_group_file(n) for n in names] + [
        f"{DYSTROPHY_OUT}/dataset_description.json"
    ]
