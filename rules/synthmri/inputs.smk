"""Paths, participants and input functions of study `synthmri` (its chain: chain.smk).

The study's layout (qmrflow.workflow.StudyLayout, built in rules/common.smk) knows its folders,
its validated participants and its model; this file turns them into the file names and input
functions of the study's rules (Snakemake's linter keeps functions out of files with rules).
"""

from qmrflow.studies.synthmri.study import MAPS as SYNTHMRI_MAPS

SYNTHMRI_LAYOUT = LAYOUTS["synthmri"]
SYNTHMRI = SYNTHMRI_LAYOUT.study
SYNTHMRI_TRAINS = bool(SYNTHMRI_LAYOUT.models_to_train)


def synthmri_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return SYNTHMRI_LAYOUT.row(wildcards.subject)


def synthmri_mdme(subject, acq):
    """A subject's 4D MDME image of protocol ``acq`` (``routine`` or ``fast``)."""
    return SYNTHMRI_LAYOUT.dataset_file("MDME", sub=subject, acq=acq)


def synthmri_mdme_image(wildcards):
    """The MDME image the fit reads (named in its error when it is missing)."""
    return synthmri_mdme(wildcards.subject, wildcards.acq)


def synthmri_mdme_inputs(wildcards):
    """The MDME image and its sidecar (a changed sidecar refits the maps), those on disk."""
    image = synthmri_mdme_image(wildcards)
    return SYNTHMRI_LAYOUT.on_disk(
        {"image": image, "sidecar": str(sidecar_path(image))}
    )


def synthmri_label(kind, subject):
    """A label file of the dataset (``dseg``, ``regions``, ``lesions``)."""
    suffix, desc = {
        "dseg": ("dseg", None),
        "regions": ("dseg", "regions"),
        "lesions": ("mask", "lesion"),
    }[kind]
    return SYNTHMRI_LAYOUT.dataset_derivative("labels", suffix, sub=subject, desc=desc)


def synthmri_truth(subject, name):
    """A demo ground-truth map (``T1map``, ``T2map``, ``PDmap``; ``B1map`` is BIDS's
    ``fmap/..._TB1map``)."""
    if name == "B1map":
        return SYNTHMRI_LAYOUT.dataset_derivative(
            "truth", "TB1map", sub=subject, datatype="fmap"
        )
    return SYNTHMRI_LAYOUT.dataset_derivative("truth", name, sub=subject)


SYNTHMRI_REGION_NAMES = (
    f"{SYNTHMRI_LAYOUT.root}/derivatives/labels/desc-regions_dseg.tsv"
)


def synthmri_file(kind, subject, acq="{acq}"):
    """Path of a per-subject derivative."""
    derivative = SYNTHMRI_LAYOUT.derivative
    if kind in SYNTHMRI_MAPS:
        return derivative(kind, sub=subject, acq=acq)
    if kind == "B1map":  # a B1+ map is BIDS's fmap/..._TB1map
        return derivative("TB1map", sub=subject, acq=acq, datatype="fmap")
    named = {
        "residual": ("map", "residual"),
        "mask": ("mask", "brain"),
        "synthetic": ("MRI", "synthetic"),
    }
    if kind in named:
        suffix, desc = named[kind]
        return derivative(suffix, sub=subject, acq=acq, desc=desc)
    method, _, name = kind.partition("_")
    if method in ("dl", "spline") and name in SYNTHMRI_MAPS:
        return derivative(name, sub=subject, acq="fast", desc=method)
    if kind in ("rois", "quality"):
        return derivative(kind, ".tsv", sub=subject, datatype=None)
    raise KeyError(kind)


def synthmri_fit_outputs():
    """Outputs of the mapping rule (wildcards subject and acq)."""
    kinds = (*SYNTHMRI_MAPS, "B1map", "residual", "mask", "synthetic")
    return {kind: synthmri_file(kind, "{subject}") for kind in kinds}


def synthmri_maps(subject, acq, prefix=""):
    """``{map: path}`` of one subject's fitted (or ``dl_``/``spline_``) maps."""
    return {m: synthmri_file(f"{prefix}{m}", subject, acq) for m in SYNTHMRI_MAPS}


def synthmri_training_inputs():
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
        for s in SYNTHMRI_LAYOUT.subjects(split)
    ]


def synthmri_sr_inputs(wildcards):
    """A test subject's fast maps, its routine grid (reference and mask) and the model."""
    subject = wildcards.subject
    return {
        **{f"fast_{m}": synthmri_file(m, subject, "fast") for m in SYNTHMRI_MAPS},
        "reference": synthmri_file("T1map", subject, "routine"),
        "mask": synthmri_file("mask", subject, "routine"),
        "model": SYNTHMRI_LAYOUT.model_file("generator"),
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
    if SYNTHMRI_LAYOUT.demo:
        inputs.update({f"truth_{m}": synthmri_truth(subject, m) for m in SYNTHMRI_MAPS})
    for kind in ("dseg", "regions", "lesions"):
        path = synthmri_label(kind, subject)
        if SYNTHMRI_LAYOUT.demo or Path(path).is_file():
            inputs[kind] = path
    if "regions" in inputs:
        inputs["region_names"] = SYNTHMRI_REGION_NAMES
    return inputs


def synthmri_test_files(kind):
    """One per-subject derivative of every test subject."""
    return [synthmri_file(kind, s) for s in SYNTHMRI_LAYOUT.subjects("test")]


def synthmri_example_subject():
    """The test subject shown in the example-map panel (the first)."""
    return SYNTHMRI_LAYOUT.subjects("test")[0]
