"""Settings of the perfusion demo simulation: matrices, protocol, SNR, tissue constants."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from qmrflow.errors import ConfigError
from qmrflow.settings import int_pair, settings_from_mapping

__all__ = [
    "LABELS",
    "LV_LENGTH_MM",
    "PD_RELATIVE",
    "T1_NATIVE",
    "SimulationSettings",
]

#: Label values of the label maps (see :mod:`qmrflow.studies.perfusion`).
LABELS: dict[str, int] = {
    "background": 0,
    "lv": 1,
    "myocardium": 2,
    "rv": 3,
    "liver": 4,
    "other": 5,
}

#: Native T1 at 1.5 T (s) by label (background: none).
T1_NATIVE: dict[int, float] = {1: 1.55, 2: 1.05, 3: 1.55, 4: 0.58, 5: 0.90}

#: Relative proton density by label (blood 1; background 0).
PD_RELATIVE: dict[int, float] = {1: 1.0, 2: 0.85, 3: 1.0, 4: 0.75, 5: 0.70}

#: Length of the LV from the basal plane (level 0) to the epicardial apex (level 1), mm.
LV_LENGTH_MM = 70.0


@dataclass(frozen=True)
class SimulationSettings:
    """What every demo subject shares: geometry, protocol, noise and motion switches.

    Attributes
    ----------
    matrix, voxel_mm
        Stress-series in-plane matrix ``(X, Y)`` and voxel size (mm).
    n_slices, slice_thickness_mm, slice_spacing_mm
        Short-axis slices (base to apex), their thickness and centre-to-centre distance (mm).
    n_frames
        Dynamic frames, one per heartbeat.
    aif_matrix, aif_voxel_mm
        The low-resolution AIF series (one slice at the level of the first, basal, slice);
        ``aif_matrix`` None covers the stress series' field of view.
    saturation_time, aif_saturation_time
        Saturation-recovery delay TS (s) of the stress and the AIF series.
    field_strength
        Tesla (the native T1s of :data:`T1_NATIVE` are 1.5 T values).
    relaxivity
        ``r1`` of the contrast agent (1/(mM s)).
    snr
        Mean myocardial signal at its peak frame over the noise SD per real/imaginary channel
        (``math.inf``: no noise).
    aif_snr
        The same for the LV blood pool of the AIF series.
    motion_scale
        Multiplies every motion amplitude (0: motion-free series).
    signal_scale
        Signal of PD = 1 fully relaxed with unit coil sensitivity.
    """

    matrix: tuple[int, int] = (64, 64)
    voxel_mm: float = 2.0
    n_slices: int = 3
    slice_thickness_mm: float = 8.0
    slice_spacing_mm: float = 20.0
    n_frames: int = 40
    aif_matrix: tuple[int, int] | None = None
    aif_voxel_mm: float = 4.0
    saturation_time: float = 0.10
    aif_saturation_time: float = 0.02
    field_strength: float = 1.5
    relaxivity: float = 4.5
    snr: float = 20.0
    aif_snr: float = 30.0
    motion_scale: float = 1.0
    signal_scale: float = 1000.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", int_pair(self.matrix, "matrix", 16))
        if self.aif_matrix is None:  # the stress series' field of view
            scale = float(self.voxel_mm) / float(self.aif_voxel_mm)
            object.__setattr__(self, "aif_matrix", [round(n * scale) for n in self.matrix])
        object.__setattr__(self, "aif_matrix", int_pair(self.aif_matrix, "aif_matrix", 16))
        for name in ("n_slices", "n_frames"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for f in fields(self):
            if f.name not in ("matrix", "aif_matrix", "n_slices", "n_frames"):
                object.__setattr__(self, f.name, float(getattr(self, f.name)))
        positive = (
            "voxel_mm",
            "slice_thickness_mm",
            "slice_spacing_mm",
            "aif_voxel_mm",
            "saturation_time",
            "aif_saturation_time",
            "field_strength",
            "relaxivity",
            "snr",
            "aif_snr",
            "signal_scale",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.motion_scale <= 3.0:
            raise ConfigError(f"motion_scale must be in [0, 3], got {self.motion_scale}")
        if self.n_frames < 10:
            raise ConfigError(f"n_frames must be at least 10, got {self.n_frames}")
        if self.n_slices < 1:
            raise ConfigError(f"n_slices must be at least 1, got {self.n_slices}")
        levels = self.slice_levels()
        if levels.min() < 0.05 or levels.max() > 0.9:
            raise ConfigError(
                f"{self.n_slices} slices {self.slice_spacing_mm} mm apart do not fit the "
                f"{LV_LENGTH_MM:g} mm LV (levels {levels.round(2).tolist()}, allowed 0.05-0.9)"
            )
        fov = self.matrix[0] * self.voxel_mm, self.matrix[1] * self.voxel_mm
        if min(fov) < 100.0:
            raise ConfigError(f"the field of view {fov} mm is too small for the heart (>= 100)")
        for name in ("snr", "aif_snr"):
            if math.isnan(getattr(self, name)):
                raise ConfigError(f"{name} must be a number")

    def slice_levels(self) -> np.ndarray:
        """Level of each slice along the LV: 0 basal plane, 1 apex (centred on 0.5)."""
        k = np.arange(self.n_slices) - (self.n_slices - 1) / 2.0
        return 0.5 + k * self.slice_spacing_mm / LV_LENGTH_MM

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | SimulationSettings | None
    ) -> SimulationSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused)."""
        return settings_from_mapping(cls, values, "perfusion simulation settings")
