"""Real-time series on disk (qmrflow.studies.breathing.frames)."""

import json

import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.breathing.frames import load_frames, load_labels, save_frames, save_labels

AFFINE = np.diag([4.0, 4.0, 8.0, 1.0])


def test_frames_round_trip_with_times(tmp_path):
    frames = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    path = save_frames(
        frames,
        AFFINE,
        tmp_path / "sub-b1_task-sniff_rec-sense_rtmri.nii.gz",
        frame_times=0.05 * np.arange(5),
        extra={"Reconstruction": "sense"},
    )
    series = load_frames(path, subject="b1")
    np.testing.assert_array_equal(series.frames, frames)
    np.testing.assert_allclose(series.frame_times, 0.05 * np.arange(5))
    assert series.spacing == (4.0, 4.0)
    side = json.loads(sidecar_path(path).read_text())
    assert side["FrameDuration"] == pytest.approx(0.05) and side["Reconstruction"] == "sense"
    labels = (frames > 0.5).astype(np.uint8)
    save_labels(labels, AFFINE, tmp_path / "labels.nii.gz")
    np.testing.assert_array_equal(load_labels(tmp_path / "labels.nii.gz"), labels)


def test_bad_times_are_refused(tmp_path):
    frames = np.ones((3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="strictly increasing"):
        save_frames(frames, AFFINE, tmp_path / "a.nii.gz", frame_times=[0, 0, 1])
    path = save_frames(frames, AFFINE, tmp_path / "sub-b2_a.nii.gz", frame_times=[0, 1, 2])
    sidecar_path(path).write_text(json.dumps({"FrameTimes": [0, 1]}))
    with pytest.raises(InputDataError, match="3 strictly increasing") as error:
        load_frames(path, subject="b2")
    assert "sub-b2" in str(error.value)
    sidecar_path(path).unlink()
    with pytest.raises(InputDataError, match="FrameTimes"):
        load_frames(path, subject="b2")
