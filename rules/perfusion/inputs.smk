"""Paths, participants and input functions of study `perfusion` (its chain: chain.smk).

The study's layout (qmrflow.workflow.StudyLayout, built in rules/common.smk) knows its folders,
its validated participants and its models; this file turns them into the file names and input
functions of the study's rules.
"""

from qmrflow.studies.perfusion.study import METHODS as PERFUSION_METHODS

PERFUSION_LAYOUT = LAYOUTS["perfusion"]
PERFUSION = PERFUSION_LAYOUT.study
PERFUSION_TRAINS = set(PERFUSION_LAYOUT.models_to_train)


def perfusion_demo_row(wildcards):
    """The simulation parameters of one demo subject (its row of the demo table)."""
    return PERFUSION_LAYOUT.row(wildcards.subject)


def perfusion_input(kind, subject):
    """A file of the input dataset: ``stress``/``aif`` series, ``stress_pd``/``aif_pd``."""
    acq, _, pd = kind.partition("_")
    return PERFUSION_LAYOUT.dataset_file(
        "PD" if pd else "perf", sub=subject, acq=acq, datatype="perf"
    )


PERFUSION_INPUT_KINDS = ("stress", "aif", "stress_pd", "aif_pd")


def perfusion_inputs(wildcards):
    """A subject's series and PD images with their sidecars (a changed sidecar reruns), those
    on disk (a missing one fails the subject's own job, which names it)."""
    files = {}
    for kind in PERFUSION_INPUT_KINDS:
        image = perfusion_input(kind, wildcards.subject)
        files[kind] = image
        files[f"{kind}_sidecar"] = str(sidecar_path(image))
    return PERFUSION_LAYOUT.on_disk(files)


def perfusion_expected(wildcards):
    """The input files a subject's correction reads (named in its error when missing)."""
    return {
        kind: perfusion_input(kind, wildcards.subject) for kind in PERFUSION_INPUT_KINDS
    }


#: The dataset's own derivatives: labels per frame of the stress series (``labels``: the
#: demo's truth, or a user's manual labels of the training subjects) and the demo's ground
#: truth (``truth``): pipeline and file name parts per kind.
PERFUSION_TRUTH = {
    "labels": ("labels", "dseg", "stress", "frames", "perf", ".nii.gz"),
    "aif_labels": ("truth", "dseg", "aif", "frames", "perf", ".nii.gz"),
    "motion": ("truth", "xfm", "stress", "motion", "perf", ".nii.gz"),
    "aif_motion": ("truth", "xfm", "aif", "motion", "perf", ".nii.gz"),
    "segments": ("truth", "dseg", "stress", "segments", "perf", ".nii.gz"),
    "mbf": ("truth", "mbf", "stress", None, "perf", ".nii.gz"),
    "mbf_segments": ("truth", "segments", None, None, None, ".tsv"),
    "aif_truth": ("truth", "aif", None, None, None, ".tsv"),
}


def perfusion_truth(kind, subject):
    """A file of the dataset's derivatives (see PERFUSION_TRUTH)."""
    pipeline, suffix, acq, desc, datatype, extension = PERFUSION_TRUTH[kind]
    return PERFUSION_LAYOUT.dataset_derivative(
        pipeline, suffix, extension, sub=subject, acq=acq, desc=desc, datatype=datatype
    )


#: Per-subject derivatives: file name parts per kind (``{method}`` is the alignment).
PERFUSION_FILES = {
    "stress": ("perf", "stress", "perf", ".nii.gz"),
    "aif": ("perf", "aif", "perf", ".nii.gz"),
    "stress_pd": ("PD", "stress", "perf", ".nii.gz"),
    "aif_pd": ("PD", "aif", "perf", ".nii.gz"),
    "stress_field": ("xfm", "stress", "perf", ".nii.gz"),
    "aif_field": ("xfm", "aif", "perf", ".nii.gz"),
    "labels": ("dseg", "stress", "perf", ".nii.gz"),
    "mbf": ("mbf", "stress", "perf", ".nii.gz"),
    "timing": ("timing", None, None, ".tsv"),
    "segments": ("segments", None, None, ".tsv"),
    "quality": ("quality", None, None, ".tsv"),
    "curves": ("curves", None, None, ".tsv"),
}


