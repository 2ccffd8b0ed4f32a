"""Multi-coil radial real-time MRI k-space as ISMRMRD HDF5, validated at the boundary.

:func:`write_radial_series` stores a radial series (a simulator's output) and
:func:`read_radial_series` reads one back, or a user's own file (e.g. converted from Siemens raw
data by ``siemens_to_ismrmrd``), as a :class:`RadialSeries` of plain arrays. All file access
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

Import with ``from qmrflow.io import RadialSeries, read_radial_series, write_radial_series``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qmrflow.errors import InputDataError
from qmrflow.io.atomic import atomic_output

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["TIME_STAMP_TICK", "RadialSeries", "read_radial_series", "write_radial_series"]

logger = logging.getLogger(__name__)

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


def _check_pair(value: Sequence[Any], name: str, *, integer: bool) -> tuple[Any, Any]:
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be two numbers (x, y), got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be two numbers (x, y), got {value!r}")
    out = []
    for item in items:
        if isinstance(item, bool | np.bool_):
            raise ValueError(f"{name} must be two numbers (x, y), got {value!r}")
        if integer:
            if not isinstance(item, int | np.integer) or item < 1:
                raise ValueError(f"{name} must be two positive integers (x, y), got {value!r}")
            out.append(int(item))
        else:
            if not isinstance(item, int | float | np.integer | np.floating):
                raise ValueError(f"{name} must be two positive numbers (x, y), got {value!r}")
            if not (math.isfinite(float(item)) and float(item) > 0):
                raise ValueError(f"{name} must be two positive numbers (x, y), got {value!r}")
            out.append(float(item))
    return out[0], out[1]


def _checked_arrays(
    kspace: np.ndarray, trajectory: np.ndarray, frame_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = np.asarray(kspace)
    if k.ndim != 4 or min(k.shape) == 0:
        raise ValueError(
            f"kspace must be non-empty (frames, coils, spokes, samples), got {k.shape}"
        )
    if not np.issubdtype(k.dtype, np.number):
        raise ValueError(f"kspace must be numeric (complex), got dtype {k.dtype}")
    n_frames, n_coils, n_spokes, n_samples = k.shape
    if n_frames - 1 > _UINT16_MAX or n_spokes - 1 > _UINT16_MAX:
        raise ValueError(f"at most {_UINT16_MAX + 1} frames and spokes per frame, got {k.shape}")
    if n_coils > _UINT16_MAX or n_samples > _UINT16_MAX:
        raise ValueError(f"at most {_UINT16_MAX} coils and samples per spoke, got {k.shape}")
    traj = np.asarray(trajectory)
    if traj.shape != (n_frames, n_spokes, n_samples, 2):
        raise ValueError(
            f"trajectory must have shape (frames, spokes, samples, 2) = "
            f"{(n_frames, n_spokes, n_samples, 2)} to match kspace {k.shape}, got {traj.shape}"
        )
    if not np.issubdtype(traj.dtype, np.floating):
        raise ValueError(f"trajectory must be real floating point, got dtype {traj.dtype}")
    times = np.asarray(frame_times)
    if times.shape != (n_frames,):
        raise ValueError(f"frame_times must have shape ({n_frames},), got {times.shape}")
    if not np.issubdtype(times.dtype, np.number) or np.issubdtype(times.dtype, np.complexfloating):
        raise ValueError(f"frame_times must be real numbers, got dtype {times.dtype}")
    k = k.astype(np.complex64, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(k)))
    if bad:
        raise ValueError(f"kspace holds {bad} NaN or infinite values (after casting to complex64)")
    bad = int(np.count_nonzero(~np.isfinite(traj)))
    if bad:
        raise ValueError(f"trajectory holds {bad} NaN or infinite values")
    reach = float(np.abs(traj).max())
    if reach > np.pi * (1 + 1e-5):
        raise ValueError(
            f"trajectory must be in radians per pixel within [-pi, pi], reaches {reach:.4g}"
        )
    times = times.astype(np.float64)
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

    def space() -> Any:
        return xsd.encodingSpaceType(
            matrixSize=xsd.matrixSizeType(x=matrix[0], y=matrix[1], z=1),
            fieldOfView_mm=xsd.fieldOfViewMm(x=fov_mm[0], y=fov_mm[1], z=thickness),
        )

    encoding = xsd.encodingType(
        encodedSpace=space(),
        reconSpace=space(),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_0=xsd.limitType(
                minimum=0, maximum=n_samples - 1, center=n_samples // 2
            ),
            kspace_encoding_step_1=xsd.limitType(minimum=0, maximum=n_spokes - 1, center=0),
            repetition=xsd.limitType(minimum=0, maximum=n_frames - 1, center=0),
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
        experimentalConditions=xsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=(
                0 if field_strength is None else round(field_strength * _GYROMAGNETIC_HZ_PER_T)
            )
        ),
        encoding=[encoding],
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemFieldStrength_T=field_strength, receiverChannels=n_coils
        ),
        measurementInformation=(
            None
            if protocol is None
            else xsd.measurementInformationType(
                patientPosition=xsd.patientPositionType.HFS, protocolName=protocol
            )
        ),
        userParameters=xsd.userParametersType(
            userParameterDouble=[xsd.userParameterDoubleType(name=TICK_PARAMETER, value=tick)]
        ),
    )
    return xsd.ToXML(header)


#: RAS <-> LPS (ISMRMRD and DICOM patient coordinates): x and y change sign.
_LPS = np.diag([-1.0, -1.0, 1.0])


def _default_affine(matrix: tuple[int, int], fov_mm: tuple[float, float]) -> np.ndarray:
    """Axis-aligned grid centred on the origin, slice 1 mm thick."""
    affine = np.diag([fov_mm[0] / matrix[0], fov_mm[1] / matrix[1], 1.0, 1.0])
    affine[:3, 3] = -affine[:3, :3] @ [(matrix[0] - 1) / 2, (matrix[1] - 1) / 2, 0.0]
    return affine


def _geometry(
    affine: np.ndarray, matrix: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Position (LPS mm), read/phase/slice directions (LPS) and slice thickness of an affine."""
    columns = np.asarray(affine, dtype=np.float64)[:3, :3]
    sizes = np.linalg.norm(columns, axis=0)
    if not (np.all(np.isfinite(affine)) and np.all(sizes > 0)):
        raise ValueError("affine must be finite with non-zero voxel axes")
    directions = _LPS @ (columns / sizes)
    centre = np.asarray(affine)[:3, :3] @ [(matrix[0] - 1) / 2, (matrix[1] - 1) / 2, 0.0]
    centre = _LPS @ (centre + np.asarray(affine)[:3, 3])
    return centre, directions[:, 0], directions[:, 1], directions[:, 2], float(sizes[2])


