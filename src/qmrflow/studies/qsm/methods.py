"""The methods text of study ``qsm`` (see :mod:`qmrflow.report.methods`).

Written from the study's config section and the DL reconstruction's metadata: the demo cohort,
the conventional and the DL reconstruction (its training as recorded with the model), every QSM
step with its settings, the lesion features and ratings, and the statistics.
"""

from __future__ import annotations

from qmrflow.report import references as refs
from qmrflow.report.methods import (
    MethodsContext,
    Section,
    StudyMethods,
    dims,
    listing,
    number,
)
from qmrflow.report.phrases import level
from qmrflow.report.references import Reference
from qmrflow.studies.qsm.pipeline import TV_LAMBDA_MIN, TV_LAMBDA_PER_NOISE
from qmrflow.studies.qsm.raters import DEFAULT_RATERS, ITEM_WEIGHTS

PAPER = Reference(
    "Gkotsoulias et al. 2025",
    "Gkotsoulias DG, Weigel M, Cagol A, de Oliveira Soares Siebenborn N, Ruberte E, Pfeuffer J, "
    "Granziera C. A pilot study assessing the clinical utility of deep learning-reconstructed "
    "3D-echo-planar-imaging-based quantitative susceptibility mapping in multiple sclerosis. "
    "Front Neurosci. 2025;19:1544376.",
    doi="10.3389/fnins.2025.1544376",
)
BERNSTEIN = Reference(
    "Bernstein et al. 1994",
    "Bernstein MA, Grgic M, Brosnan TJ, Pelc NJ. Reconstructions of phase contrast, phased "
    "array multicoil data. Magn Reson Med. 1994;32(3):330-334.",
    doi="10.1002/mrm.1910320308",
)
SCHOFIELD_ZHU = Reference(
    "Schofield & Zhu 2003",
    "Schofield MA, Zhu Y. Fast phase unwrapping algorithm for interferometric applications. "
    "Opt Lett. 2003;28(14):1194-1196.",
    doi="10.1364/OL.28.001194",
)
VSHARP = Reference(
    "Li et al. 2011",
    "Li W, Wu B, Liu C. Quantitative susceptibility mapping of human brain reflects spatial "
    "variation in tissue composition. NeuroImage. 2011;55(4):1645-1656.",
    doi="10.1016/j.neuroimage.2010.11.088",
)
TKD = Reference(
    "Shmueli et al. 2009",
    "Shmueli K, de Zwart JA, van Gelderen P, Li TQ, Dodd SJ, Duyn JH. Magnetic susceptibility "
    "mapping of brain tissue in vivo using MRI phase data. Magn Reson Med. "
    "2009;62(6):1510-1522.",
    doi="10.1002/mrm.22135",
)
TKD_CORRECTION = Reference(
    "Schweser et al. 2013",
    "Schweser F, Deistung A, Sommer K, Reichenbach JR. Toward online reconstruction of "
    "quantitative susceptibility maps: superfast dipole inversion. Magn Reson Med. "
    "2013;69(6):1582-1594.",
    doi="10.1002/mrm.24405",
)
TV_ADMM = Reference(
    "Bilgic et al. 2014",
    "Bilgic B, Fan AP, Polimeni JR, Cauley SF, Bianciardi M, Adalsteinsson E, Wald LL, "
    "Setsompop K. Fast quantitative susceptibility mapping with L1-regularization and "
    "automatic parameter selection. Magn Reson Med. 2014;72(5):1444-1459.",
    doi="10.1002/mrm.25029",
)
QSM_CHALLENGE = Reference(
    "Langkammer et al. 2018",
    "Langkammer C, Schweser F, Shmueli K, Kames C, Li X, Guo L, et al. Quantitative "
    "susceptibility mapping: report from the 2016 reconstruction challenge. Magn Reson Med. "
    "2018;79(3):1661-1673.",
    doi="10.1002/mrm.26830",
)
HFEN = Reference(
    "Ravishankar & Bresler 2011",
    "Ravishankar S, Bresler Y. MR image reconstruction from highly undersampled k-space data by "
    "dictionary learning. IEEE Trans Med Imaging. 2011;30(5):1028-1041.",
    doi="10.1109/TMI.2010.2090538",
)
ROMEO = Reference(
    "Dymerska et al. 2021",
    "Dymerska B, Eckstein K, Bachrata B, Siow B, Trattnig S, Shmueli K, Robinson SD. Phase "
    "unwrapping with a rapid opensource minimum spanning tree algorithm (ROMEO). Magn Reson "
    "Med. 2021;85(4):2294-2308.",
    doi="10.1002/mrm.28563",
)

