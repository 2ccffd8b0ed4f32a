"""The per-subject motion-correction QC: temporal profile, strip and animation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from qmrflow.studies.perfusion.qc import plot_motion_qc, temporal_profile
from qmrflow.studies.perfusion.series import save_series


def _series(tmp_path, name, shift):
    x, y = np.meshgrid(np.arange(32.0), np.arange(32.0), indexing="ij")
    frames = []
    for t in range(12):
        dx = shift * np.sin(t)
        frames.append(np.exp(-((x - 16 - dx) ** 2 + (y - 16) ** 2) / 20.0) * (1 + t / 10))
    data = np.stack(frames, axis=-1)[:, :, None, :].repeat(3, axis=2).astype(np.float32)
    path = tmp_path / f"sub-p1_acq-stress_desc-{name}_perf.nii.gz"
    save_series(
        data,
        np.diag([2.0, 2.0, 8.0, 1.0]),
        path,
        frame_times=np.arange(12) * 0.8,
        saturation_time=0.1,
    )
    return path


def test_the_profile_stacks_one_line_of_every_frame():
    frames = np.arange(4 * 5 * 6, dtype=float).reshape(4, 5, 6)
    profile = temporal_profile(frames)
    assert profile.shape == (6, 4)
    np.testing.assert_array_equal(profile[:, 1], frames[1, 2, :])
    with pytest.raises(ValueError, match=r"\(T, X, Y\)"):
        temporal_profile(frames[0])


def test_strip_and_animation_are_written_small(tmp_path):
    series = {"none": _series(tmp_path, "none", 3.0), "dl": _series(tmp_path, "dl", 0.0)}
    outputs = {"strip": tmp_path / "qc.png", "animation": tmp_path / "qc.gif"}
    plot_motion_qc("p1", series=series, outputs=outputs)
    assert 0 < outputs["strip"].stat().st_size < 200_000
    with PILImage.open(outputs["animation"]) as gif:
        assert gif.format == "GIF" and gif.n_frames == 12
