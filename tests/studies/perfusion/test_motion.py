"""Per-subject motion correction: the AIF series aligned with the stress series' field, the
outputs and timing of each method."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.io import load_nifti, read_tsv
from qmrflow.studies.perfusion.motion import correct_subject, transfer_field, voxel_size
from qmrflow.studies.perfusion.simulate import simulate_subject

ROW = {"participant_id": "m001", "ischaemia": "none", "deep_breaths": False, "stress_mbf": 3.0}


def test_a_field_carried_to_a_coarser_grid_keeps_its_physical_size():
    stress = np.diag([2.0, 2.0, 8.0, 1.0])
    aif = np.diag([4.0, 4.0, 8.0, 1.0])
    aif[:3, 3] = [1.0, 1.0, 0.0]  # voxel centres of the 2x coarser grid over the same field
    field = np.zeros((16, 16, 3, 5, 2), dtype=np.float32)
    field[..., 0] = 2.0  # 4 mm along axis 0 on the stress grid
    field[:, :, 1, :, 1] = -3.0  # another slice, not the nearest to the AIF slice
    moved = transfer_field(field, stress, aif, (8, 8, 1))
    assert moved.shape == (8, 8, 1, 5, 2)
    np.testing.assert_allclose(moved[..., 0], 1.0)  # 4 mm = 1 voxel of 4 mm
    np.testing.assert_allclose(moved[..., 1], 0.0)


def test_voxel_size_of_an_oblique_affine():
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.5, 2.5, 8.0])
    assert voxel_size(affine) == pytest.approx((1.5, 2.5))


@pytest.fixture(scope="module")
def subject_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sub")
    names = {
        "stress": "sub-m001_acq-stress_perf.nii.gz",
        "aif": "sub-m001_acq-aif_perf.nii.gz",
        "stress_pd": "sub-m001_acq-stress_PD.nii.gz",
        "aif_pd": "sub-m001_acq-aif_PD.nii.gz",
    }
    outputs = {key: folder / name for key, name in names.items()}
    simulate_subject(ROW, settings={"n_frames": 12}, seed=3, outputs=outputs)
    return outputs


@pytest.mark.parametrize("method", ["none", "iterative"])
def test_correct_subject_writes_aligned_series_fields_and_timing(subject_files, tmp_path, method):
    keys = ("stress", "aif", "stress_pd", "aif_pd", "stress_field", "aif_field", "timing")
    outputs = {
        key: tmp_path / f"sub-m001_desc-{method}_{key}{'.tsv' if key == 'timing' else '.nii.gz'}"
        for key in keys
    }
    options = {"lambdas": [], "components": [3], "bspline_mesh": None}
    timing = correct_subject(
        "m001", method, **subject_files, outputs=outputs, iterative=options, threads=1
    )
    stress = load_nifti(outputs["stress"], ndim=4).data
    field = load_nifti(outputs["stress_field"], ndim=5).data
    aif_field = load_nifti(outputs["aif_field"], ndim=5).data
    assert stress.shape == (64, 64, 3, 12) and field.shape == (64, 64, 3, 12, 2)
    assert aif_field.shape == (32, 32, 1, 12, 2)
    table = read_tsv(outputs["timing"])
    assert table.loc[0, "method"] == method
    assert table.loc[0, "seconds"] == pytest.approx(timing["seconds"], rel=1e-5)
    if method == "none":
        assert not field.any()
    else:
        assert np.abs(field).max() > 0.5  # the demo breathes
        # the AIF slice (basal) moves as the basal stress slice, in 4 mm voxels
        np.testing.assert_allclose(
            np.median(aif_field[..., 0]), np.median(field[:, :, 0, :, 0]) / 2, atol=0.25
        )


def test_an_unknown_method_is_refused(subject_files, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        correct_subject("m001", "magic", **subject_files, outputs={})
