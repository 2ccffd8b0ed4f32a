"""QSM of one reconstructed multi-echo acquisition: field, mask, local field, two inversions.

The steps, each in its own module and validated on analytic cases there:

1. brain mask from the first echo's magnitude (:func:`.masking.brain_mask`, its threshold raised
   above the background noise);
2. reliability: voxels whose phase changes too fast between neighbours to be unwrapped (near the
   sinuses) leave the mask (:func:`.masking.phase_reliability_mask`);
3. total field from every echo's phase inside the reliable mask, so that the unwrapping errors
   of the dropped voxels do not spread: Laplacian unwrapping and a weighted linear fit against
   echo time (:func:`.field.fit_field`);
4. the boundary layer of that mask (``boundary_peel_mm``; also around the dropped voxels) is
   peeled: its field, a voxel or two from the skull and the sinus walls, varies on the voxel
   scale and is not the smooth harmonic function that background removal assumes (on the demo
   phantom, V-SHARP left 0.006-0.008 ppm of background in the two outer voxel layers against a
   local field of 0.007 ppm SD, 0.0003 ppm inside once one layer was peeled);
5. background field removal by V-SHARP (:func:`.background.vsharp`), which erodes the mask by
   the smallest kernel;
6. dipole inversion, direct (TKD with its underestimation corrected, :func:`.inversion.tkd`) and
   iterative regularised (TV-ADMM, :func:`.inversion.tv_admm`) with its weight scaled to the
   fitted field's noise (:func:`tv_lambda_for`) unless ``tv_lambda`` is given;
7. each map referenced to the mean susceptibility of the lateral ventricles' CSF (tissue label
   5) inside the final mask (:func:`.inversion.reference_to`), or to the mask's mean where the
   ventricles fall outside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from qmrflow.roi import largest_component
from qmrflow.settings import settings_from_mapping
from qmrflow.studies.qsm.background import DEFAULT_RADII_MM, vsharp
from qmrflow.studies.qsm.field import fit_field
from qmrflow.studies.qsm.inversion import reference_to, tkd, tv_admm
from qmrflow.studies.qsm.masking import FACES, brain_mask, phase_reliability_mask
from qmrflow.studies.qsm.recon import MultiEcho

__all__ = ["CSF_LABEL", "QsmMaps", "QsmSettings", "compute_qsm", "tv_lambda_for"]

logger = logging.getLogger(__name__)

#: Tissue label of the lateral ventricles (the reference region).
CSF_LABEL = 5

#: TV weight per ppm of field noise, and its floor (noise-free data). The best weight against
#: the truth on the demo phantom was about 0.1 times the median standard error of the fitted
#: field for the GRE (0.003 ppm), the EPIs (0.006-0.009 ppm) and noise-free data alike (0.03,
#: 0.1, 0.2, 0.4 tried); a fixed weight over-smooths the GRE or under-smooths the EPI.
TV_LAMBDA_PER_NOISE = 0.1
TV_LAMBDA_MIN = 5e-5


@dataclass(frozen=True)
class QsmSettings:
    """Settings of the QSM steps (the config's ``qsm.qsm`` block, documented there)."""

    mask_threshold: float = 0.15
    mask_noise_factor: float = 2.5
    erode_mm: float = 2.0
    phase_max_jump: float = 0.5
    boundary_peel_mm: float = 2.5
    vsharp_radii_mm: tuple[float, ...] = DEFAULT_RADII_MM
    vsharp_threshold: float = 0.05
    tkd_threshold: float = 0.19
    tv_lambda: float | None = None
    tv_iterations: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "vsharp_radii_mm", tuple(float(r) for r in self.vsharp_radii_mm))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | QsmSettings | None) -> QsmSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused)."""
        return settings_from_mapping(cls, values, "qsm settings")


@dataclass(frozen=True)
class QsmMaps:
    """One acquisition's QSM: the maps per inversion (ppm), the final mask and step times."""

    chi: dict[str, np.ndarray]
    mask: np.ndarray
    seconds: dict[str, float]


