"""NIfTI reading/writing and atomic output (qmrflow.io.nifti, qmrflow.io.atomic)."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import Image, atomic_output, load_nifti, save_nifti


def test_round_trip_keeps_data_and_affine(tmp_path):
    affine = np.diag([0.5, 0.7, 3.0, 1.0])
    data = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    path = save_nifti(data, tmp_path / "a.nii.gz", affine)
    image = load_nifti(path, ndim=2)
    np.testing.assert_array_equal(image.data, data)
    np.testing.assert_allclose(image.affine, affine)
    assert image.spacing == pytest.approx((0.5, 0.7))


def test_trailing_singleton_axis_is_squeezed(tmp_path):
    path = save_nifti(np.ones((5, 4, 1), np.float32), tmp_path / "a.nii.gz")
    assert load_nifti(path, ndim=2).data.shape == (5, 4)


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "nan", "3d", "missing", "empty"])
def test_bad_files_name_subject_and_path(tmp_path, kind):
    path = tmp_path / "sub-01_slice-1_T1w.nii.gz"
    if kind == "corrupt":
        path.write_bytes(b"not a nifti at all" * 10)
    elif kind == "truncated":
        save_nifti(np.ones((64, 64), np.float32), path)
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    elif kind == "nan":
        data = np.ones((8, 8), np.float32)
        data[2, 3] = np.nan
        save_nifti(data, path)
    elif kind == "3d":
        save_nifti(np.ones((8, 8, 3), np.float32), path)
    elif kind == "empty":
        nib.save(nib.Nifti1Image(np.ones((0, 8), np.float32), np.eye(4)), path)
    with pytest.raises(InputDataError) as info:
        load_nifti(path, subject="01", ndim=2)
    assert str(info.value).startswith(f"sub-01: {path}")


def test_image_from_image(tmp_path):
    image = Image(np.zeros((3, 3), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    loaded = load_nifti(save_nifti(image, tmp_path / "i.nii.gz"))
    np.testing.assert_allclose(loaded.affine, image.affine)


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "x.tsv"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_a_sidecar_is_written_beside_the_image(tmp_path):
    import json

    path = save_nifti(
        np.zeros((4, 4, 2), np.float32),
        tmp_path / "sub-01_T1map.nii.gz",
        sidecar={"SkullStripped": True},
    )
    assert json.loads((tmp_path / "sub-01_T1map.json").read_text()) == {"SkullStripped": True}
    assert path.is_file()