_ACQUISITIONS = {
    "gre": "the reference multi-echo GRE",
    "epi2avg": "the 2-average 3D-EPI",
    "epi1avg": "the 1-average 3D-EPI",
}


def _data(context: MethodsContext) -> Section:
    text = [context.dataset_sentence()]
    if context.demo:
        demo = context.config["demo"]
        text.append(
            f"The demo simulates {demo['n_subjects']} subjects with multiple-sclerosis "
            "lesions, susceptibility phantoms built on the MNI152 2009a template "
            f"{context.cite(refs.FONOV_MNI)} with {number(demo['lesions'][0])} to "
            f"{number(demo['lesions'][1])} FLAIR lesions each, some with a paramagnetic rim or "
            f"a central vein, at {number(demo['b0'])} T: {demo['n_coils']}-coil Cartesian "
            f"k-space of a multi-echo GRE and of a 2- and a 1-average 3D-EPI on a "
            f"{dims(demo['matrix'])} grid of {number(demo['voxel_mm'])} mm voxels, echo times "
            f"of {number([t * 1000 for t in demo['echo_times']])} ms, the EPI sampling the "
            f"central {number(demo['epi_fraction'])} of k-space in x and y, with an SNR of "
            f"{number(demo['snr_gre'])} (GRE) and {number(demo['snr_epi2avg'])} (2-average "
            "EPI)."
        )
    else:
        text.append(
            "Each subject has a multi-echo GRE and a 2- and a 1-average 3D-EPI, as ISMRMRD "
            f"k-space {context.cite(refs.ISMRMRD)} or magnitude and phase images, with FLAIR "
            "lesion labels."
        )
    text.append(context.split_sentence())
    return Section("Data", (" ".join(text),))


def _reconstruction(context: MethodsContext) -> Section:
    cr = (
        "The conventional reconstruction (CR) of every acquisition is the inverse FFT of each "
        "coil's zero-filled k-space (the EPI zero-filled onto the GRE grid), the coils "
        "combined by the Hermitian inner product with the first echo, which keeps the phase "
        f"{context.cite(BERNSTEIN)}."
    )
    record = context.model("reconstruction")
    s = record.settings
    dc = (
        f"learned weight (initial {number(s.get('dc_weight'))})"
        if s.get("learn_dc_weight")
        else f"fixed weight of {number(s.get('dc_weight'))}"
    )
    dlr = (
        "The DL reconstruction (DLR) maps each axial slice of the EPI's CR, the real and "
        "imaginary parts of every echo as channels, each echo referenced to the phase of its "
        f"Gaussian-smoothed image ({number(s.get('phase_reference_px'))} pixels), through a "
        "residual 2-D MONAI U-Net "
        f"{context.cite(refs.RONNEBERGER, refs.MONAI)} with {number(s.get('features'))} "
        f"features per level and soft k-space data consistency with a {dc}. It was "
        f"{context.model_origin('reconstruction')}, the 2- and 1-average EPI together with "
        "the GRE's CR as the target: L1 loss of the real and imaginary parts plus "
        f"{number(s.get('phase_weight'))} x the L1 of the echo-to-echo products, the "
        f"background weighted by {number(s.get('background_weight'))}, AdamW "
        f"{context.cite(refs.ADAMW)} at a learning rate of {number(s.get('learning_rate'))} "
        f"with cosine annealing {context.cite(refs.COSINE_SCHEDULE)} over {s.get('epochs')} "
        f"epochs, batches of {s.get('batch_size')} slices"
        + (", random left-right flips" if s.get("augment") else "")
        + "; the epoch with the lowest validation loss was kept."
    )
    return Section("Reconstruction", (cr, dlr))