def _affine_from(
    head: np.ndarray,
    matrix: tuple[int, int],
    fov_mm: tuple[float, float],
    thickness: float,
    path: Path,
) -> np.ndarray:
    """The NIfTI (RAS) affine of the grid from an acquisition header's geometry."""
    directions = np.stack(
        [
            np.asarray(head[name], dtype=np.float64)
            for name in ("read_dir", "phase_dir", "slice_dir")
        ],
        axis=1,
    )
    norms = np.linalg.norm(directions, axis=0)
    if not np.all(np.abs(norms - 1.0) < 1e-3):
        logger.warning(
            "%s: acquisitions carry no direction cosines (read/phase/slice_dir); the "
            "reconstruction grid gets an identity orientation centred on the origin",
            path,
        )
        affine = _default_affine(matrix, fov_mm)
        affine[2, 2] = thickness if thickness > 0 else 1.0
        return affine
    sizes = [fov_mm[0] / matrix[0], fov_mm[1] / matrix[1], thickness if thickness > 0 else 1.0]
    columns = _LPS @ directions * sizes
    centre = _LPS @ np.asarray(head["position"], dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = columns
    affine[:3, 3] = centre - columns @ [(matrix[0] - 1) / 2, (matrix[1] - 1) / 2, 0.0]
    return affine


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
    if isinstance(tick, bool) or not (math.isfinite(float(tick)) and float(tick) > 0):
        raise ValueError(f"tick must be a positive number of seconds, got {tick!r}")
    tick = float(tick)
    if field_strength is not None:
        if isinstance(field_strength, bool) or not (
            math.isfinite(float(field_strength)) and float(field_strength) > 0
        ):
            raise ValueError(f"field_strength must be positive tesla, got {field_strength!r}")
        field_strength = float(field_strength)
    if protocol is not None and not isinstance(protocol, str):
        raise ValueError(f"protocol must be a string, got {protocol!r}")
    n_frames, n_coils, n_spokes, n_samples = k.shape
    stamps = _spoke_stamps(times, n_spokes, tick)
    # radians per pixel -> cycles per field of view (+-N/2 at the edge), computed in float64
    scale = np.array(matrix, dtype=np.float64) / (2.0 * np.pi)
    traj_cycles = (traj.astype(np.float64) * scale).astype(np.float32)
    if affine is None:
        affine = _default_affine(matrix, fov_mm)
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {affine.shape}")
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

    with atomic_output(path, suffix=".h5") as tmp:
        with ismrmrd.Dataset(str(tmp), "dataset", mode="w") as dataset:
            dataset.write_xml_header(xml)
            _write_acquisitions(dataset, acquisitions)
    logger.debug(
        "%s: wrote %d frames x %d coils x %d spokes x %d samples",
        path,
        n_frames,
        n_coils,
        n_spokes,
        n_samples,
    )


def _write_acquisitions(dataset: Any, acquisitions: list[Any]) -> None:
    """Append ``acquisitions`` in one HDF5 write.

    ``Dataset.append_acquisition`` grows the HDF5 dataset by one record per call (about 1.3 ms
    each: 3.5 s for 2640 spokes). The library creates the dataset with the first acquisition,
    then the rest are written at once in the library's record type (``acquisition_dtype``),
    filled exactly as its ``write_acquisition`` fills one record.
    """
    from ismrmrd.hdf5 import acquisition_dtype, acquisition_header_dtype

    dataset.append_acquisition(acquisitions[0])
    rest = acquisitions[1:]
    if not rest:
        return
    records = np.empty(len(rest), dtype=acquisition_dtype)
    records["head"] = np.frombuffer(
        b"".join(bytes(acq.getHead()) for acq in rest), dtype=acquisition_header_dtype
    )
    for i, acq in enumerate(rest):
        records[i]["data"] = acq.data.view(np.float32).reshape(-1)
        records[i]["traj"] = acq.traj.view(np.float32).reshape(-1)
    table = dataset._dataset["data"]
    table.resize(len(acquisitions), axis=0)
    table[1:] = records


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


def _header_values(header: Any, fail: _Fail) -> dict[str, Any]:
    """Matrix, field of view, tick, field strength and protocol from the parsed header."""
    if not header.encoding:
        raise fail("the ISMRMRD XML header has no encoding")
    encoding = header.encoding[0]
    if len(header.encoding) > 1:
        logger.warning(
            "%s: header has %d encodings, the first is used", fail.path, len(header.encoding)
        )
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
    if not all(v is not None and math.isfinite(v) and v > 0 for v in (fov.x, fov.y)):
        raise fail(f"the field of view (reconSpace fieldOfView_mm) is invalid: {fov.x} x {fov.y}")
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
    system = header.acquisitionSystemInformation
    field = None if system is None else system.systemFieldStrength_T
    measurement = header.measurementInformation
    return {
        "matrix": (int(size.x), int(size.y)),
        "fov_mm": (float(fov.x), float(fov.y)),
        "thickness": float(fov.z) if fov.z is not None and math.isfinite(fov.z) else 0.0,
        "tick": float(tick),
        "field_strength": None if field is None else float(field),
        "protocol": None if measurement is None else measurement.protocolName,
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
    path = Path(path)
    fail = _Fail(subject, path)
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
    values = _header_values(_parse_header(xml, fail), fail)
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
    for field, what in (("number_of_samples", "samples per spoke"), ("active_channels", "coils")):
        counts = head[field][keep]
        if (counts != counts[0]).any():
            odd = keep[counts != np.bincount(counts).argmax()]
            raise fail(
                f"acquisitions differ in {what}: {_counts(counts)}; "
                f"e.g. {_where(head, int(odd[0]))} has {int(head[field][odd[0]])}"
            )
        if counts[0] == 0:
            raise fail(f"the acquisitions have no {what} (0)")
    n_samples = int(head["number_of_samples"][keep[0]])
    n_coils = int(head["active_channels"][keep[0]])

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
    data_len = np.fromiter((datas[i].size for i in keep), dtype=np.int64, count=keep.size)
    if (data_len != 2 * n_coils * n_samples).any():
        j = int(np.flatnonzero(data_len != 2 * n_coils * n_samples)[0])
        raise fail(
            f"{_where(head, int(keep[j]))} stores {data_len[j] // 2} complex values, expected "
            f"{n_coils} coils x {n_samples} samples"
        )

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