def compute_qsm(
    echoes: MultiEcho,
    voxel_mm: Sequence[float],
    b0_tesla: float,
    *,
    tissues: np.ndarray | None = None,
    inversions: Sequence[str] = ("tkd", "tv"),
    settings: QsmSettings | Mapping[str, Any] | None = None,
) -> QsmMaps:
    """QSM of one acquisition (module docstring), every requested inversion.

    Parameters
    ----------
    echoes
        Coil-combined multi-echo images and echo times.
    voxel_mm, b0_tesla
        Voxel size (mm) and main field (T); ``B0`` along the grid's z axis.
    tissues
        Tissue labels (CSF of the lateral ventricles = :data:`CSF_LABEL`) for the reference.
    inversions
        ``tkd`` and/or ``tv``.
    settings
        :class:`QsmSettings` or its mapping.

    Returns
    -------
    QsmMaps
        float32 maps (zero outside the mask) and seconds per step: ``prepare`` (mask, field,
        background) and one per inversion (each inversion's time includes ``prepare``, so it is
        the whole QSM time of that method).
    """
    settings = QsmSettings.from_mapping(settings)
    start = time.perf_counter()
    magnitude = np.abs(echoes.images[0])
    mask = brain_mask(
        magnitude,
        voxel_mm,
        threshold=settings.mask_threshold,
        erode_mm=settings.erode_mm,
        noise_factor=settings.mask_noise_factor,
    )
    reliable = phase_reliability_mask(echoes.images, mask, max_jump=settings.phase_max_jump)
    fit = fit_field(echoes.images, echoes.echo_times, b0_tesla, mask=reliable, voxel_mm=voxel_mm)
    mask = _peel(reliable, voxel_mm, settings.boundary_peel_mm)
    local, mask = vsharp(
        fit.field_ppm,
        mask,
        voxel_mm,
        radii_mm=settings.vsharp_radii_mm,
        threshold=settings.vsharp_threshold,
    )
    lam = settings.tv_lambda
    if lam is None:
        lam = tv_lambda_for(fit.noise_ppm, mask)
    prepare = time.perf_counter() - start
    seconds = {"prepare": prepare}
    if tissues is not None and np.any((tissues == CSF_LABEL) & mask):
        region = (tissues == CSF_LABEL) & mask
    else:
        logger.warning("no lateral-ventricle CSF inside the mask: maps referenced to its mean")
        region = mask
    chi = {}
    for inversion in inversions:
        begin = time.perf_counter()
        if inversion == "tkd":
            raw = tkd(local, mask, voxel_mm, threshold=settings.tkd_threshold)
        elif inversion == "tv":
            raw = tv_admm(local, mask, voxel_mm, lam=lam, iterations=settings.tv_iterations)
        else:
            raise ValueError(f"unknown dipole inversion {inversion!r}: tkd or tv")
        chi[inversion] = (reference_to(raw, region) * mask).astype(np.float32)
        seconds[inversion] = prepare + time.perf_counter() - begin
    return QsmMaps(chi=chi, mask=mask, seconds=seconds)


def tv_lambda_for(noise_ppm: np.ndarray, mask: np.ndarray) -> float:
    """TV weight for a local field whose standard error is ``noise_ppm`` (ppm) in ``mask``.

    :data:`TV_LAMBDA_PER_NOISE` times the median standard error in the mask, at least
    :data:`TV_LAMBDA_MIN`: the regularisation follows the data's noise, as the discrepancy
    principle would, without an L-curve search per acquisition.
    """
    values = np.asarray(noise_ppm, dtype=float)[np.asarray(mask, dtype=bool)]
    median = float(np.median(values)) if values.size else 0.0
    lam = max(TV_LAMBDA_PER_NOISE * median, TV_LAMBDA_MIN)
    logger.info("TV weight %.3g (median field standard error %.3g ppm)", lam, median)
    return lam


def _peel(mask: np.ndarray, voxel_mm: Sequence[float], depth_mm: float) -> np.ndarray:
    """``mask`` without its voxels within ``depth_mm`` of the outside (Euclidean distance)."""
    if depth_mm <= 0:
        return mask
    distance = ndimage.distance_transform_edt(mask, sampling=tuple(float(v) for v in voxel_mm))
    peeled = largest_component(distance > depth_mm, FACES)
    if not peeled.any():
        logger.warning("peeling %.3g mm leaves no voxel: the mask is kept whole", depth_mm)
        return mask
    return peeled
