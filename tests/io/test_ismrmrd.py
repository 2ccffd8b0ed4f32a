"""ISMRMRD radial real-time k-space reading and writing (qmrflow.io.ismrmrd)."""

import re

import h5py
import ismrmrd
import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import (
    CartesianEchoes,
    RadialSeries,
    read_cartesian_echoes,
    read_radial_series,
    write_cartesian_echoes,
    write_radial_series,
)
from qmrflow.io.ismrmrd import TIME_STAMP_TICK

T, C, S, N = 5, 3, 4, 16
MATRIX = (16, 12)
FOV = (240.0, 180.0)


def _series(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    kspace = (rng.standard_normal((T, C, S, N)) + 1j * rng.standard_normal((T, C, S, N))).astype(
        np.complex64
    )
    radius = 2 * np.pi * (np.arange(N) - N // 2) / N
    angles = rng.uniform(0, np.pi, (T, S))
    direction = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    trajectory = (radius[None, None, :, None] * direction[:, :, None, :]).astype(np.float32)
    frame_times = np.array([0.0, 0.05, 0.1, 0.15, 0.2])
    return kspace, trajectory, frame_times


def _write(path, **kwargs):
    kspace, trajectory, frame_times = _series()
    args = {"matrix": MATRIX, "fov_mm": FOV, "field_strength": 1.5, "protocol": "rtFLASH"}
    args.update(kwargs)
    write_radial_series(path, kspace, trajectory, frame_times, **args)
    return kspace, trajectory, frame_times


def _rewrite(path, change) -> None:
    """Apply ``change(i, acquisition)`` to every stored acquisition (None: leave it)."""
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        for i in range(dataset.number_of_acquisitions()):
            acq = change(i, dataset.read_acquisition(i))
            if acq is not None:
                dataset.write_acquisition(acq, i)


def _with(acq, *, data=None, traj=None, **fields):
    """A copy of ``acq`` with new data/trajectory (header resized to match) and fields."""
    data = acq.data.copy() if data is None else data
    traj = acq.traj.copy() if traj is None else traj
    new = ismrmrd.Acquisition.from_array(data, traj)
    head = acq.getHead()
    head.number_of_samples = data.shape[1]
    head.active_channels = head.available_channels = data.shape[0]
    head.trajectory_dimensions = traj.shape[1]
    for name, value in fields.items():
        setattr(head, name, value)
    new.setHead(head)
    new.data[:] = data
    new.traj[:] = traj
    return new


@pytest.fixture
def path(tmp_path):
    return tmp_path / "sub-01" / "rtmri" / "sub-01_task-breathing_kspace.h5"


def test_round_trip(path):
    kspace, trajectory, frame_times = _write(path)
    series = read_radial_series(path, subject="01")
    assert isinstance(series, RadialSeries)
    np.testing.assert_array_equal(series.kspace, kspace)
    assert series.kspace.dtype == np.complex64
    assert series.trajectory.dtype == np.float32
    assert series.trajectory.shape == (T, S, N, 2)
    np.testing.assert_allclose(series.trajectory, trajectory, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(series.frame_times, frame_times, atol=TIME_STAMP_TICK)
    assert series.frame_times[0] == 0.0
    assert series.frame_times.dtype == np.float64
    assert series.matrix == MATRIX
    assert series.fov_mm == FOV
    assert series.field_strength == 1.5
    assert series.protocol == "rtFLASH"
    assert series.path == path
    assert (series.n_frames, series.n_coils, series.n_spokes, series.n_samples) == (T, C, S, N)
    assert series.frame_duration == pytest.approx(0.05, abs=TIME_STAMP_TICK)


def test_optional_header_values_and_frame_offset(path):
    kspace, trajectory, frame_times = _series()
    write_radial_series(
        path, kspace, trajectory, frame_times + 12.0, matrix=MATRIX, fov_mm=FOV, tick=1e-3
    )
    series = read_radial_series(path)
    assert series.field_strength is None and series.protocol is None
    np.testing.assert_allclose(series.frame_times, frame_times, atol=1e-3)


def test_file_layout_follows_the_conventions(path):
    """Per-spoke acquisitions, counters, flags, time stamps and trajectory unit on disk."""
    kspace, trajectory, _ = _series()
    trajectory[1, 2, 3] = (np.pi / 2, -np.pi / 4)  # hand value: matrix (16, 12)
    write_radial_series(
        path, kspace, trajectory, [0.0, 0.05, 0.1, 0.15, 0.2], matrix=MATRIX, fov_mm=FOV
    )
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        assert dataset.number_of_acquisitions() == T * S
        header = ismrmrd.xsd.CreateFromDocument(dataset.read_xml_header())
        acq = dataset.read_acquisition(1 * S + 2)  # frame 1, spoke 2
        first = dataset.read_acquisition(S)
        last = dataset.read_acquisition(2 * S - 1)
        final = dataset.read_acquisition(T * S - 1)
    assert header.encoding[0].trajectory == ismrmrd.xsd.trajectoryType.RADIAL
    params = {p.name: p.value for p in header.userParameters.userParameterDouble}
    assert params["TimeStampTick_s"] == TIME_STAMP_TICK
    assert (acq.idx.repetition, acq.idx.kspace_encode_step_1) == (1, 2)
    assert acq.data.shape == (C, N) and acq.trajectory_dimensions == 2
    np.testing.assert_array_equal(acq.data, kspace[1, :, 2, :])
    # cycles per field of view: 16 * (pi/2) / (2 pi) = 4, 12 * (-pi/4) / (2 pi) = -1.5
    np.testing.assert_allclose(acq.traj[3], [4.0, -1.5], rtol=1e-6)
    # 0.05 s frames at 2.5 ms ticks: frame 1 starts at 20, its 4 spokes 12.5 ms apart
    assert first.acquisition_time_stamp == 20 and acq.acquisition_time_stamp == 30
    assert first.is_flag_set(ismrmrd.ACQ_FIRST_IN_REPETITION)
    assert last.is_flag_set(ismrmrd.ACQ_LAST_IN_REPETITION)
    assert not acq.is_flag_set(ismrmrd.ACQ_FIRST_IN_REPETITION)
    assert final.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
    series = read_radial_series(path)
    np.testing.assert_allclose(series.trajectory[1, 2, 3], [np.pi / 2, -np.pi / 4], rtol=1e-6)


def test_acquisitions_are_sorted_and_non_imaging_data_skipped(path):
    """A user file: spokes stored out of order and a noise scan first."""
    kspace, trajectory, frame_times = _write(path)
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        acqs = [dataset.read_acquisition(i) for i in range(dataset.number_of_acquisitions())]
        del dataset._file["dataset/data"]
        noise = ismrmrd.Acquisition.from_array(np.ones((C, 7), np.complex64))
        noise.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
        dataset.append_acquisition(noise)
        for i in np.random.default_rng(1).permutation(len(acqs)):
            dataset.append_acquisition(acqs[i])
    series = read_radial_series(path)
    np.testing.assert_array_equal(series.kspace, kspace)
    np.testing.assert_allclose(series.trajectory, trajectory, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(series.frame_times, frame_times, atol=TIME_STAMP_TICK)


def test_a_third_trajectory_dimension_is_ignored(path):
    """Gadgetron stores density-compensation weights as a third trajectory dimension."""
    _, trajectory, _ = _write(path)

    def add_weights(i, acq):
        return _with(acq, traj=np.concatenate([acq.traj, np.ones((N, 1), np.float32)], axis=1))

    _rewrite(path, add_weights)
    series = read_radial_series(path)
    np.testing.assert_allclose(series.trajectory, trajectory, rtol=1e-6, atol=1e-6)


def _nan_in_frame_2(i, acq):
    if i == 2 * S + 1:
        data = acq.data.copy()
        data[0, :3] = np.nan
        return _with(acq, data=data)
    return None


def _inf_traj(i, acq):
    if i == 3 * S:
        traj = acq.traj.copy()
        traj[5, 0] = np.inf
        return _with(acq, traj=traj)
    return None


def _drop_traj(i, acq):
    return _with(acq, traj=np.zeros((N, 0), np.float32)) if i == S + 1 else None


def _short_spoke(i, acq):
    return _with(acq, data=acq.data[:, :12].copy(), traj=acq.traj[:12].copy()) if i == 6 else None


def _fewer_coils(i, acq):
    return _with(acq, data=acq.data[:2].copy()) if i == 9 else None


def _zero_stamps(i, acq):
    return _with(acq, acquisition_time_stamp=0)


def _backwards_time(i, acq):
    if i // S == 3:
        return _with(acq, acquisition_time_stamp=acq.acquisition_time_stamp - 60)
    return None


def _missing_spoke_frame(i, acq):
    # frame 3 loses a spoke to frame 4 (which then has 5): two odd frames
    return _with(acq, idx=_idx(acq, repetition=4)) if i == 3 * S + 3 else None


def _idx(acq, **changes):
    idx = acq.idx
    for name, value in changes.items():
        setattr(idx, name, value)
    return idx


def _short_traj_record(path):
    """A trajectory shorter than the samples: written below the Acquisition API (it forbids it)."""
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        table = dataset._dataset["data"]
        record = table[7]
        record["traj"] = record["traj"][:-2]
        table[7] = record


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "file not found"),
        ("not_hdf5", "not a readable ISMRMRD HDF5 file"),
        ("no_group", "no ISMRMRD 'dataset' group"),
        ("no_header", "no ISMRMRD XML header"),
        ("bad_header", "not valid XML"),
        ("no_acquisitions", "holds no acquisitions"),
        ("only_noise", "no imaging acquisitions"),
        ("nan", "k-space holds 3 NaN or infinite values in frame 2"),
        ("inf_traj", "trajectory holds 1 NaN or infinite value in frame 3"),
        ("no_traj", "no trajectory in 1 of 20 acquisitions, first in acquisition 5"),
        (
            "short_traj",
            "acquisition 7 (frame 1, spoke 3) stores 30 trajectory values, expected 16 samples",
        ),
        ("samples", "differ in samples per spoke: 19 have 16, 1 has 12"),
        ("coils", "differ in coils: 19 have 3, 1 has 2"),
        ("spokes", "frames 3, 4 have 3 or 5 spokes, the others 4"),
        ("zero_stamps", "no frame timing: all 20 acquisition time stamps are equal"),
        ("backwards", "not strictly increasing: frame 3 starts at 0.0000 s, frame 2 at 0.1000 s"),
        ("matrix_3d", "must be 2-D, got x=16, y=12, z=4"),
        ("matrix_missing", "lacks the required element matrixSize (in encodingSpace)"),
        ("matrix_1d", "must be 2-D, got x=16, y=1"),
    ],
)
def test_invalid_files_name_subject_file_and_problem(path, kind, expected):
    if kind == "not_hdf5":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"not an HDF5 file" * 20)
    elif kind == "no_group":
        path.parent.mkdir(parents=True)
        with h5py.File(path, "w") as f:
            f.create_group("other")
    elif kind == "no_header":
        path.parent.mkdir(parents=True)
        with ismrmrd.Dataset(str(path), "dataset", mode="w") as dataset:
            dataset.append_acquisition(ismrmrd.Acquisition.from_array(np.ones((C, N), "c8")))
    elif kind != "missing":
        _write(path)
    changes = {
        "nan": _nan_in_frame_2,
        "inf_traj": _inf_traj,
        "no_traj": _drop_traj,
        "samples": _short_spoke,
        "coils": _fewer_coils,
        "zero_stamps": _zero_stamps,
        "backwards": _backwards_time,
        "spokes": _missing_spoke_frame,
    }
    if kind in changes:
        _rewrite(path, changes[kind])
    elif kind == "short_traj":
        _short_traj_record(path)
    elif kind == "no_acquisitions":
        with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
            del dataset._file["dataset/data"]
    elif kind == "only_noise":
        _rewrite(path, lambda i, acq: _with(acq, flags=1 << (ismrmrd.ACQ_IS_NOISE_MEASUREMENT - 1)))
    elif kind.startswith("matrix") or kind == "bad_header":
        with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
            xml = dataset.read_xml_header().decode()
            recon = re.search(r"<reconSpace>.*?</reconSpace>", xml, flags=re.S).group(0)
            new = {
                "matrix_3d": recon.replace("<z>1</z>", "<z>4</z>"),
                "matrix_missing": re.sub(r"<matrixSize>.*?</matrixSize>", "", recon, flags=re.S),
                "matrix_1d": recon.replace("<y>12</y>", "<y>1</y>"),
                "bad_header": recon.replace("<reconSpace>", "<reconSpace"),
            }[kind]
            dataset.write_xml_header(xml.replace(recon, new))
    with pytest.raises(InputDataError) as info:
        read_radial_series(path, subject="01")
    message = str(info.value)
    assert message.startswith(f"sub-01: {path}: ")
    assert expected in message, message
    assert info.value.subject == "01" and info.value.path == str(path)
    if path.exists() and kind != "not_hdf5":  # the reader closed the file, also on error
        with h5py.File(path, "r+"):
            pass


