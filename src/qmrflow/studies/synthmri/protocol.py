"""The MDME (QRAPMASTER / MAGiC) acquisition: protocol, JSON sidecar and signal model.

A multi-delay multi-echo (MDME) acquisition is a saturation-recovery turbo spin echo: a slice-
selective saturation pulse of angle ``theta`` is followed, after a delay ``TD``, by an excitation
``alpha`` and a spin-echo train read at echo times ``TE``. Typically 4 delays x 2 echoes = 8
images per slice (Warntjes et al. 2008, Magn Reson Med 60:320-329).

Signal per voxel (Warntjes 2008, eq. 1; ``B1`` scales both nominal angles)::

    S(TD, TE) = PD · exp(-TE/T2)
                · |1 - (1 - cos θ) exp(-TD/T1) - cos θ exp(-TR/T1)|
                / (1 - cos θ cos α exp(-TR/T1))

with ``θ = B1·θ_nominal``, ``α = B1·α_nominal``; PD is in arbitrary units (the fit reports it
relative to a reference, see :mod:`qmrflow.studies.synthmri.mapping`). Magnitude images carry
the absolute value, as scanners store them.

Sidecar
-------
Each 4D MDME NIfTI (x, y, slices, volumes) has a JSON sidecar with one entry per volume:

``SaturationDelayTime`` (s, list), ``EchoTime`` (s, list), ``RepetitionTime`` (s),
``SaturationFlipAngle`` (deg), ``FlipAngle`` (deg). Times are in seconds, as BIDS and dcm2niix
write them; the protocol and the maps use milliseconds (the paper's units), converted here.
:func:`read_sidecar` validates it against the image: one delay and one echo time per volume,
every time positive and plausible in seconds (a value in milliseconds is refused, never
rescaled by guess), the delays shorter than TR, at least 2 distinct delays and 2 distinct echo
times (otherwise T1 or T2 is not identifiable).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.io.tables import write_json

__all__ = [
    "DEFAULT_PROTOCOL",
    "MdmeProtocol",
    "mdme_signal",
    "read_sidecar",
    "write_sidecar",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class MdmeProtocol:
    """Sequence parameters of one MDME acquisition, one delay and echo time per volume.

    Attributes
    ----------
    delays
        Saturation delay ``TD`` of each volume (ms).
    echo_times
        Echo time ``TE`` of each volume (ms).
    repetition_time
        ``TR`` (ms).
    saturation_angle
        Nominal saturation flip angle ``θ`` (degrees).
    excitation_angle
        Nominal excitation flip angle ``α`` (degrees).
    """

    delays: tuple[float, ...]
    echo_times: tuple[float, ...]
    repetition_time: float
    saturation_angle: float = 120.0
    excitation_angle: float = 90.0

    @property
    def n_volumes(self) -> int:
        """Number of images (delays x echoes)."""
        return len(self.delays)

    def to_sidecar(self) -> dict[str, Any]:
        """The BIDS sidecar dict (times in seconds, angles in degrees)."""
        return {
            "SaturationDelayTime": [_seconds(t) for t in self.delays],
            "EchoTime": [_seconds(t) for t in self.echo_times],
            "RepetitionTime": _seconds(self.repetition_time),
            "SaturationFlipAngle": self.saturation_angle,
            "FlipAngle": self.excitation_angle,
            "PulseSequenceType": "MDME saturation-recovery multi-echo spin echo (QRAPMASTER)",
        }

    @classmethod
    def from_grid(
        cls,
        delays: ArrayLike,
        echo_times: ArrayLike,
        repetition_time: float,
        saturation_angle: float = 120.0,
        excitation_angle: float = 90.0,
    ) -> MdmeProtocol:
        """Every delay combined with every echo time, delay-major (TD1TE1, TD1TE2, TD2TE1, ...)."""
        td, te = np.meshgrid(
            np.asarray(delays, float), np.asarray(echo_times, float), indexing="ij"
        )
        return cls(
            tuple(td.ravel().tolist()),
            tuple(te.ravel().tolist()),
            float(repetition_time),
            float(saturation_angle),
            float(excitation_angle),
        )


# A typical 3 T MAGiC protocol: 4 delays x 2 echoes (values in the range of Warntjes 2008 and
# the vendor's default; the exact numbers vary by site and are read from the sidecar).
DEFAULT_PROTOCOL = MdmeProtocol.from_grid(
    delays=[150.0, 580.0, 1850.0, 3800.0],
    echo_times=[20.0, 100.0],
    repetition_time=4200.0,
)


def mdme_signal(
    t1: ArrayLike,
    t2: ArrayLike,
    pd: ArrayLike,
    b1: ArrayLike,
    protocol: MdmeProtocol,
) -> np.ndarray:
    """Magnitude MDME signal for parameter maps of any shape.

    Parameters
    ----------
    t1, t2
        Relaxation times (ms), positive, broadcastable to a common shape ``S``.
    pd
        Proton density (arbitrary units), broadcastable to ``S``.
    b1
        Relative transmit field (1 = nominal angles), broadcastable to ``S``.
    protocol
        The acquisition.

    Returns
    -------
    numpy.ndarray
        Shape ``S + (protocol.n_volumes,)``, float64: the noiseless magnitude images.
    """
    t1 = np.asarray(t1, dtype=float)[..., None]
    t2 = np.asarray(t2, dtype=float)[..., None]
    pd = np.asarray(pd, dtype=float)[..., None]
    b1 = np.asarray(b1, dtype=float)[..., None]
    delays = np.asarray(protocol.delays, dtype=float)
    echoes = np.asarray(protocol.echo_times, dtype=float)
    theta = np.deg2rad(protocol.saturation_angle) * b1
    alpha = np.deg2rad(protocol.excitation_angle) * b1
    e_tr = np.exp(-protocol.repetition_time / t1)
    cos_theta = np.cos(theta)
    recovery = 1.0 - (1.0 - cos_theta) * np.exp(-delays / t1) - cos_theta * e_tr
    steady = 1.0 - cos_theta * np.cos(alpha) * e_tr
    return np.abs(pd * np.exp(-echoes / t2) * recovery / steady)


#: Plausible sidecar times in seconds, (low, high) per key: a value outside is refused, since
#: it is almost surely in another unit (milliseconds above, a wrong scale below).
PLAUSIBLE_SECONDS: dict[str, tuple[float, float]] = {
    "EchoTime": (1e-4, 1.0),
    "SaturationDelayTime": (1e-4, 30.0),
    "RepetitionTime": (1e-3, 30.0),
}


def _seconds(ms: float) -> float:
    """Milliseconds to seconds, rounded to the nanosecond (so ms -> s -> ms is exact)."""
    return round(float(ms) / 1000.0, 9)


def _milliseconds(seconds: np.ndarray) -> np.ndarray:
    """Seconds to milliseconds, rounded to the nanosecond."""
    return np.round(seconds * 1000.0, 6)


def write_sidecar(protocol: MdmeProtocol, image: PathLike) -> Path:
    """Write the sidecar of ``image`` (:func:`qmrflow.io.bids.sidecar_path`) atomically."""
    return write_json(protocol.to_sidecar(), sidecar_path(image))


def read_sidecar(image: PathLike, n_volumes: int, *, subject: str | None = None) -> MdmeProtocol:
    """Read and validate the sidecar of a 4D MDME image with ``n_volumes`` volumes.

    Raises
    ------
    InputDataError
        The sidecar is missing or not JSON, a key is missing or not a number, the number of
        delays or echo times differs from ``n_volumes``, a time or angle is not positive, a
        delay is not shorter than TR, or there are fewer than 2 distinct delays or echo times.
        The message names the subject and the sidecar file.
    """
    path = sidecar_path(image)

    def fail(message: str) -> InputDataError:
        return InputDataError(message, subject=subject, path=path)

    if not path.is_file():
        raise fail(f"sidecar missing (needed for the delays and echo times of {Path(image).name})")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"sidecar is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise fail("sidecar must hold a JSON object")

    def numbers(key: str, per_volume: bool) -> np.ndarray:
        if key not in meta:
            raise fail(f"sidecar has no {key!r}")
        value = meta[key]
        values = np.atleast_1d(np.asarray(value, dtype=object))
        if values.ndim != 1 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise fail(f"{key} must be {'a list of numbers' if per_volume else 'a number'}")
        array = values.astype(float)
        if per_volume and array.size != n_volumes:
            raise fail(f"{key} has {array.size} value(s) but the image has {n_volumes} volume(s)")
        if not per_volume and array.size != 1:
            raise fail(f"{key} must be a single number, got {array.size} values")
        if not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise fail(f"{key} must be positive, got {array.tolist()}")
        if key in PLAUSIBLE_SECONDS:
            low, high = PLAUSIBLE_SECONDS[key]
            if np.any(array < low) or np.any(array > high):
                hint = " (these look like milliseconds)" if np.any(array > high) else ""
                raise fail(
                    f"{key} {array.tolist()} is not a plausible time in seconds{hint}: BIDS "
                    f"sidecars give times in seconds, expected {low:g}-{high:g} s"
                )
            array = _milliseconds(array)
        return array

    delays = numbers("SaturationDelayTime", True)
    echoes = numbers("EchoTime", True)
    tr = float(numbers("RepetitionTime", False)[0])
    theta = float(numbers("SaturationFlipAngle", False)[0])
    alpha = float(numbers("FlipAngle", False)[0])
    if np.any(delays >= tr):
        raise fail(f"every SaturationDelayTime must be shorter than RepetitionTime {tr:g} ms")
    if np.unique(delays).size < 2 or np.unique(echoes).size < 2:
        raise fail(
            "need at least 2 distinct SaturationDelayTime and 2 distinct EchoTime values "
            f"(got {np.unique(delays).tolist()} and {np.unique(echoes).tolist()})"
        )
    if not (math.isfinite(theta) and theta < 180.0 and alpha <= 180.0):
        raise fail(f"flip angles out of range: saturation {theta:g}, excitation {alpha:g} deg")
    return MdmeProtocol(tuple(delays.tolist()), tuple(echoes.tolist()), tr, theta, alpha)
