"""A subject's 2D slices from NIfTI slice files or a DICOM folder, checked at the boundary."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from qmrflow.errors import InputDataError
from qmrflow.io.slices import check_slice, load_slices


def write_nifti_slice(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), path)
    return path


def write_slices(folder: Path, numbers: list[int], shape: tuple[int, int] = (48, 40)) -> list[Path]:
    """Write ``sub-01_slice-<n>_T1w.nii.gz`` files whose pixels all equal ``n``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_nifti_slice(
            folder / f"sub-01_slice-{n}_T1w.nii.gz", np.full(shape, float(n), dtype=np.float32)
        )
        for n in numbers
    ]


def write_dicom(path: Path, pixels: np.ndarray, z: float) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.7"
    ds.Modality = "MR"
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def _raises(paths: object, match: str) -> InputDataError:
    with pytest.raises(InputDataError, match=match) as info:
        load_slices(paths, subject="01")  # type: ignore[arg-type]
    assert "sub-01" in str(info.value)
    return info.value


def test_nifti_natural_order(tmp_path: Path) -> None:
    paths = write_slices(tmp_path, [10, 2, 1, 3, 9, 4, 8, 5, 7, 6])
    images = load_slices(list(reversed(paths)), subject="01")
    assert [float(im.data[0, 0]) for im in images] == [float(k) for k in range(1, 11)]
    assert all(im.data.shape == (48, 40) and im.data.dtype == np.float32 for im in images)


def test_nifti_single_path_and_trailing_singleton(tmp_path: Path) -> None:
    path = write_nifti_slice(tmp_path / "sub-01_slice-1_T1w.nii.gz", np.ones((40, 36, 1)))
    (image,) = load_slices(path, subject="01")
    assert image.data.shape == (40, 36)


def test_nifti_without_slice_entity_natural_sorted(tmp_path: Path) -> None:
    for n in (10, 9):
        write_nifti_slice(tmp_path / f"img{n}.nii", np.full((32, 32), n, np.float32))
    images = load_slices([tmp_path / "img10.nii", tmp_path / "img9.nii"], subject="01")
    assert [float(im.data[0, 0]) for im in images] == [9.0, 10.0]