def _qsm(context: MethodsContext) -> Section:
    q = context.config["qsm"]
    tv_lambda = (
        f"lambda {number(q['tv_lambda'])}"
        if q["tv_lambda"] is not None
        else (
            f"lambda {number(TV_LAMBDA_PER_NOISE)} x the median standard error of the fitted "
            f"field, at least {number(TV_LAMBDA_MIN)},"
        )
    )
    text = (
        "QSM was computed the same way from every acquisition and reconstruction: a brain "
        f"mask thresholded at {number(q['mask_threshold'])} of the robust maximum of the "
        f"first-echo magnitude (at least {number(q['mask_noise_factor'])} x the mean background "
        f"below Otsu's threshold; {context.cite_names(refs.OTSU)}), cleaned by morphology and "
        f"eroded by {number(q['erode_mm'])} mm; voxels whose echo-difference phase jumps by "
        f"more than {number(q['phase_max_jump'])} x pi to a neighbour left out "
        f"{context.cite(ROMEO)}; Laplacian phase unwrapping {context.cite(SCHOFIELD_ZHU)} and "
        "a weighted linear fit of phase against echo time for the total field; the mask's "
        "boundary peeled by "
        f"{number(q['boundary_peel_mm'])} mm; background field removal by V-SHARP "
        f"{context.cite(VSHARP)} with kernel radii of {number(q['vsharp_radii_mm'])} mm and a "
        f"threshold of {number(q['vsharp_threshold'])}; and dipole inversion by truncated "
        f"k-space division {context.cite(TKD)} at a threshold of {number(q['tkd_threshold'])} "
        f"with its underestimation corrected {context.cite(TKD_CORRECTION)} and by "
        f"total-variation-regularised inversion solved by ADMM {context.cite(TV_ADMM)} with "
        f"{tv_lambda} and {q['tv_iterations']} iterations. Every map is referenced to the mean "
        "susceptibility of the lateral ventricles."
    )
    return Section("Quantitative susceptibility mapping", (text,))


def _statistics(context: MethodsContext) -> Section:
    config = context.config
    ci = level(config["confidence"])
    acquisition = config["lesions"]["acquisition"]
    lesions = (
        "Every FLAIR lesion's features (core, rim, central-vein and surrounding-tissue "
        f"contrasts) were measured on the CR and the DLR QSM of {_ACQUISITIONS[acquisition]} "
        f"(lesions.acquisition {acquisition}). "
    )
    if context.demo and not config.get("ratings"):
        lesions += (
            f"The demo's {len(DEFAULT_RATERS)} simulated raters, seeded by the demo seed, "
            "scored each lesion on both reconstructions from the contrast-to-noise ratios of "
            "what it shows "
            "(paramagnetic rim and central vein sign 1-5, hyper- or isointensity 0/1, image "
            "quality 1-5)."
        )
    elif config.get("ratings"):
        lesions += f"The raters' scores of each lesion are read from {config['ratings']}."
    else:
        lesions += "No ratings table is configured (qsm.ratings), so no rating statistics."
    weighted = [item for item, weight in ITEM_WEIGHTS.items() if weight]
    unweighted = [item for item, weight in ITEM_WEIGHTS.items() if not weight]
    stats = (
        f"Over the {context.count('test')} test subjects, per rater and item, the CR and DLR "
        f"scores are compared by Cohen's kappa {context.cite(refs.COHEN_KAPPA)}, with "
        f"quadratic weights {context.cite(refs.COHEN_WEIGHTED_KAPPA)} for {listing(weighted)} "
        f"and unweighted for {listing(unweighted)}, and {ci} intervals from the non-null "
        f"standard error {context.cite(refs.FLEISS_COHEN_EVERITT)}, and by the Wilcoxon "
        f"signed-rank test of DLR - CR {context.cite(refs.WILCOXON)}. Every EPI map is compared "
        "with the "
        "GRE CR map of the same inversion by the metrics of the QSM reconstruction challenge "
        f"{context.cite(QSM_CHALLENGE)}: RMSE and HFEN {context.cite(HFEN)} in percent, SSIM "
        f"{context.cite(refs.WANG_SSIM)} and the deep grey matter ROI error; DLR and CR are "
        f"compared on RMSE and HFEN by paired t-tests ({ci} intervals), Holm-adjusted "
        f"{context.cite(refs.HOLM)} within each family, and the deep grey matter ROI means of "
        "each EPI map are regressed on those of GRE-QSM (slope, R²)."
    )
    if context.demo:
        stats += " On the demo, every map is also compared with the true susceptibility."
    return Section("Lesions, ratings and statistics", (lesions, stats))


def describe(context: MethodsContext) -> StudyMethods:
    """The methods text of study ``qsm``."""
    intro = Section(
        "Study",
        (
            "We reproduced the pilot study of deep-learning-reconstructed 3D-EPI quantitative "
            f"susceptibility mapping in multiple sclerosis {context.cite(PAPER)}: conventional "
            "and deep-learning reconstruction of a fast 3D-EPI, QSM of every reconstruction and "
            "of a reference GRE, lesion ratings on CR- and DLR-QSM, and agreement with "
            "GRE-QSM.",
        ),
    )
    return StudyMethods(
        title="DL-reconstructed 3D-EPI QSM in multiple sclerosis (qsm)",
        paper=PAPER,
        sections=(
            intro,
            _data(context),
            _reconstruction(context),
            _qsm(context),
            _statistics(context),
        ),
        packages=("ismrmrd", "torch", "monai", "scikit-image", "statsmodels", "matplotlib"),
    )
