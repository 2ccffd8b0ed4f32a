"""The study's reconstructed echo series on disk: one 4D magnitude and one 4D phase NIfTI.

A reconstruction (CR or DLR) of one acquisition is written as
``sub-<id>_acq-<acq>_rec-<cr|dlr>_part-mag_MEGRE.nii.gz`` and ``..._part-phase_MEGRE.nii.gz``
(echo on the 4th axis, phase in radians) with one JSON sidecar beside each: ``EchoTime`` (s,
one per echo), ``MagneticFieldStrength``, ``AcquiredMatrix`` (the central k-space block the
acquisition measured, which the DL reconstruction's data consistency needs) and
``ReconstructionMethod``. BIDS names raw MEGRE per echo; these derivatives keep the echoes of
one reconstruction together and are listed in the derivatives' ``.bidsignore``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.io.nifti import load_nifti, save_nifti
from qmrflow.studies.qsm.recon import MultiEcho

__all__ = ["EchoSeries", "load_echo_series", "save_echo_series"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class EchoSeries:
    """A reconstruction read back: the echoes, the grid and the acquisition's facts."""

    echoes: MultiEcho
    affine: np.ndarray
    field_strength: float

    @property
    def voxel_mm(self) -> tuple[float, float, float]:
        """Voxel size (mm)."""
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(zooms[0]), float(zooms[1]), float(zooms[2]))

    @property
    def magnitude(self) -> np.ndarray:
        """float32 ``(E, X, Y, Z)`` magnitude."""
        return np.abs(self.echoes.images).astype(np.float32)


def save_echo_series(
    echoes: MultiEcho,
    affine: np.ndarray,
    magnitude_path: PathLike,
    phase_path: PathLike,
    *,
    field_strength: float,
    method: str,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write one reconstruction as its magnitude and phase 4D NIfTI files with sidecars."""
    images = np.moveaxis(echoes.images, 0, -1)
    sidecar = {
        "EchoTime": [float(t) for t in echoes.echo_times],
        "MagneticFieldStrength": float(field_strength),
        "AcquiredMatrix": [int(n) for n in echoes.encoded],
        "ReconstructionMethod": method,
        **(extra or {}),
    }
    save_nifti(np.abs(images).astype(np.float32), magnitude_path, affine, sidecar=sidecar)
    phase = np.angle(images).astype(np.float32)
    save_nifti(phase, phase_path, affine, sidecar={**sidecar, "Units": "rad"})


def load_echo_series(
    magnitude_path: PathLike, phase_path: PathLike, *, subject: str | None = None
) -> EchoSeries:
    """Read a reconstruction written by :func:`save_echo_series`, checking the pair matches."""
    magnitude = load_nifti(magnitude_path, subject=subject, ndim=4)
    phase = load_nifti(phase_path, subject=subject, ndim=4)
    if magnitude.data.shape != phase.data.shape or not np.allclose(magnitude.affine, phase.affine):
        raise InputDataError(
            f"magnitude {magnitude.data.shape} and phase {phase.data.shape} do not match "
            f"(shape or affine) with {Path(magnitude_path).name}",
            subject=subject,
            path=phase_path,
        )
    sidecar = sidecar_path(magnitude_path)
    try:
        meta = json.loads(Path(sidecar).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputDataError(f"unreadable sidecar: {exc}", subject=subject, path=sidecar) from exc
    echo_times = np.asarray(meta.get("EchoTime", []), dtype=float)
    if echo_times.shape != (magnitude.data.shape[-1],):
        raise InputDataError(
            f"EchoTime has {echo_times.size} value(s) for {magnitude.data.shape[-1]} echoes",
            subject=subject,
            path=sidecar,
        )
    images = magnitude.data * np.exp(1j * phase.data)
    echoes = MultiEcho(
        images=np.moveaxis(images, -1, 0).astype(np.complex64),
        echo_times=echo_times,
        encoded=tuple(int(n) for n in meta.get("AcquiredMatrix", magnitude.data.shape[:3])),
    )
    return EchoSeries(
        echoes=echoes,
        affine=magnitude.affine,
        field_strength=float(meta.get("MagneticFieldStrength", 3.0)),
    )
