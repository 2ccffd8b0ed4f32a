"""The methods text of study ``synthmri`` (see :mod:`qmrflow.report.methods`).

Written from the study's config section and the generator's metadata: the demo cohort, the
MDME fit, the synthetic contrasts, the super-resolution GAN and its training as recorded with
the model, the spline baseline, the ROI and image-quality measures and the agreement
statistics with their multiplicity correction.
"""

from __future__ import annotations

import inspect

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
from qmrflow.studies.synthmri.contrasts import CONTRASTS
from qmrflow.studies.synthmri.mapping import map_subject
from qmrflow.studies.synthmri.mdme import B1_BOUNDS, T1_BOUNDS, T2_BOUNDS
from qmrflow.studies.synthmri.protocol import DEFAULT_PROTOCOL

PAPER = Reference(
    "JMIR Med Inform 2025",
    "Two-minute deep learning-powered brain quantitative mapping: accelerating clinical imaging "
    "with synthetic MRI. JMIR Med Inform. Accepted December 2025.",
)
WARNTJES = Reference(
    "Warntjes et al. 2008",
    "Warntjes JBM, Leinhard OD, West J, Lundberg P. Rapid magnetic resonance quantification on "
    "the brain: optimization for clinical usage. Magn Reson Med. 2008;60(2):320-329.",
    doi="10.1002/mrm.21635",
)


def _data(context: MethodsContext) -> Section:
    text = [context.dataset_sentence()]
    if context.demo:
        demo = context.config["demo"]
        protocol = DEFAULT_PROTOCOL
        delays = sorted(set(protocol.delays))
        echoes = sorted(set(protocol.echo_times))
        text.append(
            f"The demo simulates {demo['n_subjects']} subjects from the MNI152 2009a template "
            f"{context.cite(refs.FONOV_MNI)}, deformed per subject, with literature T1, T2 and "
            "PD per tissue, between-subject variation and white-matter lesions in some "
            f"subjects: {demo['n_slices']} slices of multi-delay multi-echo (MDME) magnitude "
            f"images with saturation delays of {number(delays)} ms and echo times of "
            f"{number(echoes)} ms (TR {number(protocol.repetition_time)} ms), the routine "
            f"protocol on a {dims(demo['matrix'])} matrix and the fast one with "
            f"{number(demo['fast_phase_fraction'])} of its phase-encoding lines, with Rician "
            f"noise at an SNR of {number(demo['snr'])}."
        )
    else:
        text.append(
            "Each subject has a routine and a fast MDME acquisition whose saturation delays, "
            "echo times, TR and flip angles are read from the images' JSON sidecars."
        )
    text.append(context.split_sentence())
    return Section("Data", (" ".join(text),))


def _mapping(context: MethodsContext) -> Section:
    mapping = context.config["mapping"]
    defaults = inspect.signature(map_subject).parameters
    smoothing = defaults["b1_smoothing_mm"].default
    b1 = (
        f", the B1 map smoothed with a Gaussian of {number(smoothing)} mm between two passes"
        if smoothing
        else ""
    )
    contrasts = listing(
        f"{name} (TR {number(c.repetition_time)} ms, TE {number(c.echo_time)} ms"
        + (f", TI {number(c.inversion_time)} ms)" if c.inversion_time else ")")
        for name, c in CONTRASTS.items()
    )
    fit = (
        "T1, T2, PD and B1 were fitted voxel by voxel, for the routine and the fast protocol "
        f"alike, with the MDME signal model of QRAPMASTER {context.cite(WARNTJES)} inside a "
        f"foreground mask at {number(mapping['mask_threshold'])} of the robust maximum "
        "signal (and above the noise): T2 in "
        "closed form from a log-linear fit over the echoes, T1 and B1 from a grid search, PD "
        "by linear least squares, then Levenberg-Marquardt "
        f"{context.cite(refs.LEVENBERG, refs.MARQUARDT)} on all images (at most "
        f"{mapping['max_iterations']} iterations; T1 {number(T1_BOUNDS[0])}-"
        f"{number(T1_BOUNDS[1])} ms, T2 {number(T2_BOUNDS[0])}-{number(T2_BOUNDS[1])} ms, "
        f"B1 {number(B1_BOUNDS[0])}-{number(B1_BOUNDS[1])}), with a second start across the "
        f"magnitude null {context.cite(refs.BARRAL)}, the Rician mean of the model with the "
        f"noise level estimated from the background {context.cite(refs.GUDBJARTSSON_PATZ)}"
        f"{b1}. Synthetic {contrasts} images were computed from the maps with the spin-echo "
        "and inversion-recovery signal equations."
    )
    return Section("Quantitative maps", (fit,))


