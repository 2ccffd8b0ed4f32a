"""One subject's brain susceptibility phantom: tissues, deep grey matter, veins, MS lesions, fields.

The anatomy is the MNI152 template of the simulation kit (:func:`load_mni152`) seen through a
per-subject :class:`~qmrflow.simulate.deform.RandomDeformation`, sampled at ~1 mm sub-points of
every voxel and block-averaged (partial volume). Template-space ellipsoids give the deep grey
matter nuclei, a connected-component mask of the template's CSF the lateral ventricles, and
template-space polylines the large veins; lesions and the veins along z (medullary and central
veins) are placed in the subject's own grid. See the package docstring
(:mod:`qmrflow.studies.qsm.simulate`) for the values and their sources.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from qmrflow.errors import ConfigError
from qmrflow.simulate.deform import RandomDeformation, rotation_matrix
from qmrflow.simulate.template import BrainTemplate, inside_ellipsoid, load_mni152
from qmrflow.studies.qsm.dipole import dipole_field, dipole_kernel, padded_shape
from qmrflow.studies.qsm.simulate.cohort import subject_streams
from qmrflow.studies.qsm.simulate.settings import SLAB_CENTRE_MM, QsmDemoSettings

logger = logging.getLogger(__name__)

__all__ = [
    "AIR_CHI_PPM",
    "CHI_RANGES",
    "DGM_LABELS",
    "LABELS",
    "LESION_COLUMNS",
    "LESION_TYPES",
    "TISSUES",
    "Phantom",
    "Tissue",
    "simulate_phantom",
]

#: Tissue labels of the ``labels`` (dseg) map; 0: outside the brain and CSF-dominated voxels
#: outside the lateral ventricles (sulci, cisterns, third ventricle).
LABELS: dict[str, int] = {
    "caudate": 1,
    "putamen": 2,
    "pallidus": 3,
    "thalamus": 4,
    "ventricles": 5,
    "wm": 6,
    "cortex": 7,
}

#: Deep grey matter labels.
DGM_LABELS: tuple[int, ...] = (1, 2, 3, 4)

#: QSM appearance of a lesion core.
LESION_TYPES: tuple[str, str, str] = ("hyper", "iso", "hypo")

#: Columns of the lesion truth table: the shared lesion columns, then the rim's susceptibility
#: (NaN without a rim) and the lesion centre (voxel indices).
LESION_COLUMNS: tuple[str, ...] = (
    "lesion",
    "type",
    "rim",
    "central_vein",
    "chi_core",
    "volume_ml",
    "chi_rim",
    "x",
    "y",
    "z",
)

#: Susceptibility of air relative to water and soft tissue (ppm, SI): +9.4.
AIR_CHI_PPM = 9.4
#: Cortical bone relative to soft tissue (ppm): about -2 (Hopkins & Wehrli, MRM 1997).
BONE_CHI_PPM = -2.0


@dataclass(frozen=True)
class Tissue:
    """Properties of one tissue class.

    Attributes
    ----------
    chi
        Susceptibility (ppm) relative to CSF.
    r2star
        1/T2* at 3 T (1/s).
    pd
        Magnetisation at TE = 0 of the multi-echo GRE/EPI (proton density with the mild T1
        weighting of a 3D GRE), relative.
    flair
        FLAIR signal, relative.
    """

    chi: float
    r2star: float
    pd: float
    flair: float


#: Population values per tissue class at 3 T. Susceptibility relative to CSF: Deistung et al.,
#: NeuroImage 2013;65:299-314 and Lim et al., NeuroImage 2013;82:449-469 (white matter -0.02 to
#: -0.05, cortex ~+0.02, caudate ~0.06, putamen ~0.07, pallidus ~0.18, thalamus ~0.03 ppm);
#: veins: Hct 0.4, oxygenation 0.6-0.7 give ~0.4 ppm (Haacke et al., JMRI 2005;22:439).
#: R2*: Peran et al., Brain 2007 and Li et al., NeuroImage 2011 (white matter ~20/s, cortex
#: ~15/s, pallidus 35-45/s; CSF ~2/s; venous blood ~50/s at 3 T).
TISSUES: dict[str, Tissue] = {
    "csf": Tissue(chi=0.0, r2star=2.0, pd=0.55, flair=0.05),
    "wm": Tissue(chi=-0.03, r2star=20.0, pd=0.70, flair=0.45),
    "cortex": Tissue(chi=0.02, r2star=15.0, pd=0.80, flair=0.62),
    "caudate": Tissue(chi=0.06, r2star=20.0, pd=0.80, flair=0.55),
    "putamen": Tissue(chi=0.07, r2star=25.0, pd=0.80, flair=0.52),
    "pallidus": Tissue(chi=0.18, r2star=35.0, pd=0.75, flair=0.40),
    "thalamus": Tissue(chi=0.03, r2star=19.0, pd=0.76, flair=0.52),
    "vein": Tissue(chi=0.40, r2star=50.0, pd=0.70, flair=0.40),
}

#: Range of each subject's susceptibility per class (ppm relative to CSF): the population value
#: plus a normal deviation (:data:`_CHI_SD`), clipped to this range.
CHI_RANGES: dict[str, tuple[float, float]] = {
    "csf": (0.0, 0.0),
    "wm": (-0.045, -0.015),
    "cortex": (0.005, 0.035),
    "caudate": (0.04, 0.09),
    "putamen": (0.045, 0.10),
    "pallidus": (0.13, 0.23),
    "thalamus": (0.01, 0.05),
    "vein": (0.30, 0.50),
}
_CHI_SD = {
    "csf": 0.0,
    "wm": 0.005,
    "cortex": 0.005,
    "caudate": 0.008,
    "putamen": 0.01,
    "pallidus": 0.02,
    "thalamus": 0.006,
    "vein": 0.04,
}
_OTHER_SD = 0.05  # log-normal SD of R2*, PD and FLAIR between subjects

# Lesions. Core susceptibility relative to the subject's white matter by type (ppm); the
# paramagnetic rim's; chronic-lesion R2* (1/s: demyelination lowers it, iron in the rim raises
# it); Chen et al., Radiology 2014;271:183; Absinta et al., JCI 2016;126:2597; Dal-Bianco et al.,
# Acta Neuropathol 2017;133:25.
_LESION_TYPE_P = (0.5, 0.3, 0.2)  # hyper, iso, hypo
_RIM_LESION_TYPE_P = (0.2, 0.5, 0.3)  # rim lesions mostly have an iso- or hypointense core
_LESION_DCHI = {"hyper": (0.02, 0.05), "iso": (-0.005, 0.005), "hypo": (-0.04, -0.02)}
_LESION_R2STAR = {"hyper": 17.0, "iso": 18.0, "hypo": 13.0}
_RIM_DCHI = (0.04, 0.08)
_RIM_R2STAR = 28.0
_LESION_PD = 0.80
_LESION_FLAIR = (0.9, 1.1)
_RIM_P = 0.25
_CENTRAL_VEIN_P = 0.5
_CENTRAL_VEIN_CHI = 0.30
_CENTRAL_VEIN_R2STAR = 45.0
_PERIVENTRICULAR_P = 0.7
_PERIVENTRICULAR_MM = (2.0, 10.0)

# Deep grey matter nuclei: (label, centre, semi-axes) in MNI mm, right hemisphere (mirrored to
# the left), painted in this order (later wins): fitted by eye to the MNI152 2009a GM map.
_NUCLEI: tuple[tuple[int, tuple[float, float, float], tuple[float, float, float]], ...] = (
    (4, (11.0, -18.0, 7.0), (8.0, 13.0, 8.0)),  # thalamus
    (1, (12.0, 12.0, 8.0), (6.0, 10.0, 9.0)),  # caudate head
    (1, (14.0, -4.0, 19.0), (4.0, 12.0, 4.0)),  # caudate body
    (2, (25.0, 1.0, 3.0), (6.0, 15.0, 10.0)),  # putamen
    (3, (19.0, -4.0, -1.0), (5.0, 8.0, 6.0)),  # globus pallidus
)
_VENTRICLE_BOX = ((-36.0, 36.0), (-60.0, 40.0), (-6.0, 36.0))  # MNI mm
_VENTRICLE_SEEDS = ((16.0, -20.0, 22.0), (-16.0, -20.0, 22.0))
_VENTRICLE_BIT = 8

# Large veins: (polyline in MNI mm, radius mm, mirrored). Internal cerebral veins, vein of
# Galen and straight sinus, basal veins (of Rosenthal), thalamostriate veins and the superior
# sagittal sinus (anterior and posterior parts; only its part inside the brain mask counts).
_VEINS: tuple[tuple[tuple[tuple[float, float, float], ...], float, bool], ...] = (
    (((2.5, 2.0, 15.0), (3.0, -20.0, 14.0), (2.0, -36.0, 10.0), (0.0, -46.0, 6.0)), 1.1, True),
    (((0.0, -46.0, 6.0), (0.0, -58.0, 2.0), (0.0, -80.0, -6.0)), 1.8, False),
    (((18.0, -4.0, -10.0), (16.0, -28.0, -2.0), (5.0, -44.0, 5.0)), 1.0, True),
    (((16.0, -8.0, 20.0), (9.0, 0.0, 17.0), (3.0, 1.0, 15.0)), 0.8, True),
    (((0.0, 62.0, 40.0), (0.0, 70.0, 15.0), (0.0, 66.0, -6.0)), 3.0, False),
    (((0.0, -76.0, 55.0), (0.0, -96.0, 30.0), (0.0, -102.0, 8.0)), 3.0, False),
)
_MEDULLARY_VEINS = (3, 6)  # per subject
_MEDULLARY_LENGTH_MM = (10.0, 20.0)

# Background sources (MNI mm). The head: soft tissue up to 12-16 mm from the brain (skull
# 4-5 mm out, 5-7 mm thick) and a neck/face column below z = -25. Air cavities (centre,
# semi-axes), kept 4 mm or more from the brain: frontal, ethmoid/nasal, sphenoid and maxillary
# sinuses, mastoid air cells and ear canals, pharynx.
_NECK = (-25.0, (0.0, -12.0), (68.0, 88.0))  # below z, centre (x, y), semi-axes (x, y)
_AIR_CAVITIES: tuple[tuple[tuple[float, float, float], tuple[float, float, float], bool], ...] = (
    ((0.0, 74.0, 0.0), (18.0, 9.0, 14.0), False),
    ((0.0, 42.0, -34.0), (12.0, 22.0, 12.0), False),
    ((0.0, 10.0, -36.0), (12.0, 11.0, 9.0), False),
    ((30.0, 35.0, -60.0), (13.0, 18.0, 16.0), True),
    ((58.0, -28.0, -42.0), (10.0, 11.0, 10.0), True),
    ((66.0, -18.0, -44.0), (12.0, 5.0, 5.0), True),
    ((0.0, 0.0, -95.0), (9.0, 9.0, 30.0), False),
)
_AIR_MARGIN_MM = 4.0

#: Size of the subjects' brains relative to the MNI152 template (before each subject's own
#: scaling): the template is larger than native adult brains (its 180 x 144 mm brain becomes
#: about 166 x 132 mm, which leaves the default 192 x 160 mm field of view a margin).
NATIVE_SCALE = 0.92
# The extended grid of the background (world mm, volume centre 0): the whole head.
_HEAD_BOX = ((-96.0, 96.0), (-112.0, 112.0), (-110.0, 92.0))


@dataclass
class Phantom:
    """One simulated subject's truth on the reconstruction grid ``(X, Y, Z)``.

    Attributes
    ----------
    participant_id
        The subject's label.
    chi
        Susceptibility (ppm) relative to CSF, float32, zero outside the brain.
    labels
        Tissue labels (int16, :data:`LABELS`): each brain voxel's largest class; 0 outside
        the brain and where CSF outside the lateral ventricles is largest.
    brain
        Brain mask (bool): brain fraction >= 0.5.
    lesions
        Lesion labels (int16, 0 none, 1..L): voxels at least half lesion.
    lesion_table
        One row per lesion (:data:`LESION_COLUMNS`): ``lesion`` (its label), ``type``
        (:data:`LESION_TYPES`), ``rim``, ``central_vein`` (bool), ``chi_core`` (ppm relative
        to CSF), ``volume_ml`` (labelled voxels), ``chi_rim`` (ppm, NaN without a rim) and the
        centre voxel ``x``, ``y``, ``z``.
    pd, r2star
        Magnetisation at TE = 0 (relative; 0 outside the brain) and R2* (1/s), float32.
    flair
        FLAIR magnitude (lesions bright, CSF dark), float32.
    background_ppm
        Field (ppm of B0) of the sources outside the brain (head-air boundary, skull, air
        cavities) after an ideal first-order shim, plus a residual linear shim term; harmonic
        inside the brain. float32.
    local_ppm
        Field (ppm) of ``chi`` (:func:`~qmrflow.studies.qsm.dipole.dipole_field`). float32.
    phase0
        Transmit/receive phase at TE = 0 (rad), smooth, float32.
    affine
        RAS+ affine (diagonal voxel size, volume centred on the world origin).
    tissues
        The subject's values per tissue class (:data:`TISSUES` keys).
    coil_params
        Keyword arguments of :func:`qmrflow.simulate.kspace.coil_sensitivities` for this
        subject's receive array.
    """

    participant_id: str
    chi: np.ndarray
    labels: np.ndarray
    brain: np.ndarray
    lesions: np.ndarray
    lesion_table: pd.DataFrame
    pd: np.ndarray
    r2star: np.ndarray
    flair: np.ndarray
    background_ppm: np.ndarray
    local_ppm: np.ndarray
    phase0: np.ndarray
    affine: np.ndarray
    tissues: dict[str, Tissue] = field(default_factory=dict)
    coil_params: dict[str, float] = field(default_factory=dict)

    @property
    def total_ppm(self) -> np.ndarray:
        """Total field (ppm): ``local_ppm + background_ppm``."""
        return self.local_ppm + self.background_ppm

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(X, Y, Z)``."""
        return self.chi.shape  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Template-space structures
