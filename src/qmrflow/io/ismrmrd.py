"""Multi-coil MRI k-space as ISMRMRD HDF5, validated at the boundary: radial real-time series
and multi-echo 3-D Cartesian volumes.

:func:`write_radial_series` stores a radial series (a simulator's output) and
:func:`read_radial_series` reads one back, or a user's own file (e.g. converted from Siemens raw
data by ``siemens_to_ismrmrd``), as a :class:`RadialSeries` of plain arrays;
:func:`write_cartesian_echoes` / :func:`read_cartesian_echoes` do the same for multi-echo 3-D
Cartesian k-space (:class:`CartesianEchoes`, conventions at the end). All file access
goes through the official ``ismrmrd`` Python package (``ismrmrd.Dataset``,
``ismrmrd.Acquisition``, the ``ismrmrd.xsd`` header classes), imported only when a function is
called so that ``import qmrflow.io`` stays fast.

File conventions
----------------
- One ISMRMRD group ``dataset`` holding the XML header and one ``Acquisition`` per spoke
  (readout); its ``data`` is ``(coils, samples)`` complex64. ``idx.repetition`` is the frame
  index and ``idx.kspace_encode_step_1`` the spoke index within the frame. The writer sets the
  flags ``ACQ_FIRST_IN_REPETITION`` / ``ACQ_LAST_IN_REPETITION`` on a frame's first and last
  spoke and ``ACQ_LAST_IN_MEASUREMENT`` on the last one.
- Every acquisition carries its trajectory (``traj``, ``trajectory_dimensions = 2``: kx, ky)
  in the usual ISMRMRD / Gadgetron radial unit, cycles per field of view: ``±N/2`` at the edge
  of k-space for the ``N`` pixels of the header's ``reconSpace`` matrix along that axis. The
  reader converts to radians per pixel, ``k_rad = 2 pi k / N_axis`` (``pi``: the Nyquist
  edge), and the writer converts back. A third trajectory dimension (Gadgetron stores density
  compensation weights there) is accepted and ignored. The header's encoding trajectory is
  ``radial``; ``encodedSpace`` repeats the ``reconSpace`` matrix and field of view.
- Frame timing is ``acquisition_time_stamp``, in ticks of ``tick`` seconds (2.5 ms by default,
  :data:`TIME_STAMP_TICK`, the Siemens convention that ``siemens_to_ismrmrd`` keeps). The tick
  used is recorded as the header user parameter (double) ``TimeStampTick_s``; the reader uses
  it when present, else :data:`TIME_STAMP_TICK`. A frame's time is the stamp of its first
  spoke; the reader returns times relative to the first frame. The writer stores stamps
  relative to the first frame time and spreads a frame's spokes evenly over the frame interval
  (the median interval for the last frame), as in continuous real-time acquisition.
- The header records ``reconSpace`` ``matrixSize`` (x, y, 1) and ``fieldOfView_mm`` (x, y, 0:
  the slice thickness is not known to the writer), ``systemFieldStrength_T`` (and the proton
  frequency computed from it; 0 when unknown) and ``protocolName`` (written with the
  patient position ``HFS``, which the schema requires beside it).
- Slice geometry: every acquisition carries ``position`` (mm, the centre of the slice: the
  world point of voxel ``((X - 1) / 2, (Y - 1) / 2)``) and the direction cosines
  ``read_dir`` (image axis 0, ``kx``), ``phase_dir`` (axis 1, ``ky``) and ``slice_dir``, in
  ISMRMRD's (DICOM's) patient coordinates LPS; ``fieldOfView_mm.z`` is the slice thickness.
  :attr:`RadialSeries.affine` is the NIfTI voxel-to-world (RAS) matrix of the reconstruction
  grid built from them (``x, y`` negated from LPS), and the writer's ``affine`` is turned into
  them. Files without direction cosines (all zero) get an identity orientation, with a warning.
- Acquisitions flagged as noise, navigator, phase-correction, dummy-scan, feedback, surface-coil
  correction or phase-stabilisation data are skipped by the reader (counted in the log).

Reading raises :class:`qmrflow.errors.InputDataError` naming the subject and the file when the
file is missing or unreadable, has no header, lacks a trajectory, has inconsistent dimensions,
no frame timing or non-finite values. Writing is atomic (:func:`qmrflow.io.atomic_output`).

Speed: the reader loads the acquisition table in one read of the library's h5py dataset
(``Dataset._dataset["data"]``) instead of ``Dataset.read_acquisition`` per spoke (0.09 s instead
of 8 s for 240 frames x 8 coils x 11 spokes x 192 samples); the writer lets
``Dataset.append_acquisition`` create that table and fills the rest in one write of the
library's record type (0.26 s instead of 3.5 s).

Cartesian multi-echo 3-D files
------------------------------
- One acquisition per readout line, readout along x (image axis 0): ``data`` is
  ``(coils, samples)`` complex64, no trajectory (``trajectory_dimensions = 0``),
  ``center_sample`` the readout's k-space centre. ``idx.kspace_encode_step_1`` is ky and
  ``idx.kspace_encode_step_2`` kz, counted within the acquired (encoded) matrix, and
  ``idx.contrast`` the echo (0-based). The writer stores the lines in the loop order kz, ky,
  echo, with ``ACQ_FIRST/LAST_IN_ENCODE_STEP1/2``, ``ACQ_FIRST_IN_SLICE`` and
  ``ACQ_LAST_IN_SLICE`` / ``ACQ_LAST_IN_MEASUREMENT`` set; the reader takes any order.
- Header: ``encodedSpace`` ``matrixSize`` is the acquired matrix ``(x, y, z)``, the central
  block of k-space (a lower resolution, e.g. 3D-EPI); ``reconSpace`` ``matrixSize`` the
  reconstruction matrix ``(X, Y, Z)`` (at least as large) and ``fieldOfView_mm`` its field of
  view. The writer gives ``encodedSpace`` the same field of view: the acquired centre has the
  grid's k-space step (``1 / FOV``), only fewer samples, so its voxels are ``fov / encoded``.
  ``encodingLimits`` ``kspace_encoding_step_0/1/2`` run ``0 .. n - 1`` with ``center`` ``n //
  2`` (the reader places step-1/2 ``center`` and ``center_sample`` at index ``N // 2`` of the
  reconstruction matrix, i.e. the acquired block is zero-filled symmetrically, DC at ``N // 2``
  as :func:`qmrflow.recon.fourier.fftc`), ``contrast`` ``0 .. E - 1``; the trajectory is
  ``cartesian`` (``epi`` is read too). ``sequenceParameters`` ``TE`` lists one echo time per
  echo in milliseconds (ISMRMRD's unit; seconds in Python). ``acquisitionSystemInformation``
  holds ``receiverChannels`` and ``systemFieldStrength_T``, ``measurementInformation``
  ``protocolName`` (with patient position ``HFS``).
- Geometry: every line carries ``position`` (LPS mm of the volume centre, the world point of
  voxel ``((X - 1) / 2, (Y - 1) / 2, (Z - 1) / 2)``) and ``read_dir`` / ``phase_dir`` /
  ``slice_dir`` (image axes 0, 1, 2); :attr:`CartesianEchoes.affine` is the RAS affine with
  voxel sizes ``fov / (X, Y, Z)``.
- Lines stored more than once (averages) are averaged; encoded lines absent from every echo
  (partial Fourier) are zero with a warning; EPI lines flagged ``ACQ_IS_REVERSE`` (not yet
  ghost-corrected) are refused.

Speed: both directions build the acquisition table as arrays in the library's record type and
write or read it in one HDF5 call (8 coils x 3 echoes, 48 x 58 x 40 acquired of 80 x 96 x 40:
about 0.2 s each way).

Import with ``from qmrflow.io import RadialSeries, read_radial_series, write_radial_series``
(and ``CartesianEchoes``, ``read_cartesian_echoes``, ``write_cartesian_echoes``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io.atomic import atomic_output

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "TIME_STAMP_TICK",
    "CartesianEchoes",
    "RadialSeries",
    "read_cartesian_echoes",
    "read_radial_series",
    "write_cartesian_echoes",
    "write_radial_series",
]

logger = logging.getLogger(__name__)

_Where = Callable[[np.ndarray, int], str]
"""Names acquisition ``i`` of a header table in a message (:func:`_where`, :func:`_line`)."""

TIME_STAMP_TICK = 2.5e-3
"""Seconds per ``acquisition_time_stamp`` tick (the Siemens convention of siemens_to_ismrmrd)."""

TICK_PARAMETER = "TimeStampTick_s"
"""Header user parameter (double) recording the time-stamp tick in seconds."""

_GYROMAGNETIC_HZ_PER_T = 42.577478518e6  # proton gyromagnetic ratio / 2 pi
_UINT16_MAX = 65535
_UINT32_MAX = 2**32 - 1
# Acquisition flags (bit numbers counted from 1, ismrmrd.constants) of data that is not part of
# the image series.
_NON_IMAGING_FLAGS = {
    19: "noise",  # ACQ_IS_NOISE_MEASUREMENT
    20: "parallel calibration",  # ACQ_IS_PARALLEL_CALIBRATION
    23: "navigator",  # ACQ_IS_NAVIGATION_DATA
    24: "phase correction",  # ACQ_IS_PHASECORR_DATA
    26: "HP feedback",  # ACQ_IS_HPFEEDBACK_DATA
    27: "dummy scan",  # ACQ_IS_DUMMYSCAN_DATA
    28: "RT feedback",  # ACQ_IS_RTFEEDBACK_DATA
    29: "surface coil correction",  # ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA
    30: "phase stabilisation reference",  # ACQ_IS_PHASE_STABILIZATION_REFERENCE
    31: "phase stabilisation",  # ACQ_IS_PHASE_STABILIZATION
}


@dataclass(frozen=True)
class RadialSeries:
    """A multi-coil radial real-time series: k-space, trajectory and frame timing.

    Attributes
    ----------
    kspace
        complex64 ``(T, C, S, N)``: frames, coils, spokes per frame, samples per spoke.
    trajectory
        float32 ``(T, S, N, 2)``: radians per pixel in ``[-pi, pi]`` (``pi``: the Nyquist
        edge of the reconstruction matrix), last axis ``(kx, ky)``.
    frame_times
        float64 ``(T,)``: seconds from the first frame's first spoke to each frame's first
        spoke (the first is 0).
    matrix
        Reconstruction matrix ``(x, y)`` (header ``reconSpace`` ``matrixSize``).
    fov_mm
        Reconstruction field of view ``(x, y)`` in millimetres (``reconSpace``
        ``fieldOfView_mm``).
    path
        The file read.
    field_strength
        ``systemFieldStrength_T`` in tesla, if recorded.
    protocol
        ``measurementInformation`` ``protocolName``, if recorded.
    affine
        4x4 NIfTI voxel-to-world matrix (RAS, mm) of the reconstruction grid ``(x, y, slice)``
        from the acquisitions' position and direction cosines (see the module docstring).
    """

    kspace: np.ndarray
    trajectory: np.ndarray
    frame_times: np.ndarray
    matrix: tuple[int, int]
    fov_mm: tuple[float, float]
    path: Path
    field_strength: float | None = None
    protocol: str | None = None
    affine: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(4))

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.kspace.shape[0])

    @property
    def n_coils(self) -> int:
        """Number of receive coils ``C``."""
        return int(self.kspace.shape[1])

    @property
    def n_spokes(self) -> int:
        """Spokes per frame ``S``."""
        return int(self.kspace.shape[2])

    @property
    def n_samples(self) -> int:
        """Samples per spoke ``N``."""
        return int(self.kspace.shape[3])

    @property
    def frame_duration(self) -> float:
        """Median interval between consecutive frames, in seconds.

        Raises
        ------
        ValueError
            The series has a single frame, so no interval.
        """
        if self.frame_times.shape[0] < 2:
            raise ValueError("a series of one frame has no frame interval")
        return float(np.median(np.diff(self.frame_times)))


def _ismrmrd() -> ModuleType:
    import ismrmrd  # imported here: only raw-data studies need it (about 0.25 s to import)

    return ismrmrd


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _check_numbers(
    value: Sequence[Any], name: str, *, count: int, integer: bool
) -> tuple[Any, ...]:
    """``count`` positive integers or finite positive numbers, as a tuple of int or float."""
    words = {2: ("two", "(x, y)"), 3: ("three", "(x, y, z)")}[count]
    numbers = f"{name} must be {words[0]} numbers {words[1]}, got {value!r}"
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(numbers) from None
    if len(items) != count:
        raise ValueError(numbers)
    out = []
    for item in items:
        if isinstance(item, bool | np.bool_):
            raise ValueError(numbers)
        if integer:
            if not isinstance(item, int | np.integer) or item < 1:
                raise ValueError(
                    f"{name} must be {words[0]} positive integers {words[1]}, got {value!r}"
                )
            out.append(int(item))
        else:
            if not isinstance(item, int | float | np.integer | np.floating) or not (
                math.isfinite(float(item)) and float(item) > 0
            ):
                raise ValueError(
                    f"{name} must be {words[0]} positive numbers {words[1]}, got {value!r}"
                )
            out.append(float(item))
    return tuple(out)


def _check_pair(value: Sequence[Any], name: str, *, integer: bool) -> tuple[Any, Any]:
    first, second = _check_numbers(value, name, count=2, integer=integer)
    return first, second


def _numeric_array(value: Any, name: str, axes: Sequence[str]) -> np.ndarray:
    """``value`` as an array with one non-empty dimension per name in ``axes``, numeric;
    ``ValueError`` naming the array ``name`` and its ``axes`` otherwise."""
    array = np.asarray(value)
    if array.ndim != len(axes) or min(array.shape) == 0:
        raise ValueError(f"{name} must be non-empty ({', '.join(axes)}), got {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric (complex), got dtype {array.dtype}")
    return array


def _check_at_most(shape: tuple[int, ...], sizes: Sequence[int], limit: int, what: str) -> None:
    """Raise ``ValueError('at most {limit} {what}, got {shape}')`` if a size exceeds ``limit``
    (the room in an acquisition header's 16-bit field)."""
    if max(sizes) > limit:
        raise ValueError(f"at most {limit} {what}, got {shape}")


def _check_finite(array: np.ndarray, what: str, note: str = "") -> None:
    """Raise ``ValueError('{what} {count} NaN or infinite values{note}')`` if there are any
    (``what``: e.g. ``'kspace holds'``)."""
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{what} {bad} NaN or infinite values{note}")


def _finite_complex64(kspace: np.ndarray) -> np.ndarray:
    """``kspace`` cast to complex64, checked to hold no NaN or infinite value."""
    k = kspace.astype(np.complex64, copy=False)
    _check_finite(k, "kspace holds", " (after casting to complex64)")
    return k


def _real_vector(value: Any, name: str, length: int) -> np.ndarray:
    """``value`` as a float64 array of shape ``(length,)``, from real numbers; ``ValueError``
    naming ``name`` otherwise."""
    values = np.asarray(value)
    if values.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {values.shape}")
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise ValueError(f"{name} must be real numbers, got dtype {values.dtype}")
    return values.astype(np.float64)


def _checked_echo_times(echo_times: Any, n_echoes: int) -> np.ndarray:
    """``n_echoes`` echo times in seconds as float64: positive, at most 1 s (so not
    milliseconds) and strictly increasing; ``ValueError`` otherwise. Also used by
    :mod:`qmrflow.io.megre`."""
    times = _real_vector(echo_times, "echo_times", n_echoes)
    if not (np.isfinite(times).all() and (times > 0).all()):
        raise ValueError(f"echo_times must be positive seconds, got {times.tolist()}")
    if times.max() > 1.0:
        raise ValueError(
            f"echo_times must be in seconds, got up to {times.max():g} (milliseconds?)"
        )
    if (np.diff(times) <= 0).any():
        raise ValueError(f"echo_times must increase strictly, got {times.tolist()}")
    return times


def _positive_float(value: Any, message: str) -> float:
    """``value`` as a float if it is a finite positive number (not a bool), else
    ``ValueError(message)`` (a string that is no number: float's own ValueError)."""
    if isinstance(value, bool) or not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(message)
    return float(value)


def _checked_field_strength(field_strength: Any) -> float | None:
    """The main field in tesla as a float (None stays None); ``ValueError`` unless positive.
    Also used by :mod:`qmrflow.io.megre`."""
    if field_strength is None:
        return None
    return _positive_float(
        field_strength, f"field_strength must be positive tesla, got {field_strength!r}"
    )


def _checked_protocol(protocol: Any) -> str | None:
    """The protocol name (None stays None); ``ValueError`` unless a string."""
    if protocol is not None and not isinstance(protocol, str):
        raise ValueError(f"protocol must be a string, got {protocol!r}")
    return protocol


def _checked_affine(
    affine: np.ndarray | None, matrix: Sequence[int], fov_mm: Sequence[float]
) -> np.ndarray:
    """The writer's ``affine`` as a float64 4x4 array (None: :func:`_default_affine` of
    ``matrix`` and ``fov_mm``); ``ValueError`` unless 4x4."""
    if affine is None:
        affine = _default_affine(matrix, fov_mm)
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {affine.shape}")
    return affine


def _checked_arrays(
    kspace: np.ndarray, trajectory: np.ndarray, frame_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = _numeric_array(kspace, "kspace", ("frames", "coils", "spokes", "samples"))
    n_frames, n_coils, n_spokes, n_samples = k.shape
    _check_at_most(k.shape, (n_frames, n_spokes), _UINT16_MAX + 1, "frames and spokes per frame")
    _check_at_most(k.shape, (n_coils, n_samples), _UINT16_MAX, "coils and samples per spoke")
    traj = np.asarray(trajectory)
    if traj.shape != (n_frames, n_spokes, n_samples, 2):
        raise ValueError(
            f"trajectory must have shape (frames, spokes, samples, 2) = "
            f"{(n_frames, n_spokes, n_samples, 2)} to match kspace {k.shape}, got {traj.shape}"
        )
    if not np.issubdtype(traj.dtype, np.floating):
        raise ValueError(f"trajectory must be real floating point, got dtype {traj.dtype}")
    times = _real_vector(frame_times, "frame_times", n_frames)
    k = _finite_complex64(k)
    _check_finite(traj, "trajectory holds")
    reach = float(np.abs(traj).max())
    if reach > np.pi * (1 + 1e-5):
        raise ValueError(
            f"trajectory must be in radians per pixel within [-pi, pi], reaches {reach:.4g}"
        )
    if not np.isfinite(times).all():
        raise ValueError("frame_times hold NaN or infinite values")
    steps = np.diff(times)
    if (steps <= 0).any():
        frame = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise ValueError(
            f"frame_times must increase strictly: frame {frame} at {times[frame]:.6g} s "
            f"follows frame {frame - 1} at {times[frame - 1]:.6g} s"
        )
    return k, traj, times


def _spoke_stamps(times: np.ndarray, n_spokes: int, tick: float) -> np.ndarray:
    """Time stamps ``(T, S)`` in ticks: spokes spread evenly over each frame's interval."""
    relative = times - times[0]
    if relative.shape[0] > 1:
        intervals = np.diff(relative)
        intervals = np.append(intervals, np.median(intervals))
    else:
        intervals = np.zeros(1)
    spoke_times = relative[:, None] + intervals[:, None] * np.arange(n_spokes)[None, :] / n_spokes
    stamps = np.rint(spoke_times / tick)
    if stamps.max() > _UINT32_MAX:
        raise ValueError(
            f"the series lasts {relative[-1]:.6g} s, beyond the 32-bit time stamp at "
            f"tick {tick:g} s"
        )
    first = stamps[:, 0]
    if (np.diff(first) <= 0).any():
        frame = int(np.flatnonzero(np.diff(first) <= 0)[0]) + 1
        raise ValueError(
            f"frames {frame - 1} and {frame} start less than one time-stamp tick "
            f"({tick:g} s) apart; pass a smaller tick"
        )
    return stamps.astype(np.uint32)


def _limit(xsd: ModuleType, n: int, center: int) -> Any:
    """The encoding limit ``0 .. n - 1`` with ``center``."""
    return xsd.limitType(minimum=0, maximum=n - 1, center=center)


def _encoding_space(xsd: ModuleType, size: Sequence[int], fov_mm: Sequence[float]) -> Any:
    """An ``encodingSpaceType`` of matrix ``size`` (x, y, z) and field of view (x, y, z) mm."""
    return xsd.encodingSpaceType(
        matrixSize=xsd.matrixSizeType(x=size[0], y=size[1], z=size[2]),
        fieldOfView_mm=xsd.fieldOfViewMm(x=fov_mm[0], y=fov_mm[1], z=fov_mm[2]),
    )


def _scanner_header(
    xsd: ModuleType, field_strength: float | None, protocol: str | None, n_coils: int
) -> dict[str, Any]:
    """The ``ismrmrdHeader`` arguments both writers share: ``experimentalConditions`` (proton
    frequency from the field, 0 when unknown), ``acquisitionSystemInformation`` and
    ``measurementInformation`` (None without a protocol; patient position ``HFS``)."""
    return {
        "experimentalConditions": xsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=(
                0 if field_strength is None else round(field_strength * _GYROMAGNETIC_HZ_PER_T)
            )
        ),
        "acquisitionSystemInformation": xsd.acquisitionSystemInformationType(
            systemFieldStrength_T=field_strength, receiverChannels=n_coils
        ),
        "measurementInformation": (
            None
            if protocol is None
            else xsd.measurementInformationType(
                patientPosition=xsd.patientPositionType.HFS, protocolName=protocol
            )
        ),
    }


def _header_xml(
    matrix: tuple[int, int],
    fov_mm: tuple[float, float],
    shape: tuple[int, int, int, int],
    field_strength: float | None,
    protocol: str | None,
    tick: float,
    thickness: float = 0.0,
) -> str:
    xsd = _ismrmrd().xsd
    n_frames, n_coils, n_spokes, n_samples = shape
    size, fov = (matrix[0], matrix[1], 1), (fov_mm[0], fov_mm[1], thickness)
    encoding = xsd.encodingType(
        encodedSpace=_encoding_space(xsd, size, fov),
        reconSpace=_encoding_space(xsd, size, fov),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_0=_limit(xsd, n_samples, n_samples // 2),
            kspace_encoding_step_1=_limit(xsd, n_spokes, 0),
            repetition=_limit(xsd, n_frames, 0),
        ),
        trajectory=xsd.trajectoryType.RADIAL,
        trajectoryDescription=xsd.trajectoryDescriptionType(
            identifier="radial",
            comment=(
                "One acquisition per spoke; idx.repetition = frame, idx.kspace_encode_step_1 = "
                "spoke in frame; traj (kx, ky) in cycles per field of view, +-matrix/2 at the "
                "edge; acquisition_time_stamp in ticks of TimeStampTick_s seconds."
            ),
        ),
    )
    header = xsd.ismrmrdHeader(
        version=1,
        encoding=[encoding],
        **_scanner_header(xsd, field_strength, protocol, n_coils),
        userParameters=xsd.userParametersType(
            userParameterDouble=[xsd.userParameterDoubleType(name=TICK_PARAMETER, value=tick)]
        ),
    )
    return xsd.ToXML(header)


#: RAS <-> LPS (ISMRMRD and DICOM patient coordinates): x and y change sign.
_LPS = np.diag([-1.0, -1.0, 1.0])


def _centre_index(matrix: Sequence[int]) -> np.ndarray:
    """Voxel index of the grid centre ``(n - 1) / 2`` per axis; 0 along the slice of a 2-D grid."""
    centre = [(n - 1) / 2 for n in matrix]
    return np.array(centre + [0.0] * (3 - len(centre)), dtype=np.float64)


def _default_affine(matrix: Sequence[int], fov_mm: Sequence[float]) -> np.ndarray:
    """Axis-aligned grid centred on the origin; a 2-D slice (two-number matrix) is 1 mm thick."""
    sizes = [f / n for f, n in zip(fov_mm, matrix, strict=True)]
    affine = np.diag([*sizes, *[1.0] * (3 - len(sizes)), 1.0])
    affine[:3, 3] = -affine[:3, :3] @ _centre_index(matrix)
    return affine


def _geometry(
    affine: np.ndarray, matrix: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Position (LPS mm), read/phase/slice directions (LPS) and slice thickness of an affine.

    The position is the world point of the grid centre (:func:`_centre_index`): the slice
    centre of a 2-D ``matrix`` (x, y), the volume centre of a 3-D one (x, y, z).
    """
    columns = np.asarray(affine, dtype=np.float64)[:3, :3]
    sizes = np.linalg.norm(columns, axis=0)
    if not (np.all(np.isfinite(affine)) and np.all(sizes > 0)):
        raise ValueError("affine must be finite with non-zero voxel axes")
    directions = _LPS @ (columns / sizes)
    centre = np.asarray(affine)[:3, :3] @ _centre_index(matrix)
    centre = _LPS @ (centre + np.asarray(affine)[:3, 3])
    return centre, directions[:, 0], directions[:, 1], directions[:, 2], float(sizes[2])


def _grid_affine(head: np.ndarray, sizes: np.ndarray, centre: np.ndarray, path: Path) -> np.ndarray:
    """The NIfTI (RAS) affine of a grid of voxel ``sizes`` whose voxel ``centre`` lies at an
    acquisition header's ``position``, oriented by its direction cosines."""
    directions = np.stack(
        [
            np.asarray(head[name], dtype=np.float64)
            for name in ("read_dir", "phase_dir", "slice_dir")
        ],
        axis=1,
    )
    norms = np.linalg.norm(directions, axis=0)
    affine = np.eye(4)
    if not np.all(np.abs(norms - 1.0) < 1e-3):
        logger.warning(
            "%s: acquisitions carry no direction cosines (read/phase/slice_dir); the "
            "reconstruction grid gets an identity orientation centred on the origin",
            path,
        )
        affine[:3, :3] = np.diag(sizes)
        affine[:3, 3] = -affine[:3, :3] @ centre
        return affine
    columns = _LPS @ directions * sizes
    affine[:3, :3] = columns
    affine[:3, 3] = _LPS @ np.asarray(head["position"], dtype=np.float64) - columns @ centre
    return affine


def _affine_from(
    head: np.ndarray,
    matrix: tuple[int, int],
    fov_mm: tuple[float, float],
    thickness: float,
    path: Path,
) -> np.ndarray:
    """The NIfTI (RAS) affine of a radial series' slice from an acquisition header's geometry."""
    sizes = np.array(
        [fov_mm[0] / matrix[0], fov_mm[1] / matrix[1], thickness if thickness > 0 else 1.0]
    )
    return _grid_affine(head, sizes, _centre_index(matrix), path)


def write_radial_series(
    path: str | os.PathLike[str],
    kspace: np.ndarray,
    trajectory: np.ndarray,
    frame_times: np.ndarray,
    *,
    matrix: tuple[int, int],
    fov_mm: tuple[float, float],
    field_strength: float | None = None,
    protocol: str | None = None,
    tick: float = TIME_STAMP_TICK,
    affine: np.ndarray | None = None,
) -> None:
    """Write a radial real-time series as ISMRMRD HDF5, atomically.

    See the module docstring for the file conventions. The parent folder is created; on any
    failure nothing is left behind and an existing file at ``path`` is untouched.

    Parameters
    ----------
    path
        Destination (``.h5``).
    kspace
        ``(T, C, S, N)`` complex: frames, coils, spokes per frame, samples per spoke. Stored as
        complex64.
    trajectory
        ``(T, S, N, 2)`` real, radians per pixel in ``[-pi, pi]``, last axis ``(kx, ky)``.
    frame_times
        ``(T,)`` seconds of each frame's first spoke, strictly increasing. Stored relative to
        the first frame, rounded to the tick.
    matrix
        Reconstruction matrix ``(x, y)``, two positive integers; also the unit of the stored
        trajectory (cycles per field of view).
    fov_mm
        Field of view ``(x, y)`` in millimetres, positive.
    field_strength
        Main field in tesla (``systemFieldStrength_T``).
    protocol
        Protocol name (``protocolName``).
    tick
        Seconds per time-stamp tick, recorded in the header.
    affine
        NIfTI voxel-to-world matrix (RAS) of the reconstruction grid, stored as the slice's
        position and direction cosines (module docstring); None: an axis-aligned grid centred on
        the origin. Its in-plane voxel sizes should be ``fov_mm / matrix``.

    Raises
    ------
    ValueError
        Inconsistent shapes, NaN or infinite values, a trajectory outside ``[-pi, pi]``,
        frame times not strictly increasing (or closer than one tick), an invalid matrix,
        field of view, tick or field strength.
    """
    k, traj, times = _checked_arrays(kspace, trajectory, frame_times)
    matrix = _check_pair(matrix, "matrix", integer=True)
    fov_mm = _check_pair(fov_mm, "fov_mm", integer=False)
    tick = _positive_float(tick, f"tick must be a positive number of seconds, got {tick!r}")
    field_strength = _checked_field_strength(field_strength)
    protocol = _checked_protocol(protocol)
    n_frames, n_coils, n_spokes, n_samples = k.shape
    stamps = _spoke_stamps(times, n_spokes, tick)
    # radians per pixel -> cycles per field of view (+-N/2 at the edge), computed in float64
    scale = np.array(matrix, dtype=np.float64) / (2.0 * np.pi)
    traj_cycles = (traj.astype(np.float64) * scale).astype(np.float32)
    affine = _checked_affine(affine, matrix, fov_mm)
    position, read_dir, phase_dir, slice_dir, thickness = _geometry(affine, matrix)
    xml = _header_xml(matrix, fov_mm, k.shape, field_strength, protocol, tick, thickness)

    ismrmrd = _ismrmrd()
    acquisitions = []
    for frame in range(n_frames):
        for spoke in range(n_spokes):
            acq = ismrmrd.Acquisition.from_array(
                np.ascontiguousarray(k[frame, :, spoke, :]),
                np.ascontiguousarray(traj_cycles[frame, spoke]),
            )
            acq.version = 1
            acq.scan_counter = len(acquisitions)
            acq.acquisition_time_stamp = int(stamps[frame, spoke])
            acq.center_sample = n_samples // 2
            acq.position[:] = position
            acq.read_dir[:] = read_dir
            acq.phase_dir[:] = phase_dir
            acq.slice_dir[:] = slice_dir
            acq.idx.repetition = frame
            acq.idx.kspace_encode_step_1 = spoke
            for channel in range(n_coils):
                acq.setChannelActive(channel)
            if spoke == 0:
                acq.set_flag(ismrmrd.ACQ_FIRST_IN_REPETITION)
            if spoke == n_spokes - 1:
                acq.set_flag(ismrmrd.ACQ_LAST_IN_REPETITION)
            acquisitions.append(acq)
    acquisitions[-1].set_flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)

    _write_file(path, xml, acquisitions[0], _acquisition_records(acquisitions[1:]))
    logger.debug(
        "%s: wrote %d frames x %d coils x %d spokes x %d samples",
        path,
        n_frames,
        n_coils,
        n_spokes,
        n_samples,
    )


def _acquisition_records(acquisitions: list[Any]) -> np.ndarray:
    """``acquisitions`` as rows of the library's record type (``acquisition_dtype``), filled
    exactly as its ``write_acquisition`` fills one record, for :func:`_write_file`."""
    from ismrmrd.hdf5 import acquisition_dtype, acquisition_header_dtype

    records = np.empty(len(acquisitions), dtype=acquisition_dtype)
    if not acquisitions:
        return records
    records["head"] = np.frombuffer(
        b"".join(bytes(acq.getHead()) for acq in acquisitions), dtype=acquisition_header_dtype
    )
    for i, acq in enumerate(acquisitions):
        records[i]["data"] = acq.data.view(np.float32).reshape(-1)
        records[i]["traj"] = acq.traj.view(np.float32).reshape(-1)
    return records


def _write_file(path: str | os.PathLike[str], xml: str, first: Any, rest: np.ndarray) -> None:
    """Write an ISMRMRD file atomically: the XML header, then the acquisition ``first`` (an
    ``ismrmrd.Acquisition``) and the records ``rest`` (library record type).

    ``Dataset.append_acquisition`` grows the HDF5 dataset by one record per call (about 1.3 ms
    each: 3.5 s for 2640 spokes). It is called once, so that the library creates the dataset
    as it lays it out, then the rest is written in one HDF5 write.
    """
    ismrmrd = _ismrmrd()
    with atomic_output(path, suffix=".h5") as tmp:
        with ismrmrd.Dataset(str(tmp), "dataset", mode="w") as dataset:
            dataset.write_xml_header(xml)
            dataset.append_acquisition(first)
            if rest.shape[0]:
                table = dataset._dataset["data"]
                table.resize(1 + rest.shape[0], axis=0)
                table[1:] = rest


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class _Fail:
    """Raise InputDataError naming the subject and file."""

    def __init__(self, subject: str | None, path: Path) -> None:
        self.subject = subject
        self.path = path

    def __call__(self, message: str) -> InputDataError:
        return InputDataError(message, subject=self.subject, path=self.path)


def _missing_element(exc: TypeError) -> str:
    """``'... lacks the required element matrixSize (in encodingSpace)'`` from xsdata's error."""
    found = re.search(r"(\w+)\.__init__\(\) missing .*?argument\w*: (.*)", str(exc))
    if found is None:
        return f"the ISMRMRD XML header lacks a required element ({exc})"
    parent = found.group(1).removesuffix("Type")
    names = found.group(2).replace("'", "")
    return f"the ISMRMRD XML header lacks the required element {names} (in {parent})"


def _parse_header(xml: bytes | str, fail: _Fail) -> Any:
    """The ``ismrmrdHeader``; elements unknown to the schema are ignored with a warning."""
    xsd = _ismrmrd().xsd
    try:
        return xsd.CreateFromDocument(xml)
    except TypeError as exc:  # xsdata reports a missing required element as a TypeError
        raise fail(_missing_element(exc)) from exc
    except ValueError as exc:  # xsdata.exceptions.ParserError
        strict_error = exc
    # Unknown elements (a newer schema, vendor additions): read what the schema knows.
    from xsdata.formats.dataclass.parsers import XmlParser
    from xsdata.formats.dataclass.parsers.config import ParserConfig

    parser = XmlParser(config=ParserConfig(fail_on_unknown_properties=False))
    try:
        if isinstance(xml, str):
            header = parser.from_string(xml, xsd.ismrmrdHeader)
        else:
            header = parser.from_bytes(xml, xsd.ismrmrdHeader)
    except TypeError as exc:
        raise fail(_missing_element(exc)) from exc
    except ValueError as exc:
        raise fail(f"the ISMRMRD XML header is not valid XML: {exc}") from exc
    logger.warning(
        "%s: XML header has elements outside the ISMRMRD schema, ignored (%s)",
        fail.path,
        strict_error,
    )
    return header


def _first_encoding(header: Any, fail: _Fail) -> Any:
    """The header's first ``encoding`` (others are ignored with a warning); raises if none."""
    if not header.encoding:
        raise fail("the ISMRMRD XML header has no encoding")
    if len(header.encoding) > 1:
        logger.warning(
            "%s: header has %d encodings, the first is used", fail.path, len(header.encoding)
        )
    return header.encoding[0]


def _check_fov(values: Sequence[float | None], shown: object, fail: _Fail) -> None:
    """Raise unless every ``reconSpace`` ``fieldOfView_mm`` value is finite and positive;
    the message shows them as ``shown``."""
    if not all(v is not None and math.isfinite(v) and v > 0 for v in values):
        raise fail(f"the field of view (reconSpace fieldOfView_mm) is invalid: {shown}")


def _scanner_values(header: Any) -> dict[str, Any]:
    """``field_strength`` (tesla), ``protocol`` and ``receivers`` (``receiverChannels``) from
    the header, each None when not recorded."""
    system = header.acquisitionSystemInformation
    field = None if system is None else system.systemFieldStrength_T
    measurement = header.measurementInformation
    return {
        "receivers": None if system is None else system.receiverChannels,
        "field_strength": None if field is None else float(field),
        "protocol": None if measurement is None else measurement.protocolName,
    }


def _header_values(header: Any, fail: _Fail) -> dict[str, Any]:
    """Matrix, field of view, tick, field strength and protocol from the parsed header."""
    encoding = _first_encoding(header, fail)
    recon = encoding.reconSpace
    if recon is None or recon.matrixSize is None or recon.fieldOfView_mm is None:
        raise fail("the header's reconSpace has no matrixSize or fieldOfView_mm")
    size = recon.matrixSize
    if size.x is None or size.y is None or size.x < 2 or size.y < 2 or (size.z or 1) != 1:
        raise fail(
            f"the reconstruction matrix (header reconSpace matrixSize) must be 2-D, "
            f"got x={size.x}, y={size.y}, z={size.z}"
        )
    fov = recon.fieldOfView_mm
    _check_fov((fov.x, fov.y), f"{fov.x} x {fov.y}", fail)
    trajectory = getattr(encoding.trajectory, "value", encoding.trajectory)
    if trajectory not in ("radial", "goldenangle", "other"):
        logger.warning(
            "%s: header trajectory is %r, read as radial (per-acquisition traj)",
            fail.path,
            trajectory,
        )
    tick = TIME_STAMP_TICK
    if header.userParameters is not None:
        for parameter in header.userParameters.userParameterDouble:
            if parameter.name == TICK_PARAMETER:
                tick = parameter.value
        if not (tick is not None and math.isfinite(tick) and tick > 0):
            raise fail(f"header user parameter {TICK_PARAMETER} is not a positive time: {tick}")
    return {
        "matrix": (int(size.x), int(size.y)),
        "fov_mm": (float(fov.x), float(fov.y)),
        "thickness": float(fov.z) if fov.z is not None and math.isfinite(fov.z) else 0.0,
        "tick": float(tick),
        **_scanner_values(header),
    }


def _counts(values: np.ndarray) -> str:
    """``'2639 have 192, 1 has 190'``, most common first."""
    unique, counts = np.unique(values, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return ", ".join(
        f"{counts[i]} {'has' if counts[i] == 1 else 'have'} {unique[i]}" for i in order
    )


def _where(head: np.ndarray, i: int) -> str:
    """``'acquisition 17 (frame 1, spoke 6)'``, position as stored in the file."""
    idx = head["idx"][i]
    return f"acquisition {i} (frame {idx['repetition']}, spoke {idx['kspace_encode_step_1']})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _frames_phrase(frames: Sequence[int]) -> str:
    shown = ", ".join(str(f) for f in frames[:5])
    more = f" and {len(frames) - 5} more" if len(frames) > 5 else ""
    return f"frame {shown}" if len(frames) == 1 else f"frames {shown}{more}"


def _read_records(path: Path, fail: _Fail) -> tuple[bytes | str, np.ndarray]:
    """The XML header and the whole acquisition table of an ISMRMRD file, which is opened
    read-only and closed before returning, also on error."""
    if not path.is_file():
        raise fail("file not found")
    ismrmrd = _ismrmrd()
    try:
        dataset = ismrmrd.Dataset(str(path), "dataset", mode="r")
    except OSError as exc:
        raise fail(f"not a readable ISMRMRD HDF5 file (corrupt or truncated?): {exc}") from exc
    with dataset:
        try:
            group = dataset._dataset
        except LookupError:
            raise fail("no ISMRMRD 'dataset' group in the HDF5 file") from None
        try:
            xml = dataset.read_xml_header()
        except LookupError:
            raise fail("no ISMRMRD XML header (dataset/xml)") from None
        if "data" not in group or group["data"].shape[0] == 0:
            raise fail("the file holds no acquisitions (dataset/data is missing or empty)")
        try:
            # One bulk read through the library's h5py dataset: read_acquisition takes about
            # 3 ms per acquisition (8 s for 2640 spokes); this takes 0.1 s.
            records = group["data"][()]
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise fail(f"could not read the acquisitions (corrupt file?): {exc}") from exc
    if isinstance(xml, np.bytes_):
        xml = bytes(xml)
    if not xml or not xml.strip():
        raise fail("the ISMRMRD XML header is empty")
    return xml, records


def _read_file(
    path: str | os.PathLike[str], subject: str | None
) -> tuple[Path, _Fail, Any, np.ndarray]:
    """Read an ISMRMRD file for a reader: its path, the :class:`_Fail` naming ``subject`` and
    it, the parsed XML header and the acquisition table (:func:`_read_records`)."""
    path = Path(path)
    fail = _Fail(subject, path)
    xml, records = _read_records(path, fail)
    return path, fail, _parse_header(xml, fail), records


def read_radial_series(path: str | os.PathLike[str], *, subject: str | None = None) -> RadialSeries:
    """Read a radial real-time series from ISMRMRD HDF5 and check it is consistent.

    See the module docstring for the file conventions. The file is opened read-only and closed
    before returning, also on error.

    Parameters
    ----------
    path
        ISMRMRD HDF5 file (group ``dataset``).
    subject
        Participant label without ``sub-``, used in error messages.

    Returns
    -------
    RadialSeries
        k-space ``(T, C, S, N)`` complex64, trajectory ``(T, S, N, 2)`` float32 in radians per
        pixel, frame times ``(T,)`` in seconds from the first frame, and header values.

    Raises
    ------
    InputDataError
        The file is missing or not ISMRMRD HDF5, has no ``dataset`` group, no XML header or no
        acquisitions; an acquisition lacks its trajectory; acquisitions differ in samples or
        coils, frames in spokes, or a trajectory's length does not match its samples; the header
        matrix is missing or not 2-D; there is no frame timing (all time stamps equal, or frame
        times not strictly increasing); data or trajectory hold NaN or infinite values.
    """
    path, fail, header, records = _read_file(path, subject)
    values = _header_values(header, fail)
    kspace, trajectory, frame_times, first = _assemble(records, values, fail)
    affine = _affine_from(
        records["head"][first], values["matrix"], values["fov_mm"], values["thickness"], path
    )
    logger.debug(
        "sub-%s %s: read %d frames x %d coils x %d spokes x %d samples",
        subject,
        path,
        *kspace.shape,
    )
    return RadialSeries(
        kspace=kspace,
        trajectory=trajectory,
        frame_times=frame_times,
        matrix=values["matrix"],
        fov_mm=values["fov_mm"],
        path=path,
        field_strength=values["field_strength"],
        protocol=values["protocol"],
        affine=affine,
    )


def _line_counts(
    head: np.ndarray, keep: np.ndarray, samples: str, where: _Where, fail: _Fail
) -> tuple[int, int]:
    """``(n_samples, n_coils)`` of the kept acquisitions; raises if they differ or are 0.
    ``samples`` names the samples (``'samples per spoke'``, ``'readout samples'``)."""
    for field, what in (("number_of_samples", samples), ("active_channels", "coils")):
        counts = head[field][keep]
        if (counts != counts[0]).any():
            odd = keep[counts != np.bincount(counts).argmax()]
            raise fail(
                f"acquisitions differ in {what}: {_counts(counts)}; "
                f"e.g. {where(head, int(odd[0]))} has {int(head[field][odd[0]])}"
            )
        if counts[0] == 0:
            raise fail(f"the acquisitions have no {what} (0)")
    return int(head["number_of_samples"][keep[0]]), int(head["active_channels"][keep[0]])


def _check_data_lengths(
    datas: np.ndarray,
    head: np.ndarray,
    keep: np.ndarray,
    counts: tuple[int, int],
    where: _Where,
    fail: _Fail,
) -> None:
    """Raise unless every kept acquisition stores ``coils x samples`` complex values
    (``counts``: ``(n_samples, n_coils)``); ``where`` names the first that does not."""
    n_samples, n_coils = counts
    data_len = np.fromiter((datas[i].size for i in keep), dtype=np.int64, count=keep.size)
    if (data_len != 2 * n_coils * n_samples).any():
        j = int(np.flatnonzero(data_len != 2 * n_coils * n_samples)[0])
        raise fail(
            f"{where(head, int(keep[j]))} stores {data_len[j] // 2} complex values, expected "
            f"{n_coils} coils x {n_samples} samples"
        )


def _imaging(head: np.ndarray, fail: _Fail) -> np.ndarray:
    """Indices of the acquisitions that belong to the image series."""
    flags = head["flags"].astype(np.uint64)
    keep = np.ones(flags.shape[0], dtype=bool)
    skipped = []
    for bit, name in _NON_IMAGING_FLAGS.items():
        hit = (flags & np.uint64(1 << (bit - 1))) != 0
        if hit.any():
            skipped.append(f"{int(np.count_nonzero(hit & keep))} {name}")
            keep &= ~hit
    if skipped:
        logger.info("%s: skipped acquisitions that are not imaging data: %s", fail.path, skipped)
    if not keep.any():
        raise fail(
            f"the file holds no imaging acquisitions: all {flags.shape[0]} are other data "
            f"({', '.join(skipped)})"
        )
    return np.flatnonzero(keep)


def _assemble(
    records: np.ndarray, values: dict[str, Any], fail: _Fail
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validate the acquisition records and sort them into (T, C, S, N) arrays; also the index
    of the first imaging acquisition (whose geometry is the series')."""
    head, trajs, datas = records["head"], records["traj"], records["data"]
    keep = _imaging(head, fail)

    # Trajectory present, one sample and coil count for all.
    dims = head["trajectory_dimensions"][keep]
    if (dims < 2).any():
        bad = keep[dims < 2]
        raise fail(
            f"no trajectory in {bad.size} of {keep.size} acquisitions, first in "
            f"{_where(head, int(bad[0]))} (trajectory_dimensions "
            f"{int(head['trajectory_dimensions'][bad[0]])}); radial data needs the k-space "
            "position of every sample"
        )
    n_samples, n_coils = _line_counts(head, keep, "samples per spoke", _where, fail)

    # Stored lengths must match the header of each acquisition.
    traj_len = np.fromiter((trajs[i].size for i in keep), dtype=np.int64, count=keep.size)
    expected = n_samples * dims.astype(np.int64)
    if (traj_len != expected).any():
        j = int(np.flatnonzero(traj_len != expected)[0])
        raise fail(
            f"the trajectory length does not match the samples in "
            f"{_plural(int(np.count_nonzero(traj_len != expected)), 'acquisition')}: "
            f"{_where(head, int(keep[j]))} stores {traj_len[j]} trajectory values, expected "
            f"{n_samples} samples x {int(dims[j])} dimensions"
        )
    _check_data_lengths(datas, head, keep, (n_samples, n_coils), _where, fail)

    # Frames (idx.repetition), spokes within a frame (idx.kspace_encode_step_1).
    repetition = head["idx"]["repetition"][keep].astype(np.int64)
    spoke = head["idx"]["kspace_encode_step_1"][keep].astype(np.int64)
    order = np.lexsort((spoke, repetition))  # stable: ties keep file order
    keep, repetition = keep[order], repetition[order]
    frames, per_frame = np.unique(repetition, return_counts=True)
    if (per_frame != per_frame[0]).any():
        typical = int(np.bincount(per_frame).argmax())
        odd = frames[per_frame != typical]
        odd_counts = sorted({int(c) for c in per_frame[per_frame != typical]})
        has = " or ".join(str(c) for c in odd_counts)
        verb = "has" if odd.size == 1 else "have"
        raise fail(
            f"{_frames_phrase([int(f) for f in odd])} {verb} {has} spokes, the others {typical} "
            "(frames are idx.repetition; every frame needs the same number of spokes)"
        )
    if frames.size > 1 and (np.diff(frames) != 1).any():
        logger.warning(
            "%s: frame numbers (idx.repetition) have gaps: %d frames from %d to %d",
            fail.path,
            frames.size,
            frames[0],
            frames[-1],
        )
    n_frames, n_spokes = int(frames.size), int(per_frame[0])
    if len(set(zip(repetition.tolist(), spoke[order].tolist(), strict=True))) != keep.size:
        logger.warning(
            "%s: spoke numbers (idx.kspace_encode_step_1) repeat within frames; file order kept",
            fail.path,
        )

    # Frame timing from the first spoke of each frame.
    stamps = head["acquisition_time_stamp"][keep].astype(np.int64)
    if n_frames > 1 and (stamps == stamps[0]).all():
        raise fail(
            f"no frame timing: all {keep.size} acquisition time stamps are equal ({stamps[0]})"
        )
    first = stamps.reshape(n_frames, n_spokes)[:, 0]
    steps = np.diff(first)
    if (steps <= 0).any():
        j = int(np.flatnonzero(steps <= 0)[0])
        tick = values["tick"]
        raise fail(
            f"frame times are not strictly increasing: frame {frames[j + 1]} starts at "
            f"{(first[j + 1] - first[0]) * tick:.4f} s, frame {frames[j]} at "
            f"{(first[j] - first[0]) * tick:.4f} s (time stamps {first[j + 1]} and {first[j]}, "
            f"ticks of {tick:g} s)"
        )
    frame_times = (first - first[0]).astype(np.float64) * values["tick"]

    # Arrays: (T*S, C, N) -> (T, C, S, N); (T*S, N, D) -> (T, S, N, 2).
    data = np.stack([datas[i] for i in keep]).view(np.complex64)
    kspace = np.ascontiguousarray(
        data.reshape(n_frames, n_spokes, n_coils, n_samples).transpose(0, 2, 1, 3)
    )
    traj = np.stack([trajs[i].reshape(n_samples, -1)[:, :2] for i in keep]).reshape(
        n_frames, n_spokes, n_samples, 2
    )
    for name, array, axes in (("k-space", kspace, (1, 2, 3)), ("trajectory", traj, (1, 2, 3))):
        bad = np.count_nonzero(~np.isfinite(array), axis=axes)
        if bad.any():
            hit = np.flatnonzero(bad)
            raise fail(
                f"{name} holds {_plural(int(bad.sum()), 'NaN or infinite value')} in "
                f"{_frames_phrase([int(frames[f]) for f in hit])}"
            )
    scale = 2.0 * np.pi / np.array(values["matrix"], dtype=np.float64)
    trajectory = (traj.astype(np.float64) * scale).astype(np.float32)
    reach = float(np.abs(trajectory).max())
    if reach > np.pi * 1.001:
        logger.warning(
            "%s: trajectory reaches %.3f rad/pixel, beyond the Nyquist edge (pi) of the "
            "%dx%d reconSpace matrix; check the trajectory unit (cycles per field of view)",
            fail.path,
            reach,
            *values["matrix"],
        )
    return kspace, trajectory, frame_times, int(keep[0])


# --------------------------------------------------------------------------------------------
# Cartesian multi-echo 3-D k-space
# --------------------------------------------------------------------------------------------

# Acquisition flags (bit numbers counted from 1, ismrmrd.constants) the Cartesian writer sets.
_ACQ_FIRST_IN_ENCODE_STEP1 = 1
_ACQ_LAST_IN_ENCODE_STEP1 = 2
_ACQ_FIRST_IN_ENCODE_STEP2 = 3
_ACQ_LAST_IN_ENCODE_STEP2 = 4
_ACQ_FIRST_IN_SLICE = 7
_ACQ_LAST_IN_SLICE = 8
_ACQ_IS_REVERSE = 22
_ACQ_LAST_IN_MEASUREMENT = 25


def _bit(number: int) -> np.uint64:
    return np.uint64(1 << (number - 1))


@dataclass(frozen=True)
class CartesianEchoes:
    """Multi-coil, multi-echo 3-D Cartesian k-space on the reconstruction grid.

    Attributes
    ----------
    kspace
        complex64 ``(C, E, X, Y, Z)``: coils, echoes, and the reconstruction matrix, centred
        (DC at index ``n // 2`` per axis, the convention of
        :func:`qmrflow.recon.fourier.fftc` with ``axes=(-3, -2, -1)``). The acquired block
        (``encoded``) sits at the centre; the rest is zero.
    echo_times
        float64 ``(E,)``: seconds, strictly increasing.
    matrix
        Reconstruction matrix ``(X, Y, Z)`` (header ``reconSpace`` ``matrixSize``).
    encoded
        The acquired matrix ``(x, y, z)`` (header ``encodedSpace`` ``matrixSize``), at most
        ``matrix`` per axis: smaller for a low-resolution (e.g. 3D-EPI) acquisition.
    fov_mm
        Reconstruction field of view ``(x, y, z)`` in millimetres (``reconSpace``
        ``fieldOfView_mm``).
    path
        The file read.
    field_strength
        ``systemFieldStrength_T`` in tesla, if recorded.
    protocol
        ``measurementInformation`` ``protocolName``, if recorded.
    affine
        4x4 NIfTI voxel-to-world matrix (RAS, mm) of the reconstruction grid, from the
        acquisitions' position (the volume centre) and direction cosines.
    """

    kspace: np.ndarray
    echo_times: np.ndarray
    matrix: tuple[int, int, int]
    encoded: tuple[int, int, int]
    fov_mm: tuple[float, float, float]
    path: Path
    field_strength: float | None = None
    protocol: str | None = None
    affine: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(4))

    @property
    def n_coils(self) -> int:
        """Number of receive coils ``C``."""
        return int(self.kspace.shape[0])

    @property
    def n_echoes(self) -> int:
        """Number of echoes ``E``."""
        return int(self.kspace.shape[1])

    @property
    def voxel_mm(self) -> tuple[float, float, float]:
        """Voxel size of the reconstruction grid in millimetres, ``fov_mm / matrix``."""
        x, y, z = (f / n for f, n in zip(self.fov_mm, self.matrix, strict=True))
        return x, y, z


def _checked_echoes(kspace: np.ndarray, echo_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = _numeric_array(kspace, "kspace", ("coils", "echoes", "x", "y", "z"))
    n_coils, n_echoes, nx, ny, nz = k.shape
    _check_at_most(k.shape, (n_coils, nx), _UINT16_MAX, "coils and readout samples")
    _check_at_most(k.shape, (n_echoes, ny, nz), _UINT16_MAX + 1, "echoes and y or z encodings")
    return _finite_complex64(k), _checked_echo_times(echo_times, n_echoes)


def _cartesian_header_xml(
    matrix: tuple[int, int, int],
    encoded: tuple[int, int, int],
    fov_mm: tuple[float, float, float],
    echo_times: np.ndarray,
    n_coils: int,
    field_strength: float | None,
    protocol: str | None,
) -> str:
    xsd = _ismrmrd().xsd
    encoding = xsd.encodingType(
        # The acquired centre has the recon grid's k-space step, hence its field of view.
        encodedSpace=_encoding_space(xsd, encoded, fov_mm),
        reconSpace=_encoding_space(xsd, matrix, fov_mm),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_0=_limit(xsd, encoded[0], encoded[0] // 2),
            kspace_encoding_step_1=_limit(xsd, encoded[1], encoded[1] // 2),
            kspace_encoding_step_2=_limit(xsd, encoded[2], encoded[2] // 2),
            contrast=_limit(xsd, echo_times.size, 0),
        ),
        trajectory=xsd.trajectoryType.CARTESIAN,
    )
    header = xsd.ismrmrdHeader(
        version=1,
        encoding=[encoding],
        sequenceParameters=xsd.sequenceParametersType(
            TE=[float(te * 1e3) for te in echo_times]  # ISMRMRD stores TE in milliseconds
        ),
        **_scanner_header(xsd, field_strength, protocol, n_coils),
    )
    return xsd.ToXML(header)


def _block_start(matrix: Sequence[int], encoded: Sequence[int]) -> tuple[int, ...]:
    """First recon-grid index of the acquired centre: its DC (``m // 2``) lands on ``n // 2``."""
    return tuple(n // 2 - m // 2 for n, m in zip(matrix, encoded, strict=True))


def _cartesian_records(
    k: np.ndarray,
    encoded: tuple[int, int, int],
    geometry: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
) -> np.ndarray:
    """The acquisition table (library record type): one readout line per (kz, ky, echo) of
    the acquired centre, built as arrays (no ``ismrmrd.Acquisition`` per line)."""
    from ismrmrd.hdf5 import acquisition_dtype

    n_coils, n_echoes = k.shape[:2]
    ex, ey, ez = encoded
    sx, sy, sz = _block_start(k.shape[2:], encoded)
    block = k[:, :, sx : sx + ex, sy : sy + ey, sz : sz + ez]
    # (C, E, x, y, z) -> lines in loop order kz, ky, echo; each line (coils, samples).
    lines = np.ascontiguousarray(block.transpose(4, 3, 1, 0, 2)).reshape(-1, n_coils * ex)
    floats = lines.view(np.float32)
    kz, ky, echo = (a.ravel() for a in np.indices((ez, ey, n_echoes)))
    n_lines = lines.shape[0]

    records = np.zeros(n_lines, dtype=acquisition_dtype)
    head = records["head"]
    head["version"] = 1
    head["scan_counter"] = np.arange(n_lines)
    head["number_of_samples"] = ex
    head["available_channels"] = n_coils
    head["active_channels"] = n_coils
    mask = np.zeros(16, dtype=np.uint64)
    for channel in range(n_coils):  # at most a few dozen coils
        mask[channel // 64] |= np.uint64(1 << (channel % 64))
    head["channel_mask"] = mask
    head["center_sample"] = ex // 2
    position, read_dir, phase_dir, slice_dir, _ = geometry
    head["position"] = position
    head["read_dir"] = read_dir
    head["phase_dir"] = phase_dir
    head["slice_dir"] = slice_dir
    head["idx"]["kspace_encode_step_1"] = ky
    head["idx"]["kspace_encode_step_2"] = kz
    head["idx"]["contrast"] = echo
    flags = np.zeros(n_lines, dtype=np.uint64)
    flags[ky == 0] |= _bit(_ACQ_FIRST_IN_ENCODE_STEP1)
    flags[ky == ey - 1] |= _bit(_ACQ_LAST_IN_ENCODE_STEP1)
    flags[kz == 0] |= _bit(_ACQ_FIRST_IN_ENCODE_STEP2)
    flags[kz == ez - 1] |= _bit(_ACQ_LAST_IN_ENCODE_STEP2)
    flags[0] |= _bit(_ACQ_FIRST_IN_SLICE)
    flags[-1] |= _bit(_ACQ_LAST_IN_SLICE) | _bit(_ACQ_LAST_IN_MEASUREMENT)
    head["flags"] = flags
    # Variable-length fields hold one array object per record; this loop only stores
    # references (a few ms for 10^4 lines).
    data, traj = records["data"], records["traj"]
    no_trajectory = np.zeros(0, dtype=np.float32)
    for i in range(n_lines):
        data[i] = floats[i]
        traj[i] = no_trajectory
    return records


def _first_acquisition(records: np.ndarray) -> Any:
    """The first record of a Cartesian acquisition table (no trajectory) as an
    ``ismrmrd.Acquisition``, for :func:`_write_file`."""
    first = _ismrmrd().Acquisition(records["head"][0])
    first.data[:] = records["data"][0].view(np.complex64).reshape(first.data.shape)
    return first


def write_cartesian_echoes(
    path: str | os.PathLike[str],
    kspace: np.ndarray,
    echo_times: np.ndarray,
    *,
    fov_mm: tuple[float, float, float],
    encoded: tuple[int, int, int] | None = None,
    affine: np.ndarray | None = None,
    field_strength: float | None = None,
    protocol: str | None = None,
) -> Path:
    """Write multi-coil, multi-echo 3-D Cartesian k-space as ISMRMRD HDF5, atomically.

    One acquisition per readout line of the acquired centre: readout along x (the central
    ``encoded[0]`` samples, ``center_sample = encoded[0] // 2``), one line per
    ``(ky, kz, echo)`` of the central ``encoded`` block, stored in the loop order kz, ky,
    echo with ``idx.kspace_encode_step_1 = ky``, ``idx.kspace_encode_step_2 = kz`` (counted
    within the acquired block) and ``idx.contrast = echo``. See the module docstring for the
    header. The parent folder is created; on failure nothing is left behind.

    Parameters
    ----------
    path
        Destination (``.h5``).
    kspace
        ``(C, E, X, Y, Z)`` complex k-space on the full reconstruction matrix, centred (DC at
        ``n // 2``, :func:`qmrflow.recon.fourier.fftc` with ``axes=(-3, -2, -1)``). Only the
        central ``encoded`` block is stored (as complex64); the rest is dropped.
    echo_times
        ``(E,)`` seconds, positive and strictly increasing.
    fov_mm
        Reconstruction field of view ``(x, y, z)`` in millimetres.
    encoded
        Acquired matrix ``(x, y, z)``, at most ``(X, Y, Z)``; None: all of it.
    affine
        NIfTI voxel-to-world matrix (RAS) of the reconstruction grid, stored as the
        acquisitions' position (volume centre) and direction cosines; its voxel sizes must be
        ``fov_mm / (X, Y, Z)``. None: an axis-aligned grid centred on the origin.
    field_strength
        Main field in tesla (``systemFieldStrength_T``).
    protocol
        Protocol name (``protocolName``).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        A kspace that is not 5-D or holds NaN or infinite values; echo times of the wrong
        shape, not positive, not strictly increasing or above 1 s; an invalid field of view,
        encoded matrix (larger than the recon matrix), affine (voxel sizes not
        ``fov_mm / matrix``), field strength or protocol.
    """
    k, times = _checked_echoes(kspace, echo_times)
    n_coils = int(k.shape[0])
    matrix = (int(k.shape[2]), int(k.shape[3]), int(k.shape[4]))
    fov = _check_numbers(fov_mm, "fov_mm", count=3, integer=False)
    acquired = (
        matrix if encoded is None else _check_numbers(encoded, "encoded", count=3, integer=True)
    )
    if any(m > n for m, n in zip(acquired, matrix, strict=True)):
        raise ValueError(f"encoded {acquired} must not exceed the kspace matrix {matrix}")
    field_strength = _checked_field_strength(field_strength)
    protocol = _checked_protocol(protocol)
    voxel = np.array(fov) / np.array(matrix)
    affine = _checked_affine(affine, matrix, fov)
    geometry = _geometry(affine, matrix)
    sizes = np.linalg.norm(affine[:3, :3], axis=0)
    if not np.allclose(sizes, voxel, rtol=1e-4, atol=0):
        raise ValueError(
            f"the affine's voxel sizes {np.round(sizes, 6).tolist()} mm do not match "
            f"fov_mm / matrix = {np.round(voxel, 6).tolist()} mm"
        )
    xml = _cartesian_header_xml(matrix, acquired, fov, times, n_coils, field_strength, protocol)
    records = _cartesian_records(k, acquired, geometry)
    _write_file(path, xml, _first_acquisition(records), records[1:])
    logger.debug(
        "%s: wrote %d coils x %d echoes, %s of the %s matrix (%d lines)",
        path,
        n_coils,
        times.size,
        acquired,
        matrix,
        records.shape[0],
    )
    return Path(path)


def _size3(space: Any, what: str, fail: _Fail) -> tuple[int, int, int]:
    size = space.matrixSize
    values = (size.x, size.y, 1 if size.z is None else size.z)
    if not all(isinstance(v, int) and v >= 1 for v in values):
        raise fail(f"the {what} matrix (header {what} matrixSize) is invalid: {values}")
    return int(values[0]), int(values[1]), int(values[2])


def _cartesian_header(header: Any, fail: _Fail) -> dict[str, Any]:
    """Matrices, field of view, k-space centres, echo times, field strength and protocol."""
    encoding = _first_encoding(header, fail)
    trajectory = getattr(encoding.trajectory, "value", encoding.trajectory)
    if trajectory not in ("cartesian", "epi"):
        raise fail(f"the header's trajectory is {trajectory!r}; Cartesian k-space is expected")
    matrix = _size3(encoding.reconSpace, "reconSpace", fail)
    encoded = _size3(encoding.encodedSpace, "encodedSpace", fail)
    fov = encoding.reconSpace.fieldOfView_mm
    fov_mm = (fov.x, fov.y, fov.z)
    _check_fov(fov_mm, fov_mm, fail)
    larger = [axis for axis, m, n in zip("xyz", encoded, matrix, strict=True) if m > n]
    if larger:
        efov = encoding.encodedSpace.fieldOfView_mm
        hint = ""
        if "x" in larger and efov.x is not None and efov.x > 1.5 * fov_mm[0]:
            hint = " (readout oversampling? remove it before reading)"
        raise fail(
            f"the encoded matrix (encodedSpace matrixSize {encoded[0]}x{encoded[1]}x"
            f"{encoded[2]}) is larger than the reconstruction matrix (reconSpace "
            f"{matrix[0]}x{matrix[1]}x{matrix[2]}) along {', '.join(larger)}{hint}; the "
            "acquired k-space must fit inside the reconstruction matrix"
        )
    efov = encoding.encodedSpace.fieldOfView_mm
    efov_mm = (efov.x, efov.y, efov.z)
    if not all(
        e is not None and math.isclose(e, r, rel_tol=1e-3)
        for e, r in zip(efov_mm, fov_mm, strict=True)
    ):
        logger.warning(
            "%s: the encoded field of view %s mm differs from the reconstruction one %s mm; "
            "the acquired lines are placed at the centre of the reconstruction matrix as if "
            "the k-space step were the same",
            fail.path,
            efov_mm,
            fov_mm,
        )
    limits = encoding.encodingLimits
    centres = []
    for axis, n in ((1, encoded[1]), (2, encoded[2])):
        limit = None if limits is None else getattr(limits, f"kspace_encoding_step_{axis}")
        centres.append(n // 2 if limit is None or limit.center is None else int(limit.center))
    sequence = header.sequenceParameters
    te_ms = [] if sequence is None else list(sequence.TE)
    if not te_ms:
        raise fail("no echo times: the header has no sequenceParameters TE")
    te = np.asarray(te_ms, dtype=np.float64)
    if not (np.isfinite(te).all() and (te > 0).all()):
        raise fail(f"the echo times (sequenceParameters TE) are not positive: {te_ms} ms")
    if (np.diff(te) <= 0).any():
        raise fail(
            f"the echo times (sequenceParameters TE) are not strictly increasing: {te_ms} ms"
        )
    return {
        "matrix": matrix,
        "encoded": encoded,
        "fov_mm": (float(fov_mm[0]), float(fov_mm[1]), float(fov_mm[2])),
        "centres": tuple(centres),
        "echo_times": te / 1e3,  # ISMRMRD stores milliseconds
        **_scanner_values(header),
    }


def _line(head: np.ndarray, i: int) -> str:
    """``'acquisition 17 (contrast 1, kspace_encode_step_1 5, kspace_encode_step_2 0)'``."""
    idx = head["idx"][i]
    return (
        f"acquisition {i} (contrast {idx['contrast']}, kspace_encode_step_1 "
        f"{idx['kspace_encode_step_1']}, kspace_encode_step_2 {idx['kspace_encode_step_2']})"
    )


def _assemble_cartesian(
    records: np.ndarray, values: dict[str, Any], fail: _Fail
) -> tuple[np.ndarray, int]:
    """Validate the readout lines and zero-fill them into ``(C, E, X, Y, Z)``; also the index
    of the first imaging acquisition (whose geometry is the volume's)."""
    head, datas = records["head"], records["data"]
    keep = _imaging(head, fail)
    reverse = (head["flags"][keep].astype(np.uint64) & _bit(_ACQ_IS_REVERSE)) != 0
    if reverse.any():
        raise fail(
            f"{int(np.count_nonzero(reverse))} of {keep.size} lines are flagged ACQ_IS_REVERSE "
            "(EPI readouts in alternating directions): raw EPI lines need ramp-sampling "
            "regridding and ghost correction before they can be read as Cartesian k-space"
        )

    # One sample and coil count for all lines; stored lengths match.
    n_samples, n_coils = _line_counts(head, keep, "readout samples", _line, fail)
    _check_data_lengths(datas, head, keep, (n_samples, n_coils), _line, fail)
    receivers = values["receivers"]
    if receivers is not None and receivers != n_coils:
        logger.warning(
            "%s: header receiverChannels is %d, the data has %d coils",
            fail.path,
            receivers,
            n_coils,
        )

    # Readout placement: the centre sample goes to X // 2.
    (nx, ny, nz), (ex, ey, ez) = values["matrix"], values["encoded"]
    if n_samples > ex:
        raise fail(
            f"the lines have {n_samples} readout samples, more than the encoded matrix "
            f"(encodedSpace matrixSize x = {ex})"
        )
    centre_sample = head["center_sample"][keep]
    if (centre_sample != centre_sample[0]).any():
        raise fail(f"acquisitions differ in center_sample: {_counts(centre_sample)}")
    # 0 is what converters leave when they do not record the echo position: take the middle.
    centre = int(centre_sample[0]) or n_samples // 2
    x0 = nx // 2 - centre
    if x0 < 0 or x0 + n_samples > nx:
        raise fail(
            f"readouts of {n_samples} samples centred at sample {centre} (center_sample) do not "
            f"fit the reconstruction matrix x = {nx} centred at {nx // 2}"
        )

    # Phase encodes within the encoded matrix, one slab, echoes 0..E-1.
    idx = head["idx"][keep]
    ky = idx["kspace_encode_step_1"].astype(np.int64)
    kz = idx["kspace_encode_step_2"].astype(np.int64)
    contrast = idx["contrast"].astype(np.int64)
    outside = (ky >= ey) | (kz >= ez)
    if outside.any():
        j = int(np.flatnonzero(outside)[0])
        raise fail(
            f"encode steps outside the encoded matrix (encodedSpace matrixSize {ex}x{ey}x{ez}) "
            f"in {_plural(int(np.count_nonzero(outside)), 'line')}, first "
            f"{_line(head, int(keep[j]))}"
        )
    y = ny // 2 - values["centres"][0] + ky
    z = nz // 2 - values["centres"][1] + kz
    off = (y < 0) | (y >= ny) | (z < 0) | (z >= nz)
    if off.any():
        j = int(np.flatnonzero(off)[0])
        raise fail(
            f"with the k-space centre at encode steps {values['centres']} (encodingLimits "
            f"center), {_plural(int(np.count_nonzero(off)), 'line')} fall outside the "
            f"reconstruction matrix {ny} x {nz} (y, z), first {_line(head, int(keep[j]))}"
        )
    slices = np.unique(idx["slice"])
    if slices.size > 1:
        raise fail(
            f"the lines belong to {slices.size} slices (idx.slice {slices[:5].tolist()}...): "
            "3-D Cartesian data has a single slab"
        )
    n_echoes = int(values["echo_times"].size)
    present = np.unique(contrast)
    if present[-1] >= n_echoes:
        raise fail(
            f"the data has {int(present[-1]) + 1} echoes (idx.contrast up to {present[-1]}) but "
            f"the header lists {_plural(n_echoes, 'echo time')} (sequenceParameters TE)"
        )
    missing = sorted(set(range(n_echoes)) - {int(c) for c in present})
    if missing:
        raise fail(
            f"missing echoes: no lines for contrast {', '.join(map(str, missing))} (idx.contrast)"
            f"; the header lists {_plural(n_echoes, 'echo time')}"
        )

    # Every echo has the same lines; lines never acquired (partial Fourier) stay zero.
    plane = ky * ez + kz
    acquired = np.zeros((n_echoes, ey * ez), dtype=bool)
    acquired[contrast, plane] = True
    anywhere = acquired.any(axis=0)
    lacking = anywhere & ~acquired
    if lacking.any():
        echo, first = (int(v[0]) for v in np.nonzero(lacking))
        per_echo = lacking.sum(axis=1)
        others = [f"contrast {e} lacks {int(n)}" for e, n in enumerate(per_echo) if n]
        raise fail(
            f"missing lines for some echoes: {'; '.join(others)} of the "
            f"{int(anywhere.sum())} lines the other echoes have (first: contrast {echo}, "
            f"kspace_encode_step_1 {first // ez}, kspace_encode_step_2 {first % ez})"
        )
    if not anywhere.all():
        logger.warning(
            "%s: %d of the %d encoded lines (%d x %d) were not acquired; they are zero-filled "
            "(partial Fourier or undersampling)",
            fail.path,
            int((~anywhere).sum()),
            ey * ez,
            ey,
            ez,
        )

    data = np.stack([datas[i] for i in keep]).view(np.complex64)
    data = data.reshape(keep.size, n_coils, n_samples)
    bad = np.count_nonzero(~np.isfinite(data), axis=(1, 2))
    if bad.any():
        per_echo = np.bincount(contrast, weights=bad, minlength=n_echoes).astype(np.int64)
        where = ", ".join(f"contrast {e}" for e in np.flatnonzero(per_echo))
        raise fail(f"k-space holds {_plural(int(bad.sum()), 'NaN or infinite value')} in {where}")

    # Lines stored more than once (averages, repetitions) are averaged.
    key = contrast * (ey * ez) + plane
    counts = np.unique(key, return_counts=True)[1]
    if counts.max() > 1:
        logger.info(
            "%s: %d lines were acquired more than once (averages or repetitions): averaged",
            fail.path,
            int(np.count_nonzero(counts > 1)),
        )
        order = np.argsort(key, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        data = np.add.reduceat(data[order], starts, axis=0) / counts[:, None, None]
        data = data.astype(np.complex64, copy=False)
        contrast, y, z = contrast[order][starts], y[order][starts], z[order][starts]
    full = np.zeros((n_echoes, ny, nz, n_coils, nx), dtype=np.complex64)
    full[contrast, y, z, :, x0 : x0 + n_samples] = data
    kspace = np.ascontiguousarray(full.transpose(3, 0, 4, 1, 2))
    return kspace, int(keep[0])


def read_cartesian_echoes(
    path: str | os.PathLike[str], *, subject: str | None = None
) -> CartesianEchoes:
    """Read multi-echo 3-D Cartesian k-space from ISMRMRD HDF5 and check it is consistent.

    Lines are placed by ``idx.contrast`` (echo), ``idx.kspace_encode_step_1`` (y) and
    ``idx.kspace_encode_step_2`` (z), whatever their order in the file; the acquired centre is
    zero-filled into the reconstruction matrix with the k-space centre (``center_sample`` and
    the encodingLimits ``center`` of steps 1 and 2) at index ``n // 2`` of every axis. Lines
    stored more than once are averaged; lines flagged as noise, navigator, calibration-only or
    other non-imaging data are skipped. See the module docstring for the header fields.

    Parameters
    ----------
    path
        ISMRMRD HDF5 file (group ``dataset``).
    subject
        Participant label without ``sub-``, used in error messages.

    Returns
    -------
    CartesianEchoes
        k-space ``(C, E, X, Y, Z)`` complex64, echo times in seconds, matrices, field of view,
        affine and header values.

    Raises
    ------
    InputDataError
        The file is missing or not ISMRMRD HDF5, has no header or no (imaging) acquisitions;
        the header has no echo times (sequenceParameters TE), non-increasing ones, or a
        number different from the echoes (idx.contrast) in the data; an echo has no lines or
        lacks lines the others have; lines differ in samples or coils; encode steps lie
        outside the encoded matrix; the encoded matrix is larger than the reconstruction
        matrix; the trajectory is not Cartesian; lines are EPI-reversed; samples are NaN or
        infinite.
    """
    path, fail, header, records = _read_file(path, subject)
    values = _cartesian_header(header, fail)
    kspace, first = _assemble_cartesian(records, values, fail)
    sizes = np.array(values["fov_mm"]) / np.array(values["matrix"])
    affine = _grid_affine(records["head"][first], sizes, _centre_index(values["matrix"]), path)
    logger.debug(
        "sub-%s %s: read %d coils x %d echoes x %s",
        subject,
        path,
        *kspace.shape[:2],
        values["matrix"],
    )
    return CartesianEchoes(
        kspace=kspace,
        echo_times=values["echo_times"],
        matrix=values["matrix"],
        encoded=values["encoded"],
        fov_mm=values["fov_mm"],
        path=path,
        field_strength=values["field_strength"],
        protocol=values["protocol"],
        affine=affine,
    )
