"""DICOM series reading: round trip of values, order and geometry; errors naming the file."""

from __future__ import annotations

import io
import logging
import random
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.fileset import FileSet
from pydicom.pixels import get_decoder, pack_bits
from pydicom.uid import (
    MPEG2MPML,
    BasicTextSRStorage,
    ExplicitVRLittleEndian,
    GrayscaleSoftcopyPresentationStateStorage,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    KeyObjectSelectionDocumentStorage,
    MRImageStorage,
    RLELossless,
    RTStructureSetStorage,
    SegmentationStorage,
    generate_uid,
)

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
    sop_class: str = MRImageStorage,
    modality: str = "MR",
    sop_uid: str | None = None,
) -> Path:
    """Write one uint16 single-frame MR slice; ``pixels`` is rows x columns."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
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
    # The DICM marker says "DICOM file": a broken one is an error, never skipped.
    write_series(tmp_path / "dcm", n=2)
    bad = tmp_path / "dcm" / "IM9999"
    bad.write_bytes(bytes(128) + b"DICM" + np.random.default_rng(0).bytes(2000))
    err = _raises(tmp_path / "dcm", "unreadable DICOM file")
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


# ------------------------------------------------------------------ what is not an image slice
def _message(err: InputDataError) -> str:
    """The message without its ``sub-<id>: <path>: `` prefix."""
    return str(err).split(": ", 2)[2]


def test_palette_color_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    write_series(folder, n=2)
    bad = write_dicom_slice(
        folder / "IM0002", np.zeros((40, 36), np.uint16), photometric="PALETTE COLOR"
    )
    err = _raises(folder, "PALETTE COLOR")
    assert err.path == str(bad)
    assert "MONOCHROME1/MONOCHROME2 single-frame image slices" in str(err)


def write_segmentation(path: Path, shape: tuple[int, int] = (40, 36), frames: int = 2) -> Path:
    """A binary DICOM Segmentation (1 bit per pixel, one frame per segment)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SegmentationStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SegmentationStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SEG"
    ds.Rows, ds.Columns = shape
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    mask = np.zeros((frames, *shape), np.uint8)
    mask[:, 10:20, 5:15] = 1
    ds.PixelData = pack_bits(mask)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_segmentation_in_series_folder_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    write_series(folder, n=2)
    seg = write_segmentation(folder / "SEG0001")
    err = _raises(folder, "not an image slice")
    assert err.path == str(seg)
    assert "Segmentation Storage" in str(err)
    assert "MONOCHROME1/MONOCHROME2 single-frame image slices" in str(err)


@pytest.mark.parametrize(
    ("sop_class", "modality", "named"),
    [
        (RTStructureSetStorage, "RTSTRUCT", "RT Structure Set Storage"),
        (BasicTextSRStorage, "SR", "Basic Text SR Storage"),
        (KeyObjectSelectionDocumentStorage, "KO", "Key Object Selection Document Storage"),
        (GrayscaleSoftcopyPresentationStateStorage, "PR", "Presentation State"),
        ("1.2.826.0.1.3680043.8.498.77", "PR", "non-image PR object"),  # private SOP class
    ],
)
def test_non_image_objects_refused(
    tmp_path: Path, sop_class: str, modality: str, named: str
) -> None:
    folder = tmp_path / "dcm"
    write_series(folder, n=2)
    bad = write_dicom_slice(
        folder / "OBJ1",
        np.zeros((40, 36), np.uint16),
        sop_class=sop_class,
        modality=modality,
        pixel_data=False,
    )
    err = _raises(folder, "not an image slice")
    assert err.path == str(bad)
    assert named in str(err)
    assert "expected MONOCHROME1/MONOCHROME2 single-frame image slices" in str(err)


