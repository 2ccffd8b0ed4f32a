"""Brain mask from a first-echo magnitude image by threshold and morphology.

The first echo has the highest signal and the least T2* dephasing near air, so it separates
brain from background best. The steps (all :mod:`scipy.ndimage`):

1. threshold at ``threshold`` times a robust maximum (the 99th percentile of the non-zero
   magnitude, so that a few bright voxels such as vessels or fat do not set the scale), raised
   to ``noise_factor`` times the mean background magnitude where the noise is higher (the
   background: voxels below Otsu's threshold, :func:`skimage.filters.threshold_otsu`; the
   noise magnitude of a low-SNR EPI reaches a fifth of the brain's, and a fixed fraction
   then lets noise specks join the mask and spread over the field of view);
2. the largest 6-connected component (drops noise specks and detached scalp or eyes);
3. holes filled per axial slice (2-D structuring element, all slices at once) and in 3-D: dark
   structures inside the brain (veins, iron-rich nuclei at later echoes, low-signal lesions)
   belong to the mask;
4. a light opening (6-neighbourhood) to cut thin bridges to extra-cerebral tissue, then the
   largest component again;
5. erosion by a ball of ``erode_mm`` (in mm, anisotropic voxels respected) to drop the boundary
   voxels, whose phase is unreliable (signal dropout near air, partial volume with the skull).

:func:`phase_reliability_mask` then drops the voxels whose phase cannot be unwrapped: where
the field changes so fast between neighbours that the phase difference of the first two echoes
jumps by more than ``max_jump`` times pi (near the air-filled sinuses), a spatial unwrapper
cannot tell the true phase step from one 2 pi away, and the error it makes there spreads into
the rest of the brain (the phase-gradient quality measure of ROMEO, Dymerska et al., MRM 2021;
QSMxT and MEDI exclude such voxels from the mask in the same spirit).

Brain-extraction tools (FSL BET, HD-BET, SynthStrip) are not Python libraries on our numpy-2
stack, and QSM pipelines traditionally use this kind of magnitude thresholding (e.g. the
threshold masks of the MEDI and STI Suite toolboxes) followed by V-SHARP's own erosion, so the
mask is built here from :mod:`scipy.ndimage` operations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from qmrflow.errors import InputDataError
from qmrflow.roi import largest_component
from qmrflow.studies.qsm.unwrap import wrap

__all__ = ["FACES", "ball", "brain_mask", "phase_reliability_mask"]

#: Connectivity of the masks' components (qmrflow.roi.largest_component): voxels sharing a face.
FACES = 1

logger = logging.getLogger(__name__)


def ball(radius_mm: float, voxel_mm: Sequence[float]) -> np.ndarray:
    """Boolean ball structuring element of radius ``radius_mm`` on an anisotropic voxel grid.

    The voxels whose centre lies within ``radius_mm`` (plus a tiny tolerance) of the centre
    voxel's; a radius below the smallest voxel size gives the single centre voxel.
    """
    voxel = np.asarray(voxel_mm, dtype=float)
    half = np.floor(radius_mm / voxel + 1e-9).astype(int)
    grids = np.meshgrid(
        *[np.arange(-h, h + 1) * v for h, v in zip(half, voxel, strict=True)], indexing="ij"
    )
    return sum(g**2 for g in grids) <= radius_mm**2 * (1.0 + 1e-9)


def brain_mask(
    magnitude: np.ndarray,
    voxel_mm: Sequence[float],
    *,
    threshold: float = 0.15,
    erode_mm: float = 2.0,
    noise_factor: float = 2.5,
) -> np.ndarray:
    """A brain mask from a (first-echo) magnitude volume.

    Parameters
    ----------
    magnitude
        Magnitude image ``(X, Y, Z)`` (any positive scale; complex input uses its modulus).
    voxel_mm
        Voxel size (mm), for the erosion ball.
    threshold
        Fraction of the robust maximum (99th percentile of the non-zero magnitude) above which
        a voxel is tissue. 0.15 keeps grey and white matter and CSF of a GRE first echo while
        dropping noise and most of the skull.
    erode_mm
        Radius (mm) of the final erosion ball; 0 for none. 2 mm removes one boundary voxel
        layer at 2 mm resolution (V-SHARP erodes further by its smallest radius).
    noise_factor
        The threshold is at least this many times the mean magnitude of the background (the
        voxels below Otsu's threshold); 0 for the fixed fraction alone. 2.5 keeps the noise
        of a 1-average EPI (SNR 8 in white matter) out while staying below CSF.

    Returns
    -------
    numpy.ndarray
        Boolean mask ``(X, Y, Z)``.

    Raises
    ------
    ValueError
        The magnitude is not 3-D or not finite, or a parameter is out of range.
    InputDataError
        Nothing is left (an empty image, or a threshold above the data).
    """
    mag = np.abs(np.asarray(magnitude))
    if mag.ndim != 3:
        raise ValueError(f"magnitude must be (X, Y, Z), got shape {mag.shape}")
    if not np.all(np.isfinite(mag)):
        raise ValueError("magnitude has non-finite values")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if erode_mm < 0 or noise_factor < 0:
        raise ValueError(f"erode_mm and noise_factor must be >= 0, got {erode_mm}, {noise_factor}")
    nonzero = mag[mag > 0]
    if nonzero.size == 0:
        raise InputDataError("the magnitude image is all zero: no brain mask")
    robust_max = float(np.percentile(nonzero, 99.0))
    level = threshold * robust_max
    if noise_factor > 0 and np.ptp(mag) > 0:
        background = mag[mag < threshold_otsu(mag)]
        if background.size:
            level = max(level, noise_factor * float(background.mean()))
    mask = largest_component(mag > level, FACES)
    mask = ndimage.binary_fill_holes(mask)
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    mask = ndimage.binary_fill_holes(mask, structure=in_plane)
    mask = largest_component(ndimage.binary_opening(mask), FACES)
    if erode_mm > 0:
        mask = ndimage.binary_erosion(mask, structure=ball(erode_mm, voxel_mm))
        mask = largest_component(mask, FACES)
    if not mask.any():
        raise InputDataError(
            f"the brain mask is empty (threshold {threshold} of the robust maximum "
            f"{robust_max:.4g}, erosion {erode_mm} mm)"
        )
    logger.info(
        "brain mask: %d voxels (threshold %.3g of the robust maximum)",
        int(mask.sum()),
        level / robust_max,
    )
    return mask


def phase_reliability_mask(
    images: np.ndarray, mask: np.ndarray, *, max_jump: float = 0.5
) -> np.ndarray:
    """The voxels of ``mask`` whose field can be unwrapped (module docstring).

    Parameters
    ----------
    images
        Complex multi-echo images ``(E, X, Y, Z)``, at least two echoes.
    mask
        Boolean brain mask ``(X, Y, Z)``.
    max_jump
        Largest wrapped change of the phase difference of the first two echoes between a voxel
        and any neighbour inside the mask, as a fraction of pi; a voxel with a larger one is
        unreliable. 0.5 keeps the field gradients up to half the unwrappable limit of
        that echo spacing (0.28 ppm per voxel for 7 ms at 3 T), which leaves the noise of a
        1-average EPI below it, and drops about 1 % of a brain near the sinuses.

    Returns
    -------
    numpy.ndarray
        Boolean mask: the largest 6-connected component of the reliable voxels of ``mask``.

    Raises
    ------
    ValueError
        Not ``(E, X, Y, Z)`` with two echoes or more, a mask of another shape, or ``max_jump``
        outside ``(0, 1]``.
    """
    z = np.asarray(images)
    inside = np.asarray(mask, dtype=bool)
    if z.ndim != 4 or z.shape[0] < 2:
        raise ValueError(f"images must be (E, X, Y, Z) with E >= 2, got shape {z.shape}")
    if inside.shape != z.shape[1:]:
        raise ValueError(f"mask shape {inside.shape} differs from the images' {z.shape[1:]}")
    if not 0.0 < max_jump <= 1.0:
        raise ValueError(f"max_jump must be in (0, 1], got {max_jump}")
    difference = np.angle(z[1] * np.conj(z[0]))
    worst = np.zeros(inside.shape)
    for axis in range(3):
        n = inside.shape[axis]
        lo = tuple(slice(0, n - 1) if a == axis else slice(None) for a in range(3))
        hi = tuple(slice(1, n) if a == axis else slice(None) for a in range(3))
        jump = np.abs(wrap(difference[hi] - difference[lo])) * (inside[hi] & inside[lo])
        worst[lo] = np.maximum(worst[lo], jump)
        worst[hi] = np.maximum(worst[hi], jump)
    reliable = largest_component(inside & (worst <= max_jump * np.pi), FACES)
    logger.info(
        "phase reliability: %d of %d mask voxels kept (jump <= %.2g pi)",
        int(reliable.sum()),
        int(inside.sum()),
        max_jump,
    )
    return reliable
