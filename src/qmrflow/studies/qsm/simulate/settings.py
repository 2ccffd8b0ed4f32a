"""Settings of the qsm demo simulation: grid, echoes, field strength, coils, EPI, noise, lesions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qmrflow.errors import ConfigError
from qmrflow.settings import int_pair, settings_from_mapping

__all__ = ["ACQUISITIONS", "PROTOCOLS", "SLAB_CENTRE_MM", "QsmDemoSettings", "encoded_block"]

#: The simulated acquisitions: the GRE reference and the 2- and 1-average 3D-EPI.
ACQUISITIONS: tuple[str, str, str] = ("gre", "epi2avg", "epi1avg")

#: Protocol name of each acquisition (written to the ISMRMRD header).
PROTOCOLS: dict[str, str] = {"gre": "gre_me3d", "epi2avg": "epi3d_2avg", "epi1avg": "epi3d_1avg"}

#: MNI152 point (mm) at the centre of every subject's volume (before the subject's own
#: deformation): the deep grey matter and the lateral ventricles, so that a thin slab still
#: holds the deep grey matter, the ventricles and periventricular lesions.
SLAB_CENTRE_MM: tuple[float, float, float] = (0.0, -18.0, 10.0)

# The field of view must hold the brain in-plane (MNI152 brain: 144 x 180 mm) and a slab of
# at least 24 mm around the deep grey matter.
_MIN_FOV_MM = (150.0, 180.0, 24.0)


def encoded_block(n: int, fraction: float) -> tuple[int, int]:
    """Start and size of the central ``fraction`` of ``n`` k-space lines (DC at ``n // 2``).

    The block holds ``max(2, round(fraction * n))`` lines, ``size // 2`` of them below DC.
    """
    size = min(int(n), max(2, round(float(fraction) * int(n))))
    return int(n) // 2 - size // 2, size


@dataclass(frozen=True)
class QsmDemoSettings:
    """What every simulated qsm demo subject shares.

    Attributes
    ----------
    matrix
        Reconstruction grid ``(X, Y, Z)`` shared by every acquisition (RAS voxel order, ``B0``
        along axis 2). The z slab is centred on the deep grey matter and the lateral ventricles
        (:data:`SLAB_CENTRE_MM`).
    voxel_mm
        Isotropic voxel size (mm).
    echo_times
        Echo times (s), at least two, strictly increasing; shared by every acquisition.
    b0
        Main field (T).
    n_coils
        Receive coils (:func:`qmrflow.simulate.kspace.coil_sensitivities`).
    epi_fraction
        Central fraction of k-space the 3D-EPI acquires along x and along y (all of z); the
        rest is zero (zero-filled to the reconstruction grid).
    snr_gre, snr_epi2avg
        Signal of white matter at the first echo over the complex k-space noise SD per sample
        and coil (= the noise SD of a fully sampled coil-combined image). The 1-average EPI
        has ``snr_epi2avg / sqrt(2)`` (:meth:`snr`). ``math.inf``: no noise.
    lesions
        Smallest and largest number of MS lesions per subject (drawn uniformly).
    supersample
        Sub-points per voxel and axis of the partial-volume rendering (0: about 1 mm apart,
        the template's resolution, i.e. ``round(voxel_mm)``); fewer are faster (tests).
    """

    matrix: tuple[int, int, int] = (80, 96, 40)
    voxel_mm: float = 2.0
    echo_times: tuple[float, ...] = (0.005, 0.012, 0.019)
    b0: float = 3.0
    n_coils: int = 8
    epi_fraction: float = 0.6
    snr_gre: float = 40.0
    snr_epi2avg: float = 12.0
    lesions: tuple[int, int] = (6, 12)
    supersample: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", _int_triple(self.matrix, "matrix", 8))
        object.__setattr__(self, "lesions", int_pair(self.lesions, "lesions", 0))
        try:
            times = tuple(float(t) for t in self.echo_times)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"echo_times must be numbers, got {self.echo_times!r}") from exc
        object.__setattr__(self, "echo_times", times)
        for name in ("voxel_mm", "b0", "epi_fraction", "snr_gre", "snr_epi2avg"):
            try:
                object.__setattr__(self, name, float(getattr(self, name)))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} must be a number, got {getattr(self, name)!r}") from exc
        for name in ("n_coils", "supersample"):
            value = getattr(self, name)
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"{name} must be an integer, got {value}")
            try:
                object.__setattr__(self, name, int(value))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} must be an integer, got {value!r}") from exc
        self._validate()

    def _validate(self) -> None:
        if not 0.5 <= self.voxel_mm <= 6.0:
            raise ConfigError(f"voxel_mm must be in 0.5-6 mm, got {self.voxel_mm}")
        fov = self.fov_mm
        if any(f < m for f, m in zip(fov, _MIN_FOV_MM, strict=True)):
            raise ConfigError(
                f"the field of view {fov} mm (matrix x voxel_mm) must be at least {_MIN_FOV_MM} "
                "mm to hold the brain in-plane and the deep grey matter in z"
            )
        times = np.asarray(self.echo_times)
        if times.size < 2 or not np.all(np.isfinite(times)) or np.any(times <= 0):
            raise ConfigError(f"echo_times must be at least 2 positive times (s): {times}")
        if np.any(np.diff(times) <= 0):
            raise ConfigError(f"echo_times must increase strictly, got {list(times)}")
        if times[-1] > 0.1:
            raise ConfigError(f"echo_times are in seconds (at most 0.1 s), got {list(times)}")
        if not 0.0 < self.b0 <= 12.0:
            raise ConfigError(f"b0 must be in (0, 12] T, got {self.b0}")
        if not 1 <= self.n_coils <= 64:
            raise ConfigError(f"n_coils must be in 1-64, got {self.n_coils}")
        if not 0.1 <= self.epi_fraction <= 1.0:
            raise ConfigError(f"epi_fraction must be in [0.1, 1], got {self.epi_fraction}")
        for name in ("snr_gre", "snr_epi2avg"):
            value = getattr(self, name)
            if math.isnan(value) or not value > 0:
                raise ConfigError(f"{name} must be positive (inf: no noise), got {value}")
        if not 0 <= self.supersample <= 8:
            raise ConfigError(f"supersample must be in 0-8 (0: automatic), got {self.supersample}")
        low, high = self.lesions
        if low > high or high > 40:
            raise ConfigError(f"lesions must be (min, max) with min <= max <= 40, got {low, high}")

    @property
    def voxel(self) -> tuple[float, float, float]:
        """Voxel size per axis (mm)."""
        return (self.voxel_mm, self.voxel_mm, self.voxel_mm)

    @property
    def sub_points(self) -> int:
        """Sub-points per voxel and axis of the rendering (:attr:`supersample`)."""
        return self.supersample or max(1, round(self.voxel_mm))

    @property
    def fov_mm(self) -> tuple[float, float, float]:
        """Field of view per axis (mm)."""
        return tuple(float(n * self.voxel_mm) for n in self.matrix)  # type: ignore[return-value]

    def affine(self) -> np.ndarray:
        """RAS+ affine of the grid: diagonal ``voxel_mm``, world origin at the volume centre."""
        affine = np.diag([*self.voxel, 1.0])
        affine[:3, 3] = [-(n - 1) / 2.0 * self.voxel_mm for n in self.matrix]
        return affine

    def snr(self, acq: str) -> float:
        """SNR of an acquisition (see the class docstring)."""
        if acq == "gre":
            return self.snr_gre
        if acq == "epi2avg":
            return self.snr_epi2avg
        if acq == "epi1avg":
            return self.snr_epi2avg / math.sqrt(2.0)
        raise ConfigError(f"unknown acquisition {acq!r}; known: {ACQUISITIONS}")

    def encoded(self, acq: str) -> tuple[int, int, int]:
        """Acquired k-space block ``(x, y, z)`` of an acquisition (the full matrix for GRE)."""
        if acq not in ACQUISITIONS:
            raise ConfigError(f"unknown acquisition {acq!r}; known: {ACQUISITIONS}")
        if acq == "gre":
            return self.matrix
        x = encoded_block(self.matrix[0], self.epi_fraction)[1]
        y = encoded_block(self.matrix[1], self.epi_fraction)[1]
        return (x, y, self.matrix[2])

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | QsmDemoSettings | None) -> QsmDemoSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused)."""
        return settings_from_mapping(cls, values, "qsm demo settings")


def _int_triple(value: Sequence[Any] | Any, name: str, minimum: int) -> tuple[int, int, int]:
    """Three integers of at least ``minimum``, or a ConfigError naming ``name``."""
    try:
        triple = tuple(int(v) for v in value)
        exact = all(float(v) == int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be three integers, got {value!r}") from exc
    if len(triple) != 3 or not exact or min(triple) < minimum:
        raise ConfigError(f"{name} must be three integers >= {minimum}, got {value!r}")
    return triple  # type: ignore[return-value]
