"""The methods text of study ``breathing`` (see :mod:`qmrflow.report.methods`).

Written from the study's config section and the lung U-Net's metadata: the demo cohort, the two
reconstructions with their CG-SENSE settings, the segmentation, the breathing measures with the
paradoxical-motion threshold, the diaphragm T1 fit and the group statistics.
"""

from __future__ import annotations

from qmrflow.report import references as refs
from qmrflow.report.methods import MethodsContext, Section, StudyMethods, listing, number
from qmrflow.report.phrases import frame_segmenter, level
from qmrflow.report.references import Reference
from qmrflow.studies.breathing.evaluate import KEY_MEASURES, LUNG_FUNCTION
from qmrflow.studies.breathing.study import TASKS

PAPER = Reference(
    "Zeng et al. 2026",
    "Zeng, Al-Bourini, Lettermann, et al., Frahm, Uecker, Seif Amir Hosseini, Schmidt. "
    "Real-time MRI with deep learning for efficient evaluation of neuromuscular breathing "
    "impairment. MedComm. 2026.",
)
DEICHMANN_HAASE = Reference(
    "Deichmann & Haase 1992",
    "Deichmann R, Haase A. Quantification of T1 values by SNAPSHOT-FLASH NMR imaging. J Magn "
    "Reson. 1992;96(3):608-612.",
)

_DEVICES = {
    "auto": "on a GPU when the job has one, else on the CPU",
    "cpu": "on the CPU",
    "cuda": "on the GPU",
}


def _data(context: MethodsContext) -> Section:
    text = [context.dataset_sentence()]
    if context.demo:
        demo = context.config["demo"]
        text.append(
            f"The demo simulates {demo['n_patients']} patients and {demo['n_controls']} "
            "controls (patients with reduced and delayed diaphragm motion, paradoxical "
            "hemidiaphragm motion in some, fatty diaphragm involution and lung-function values "
            "that follow the disease severity): coronal real-time radial FLASH k-space from "
            f"{demo['n_coils']} coils at {number(demo['frame_s'] * 1000)} ms per frame, "
            f"{number(demo['breathing_s'])} s of quiet and deep breathing and "
            f"{number(demo['sniff_s'])} s around a sniff, noise at an SNR of "
            f"{number(demo['snr'])}, and inversion-recovery images of the diaphragm."
        )
    text.append(context.split_sentence())
    groups = context.breakdown(
        "group", "test", labels={"patient": "patients", "control": "controls"}
    )
    if groups:
        text.append(f"The test subjects are {groups}.")
    return Section("Data", (" ".join(text),))


def _reconstruction(context: MethodsContext) -> Section:
    sense = context.config["reconstruction"]["sense"]
    device = _DEVICES.get(str(sense.get("device", "cpu")), f"on {sense.get('device')}")
    return Section(
        "Reconstruction",
        (
            f"Each task's ({listing(TASKS)}) multi-coil radial k-space, read from ISMRMRD "
            f"files {context.cite(refs.ISMRMRD)}, was reconstructed frame by frame two ways "
            "with coil sensitivities estimated from the time-averaged data by Walsh's adaptive "
            f"combination {context.cite(refs.WALSH)}. 'gridding', the baseline: the "
            "density-compensated adjoint non-uniform FFT "
            f"{context.cite(refs.JACKSON_GRIDDING, refs.FINUFFT)} of every coil, combined with "
            f"the sensitivities {context.cite(refs.ROEMER)}. 'sense': CG-SENSE "
            f"{context.cite(refs.PRUESSMANN)}, in the spirit of real-time NLINV "
            f"{context.cite(refs.UECKER_REALTIME)}, each frame regularised toward the previous "
            f"one (weight {number(sense['lam'])}) and toward zero (Tikhonov, "
            f"{number(sense['lam0'])}) and solved by {sense['iterations']} conjugate-gradient "
            f"iterations warm-started from the previous frame, {device}. Processing time per "
            "frame and the real-time factor were measured for both.",
        ),
    )


