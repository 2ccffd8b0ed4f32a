"""Simulated demo cohort of the qsm study (DL-reconstructed 3D-EPI QSM in MS), with ground truth.

Everything is generated from seeds: :func:`demo_participants` draws the cohort table,
:func:`simulate_phantom` one subject's susceptibility phantom and fields,
:func:`simulate_acquisition` the multi-coil multi-echo k-space of one acquisition of it and
:func:`write_subject` writes a subject's BIDS files (:mod:`.files`). A subject depends only on
its id, the settings and the cohort seed: its streams are children of
:func:`qmrflow.simulate.cohort.subject_seed` ``(seed, participant_id)``
(:data:`.cohort.ASPECTS`: anatomy, tissues, lesions, veins, background, phase, coils, FLAIR
noise and one noise stream per acquisition).

Grid
----
:class:`QsmDemoSettings`: ``matrix`` (80, 96, 40) at 2 mm isotropic, RAS voxel order, ``B0``
along axis 2. The affine is diagonal with the world origin at the volume centre, which lies at
MNI (0, -18, 10) mm of the undeformed template (:data:`.settings.SLAB_CENTRE_MM`): the slab is
centred on the deep grey matter and the lateral ventricles, so a thin slab still holds them and
the periventricular lesions. Brains are the template scaled by 0.92 (``NATIVE_SCALE``: MNI152
is larger than native brains), so the default 160 x 192 mm field of view keeps a margin of a
few voxels around the brain.

Anatomy (:mod:`.phantom`)
-------------------------
The MNI152 2009a template (brain, GM, WM fractions) through a per-subject random deformation,
sampled at ~1 mm sub-points of each voxel and block-averaged. Deep grey matter nuclei (caudate,
putamen, globus pallidus, thalamus) are template-space ellipsoids (their GM and WM fraction
becomes the nucleus); the lateral ventricles are the template's CSF components around them.
Labels (dseg, :data:`LABELS`): 1 caudate, 2 putamen, 3 pallidus, 4 thalamus, 5 lateral
ventricles, 6 white matter (lesions included), 7 cortical grey matter; each brain voxel takes
its largest class, and voxels where CSF outside the lateral ventricles is largest (sulci,
cisterns, third ventricle) are 0 like the outside of the brain (``brain`` is the brain mask).

Susceptibility (ppm relative to CSF, per subject within :data:`CHI_RANGES`): white matter
about -0.03, cortex +0.02, caudate 0.06, putamen 0.07, pallidus 0.18, thalamus 0.03; veins 0.4
(internal cerebral and basal veins, vein of Galen, straight and sagittal sinus as template-space
tubes; 3-6 medullary veins along z, one voxel wide, beside the ventricles). R2* (1/s): WM 20,
cortex 15, caudate 20, putamen 25, pallidus 35, thalamus 19, CSF 2, veins 50 (:data:`TISSUES`).

Lesions (``lesions`` (6, 12) per subject): ellipsoids of 2-5 mm semi-axis in white matter,
70 % periventricular (2-10 mm from the ventricles), the rest in deep white matter; a voxel
belongs to a lesion when at least half of it is lesion. Types (core relative to the subject's
WM): ``hyper`` +0.02..0.05 (50 %), ``iso`` +-0.005 (30 %), ``hypo`` -0.04..-0.02 ppm (20 %;
rim lesions 20/50/30 %). 25 % have a paramagnetic rim (the outer voxel of the lesion,
+0.04..0.08 ppm above WM, R2* 28), 50 % a central vein (a one-voxel tube of 0.3 ppm along z
through the centre, 2 voxels beyond the lesion); with 3 or more lesions at least one of each.
A lesion that finds no place without overlap after 30 tries is skipped with a warning (not at
the default grid). FLAIR: lesions 0.9-1.1, WM 0.45, cortex 0.62, CSF 0.05 (plus noise SD
0.015); veins do not show.

Fields
------
``local_ppm``: :func:`~qmrflow.studies.qsm.dipole.dipole_field` of ``chi`` (zero outside the
brain). ``background_ppm``: the field of the sources outside the brain on an extended grid of
the whole head: soft tissue -9.4 ppm relative to air, the skull 2 ppm lower, air cavities
(frontal, ethmoid, sphenoid, maxillary sinuses, mastoid cells, ear canals, pharynx) at least
4 mm outside the brain; inside the brain (and one voxel around it) the susceptibility is
uniform, so the field is harmonic there. An ideal first-order shim over the brain is
subtracted and a residual linear term added (offset N(0, 0.1) ppm, gradients N(0, 0.002)
ppm/mm). Typical range in the brain at the default grid: about -1 (-2) to +2.5 ppm, varying
most in the bottom slices (frontal and temporal base); in the middle slices within about
+-0.5 ppm. ``total_ppm = local_ppm + background_ppm``; at TE 19 ms 1 ppm is 15 rad of phase,
so the phase wraps several times near the base.

Acquisitions (:mod:`.acquisition`)
----------------------------------
``gre`` (full k-space, SNR 40), ``epi2avg`` (central 60 % of k-space in x and y, SNR 12) and
``epi1avg`` (same, SNR 12 / sqrt(2)), echo times 5, 12, 19 ms at 3 T, 8 coils. SNR = WM signal
at the first echo (``pd exp(-r2star TE1)``, about 0.63) over the k-space noise SD per sample
and coil.
"""

from qmrflow.studies.qsm.simulate.acquisition import (
    acquired_mask,
    coil_maps,
    noise_sd,
    reference_images,
    simulate_acquisition,
    wm_signal,
)
from qmrflow.studies.qsm.simulate.cohort import (
    ASPECTS,
    COLUMNS,
    demo_participants,
    subject_streams,
)
from qmrflow.studies.qsm.simulate.files import (
    LABELS_PIPELINE,
    OUTPUT_KEYS,
    TRUTH_PIPELINE,
    subject_paths,
    write_subject,
)
from qmrflow.studies.qsm.simulate.phantom import (
    CHI_RANGES,
    DGM_LABELS,
    LABELS,
    LESION_COLUMNS,
    LESION_TYPES,
    TISSUES,
    Phantom,
    Tissue,
    simulate_phantom,
)
from qmrflow.studies.qsm.simulate.settings import (
    ACQUISITIONS,
    PROTOCOLS,
    SLAB_CENTRE_MM,
    QsmDemoSettings,
    encoded_block,
)

__all__ = [
    "ACQUISITIONS",
    "ASPECTS",
    "CHI_RANGES",
    "COLUMNS",
    "DGM_LABELS",
    "LABELS",
    "LABELS_PIPELINE",
    "LESION_COLUMNS",
    "LESION_TYPES",
    "OUTPUT_KEYS",
    "PROTOCOLS",
    "SLAB_CENTRE_MM",
    "TISSUES",
    "TRUTH_PIPELINE",
    "Phantom",
    "QsmDemoSettings",
    "Tissue",
    "acquired_mask",
    "coil_maps",
    "demo_participants",
    "encoded_block",
    "noise_sd",
    "reference_images",
    "simulate_acquisition",
    "simulate_phantom",
    "subject_paths",
    "subject_streams",
    "wm_signal",
    "write_subject",
]
