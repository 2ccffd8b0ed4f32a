"""Tissues of the synthmri demo brain: MDME values, labels, regions, deep grey matter, lesions.

See the package docstring of :mod:`qmrflow.studies.synthmri.simulate` for the anatomy model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from qmrflow.errors import ConfigError
from qmrflow.simulate.deform import RandomDeformation, rotation_matrix
from qmrflow.simulate.template import inside_ellipsoid

logger = logging.getLogger(__name__)


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


def _in_deep_gm(points: np.ndarray) -> np.ndarray:
    inside = np.zeros(points.shape[1:], dtype=bool)
    for centre, axes in DEEP_GM_ELLIPSOIDS:
        inside |= inside_ellipsoid(points, centre, axes)
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


def _pick_lesions(
    rng: np.random.Generator,
    wm: np.ndarray,
    affine: np.ndarray,
    deform: RandomDeformation,
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
        rotation = rotation_matrix(rng.uniform(-np.pi, np.pi, size=3))
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
        centre = deform.point(world)
        lesions.append((centre, semi, rotation))
    return lesions