def _segmentation_and_measures(context: MethodsContext) -> Section:
    threshold = context.config["measures"]["paradoxical_threshold_mm"]
    segmentation = frame_segmenter(context, "segmentation", "the right and the left lung")
    segmentation += (
        " The network was trained on the SENSE frames of every task and applied to the "
        "frames of both reconstructions."
    )
    measures = (
        "From the lung masks of every frame: the diaphragm position per hemithorax (the lung's "
        "lower border over its central columns, refined to sub-pixel by the frame's partial "
        "volume across it), its excursion in each task and its peak "
        "velocity during the sniff, the thoracic width and its excursion, lung areas, the "
        "synchronicity of diaphragm and chest wall (correlation and lag), and paradoxical "
        "motion: a hemidiaphragm rising by more than "
        f"{number(threshold)} mm while the chest expands during the sniff."
    )
    t1 = (
        "Diaphragm T1 was fitted voxel by voxel to the inversion-recovery magnitudes with the "
        "three-parameter model |A - B exp(-TI/T1*)| by batched Levenberg-Marquardt "
        f"{context.cite(refs.LEVENBERG, refs.MARQUARDT)} from a grid start, refitted across "
        f"the magnitude null {context.cite(refs.BARRAL)}, with the Look-Locker correction "
        f"T1 = T1* (B/A - 1) {context.cite(DEICHMANN_HAASE)}; a subject's value is the median "
        "over the diaphragm region."
    )
    return Section("Segmentation and measures", (segmentation, measures, t1))


def _statistics(context: MethodsContext) -> Section:
    ci = level(context.config["confidence"])
    text = (
        f"Over the {context.count('test')} test subjects, per reconstruction, every measure is "
        "compared between patients and controls by the Mann-Whitney U test "
        f"{context.cite(refs.MANN_WHITNEY)}, exact without ties in groups under 50, with the "
        f"rank-biserial correlation {context.cite(refs.KERBY)}, and by Welch's t-test "
        f"{context.cite(refs.WELCH)}, with the mean difference and Hedges' g "
        f"{context.cite(refs.HEDGES)} and their {ci} intervals; p values are Holm-adjusted "
        f"{context.cite(refs.HOLM)} over the measures of "
        "one reconstruction and test. The subjects with paradoxical motion are counted per "
        f"group. Spearman's rho with its {ci} interval {context.cite(refs.BONETT_WRIGHT)} "
        f"relates {listing(KEY_MEASURES)} to the lung-function columns "
        f"{listing(LUNG_FUNCTION)} of the participants table."
    )
    if context.demo:
        text += (
            " On the demo, accuracy against the ground truth is the Dice of each lung, the "
            "excursion error and the sensitivity and specificity of the paradoxical-motion "
            f"flags with {ci} Wilson intervals {context.cite(refs.WILSON)}, and the diaphragm "
            "T1 error."
        )
    return Section("Statistics", (text,))


def describe(context: MethodsContext) -> StudyMethods:
    """The methods text of study ``breathing``."""
    intro = Section(
        "Study",
        (
            "We reproduced the evaluation of neuromuscular breathing impairment by real-time "
            f"MRI with deep-learning lung segmentation {context.cite(PAPER)}: real-time radial "
            "reconstruction, U-Net lung segmentation of every frame, diaphragm and chest-wall "
            "motion measures, diaphragm T1, and patients compared with controls and with lung "
            "function.",
        ),
    )
    return StudyMethods(
        title="real-time MRI of breathing impairment (breathing)",
        paper=PAPER,
        sections=(
            intro,
            _data(context),
            _reconstruction(context),
            _segmentation_and_measures(context),
            _statistics(context),
        ),
        packages=("finufft", "ismrmrd", "torch", "monai", "statsmodels", "matplotlib"),
    )