def test_unknown_header_elements_are_ignored(path, caplog):
    kspace, _, _ = _write(path)
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        xml = dataset.read_xml_header().decode()
        dataset.write_xml_header(
            xml.replace("<encoding>", "<vendorThing>1</vendorThing><encoding>")
        )
    series = read_radial_series(path)
    np.testing.assert_array_equal(series.kspace, kspace)
    assert "outside the ISMRMRD schema" in caplog.text


def test_reader_leaves_the_file_closed(path):
    _write(path)
    read_radial_series(path)
    with h5py.File(path, "r+") as f:  # HDF5 refuses to reopen read-write a file still open
        assert "dataset" in f
    path.unlink()
    assert not path.exists()


def test_a_read_only_file_can_be_read(path):
    _write(path)
    path.chmod(0o444)
    try:
        assert read_radial_series(path).n_frames == T
    finally:
        path.chmod(0o644)


def test_a_single_frame(path):
    kspace, trajectory, _ = _series()
    write_radial_series(path, kspace[:1], trajectory[:1], [0.0], matrix=MATRIX, fov_mm=FOV)
    series = read_radial_series(path)
    np.testing.assert_array_equal(series.frame_times, [0.0])
    with pytest.raises(ValueError, match="one frame"):
        _ = series.frame_duration


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"kspace": np.zeros((T, C, S), np.complex64)}, "kspace must be"),
        ({"trajectory": np.zeros((T, S, N, 3), np.float32)}, "trajectory must have shape"),
        ({"trajectory": np.full((T, S, N, 2), 4.0, np.float32)}, r"within \[-pi, pi\]"),
        ({"frame_times": np.zeros(T)}, "increase strictly"),
        ({"frame_times": np.arange(T) * 1e-3}, "less than one time-stamp tick"),
        ({"frame_times": np.arange(T - 1) * 0.05}, "frame_times must have shape"),
        ({"matrix": (16, 0)}, "two positive integers"),
        ({"matrix": (16.0, 12.0)}, "two positive integers"),
        ({"matrix": (16, 12, 1)}, "two numbers"),
        ({"fov_mm": (240.0, float("nan"))}, "two positive numbers"),
        ({"tick": 0.0}, "tick must be"),
        ({"field_strength": -3.0}, "field_strength"),
        ({"nan": "kspace"}, "kspace holds 1 NaN"),
        ({"nan": "trajectory"}, "trajectory holds 1 NaN"),
    ],
)
def test_writer_rejects_bad_arguments_and_leaves_no_file(path, change, match):
    kspace, trajectory, frame_times = _series()
    args = {
        "kspace": kspace,
        "trajectory": trajectory,
        "frame_times": frame_times,
        "matrix": MATRIX,
        "fov_mm": FOV,
    }
    nan = change.pop("nan", None)
    args.update(change)
    if nan is not None:
        args[nan] = args[nan].copy()
        args[nan][0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=match):
        write_radial_series(path, **args)
    assert not path.exists()


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(path, monkeypatch):
    _write(path)
    before = path.read_bytes()

    def boom(self, xml):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ismrmrd.Dataset, "write_xml_header", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _write(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_importing_qmrflow_io_does_not_import_ismrmrd():
    import subprocess
    import sys

    code = "import sys, qmrflow.io; assert 'ismrmrd' not in sys.modules, 'ismrmrd was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_slice_geometry_round_trips_as_a_nifti_affine(tmp_path):
    """A coronal grid (axis 0 toward the patient's left, axis 1 toward the head) at 4 mm."""
    rng = np.random.default_rng(3)
    kspace = (rng.standard_normal((3, 2, 4, 16)) + 1j).astype(np.complex64)
    angles = np.linspace(0, np.pi, 4, endpoint=False)
    radius = np.linspace(-np.pi, np.pi, 16, endpoint=False)
    spoke = np.stack([np.outer(np.cos(angles), radius), np.outer(np.sin(angles), radius)], -1)
    trajectory = np.broadcast_to(spoke, (3, 4, 16, 2)).astype(np.float32)
    affine = np.array([[-4.0, 0, 0, 126.0], [0, 0, 10.0, -20.0], [0, 4.0, 0, -130.0], [0, 0, 0, 1]])
    path = tmp_path / "sub-g1_task-sniff_kspace.h5"
    write_radial_series(
        path,
        kspace,
        trajectory,
        np.arange(3) * 0.05,
        matrix=(64, 64),
        fov_mm=(256, 256),
        affine=affine,
    )
    series = read_radial_series(path, subject="g1")
    np.testing.assert_allclose(series.affine, affine, atol=1e-4)
    plain = tmp_path / "plain.h5"
    write_radial_series(
        plain, kspace, trajectory, np.arange(3) * 0.05, matrix=(64, 64), fov_mm=(256, 256)
    )
    default = read_radial_series(plain).affine
    np.testing.assert_allclose(np.diag(default)[:2], [4.0, 4.0])
    np.testing.assert_allclose(default[:3, :3] @ [31.5, 31.5, 0] + default[:3, 3], 0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Cartesian multi-echo 3-D k-space
# --------------------------------------------------------------------------------------------

CC, EE = 2, 3
GRID = (16, 12, 8)
FOV3 = (192.0, 144.0, 64.0)
TES = np.array([0.004, 0.0095, 0.015])
ENCODED = (10, 8, 8)


def _echoes(seed: int = 0) -> np.ndarray:
    """Multi-coil multi-echo k-space ``(C, E, X, Y, Z)`` of a random image (fftc convention)."""
    from qmrflow.recon.fourier import fftc

    rng = np.random.default_rng(seed)
    shape = (CC, EE, *GRID)
    image = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return fftc(image, axes=(-3, -2, -1)).astype(np.complex64)


def _central(encoded) -> np.ndarray:
    mask = np.zeros(GRID, dtype=bool)
    mask[
        tuple(
            slice(n // 2 - m // 2, n // 2 - m // 2 + m) for n, m in zip(GRID, encoded, strict=True)
        )
    ] = True
    return mask


def _write_echoes(path, **kwargs):
    kspace = _echoes()
    args = {
        "fov_mm": FOV3,
        "encoded": ENCODED,
        "field_strength": 3.0,
        "protocol": "gre3d",
    }
    args.update(kwargs)
    write_cartesian_echoes(path, kspace, TES, **args)
    return kspace


def _edit_table(path, change) -> None:
    """Replace the acquisition table by ``change(records)`` (rows may be dropped or edited)."""
    with h5py.File(path, "r+") as f:
        records = change(f["dataset/data"][()])
        del f["dataset/data"]
        f["dataset"].create_dataset("data", data=records, maxshape=(None,))


@pytest.fixture
def echo_path(tmp_path):
    return tmp_path / "sub-01" / "anat" / "sub-01_acq-epi2avg_kspace.h5"


@pytest.mark.parametrize("encoded", [None, ENCODED, (9, 7, 5)])
def test_cartesian_round_trip_keeps_the_central_block_exactly(echo_path, encoded):
    kspace = _write_echoes(echo_path, encoded=encoded)
    echoes = read_cartesian_echoes(echo_path, subject="01")
    assert isinstance(echoes, CartesianEchoes)
    assert echoes.kspace.dtype == np.complex64 and echoes.kspace.shape == (CC, EE, *GRID)
    inside = _central(GRID if encoded is None else encoded)
    np.testing.assert_array_equal(echoes.kspace[..., inside], kspace[..., inside])
    assert not echoes.kspace[..., ~inside].any()
    np.testing.assert_allclose(echoes.echo_times, TES, rtol=1e-12)
    assert echoes.echo_times.dtype == np.float64
    assert echoes.matrix == GRID
    assert echoes.encoded == (GRID if encoded is None else encoded)
    assert echoes.fov_mm == FOV3
    assert echoes.voxel_mm == (12.0, 12.0, 8.0)
    assert (echoes.n_coils, echoes.n_echoes) == (CC, EE)
    assert echoes.field_strength == 3.0 and echoes.protocol == "gre3d"
    assert echoes.path == echo_path
    # default grid: axis-aligned, centred on the origin
    np.testing.assert_allclose(echoes.affine[:3, :3], np.diag([12.0, 12.0, 8.0]))
    centre = echoes.affine[:3, :3] @ [(n - 1) / 2 for n in GRID] + echoes.affine[:3, 3]
    np.testing.assert_allclose(centre, 0, atol=1e-5)


def test_cartesian_file_layout_follows_the_conventions(echo_path):
    kspace = _write_echoes(echo_path, field_strength=None, protocol=None)
    ex, ey, ez = ENCODED
    with ismrmrd.Dataset(str(echo_path), "dataset", create_if_needed=False) as dataset:
        assert dataset.number_of_acquisitions() == ey * ez * EE
        header = ismrmrd.xsd.CreateFromDocument(dataset.read_xml_header())
        # loop order kz, ky, echo: line (kz=3, ky=5, echo=2)
        acq = dataset.read_acquisition((3 * ey + 5) * EE + 2)
        first = dataset.read_acquisition(0)
        last = dataset.read_acquisition(ey * ez * EE - 1)
    encoding = header.encoding[0]
    assert encoding.trajectory == ismrmrd.xsd.trajectoryType.CARTESIAN
    size = encoding.encodedSpace.matrixSize
    assert (size.x, size.y, size.z) == ENCODED
    size = encoding.reconSpace.matrixSize
    assert (size.x, size.y, size.z) == GRID
    fov = encoding.reconSpace.fieldOfView_mm
    assert (fov.x, fov.y, fov.z) == FOV3
    limits = encoding.encodingLimits
    assert (limits.kspace_encoding_step_1.maximum, limits.kspace_encoding_step_1.center) == (7, 4)
    assert (limits.kspace_encoding_step_2.maximum, limits.contrast.maximum) == (7, 2)
    np.testing.assert_allclose(header.sequenceParameters.TE, TES * 1e3)  # milliseconds
    assert header.acquisitionSystemInformation.receiverChannels == CC
    assert header.acquisitionSystemInformation.systemFieldStrength_T is None
    assert header.measurementInformation is None
    idx = acq.idx
    assert (idx.kspace_encode_step_1, idx.kspace_encode_step_2, idx.contrast) == (5, 3, 2)
    assert acq.data.shape == (CC, ex) and acq.center_sample == ex // 2
    assert acq.trajectory_dimensions == 0
    # acquired block starts at n // 2 - m // 2: x 3, y 2, z 0
    np.testing.assert_array_equal(acq.data, kspace[:, 2, 3 : 3 + ex, 2 + 5, 0 + 3])
    assert first.is_flag_set(ismrmrd.ACQ_FIRST_IN_SLICE)
    assert first.is_flag_set(ismrmrd.ACQ_FIRST_IN_ENCODE_STEP1)
    assert last.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
    assert last.is_flag_set(ismrmrd.ACQ_LAST_IN_ENCODE_STEP2)
    assert not acq.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
    echoes = read_cartesian_echoes(echo_path)
    assert echoes.field_strength is None and echoes.protocol is None


def test_cartesian_geometry_round_trips_as_a_nifti_affine(echo_path):
    """A coronal volume (axis 1 toward the head, axis 2 toward posterior), off-centre."""
    affine = np.array([[-12.0, 0, 0, 90.0], [0, 0, -8.0, 40.0], [0, 12.0, 0, -60.0], [0, 0, 0, 1]])
    _write_echoes(echo_path, affine=affine)
    echoes = read_cartesian_echoes(echo_path, subject="01")
    np.testing.assert_allclose(echoes.affine, affine, atol=1e-4)
    with ismrmrd.Dataset(str(echo_path), "dataset", create_if_needed=False) as dataset:
        acq = dataset.read_acquisition(0)
    centre = affine[:3, :3] @ [(n - 1) / 2 for n in GRID] + affine[:3, 3]
    np.testing.assert_allclose(acq.position, centre * [-1, -1, 1], atol=1e-4)  # LPS
    np.testing.assert_allclose(acq.read_dir, [1, 0, 0], atol=1e-6)


def test_cartesian_lines_in_any_order_noise_skipped_repeats_averaged(echo_path):
    kspace = _write_echoes(echo_path)

    def shuffle_and_repeat(records):
        records = records[np.random.default_rng(2).permutation(records.shape[0])]
        repeat = records[:5].copy()
        for i in range(5):  # a second average of 5 lines, with twice the values
            repeat["data"][i] = (2 * repeat["data"][i]).astype(np.float32)
        noise = records[:1].copy()
        noise["head"]["flags"] = 1 << (ismrmrd.ACQ_IS_NOISE_MEASUREMENT - 1)
        noise["head"]["number_of_samples"] = 7
        noise["data"][0] = np.ones(2 * CC * 7, np.float32)
        return np.concatenate([noise, records, repeat])

    _edit_table(echo_path, shuffle_and_repeat)
    echoes = read_cartesian_echoes(echo_path)
    inside = _central(ENCODED)
    expected = np.where(inside, kspace, 0)
    changed = np.abs(echoes.kspace - expected) > 0
    # 5 averaged lines hold 1.5 times the value; every other sample is exact
    assert changed.any(axis=(0, 2)).sum() == 5
    ratio = echoes.kspace[changed] / expected[changed]
    np.testing.assert_allclose(ratio, 1.5, rtol=1e-5)


def _set_head(field, value, rows=slice(None)):
    def change(records):
        records["head"][field][rows] = value
        return records

    return change


def _set_idx(field, value, rows):
    def change(records):
        idx = records["head"]["idx"]
        idx[field][rows] = value
        records["head"]["idx"] = idx
        return records

    return change


def _drop_contrast(contrast):
    return lambda records: records[records["head"]["idx"]["contrast"] != contrast]


def _drop_row(row):
    return lambda records: np.delete(records, row)


def _nan_line(records):
    records["data"][7] = records["data"][7].copy()
    records["data"][7][:2] = np.nan
    return records


def _short_line(records):
    records["data"][4] = records["data"][4][: 2 * CC * 6].copy()
    records["head"]["number_of_samples"][4] = 6
    return records


def _one_coil(records):
    records["data"][9] = records["data"][9][: 2 * ENCODED[0]].copy()
    records["head"]["active_channels"][9] = 1
    return records


def _edit_header(path, change) -> None:
    """Rewrite the XML header after ``change(header)`` edits the parsed ismrmrdHeader."""
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        header = ismrmrd.xsd.CreateFromDocument(dataset.read_xml_header())
        change(header)
        dataset.write_xml_header(ismrmrd.xsd.ToXML(header))


def _no_te(header):
    header.sequenceParameters = None


def _two_te(header):
    header.sequenceParameters.TE = header.sequenceParameters.TE[:2]


def _te_backwards(header):
    header.sequenceParameters.TE = [4.0, 9.5, 9.0]


def _encoded_larger(header):
    header.encoding[0].encodedSpace.matrixSize.y = 14


def _oversampled(header):
    header.encoding[0].encodedSpace.matrixSize.x = 32
    header.encoding[0].encodedSpace.fieldOfView_mm.x = 384.0


def _radial(header):
    header.encoding[0].trajectory = ismrmrd.xsd.trajectoryType.RADIAL


_HEADER_EDITS = {
    "no_te": _no_te,
    "te_count": _two_te,
    "te_order": _te_backwards,
    "encoded_larger": _encoded_larger,
    "oversampled": _oversampled,
    "radial": _radial,
}


ROW_E2 = (3 * ENCODED[1] + 5) * EE + 2  # kz 3, ky 5, echo 2 (contrast 2)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "file not found"),
        ("not_hdf5", "not a readable ISMRMRD HDF5 file"),
        ("no_header", "no ISMRMRD XML header"),
        ("no_te", "no echo times: the header has no sequenceParameters TE"),
        ("te_count", "the data has 3 echoes (idx.contrast up to 2) but the header lists 2 echo"),
        ("te_order", "echo times (sequenceParameters TE) are not strictly increasing"),
        ("no_contrast", "missing echoes: no lines for contrast 1"),
        ("missing_line", "missing lines for some echoes: contrast 2 lacks 1 of the 64 lines"),
        ("samples", "acquisitions differ in readout samples: 191 have 10, 1 has 6"),
        ("coils", "acquisitions differ in coils: 191 have 2, 1 has 1"),
        ("outside", "encode steps outside the encoded matrix (encodedSpace matrixSize 10x8x8)"),
        ("encoded_larger", "is larger than the reconstruction matrix (reconSpace 16x12x8) along y"),
        ("oversampled", "along x (readout oversampling? remove it before reading)"),
        ("nan", "k-space holds 1 NaN or infinite value in contrast 1"),
        ("reverse", "192 of 192 lines are flagged ACQ_IS_REVERSE"),
        ("radial", "the header's trajectory is 'radial'; Cartesian k-space is expected"),
        ("only_noise", "no imaging acquisitions"),
    ],
)
def test_invalid_cartesian_files_name_subject_file_and_problem(echo_path, kind, expected):
    if kind == "not_hdf5":
        echo_path.parent.mkdir(parents=True)
        echo_path.write_bytes(b"not an HDF5 file" * 20)
    elif kind == "no_header":
        echo_path.parent.mkdir(parents=True)
        with ismrmrd.Dataset(str(echo_path), "dataset", mode="w") as dataset:
            dataset.append_acquisition(ismrmrd.Acquisition.from_array(np.ones((CC, 8), "c8")))
    elif kind != "missing":
        _write_echoes(echo_path)
    tables = {
        "no_contrast": _drop_contrast(1),
        "missing_line": _drop_row(ROW_E2),
        "samples": _short_line,
        "coils": _one_coil,
        "outside": _set_idx("kspace_encode_step_1", 9, 11),
        "nan": _nan_line,
        "reverse": _set_head("flags", 1 << (ismrmrd.ACQ_IS_REVERSE - 1)),
        "only_noise": _set_head("flags", 1 << (ismrmrd.ACQ_IS_NOISE_MEASUREMENT - 1)),
    }
    if kind in tables:
        _edit_table(echo_path, tables[kind])
    elif kind in _HEADER_EDITS:
        _edit_header(echo_path, _HEADER_EDITS[kind])
    with pytest.raises(InputDataError) as info:
        read_cartesian_echoes(echo_path, subject="01")
    message = str(info.value)
    assert message.startswith(f"sub-01: {echo_path}: "), message
    assert "sub-01_acq-epi2avg_kspace.h5" in message
    assert expected in message, message
    if echo_path.exists() and kind != "not_hdf5":  # closed again, also on error
        with h5py.File(echo_path, "r+"):
            pass


def test_cartesian_partial_fourier_lines_are_zero_filled_with_a_warning(echo_path, caplog):
    kspace = _write_echoes(echo_path)
    ky = ENCODED[1] - 1
    _edit_table(echo_path, lambda r: r[r["head"]["idx"]["kspace_encode_step_1"] != ky])
    echoes = read_cartesian_echoes(echo_path)
    assert "were not acquired; they are zero-filled" in caplog.text
    y = GRID[1] // 2 - ENCODED[1] // 2 + ky
    assert not echoes.kspace[:, :, :, y].any()
    inside = _central(ENCODED)
    inside[:, y] = False
    np.testing.assert_array_equal(echoes.kspace[..., inside], kspace[..., inside])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"kspace": np.zeros((CC, EE, 4, 4), np.complex64)}, "kspace must be"),
        ({"echo_times": TES[:2]}, "echo_times must have shape"),
        ({"echo_times": TES * 1e3}, "milliseconds"),
        ({"echo_times": TES[::-1]}, "increase strictly"),
        ({"fov_mm": (192.0, 144.0)}, "three numbers"),
        ({"encoded": (10, 14, 8)}, "must not exceed"),
        ({"encoded": (10, 8.0, 8)}, "three positive integers"),
        ({"affine": np.eye(4)}, "voxel sizes"),
        ({"field_strength": 0.0}, "field_strength"),
        ({"nan": True}, "kspace holds 1 NaN"),
    ],
)
def test_cartesian_writer_rejects_bad_arguments_and_leaves_no_file(echo_path, change, match):
    args = {"kspace": _echoes(), "echo_times": TES, "fov_mm": FOV3, "encoded": ENCODED}
    if change.pop("nan", False):
        args["kspace"][0, 0, 0, 0, 0] = np.nan
    args.update(change)
    with pytest.raises(ValueError, match=match):
        write_cartesian_echoes(echo_path, **args)
    assert not echo_path.exists()
    assert not echo_path.parent.exists() or not any(echo_path.parent.iterdir())
