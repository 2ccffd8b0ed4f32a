"""Multi-echo gradient-echo images as BIDS ``MEGRE`` magnitude and phase NIfTI, validated.

:func:`write_megre` stores complex multi-echo images ``(E, X, Y, Z)`` and :func:`read_megre`
reads them back, or a user's own export (e.g. by dcm2niix), as :class:`MultiEchoImages`.

File conventions
----------------
- One magnitude and one phase NIfTI per echo, in one folder (usually
  ``<bids>/sub-<id>/anat``): ``sub-<id>_acq-<acq>_echo-<n>_part-<mag|phase>_MEGRE.nii.gz``,
  echoes numbered from 1 (:func:`qmrflow.io.bids.bids_name`). Files of the subject and
  acquisition with further entities (``run``, ``ses``, ``rec`` ...) or other parts
  (``real``/``imag``) are not part of the series and are ignored.
- Each image has its JSON sidecar (``...MEGRE.json``) with ``EchoTime`` in seconds (BIDS) and
  ``MagneticFieldStrength`` in tesla when known; the writer adds ``Units: rad`` to the phase
  sidecars. A sidecar without the ``part`` entity (``..._echo-<n>_MEGRE.json``, BIDS
  inheritance) is read when an image has none of its own.
- Magnitude and phase are float32; the phase is written in radians. The reader converts the
  phase to radians with :func:`phase_to_radians`, which accepts radians and the scaled
  integers scanners export (Siemens ``[-4096, 4095]`` or ``[0, 4095]``) and refuses other
  units.

Reading raises :class:`qmrflow.errors.InputDataError` naming the subject and the file. Writing is
atomic per file (:func:`qmrflow.io.nifti.save_nifti`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io.bids import bids_name, parse_entities, sidecar_path
from qmrflow.io.ismrmrd import (
    _check_finite,
    _checked_echo_times,
    _checked_field_strength,
    _numeric_array,
)
from qmrflow.io.nifti import load_nifti, save_nifti

__all__ = [
    "PHASE_INTEGER_LIMIT",
    "MultiEchoImages",
    "megre_paths",
    "phase_to_radians",
    "read_megre",
    "write_megre",
]

logger = logging.getLogger(__name__)

PHASE_INTEGER_LIMIT = 4096
"""Scanner phase integers span ``[-4096, 4095]`` (or ``[0, 4095]``) for ``[-pi, pi)``."""

_RADIAN_TOLERANCE = 1e-3  # float32 rounding and converters' edge values just beyond pi
_AFFINE_TOLERANCE_MM = 1e-3
_PARTS = ("mag", "phase")


@dataclass(frozen=True)
class MultiEchoImages:
    """Complex multi-echo images with their echo times and grid.

    Attributes
    ----------
    images
        complex64 ``(E, X, Y, Z)``: magnitude times ``exp(i phase)``, phase in radians.
    echo_times
        float64 ``(E,)``: seconds, strictly increasing.
    affine
        4x4 NIfTI voxel-to-world matrix (RAS, mm), shared by all echoes.
    field_strength
        ``MagneticFieldStrength`` in tesla, if the sidecars record it.
    """

    images: np.ndarray
    echo_times: np.ndarray
    affine: np.ndarray
    field_strength: float | None = None

    @property
    def voxel_mm(self) -> tuple[float, float, float]:
        """Voxel size in millimetres along each axis (the affine's column lengths)."""
        x, y, z = (float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))
        return x, y, z


def _name(subject: str, acq: str, echo: int, part: str | None, extension: str) -> str:
    return bids_name("MEGRE", extension, sub=subject, acq=acq, echo=echo, part=part)


