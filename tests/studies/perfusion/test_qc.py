"""The per-subject motion-correction QC: temporal profile, strip and animation."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


# ------------------------------------------------------------------------ the subject's page
def _tables(tmp_path, methods=("none", "iterative", "dl")):
    from qmrflow.io import write_tsv

    inputs = {}
    for k, method in enumerate(methods):
        segments = pd.DataFrame(
            {
                "participant_id": "p1",
                "method": method,
                "slice": np.repeat([0, 1, 2], [6, 6, 4]),
                "segment": np.arange(1, 17),
                "territory": "LAD",
                "mbf": np.linspace(1.0, 2.5, 16) + k,
                "pixel_mbf_sd": 0.2 + 0.1 * k,
                "n_pixels": 40,
                "n_core_pixels": 20,
                "delay": 0.5,
                "truth_mbf": np.linspace(1.0, 2.5, 16),
            }
        )
        quality = pd.DataFrame(
            {
                "participant_id": "p1",
                "method": method,
                "slice": [0, 1, 2],
                "frames": 12,
                "dice": [0.8, 0.9, 0.7 + k / 10],
                "dice_truth": 0.9,
                "smoothness": 0.3 - k / 10,
                "seconds": 1.0,
                "device": "cpu",
            }
        )
        curves = pd.DataFrame(
            {
                "participant_id": "p1",
                "method": method,
                "slice": 1,
                "segment": np.repeat([0, 7], 12),
                "frame": np.tile(np.arange(12), 2),
                "time": np.tile(np.arange(12) * 0.8, 2),
                "signal": np.random.default_rng(k).random(24),
                "concentration": 0.1,
            }
        )
        for kind, table in (("segments", segments), ("quality", quality), ("curves", curves)):
            inputs[f"{kind}_{method}"] = write_tsv(table, tmp_path / f"{kind}_{method}.tsv")
    return inputs


def test_the_measures_summarise_each_alignment(tmp_path):
    from qmrflow.io import read_tsv
    from qmrflow.studies.perfusion.qc import subject_measures

    inputs = _tables(tmp_path)
    methods = ("none", "iterative", "dl")
    segments = pd.concat([read_tsv(inputs[f"segments_{m}"]) for m in methods])
    quality = pd.concat([read_tsv(inputs[f"quality_{m}"]) for m in methods])
    measures = subject_measures(segments, quality).set_index("measure")["value"]
    assert measures["dice_none"] == pytest.approx(0.8)
    assert measures["dice_dl"] == pytest.approx((0.8 + 0.9 + 0.9) / 3)
    assert measures["smoothness_dl"] == pytest.approx(0.1)
    assert measures["segment_sd_dl"] == pytest.approx(0.4)
    assert measures["mbf_mean_dl"] == pytest.approx(1.75 + 2.0)
    assert measures["mbf_error_percent_none"] == pytest.approx(0.0)
    assert measures["mbf_error_percent_dl"] > 0


def test_the_page_shows_the_motion_qc_the_bullseye_and_the_curves(tmp_path):
    from qmrflow.studies.perfusion.qc import subject_qc

    series = {"none": _series(tmp_path, "none", 3.0), "dl": _series(tmp_path, "dl", 0.0)}
    outputs = {"strip": tmp_path / "qc.png", "animation": tmp_path / "qc.gif"}
    plot_motion_qc("p1", series=series, outputs=outputs)
    qc = subject_qc("p1", {**outputs, **_tables(tmp_path)})
    images = [image for section in qc.sections for image in section.images]
    assert [i.title for i in images] == [
        "Frames and temporal profiles",
        "Animation",
        "MBF bull's-eye",
        "Concentration curves",
    ]
    assert images[1].mime == "image/gif"
    assert set(qc.sources) == {
        f"{kind} ({method})"
        for kind in ("segments", "quality")
        for method in ("none", "iterative", "dl")
    }
    assert "dice_dl" in set(qc.measures["measure"])