# ------------------------------------------------------------------ duplicated slices
def test_copied_file_dropped_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "dcm"
    arrays = write_series(folder, n=3)
    shutil.copyfile(folder / "IM0001", folder / "IM0001_copy")
    with caplog.at_level(logging.WARNING, logger="qmrflow.io.dicom"):
        pairs = read_dicom_series(folder, subject="01")
    assert len(pairs) == 3
    assert [p.name for p, _ in pairs].count("IM0001_copy") == 0
    for (_, image), pixels in zip(pairs, arrays, strict=True):
        np.testing.assert_array_equal(image.data, pixels.T)
    (record,) = [r for r in caplog.records if "same slice" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "IM0001 and IM0001_copy" in record.getMessage()
    assert "SOPInstanceUID" in record.getMessage()


def test_re_exported_copy_with_new_uid_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "dcm"
    arrays = write_series(folder, n=3)
    # Same position and pixels as slice 0 (file IM0000), but a new SOPInstanceUID.
    write_dicom_slice(folder / "IM0000_again", arrays[0], position=(-100.0, -80.0, 30.0))
    with caplog.at_level(logging.WARNING, logger="qmrflow.io.dicom"):
        images = load_dicom_series(folder, subject="01")
    assert len(images) == 3
    assert any(
        "IM0000 and IM0000_again" in r.getMessage() and "slice position" in r.getMessage()
        for r in caplog.records
    )


def test_different_images_at_one_position_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    arrays = write_series(folder, n=3)
    other = write_dicom_slice(
        folder / "IM0009", arrays[1] + 1, position=(-100.0, -80.0, 35.0), instance=9
    )
    err = _raises(folder, "two different images share one slice position")
    assert err.path == str(other)
    assert "IM0001 and IM0009" in str(err)


def test_one_sop_instance_uid_for_different_images_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    uid = generate_uid()
    write_dicom_slice(folder / "a", np.zeros((32, 32), np.uint16), sop_uid=uid)
    other = write_dicom_slice(
        folder / "b", np.ones((32, 32), np.uint16), position=(0.0, 0.0, 5.0), sop_uid=uid
    )
    err = _raises(folder, "share one SOPInstanceUID")
    assert err.path == str(other)
    assert "a and b" in str(err)


def test_one_instance_number_without_position_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    write_dicom_slice(folder / "a", np.zeros((32, 32), np.uint16), position=None, instance=4)
    other = write_dicom_slice(folder / "b", np.ones((32, 32), np.uint16), position=None, instance=4)
    err = _raises(folder, "share one InstanceNumber")
    assert err.path == str(other)


# ------------------------------------------------------------------ folder trees, stray files
def test_series_in_nested_folder(tmp_path: Path) -> None:
    root = tmp_path / "dicom"
    arrays = write_series(root / "sub-01" / "series1", n=3)
    pairs = read_dicom_series(root, subject="01")
    assert [p.parent.name for p, _ in pairs] == ["series1"] * 3
    for (_, image), pixels in zip(pairs, arrays, strict=True):
        np.testing.assert_array_equal(image.data, pixels.T)


def test_stray_files_skipped_with_a_note(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "dicom"
    write_series(root / "series1", n=3)
    (root / "README").write_text("Exported from the scanner console.\n")
    (root / "series1" / "empty.dcm").write_bytes(b"")
    (root / "series1" / "notes.bin").write_bytes(np.random.default_rng(1).bytes(3000))
    (root / ".hidden").mkdir()
    (root / ".hidden" / "IM0000").write_bytes(b"junk")
    with caplog.at_level(logging.INFO, logger="qmrflow.io.dicom"):
        images = load_dicom_series(root, subject="01")
    assert len(images) == 3
    notes = {r.getMessage(): r.levelno for r in caplog.records if "skipped" in r.getMessage()}
    assert len(notes) == 3
    for name, why in [
        ("README", "not a DICOM file"),
        (str(Path("series1", "empty.dcm")), "0 bytes"),
        (str(Path("series1", "notes.bin")), "not a DICOM file"),
    ]:
        (message,) = [m for m in notes if f"skipped {name}:" in m]
        assert why in message
        assert notes[message] == logging.WARNING


def _write_export(root: Path, n: int = 3) -> list[np.ndarray]:
    """A CD/PACS export as pydicom writes it: DICOMDIR plus PT*/ST*/SE*/IM* files."""
    arrays = write_series(root.parent / "flat", n=n)
    fileset = FileSet()
    for path in sorted((root.parent / "flat").iterdir()):
        ds = dcmread(path)
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20240101", "120000", "1"
        ds.SeriesNumber, ds.PatientName = 1, "Anonymous"
        fileset.add(ds)
    fileset.write(root)
    shutil.rmtree(root.parent / "flat")
    return arrays


def test_export_with_dicomdir(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "cd"
    arrays = _write_export(root)
    # The same index under another name is recognised by its MediaStorageSOPClassUID.
    shutil.copyfile(root / "DICOMDIR", root / "PT000000" / "INDEX")
    with caplog.at_level(logging.INFO, logger="qmrflow.io.dicom"):
        images = load_dicom_series(root, subject="01")
    for image, pixels in zip(images, arrays, strict=True):
        np.testing.assert_array_equal(image.data, pixels.T)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert {r.levelno for r in skipped} == {logging.INFO}
    assert any("skipped DICOMDIR:" in r.getMessage() for r in skipped)
    assert any("INDEX: DICOMDIR index (MediaStorageSOPClassUID" in r.getMessage() for r in skipped)


def test_nothing_usable_left(tmp_path: Path) -> None:
    root = tmp_path / "dicom"
    (root / "series1").mkdir(parents=True)
    (root / "README.txt").write_text("no images here\n")
    (root / "series1" / "IM0001").write_bytes(b"")
    err = _raises(root, "no DICOM image file")
    assert err.path == str(root)
    assert "README.txt (not a DICOM file" in str(err)
    assert f"{Path('series1', 'IM0001')} (empty file" in str(err)


def test_only_empty_sub_folders(tmp_path: Path) -> None:
    (tmp_path / "dicom" / "series1").mkdir(parents=True)
    _raises(tmp_path / "dicom", "empty")


def test_truncated_file_in_sub_folder_not_skipped(tmp_path: Path) -> None:
    root = tmp_path / "dicom"
    write_series(root / "a" / "b", n=3)
    victim = root / "a" / "b" / "IM0002"
    victim.write_bytes(victim.read_bytes()[:300])
    err = _raises(root, "DICOM")
    assert err.path == str(victim)


def test_two_series_in_sub_folders_refused(tmp_path: Path) -> None:
    root = tmp_path / "dicom"
    write_series(root / "series1", n=2)
    write_series(root / "series2", n=2, series_uid="1.2.826.0.1.3680043.8.498.99")
    err = _raises(root, "2 DICOM series")
    assert err.path == str(root / "series2" / "IM0000")
    assert str(Path("series1", "IM0000")) in str(err)
    assert str(Path("series2", "IM0000")) in str(err)


# ------------------------------------------------------------------ compressed transfer syntaxes
def compress_series(folder: Path, syntax: str) -> None:
    """Re-encode every file of ``folder`` in place with one of pydicom's encoders."""
    for path in sorted(folder.iterdir()):
        ds = dcmread(path)
        ds.compress(syntax)
        ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless, RLELossless])
def test_lossless_compressed_series_loads(tmp_path: Path, syntax: str) -> None:
    folder = tmp_path / "dcm"
    arrays = write_series(folder, n=3)
    compress_series(folder, syntax)
    assert {dcmread(p).file_meta.TransferSyntaxUID for p in folder.iterdir()} == {syntax}
    images = load_dicom_series(folder, subject="01")
    for image, pixels in zip(images, arrays, strict=True):
        np.testing.assert_array_equal(image.data, pixels.T.astype(np.float32))


def test_jpeg_baseline_slice_loads(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    rows, cols = 40, 36
    pixels = np.add.outer(np.arange(rows) * 3, np.arange(cols) * 2).astype(np.uint8)
    buffer = io.BytesIO()
    pil.fromarray(pixels).save(buffer, format="JPEG", quality=100)
    folder = tmp_path / "dcm"
    folder.mkdir()
    path = write_dicom_slice(folder / "IM0000", pixels.astype(np.uint16))
    ds = dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    (image,) = load_dicom_series(folder, subject="01")
    assert image.data.shape == (cols, rows)
    assert np.abs(image.data - pixels.T).max() <= 3  # lossy, but at quality 100


@pytest.mark.parametrize(
    ("syntax", "package"),
    [(JPEGLSLossless, "pyjpegls"), (JPEG2000Lossless, "pylibjpeg-openjpeg")],
)
def test_missing_decoder_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syntax: str, package: str
) -> None:
    folder = tmp_path / "dcm"
    write_series(folder, n=2)
    compress_series(folder, syntax)
    decoder = get_decoder(syntax)
    # As in an environment without the plugins: pydicom lists what each one would need.
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg", package)})
    err = _raises(folder, package)
    assert _message(err).startswith(f"install {package} (`pip install ")
    assert "truncated" not in str(err)
    assert "force=True" not in str(err)
    assert err.path == str(folder / "IM0000")


def test_transfer_syntax_without_any_decoder(tmp_path: Path) -> None:
    folder = tmp_path / "dcm"
    folder.mkdir()
    path = write_dicom_slice(folder / "IM0000", np.zeros((32, 32), np.uint16))
    ds = dcmread(path)
    # JPEG XL is newer than pydicom 3.0's dictionary, which refuses to write it: write MPEG-2
    # (a UID of the same length) and patch the file meta.
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.PixelData = encapsulate([b"\xff\x0a" + bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    content = path.read_bytes()
    assert content.count(MPEG2MPML.encode()) == 1
    path.write_bytes(content.replace(MPEG2MPML.encode(), b"1.2.840.10008.1.2.4.110"))
    err = _raises(folder, "JPEG XL Lossless")
    assert _message(err).startswith("convert the series to an uncompressed transfer syntax")
    assert "truncated" not in str(err)
    assert "force=True" not in str(err)