# --------------------------------------------------------------------------------------------


def _template_points(template: BrainTemplate, box: Sequence[tuple[float, float]]) -> tuple:
    """Index slices of ``box`` (MNI mm) in the template and the MNI coordinates there."""
    slices, axes = [], []
    for axis, (lo, hi) in enumerate(box):
        i0 = max(0, math.floor(lo - template.origin[axis]))
        i1 = min(template.brain.shape[axis], math.ceil(hi - template.origin[axis]) + 1)
        slices.append(slice(i0, i1))
        axes.append(np.arange(i0, i1) + template.origin[axis])
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))
    return tuple(slices), grid


@functools.lru_cache(maxsize=1)
def _template_structures() -> np.ndarray:
    """int8 on the template grid: the deep grey matter nucleus (1-4, :data:`LABELS`; 0 none)
    plus :data:`_VENTRICLE_BIT` in the lateral-ventricle region (CSF there is ventricular)."""
    template = load_mni152()
    out = np.zeros(template.brain.shape, dtype=np.int8)
    box = ((-40.0, 40.0), (-40.0, 30.0), (-12.0, 30.0))
    region, points = _template_points(template, box)
    view = out[region]
    for label, centre, semi in _NUCLEI:
        for sign in (1.0, -1.0):
            mirrored = (sign * centre[0], centre[1], centre[2])
            view[inside_ellipsoid(points, mirrored, semi)] = label
    # Lateral ventricles: the CSF components (CSF fraction > 0.5) holding the seeds, inside a
    # box around the ventricles, cut at the midline (septum pellucidum and third ventricle),
    # dilated by 2 mm so that their partial-volume edge counts as ventricular.
    region, points = _template_points(template, _VENTRICLE_BOX)
    brain, gm, wm = (v[region] for v in (template.brain, template.gm, template.wm))
    csf = brain - gm - wm
    lateral = np.abs(points[0]) >= 2.0
    components, _ = ndimage.label((csf > 0.5) & lateral)
    seeds = []
    for seed in _VENTRICLE_SEEDS:
        index = tuple(round(seed[a] - points[a].flat[0]) for a in range(3))
        seeds.append(int(components[index]))
    ventricles = np.isin(components, [s for s in seeds if s > 0])
    ventricles = ndimage.binary_dilation(ventricles, iterations=2) & lateral & (csf > 0.05)
    out[region][ventricles] += _VENTRICLE_BIT
    return out