def megre_paths(
    folder: str | os.PathLike[str], subject: str, acq: str
) -> list[tuple[int, Path | None, Path | None]]:
    """The MEGRE images of one subject and acquisition found in ``folder``.

    Parameters
    ----------
    folder
        The folder holding the files (e.g. ``<bids>/sub-<id>/anat``).
    subject
        Participant label without ``sub-``.
    acq
        The ``acq`` label (e.g. ``gre``, ``epi2avg``).

    Returns
    -------
    list of (int, Path or None, Path or None)
        ``(echo, magnitude, phase)`` sorted by echo number; a part that is not there is None.
        Empty when nothing is found (also when the folder does not exist).

    Raises
    ------
    InputDataError
        An ``echo`` label is not a positive integer, or one echo and part has two files
        (``.nii`` and ``.nii.gz``).
    """
    found: dict[int, dict[str, Path]] = {}
    for path in sorted(Path(folder).glob(f"sub-{subject}_acq-{acq}_*MEGRE.nii*")):
        if not path.name.endswith((".nii", ".nii.gz")):
            continue
        try:
            name = parse_entities(path)
        except ValueError:
            continue
        if name.suffix != "MEGRE" or name.subject != subject or name.get("acq") != acq:
            continue
        if set(name.entities) != {"sub", "acq", "echo", "part"}:
            logger.debug("%s: other entities than sub, acq, echo, part; ignored", path)
            continue
        part, label = name.get("part"), str(name.get("echo"))
        if part not in _PARTS:
            logger.warning("%s: part-%s is not read (only part-mag and part-phase)", path, part)
            continue
        if not label.isdigit() or int(label) < 1:
            raise InputDataError(
                f"echo-{label} is not an echo number (1, 2, ...)", subject=subject, path=path
            )
        parts = found.setdefault(int(label), {})
        if part in parts:
            raise InputDataError(
                f"two files for echo {int(label)} part-{part}: {parts[part].name} and {path.name}",
                subject=subject,
                path=path,
            )
        parts[part] = path
    return [(echo, parts.get("mag"), parts.get("phase")) for echo, parts in sorted(found.items())]


