"""The brain template of simulated brain studies: MNI152 2009a with GM/WM maps, and sampling.

The anatomy is the ICBM 2009a nonlinear symmetric MNI152 template (Fonov et al., NeuroImage
2011;54:313-327) with its grey- and white-matter probability maps, as shipped in nilearn's
package data (1 mm, 197 x 233 x 189, values 0-255, brain-extracted). Nothing is downloaded;
the files are read with nibabel without importing nilearn (its import takes seconds).

:func:`load_mni152` returns the volumes cropped to the brain (holes in the brain mask filled,
GM and WM as fractions, zero outside the brain); :func:`sample_volume` interpolates one at
template voxel indices (the points a :class:`~qmrflow.simulate.deform.RandomDeformation` maps a
subject grid to, minus :attr:`BrainTemplate.origin`); :func:`inside_ellipsoid` places
template-space structures (deep grey matter, lesions, ...).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = ["BrainTemplate", "inside_ellipsoid", "load_mni152", "sample_volume", "template_dir"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrainTemplate:
    """Brain-cropped template volumes (float32, 1 mm RAS) and the MNI mm of voxel 0.

    Attributes
    ----------
    brain
        Brain mask (0/1, holes filled).
    gm, wm
        Grey- and white-matter fractions (0-1), zero outside the brain.
    origin
        MNI coordinate (mm) of index ``(0, 0, 0)``; a point ``p`` is at index ``p - origin``.
    """

    brain: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    origin: np.ndarray


def template_dir() -> Path:
    """The folder of nilearn's package data holding the MNI152 template files.

    Raises
    ------
    ModuleNotFoundError
        nilearn is not installed.
    """
    # find_spec of a top-level package locates it without importing it: importing
    # nilearn.datasets (which importlib.resources.files would do) pulls in scikit-learn, ~2 s.
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the brain template is the MNI152 template from nilearn's package data: "
            "install nilearn (pip install 'nilearn>=0.12,<0.14')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def load_mni152() -> BrainTemplate:
    """Load the MNI152 2009a template and GM/WM maps once per process, cropped to the brain.

    The crop keeps a 2-voxel margin around the brain on every side.

    Raises
    ------
    FileNotFoundError
        A template file is missing from nilearn's package data.
    ValueError
        The template affine is not 1 mm RAS.
    """
    import nibabel as nib

    folder = template_dir()
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
    return BrainTemplate(brain=brain, gm=gm, wm=wm, origin=origin)


def sample_volume(
    volume: np.ndarray, index: np.ndarray, z_range: tuple[int, int] | None = None
) -> np.ndarray:
    """Trilinear interpolation of ``volume`` at voxel indices ``index`` ``(3, ...)``, float32.

    Points outside the volume read 0. ``z_range`` ``(z0, z1)`` restricts the interpolation to
    that slab of the volume (faster when the points lie in a thin slab; points outside it read
    0).
    """
    z0, z1 = (0, volume.shape[2]) if z_range is None else z_range
    coords = index.copy()
    coords[2] -= z0
    return ndimage.map_coordinates(
        volume[:, :, z0:z1], coords, order=1, mode="constant", cval=0.0, output=np.float32
    )


def inside_ellipsoid(
    points: np.ndarray,
    centre: Sequence[float] | np.ndarray,
    semi_axes: Sequence[float] | np.ndarray,
    rotation: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of ``points`` ``(3, ...)`` inside an ellipsoid (optionally rotated).

    ``rotation`` maps the ellipsoid's own axes to the point coordinates.
    """
    rel = points - np.asarray(centre, dtype=float).reshape(3, *([1] * (points.ndim - 1)))
    if rotation is not None:
        rel = np.tensordot(np.asarray(rotation).T, rel, axes=1)
    axes = np.asarray(semi_axes, dtype=float).reshape(3, *([1] * (points.ndim - 1)))
    return np.sum((rel / axes) ** 2, axis=0) <= 1.0