def _superresolution(context: MethodsContext) -> Section:
    record = context.model("generator")
    s = record.settings or {
        key: value
        for key, value in context.config["model"].items()
        if key not in ("trained", "seed")
    }
    scale = s.get("scale", [1, 2])
    scales = record.metadata.get("normalisation", {}).get("scales", {})
    units = {"T1map": " ms", "T2map": " ms"}
    normalised = (
        "normalised by fixed scales of "
        + listing(
            f"{number(value)}{units.get(name, '')} ({name.removesuffix('map')})"
            for name, value in scales.items()
        )
        + ", log-compressed above 1 and clipped"
        if scales
        else "normalised by fixed scales"
    )
    network = (
        "The fast maps were super-resolved to the routine grid by an SRGAN generator "
        f"{context.cite(refs.LEDIG_SRGAN)} built from MONAI blocks {context.cite(refs.MONAI)} "
        f"in PyTorch {context.cite(refs.PYTORCH)}: the T1, T2 and PD maps of a slice as "
        f"three channels, {normalised}; {s.get('residual_blocks')} residual blocks of "
        f"{s.get('channels')} channels with {s.get('kernel_size')} x {s.get('kernel_size')} "
        f"kernels and sub-pixel upsampling {context.cite(refs.SHI_SUBPIXEL)} by "
        f"{dims(scale)}, added to the bicubic interpolation of its input "
        f"{context.cite(refs.KIM_VDSR)}."
    )
    training = (
        f"The generator was {context.model_origin('generator')}, with the routine maps as the "
        f"target: {s.get('pretrain_epochs')} epochs of masked L1 pre-training, then "
        f"{s.get('adversarial_epochs')} adversarial epochs against a PatchGAN discriminator "
        f"{context.cite(refs.ISOLA_PATCHGAN)} with an adversarial weight of "
        f"{number(s.get('adversarial_weight'))}, Adam {context.cite(refs.ADAM)} at a learning "
        f"rate of {number(s.get('learning_rate'))} and batches of {s.get('batch_size')} slices; "
        "the checkpoint with the lowest validation pixel loss over both phases was kept. The "
        "baseline ('fast') is cubic B-spline interpolation of the fast maps to the routine grid "
        "(SciPy)."
    )
    return Section("Deep-learning super-resolution", (network, training))


def _statistics(context: MethodsContext) -> Section:
    level = f"{number(context.config['confidence'] * 100)}%"
    measures = (
        "For every test subject the T1, T2 and PD means of the routine, fast and DL maps (and "
        "the truth, on the demo) were taken in the same regions of interest on the routine "
        "grid: tissues (CSF, grey and white matter, deep grey matter), regions within brain "
        "tissue and each white-matter lesion, lesion voxels excluded from the others. Image "
        f"quality against the routine maps is PSNR, SSIM {context.cite(refs.WANG_SSIM)} and "
        "NRMSE inside the brain mask."
    )
    agreement = (
        f"Over the {context.count('test')} test subjects, per map, the DL and the fast maps "
        "were each compared with the routine maps on the ROI means pooled over tissues and "
        "regions: ordinary least-squares regression on the routine values (slope, intercept, "
        f"R², {level} intervals; statsmodels), Bland-Altman bias and 1.96 SD limits of "
        f"agreement with {level} intervals "
        f"{context.cite(refs.BLAND_ALTMAN_1986, refs.BLAND_ALTMAN_1999)} and the paired "
        "t-test; on the "
        "lesions, the paired t-test and Bland-Altman analysis. ROI means of one subject are "
        "not independent, so these p values are descriptive, as in the paper. The paired "
        "t-tests of one comparison (DL vs routine; fast vs routine) are Holm-adjusted "
        f"{context.cite(refs.HOLM)}. Image quality is summarised by its median and "
        "interquartile range, and DL is compared with fast per metric and map by the "
        f"Wilcoxon signed-rank test {context.cite(refs.WILCOXON)}, Holm-adjusted within each "
        "reference."
    )
    if context.demo:
        agreement += (
            " On the demo, each method's error against the ground truth is the absolute "
            "percentage error of its tissue ROI means, summarised by the median over subjects."
        )
    return Section("Measures and statistics", (measures, agreement))


def describe(context: MethodsContext) -> StudyMethods:
    """The methods text of study ``synthmri``."""
    intro = Section(
        "Study",
        (
            "We reproduced two-minute brain quantitative mapping with synthetic MRI and "
            f"deep-learning super-resolution {context.cite(PAPER)}: T1, T2 and PD maps from "
            "a routine and a fast multi-delay multi-echo acquisition, the fast maps "
            "super-resolved by a GAN, and their agreement with the "
            "routine maps.",
        ),
    )
    return StudyMethods(
        title="synthetic MRI with deep-learning super-resolution (synthmri)",
        paper=PAPER,
        sections=(
            intro,
            _data(context),
            _mapping(context),
            _superresolution(context),
            _statistics(context),
        ),
        packages=("torch", "monai", "scikit-image", "statsmodels", "matplotlib"),
    )