def test_dicom_folder(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    for k in (2, 0, 1):
        write_dicom(folder / f"f{k}", np.full((40, 34), 10 * k, np.uint16), z=float(k))
    for arg in (folder, [folder], str(folder)):
        images = load_slices(arg, subject="01")  # type: ignore[arg-type]
        assert [float(im.data[0, 0]) for im in images] == [0.0, 10.0, 20.0]
        assert images[0].data.shape == (34, 40)


def test_dicom_slice_too_small_names_file(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    write_dicom(folder / "small", np.zeros((16, 40), np.uint16), z=0.0)
    err = _raises(folder, "smaller than 32x32")
    assert err.path == str(folder / "small")


def test_corrupt_nifti(tmp_path: Path) -> None:
    bad = tmp_path / "sub-01_slice-1_T1w.nii.gz"
    bad.write_bytes(np.random.default_rng(1).bytes(500))
    err = _raises([bad], "not a readable NIfTI")
    assert err.path == str(bad)


def test_truncated_nifti(tmp_path: Path) -> None:
    (good, bad) = write_slices(tmp_path, [1, 2], shape=(64, 64))
    content = bad.read_bytes()
    bad.write_bytes(content[: len(content) // 2])
    err = _raises([good, bad], "not a readable NIfTI")
    assert err.path == str(bad)


def test_4d_instead_of_a_stack_or_slice(tmp_path: Path) -> None:
    bad = write_nifti_slice(tmp_path / "sub-01_T1w.nii.gz", np.zeros((40, 40, 3, 2)))
    err = _raises([bad], "expected a 3D slice stack")
    assert err.path == str(bad)


def test_a_3d_stack_gives_its_slices_each_at_its_position(tmp_path: Path) -> None:
    data = np.arange(40 * 36 * 3, dtype=np.float32).reshape(40, 36, 3)
    affine = np.array([[-1.5, 0, 0, 30], [0, -1.5, 0, 27], [0, 0, -6.0, -100], [0, 0, 0, 1]])
    stack = tmp_path / "sub-01_T1w.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), stack)
    slices = load_slices(stack, subject="01")
    assert len(slices) == 3
    for k, image in enumerate(slices):
        np.testing.assert_array_equal(image.data, data[:, :, k])
        np.testing.assert_allclose(image.affine[:3, 3], [30, 27, -100 - 6.0 * k])
    with pytest.raises(InputDataError, match="sub-02"):  # the file's subject is checked
        load_slices(stack, subject="02")


def test_nan_in_slice(tmp_path: Path) -> None:
    data = np.ones((40, 40), np.float32)
    data[3, 4] = np.nan
    bad = write_nifti_slice(tmp_path / "sub-01_slice-1_T1w.nii.gz", data)
    err = _raises([bad], "NaN or infinite")
    assert err.path == str(bad)


def test_too_small_nifti(tmp_path: Path) -> None:
    bad = write_nifti_slice(tmp_path / "sub-01_slice-1_T1w.nii.gz", np.ones((40, 31)))
    _raises([bad], "smaller than 32x32")


def test_missing_file(tmp_path: Path) -> None:
    (good,) = write_slices(tmp_path, [1])
    missing = tmp_path / "sub-01_slice-2_T1w.nii.gz"
    err = _raises([good, missing], "not found")
    assert err.path == str(missing)


def test_empty_list() -> None:
    _raises([], "no input slices")


def test_wrong_subject(tmp_path: Path) -> None:
    other = write_nifti_slice(tmp_path / "sub-02_slice-1_T1w.nii.gz", np.ones((40, 40)))
    err = _raises([other], "belongs to sub-02")
    assert err.path == str(other)


def test_duplicate_slice_number(tmp_path: Path) -> None:
    write_slices(tmp_path / "a", [1])
    write_slices(tmp_path / "b", [1])
    _raises(
        [
            tmp_path / "a" / "sub-01_slice-1_T1w.nii.gz",
            tmp_path / "b" / "sub-01_slice-1_T1w.nii.gz",
        ],
        "given twice",
    )


def test_mixed_folder_and_files(tmp_path: Path) -> None:
    (good,) = write_slices(tmp_path, [1])
    (tmp_path / "dcm").mkdir()
    _raises([good, tmp_path / "dcm"], "exactly one DICOM folder")


def test_unsupported_extension(tmp_path: Path) -> None:
    bad = tmp_path / "sub-01_slice-1_T1w.png"
    bad.write_bytes(b"png")
    err = _raises([bad], "unsupported input")
    assert err.path == str(bad)


def test_check_slice_direct() -> None:
    check_slice(np.zeros((32, 32)))
    with pytest.raises(InputDataError, match="2D"):
        check_slice(np.zeros((32, 32, 2)), subject="01", path="x.nii")
    with pytest.raises(InputDataError, match="NaN"):
        check_slice(np.full((32, 32), np.inf), subject="01")


def test_a_gap_in_the_slice_numbers_is_a_missing_slice(tmp_path):
    from qmrflow.io import save_nifti
    from qmrflow.io.slices import load_slices, slice_number

    paths = []
    for k in (1, 2, 4):
        path = tmp_path / f"sub-07_slice-{k}_T1w.nii.gz"
        save_nifti(np.ones((40, 40), np.float32), path)
        paths.append(path)
    assert [slice_number(p) for p in paths] == [1, 2, 4]
    assert slice_number(tmp_path / "sub-07_T1w.nii.gz") is None
    with pytest.raises(
        InputDataError, match=r"sub-07: .*missing slice\(s\) \[3\] \(found \[1, 2, 4\]\)"
    ):
        load_slices(paths, subject="07")