# --------------------------------------------------------------------------------------------
# Grids and sampling
# --------------------------------------------------------------------------------------------


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Mean over cubes of ``factor`` samples per axis."""
    if factor == 1:
        return array
    nx, ny, nz = (s // factor for s in array.shape)
    f = factor
    return array.reshape(nx, f, ny, f, nz, f).mean(axis=(1, 3, 5), dtype=np.float32)


def _voxel_axes(settings: QsmDemoSettings) -> list[np.ndarray]:
    """World mm (volume centre 0) of the voxel centres per axis."""
    v = settings.voxel_mm
    return [(np.arange(n) - (n - 1) / 2.0) * v for n in settings.matrix]


def _sub_axes(settings: QsmDemoSettings, factor: int) -> list[np.ndarray]:
    """World mm of ``factor`` sub-points per voxel and axis (voxel-major order)."""
    v = settings.voxel_mm
    offsets = ((np.arange(factor) + 0.5) / factor - 0.5) * v
    return [(c[:, None] + offsets[None, :]).ravel() for c in _voxel_axes(settings)]


def _to_scanner(axes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """World mm -> the unwarped template mm that the subject deformation takes: centred on
    :data:`SLAB_CENTRE_MM`, scaled by ``1 / NATIVE_SCALE``."""
    return [c + a / NATIVE_SCALE for a, c in zip(axes, SLAB_CENTRE_MM, strict=True)]


@dataclass
class _Anatomy:
    """Template fractions at the sub-points (float32) and the structure code (int8)."""

    points: np.ndarray  # (3, NX, NY, NZ) template mm
    brain: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    structure: np.ndarray


def _sample_anatomy(points: np.ndarray, template: BrainTemplate) -> _Anatomy:
    """Trilinear brain/GM/WM fractions and nearest-neighbour structure codes at ``points``."""
    index = points - template.origin.reshape(3, 1, 1, 1)
    z0 = max(0, int(np.floor(index[2].min())) - 1)
    z1 = min(template.brain.shape[2], int(np.ceil(index[2].max())) + 2)
    if z1 <= z0:
        raise ConfigError("the qsm demo slab misses the template brain")
    index[2] -= z0

    def sample(volume: np.ndarray, order: int, dtype: type) -> np.ndarray:
        return ndimage.map_coordinates(
            np.ascontiguousarray(volume[:, :, z0:z1]),
            index,
            order=order,
            mode="constant",
            cval=0.0,
            output=dtype,
        )

    return _Anatomy(
        points=points,
        brain=sample(template.brain, 1, np.float32),
        gm=sample(template.gm, 1, np.float32),
        wm=sample(template.wm, 1, np.float32),
        structure=sample(_template_structures(), 0, np.int8),
    )


def _index_range(axis: np.ndarray, lo: float, hi: float) -> slice:
    """Indices of the sorted coordinates ``axis`` within ``[lo, hi]``."""
    return slice(int(np.searchsorted(axis, lo, "left")), int(np.searchsorted(axis, hi, "right")))


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of ``points`` ``(3, ...)`` from the segment ``a``-``b`` (mm)."""
    ab = b - a
    rel = points - a.reshape(3, *([1] * (points.ndim - 1)))
    t = np.tensordot(ab, rel, axes=1) / max(float(ab @ ab), 1e-12)
    t = np.clip(t, 0.0, 1.0)
    closest = rel - ab.reshape(3, *([1] * (points.ndim - 1))) * t[None]
    return np.sqrt(np.sum(closest**2, axis=0))


