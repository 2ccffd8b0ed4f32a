"""The methods text of study ``dystrophy`` (see :mod:`qmrflow.report.methods`).

Written from the study's config section and its models' metadata: the demo cohort, the ROI
localisation, each architecture and its training as recorded with the model, the inference, and
the statistics with their intervals and multiplicity correction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qmrflow.report import references as refs
from qmrflow.report.methods import (
    MethodsContext,
    Section,
    StudyMethods,
    dims,
    listing,
    number,
)
from qmrflow.report.references import Reference

PAPER = Reference(
    "Yang et al. 2021",
    "Yang M, et al. A deep learning model for diagnosing dystrophinopathies on thigh muscle MRI "
    "images. BMC Neurol. 2021;21:13.",
    doi="10.1186/s12883-020-02036-0",
)


def _architecture(context: MethodsContext, name: str) -> tuple[str, str]:
    """An architecture's description and activation-map kind (``cam`` or ``gradcam``), as its
    model's metadata records them; from the network registry (which imports MONAI) where the
    metadata predates them."""
    metadata = context.model(name).metadata
    if "description" in metadata and "cam" in metadata:
        return str(metadata["description"]), str(metadata["cam"])
    from qmrflow.dl.networks import architecture

    arch = architecture(name)
    return arch.description, arch.cam


def _network_reference(name: str) -> Reference | None:
    if name.startswith("resnet"):
        return refs.HE_RESNET
    if name.startswith("densenet"):
        return refs.HUANG_DENSENET
    if name.startswith("efficientnet"):
        return refs.TAN_EFFICIENTNET
    return None


def _data(context: MethodsContext) -> Section:
    config = context.config
    text = [context.dataset_sentence()]
    if context.demo:
        demo = config["demo"]
        text.append(
            f"The demo simulates {demo['n_cases']} cases with {demo['slices_per_case']} axial "
            f"mid-thigh T1-weighted slices each ({dims(demo['image_shape'])} pixels): "
            "dystrophinopathies (DMD, BMD) and other muscle diseases with their "
            f"patterns of fatty replacement, and the calls of {demo['n_raters']} simulated "
            "raters on every slice."
        )
    text.append(context.split_sentence())
    test = context.breakdown("diagnosis", "test")
    if test:
        text.append(f"The test subjects' diagnoses: {test}.")
    return Section("Data", (" ".join(text),))


def _roi(context: MethodsContext) -> Section:
    roi = context.config["roi"]
    dropped = (
        "dropped, as in the paper"
        if roi["drop_inseparable"]
        else "kept (roi.drop_inseparable is off)"
    )
    return Section(
        "Region of interest",
        (
            "On every slice both thighs were localised as in the paper: the body was "
            f"thresholded by Otsu's method {context.cite(refs.OTSU)}, holes filled, the "
            "largest connected components kept and the left and right leg separated; the "
            f"smallest window holding both legs, widened by {roi['margin']} pixels, was cut "
            "out, its intensities divided by the 99th percentile inside the body, and "
            f"zero-padded and resized to {dims(roi['out_shape'])} pixels (scikit-image). "
            f"Slices whose legs could not be separated were {dropped}.",
        ),
    )


def _training_text(context: MethodsContext, settings: Mapping[str, Any]) -> str:
    optimizer = settings.get("optimizer", "sgd")
    if optimizer == "sgd":
        opt = f"SGD with momentum {number(settings.get('momentum', 0.9))}"
    else:
        opt = f"AdamW {context.cite(refs.ADAMW)}"
    augment = (
        "random left-right flips, small rotations, scalings and shifts and an intensity gain "
        "of every mini-batch"
        if settings.get("augment", True)
        else "no augmentation"
    )
    patience = settings.get("patience")
    stop = (
        f", stopping early after {patience} epochs without a lower validation loss"
        if patience and patience < settings.get("epochs", 0)
        else ""
    )
    return (
        f"class-weighted binary cross-entropy, {opt}, learning rate "
        f"{number(settings.get('learning_rate'))} with cosine annealing "
        f"{context.cite(refs.COSINE_SCHEDULE)} over at most {settings.get('epochs')} epochs"
        f"{stop}, weight decay {number(settings.get('weight_decay'))}, batch size "
        f"{settings.get('batch_size')} and {augment}; the epoch with the lowest validation loss "
        "was kept"
    )


def _classifiers(context: MethodsContext) -> Section:
    config = context.config
    architectures = list(config["model"]["architectures"])
    primary = architectures[0]
    described = []
    for name in architectures:
        description, _ = _architecture(context, name)
        reference = _network_reference(name)
        cited = f"; {context.cite_names(reference)}" if reference else ""
        described.append(f"{name} ({description}{cited})")
    paragraphs = [
        f"Each slice was classified (dystrophinopathy vs other muscle disease, one logit) by "
        f"{listing(described)}: MONAI networks {context.cite(refs.MONAI)} in PyTorch "
        f"{context.cite(refs.PYTORCH)} ending in global average pooling and one linear layer. "
        f"{primary} is the primary model (metrics, rater comparison, activation maps)."
    ]
    # Architectures trained alike are described once.
    groups: dict[str, list[str]] = {}
    for name in architectures:
        record = context.model(name)
        settings = record.settings or {
            key: value
            for key, value in config["model"].items()
            if key not in ("architectures", "trained", "seed")
        }
        text = f"{context.model_origin(name)}, with {_training_text(context, settings)}"
        transfer = record.metadata.get("transfer_learning")
        if transfer:
            text += (
                f"; its convolutional layers were initialised from {transfer.get('backbone')} "
                f"(sha256 {transfer.get('sha256')}) and frozen, only the new head was trained"
            )
        groups.setdefault(text, []).append(name)
    for text, names in groups.items():
        subject = f"{listing(names)} were each" if len(names) > 1 else f"{names[0]} was"
        paragraphs.append(f"{subject} {text}.")
    gradcam = _architecture(context, primary)[1] == "gradcam"
    maps = (
        f"Grad-CAM maps {context.cite(refs.SELVARAJU_GRADCAM)}"
        if gradcam
        else f"Class activation maps {context.cite(refs.ZHOU_CAM)}"
    )
    aggregation = config["case_aggregation"]
    paragraphs.append(
        "A slice's probability is the sigmoid of its logit; a case's is the "
        f"{'mean' if aggregation == 'mean' else 'maximum'} over its slices "
        f"(case_aggregation {aggregation}), and a slice or case is called positive at a "
        f"probability of {number(config['threshold'])} or more. {maps} of the primary model "
        "show where it looked."
    )
    return Section("Classification", tuple(paragraphs))


def _statistics(context: MethodsContext) -> Section:
    config = context.config
    architectures = list(config["model"]["architectures"])
    level = f"{number(config['confidence'] * 100)}%"
    text = (
        f"Every statistic is computed on the {context.count('test')} test subjects, per image "
        "and per case. For each architecture: accuracy, sensitivity, specificity and the "
        f"predictive values with {level} Wilson score intervals "
        f"{context.cite(refs.WILSON, refs.NEWCOMBE)}, the F1 score, the likelihood ratios with "
        f"{level} log-method intervals {context.cite(refs.SIMEL)}, and the ROC AUC with its "
        f"{level} DeLong interval {context.cite(refs.DELONG, refs.SUN_XU)}."
    )
    if len(architectures) > 1:
        text += (
            f" The primary model's AUC is compared with that of {listing(architectures[1:])} "
            "by the paired DeLong test, Holm-adjusted over every comparison at both levels "
            f"{context.cite(refs.HOLM)}."
        )
    text += (
        " The primary model's sensitivity is reported for DMD and BMD separately, and the "
        "images and cases left out because the legs could not be separated are counted."
    )
    if context.demo or config.get("ratings"):
        source = (
            f"the {config['demo']['n_raters']} simulated raters"
            if context.demo and not config.get("ratings")
            else f"the raters of {config['ratings']}"
        )
    else:
        source = "the raters of the dataset's ratings.tsv, where it has one"
    text += (
        f" The calls of {source} get the same metrics against the reference; the primary "
        "model is compared with each rater by Cohen's kappa "
        f"{context.cite(refs.COHEN_KAPPA)} with its {level} interval from the non-null "
        f"standard error {context.cite(refs.FLEISS_COHEN_EVERITT)}, and the raters with one "
        f"another by Fleiss' kappa {context.cite(refs.FLEISS_KAPPA)} with a {level} interval "
        f"from Gwet's variance {context.cite(refs.GWET)} and the z test of Fleiss, Nee and "
        f"Landis {context.cite(refs.FLEISS_NEE_LANDIS)}."
    )
    return Section("Statistics", (text,))


def describe(context: MethodsContext) -> StudyMethods:
    """The methods text of study ``dystrophy``."""
    paper = context.cite(PAPER)
    intro = Section(
        "Study",
        (
            "We reproduced the deep-learning diagnosis of dystrophinopathies on thigh muscle "
            f"T1-weighted MRI {paper}: region-of-interest localisation, CNN "
            "classification of every slice and case, class activation maps, and diagnostic "
            "statistics against the reference diagnosis and against radiologists.",
        ),
    )
    return StudyMethods(
        title="dystrophinopathy diagnosis on thigh MRI (dystrophy)",
        paper=PAPER,
        sections=(
            intro,
            _data(context),
            _roi(context),
            _classifiers(context),
            _statistics(context),
        ),
        packages=("torch", "monai", "scikit-image", "scikit-learn", "statsmodels", "matplotlib"),
    )
