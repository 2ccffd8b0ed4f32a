"""Simulated brain synthetic-MRI demo cohort with ground truth (routine and fast MDME scans).

The demo stands in for the paper's 151 healthy subjects, each scanned with a routine and a fast
(half the phase-encoding lines) MDME protocol. Everything is generated from seeds:
:func:`demo_participants` draws the cohort table and :func:`simulate_subject` renders one
subject's truth maps, label maps and both MDME scans and writes them.

Anatomy
-------
The anatomy is the ICBM 2009a nonlinear symmetric MNI152 template (Fonov et al., NeuroImage
2011;54:313-327) with its grey- and white-matter probability maps, as shipped in nilearn's package
data (1 mm, 197 x 233 x 189, values 0-255, brain-extracted). Nothing is downloaded; the files
are read with nibabel without importing nilearn (its import takes seconds).

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
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from qmrflow.errors import ConfigError
from qmrflow.studies.synthmri.protocol import (
    DEFAULT_PROTOCOL,
    MdmeProtocol,
    mdme_signal,
    sidecar_path,
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

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class TissueValues:
    """Relaxation times (ms) and proton density (water = 1) of one tissue."""

    t1: float
    t2: float
    pd: float


# 3 T MDME (QRAPMASTER / SyMRI) values. MDME-measured T1 are shorter than inversion-recovery
# references (e.g. Stanisz et al., MRM 2005;54:507-512: WM 1084 ms, GM 1820 ms at 3 T); the demo
# uses the MDME scale because the study's maps come from MDME. Sources (ranges):
# - Warntjes et al., MRM 2008;60:320-329 (method; WM, GM, CSF, deep GM values);
# - Hagiwara et al., Invest Radiol 2017;52:647-657 (SyMRI of the brain, review; 3 T values);
# - Hagiwara et al., Invest Radiol 2019;54:39-47 (MDME at 3 T: bias and reproducibility);
# - Hagiwara et al., AJNR 2017;38:257-263 (MS plaques on synthetic MRI: lesion T1/T2/PD
#   between normal-appearing WM and GM; T2 clearly longer).
# CSF T1 and T2 are long and poorly determined by MDME; ~4000 / ~1800 ms are typical outputs.
LITERATURE_VALUES: dict[str, TissueValues] = {
    "csf": TissueValues(t1=4000.0, t2=1800.0, pd=1.00),
    "gm": TissueValues(t1=1330.0, t2=90.0, pd=0.80),
    "wm": TissueValues(t1=830.0, t2=70.0, pd=0.69),
    "deep_gm": TissueValues(t1=1100.0, t2=75.0, pd=0.78),
    "lesion": TissueValues(t1=1250.0, t2=120.0, pd=0.80),
}
"""Population-mean 3 T MDME values per tissue (ms, ms, fraction)."""

# Between-subject variation (log-normal SD) of T1, T2, PD per tissue, and the extra
# per-lesion variation.
_SUBJECT_SD = (0.03, 0.03, 0.015)
_LESION_SD = 0.06

TISSUE_LABELS: dict[str, int] = {"background": 0, "csf": 1, "gm": 2, "wm": 3, "deep_gm": 4}
"""Labels of the ``dseg`` map."""

REGION_NAMES: tuple[str, ...] = (
    "frontal_left",
    "frontal_right",
    "parietal_left",
    "parietal_right",
    "temporal_left",
    "temporal_right",
    "occipital_left",
    "occipital_right",
    "deep_left",
    "deep_right",
    "cerebellum_brainstem_left",
    "cerebellum_brainstem_right",
)
"""Region names; the label of ``REGION_NAMES[i]`` is ``i + 1`` (0 = outside the brain)."""

DEEP_GM_ELLIPSOIDS: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = (
    ((-17.0, -5.0, 6.0), (16.0, 30.0, 15.0)),
    ((17.0, -5.0, 6.0), (16.0, 30.0, 15.0)),
)
"""Deep grey matter: ``(centre, semi-axes)`` in MNI mm, one per hemisphere.

