"""Paths, participants and input functions of study `synthmri` (its rules: rules/synthmri.smk)."""

from qmrflow.errors import ConfigError
from qmrflow.studies.synthmri.simulate import (
    demo_participants as synthmri_demo_participants,
)

SYNTHMRI = config["synthmri"]
SYNTHMRI_DEMO = SYNTHMRI["dataset"] == "demo"
SYNTHMRI_ROOT = (
    f"{RESULTS}/demo/synthmri" if SYNTHMRI_DEMO else SYNTHMRI["dataset"].rstrip("/")
)
SYNTHMRI_OUT = f"{RESULTS}/synthmri"
SYNTHMRI_GROUP = f"{SYNTHMRI_OUT}/group"
SYNTHMRI_MODELS = f"{RESULTS}/models/synthmri"
SYNTHMRI_MAPS = ("T1map", "T2map", "PDmap")
SYNTHMRI_PRETRAINED = SYNTHMRI["model"]["pretrained"]
if (
    SYNTHMRI_DEMO
    and round(1 / SYNTHMRI["demo"]["fast_phase_fraction"])
    != SYNTHMRI["model"]["scale"][1]
):
    raise ConfigError(
        f"fast_phase_fraction {SYNTHMRI['demo']['fast_phase_fraction']} needs model.scale "
        f"[1, {round(1 / SYNTHMRI['demo']['fast_phase_fraction'])}], got "
        f"{SYNTHMRI['model']['scale']}",
        file=workflow.configfiles[-1] if workflow.configfiles else None,
        location="synthmri.demo.fast_phase_fraction",
    )


def _synthmri_participants():
    if SYNTHMRI_DEMO:
        demo = SYNTHMRI["demo"]
        return synthmri_demo_participants(demo["n_subjects"], demo["seed"])
    path = Path(SYNTHMRI_ROOT, "participants.tsv")
    table = read_participants(
        path, load_schema(SCHEMAS / "synthmri.participants.schema.yaml")
    )
    needed = ("test",) if SYNTHMRI_PRETRAINED else ("train", "val", "test")
    check_splits_present(table, splits=needed, file=path)
    return table


SYNTHMRI_PARTICIPANTS = _synthmri_participants() if "synthmri" in STUDIES else None
SYNTHMRI_ROWS = (
    {
        row["participant_id"]: row
        for row in SYNTHMRI_PARTICIPANTS.to_dict(orient="records")
    }
    if SYNTHMRI_PARTICIPANTS is not None
    else {}
)


def synthmri_subjects(*splits):
    """Participant labels, in table order, optionally only those of the given splits."""
    table = SYNTHMRI_PARTICIPANTS
    if splits:
        table = table[table["split"].isin(splits)]
    return list(table["participant_id"])


def synthmri_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return SYNTHMRI_ROWS[wildcards.subject]


def synthmri_participants_file(wildcards=None):
    """The participants table on disk (written by the demo simulation for the demo)."""
    return f"{SYNTHMRI_ROOT}/participants.tsv"


def synthmri_mdme(subject, acq):
    """A subject's 4D MDME image of protocol ``acq`` (``routine`` or ``fast``)."""
    return f"{SYNTHMRI_ROOT}/sub-{subject}/anat/sub-{subject}_acq-{acq}_MDME.nii.gz"


def synthmri_mdme_inputs(wildcards):
    """The MDME image and its sidecar (a changed sidecar refits the maps)."""
    image = synthmri_mdme(wildcards.subject, wildcards.acq)
    return {"image": image, "sidecar": image.removesuffix(".nii.gz") + ".json"}


def synthmri_label(kind, subject):
    """A label file of the dataset (``dseg``, ``regions``, ``lesions``)."""
    name = {
        "dseg": "dseg",
        "regions": "desc-regions_dseg",
        "lesions": "desc-lesion_mask",
    }[kind]
    base = f"{SYNTHMRI_ROOT}/derivatives/labels/sub-{subject}/anat"
    return f"{base}/sub-{subject}_{name}.nii.gz"


def synthmri_truth(subject, name):
    """A demo ground-truth map (``T1map``, ``T2map``, ``PDmap``, ``B1map``)."""
    return f"{SYNTHMRI_ROOT}/derivatives/truth/sub-{subject}/anat/sub-{subject}_{name}.nii.gz"


SYNTHMRI_REGION_NAMES = f"{SYNTHMRI_ROOT}/derivatives/labels/desc-regions_dseg.tsv"


def synthmri_file(kind, subject, acq="{acq}"):
    """Path of a per-subject derivative."""
    base = f"{SYNTHMRI_OUT}/sub-{subject}/anat/sub-{subject}"
    names = {
        **{m: f"{base}_acq-{acq}_{m}.nii.gz" for m in (*SYNTHMRI_MAPS, "B1map")},
        "residual": f"{base}_acq-{acq}_desc-residual_map.nii.gz",
        "mask": f"{base}_acq-{acq}_desc-brain_mask.nii.gz",
        "synthetic": f"{base}_acq-{acq}_desc-synthetic_MRI.nii.gz",
        **{f"dl_{m}": f"{base}_acq-fast_desc-dl_{m}.nii.gz" for m in SYNTHMRI_MAPS},
        **{
            f"spline_{m}": f"{base}_acq-fast_desc-spline_{m}.nii.gz"
            for m in SYNTHMRI_MAPS
        },
        "rois": f"{SYNTHMRI_OUT}/sub-{subject}/sub-{subject}_rois.tsv",
        "quality": f"{SYNTHMRI_OUT}/sub-{subject}/sub-{subject}_quality.tsv",
    }
    return names[kind]