def _checked(
    images: np.ndarray, echo_times: np.ndarray, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    array = _numeric_array(images, "images", ("echoes", "x", "y", "z"))
    array = array.astype(np.complex64, copy=False)
    _check_finite(array, "images hold")
    times = _checked_echo_times(echo_times, array.shape[0])
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError(f"affine must be a finite 4x4 matrix, got shape {matrix.shape}")
    return array, times, matrix


def write_megre(
    folder: str | os.PathLike[str],
    subject: str,
    acq: str,
    images: np.ndarray,
    echo_times: np.ndarray,
    affine: np.ndarray,
    *,
    field_strength: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write complex multi-echo images as BIDS MEGRE magnitude and phase NIfTI with sidecars.

    Parameters
    ----------
    folder
        Destination folder (created), e.g. ``<bids>/sub-<id>/anat``.
    subject
        Participant label without ``sub-`` (alphanumeric).
    acq
        The ``acq`` label (alphanumeric).
    images
        ``(E, X, Y, Z)`` complex; stored as float32 magnitude and phase in radians.
    echo_times
        ``(E,)`` seconds, positive and strictly increasing (sidecar ``EchoTime``).
    affine
        4x4 voxel-to-world matrix (RAS, mm).
    field_strength
        Tesla (sidecar ``MagneticFieldStrength``), if known.
    extra
        Further sidecar keys for every image (``EchoTime``, ``MagneticFieldStrength`` and the
        phase ``Units`` are set by this function).

    Returns
    -------
    list of Path
        The written files in echo order: magnitude image, its sidecar, phase image, its sidecar.

    Raises
    ------
    ValueError
        Images not 4-D or not finite, echo times of the wrong shape, not positive, not strictly
        increasing or above 1 s, an invalid affine or field strength, labels that are not
        alphanumeric.
    """
    array, times, matrix = _checked(images, echo_times, affine)
    field_strength = _checked_field_strength(field_strength)
    _name(subject, acq, 1, "mag", ".nii.gz")  # checks the labels before anything is written
    common = dict(extra or {})
    if field_strength is not None:
        common["MagneticFieldStrength"] = field_strength
    magnitude = np.abs(array).astype(np.float32)
    phase = np.angle(array).astype(np.float32)
    written: list[Path] = []
    for index, echo_time in enumerate(times):
        echo = index + 1
        for part, data in (("mag", magnitude[index]), ("phase", phase[index])):
            sidecar = {**common, "EchoTime": float(echo_time)}
            if part == "phase":
                sidecar["Units"] = "rad"
            path = Path(folder) / _name(subject, acq, echo, part, ".nii.gz")
            written += [save_nifti(data, path, matrix, sidecar=sidecar), sidecar_path(path)]
    logger.debug(
        "sub-%s acq-%s: wrote %d echoes %s to %s", subject, acq, times.size, array.shape, folder
    )
    return written


def phase_to_radians(
    phase: np.ndarray, *, subject: str | None = None, path: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Phase in radians, from radians or from the scaled integers scanners export.

    - Values within ``[-pi, pi]`` (up to 1e-3) are radians and returned as they are.
    - Integer-valued data within ``[-4096, 4096]`` are scanner integers, converted linearly to
      ``[-pi, pi)``: signed data (any value below 0, Siemens ``[-4096, 4095]``) as
      ``pi x / 4096``, unsigned data (Siemens ``[0, 4095]``) as ``2 pi x / 4096 - pi``. Integer
      data that fits ``[-180, 180]`` or ``[0, 360]`` could as well be degrees and is refused.
    - Anything else (degrees, an unknown scaling) is refused.

    Parameters
    ----------
    phase
        Real array.
    subject, path
        Named in error messages.

    Returns
    -------
    numpy.ndarray
        float32 radians, the shape of ``phase``.

    Raises
    ------
    InputDataError
        The phase is not real, holds NaN or infinite values, or its range is not one of the
        accepted ones (the message gives the range found and what is accepted).
    """
    values = np.asarray(phase)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise InputDataError(
            f"phase must be a real image, got dtype {values.dtype}", subject=subject, path=path
        )
    if values.size == 0:
        return values.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise InputDataError(
            f"phase holds {bad} NaN or infinite values", subject=subject, path=path
        )
    low, high = float(values.min()), float(values.max())
    if low >= -np.pi - _RADIAN_TOLERANCE and high <= np.pi + _RADIAN_TOLERANCE:
        return values.astype(np.float32, copy=False)
    accepted = (
        "accepted are radians within [-pi, pi] and scanner integers (integer-valued, within "
        f"[-{PHASE_INTEGER_LIMIT}, {PHASE_INTEGER_LIMIT}], e.g. Siemens "
        f"[-{PHASE_INTEGER_LIMIT}, {PHASE_INTEGER_LIMIT - 1}] or [0, {PHASE_INTEGER_LIMIT - 1}])"
        "; convert the phase to radians first"
    )
    found = f"phase values span [{low:.6g}, {high:.6g}]"
    integer = bool(np.all(values == np.round(values)))
    if not (integer and -PHASE_INTEGER_LIMIT <= low and high <= PHASE_INTEGER_LIMIT):
        raise InputDataError(
            f"{found}: neither radians nor scanner integers (degrees?); {accepted}",
            subject=subject,
            path=path,
        )
    if (low >= -180 and high <= 180) or (low >= 0 and high <= 360):
        raise InputDataError(
            f"{found}: integers in this range could be degrees as well as scanner integers, "
            f"so the unit is ambiguous; {accepted}",
            subject=subject,
            path=path,
        )
    scaled = values.astype(np.float64) * (np.pi / PHASE_INTEGER_LIMIT)
    if low >= 0:  # unsigned: [0, 4095] -> [-pi, pi)
        scaled = 2.0 * scaled - np.pi
    logger.info(
        "sub-%s %s: phase in scanner integers [%g, %g] converted to radians",
        subject,
        path,
        low,
        high,
    )
    return scaled.astype(np.float32)


def _read_sidecar(image: Path, inherited: Path, subject: str) -> tuple[Path, dict[str, Any]]:
    """The image's sidecar (or the part-less one it inherits) and its keys."""
    own = sidecar_path(image)
    path = own if own.is_file() else inherited
    if not path.is_file():
        raise InputDataError(
            f"no JSON sidecar ({own.name}): the EchoTime of every echo is needed",
            subject=subject,
            path=image,
        )
    try:
        keys = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(
            f"not a readable JSON sidecar: {exc}", subject=subject, path=path
        ) from exc
    if not isinstance(keys, dict):
        raise InputDataError("the sidecar is not a JSON object", subject=subject, path=path)
    return path, keys


def _echo_time(keys: dict[str, Any], path: Path, subject: str) -> float:
    if "EchoTime" not in keys:
        raise InputDataError("EchoTime missing in the sidecar", subject=subject, path=path)
    value = keys["EchoTime"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputDataError(
            f"EchoTime must be a number of seconds, got {value!r}", subject=subject, path=path
        )
    if value <= 0:
        raise InputDataError(
            f"EchoTime must be positive seconds, got {value!r}", subject=subject, path=path
        )
    if value > 1.0:
        raise InputDataError(
            f"EchoTime {value!r} is above 1 s: milliseconds? BIDS EchoTime is in seconds",
            subject=subject,
            path=path,
        )
    return float(value)


def read_megre(folder: str | os.PathLike[str], subject: str, acq: str) -> MultiEchoImages:
    """Read one subject's MEGRE magnitude and phase images and check they form one series.

    Parameters
    ----------
    folder
        The folder holding the files (e.g. ``<bids>/sub-<id>/anat``).
    subject
        Participant label without ``sub-``.
    acq
        The ``acq`` label.

    Returns
    -------
    MultiEchoImages
        ``(E, X, Y, Z)`` complex64 images (phase in radians), echo times in seconds, the
        affine and the field strength.

    Raises
    ------
    InputDataError
        No echoes found; echo numbers with gaps (not 1..E); a magnitude without its phase or a
        phase without its magnitude; a missing sidecar or ``EchoTime``; echo times above 1 s
        (milliseconds), not strictly increasing with the echo number or different between
        magnitude and phase; images that are not 3-D, hold NaN or infinite values, or differ
        in shape or affine; a phase in units other than radians or scanner integers;
        different ``MagneticFieldStrength`` between sidecars.
    """
    folder = Path(folder)
    found = megre_paths(folder, subject, acq)
    if not found:
        pattern = f"sub-{subject}_acq-{acq}_echo-<n>_part-<mag|phase>_MEGRE.nii[.gz]"
        raise InputDataError(
            f"no MEGRE echoes found: expected files {pattern}", subject=subject, path=folder
        )
    numbers = [echo for echo, _, _ in found]
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        expected = folder / _name(subject, acq, missing[0], "mag", ".nii.gz")
        raise InputDataError(
            f"echo {missing[0]} is missing (found echoes {', '.join(map(str, numbers))}): MEGRE "
            "echoes must be numbered 1, 2, ... without gaps",
            subject=subject,
            path=expected,
        )

    magnitudes, phases, times, fields = [], [], [], {}
    reference: tuple[Path, tuple[int, ...], np.ndarray] | None = None
    for echo, mag_path, phase_path in found:
        for part, path, other in (("mag", mag_path, phase_path), ("phase", phase_path, mag_path)):
            if path is None:
                assert other is not None  # megre_paths lists an echo only when a part exists
                extension = ".nii.gz" if other.name.endswith(".nii.gz") else ".nii"
                raise InputDataError(
                    f"part-{part} missing for echo {echo}: only {other.name} exists",
                    subject=subject,
                    path=folder / _name(subject, acq, echo, part, extension),
                )
        assert mag_path is not None and phase_path is not None
        echo_time = None
        sidecars = []
        for path in (mag_path, phase_path):
            inherited = folder / _name(subject, acq, echo, None, ".json")
            sidecar, keys = _read_sidecar(path, inherited, subject)
            sidecars.append(sidecar)
            value = _echo_time(keys, sidecar, subject)
            if echo_time is not None and not math.isclose(value, echo_time, rel_tol=1e-6):
                raise InputDataError(
                    f"EchoTime {value:g} s differs from the magnitude's {echo_time:g} s "
                    f"(echo {echo})",
                    subject=subject,
                    path=sidecar,
                )
            echo_time = value
            strength = keys.get("MagneticFieldStrength")
            if strength is not None:
                if isinstance(strength, bool) or not isinstance(strength, int | float):
                    raise InputDataError(
                        f"MagneticFieldStrength must be a number of tesla, got {strength!r}",
                        subject=subject,
                        path=sidecar,
                    )
                fields.setdefault(float(strength), sidecar)
        assert echo_time is not None
        if times and echo_time <= times[-1]:
            raise InputDataError(
                f"echo times must increase strictly with the echo number: echo {echo} has "
                f"EchoTime {echo_time:g} s, echo {echo - 1} {times[-1]:g} s",
                subject=subject,
                path=sidecars[0],
            )
        times.append(echo_time)
        for path, store in ((mag_path, magnitudes), (phase_path, phases)):
            image = load_nifti(path, subject=subject, ndim=3, dtype=np.float32)
            if reference is None:
                reference = (path, image.data.shape, image.affine)
            elif image.data.shape != reference[1]:
                raise InputDataError(
                    f"shape {image.data.shape} differs from {reference[0].name} "
                    f"{reference[1]}: all echoes and parts must share one grid",
                    subject=subject,
                    path=path,
                )
            elif not np.allclose(image.affine, reference[2], atol=_AFFINE_TOLERANCE_MM):
                raise InputDataError(
                    f"affine differs from that of {reference[0].name}: all echoes and parts "
                    f"must share one grid (largest difference "
                    f"{np.abs(image.affine - reference[2]).max():.4g} mm)",
                    subject=subject,
                    path=path,
                )
            if store is phases:
                store.append(phase_to_radians(image.data, subject=subject, path=path))
            else:
                if (image.data < 0).any():
                    logger.warning("sub-%s %s: the magnitude has negative values", subject, path)
                store.append(image.data)
    if len(fields) > 1:
        listed = ", ".join(f"{value:g} T in {path.name}" for value, path in fields.items())
        raise InputDataError(
            f"MagneticFieldStrength differs between sidecars: {listed}",
            subject=subject,
            path=folder,
        )
    assert reference is not None
    magnitude = np.stack(magnitudes)
    phase = np.stack(phases)
    images = (magnitude * np.exp(1j * phase)).astype(np.complex64)
    return MultiEchoImages(
        images=images,
        echo_times=np.asarray(times, dtype=np.float64),
        affine=reference[2],
        field_strength=next(iter(fields), None),
    )