Each spans |x| 1-33, y -35..+25, z -9..+21 mm: caudate head and body (|x| 8-20, y -5..+25),
putamen (|x| 18-32, y -20..+20), pallidum (|x| 12-22) and thalamus (|x| 2-22, y -35..-5); the
insula (|x| >= 36), hippocampus and cingulate cortex lie outside.
"""

# Coarse lobe planes (MNI mm of the undeformed template), applied in this order:
# deep (inside DEEP_GM_ELLIPSOIDS); cerebellum/brainstem below the tentorium (z < -6 and
# y < -15); occipital behind the parieto-occipital plane (y < -70); temporal below the Sylvian
# fissure (|x| >= 36, y < 8, z < 12); frontal in front of the central sulcus (y >= -22);
# parietal otherwise. Left hemisphere: x < 0.
_OCCIPITAL_Y = -70.0
_CENTRAL_Y = -22.0
_TEMPORAL = (36.0, 8.0, 12.0)  # |x| >=, y <, z <
_TENTORIUM = (-6.0, -15.0)  # z <, y <

SLAB_MM: tuple[float, float] = (-4.0, 36.0)
"""MNI z range (mm) covered by the slices: lateral ventricles and centrum semiovale."""

MAX_SLICE_THICKNESS_MM = 4.0

FOV_MM: tuple[float, float] = (192.0, 224.0)
"""In-plane field of view (x, y) in mm; the voxel size is ``FOV_MM / matrix``."""

FOV_CENTRE_MM: tuple[float, float] = (0.0, -18.0)
"""Centre of the field of view (x, y) in scanner (approximately MNI) mm."""

OUTPUT_KEYS: tuple[str, ...] = (
    "routine",
    "fast",
    "T1map",
    "T2map",
    "PDmap",
    "B1map",
    "dseg",
    "regions",
    "lesions",
)
"""Keys :func:`simulate_subject` accepts in ``outputs``."""

_SPLITS = ("train", "val", "test")
_DEFORMATION_GRID_MM = 8.0
_DEFORMATION_BOX = ((-120.0, 120.0), (-150.0, 114.0), (-28.0, 60.0))  # x, y, z (mm)
_DEFORMATION_CENTRE = np.array([0.0, -18.0, 16.0])


# --------------------------------------------------------------------------------------------
# Cohort
# --------------------------------------------------------------------------------------------


def _split_counts(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` proportionally to ``weights`` (largest remainder), at least 1 per
    positive weight (taken from the largest part)."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    for i in np.flatnonzero((weights > 0) & (counts == 0)):
        counts[int(np.argmax(counts))] -= 1
        counts[i] += 1
    return counts


def demo_participants(
    n_subjects: int,
    seed: int,
    splits: Sequence[float] = (14.0, 2.0, 8.0),
    *,
    lesion_fraction: float = 0.4,
) -> pd.DataFrame:
    """Draw the demo cohort: ids, splits, demographics and which subjects have WM lesions.

    Parameters
    ----------
    n_subjects
        Number of subjects (at least 3).
    seed
        Cohort seed; the same arguments give the same table.
    splits
        Relative sizes of train, val and test (normalised; default 14 : 2 : 8, the 24-subject
        demo). Every split with a positive weight gets at least one subject.
    lesion_fraction
        Fraction of subjects with white-matter lesions, applied per split (so the test split
        holds lesion subjects for the paired lesion tests): ``round(fraction * n_split)``, at
        least 1 in a split of 2 or more when the fraction is positive.

    Returns
    -------
    pandas.DataFrame
        ``participant_id`` (``s001``, ``s002``, ...), ``split``, ``age`` (years, 20-75),
        ``sex`` (F/M) and ``has_lesions`` (bool). A subject's images depend only on its row and
        the cohort seed (see :func:`subject_seed`), not on the other subjects.

    Raises
    ------
    ConfigError
        Fewer than 3 subjects, ``splits`` not three non-negative numbers with a positive sum,
        or ``lesion_fraction`` outside [0, 1].
    """
    n_subjects = int(n_subjects)
    if n_subjects < 3:
        raise ConfigError(f"the demo cohort needs at least 3 subjects, got {n_subjects}")
    weights = np.asarray(splits, dtype=float)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError(f"splits must be 3 non-negative numbers (train, val, test): {splits}")
    if weights.sum() <= 0:
        raise ConfigError(f"splits must have a positive sum: {splits}")
    if not 0.0 <= float(lesion_fraction) <= 1.0:
        raise ConfigError(f"lesion_fraction must be in [0, 1], got {lesion_fraction}")
    counts = _split_counts(n_subjects, weights)

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E7]))
    split = np.repeat(np.array(_SPLITS), counts)
    lesions = np.zeros(n_subjects, dtype=bool)
    start = 0
    for n_split in counts:
        n_les = round(float(lesion_fraction) * n_split)
        if lesion_fraction > 0 and n_split >= 2:
            n_les = max(n_les, 1)
        lesions[start + rng.permutation(n_split)[:n_les]] = True
        start += n_split
    order = rng.permutation(n_subjects)
    width = max(3, len(str(n_subjects)))
    table = pd.DataFrame(
        {
            "participant_id": [f"s{i + 1:0{width}d}" for i in range(n_subjects)],
            "split": split[order],
            "age": np.round(rng.uniform(20.0, 75.0, n_subjects), 1),
            "sex": rng.choice(np.array(["F", "M"]), n_subjects),
            "has_lesions": lesions[order],
        }
    )
    logger.debug(
        "demo cohort: %d subjects, splits %s, %d with lesions",
        n_subjects,
        table["split"].value_counts().to_dict(),
        int(table["has_lesions"].sum()),
    )
    return table


def subject_seed(seed: int, participant_id: str) -> np.random.SeedSequence:
    """The seed sequence of one subject: the cohort seed and the bytes of its id.

    Stable across runs and independent of the other subjects, so adding a subject to the cohort
    leaves every other subject's data unchanged.
    """
    return np.random.SeedSequence([int(seed), *str(participant_id).encode("utf-8")])


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def slice_geometry(n_slices: int) -> tuple[np.ndarray, float, float]:
    """Slice centres (MNI z, mm), thickness and centre spacing for ``n_slices`` slices.

    The slab :data:`SLAB_MM` is cut into ``n_slices`` equal parts; each slice is centred in its
    part with thickness ``min(4 mm, part)``.
    """
    if int(n_slices) < 1:
        raise ConfigError(f"n_slices must be >= 1, got {n_slices}")
    n = int(n_slices)
    spacing = (SLAB_MM[1] - SLAB_MM[0]) / n
    centres = SLAB_MM[0] + spacing * (np.arange(n) + 0.5)
    return centres, min(MAX_SLICE_THICKNESS_MM, spacing), spacing


def _check_matrix(matrix: Sequence[int]) -> tuple[int, int]:
    values = tuple(int(m) for m in matrix)
    if len(values) != 2 or min(values) < 2:
        raise ConfigError(f"matrix must be two integers >= 2 (x, y), got {list(matrix)}")
    return values[0], values[1]


def _fast_lines(ny: int, fast_phase_fraction: float) -> int:
    fraction = float(fast_phase_fraction)
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fast_phase_fraction must be in (0, 1], got {fast_phase_fraction}")
    ny_fast = round(fraction * ny)
    if ny_fast < 2:
        raise ConfigError(
            f"fast_phase_fraction {fraction} keeps {ny_fast} of {ny} phase-encoding lines (< 2)"
        )
    return ny_fast


def _affine(nx: int, ny: int, n_slices: int) -> np.ndarray:
    centres, _, spacing = slice_geometry(n_slices)
    dx, dy = FOV_MM[0] / nx, FOV_MM[1] / ny
    return np.array(
        [
            [dx, 0.0, 0.0, FOV_CENTRE_MM[0] - dx * (nx - 1) / 2],
            [0.0, dy, 0.0, FOV_CENTRE_MM[1] - dy * (ny - 1) / 2],
            [0.0, 0.0, spacing, float(centres[0])],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def routine_affine(matrix: Sequence[int], n_slices: int) -> np.ndarray:
    """RAS+ affine of the routine grid: voxel ``FOV_MM / matrix``, field of view centred on
    :data:`FOV_CENTRE_MM`, slices at :func:`slice_geometry` centres."""
    nx, ny = _check_matrix(matrix)
    return _affine(nx, ny, n_slices)


def fast_affine(matrix: Sequence[int], n_slices: int, fast_phase_fraction: float) -> np.ndarray:
    """RAS+ affine of the fast grid ``(nx, ny_f)``: y spacing ``FOV_y / ny_f``, same field of
    view as :func:`routine_affine` (voxel centres shifted by half the spacing difference)."""
    nx, ny = _check_matrix(matrix)
    return _affine(nx, _fast_lines(ny, fast_phase_fraction), n_slices)


# --------------------------------------------------------------------------------------------
# Template
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    """Brain-cropped template volumes (float32, 1 mm) and the MNI coordinate of index 0."""

    brain: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    origin: np.ndarray


def _template_dir() -> Path:
    # find_spec of a top-level package locates it without importing it: importing
    # nilearn.datasets (which importlib.resources.files would do) pulls in scikit-learn, ~2 s.
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the synthmri demo needs the MNI152 template from nilearn's package data: "
            "install nilearn (pip install 'nilearn>=0.12,<0.14')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def _template() -> _Template:
    """Load the MNI152 2009a template and GM/WM maps once per process, cropped to the brain."""
    import nibabel as nib

    folder = _template_dir()
    volumes = {}
    affine = None
    for key in ("t1", "gm", "wm"):
        path = folder / f"mni_icbm152_{key}_tal_nlin_sym_09a_converted.nii.gz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: MNI152 template file missing from nilearn")
        img = nib.load(path)
        volumes[key] = np.asarray(img.dataobj)
        if affine is None:
            affine = np.asarray(img.affine, dtype=float)
    assert affine is not None
    if not np.allclose(affine[:3, :3], np.eye(3)):
        raise ValueError(f"unexpected MNI152 template affine (not 1 mm RAS): {affine.tolist()}")
    brain = volumes["t1"] > 0
    lo, hi = np.zeros(3, dtype=int), np.array(brain.shape)
    for axis in range(3):
        occupied = np.flatnonzero(brain.any(axis=tuple(a for a in range(3) if a != axis)))
        lo[axis] = max(int(occupied[0]) - 2, 0)
        hi[axis] = min(int(occupied[-1]) + 3, brain.shape[axis])
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    brain = ndimage.binary_fill_holes(brain[crop]).astype(np.float32)
    gm = volumes["gm"][crop].astype(np.float32) / 255.0 * brain
    wm = volumes["wm"][crop].astype(np.float32) / 255.0 * brain
    origin = affine[:3, 3] + lo
    logger.debug("MNI152 template loaded from %s, cropped to %s", folder, brain.shape)
    return _Template(brain=brain, gm=gm, wm=wm, origin=origin)


# --------------------------------------------------------------------------------------------
# Deformation
# --------------------------------------------------------------------------------------------


def _rotation(angles: np.ndarray) -> np.ndarray:
    """Rotation matrix from angles (rad) about x, y and z."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class _Deformation:
    """Subject (scanner) mm -> template MNI mm: ``c + M (p - c) + t + u(p)``."""

    matrix: np.ndarray
    shift: np.ndarray
    field: np.ndarray  # (3, gx, gy, gz) displacement (mm) on the coarse grid

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Deformation:
        scale = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))
        axes = scale * np.clip(rng.normal(1.0, 0.02, size=3), 0.95, 1.05)
        angles = np.deg2rad(np.clip(rng.normal(0.0, 3.0, size=3), -8.0, 8.0))
        # The subject is the template scaled by ``axes`` and rotated: its inverse maps back.
        matrix = np.diag(1.0 / axes) @ _rotation(angles).T
        shift = np.array([*rng.normal(0.0, 2.0, size=2), 0.0])
        shape = [round((b - a) / _DEFORMATION_GRID_MM) + 1 for a, b in _DEFORMATION_BOX]
        noise = rng.standard_normal((3, *shape))
        # Smooth white noise (correlation length ~20 mm) and scale it to the subject's RMS.
        field = ndimage.gaussian_filter(noise, sigma=(0, 2.5, 2.5, 2.5), mode="wrap")
        field /= field.std(axis=(1, 2, 3), keepdims=True)
        field *= rng.uniform(1.0, 2.5)
        return cls(matrix=matrix, shift=shift, field=field)

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Template coordinates ``(3, len(x), len(y), len(z))`` of the grid ``x x y x z``."""
        axes = (x, y, z)
        rel = [v - c for v, c in zip(axes, _DEFORMATION_CENTRE, strict=True)]
        # Trilinear interpolation of the coarse field on a tensor grid is separable: three
        # small matrix products instead of map_coordinates on every point (10x faster).
        weights = [
            _linear_weights((v - box[0]) / _DEFORMATION_GRID_MM, n)
            for v, box, n in zip(axes, _DEFORMATION_BOX, self.field.shape[1:], strict=True)
        ]
        out = np.einsum("cijk,xi,yj,zk->cxyz", self.field, *weights, optimize=True)
        for i in range(3):
            out[i] += (
                _DEFORMATION_CENTRE[i]
                + self.shift[i]
                + self.matrix[i, 0] * rel[0][:, None, None]
                + self.matrix[i, 1] * rel[1][None, :, None]
                + self.matrix[i, 2] * rel[2][None, None, :]
            )
        return out


def _linear_weights(position: np.ndarray, n: int) -> np.ndarray:
    """Matrix ``(len(position), n)`` of linear-interpolation weights on a grid ``0..n-1``.

    Positions outside the grid take the nearest grid value.
    """
    position = np.clip(np.asarray(position, dtype=float), 0.0, n - 1.0)
    low = np.minimum(np.floor(position).astype(int), n - 2)
    frac = position - low
    weights = np.zeros((len(position), n))
    rows = np.arange(len(position))
    weights[rows, low] = 1.0 - frac
    weights[rows, low + 1] = frac
    return weights


def _sample(volume: np.ndarray, index: np.ndarray, z_range: tuple[int, int]) -> np.ndarray:
    """Linear interpolation of ``volume`` at voxel ``index`` (3, ...), only on a z slab."""
    z0, z1 = z_range
    coords = index.copy()
    coords[2] -= z0
    return ndimage.map_coordinates(
        volume[:, :, z0:z1], coords, order=1, mode="constant", cval=0.0, output=np.float32
    )


def _inside_ellipsoid(
    points: np.ndarray,
    centre: Sequence[float] | np.ndarray,
    semi_axes: Sequence[float] | np.ndarray,
    rotation: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of ``points`` (3, ...) inside an ellipsoid (optionally rotated)."""
    rel = points - np.asarray(centre, dtype=float).reshape(3, *([1] * (points.ndim - 1)))
    if rotation is not None:
        rel = np.tensordot(np.asarray(rotation).T, rel, axes=1)
    axes = np.asarray(semi_axes, dtype=float).reshape(3, *([1] * (points.ndim - 1)))
    return np.sum((rel / axes) ** 2, axis=0) <= 1.0


