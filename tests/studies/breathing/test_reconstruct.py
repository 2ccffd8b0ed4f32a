"""Per-subject reconstruction job (qmrflow.studies.breathing.reconstruct)."""

import numpy as np
import pandas as pd
import pytest

from qmrflow.errors import InputDataError
from qmrflow.studies.breathing.frames import load_frames, load_labels
from qmrflow.studies.breathing.reconstruct import reconstruct_subject


@pytest.mark.parametrize("method", ["gridding", "sense"])
def test_frames_keep_the_acquisition_grid_and_times(written, tmp_path, method):
    files = written["b902"]
    outputs = {"frames": tmp_path / "f.nii.gz", "timing": tmp_path / "t.tsv"}
    row = reconstruct_subject(
        "b902", "sniff", method, kspace=files["kspace_sniff"], outputs=outputs, threads=1
    )
    series = load_frames(outputs["frames"])
    labels = load_labels(files["labels_sniff"])
    assert series.frames.shape == labels.shape
    np.testing.assert_allclose(series.frame_times, 0.2 * np.arange(len(labels)), atol=1e-6)
    assert series.spacing == pytest.approx((8.0, 8.0))
    # lungs dark, the rest of the body bright, in the labels' orientation
    lungs = series.frames[:, (labels[0] == 1) | (labels[0] == 2)].mean()
    body = series.frames[:, labels[0] == 3].mean()
    assert lungs < 0.5 * body
    timing = pd.read_csv(outputs["timing"], sep="\t")
    assert timing.loc[0, "method"] == method and timing.loc[0, "realtime_factor"] > 0
    assert row["frames"] == len(labels)


def test_a_missing_file_names_subject_and_file(tmp_path):
    missing = tmp_path / "sub-b903_task-sniff_kspace.h5"
    with pytest.raises(InputDataError, match="not found") as error:
        reconstruct_subject(
            "b903",
            "sniff",
            "sense",
            kspace=missing,
            outputs={"frames": tmp_path / "f.nii.gz", "timing": tmp_path / "t.tsv"},
        )
    assert "sub-b903" in str(error.value) and str(missing) in str(error.value)
    assert not (tmp_path / "f.nii.gz").exists()
