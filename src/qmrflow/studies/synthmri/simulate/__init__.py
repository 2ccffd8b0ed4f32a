"""Simulated brain synthetic-MRI demo cohort with ground truth (routine and fast MDME scans).

The demo stands in for the paper's 151 healthy subjects, each scanned with a routine and a fast
(half the phase-encoding lines) MDME protocol. Everything is generated from seeds:
:func:`demo_participants` draws the cohort table and :func:`simulate_subject` renders one
subject's truth maps, label maps and both MDME scans and writes them.

Anatomy
-------
The anatomy is the ICBM 2009a nonlinear symmetric MNI152 template with its grey- and
white-matter probability maps (:func:`qmrflow.simulate.template.load_mni152`, from nilearn's
package data; nothing is downloaded).

Per subject the template is deformed by a smooth random displacement field (about 1-2.5 mm RMS,
correlation length about 20 mm), a global scaling (SD 4 %, plus 2 % per axis), a small rotation
(SD 3 degrees per axis) and a head-position shift (SD 2 mm in-plane). The deformation maps every
point of the subject (scanner) space to the template, so template-defined structures (deep grey
matter, regions, lesions) travel with it.

Tissue fractions, from the template sampled at the subject points:

- brain = template T1 > 0, holes filled (the template is skull-stripped, brain values >= 28);
- GM, WM = probability maps / 255, zero outside the brain;
- CSF = brain - GM - WM, clipped at 0;
- deep GM = the GM inside :data:`DEEP_GM_ELLIPSOIDS` (MNI coordinates of the undeformed
  template, one ellipsoid per hemisphere around caudate, putamen, pallidum and thalamus);
  cortical GM is the rest;
- lesions: white-matter lesions in subjects with ``has_lesions`` (1-5 ellipsoids of 3-8 mm,
  the first at least 5 mm so that every lesion subject has a visible lesion), replacing WM.

Geometry
--------
Axial slices through the lateral ventricles and centrum semiovale: the slab MNI z = -4..+36 mm
(:data:`SLAB_MM`) is cut into ``n_slices`` equal parts; each slice is ``min(4 mm, 40 mm /
n_slices)`` thick and centred in its part (default 6 slices: 4 mm thick, 6.67 mm apart). The
in-plane field of view is 192 x 224 mm (:data:`FOV_MM`) centred at x = 0, y = -18 mm
(:data:`FOV_CENTRE_MM`), on the routine ``matrix`` (default 96 x 112, 2 mm). Each voxel averages
the tissue fractions of the 1 mm template through its thickness and area (partial volume).
Affines are RAS+ (voxel axes along +x right, +y anterior, +z superior); axis 1 (y) is the
phase-encoding direction.

Tissue parameters and partial volume
------------------------------------
Each tissue has literature 3 T MDME values (:data:`LITERATURE_VALUES`), varied per subject
(log-normal, SD 3 % for T1 and T2, 1.5 % for PD, except CSF whose PD is 1, the reference of the
PD scale; each lesion varies by another 6 %). A voxel
blends relaxation *rates* and PD by its tissue fractions ``f_i`` (fast exchange)::

    R1 = sum_i f_i / T1_i / sum_i f_i,  R2 likewise,  PD = sum_i f_i PD_i

so T1map = 1/R1, T2map = 1/R2 (ms). Outside the brain (no tissue) T1 = T2 = PD = 0.

Images
------
Noiseless complex images are the signed MDME signal (:func:`mdme_signal` with the sign of the
longitudinal magnetisation) of the truth maps with a smooth B1 field (0.85-1.15, brighter at the
centre as at 3 T). Each scan is Fourier transformed along x and y (orthonormal FFT), gets
complex Gaussian noise of the same SD per k-space sample in both scans (two independent
acquisitions), and is reconstructed:

- routine: all phase-encoding lines, matrix ``(nx, ny)``;
- fast: the central ``round(fast_phase_fraction * ny)`` lines (``ny_f``), reconstructed on
  ``(nx, ny_f)`` (voxel ``dy * ny / ny_f``) with amplitude factor ``sqrt(ny_f / ny)`` so the
  same tissue has the same intensity; a linear phase ``exp(2 pi i ky s / ny)`` with
  ``s = (ny / ny_f - 1) / 2`` places its voxel centres so that both scans cover the same field
  of view.

Magnitudes are stored, so the noise is Rician (Rayleigh in the background). ``snr`` is the
signal of PD = 1 at full recovery and TE = 0 (= 1 in image units) over the image-domain noise SD
per real/imaginary channel of the routine image: ``sigma = 1 / snr``. The fast image has noise SD
``sigma * sqrt(ny_f / ny)`` (bigger voxels, fewer samples: sqrt(2) higher SNR per voxel).

Labels
------
``dseg`` (uint8): 0 background (tissue fraction < 0.5), 1 CSF, 2 GM, 3 WM, 4 deep GM: the
largest of the CSF, GM (cortical + deep) and WM (+ lesion) fractions; a GM voxel is deep GM when
its deep fraction exceeds its cortical fraction. ``regions`` (uint8, 0 exactly where ``dseg`` is
0): coarse lobes split left/right by the template (MNI) position of the voxel centre, see
:data:`REGION_NAMES` and :func:`region_of`; every deep-GM voxel is in ``deep_left``/``deep_right``.
``lesions`` (uint8 0/1): lesion fraction >= 0.5 (always inside ``dseg`` WM).

Modules
-------
:mod:`.tissues` (MDME values, labels, regions, lesions), :mod:`.geometry` (slices, grids,
affines), :mod:`.cohort` (participants table), :mod:`.scan` (B1, MDME signal, k-space) and
:mod:`.subject` (one subject in memory and on disk). Shared pieces come from
:mod:`qmrflow.simulate`: split sizes and seeds by subject id (:mod:`~qmrflow.simulate.cohort`),
the template and its deformation (:mod:`~qmrflow.simulate.template`,
:mod:`~qmrflow.simulate.deform`) and complex noise (:mod:`~qmrflow.simulate.kspace`).
"""

from qmrflow.simulate.cohort import subject_seed
from qmrflow.studies.synthmri.simulate.cohort import demo_participants
from qmrflow.studies.synthmri.simulate.geometry import (
    FOV_CENTRE_MM,
    FOV_MM,
    SLAB_MM,
    fast_affine,
    routine_affine,
    slice_geometry,
)
from qmrflow.studies.synthmri.simulate.subject import (
    OUTPUT_KEYS,
    SimulatedSubject,
    simulate_arrays,
    simulate_subject,
    write_region_names,
)
from qmrflow.studies.synthmri.simulate.tissues import (
    DEEP_GM_ELLIPSOIDS,
    LITERATURE_VALUES,
    REGION_NAMES,
    TISSUE_LABELS,
    TissueValues,
    region_of,
)

__all__ = [
    "DEEP_GM_ELLIPSOIDS",
    "FOV_CENTRE_MM",
    "FOV_MM",
    "LITERATURE_VALUES",
    "OUTPUT_KEYS",
    "REGION_NAMES",
    "SLAB_MM",
    "TISSUE_LABELS",
    "SimulatedSubject",
    "TissueValues",
    "demo_participants",
    "fast_affine",
    "region_of",
    "routine_affine",
    "simulate_arrays",
    "simulate_subject",
    "slice_geometry",
    "subject_seed",
    "write_region_names",
]