def _in_deep_gm(points: np.ndarray) -> np.ndarray:
    inside = np.zeros(points.shape[1:], dtype=bool)
    for centre, axes in DEEP_GM_ELLIPSOIDS:
        inside |= _inside_ellipsoid(points, centre, axes)
    return inside


def region_of(points: np.ndarray) -> np.ndarray:
    """Region label (1..12, see :data:`REGION_NAMES`) of MNI points ``(3, ...)`` (mm).

    Planes of the undeformed template, applied in order: deep (inside
    :data:`DEEP_GM_ELLIPSOIDS`); cerebellum/brainstem (z < -6 and y < -15, below the
    tentorium); occipital (y < -70, behind the parieto-occipital sulcus); temporal (|x| >= 36,
    y < 8, z < 12, below the Sylvian fissure); frontal (y >= -22, in front of the central
    sulcus); parietal (the rest). Left is x < 0. Coarse by design: lobes, not gyri.
    """
    x, y, z = points
    lobe = np.full(x.shape, 1, dtype=np.uint8)  # frontal
    lobe[y < _CENTRAL_Y] = 2  # parietal
    lobe[(np.abs(x) >= _TEMPORAL[0]) & (y < _TEMPORAL[1]) & (z < _TEMPORAL[2])] = 3
    lobe[y < _OCCIPITAL_Y] = 4
    lobe[(z < _TENTORIUM[0]) & (y < _TENTORIUM[1])] = 6
    lobe[_in_deep_gm(points)] = 5
    right = (x >= 0).astype(np.uint8)
    return (2 * (lobe - 1) + 1 + right).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass
