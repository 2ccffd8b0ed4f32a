"""QSM of one reconstructed multi-echo acquisition: field, mask, local field, two inversions.

The steps, each in its own module and validated on analytic cases there:

1. brain mask from the first echo's magnitude (:func:`.masking.brain_mask`);
2. total field from every echo's phase: Laplacian unwrapping and a weighted linear fit against
   echo time (:func:`.field.fit_field`);
3. background field removal by V-SHARP (:func:`.background.vsharp`), which erodes the mask by
   the largest kernel where needed;
4. dipole inversion, direct (TKD with its underestimation corrected, :func:`.inversion.tkd`) and
   iterative regularised (TV-ADMM, :func:`.inversion.tv_admm`);
5. each map referenced to the mean susceptibility of the lateral ventricles' CSF (tissue label
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

from qmrflow.settings import settings_from_mapping
from qmrflow.studies.qsm.background import DEFAULT_RADII_MM, vsharp
from qmrflow.studies.qsm.field import fit_field
from qmrflow.studies.qsm.inversion import reference_to, tkd, tv_admm
from qmrflow.studies.qsm.masking import brain_mask
from qmrflow.studies.qsm.recon import MultiEcho

__all__ = ["CSF_LABEL", "QsmMaps", "QsmSettings", "compute_qsm"]

logger = logging.getLogger(__name__)

#: Tissue label of the lateral ventricles (the reference region).
CSF_LABEL = 5


@dataclass(frozen=True)
class QsmSettings:
    """Settings of the QSM steps (the config's ``qsm.qsm`` block, documented there)."""

    mask_threshold: float = 0.15
    erode_mm: float = 2.0
    vsharp_radii_mm: tuple[float, ...] = DEFAULT_RADII_MM
    vsharp_threshold: float = 0.05
    tkd_threshold: float = 0.19
    tv_lambda: float = 5e-4
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
        magnitude, voxel_mm, threshold=settings.mask_threshold, erode_mm=settings.erode_mm
    )
    fit = fit_field(echoes.images, echoes.echo_times, b0_tesla, mask=mask, voxel_mm=voxel_mm)
    local, mask = vsharp(
        fit.field_ppm,
        mask,
        voxel_mm,
        radii_mm=settings.vsharp_radii_mm,
        threshold=settings.vsharp_threshold,
    )
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
            raw = tv_admm(
                local, mask, voxel_mm, lam=settings.tv_lambda, iterations=settings.tv_iterations
            )
        else:
            raise ValueError(f"unknown dipole inversion {inversion!r}: tkd or tv")
        chi[inversion] = (reference_to(raw, region) * mask).astype(np.float32)
        seconds[inversion] = prepare + time.perf_counter() - begin
    return QsmMaps(chi=chi, mask=mask, seconds=seconds)
