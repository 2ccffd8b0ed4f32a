"""The methods text of study ``perfusion`` (see :mod:`qmrflow.report.methods`).

Written from the study's config section and its two models' metadata: the demo cohort, the
three alignments (none, the iterative robust-PCA baseline with its schedule, the one-shot
networks with their training as recorded), the myocardium U-Net, the Fermi quantification with
its constants, and the statistics across alignments.
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
from qmrflow.report.phrases import frame_segmenter, level
from qmrflow.report.references import Reference
from qmrflow.studies.perfusion.kinetics import DENSITY
from qmrflow.studies.perfusion.quantify import MAX_MBF

PAPER = Reference(
    "Schueler et al. 2026",
    "Schueler, Wong, Crawley, Pluim, Chiribiri, Scannell. Deep learning motion correction of "
    "quantitative stress perfusion cardiovascular magnetic resonance. J Cardiovasc Magn Reson. "
    "2026:102697.",
)
JEROSCH_HEROLD = Reference(
    "Jerosch-Herold et al. 1998",
    "Jerosch-Herold M, Wilke N, Stillman AE. Magnetic resonance quantification of the "
    "myocardial perfusion reserve with a Fermi function model for constrained deconvolution. "
    "Med Phys. 1998;25(1):73-84.",
    doi="10.1118/1.598163",
)
CERQUEIRA_AHA = Reference(
    "Cerqueira et al. 2002",
    "Cerqueira MD, Weissman NJ, Dilsizian V, Jacobs AK, Kaul S, Laskey WK, et al. Standardized "
    "myocardial segmentation and nomenclature for tomographic imaging of the heart. "
    "Circulation. 2002;105(4):539-542.",
    doi="10.1161/hc0402.102975",
)

_SIMILARITY = {
    "ncc": "one minus the normalised cross-correlation",
    "mse": "mean squared error of the normalised intensities",
    "lncc": "one minus the local normalised cross-correlation",
}


def _data(context: MethodsContext) -> Section:
    text = [context.dataset_sentence()]
    if context.demo:
        demo = context.config["demo"]
        text.append(
            f"The demo simulates {demo['n_subjects']} subjects: free-breathing stress "
            f"perfusion series of {demo['n_frames']} frames (one per heartbeat) on a "
            f"{dims(demo['matrix'])} short-axis grid, a low-resolution arterial input (AIF) "
            "series and proton-density (PD) images, with a gamma-variate bolus, Fermi tissue "
            "responses with ischaemic segments in some subjects, a saturation-recovery signal, "
            "respiratory motion (deep breaths in some) and noise at an SNR of "
            f"{number(demo['snr'])} in the myocardium at peak enhancement."
        )
    text.append(context.split_sentence())
    return Section("Data", (" ".join(text),))


def _iterative_text(context: MethodsContext, options: Mapping[str, Any]) -> str:
    lambdas, components = list(options["lambdas"]), list(options["components"])
    rounds = []
    if lambdas:
        rounds.append(
            f"{len(lambdas)} round(s) against the low-rank part of robust PCA by the inexact "
            f"augmented Lagrange multiplier method {context.cite(refs.CANDES_RPCA, refs.LIN_IALM)} "
            f"with lambda {number(lambdas)} x 1/sqrt(max(m, n)) of the Casorati matrix"
        )
    if components:
        rounds.append(
            f"{len(components)} round(s) against a PCA reference of {number(components)} "
            f"components {context.cite(refs.MELBOURNE)}"
        )
    mesh = options.get("bspline_mesh")
    bspline = (
        f", followed in the last round by a cubic B-spline on a {dims(mesh)} control mesh "
        f"(L-BFGS-B, at most {options['bspline_iterations']} iterations)"
        if mesh
        else " (no B-spline stage)"
    )
    return (
        f"{listing(rounds)}, each frame registered to the synthetic frame of the same time "
        f"point with SimpleITK {context.cite(refs.SIMPLEITK)}: affine, at most "
        f"{options['affine_iterations']} iterations of regular-step gradient descent on a "
        f"3-level pyramid{bspline}"
    )


def _reference_changes(iterative: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    """How the training references differ from the iterative baseline, in words."""
    changes = []
    for key, value in reference.items():
        if iterative.get(key) == value:
            continue
        if key == "bspline_mesh" and not value:
            changes.append("without the B-spline stage")
        else:
            changes.append(f"with {key.replace('_', ' ')} {number(value)}")
    return f" {listing(changes)}" if changes else " with the same schedule"


def _alignment(context: MethodsContext) -> Section:
    config = context.config
    iterative = config["registration"]["iterative"]
    baseline = (
        "Each test subject's stress series was aligned three ways. 'none' keeps the frames as "
        "acquired. 'iterative' is the optimisation-based baseline "
        f"{context.cite(refs.SCANNELL, refs.HAMY)}: per slice, outer rounds that rebuild a "
        "motion-free synthetic series from the current aligned frames and register the "
        f"original frames to it again, {_iterative_text(context, iterative)}; the fields are "
        "then referred to the most frequent respiratory position. The AIF series is aligned "
        "with the field of the nearest stress slice, and the PD images affinely to the mean "
        f"aligned pre-contrast frame by Mattes mutual information {context.cite(refs.MATTES)}."
    )
    record = context.model("registration")
    s = record.settings
    # What the model was trained with: its recorded provenance (a given model's may differ).
    trained = record.metadata.get("provenance", {}).get("registration", config["registration"])
    changes = _reference_changes(trained["iterative"], trained["reference"])
    similarity = _SIMILARITY.get(s.get("similarity", "ncc"), s.get("similarity"))
    dl = (
        "'dl' predicts each frame's displacement in one forward pass of two MONAI networks "
        f"{context.cite(refs.MONAI)}, GlobalNet (affine) then LocalNet (deformable) "
        f"{context.cite(refs.HU_REGISTRATION)}, on frames average-pooled by "
        f"{s.get('resolution')} and standardised, moving each frame onto its slice's temporal "
        f"{s.get('fixed', 'median')}. The networks were {context.model_origin('registration')}; "
        "a training slice's target is the final synthetic series of the iterative method, run"
        f"{changes}. The loss is {similarity} of the warped frame and its target plus "
        f"{number(s.get('affine_weight'))} x that of the affine-warped frame plus "
        f"{number(s.get('smoothness_weight'))} x the bending energy of the field "
        f"{context.cite(refs.RUECKERT)}; Adam {context.cite(refs.ADAM)} at a learning rate of "
        f"{number(s.get('learning_rate'))} with cosine annealing "
        f"{context.cite(refs.COSINE_SCHEDULE)} over {s.get('epochs')} epochs, batches of "
        f"{s.get('batch_size')} frames, random shifts of up to "
        f"{number(s.get('augment_shift'))} voxels; the epoch with the lowest validation loss "
        "was kept."
    )
    return Section("Motion correction", (baseline, dl))


def _quantification(context: MethodsContext) -> Section:
    q = context.config["quantification"]
    segmentation = frame_segmenter(
        context,
        "segmentation",
        "the LV blood pool, the myocardium and the RV blood pool",
    )
    measures = (
        "Per slice, the majority vote of the frames' labels is the reference; the myocardial "
        "Dice of each frame against it (and, on the demo, of the true labels warped by the "
        "method's field) measures the alignment, and the temporal smoothness is the median "
        "over myocardial pixels of the RMS second temporal difference of the concentration "
        "curve over its range. The PD-normalised saturation-recovery signal was converted to "
        f"contrast concentration with a native R1 of {number(q['r10_myocardium'])}/s "
        f"(myocardium) and {number(q['r10_blood'])}/s (blood) and a relaxivity of "
        f"{number(q['relaxivity'])}/(mM s), minus the mean of the first "
        f"{q['baseline_frames']} frames. The arterial input is the median of the LV pool's "
        "core in the AIF series with the magnitude noise floor removed. Fermi-constrained "
        f"deconvolution {context.cite(JEROSCH_HEROLD)} of the first pass, fitted by batched "
        f"Levenberg-Marquardt {context.cite(refs.LEVENBERG, refs.MARQUARDT)} with the delay "
        "searched on a grid, gave the MBF of each AHA segment "
        f"{context.cite(CERQUEIRA_AHA)}, from its core pixels, and of every myocardial pixel "
        f"at its segment's delay, bounded to 0-{number(MAX_MBF)} ml/min/g (tissue density "
        f"{number(DENSITY)} g/ml)."
    )
    return Section("Segmentation and quantification", (segmentation, measures))


def _statistics(context: MethodsContext) -> Section:
    ci = level(context.config["confidence"])
    text = (
        f"Over the {context.count('test')} test subjects, each outcome (mean Dice, the demo's "
        "Dice of the warped true labels, temporal smoothness, the median pixel-MBF SD of the "
        "segments and, on the demo, the median MBF error) is compared between DL and "
        "iterative, DL and none, and iterative and none by the paired t-test (mean difference "
        f"with its {ci} interval) and the Wilcoxon signed-rank test "
        f"{context.cite(refs.WILCOXON)}, Holm-adjusted {context.cite(refs.HOLM)} over the three "
        "comparisons of one outcome and test. Medians carry distribution-free intervals from "
        f"binomial order statistics ({ci}). The speed ratio is the iterative over the DL "
        "alignment time of each subject, both measured in this run."
    )
    if context.demo:
        text += (
            " On the demo, each method's segment MBF is compared with the truth by regression, "
            f"Bland-Altman analysis {context.cite(refs.BLAND_ALTMAN_1986)} and the paired "
            "t-test; segments of one subject are not independent, so these are descriptive."
        )
    return Section("Statistics", (text,))


def describe(context: MethodsContext) -> StudyMethods:
    """The methods text of study ``perfusion``."""
    intro = Section(
        "Study",
        (
            "We reproduced the deep-learning motion correction of quantitative stress "
            f"perfusion CMR {context.cite(PAPER)}: no alignment, the iterative robust-PCA "
            "registration and one-shot deep-learning registration of the perfusion, AIF and PD "
            "images, myocardium segmentation and pixel-wise and segmental MBF quantification, "
            "compared across the three alignments.",
        ),
    )
    return StudyMethods(
        title="deep-learning motion correction of stress perfusion CMR (perfusion)",
        paper=PAPER,
        sections=(
            intro,
            _data(context),
            _alignment(context),
            _quantification(context),
            _statistics(context),
        ),
        packages=("SimpleITK", "torch", "monai", "statsmodels", "matplotlib"),
    )
