"""DICOM series reading: round trip of values, order and geometry; errors naming the file."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from qmrflow.errors import InputDataError
from qmrflow.io.dicom import load_dicom_series, read_dicom_series

SERIES_UID = "1.2.826.0.1.3680043.8.498.1"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def write_dicom_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = AXIAL,
    spacing: Sequence[float] | None = (1.0, 1.0),
    instance: int | None = 1,
    series_uid: str = SERIES_UID,
    slope: float | str | None = None,
    intercept: float | None = None,
    frames: int | None = None,
    pixel_data: bool = True,
    photometric: str = "MONOCHROME2",
) -> Path:
    """Write one uint16 single-frame MR slice; ``pixels`` is rows x columns."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "MR"
    ds.PatientID = "01"
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if spacing is not None:
        ds.PixelSpacing = [float(v) for v in spacing]
    ds.SliceThickness = 5.0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = 0.0 if intercept is None else intercept
    rows, columns = pixels.shape[-2:]
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if frames is not None:
        ds.NumberOfFrames = frames
    if pixel_data:
        ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(
    folder: Path,
    n: int = 4,
    shape: tuple[int, int] = (40, 36),
    *,
    step: float = 5.0,
    shuffle: bool = False,
    **kw: object,
) -> list[np.ndarray]:
    """Write an axial series; slice k holds ``100 * k + gradient``. Return arrays in z order."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = shape
    base = np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) % 97
    arrays = [base + 100 * k for k in range(n)]
    order = list(range(n))
    if shuffle:
        random.Random(3).shuffle(order)
    for file_index, k in enumerate(order):
        write_dicom_slice(
            folder / f"IM{file_index:04d}",
            arrays[k],
            position=(-100.0, -80.0, 30.0 + step * k),
            # InstanceNumber runs against position: ordering must use the position.
            instance=n - k,
            **kw,  # type: ignore[arg-type]
        )
    return arrays


def test_round_trip_values_shape_and_dtype(tmp_path: Path) -> None:
    arrays = write_series(tmp_path / "dcm", n=3, shape=(40, 36))
    images = load_dicom_series(tmp_path / "dcm", subject="01")
    assert len(images) == 3
    for image, pixels in zip(images, arrays, strict=True):
        assert image.data.dtype == np.float32
        assert image.data.shape == (36, 40)  # (X, Y) = (columns, rows)
        np.testing.assert_array_equal(image.data, pixels.T.astype(np.float32))


def test_shuffled_files_sorted_by_position_not_name_or_instance(tmp_path: Path) -> None:
    arrays = write_series(tmp_path / "dcm", n=6, shuffle=True)
    pairs = read_dicom_series(tmp_path / "dcm", subject="01")
    z = [float(image.affine[2, 3]) for _, image in pairs]
    assert z == sorted(z)
    assert z == pytest.approx([30.0 + 5.0 * k for k in range(6)])
    for (_, image), pixels in zip(pairs, arrays, strict=True):
        np.testing.assert_array_equal(image.data, pixels.T)


def test_instance_number_fallback_without_position(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    values = [7, 3, 5]
    for name, instance in zip(("a", "b", "c"), values, strict=True):
        pixels = np.full((32, 32), instance, dtype=np.uint16)
        write_dicom_slice(folder / name, pixels, position=None, instance=instance)
    images = load_dicom_series(folder, subject="01")
    assert [float(im.data[0, 0]) for im in images] == [3.0, 5.0, 7.0]


def test_rescale_slope_intercept(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    pixels = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
    write_dicom_slice(folder / "s1", pixels, slope=2.5, intercept=-100.0)
    (image,) = load_dicom_series(folder)
    np.testing.assert_allclose(image.data, pixels.T * 2.5 - 100.0)


def test_spacing_and_orientation_axial(tmp_path: Path) -> None:
    # PixelSpacing is (between rows, between columns) = (0.8, 0.5).
    arrays = write_series(tmp_path / "dcm", n=2, shape=(40, 36), spacing=(0.8, 0.5))
    images = load_dicom_series(tmp_path / "dcm", subject="01")
    image = images[0]
    assert image.spacing == pytest.approx((0.5, 0.8))
    assert np.sqrt((image.affine[:3, 2] ** 2).sum()) == pytest.approx(5.0)
    # The pixel at DICOM column c, row r sits at LPS (-100 + 0.5 c, -80 + 0.8 r, 30),
    # i.e. RAS (100 - 0.5 c, 80 - 0.8 r, 30), and is data[c, r].
    c, r = 7, 11
    assert image.data[c, r] == arrays[0][r, c]
    ras = image.affine @ np.array([c, r, 0.0, 1.0])
    np.testing.assert_allclose(ras[:3], [100.0 - 0.5 * c, 80.0 - 0.8 * r, 30.0])


def test_orientation_coronal(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    pixels = np.arange(34 * 33, dtype=np.uint16).reshape(34, 33)
    # Rows run to patient left (+x LPS), columns run inferior (-z LPS).
    write_dicom_slice(
        folder / "cor",
        pixels,
        position=(-50.0, 20.0, 60.0),
        orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
        spacing=(2.0, 1.5),
    )
    (image,) = load_dicom_series(folder)
    c, r = 5, 9
    ras = image.affine @ np.array([c, r, 0.0, 1.0])
    lps = np.array([-50.0 + 1.5 * c, 20.0, 60.0 - 2.0 * r])
    np.testing.assert_allclose(ras[:3], lps * [-1.0, -1.0, 1.0])
    assert image.data[c, r] == pixels[r, c]
    assert image.spacing == pytest.approx((1.5, 2.0))


def test_monochrome1_inverted_over_the_series(tmp_path: Path) -> None:
    arrays = write_series(tmp_path / "dcm", n=2, photometric="MONOCHROME1")
    images = load_dicom_series(tmp_path / "dcm")
    lo = min(float(a.min()) for a in arrays)
    hi = max(float(a.max()) for a in arrays)
    for image, pixels in zip(images, arrays, strict=True):
        np.testing.assert_array_equal(image.data, (hi + lo - pixels.T).astype(np.float32))


def test_hidden_files_ignored(tmp_path: Path) -> None:
    write_series(tmp_path / "dcm", n=2)
    (tmp_path / "dcm" / ".DS_Store").write_bytes(b"\x00\x01junk")
    assert len(load_dicom_series(tmp_path / "dcm")) == 2


def _raises(folder: Path, match: str) -> InputDataError:
    with pytest.raises(InputDataError, match=match) as info:
        load_dicom_series(folder, subject="01")
    assert "sub-01" in str(info.value)
    assert info.value.subject == "01"
    return info.value


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "dcm").mkdir()
    err = _raises(tmp_path / "dcm", "empty")
    assert err.path == str(tmp_path / "dcm")


def test_missing_folder(tmp_path: Path) -> None:
    _raises(tmp_path / "nope", "not found")


def test_corrupt_file_named(tmp_path: Path) -> None:
    write_series(tmp_path / "dcm", n=2)
    bad = tmp_path / "dcm" / "IM9999"
    bad.write_bytes(np.random.default_rng(0).bytes(2000))
    err = _raises(tmp_path / "dcm", "not a DICOM file")
    assert err.path == str(bad)


def test_truncated_file_named(tmp_path: Path) -> None:
    write_series(tmp_path / "dcm", n=3)
    victim = tmp_path / "dcm" / "IM0001"
    content = victim.read_bytes()
    victim.write_bytes(content[: len(content) // 2])
    err = _raises(tmp_path / "dcm", "pixel data")
    assert err.path == str(victim)


@pytest.mark.parametrize("keep", [100, 200, 400])
def test_truncated_header_named(tmp_path: Path, keep: int) -> None:
    write_series(tmp_path / "dcm", n=2)
    victim = tmp_path / "dcm" / "IM0000"
    victim.write_bytes(victim.read_bytes()[:keep])
    err = _raises(tmp_path / "dcm", "DICOM")
    assert err.path == str(victim)


def test_two_series_mixed(tmp_path: Path) -> None:
    write_series(tmp_path / "dcm", n=2)
    other = write_dicom_slice(
        tmp_path / "dcm" / "IM0005",
        np.zeros((40, 36), np.uint16),
        series_uid="1.2.826.0.1.3680043.8.498.99",
    )
    err = _raises(tmp_path / "dcm", "2 DICOM series")
    assert err.path == str(other)


def test_inconsistent_matrix(tmp_path: Path) -> None:
    write_series(tmp_path / "dcm", n=2, shape=(40, 36))
    odd = write_dicom_slice(tmp_path / "dcm" / "IM0007", np.zeros((40, 40), np.uint16))
    err = _raises(tmp_path / "dcm", "inconsistent matrix size")
    assert err.path == str(odd)


def test_missing_pixel_data(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    bad = write_dicom_slice(folder / "x", np.zeros((32, 32), np.uint16), pixel_data=False)
    err = _raises(folder, "no pixel data")
    assert err.path == str(bad)


def test_multi_frame_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    bad = write_dicom_slice(folder / "mf", np.zeros((3, 32, 32), np.uint16), frames=3)
    err = _raises(folder, "multi-frame")
    assert err.path == str(bad)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
def test_nan_after_rescale(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    bad = write_dicom_slice(folder / "nan", np.ones((32, 32), np.uint16), slope="NaN")
    err = _raises(folder, "NaN or infinite after rescale")
    assert err.path == str(bad)


def test_unorderable_series(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    for name in ("a", "b"):
        write_dicom_slice(folder / name, np.ones((32, 32), np.uint16), position=None, instance=None)
    _raises(folder, "cannot order")
