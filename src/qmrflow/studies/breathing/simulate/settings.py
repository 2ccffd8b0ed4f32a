"""Settings of the breathing demo simulation: grid, real-time protocol, noise, T1, tissues."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from qmrflow.errors import ConfigError
from qmrflow.settings import int_pair, settings_from_mapping

__all__ = [
    "CLASSES",
    "CLASS_LABEL",
    "LABELS",
    "PD_TISSUE",
    "RT_SIGNAL",
    "T1_TISSUE",
    "TASKS",
    "SimulationSettings",
]

#: Label values of the truth label maps (see :mod:`qmrflow.studies.breathing.simulate`).
LABELS: dict[str, int] = {
    "background": 0,
    "lung_right": 1,
    "lung_left": 2,
    "liver": 3,
    "heart": 4,
    "other": 5,
}

#: The phantom's tissue classes (index = class number); several map to label 5 ``other``.
CLASSES: tuple[str, ...] = (
    "air",
    "lung_right",
    "lung_left",
    "liver",
    "heart",
    "muscle",
    "fat",
    "mediastinum",
    "stomach_spleen",
    "diaphragm",
)

#: Truth label of every tissue class (indexed by class number).
CLASS_LABEL: np.ndarray = np.array([0, 1, 2, 3, 4, 5, 5, 5, 5, 5], dtype=np.uint8)

#: Relative real-time FLASH magnitude by class (fat 1): dark lungs, bright fat and blood.
RT_SIGNAL: dict[str, float] = {
    "air": 0.0,
    "lung_right": 0.07,
    "lung_left": 0.07,
    "liver": 0.60,
    "heart": 0.90,
    "muscle": 0.60,
    "fat": 1.00,
    "mediastinum": 0.45,
    "stomach_spleen": 0.50,
    "diaphragm": 0.60,
}

#: Native T1 (s) by field strength (T) and class; the diaphragm's follows its fat fraction
#: (:func:`qmrflow.studies.breathing.simulate.phantom.diaphragm_t1`). Lung: Stadler et al.,
#: JMRI 2008; liver, muscle, fat, blood, myocardium: Stanisz et al., MRM 2005 (heart: blood and
#: myocardium mixed); spleen: de Bazelaire et al., Radiology 2004.
T1_TISSUE: dict[float, dict[str, float]] = {
    1.5: {
        "lung_right": 1.28,
        "lung_left": 1.28,
        "liver": 0.58,
        "heart": 1.30,
        "muscle": 1.01,
        "fat": 0.29,
        "mediastinum": 0.90,
        "stomach_spleen": 1.06,
    },
    3.0: {
        "lung_right": 1.20,
        "lung_left": 1.20,
        "liver": 0.81,
        "heart": 1.70,
        "muscle": 1.41,
        "fat": 0.37,
        "mediastinum": 1.10,
        "stomach_spleen": 1.33,
    },
}

#: Relative proton density (M0) by class for the T1 series (the diaphragm's: muscle and fat
#: mixed by its fat fraction).
PD_TISSUE: dict[str, float] = {
    "air": 0.0,
    "lung_right": 0.15,
    "lung_left": 0.15,
    "liver": 0.70,
    "heart": 0.85,
    "muscle": 0.70,
    "fat": 0.90,
    "mediastinum": 0.75,
    "stomach_spleen": 0.80,
}

#: The real-time tasks of every subject, in acquisition order.
TASKS: tuple[str, str] = ("breathing", "sniff")


_INTEGERS = ("n_coils", "spokes", "samples", "turns", "supersample")


@dataclass(frozen=True)
class SimulationSettings:
    """What every demo subject shares: grid, real-time protocol, noise, T1 mapping.

    Attributes
    ----------
    matrix, voxel_mm
        Coronal in-plane matrix ``(X, Y)`` and voxel size (mm): axis 0 left-right (index 0 the
        patient's right, radiological), axis 1 craniocaudal (increasing toward the head). The
        field of view must be at least 380 mm along both axes (the thorax is about 370 mm wide
        at deep inspiration).
    slice_thickness_mm
        Coronal slice thickness (mm; the affine's third axis, toward anterior).
    frame_s
        Real-time frame duration (s); frame ``t`` shows the anatomy at ``t * frame_s``.
    breathing_s, sniff_s
        Duration of the breathing task (quiet breathing, then two deep breaths) and of the
        sniff task (rest, one sniff, rest), s; at least 7 s and 3 s.
    n_coils
        Receive coils.
    spokes, samples, turns
        Radial spokes per frame, samples per spoke (``samples > max(matrix)`` oversamples the
        readout: the spoke spans ``[-pi, pi)`` radians per pixel with spacing ``2 pi / samples``)
        and the number of frames after which the spoke angles repeat: spoke ``s`` of frame
        ``t`` is at ``pi s / spokes + (t mod turns) pi / (spokes turns)``.
    snr
        Signal of lung-free soft tissue (muscle, :data:`RT_SIGNAL`) over the k-space noise SD
        per sample and channel, i.e. the image SNR of a fully sampled Cartesian coil-combined
        image (``math.inf``: no noise).
    supersample
        Sub-pixels per pixel and axis of the partial-volume rendering.
    motion_scale
        Multiplies every breathing and sniff amplitude (0: a static end-expiration anatomy).
    field_strength
        Tesla, 1.5 or 3 (selects :data:`T1_TISSUE`).
    ir_times
        Inversion times (s) of the single-shot inversion-recovery T1 series.
    ir_flip_angle, ir_repetition_time
        Flip angle (degrees) and TR (s) of the continuous FLASH readout after the inversion;
        they shorten the apparent relaxation time ``1/T1* = 1/T1 - ln(cos a)/TR``
        (0 degrees: ``T1* = T1``).
    ir_snr
        Fully relaxed muscle magnitude (PD 0.7) of the T1 series over its noise SD per channel.
    """

    matrix: tuple[int, int] = (96, 96)
    voxel_mm: float = 4.0
    slice_thickness_mm: float = 10.0
    frame_s: float = 0.05
    breathing_s: float = 8.0
    sniff_s: float = 4.0
    n_coils: int = 8
    spokes: int = 11
    samples: int = 192
    turns: int = 5
    snr: float = 25.0
    supersample: int = 4
    motion_scale: float = 1.0
    field_strength: float = 3.0
    ir_times: tuple[float, ...] = (0.1, 0.15, 0.25, 0.35, 0.5, 0.7, 1.0, 1.5, 2.2, 3.0)
    ir_flip_angle: float = 6.0
    ir_repetition_time: float = 0.00267
    ir_snr: float = 80.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", int_pair(self.matrix, "matrix", 32))
        for name in _INTEGERS:
            value = getattr(self, name)
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"{name} must be an integer, got {value}")
            try:
                object.__setattr__(self, name, int(value))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} must be an integer, got {value!r}") from exc
        try:
            times = tuple(float(t) for t in self.ir_times)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"ir_times must be numbers, got {self.ir_times!r}") from exc
        object.__setattr__(self, "ir_times", times)
        for f in fields(self):
            if f.name not in ("matrix", "ir_times", *_INTEGERS):
                try:
                    object.__setattr__(self, f.name, float(getattr(self, f.name)))
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{f.name} must be a number") from exc
        self._validate()

    def _validate(self) -> None:
        for name in ("voxel_mm", "slice_thickness_mm", "frame_s", "snr", "ir_snr"):
            value = getattr(self, name)
            if math.isnan(value) or not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        fov = self.matrix[0] * self.voxel_mm, self.matrix[1] * self.voxel_mm
        if min(fov) < 380.0:
            raise ConfigError(f"the field of view {fov} mm is too small for the thorax (>= 380)")
        if self.frame_s > 0.5:
            raise ConfigError(f"frame_s must be at most 0.5 s, got {self.frame_s}")
        if not 7.0 <= self.breathing_s <= 60.0:
            raise ConfigError(f"breathing_s must be in 7-60 s, got {self.breathing_s}")
        if not 3.0 <= self.sniff_s <= 30.0:
            raise ConfigError(f"sniff_s must be in 3-30 s, got {self.sniff_s}")
        if not 1 <= self.n_coils <= 64:
            raise ConfigError(f"n_coils must be in 1-64, got {self.n_coils}")
        if self.spokes < 1 or self.turns < 1:
            raise ConfigError(f"spokes and turns must be >= 1, got {self.spokes}, {self.turns}")
        if self.samples < max(self.matrix):
            raise ConfigError(
                f"samples ({self.samples}) must cover the matrix {self.matrix} (>= its largest "
                "side; twice it oversamples the readout two-fold)"
            )
        if not 1 <= self.supersample <= 8:
            raise ConfigError(f"supersample must be in 1-8, got {self.supersample}")
        if not 0.0 <= self.motion_scale <= 2.0:
            raise ConfigError(f"motion_scale must be in [0, 2], got {self.motion_scale}")
        if self.field_strength not in T1_TISSUE:
            raise ConfigError(
                f"field_strength must be one of {sorted(T1_TISSUE)} T, got {self.field_strength}"
            )
        times = np.asarray(self.ir_times)
        if times.size < 3 or not np.all(np.isfinite(times)) or np.any(times <= 0):
            raise ConfigError(f"ir_times must be at least 3 positive times, got {self.ir_times}")
        if np.any(np.diff(times) <= 0):
            raise ConfigError(f"ir_times must increase, got {self.ir_times}")
        if not 0.0 <= self.ir_flip_angle < 90.0:
            raise ConfigError(f"ir_flip_angle must be in [0, 90) degrees, got {self.ir_flip_angle}")
        if not self.ir_repetition_time > 0:
            raise ConfigError(f"ir_repetition_time must be positive, got {self.ir_repetition_time}")

    def n_frames(self, task: str) -> int:
        """Frames of a task (``breathing`` or ``sniff``): ``round(duration / frame_s)``."""
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}; known: {TASKS}")
        duration = self.breathing_s if task == "breathing" else self.sniff_s
        return round(duration / self.frame_s)

    def frame_times(self, task: str) -> np.ndarray:
        """``(T,)`` seconds: ``t * frame_s`` for every frame of ``task``."""
        return np.arange(self.n_frames(task)) * self.frame_s

    @property
    def look_locker_rate(self) -> float:
        """``-ln(cos a) / TR`` (1/s), added to ``1/T1`` by the continuous readout."""
        return -math.log(math.cos(math.radians(self.ir_flip_angle))) / self.ir_repetition_time

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | SimulationSettings | None
    ) -> SimulationSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused)."""
        return settings_from_mapping(cls, values, "breathing simulation settings")
