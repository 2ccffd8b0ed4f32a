"""Perfusion series I/O with sidecar validation (qmrflow.studies.perfusion.series)."""

import json

import nibabel as nib
import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.perfusion.series import (
    PerfusionSeries,
    check_timing,
    load_pd,
    load_series,
    save_series,
)

AFFINE = np.diag([1.5, 1.5, 8.0, 1.0])
TIMES = [10.0 + 0.8 * i for i in range(6)]


def write(path, data, sidecar=None, affine=AFFINE):
    nib.save(nib.Nifti1Image(np.asarray(data), affine), path)
    if sidecar is not None:
        sidecar_path(path).write_text(json.dumps(sidecar))
    return path


def series_data(shape=(8, 8, 2, 6)):
    return np.random.default_rng(0).random(shape).astype(np.float32)


@pytest.fixture
def image(tmp_path):
    return tmp_path / "sub-07_acq-stress_perf.nii.gz"


def test_save_load_round_trip_keeps_absolute_times(image):
    data = series_data()
    save_series(
        data, AFFINE, image, frame_times=TIMES, saturation_time=0.1, extra={"Method": "none"}
    )
    meta = json.loads(sidecar_path(image).read_text())
    assert meta["Method"] == "none" and meta["FrameTimes"] == TIMES
    series = load_series(image, subject="07", expect_slices=2)
    assert isinstance(series, PerfusionSeries)
    assert series.data.dtype == np.float32 and series.data.shape == (8, 8, 2, 6)
    np.testing.assert_array_equal(series.data, data)
    np.testing.assert_allclose(series.affine, AFFINE)
    np.testing.assert_allclose(series.frame_times, TIMES)  # absolute, not re-based
    assert series.saturation_time == pytest.approx(0.1)
    assert (series.n_slices, series.n_frames) == (2, 6)
    np.testing.assert_allclose(series.relative_times(), np.arange(6) * 0.8, atol=1e-12)
    np.testing.assert_allclose(series.relative_times(9.0)[0], 1.0)


GOOD = {"FrameTimes": TIMES, "SaturationTime": 0.1}


@pytest.mark.parametrize(
    ("data", "sidecar", "match"),
    [
        (series_data((8, 8, 6)), GOOD, "expected a 4D image"),
        (np.where(series_data() > 0.99, np.nan, series_data()), GOOD, "NaN or infinite"),
        (series_data(), None, "sidecar missing"),
        (series_data(), {"SaturationTime": 0.1}, "no 'FrameTimes'"),
        (series_data(), {"FrameTimes": TIMES}, "no 'SaturationTime'"),
        (series_data(), {**GOOD, "FrameTimes": "0.8 s"}, "list of numbers"),
        (series_data(), {**GOOD, "FrameTimes": [0, 1, "2", 3, 4, 5]}, "list of numbers"),
        (series_data(), {**GOOD, "FrameTimes": TIMES[:5]}, "5 value.* 6 frames"),
        (series_data(), {**GOOD, "FrameTimes": [0, 1, 2, 2, 3, 4]}, "strictly increasing"),
        (series_data(), {**GOOD, "FrameTimes": [0, 800, 1600, 2400, 3200, 4000]}, "millisec"),
        (series_data(), {**GOOD, "FrameTimes": [0, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3]}, "0.05-10 s"),
        (series_data(), {**GOOD, "SaturationTime": 100}, "SaturationTime .* milliseconds"),
        (series_data(), {**GOOD, "SaturationTime": 0}, "SaturationTime 0 is not plausible"),
        (series_data(), {**GOOD, "SaturationTime": [0.1]}, "SaturationTime must be a number"),
        (series_data((8, 8, 3, 6)), GOOD, "expected 2 slice"),
    ],
)
def test_invalid_series_names_subject_file_and_problem(image, data, sidecar, match):
    write(image, data, sidecar)
    with pytest.raises(InputDataError, match=match) as info:
        load_series(image, subject="07", expect_slices=2)
    assert info.value.subject == "07"
    assert info.value.path in (str(image), str(sidecar_path(image)))
    assert str(info.value).startswith("sub-07: ")


def test_sidecar_that_is_not_json_is_refused(image):
    write(image, series_data())
    sidecar_path(image).write_text("{broken")
    with pytest.raises(InputDataError, match="not valid JSON") as info:
        load_series(image, subject="07")
    assert info.value.path == str(sidecar_path(image))


def test_pd_must_lie_on_the_series_grid(tmp_path, image):
    write(image, series_data(), GOOD)
    series = load_series(image, subject="07")
    pd_path = write(tmp_path / "sub-07_PD.nii.gz", np.ones((8, 8, 2), np.float32))
    pd = load_pd(pd_path, subject="07", like=series)
    assert pd.data.shape == (8, 8, 2) and pd.data.dtype == np.float32
    write(pd_path, np.ones((8, 6, 2), np.float32))
    with pytest.raises(InputDataError, match="does not match the series grid") as info:
        load_pd(pd_path, subject="07", like=series)
    assert str(info.value).startswith(f"sub-07: {pd_path}")
    write(pd_path, np.ones((8, 8, 2), np.float32), affine=np.diag([1.5, 1.5, 6.0, 1.0]))
    with pytest.raises(InputDataError, match="affine differs"):
        load_pd(pd_path, subject="07", like=series)
    write(pd_path, np.ones((8, 8, 2, 6), np.float32))
    with pytest.raises(InputDataError, match="expected a 3D image"):
        load_pd(pd_path, subject="07", like=series)


@pytest.mark.parametrize(
    ("times", "saturation", "match"),
    [
        (TIMES[:4], 0.1, "4 value"),
        ([t * 1000 for t in TIMES], 0.1, "look like milliseconds"),
        (TIMES, 1.0, "SaturationTime"),
    ],
)
def test_save_series_validates_before_writing(image, times, saturation, match):
    with pytest.raises(ValueError, match=match):
        save_series(series_data(), AFFINE, image, frame_times=times, saturation_time=saturation)
    assert not image.exists() and not sidecar_path(image).exists()


def test_save_series_refuses_non_4d_and_clashing_keys(image):
    with pytest.raises(ValueError, match="slices, frames"):
        save_series(series_data((8, 8, 6)), AFFINE, image, frame_times=TIMES, saturation_time=0.1)
    with pytest.raises(ValueError, match="repeat the timing keys"):
        save_series(
            series_data(),
            AFFINE,
            image,
            frame_times=TIMES,
            saturation_time=0.1,
            extra={"FrameTimes": [0]},
        )
    assert not image.exists()


def test_check_timing_accepts_numpy_values():
    times, saturation = check_timing(np.arange(4) * 1.1, np.float32(0.12), 4)
    assert times.dtype == np.float64 and saturation == pytest.approx(0.12)