def perfusion_file(kind, subject, method="{method}"):
    """Path of a per-subject derivative of one alignment ``method``."""
    suffix, acq, datatype, extension = PERFUSION_FILES[kind]
    return PERFUSION_LAYOUT.derivative(
        suffix, extension, sub=subject, acq=acq, desc=method, datatype=datatype
    )


def perfusion_files(kinds, subject="{subject}", method="{method}"):
    """``{kind: path}`` of several derivatives."""
    return {kind: perfusion_file(kind, subject, method) for kind in kinds}


PERFUSION_CORRECTED = (
    "stress",
    "aif",
    "stress_pd",
    "aif_pd",
    "stress_field",
    "aif_field",
    "timing",
)
PERFUSION_MEASURES = ("segments", "quality", "curves", "mbf")


def perfusion_model_input(wildcards):
    """The registration network, for the DL alignment only."""
    if wildcards.method == "dl":
        return {"model": PERFUSION_LAYOUT.model_file("registration")}
    return {}


def perfusion_reference(subject):
    """A training subject's motion-free reference series (the registration network's target)."""
    return PERFUSION_LAYOUT.derivative(
        "perf", sub=subject, acq="stress", desc="reference", datatype="perf"
    )


def perfusion_training_series(split):
    """Subject -> (stress series, reference series) of one split (the registration network's
    training data)."""
    return {
        s: (perfusion_input("stress", s), perfusion_reference(s))
        for s in PERFUSION_LAYOUT.subjects(split)
    }


def perfusion_training_labels(split):
    """Subject -> (stress series, labels per frame) of one split (the U-Net's data)."""
    return {
        s: (perfusion_input("stress", s), perfusion_truth("labels", s))
        for s in PERFUSION_LAYOUT.subjects(split)
    }


def perfusion_segmentation_training_inputs():
    """Series and labels of the train and val subjects, flat, so Snakemake tracks them."""
    pairs = {
        **perfusion_training_labels("train"),
        **perfusion_training_labels("val"),
    }
    return {
        "series": [series for series, _ in pairs.values()],
        "labels": [labels for _, labels in pairs.values()],
    }


def perfusion_registration_training_inputs():
    """Stress series and references of the train and val subjects, flat."""
    items = {**perfusion_training_series("train"), **perfusion_training_series("val")}
    return [path for pair in items.values() for path in pair]


def perfusion_measure_inputs(wildcards):
    """An alignment's series, its labels, timing and (demo) the truth it is checked against."""
    subject, method = wildcards.subject, wildcards.method
    inputs = {
        **perfusion_files(
            ("stress", "aif", "stress_pd", "aif_pd", "timing"), subject, method
        ),
        "labels": perfusion_file("labels", subject, method),
    }
    if PERFUSION_LAYOUT.demo:
        inputs["truth_labels"] = perfusion_truth("labels", subject)
        inputs["truth_field"] = perfusion_file("stress_field", subject, method)
        inputs["truth_segments"] = perfusion_truth("mbf_segments", subject)
    return inputs


def perfusion_test_files(kind):
    """One per-subject derivative of every test subject and method."""
    return [
        perfusion_file(kind, s, m)
        for s in PERFUSION_LAYOUT.subjects("test")
        for m in PERFUSION_METHODS
    ]


def perfusion_qc(kind, subject):
    """A subject's motion-correction QC image: ``strip`` (PNG) or ``animation`` (GIF)."""
    extension = ".png" if kind == "strip" else ".gif"
    return PERFUSION_LAYOUT.derivative(
        "qc", extension, sub=subject, desc="motion", datatype="figures"
    )


def perfusion_example_subject():
    """The test subject shown in the example figures (the first)."""
    return PERFUSION_LAYOUT.subjects("test")[0]