def synthmri_fit_outputs():
    """Outputs of the mapping rule (wildcards subject and acq)."""
    kinds = (*SYNTHMRI_MAPS, "B1map", "residual", "mask", "synthetic")
    return {kind: synthmri_file(kind, "{subject}") for kind in kinds}


def synthmri_maps(subject, acq, prefix=""):
    """``{map: path}`` of one subject's fitted (or ``dl_``/``spline_``) maps."""
    return {m: synthmri_file(f"{prefix}{m}", subject, acq) for m in SYNTHMRI_MAPS}


def synthmri_training_inputs(wildcards):
    """Fast maps, routine maps and routine masks of the train and val subjects only (the
    files of :func:`synthmri_training_pairs`, flat, so Snakemake tracks them)."""
    pairs = synthmri_training_pairs("train") + synthmri_training_pairs("val")
    return {
        "fast": [path for pair in pairs for path in pair["fast"].values()],
        "routine": [path for pair in pairs for path in pair["routine"].values()],
        "masks": [pair["mask"] for pair in pairs],
    }


def synthmri_training_pairs(split):
    """Per subject of ``split``: its fast maps, routine maps and routine mask (the script's
    view of the training inputs, by subject)."""
    return [
        {
            "subject": s,
            "fast": synthmri_maps(s, "fast"),
            "routine": synthmri_maps(s, "routine"),
            "mask": synthmri_file("mask", s, "routine"),
        }
        for s in synthmri_subjects(split)
    ]


def synthmri_model(wildcards=None):
    """The generator checkpoint: the configured pre-trained file, else the one trained here."""
    return SYNTHMRI_PRETRAINED or f"{SYNTHMRI_MODELS}/generator/model.pt"


def synthmri_sr_inputs(wildcards):
    """A test subject's fast maps, its routine grid (reference and mask) and the model."""
    subject = wildcards.subject
    return {
        **{f"fast_{m}": synthmri_file(m, subject, "fast") for m in SYNTHMRI_MAPS},
        "reference": synthmri_file("T1map", subject, "routine"),
        "mask": synthmri_file("mask", subject, "routine"),
        "model": synthmri_model(),
    }


def synthmri_measure_inputs(wildcards):
    """Maps of every method on the routine grid, the labels that exist, the brain mask."""
    return synthmri_subject_maps(wildcards.subject)


def synthmri_subject_maps(subject):
    """One subject's maps of every method, labels and mask, keyed ``<method>_<map>``."""
    inputs = {
        **{f"routine_{m}": synthmri_file(m, subject, "routine") for m in SYNTHMRI_MAPS},
        **{f"fast_{m}": synthmri_file(f"spline_{m}", subject) for m in SYNTHMRI_MAPS},
        **{f"dl_{m}": synthmri_file(f"dl_{m}", subject) for m in SYNTHMRI_MAPS},
        "mask": synthmri_file("mask", subject, "routine"),
    }
    if SYNTHMRI_DEMO:
        inputs.update({f"truth_{m}": synthmri_truth(subject, m) for m in SYNTHMRI_MAPS})
    for kind in ("dseg", "regions", "lesions"):
        path = synthmri_label(kind, subject)
        if SYNTHMRI_DEMO or Path(path).is_file():
            inputs[kind] = path
    if "regions" in inputs:
        inputs["region_names"] = SYNTHMRI_REGION_NAMES
    return inputs


def synthmri_test_files(kind):
    """One per-subject derivative of every test subject."""
    return [synthmri_file(kind, s) for s in synthmri_subjects("test")]


def synthmri_example_subject():
    """The test subject shown in the example-map panel (the first)."""
    return synthmri_subjects("test")[0]


# What determines the trained generator: the data and the training settings, not the
# evaluation settings.
SYNTHMRI_TRAINING = {
    "dataset": SYNTHMRI["dataset"],
    "demo": SYNTHMRI["demo"] if SYNTHMRI_DEMO else None,
    "mapping": SYNTHMRI["mapping"],
    "model": {k: v for k, v in SYNTHMRI["model"].items() if k != "pretrained"},
}


def synthmri_group_file(name):
    """Path of a group-level table or figure."""
    return f"{SYNTHMRI_GROUP}/{name}"


SYNTHMRI_TABLES = {
    "statistics": "statistics.tsv",
    "rois": "rois.tsv",
    "quality": "quality.tsv",
    "quality_summary": "quality_summary.tsv",
    "accuracy": "accuracy.tsv",
    "paper_comparison": "paper_comparison.tsv",
}
SYNTHMRI_FIGURES = {
    "agreement_T1": "figures/agreement_T1.png",
    "agreement_T2": "figures/agreement_T2.png",
    "agreement_PD": "figures/agreement_PD.png",
    "examples": "figures/example_maps.png",
    "quality": "figures/image_quality.png",
    "paper": "figures/paper_comparison.png",
    "lesions": "figures/lesions.png",
}


def synthmri_targets():
    """The synthmri study's final outputs."""
    names = list(SYNTHMRI_TABLES.values()) + list(SYNTHMRI_FIGURES.values())
    return [synthmri_group_file(n) for n in names] + [
        f"{SYNTHMRI_OUT}/dataset_description.json"
    ]