class SimulatedSubject:
    """One simulated subject: MDME scans, truth maps and labels.

    Attributes
    ----------
    routine, fast
        MDME magnitude images, float32, ``(nx, ny, n_slices, n_volumes)`` and
        ``(nx, ny_f, n_slices, n_volumes)``.
    t1, t2, pd, b1
        Truth maps on the routine grid, float32 ``(nx, ny, n_slices)`` (ms, ms, fraction,
        relative); 0 outside the brain for T1, T2, PD.
    dseg, regions, lesions
        Labels on the routine grid (uint8), see the module docstring.
    fractions
        Tissue fractions per voxel: ``csf``, ``gm`` (cortical), ``deep_gm``, ``wm`` (without
        lesion) and ``lesion`` (float32 on the routine grid).
    tissue_values
        The subject's T1/T2/PD per tissue (``lesion`` holds the mean of its lesions).
    routine_affine, fast_affine
        RAS+ affines.
    protocol
        The MDME protocol of both scans.
    sigma
        Image-domain noise SD per channel of the routine image (``1 / snr``).
    """

    routine: np.ndarray
    fast: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    pd: np.ndarray
    b1: np.ndarray
    dseg: np.ndarray
    regions: np.ndarray
    lesions: np.ndarray
    fractions: dict[str, np.ndarray]
    tissue_values: dict[str, TissueValues]
    routine_affine: np.ndarray
    fast_affine: np.ndarray
    protocol: MdmeProtocol
    sigma: float
    slice_thickness: float = field(default=MAX_SLICE_THICKNESS_MM)


