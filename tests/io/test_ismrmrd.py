"""ISMRMRD radial real-time k-space reading and writing (qmrflow.io.ismrmrd)."""

import re

import h5py
import ismrmrd
import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import RadialSeries, read_radial_series, write_radial_series
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