def _coordinate_ranges(points: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per axis and index along it, the minimum and maximum of that coordinate of ``points``
    ``(3, NX, NY, NZ)`` (warped template mm)."""
    lows = [points[a].min(axis=tuple(b for b in range(3) if b != a)) for a in range(3)]
    highs = [points[a].max(axis=tuple(b for b in range(3) if b != a)) for a in range(3)]
    return lows, highs


def _index_box(
    ranges: tuple[list[np.ndarray], list[np.ndarray]], lo: np.ndarray, hi: np.ndarray
) -> tuple[slice, ...] | None:
    """The index box of the points whose coordinates may lie in ``[lo, hi]`` (None: none).

    Exact from the per-index coordinate ranges (:func:`_coordinate_ranges`): a point outside
    the box has at least one coordinate outside ``[lo, hi]``.
    """
    lows, highs = ranges
    box = []
    for axis in range(3):
        hit = np.flatnonzero((highs[axis] >= lo[axis]) & (lows[axis] <= hi[axis]))
        if hit.size == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def _template_veins(points: np.ndarray, vein_code: np.ndarray) -> None:
    """Mark sub-points inside the large veins (:data:`_VEINS`, template space) with code 1,
    testing only the index box around each segment."""
    ranges = _coordinate_ranges(points)
    for polyline, radius, mirrored in _VEINS:
        for sign in (1.0, -1.0) if mirrored else (1.0,):
            nodes = np.array(polyline) * np.array([sign, 1.0, 1.0])
            for a, b in itertools.pairwise(nodes):
                box = _index_box(ranges, np.minimum(a, b) - radius, np.maximum(a, b) + radius)
                if box is not None:
                    near = _segment_distance(points[(slice(None), *box)], a, b) <= radius
                    vein_code[box][near] = 1


def _ramp(signed_mm: np.ndarray, width: float) -> np.ndarray:
    """Partial-volume fraction of a boundary: 0 far outside, 1 far inside (``signed_mm > 0``)."""
    return np.clip(signed_mm / width + 0.5, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Subject values
# --------------------------------------------------------------------------------------------


def _draw_tissues(rng: np.random.Generator) -> dict[str, Tissue]:
    """The subject's tissue values: literature values varied between subjects."""
    out = {}
    for name, base in TISSUES.items():
        low, high = CHI_RANGES[name]
        chi = float(np.clip(base.chi + _CHI_SD[name] * rng.standard_normal(), low, high))
        r2, pd_factor, flair = np.exp(_OTHER_SD * rng.standard_normal(3))
        out[name] = Tissue(
            chi=chi,
            r2star=float(base.r2star * r2),
            pd=float(min(base.pd * pd_factor, 1.0)),
            flair=float(base.flair * flair),
        )
    return out


@dataclass
class _Lesion:
    """One placed lesion (world mm)."""

    kind: str
    rim: bool
    central_vein: bool
    centre: np.ndarray
    semi: np.ndarray
    rotation: np.ndarray
    chi_core: float
    chi_rim: float
    r2star: float
    flair: float
    voxel: tuple[int, int, int]


def _draw_lesion(
    rng: np.random.Generator, wm_chi: float, voxel_mm: float, rim: bool, vein: bool
) -> _Lesion:
    """A lesion's type, values and shape (centre set by the caller)."""
    kind = str(rng.choice(np.array(LESION_TYPES), p=_RIM_LESION_TYPE_P if rim else _LESION_TYPE_P))
    radius = rng.uniform(2.0, 5.0)
    semi = radius * np.array([1.0, *rng.uniform(0.7, 1.0, size=2)])
    if vein:  # lesions around a vein are elongated along it (z)
        semi[2] *= 1.3
        rotation = rotation_matrix(np.array([0.0, 0.0, rng.uniform(-np.pi, np.pi)]))
    else:
        rotation = rotation_matrix(rng.uniform(-np.pi, np.pi, size=3))
    # A core inside a 1-voxel rim, and at least a voxel's worth of lesion.
    smallest = 1.8 * voxel_mm if rim else 0.6 * voxel_mm
    semi *= max(1.0, smallest / semi.min())
    dchi = rng.uniform(*_LESION_DCHI[kind])
    return _Lesion(
        kind=kind,
        rim=rim,
        central_vein=vein,
        centre=np.zeros(3),
        semi=semi,
        rotation=rotation,
        chi_core=float(wm_chi + dchi),
        chi_rim=float(wm_chi + rng.uniform(*_RIM_DCHI)) if rim else math.nan,
        r2star=float(_LESION_R2STAR[kind] * np.exp(_OTHER_SD * rng.standard_normal())),
        flair=float(rng.uniform(*_LESION_FLAIR)),
        voxel=(0, 0, 0),
    )


def _lesion_flags(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rim and central-vein flags of ``n`` lesions; with 3 or more, at least one of each."""
    rim = rng.random(n) < _RIM_P
    vein = rng.random(n) < _CENTRAL_VEIN_P
    if n >= 3:
        if not rim.any():
            rim[rng.integers(n)] = True
        if not vein.any():
            vein[rng.integers(n)] = True
    return rim, vein


# --------------------------------------------------------------------------------------------
# Background field
# --------------------------------------------------------------------------------------------


def _convolve_dipole(chi: np.ndarray, voxel: Sequence[float], pad: float) -> np.ndarray:
    """Field (ppm) of ``chi`` (ppm) by zero-padded FFT convolution with the dipole kernel
    (real FFTs: the kernel is real and even)."""
    big = padded_shape(chi.shape, pad)
    kernel = dipole_kernel(big, voxel)[..., : big[2] // 2 + 1]
    spectrum = np.fft.rfftn(chi, s=big, axes=(0, 1, 2))
    spectrum *= kernel
    field = np.fft.irfftn(spectrum, s=big, axes=(0, 1, 2))
    return field[: chi.shape[0], : chi.shape[1], : chi.shape[2]]


def _background_field(
    rng: np.random.Generator,
    deform: RandomDeformation,
    template: BrainTemplate,
    settings: QsmDemoSettings,
    brain: np.ndarray,
) -> np.ndarray:
    """Field (ppm) of the head's sources outside the brain, shimmed (see :class:`Phantom`).

    Susceptibility relative to air on an extended grid aligned with the subject's: soft tissue
    (the brain included) ``-AIR_CHI_PPM``, skull ``BONE_CHI_PPM`` lower, air cavities and the
    air around the head 0. Inside the brain it is uniform, so the field there is harmonic.
    """
    v = settings.voxel_mm
    pads = []
    for n, (lo, hi) in zip(settings.matrix, _HEAD_BOX, strict=True):
        half = (n - 1) / 2.0 * v
        pads.append((max(0, math.ceil((-half - lo) / v)), max(0, math.ceil((hi - half) / v))))
    axes = [
        (np.arange(-p0, n + p1) - (n - 1) / 2.0) * v
        for n, (p0, p1) in zip(settings.matrix, pads, strict=True)
    ]
    points = deform(*_to_scanner(axes))
    brain_fraction = ndimage.map_coordinates(
        template.brain, points - template.origin.reshape(3, 1, 1, 1), order=1, cval=0.0
    )
    distance = ndimage.distance_transform_edt(brain_fraction < 0.5, sampling=v)
    scalp = rng.uniform(12.0, 16.0)
    bone_in = rng.uniform(4.0, 5.0)
    bone_out = bone_in + rng.uniform(5.0, 7.0)
    x, y, z = points
    below, (cx, cy), (ax, ay) = _NECK
    neck = (z < below) & (((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0)
    head = np.maximum(_ramp(scalp - distance, v), neck)
    bone = _ramp(distance - bone_in, v) * _ramp(bone_out - distance, v)
    air = np.zeros(distance.shape, dtype=bool)
    ranges = _coordinate_ranges(points)
    for centre, semi, mirrored in _AIR_CAVITIES:
        for sign in (1.0, -1.0) if mirrored else (1.0,):
            c = np.array([sign * centre[0], centre[1], centre[2]])
            box = _index_box(ranges, c - max(semi), c + max(semi))
            if box is not None:
                air[box] |= inside_ellipsoid(points[(slice(None), *box)], c, semi)
    air &= distance >= _AIR_MARGIN_MM
    chi = head * (-AIR_CHI_PPM + BONE_CHI_PPM * bone) * (~air)
    chi = ndimage.gaussian_filter(chi, 0.5)  # partial volume of the cavity walls
    # No source within a voxel of the brain: the field is harmonic in the brain.
    chi[distance <= v] = -AIR_CHI_PPM
    field_big = _convolve_dipole(chi, settings.voxel, pad=1.5)
    crop = tuple(slice(p0, p0 + n) for n, (p0, _) in zip(settings.matrix, pads, strict=True))
    raw = field_big[crop]

    # Ideal first-order shim over the brain in the slab, then a residual linear term.
    world = np.meshgrid(*_voxel_axes(settings), indexing="ij")
    design = np.stack([np.ones(brain.sum()), *(w[brain] for w in world)], axis=1)
    coef, *_ = np.linalg.lstsq(design, raw[brain], rcond=None)
    residual = np.concatenate([rng.normal(0.0, 0.1, 1), rng.normal(0.0, 0.002, 3)])
    shim = coef - residual
    return raw - (shim[0] + shim[1] * world[0] + shim[2] * world[1] + shim[3] * world[2])


def _phase0(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Smooth transmit/receive phase (rad): a constant plus a random quadratic polynomial."""
    axes = [np.linspace(-1.0, 1.0, n) for n in shape]
    grid = np.meshgrid(*axes, indexing="ij")
    phase = np.full(shape, rng.uniform(-np.pi, np.pi))
    linear = rng.normal(0.0, 0.3, 3)
    quadratic = rng.normal(0.0, 0.2, 6)
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    for i in range(3):
        phase += linear[i] * grid[i]
    for c, (i, j) in zip(quadratic, pairs, strict=True):
        phase += c * grid[i] * grid[j]
    return phase.astype(np.float32)


# --------------------------------------------------------------------------------------------
# The phantom
# --------------------------------------------------------------------------------------------


def _participant(row: Mapping[str, Any] | pd.Series) -> str:
    if isinstance(row, pd.Series):
        row = row.to_dict()
    if "participant_id" not in row:
        raise ConfigError("participant row lacks 'participant_id'")
    return str(row["participant_id"]).removeprefix("sub-")


def simulate_phantom(
    row: Mapping[str, Any] | pd.Series,
    settings: QsmDemoSettings | Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Phantom:
    """Simulate one subject's susceptibility phantom and fields.

    Parameters
    ----------
    row
        A participants row (mapping or pandas Series) with ``participant_id``; other columns
        are ignored.
    settings
        :class:`QsmDemoSettings` or a mapping of its fields (None: defaults).
    seed
        Cohort seed. The subject's streams (:func:`.cohort.subject_streams`): ``anatomy``
        (deformation), ``tissues``, ``lesions``, ``veins`` (medullary veins), ``background``,
        ``phase`` (phase at TE = 0), ``coils`` and ``flair`` (its noise).

    Returns
    -------
    Phantom
        Deterministic given the arguments.

    Raises
    ------
    ConfigError
        A row without ``participant_id`` or bad settings.
    """
    settings = QsmDemoSettings.from_mapping(settings)
    pid = _participant(row)
    rngs = subject_streams(seed, pid)
    start = time.perf_counter()
    template = load_mni152()
    v = settings.voxel_mm
    factor = settings.sub_points
    shape = settings.matrix

    deform = RandomDeformation.draw(rngs["anatomy"], scale_sd=0.02, axis_sd=0.01)
    tissues = _draw_tissues(rngs["tissues"])
    sub_axes = _sub_axes(settings, factor)
    anatomy = _sample_anatomy(deform(*_to_scanner(sub_axes)), template)
    b, g, w = anatomy.brain, anatomy.gm, anatomy.wm
    csf = np.clip(b - g - w, 0.0, None)
    code = (anatomy.structure & (_VENTRICLE_BIT - 1)).astype(np.int16)
    nucleus = code > 0
    ventricle = anatomy.structure >= _VENTRICLE_BIT

    # Class fractions per voxel and the tissue labels.
    fractions = np.stack(
        [
            *(_block_mean((g + w) * (code == k), factor) for k in DGM_LABELS),
            _block_mean(csf * ventricle, factor),
            _block_mean(np.where(nucleus, 0.0, w), factor),
            _block_mean(np.where(nucleus, 0.0, g), factor),
            _block_mean(csf * ~ventricle, factor),
        ]
    )
    brain = _block_mean(b, factor) >= 0.5
    labels = (np.argmax(fractions, axis=0) + 1).astype(np.int16)
    labels[(labels == 8) | ~brain] = 0

    # Lesions and veins at the sub-points: the white-matter part of a sub-point takes the
    # lesion's values (code 5.. core, 5 + max.. rim); veins replace the whole sub-point.
    n_max = settings.lesions[1]
    wcode = code.copy()
    vein_code = np.zeros(b.shape, dtype=np.int8)
    _template_veins(anatomy.points, vein_code)
    lesion_map = np.zeros(shape, dtype=np.int16)
    placed = _place_lesions(
        rngs["lesions"],
        settings,
        tissues,
        fractions,
        labels,
        sub_axes,
        factor,
        w,
        nucleus,
        wcode,
        vein_code,
        g + w,
        lesion_map,
    )
    _medullary_veins(rngs["veins"], settings, labels, lesion_map, sub_axes, vein_code, g + w)

    # Property maps: tissue values weighted by the sub-point fractions, then block means.
    wm_classes = ("wm", "caudate", "putamen", "pallidus", "thalamus")
    gm_classes = ("cortex", "caudate", "putamen", "pallidus", "thalamus")
    maps = {}
    for prop in ("chi", "r2star", "pd", "flair"):
        table_g = np.array([getattr(tissues[c], prop) for c in gm_classes], dtype=np.float32)
        table_w = np.zeros(5 + 2 * n_max, dtype=np.float32)
        table_w[:5] = [getattr(tissues[c], prop) for c in wm_classes]
        for k, lesion in enumerate(placed, start=1):
            core, rim = _lesion_values(lesion, prop, tissues["wm"])
            table_w[4 + k] = core
            table_w[4 + n_max + k] = rim
        vein_values = np.array(
            [0.0, getattr(tissues["vein"], prop), _central_vein_value(prop, tissues)],
            dtype=np.float32,
        )
        value = g * table_g[code] + w * table_w[wcode] + csf * getattr(tissues["csf"], prop)
        if prop != "flair":  # veins are not seen on FLAIR
            value = np.where(vein_code > 0, b * vein_values[vein_code], value)
        maps[prop] = _block_mean(value, factor)
    brain_fraction = _block_mean(b, factor)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2star = np.where(brain_fraction > 1e-3, maps["r2star"] / brain_fraction, 0.0)
    chi = np.where(brain, maps["chi"], 0.0).astype(np.float32)

    flair_noise = 0.015 * rngs["flair"].standard_normal(shape)
    flair = np.abs(maps["flair"] + flair_noise).astype(np.float32)

    background = _background_field(rngs["background"], deform, template, settings, brain)
    local = dipole_field(chi, settings.voxel)
    table = _lesion_table(placed, lesion_map, v)
    coil_rng = rngs["coils"]
    coil_params = {
        "radius": float(coil_rng.uniform(1.3, 1.7)),
        "width": float(coil_rng.uniform(0.8, 1.2)),
        "phase_cycles": float(coil_rng.uniform(0.5, 1.5)),
    }
    logger.debug(
        "sub-%s phantom: %d lesions, background %.2f..%.2f ppm in the brain, %.1f s",
        pid,
        len(table),
        float(background[brain].min()),
        float(background[brain].max()),
        time.perf_counter() - start,
    )
    return Phantom(
        participant_id=pid,
        chi=chi,
        labels=labels,
        brain=brain,
        lesions=lesion_map,
        lesion_table=table,
        pd=maps["pd"].astype(np.float32),
        r2star=r2star.astype(np.float32),
        flair=flair,
        background_ppm=background.astype(np.float32),
        local_ppm=local.astype(np.float32),
        phase0=_phase0(rngs["phase"], shape),
        affine=settings.affine(),
        tissues=tissues,
        coil_params=coil_params,
    )


def _lesion_values(lesion: _Lesion, prop: str, wm: Tissue) -> tuple[float, float]:
    """A lesion's core and rim value of one property."""
    if prop == "chi":
        return lesion.chi_core, lesion.chi_rim if lesion.rim else lesion.chi_core
    if prop == "r2star":
        return lesion.r2star, _RIM_R2STAR * wm.r2star / TISSUES["wm"].r2star
    if prop == "pd":
        return _LESION_PD, _LESION_PD
    return lesion.flair, lesion.flair


def _central_vein_value(prop: str, tissues: Mapping[str, Tissue]) -> float:
    if prop == "chi":
        return _CENTRAL_VEIN_CHI
    if prop == "r2star":
        return _CENTRAL_VEIN_R2STAR
    return float(getattr(tissues["vein"], prop))


def _place_lesions(
    rng: np.random.Generator,
    settings: QsmDemoSettings,
    tissues: Mapping[str, Tissue],
    fractions: np.ndarray,
    labels: np.ndarray,
    sub_axes: Sequence[np.ndarray],
    factor: int,
    wm_sub: np.ndarray,
    nucleus: np.ndarray,
    wcode: np.ndarray,
    vein_code: np.ndarray,
    tissue_sub: np.ndarray,
    lesion_map: np.ndarray,
) -> list[_Lesion]:
    """Place the subject's lesions in white matter; fill ``wcode``, ``vein_code`` (central
    veins, code 2) and ``lesion_map`` in place; return the placed lesions in label order."""
    v = settings.voxel_mm
    n_max = settings.lesions[1]
    n = int(rng.integers(settings.lesions[0], n_max + 1))
    if n == 0:
        return []
    wm_fraction = fractions[5]
    ventricles = labels == LABELS["ventricles"]
    if ventricles.any():
        distance = ndimage.distance_transform_edt(~ventricles, sampling=v)
    else:
        distance = np.full(labels.shape, np.inf)
    z_ok = np.zeros(labels.shape, dtype=bool)
    z_ok[1:-1, 1:-1, 1:-1] = True
    lo_mm, hi_mm = _PERIVENTRICULAR_MM
    peri = np.argwhere((wm_fraction >= 0.9) & (distance >= lo_mm) & (distance <= hi_mm) & z_ok)
    deep = np.argwhere((wm_fraction >= 0.95) & (distance > hi_mm) & z_ok)
    if len(peri) + len(deep) == 0:
        logger.warning("no white matter voxel for lesions in this slab: none placed")
        return []
    rims, veins = _lesion_flags(rng, n)
    world_axes = _voxel_axes(settings)
    placed: list[_Lesion] = []
    for index in range(n):
        lesion = _draw_lesion(rng, tissues["wm"].chi, v, bool(rims[index]), bool(veins[index]))
        pool = (
            peri if (len(deep) == 0 or (len(peri) and rng.random() < _PERIVENTRICULAR_P)) else deep
        )
        for _ in range(30):
            voxel = pool[rng.integers(len(pool))]
            centre = np.array([world_axes[a][voxel[a]] for a in range(3)])
            centre[2] += rng.uniform(-0.25, 0.25) * v
            reach = float(lesion.semi.max())
            if all(
                np.linalg.norm(centre - other.centre) > reach + other.semi.max() + v
                for other in placed
            ) and _paint_lesion(
                lesion,
                centre,
                len(placed) + 1,
                n_max,
                settings,
                sub_axes,
                factor,
                wm_sub,
                nucleus,
                wcode,
                lesion_map,
            ):
                lesion.centre = centre
                lesion.voxel = (int(voxel[0]), int(voxel[1]), int(voxel[2]))
                placed.append(lesion)
                if lesion.central_vein:
                    _vertical_vein(
                        centre,
                        lesion.semi[2] + 2.0 * v,
                        2,
                        settings,
                        sub_axes,
                        vein_code,
                        tissue_sub,
                    )
                break
        else:
            logger.warning("lesion %d of %d could not be placed without overlap", index + 1, n)
    return placed


def _paint_lesion(
    lesion: _Lesion,
    centre: np.ndarray,
    label: int,
    n_max: int,
    settings: QsmDemoSettings,
    sub_axes: Sequence[np.ndarray],
    factor: int,
    wm_sub: np.ndarray,
    nucleus: np.ndarray,
    wcode: np.ndarray,
    lesion_map: np.ndarray,
) -> bool:
    """Paint one lesion at ``centre``; False (nothing painted) when no voxel is half lesion."""
    v = settings.voxel_mm
    reach = float(lesion.semi.max())
    vox = []
    for axis in range(3):
        n = settings.matrix[axis]
        lo = int(np.floor((centre[axis] - reach) / v + (n - 1) / 2.0))
        hi = int(np.ceil((centre[axis] + reach) / v + (n - 1) / 2.0))
        vox.append((max(0, lo), min(n, hi + 1)))
    voxel_box = tuple(slice(a, b) for a, b in vox)
    sub_box = tuple(slice(a * factor, b * factor) for a, b in vox)
    grid = np.stack(
        np.meshgrid(*(sub_axes[a][sub_box[a]] for a in range(3)), indexing="ij")
    ) - centre.reshape(3, 1, 1, 1)
    local = np.tensordot(lesion.rotation.T, grid, axes=1)
    radius2 = np.sum((local / lesion.semi.reshape(3, 1, 1, 1)) ** 2, axis=0)
    inside = (radius2 <= 1.0) & ~nucleus[sub_box]
    if lesion.rim:
        inner = np.maximum(lesion.semi - v, 1e-3).reshape(3, 1, 1, 1)
        core = np.sum((local / inner) ** 2, axis=0) <= 1.0
    else:
        core = inside
    wm_box = wm_sub[sub_box]
    fraction = _block_mean(np.where(inside, wm_box, 0.0), factor)
    member = (fraction >= 0.5) & (lesion_map[voxel_box] == 0)
    if not member.any():
        return False
    lesion_map[voxel_box][member] = label
    codes = wcode[sub_box]
    codes[inside & core] = 4 + label
    codes[inside & ~core] = 4 + n_max + label
    return True


def _vertical_vein(
    centre: np.ndarray,
    half_length: float,
    code: int,
    settings: QsmDemoSettings,
    sub_axes: Sequence[np.ndarray],
    vein_code: np.ndarray,
    tissue_sub: np.ndarray,
) -> None:
    """A vein along z (1 voxel wide) through ``centre``, in tissue only."""
    radius = 0.5 * settings.voxel_mm
    box = tuple(
        _index_range(sub_axes[a], centre[a] - r, centre[a] + r)
        for a, r in enumerate((radius, radius, half_length))
    )
    gx, gy = np.meshgrid(sub_axes[0][box[0]], sub_axes[1][box[1]], indexing="ij")
    disc = (gx - centre[0]) ** 2 + (gy - centre[1]) ** 2 <= radius**2 + 1e-9
    tube = disc[:, :, None] & (tissue_sub[box] >= 0.5)
    vein_code[box][tube] = code


def _medullary_veins(
    rng: np.random.Generator,
    settings: QsmDemoSettings,
    labels: np.ndarray,
    lesion_map: np.ndarray,
    sub_axes: Sequence[np.ndarray],
    vein_code: np.ndarray,
    tissue_sub: np.ndarray,
) -> None:
    """A few periventricular medullary veins along z, away from the lesions."""
    v = settings.voxel_mm
    ventricles = labels == LABELS["ventricles"]
    if not ventricles.any():
        return
    distance = ndimage.distance_transform_edt(~ventricles, sampling=v)
    near_lesion = ndimage.binary_dilation(lesion_map > 0, iterations=2)
    pool = np.argwhere(
        (labels == LABELS["wm"]) & (distance >= 3.0) & (distance <= 12.0) & ~near_lesion
    )
    if len(pool) == 0:
        return
    world_axes = _voxel_axes(settings)
    for _ in range(int(rng.integers(_MEDULLARY_VEINS[0], _MEDULLARY_VEINS[1] + 1))):
        voxel = pool[rng.integers(len(pool))]
        centre = np.array([world_axes[a][voxel[a]] for a in range(3)])
        half = 0.5 * rng.uniform(*_MEDULLARY_LENGTH_MM)
        _vertical_vein(centre, half, 1, settings, sub_axes, vein_code, tissue_sub)


def _lesion_table(
    placed: Sequence[_Lesion], lesion_map: np.ndarray, voxel_mm: float
) -> pd.DataFrame:
    """The lesion truth table (:data:`LESION_COLUMNS`)."""
    counts = np.bincount(lesion_map.ravel(), minlength=len(placed) + 1)
    rows = [
        {
            "lesion": k,
            "type": lesion.kind,
            "rim": lesion.rim,
            "central_vein": lesion.central_vein,
            "chi_core": round(lesion.chi_core, 5),
            "volume_ml": float(counts[k]) * voxel_mm**3 / 1000.0,
            "chi_rim": round(lesion.chi_rim, 5) if lesion.rim else math.nan,
            "x": lesion.voxel[0],
            "y": lesion.voxel[1],
            "z": lesion.voxel[2],
        }
        for k, lesion in enumerate(placed, start=1)
    ]
    table = pd.DataFrame(rows, columns=list(LESION_COLUMNS))
    types: dict[str, type] = {
        "lesion": int,
        "rim": bool,
        "central_vein": bool,
        "x": int,
        "y": int,
        "z": int,
    }
    types.update(chi_core=float, volume_ml=float, chi_rim=float)
    return table.astype(types)