def _has_lesions(row: Mapping[str, Any]) -> bool:
    value = row.get("has_lesions", False)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "1", "yes", "y"}:
            return True
        if text in {"false", "0", "no", "n", "", "n/a", "nan"}:
            return False
        raise ConfigError(f"has_lesions must be true/false, got {value!r}")
    return bool(value)


def _draw_tissue_values(rng: np.random.Generator) -> dict[str, TissueValues]:
    values = {}
    for name, base in LITERATURE_VALUES.items():
        f1, f2, fp = np.exp(rng.normal(0.0, _SUBJECT_SD))
        # CSF is pure water: PD 1 exactly, the reference synthetic-MRI software scales PD to.
        pd_value = 1.0 if name == "csf" else min(base.pd * fp, 1.0)
        values[name] = TissueValues(float(base.t1 * f1), float(base.t2 * f2), float(pd_value))
    return values


def _b1_field(x: np.ndarray, y: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth transmit field, brighter in the centre (dielectric effect at 3 T), 0.85-1.15."""
    xn = (x / 90.0)[:, None, None]
    yn = ((y - FOV_CENTRE_MM[1]) / 110.0)[None, :, None]
    zn = ((z - 16.0) / 60.0)[None, None, :]
    q = rng.uniform(0.15, 0.25)
    slope = rng.normal(0.0, 0.02, size=3)
    b1 = 1.0 + q * (0.45 - xn**2 - yn**2) + slope[0] * xn + slope[1] * yn + slope[2] * zn
    b1 = b1 - 0.03 * zn**2
    return np.clip(b1, 0.85, 1.15)


def _block_mean(array: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean over blocks of ``factors`` samples along the three axes."""
    nx, ny, nz = (s // f for s, f in zip(array.shape, factors, strict=True))
    sx, sy, sz = factors
    return array.reshape(nx, sx, ny, sy, nz, sz).mean(axis=(1, 3, 5))


def _sub_positions(start: float, step: float, n: int, n_sub: int, sub_step: float) -> np.ndarray:
    """Centres of ``n`` voxels (``start + step * i``), each with ``n_sub`` sub-samples."""
    offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * sub_step
    return ((start + step * np.arange(n))[:, None] + offsets[None, :]).ravel()


def _pick_lesions(
    rng: np.random.Generator,
    wm: np.ndarray,
    affine: np.ndarray,
    deform: _Deformation,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Draw 1-5 lesions ``(template centre, semi-axes, rotation)`` centred in white matter.

    Centres are routine-grid voxels whose WM fraction stays >= 0.9 after an in-plane erosion by
    the lesion's largest semi-axis, jittered inside the voxel and moved to the template.
    """
    n_lesions = int(rng.integers(1, 6))
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    core = wm >= 0.9
    lesions = []
    for k in range(n_lesions):
        # The first lesion is >= 5 mm so that each lesion subject has a visible lesion.
        diameter = rng.uniform(5.0, 8.0) if k == 0 else rng.uniform(3.0, 8.0)
        semi = 0.5 * diameter * np.array([1.0, *rng.uniform(0.6, 1.0, size=2)])
        if k == 0:
            semi[1:] = np.maximum(semi[1:], 0.4 * diameter)
        rotation = _rotation(rng.uniform(-np.pi, np.pi, size=3))
        radius_px = math.ceil(semi.max() / min(spacing[0], spacing[1]))
        candidates = ndimage.binary_erosion(
            core, structure=np.ones((3, 3, 1), bool), iterations=radius_px, border_value=0
        )
        if not candidates.any():
            candidates = core
        index = np.argwhere(candidates)
        if len(index) == 0:
            logger.warning("no white matter >= 0.9 on this grid: lesion %d skipped", k + 1)
            continue
        voxel = index[rng.integers(len(index))].astype(float)
        voxel[:2] += rng.uniform(-0.5, 0.5, size=2)
        voxel[2] += rng.uniform(-0.5, 0.5) / spacing[2]  # +-0.5 mm around the slice centre
        world = affine[:3, :3] @ voxel + affine[:3, 3]
        centre = deform(*(np.array([v]) for v in world))[:, 0, 0, 0]
        lesions.append((centre, semi, rotation))
    return lesions


def _signed_signal(
    t1: np.ndarray, t2: np.ndarray, pd: np.ndarray, b1: np.ndarray, protocol: MdmeProtocol
) -> np.ndarray:
    """Real (phase-corrected) MDME signal: :func:`mdme_signal` with the sign of Mz.

    After a ~120 degree saturation, long-T1 tissue (CSF) still has negative longitudinal
    magnetisation at short delays; the complex image is then negative, the magnitude positive.
    Voxels with ``pd == 0`` (outside the brain) give 0.
    """
    tissue = pd > 0
    t1s = np.where(tissue, t1, 1.0)
    t2s = np.where(tissue, t2, 1.0)
    magnitude = mdme_signal(t1s, t2s, pd, b1, protocol)
    theta = np.deg2rad(protocol.saturation_angle) * b1[..., None]
    delays = np.asarray(protocol.delays, dtype=float)
    cos_theta = np.cos(theta)
    recovery = (
        1.0
        - (1.0 - cos_theta) * np.exp(-delays / t1s[..., None])
        - cos_theta * np.exp(-protocol.repetition_time / t1s[..., None])
    )
    return np.where(recovery < 0, -magnitude, magnitude)


def _acquire(image: np.ndarray, n_lines: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Sample ``image`` (x, y, ...) in k-space, add noise, reconstruct ``n_lines`` along y.

    Orthonormal FFT along x and y; complex Gaussian noise of SD ``sigma`` per channel on every
    acquired sample; the central ``n_lines`` phase-encoding lines are reconstructed on a grid of
    ``n_lines`` voxels with amplitude ``sqrt(n_lines / ny)`` and a half-voxel-difference shift
    so that the field of view matches (see the module docstring). Returns the magnitude.
    """
    ny = image.shape[1]
    kspace = np.fft.fft(np.fft.fft(image, axis=0, norm="ortho"), axis=1, norm="ortho")
    half = n_lines // 2
    ky = np.arange(-half, n_lines - half)  # signed integer frequencies kept
    data = kspace[:, ky % ny]
    if sigma > 0:
        data = data + sigma * (
            rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape)
        )
    shift = (ny / n_lines - 1.0) / 2.0
    ramp = np.exp(2j * np.pi * ky * shift / ny) * math.sqrt(n_lines / ny)
    data = data * ramp.reshape(1, -1, *([1] * (image.ndim - 2)))
    reordered = np.empty_like(data)
    reordered[:, ky % n_lines] = data
    recon = np.fft.ifft(np.fft.ifft(reordered, axis=1, norm="ortho"), axis=0, norm="ortho")
    return np.abs(recon)


def simulate_arrays(
    row: Mapping[str, Any],
    *,
    n_slices: int = 6,
    matrix: Sequence[int] = (96, 112),
    snr: float = 60.0,
    fast_phase_fraction: float = 0.5,
    seed: int = 0,
    protocol: MdmeProtocol = DEFAULT_PROTOCOL,
) -> SimulatedSubject:
    """Simulate one subject's truth, labels and MDME scans in memory.

    Parameters
    ----------
    row
        A participants row (mapping or pandas Series) with ``participant_id`` and optionally
        ``has_lesions`` (default false).
    n_slices
        Axial slices through the slab :data:`SLAB_MM`.
    matrix
        Routine in-plane matrix ``(nx, ny)``; the voxel size is ``FOV_MM / matrix``.
    snr
        Routine SNR: 1 / image-domain noise SD per channel (``math.inf``: no noise).
    fast_phase_fraction
        Fraction of the phase-encoding lines (axis 1) the fast scan acquires.
    seed
        Cohort seed; the subject's own seed is :func:`subject_seed` ``(seed, participant_id)``.
    protocol
        MDME protocol of both scans.

    Returns
    -------
    SimulatedSubject
        Deterministic given the arguments. The anatomy, tissue values, B1 and noise streams are
        drawn from separate child seeds, so e.g. changing ``snr`` changes only the noise.

    Raises
    ------
    ConfigError
        Bad ``n_slices``, ``matrix``, ``snr``, ``fast_phase_fraction`` or a row without
        ``participant_id``.
    """
    if isinstance(row, pd.Series):
        row = row.to_dict()
    if "participant_id" not in row:
        raise ConfigError("participant row lacks 'participant_id'")
    participant = str(row["participant_id"])
    nx, ny = _check_matrix(matrix)
    ny_fast = _fast_lines(ny, fast_phase_fraction)
    snr = float(snr)
    if not snr > 0:
        raise ConfigError(f"snr must be positive, got {snr}")
    sigma = 0.0 if math.isinf(snr) else 1.0 / snr
    centres, thickness, _ = slice_geometry(n_slices)
    affine = _affine(nx, ny, n_slices)
    dx, dy = FOV_MM[0] / nx, FOV_MM[1] / ny

    anatomy_ss, values_ss, lesion_ss, b1_ss, routine_ss, fast_ss = subject_seed(
        seed, participant
    ).spawn(6)
    deform = _Deformation.draw(np.random.default_rng(anatomy_ss))
    values = _draw_tissue_values(np.random.default_rng(values_ss))
    template = _template()

    # Sample points at ~1 mm inside every voxel (partial volume), mapped to the template.
    factors = (max(1, round(dx)), max(1, round(dy)), max(1, round(thickness)))
    xs = _sub_positions(affine[0, 3], dx, nx, factors[0], dx)
    ys = _sub_positions(affine[1, 3], dy, ny, factors[1], dy)
    zs = _sub_positions(0.0, 0.0, 1, factors[2], thickness)
    zs = (centres[:, None] + zs[None, :]).ravel()
    points = deform(xs, ys, zs)
    index = points - template.origin.reshape(3, 1, 1, 1)
    z_range = (
        max(0, int(np.floor(index[2].min())) - 1),
        min(template.brain.shape[2], int(np.ceil(index[2].max())) + 2),
    )
    if z_range[1] <= z_range[0]:
        raise ConfigError("the slices miss the template brain entirely")
    brain = _sample(template.brain, index, z_range)
    gm = _sample(template.gm, index, z_range)
    wm = _sample(template.wm, index, z_range)
    csf = np.clip(brain - gm - wm, 0.0, None)
    deep = np.where(_in_deep_gm(points), gm, 0.0)
    cortex = gm - deep

    # Lesions (template-space ellipsoids placed in white matter), replacing WM.
    lesion_rng = np.random.default_rng(lesion_ss)
    lesion_id = np.zeros(brain.shape, dtype=np.int8)
    lesion_values: list[TissueValues] = []
    if _has_lesions(row):
        wm_voxels = _block_mean(wm, factors)
        for centre, semi, rotation in _pick_lesions(lesion_rng, wm_voxels, affine, deform):
            k = len(lesion_values) + 1
            # Test only the points within the lesion's bounding cube (first lesion wins).
            near = lesion_id == 0
            for axis in range(3):
                near &= np.abs(points[axis] - centre[axis]) <= semi.max()
            candidates = np.flatnonzero(near)
            flat = points.reshape(3, -1)[:, candidates]
            lesion_id.flat[candidates[_inside_ellipsoid(flat, centre, semi, rotation)]] = k
            f1, f2, fp = np.exp(lesion_rng.normal(0.0, _LESION_SD, size=3))
            base = values["lesion"]
            lesion_values.append(
                TissueValues(
                    float(base.t1 * f1), float(base.t2 * f2), float(min(base.pd * fp, 1.0))
                )
            )
    if lesion_values:
        mean = np.mean([[v.t1, v.t2, v.pd] for v in lesion_values], axis=0)
        values["lesion"] = TissueValues(*(float(m) for m in mean))
    lesion = np.where(lesion_id > 0, wm, 0.0)
    wm = wm - lesion

    # Partial volume: blend R1, R2 and PD by tissue fraction.
    lesion_table = np.array(
        [[np.nan, np.nan, 0.0], *[[1 / v.t1, 1 / v.t2, v.pd] for v in lesion_values]]
    )
    r1 = np.zeros(brain.shape, dtype=np.float64)
    r2 = np.zeros_like(r1)
    pd_sum = np.zeros_like(r1)
    for name, frac in (("csf", csf), ("gm", cortex), ("wm", wm), ("deep_gm", deep)):
        v = values[name]
        r1 += frac / v.t1
        r2 += frac / v.t2
        pd_sum += frac * v.pd
    if lesion_values:
        has = lesion_id > 0
        r1[has] += lesion[has] * lesion_table[lesion_id[has], 0]
        r2[has] += lesion[has] * lesion_table[lesion_id[has], 1]
        pd_sum[has] += lesion[has] * lesion_table[lesion_id[has], 2]

    fractions = {
        "csf": _block_mean(csf, factors),
        "gm": _block_mean(cortex, factors),
        "deep_gm": _block_mean(deep, factors),
        "wm": _block_mean(wm, factors),
        "lesion": _block_mean(lesion, factors),
    }
    tissue = sum(fractions.values())
    r1, r2, pd_map = (_block_mean(a, factors) for a in (r1, r2, pd_sum))
    present = tissue > 1e-6
    safe = np.where(present, tissue, 1.0)
    t1 = np.where(present, safe / np.where(present, r1, 1.0), 0.0)
    t2 = np.where(present, safe / np.where(present, r2, 1.0), 0.0)
    pd_map = np.where(present, pd_map, 0.0)

    # Labels.
    grey = fractions["gm"] + fractions["deep_gm"]
    white = fractions["wm"] + fractions["lesion"]
    stacked = np.stack([fractions["csf"], grey, white])
    dseg = (np.argmax(stacked, axis=0) + 1).astype(np.uint8)
    dseg[(dseg == TISSUE_LABELS["gm"]) & (fractions["deep_gm"] > fractions["gm"])] = TISSUE_LABELS[
        "deep_gm"
    ]
    dseg[tissue < 0.5] = TISSUE_LABELS["background"]
    x0, y0 = affine[0, 3], affine[1, 3]
    centre_points = deform(x0 + dx * np.arange(nx), y0 + dy * np.arange(ny), centres)
    regions = np.where(dseg > 0, region_of(centre_points), 0).astype(np.uint8)
    # A deep-GM voxel whose centre falls just outside the ellipsoids still belongs to "deep".
    deep_label = REGION_NAMES.index("deep_left") + 1 + (centre_points[0] >= 0)
    is_deep = dseg == TISSUE_LABELS["deep_gm"]
    regions[is_deep] = deep_label[is_deep]
    lesions = ((fractions["lesion"] >= 0.5) & (dseg == TISSUE_LABELS["wm"])).astype(np.uint8)

    # B1 and images.
    b1 = _b1_field(
        x0 + dx * np.arange(nx),
        y0 + dy * np.arange(ny),
        centres,
        np.random.default_rng(b1_ss),
    )
    b1 = np.broadcast_to(b1, t1.shape)
    clean = _signed_signal(t1, t2, pd_map, b1, protocol)
    routine = _acquire(clean, ny, sigma, np.random.default_rng(routine_ss))
    fast = _acquire(clean, ny_fast, sigma, np.random.default_rng(fast_ss))

    logger.debug(
        "sub-%s: %d lesion(s), WM T1 %.0f ms, SNR %g, matrix %dx%d (fast %dx%d), %d slices",
        participant,
        len(lesion_values),
        values["wm"].t1,
        snr,
        nx,
        ny,
        nx,
        ny_fast,
        len(centres),
    )
    f32 = np.float32
    return SimulatedSubject(
        routine=routine.astype(f32),
        fast=fast.astype(f32),
        t1=t1.astype(f32),
        t2=t2.astype(f32),
        pd=pd_map.astype(f32),
        b1=np.ascontiguousarray(b1, dtype=f32),
        dseg=dseg,
        regions=regions,
        lesions=lesions,
        fractions={k: v.astype(f32) for k, v in fractions.items()},
        tissue_values=values,
        routine_affine=affine,
        fast_affine=_affine(nx, ny_fast, n_slices),
        protocol=protocol,
        sigma=sigma,
        slice_thickness=thickness,
    )


def simulate_subject(
    row: Mapping[str, Any],
    *,
    n_slices: int = 6,
    matrix: Sequence[int] = (96, 112),
    snr: float = 60.0,
    fast_phase_fraction: float = 0.5,
    seed: int = 0,
    outputs: Mapping[str, PathLike],
    protocol: MdmeProtocol = DEFAULT_PROTOCOL,
) -> None:
    """Simulate one subject and write its scans, truth maps and labels.

    Parameters
    ----------
    row, n_slices, matrix, snr, fast_phase_fraction, seed, protocol
        See :func:`simulate_arrays`.
    outputs
        Paths by key (any subset of :data:`OUTPUT_KEYS`): ``routine`` and ``fast`` (4D MDME,
        float32, each with its JSON sidecar beside it), ``T1map``, ``T2map``, ``PDmap``,
        ``B1map`` (float32 truth on the routine grid), ``dseg``, ``regions``, ``lesions``
        (uint8 labels on the routine grid). Every file is written atomically, after the whole
        simulation succeeded.

    Raises
    ------
    ConfigError
        An unknown output key, or a bad parameter (see :func:`simulate_arrays`).
    """
    from qmrflow.io import save_nifti, write_json  # nibabel only when writing

    unknown = sorted(set(outputs) - set(OUTPUT_KEYS))
    if unknown:
        raise ConfigError(f"unknown simulate_subject output keys {unknown}; known: {OUTPUT_KEYS}")
    sim = simulate_arrays(
        row,
        n_slices=n_slices,
        matrix=matrix,
        snr=snr,
        fast_phase_fraction=fast_phase_fraction,
        seed=seed,
        protocol=protocol,
    )
    arrays = {
        "routine": (sim.routine, sim.routine_affine),
        "fast": (sim.fast, sim.fast_affine),
        "T1map": (sim.t1, sim.routine_affine),
        "T2map": (sim.t2, sim.routine_affine),
        "PDmap": (sim.pd, sim.routine_affine),
        "B1map": (sim.b1, sim.routine_affine),
        "dseg": (sim.dseg, sim.routine_affine),
        "regions": (sim.regions, sim.routine_affine),
        "lesions": (sim.lesions, sim.routine_affine),
    }
    for key, path in outputs.items():
        data, affine = arrays[key]
        save_nifti(data, path, affine)
        if key in ("routine", "fast"):
            sidecar = {
                **sim.protocol.to_sidecar(),
                "AcquisitionMatrix": [int(data.shape[0]), int(data.shape[1])],
                "PhaseEncodingDirection": "j",
                "SliceThickness": sim.slice_thickness,
                "SpacingBetweenSlices": float(sim.routine_affine[2, 2]),
                "SimulatedSNR": None if math.isinf(float(snr)) else float(snr),
            }
            write_json(sidecar, sidecar_path(path))
    logger.info("wrote sub-%s (%d outputs)", row["participant_id"], len(outputs))


def write_region_names(path: PathLike) -> Path:
    """Write the region lookup table (``index``, ``name``; background 0 not listed)."""
    from qmrflow.io import write_tsv

    table = pd.DataFrame({"index": np.arange(1, len(REGION_NAMES) + 1), "name": list(REGION_NAMES)})
    return write_tsv(table, path)
