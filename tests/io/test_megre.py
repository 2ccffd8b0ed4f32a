"""BIDS MEGRE magnitude/phase reading and writing, phase units (qmrflow.io.megre)."""

import json

import nibabel as nib
import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import (
    MultiEchoImages,
    megre_paths,
    phase_to_radians,
    read_megre,
    write_megre,
)

SHAPE = (16, 14, 12)
TES = np.array([0.004, 0.009, 0.014])
AFFINE = np.array([[1.0, 0, 0, -8.0], [0, 1.2, 0, -9.0], [0, 0, 2.0, -12.0], [0, 0, 0, 1]])


def _images(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(0.5, 2.0, (TES.size, *SHAPE))
    phase = rng.uniform(-np.pi, np.pi, (TES.size, *SHAPE))
    return (magnitude * np.exp(1j * phase)).astype(np.complex64)


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "sub-01" / "anat"


def _write(folder, **kwargs):
    images = _images()
    write_megre(folder, "01", "gre", images, TES, AFFINE, field_strength=3.0, **kwargs)
    return images


def _name(echo, part, extension=".nii.gz"):
    return f"sub-01_acq-gre_echo-{echo}_part-{part}_MEGRE{extension}"


def test_round_trip(folder):
    images = _write(folder, extra={"Manufacturer": "qmrflow"})
    series = read_megre(folder, "01", "gre")
    assert isinstance(series, MultiEchoImages)
    assert series.images.dtype == np.complex64 and series.images.shape == (3, *SHAPE)
    np.testing.assert_allclose(series.images, images, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(series.echo_times, TES)
    np.testing.assert_allclose(series.affine, AFFINE)
    assert series.voxel_mm == pytest.approx((1.0, 1.2, 2.0))
    assert series.field_strength == 3.0


def test_file_layout(folder):
    _write(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        _name(e, part, ext)
        for e in (1, 2, 3)
        for part in ("mag", "phase")
        for ext in (".nii.gz", ".json")
    )
    sidecar = json.loads((folder / _name(2, "phase", ".json")).read_text())
    assert sidecar == {"EchoTime": 0.009, "MagneticFieldStrength": 3.0, "Units": "rad"}
    phase = np.asarray(nib.load(folder / _name(2, "phase")).dataobj)
    assert phase.dtype == np.float32 and np.abs(phase).max() <= np.pi
    found = megre_paths(folder, "01", "gre")
    assert [(e, m.name, p.name) for e, m, p in found] == [
        (e, _name(e, "mag"), _name(e, "phase")) for e in (1, 2, 3)
    ]


def test_write_returns_every_file(folder):
    paths = write_megre(folder, "01", "gre", _images(), TES, AFFINE)
    assert [p.name for p in paths[:4]] == [
        _name(1, "mag"),
        _name(1, "mag", ".json"),
        _name(1, "phase"),
        _name(1, "phase", ".json"),
    ]
    assert len(paths) == 12 and all(p.is_file() for p in paths)
    assert read_megre(folder, "01", "gre").field_strength is None


def test_other_files_are_ignored(folder):
    images = _write(folder)
    write_megre(folder, "01", "epi1avg", _images(1)[:2], TES[:2], AFFINE)
    (folder / "sub-01_acq-gre_run-2_echo-1_part-mag_MEGRE.nii.gz").write_bytes(b"")
    (folder / "sub-01_acq-gre_echo-1_part-real_MEGRE.nii.gz").write_bytes(b"")
    series = read_megre(folder, "01", "gre")
    np.testing.assert_allclose(series.images, images, rtol=1e-5, atol=1e-5)


def test_inherited_sidecar_without_part(folder):
    """BIDS inheritance: one ``..._echo-<n>_MEGRE.json`` for both parts."""
    _write(folder)
    for echo, te in zip((1, 2, 3), TES, strict=True):
        for part in ("mag", "phase"):
            (folder / _name(echo, part, ".json")).unlink()
        (folder / f"sub-01_acq-gre_echo-{echo}_MEGRE.json").write_text(json.dumps({"EchoTime": te}))
    np.testing.assert_array_equal(read_megre(folder, "01", "gre").echo_times, TES)


def _replace_phase(folder, echo, values):
    path = folder / _name(echo, "phase")
    old = nib.load(path)
    nib.save(nib.Nifti1Image(values, old.affine), path)


def test_scanner_integer_phase_is_read_as_radians(folder):
    images = _write(folder)
    for echo in (1, 2, 3):
        phase = np.angle(images[echo - 1])
        _replace_phase(folder, echo, np.round(phase / np.pi * 4096).clip(-4096, 4095).astype("i2"))
    series = read_megre(folder, "01", "gre")
    difference = np.angle(series.images * np.conj(images))
    assert np.abs(difference).max() < 2 * np.pi / 4096


def _edit_sidecar(folder, echo, part, **keys):
    path = folder / _name(echo, part, ".json")
    sidecar = json.loads(path.read_text())
    for key, value in keys.items():
        if value is None:
            sidecar.pop(key)
        else:
            sidecar[key] = value
    path.write_text(json.dumps(sidecar))


@pytest.mark.parametrize(
    ("kind", "file", "expected"),
    [
        ("none", "anat", "no MEGRE echoes found: expected files sub-01_acq-gre_echo-<n>"),
        ("gap", _name(2, "mag"), "echo 2 is missing (found echoes 1, 3)"),
        ("no_phase", _name(3, "phase"), f"part-phase missing for echo 3: only {_name(3, 'mag')}"),
        ("no_mag", _name(1, "mag"), f"part-mag missing for echo 1: only {_name(1, 'phase')}"),
        ("no_sidecar", _name(2, "mag"), "no JSON sidecar"),
        ("no_te", _name(2, "phase", ".json"), "EchoTime missing in the sidecar"),
        ("ms", _name(1, "mag", ".json"), "EchoTime 4.0 is above 1 s: milliseconds?"),
        ("order", _name(3, "mag", ".json"), "echo 3 has EchoTime 0.008 s, echo 2 0.009 s"),
        ("parts_te", _name(2, "phase", ".json"), "EchoTime 0.01 s differs from the magnitude's"),
        ("shape", _name(2, "phase"), "shape (16, 14, 11) differs from"),
        ("affine", _name(3, "mag"), "affine differs from that of"),
        ("not_3d", _name(1, "mag"), "expected a 3D image, got shape (16, 14, 12, 2)"),
        ("nan", _name(2, "mag"), "1 of 2688 voxels are NaN or infinite"),
        ("degrees", _name(1, "phase"), "neither radians nor scanner integers (degrees?)"),
        ("field", "anat", "MagneticFieldStrength differs between sidecars"),
        ("echo_label", "sub-01_acq-gre_echo-x_part-mag_MEGRE.nii", "echo-x is not an echo"),
    ],
)
def test_invalid_series_name_subject_file_and_problem(folder, kind, file, expected):
    folder.mkdir(parents=True)
    if kind != "none":
        _write(folder)
    image = np.ones(SHAPE, np.float32)
    if kind == "gap":
        for part in ("mag", "phase"):
            (folder / _name(2, part)).unlink()
    elif kind in ("no_phase", "no_mag"):
        (folder / file).unlink()
    elif kind == "no_sidecar":
        (folder / _name(2, "mag", ".json")).unlink()
    elif kind == "no_te":
        _edit_sidecar(folder, 2, "phase", EchoTime=None)
    elif kind == "ms":
        _edit_sidecar(folder, 1, "mag", EchoTime=4.0)
        _edit_sidecar(folder, 1, "phase", EchoTime=4.0)
    elif kind == "order":
        _edit_sidecar(folder, 3, "mag", EchoTime=0.008)
        _edit_sidecar(folder, 3, "phase", EchoTime=0.008)
    elif kind == "parts_te":
        _edit_sidecar(folder, 2, "phase", EchoTime=0.01)
    elif kind == "shape":
        nib.save(nib.Nifti1Image(image[..., :11], AFFINE), folder / file)
    elif kind == "affine":
        shifted = AFFINE.copy()
        shifted[0, 3] += 1.0
        nib.save(nib.Nifti1Image(image, shifted), folder / file)
    elif kind == "not_3d":
        nib.save(nib.Nifti1Image(np.ones((*SHAPE, 2), np.float32), AFFINE), folder / file)
    elif kind == "nan":
        image[3, 4, 5] = np.nan
        nib.save(nib.Nifti1Image(image, AFFINE), folder / file)
    elif kind == "degrees":
        _replace_phase(folder, 1, np.full(SHAPE, 170.5, np.float32))
    elif kind == "field":
        _edit_sidecar(folder, 3, "mag", MagneticFieldStrength=1.5)
    elif kind == "echo_label":
        nib.save(nib.Nifti1Image(image, AFFINE), folder / file)
    with pytest.raises(InputDataError) as info:
        read_megre(folder, "01", "gre")
    message = str(info.value)
    assert message.startswith("sub-01: "), message
    assert file in message, message
    assert expected in message, message
    assert info.value.subject == "01"


def test_phase_in_radians_is_kept():
    phase = np.linspace(-np.pi, np.pi, 50, dtype=np.float32).reshape(5, 10)
    out = phase_to_radians(phase)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, phase)
    # float64 pi and a value just beyond it (converter rounding) are radians too
    np.testing.assert_allclose(
        phase_to_radians(np.array([-np.pi, 0.0, np.pi + 5e-4])),
        [-np.pi, 0, np.pi + 5e-4],
        rtol=1e-6,
    )


def test_signed_scanner_integers_are_converted():
    raw = np.array([-4096, -2048, 0, 2048, 4095], dtype=np.int16)
    out = phase_to_radians(raw)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out, [-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi * 4095 / 4096], rtol=1e-6
    )


def test_unsigned_scanner_integers_are_converted():
    raw = np.array([0, 1024, 2048, 3072, 4095], dtype=np.uint16)
    out = phase_to_radians(raw)
    np.testing.assert_allclose(
        out, [-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi * 4094 / 4096], rtol=1e-6, atol=1e-7
    )
    # integer-valued floats (a NIfTI read with its scaling applied) are integers too
    np.testing.assert_allclose(phase_to_radians(raw.astype(np.float32)), out)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([-179.5, 0.0, 179.5]), "neither radians nor scanner integers (degrees?)"),
        (np.array([0.5, 359.5]), "neither radians nor scanner integers"),
        (np.array([-180, 0, 180]), "could be degrees as well as scanner integers"),
        (np.array([0, 360]), "could be degrees as well"),
        (np.array([-5000, 0, 5000]), "phase values span [-5000, 5000]"),
        (np.array([-3.0, 12.5]), "neither radians nor scanner integers"),
    ],
)
def test_other_phase_units_are_refused(tmp_path, values, expected):
    path = tmp_path / _name(1, "phase")
    with pytest.raises(InputDataError) as info:
        phase_to_radians(values, subject="07", path=path)
    message = str(info.value)
    assert message.startswith(f"sub-07: {path}: "), message
    assert expected in message, message
    assert "accepted are radians within [-pi, pi] and scanner integers" in message


def test_nan_phase_is_refused():
    with pytest.raises(InputDataError, match="NaN"):
        phase_to_radians(np.array([0.0, np.nan]), subject="01", path="x.nii.gz")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"images": np.ones((3, 4, 4), np.complex64)}, "images must be"),
        ({"echo_times": TES * 1e3}, "milliseconds"),
        ({"echo_times": TES[::-1]}, "increase strictly"),
        ({"echo_times": TES[:2]}, "echo_times must have shape"),
        ({"affine": np.eye(3)}, "affine"),
        ({"subject": "0_1"}, "alphanumeric"),
        ({"field_strength": -3.0}, "field_strength"),
    ],
)
def test_writer_rejects_bad_arguments(folder, change, match):
    args = {
        "folder": folder,
        "subject": "01",
        "acq": "gre",
        "images": _images(),
        "echo_times": TES,
        "affine": AFFINE,
    }
    args.update(change)
    with pytest.raises(ValueError, match=match):
        write_megre(**args)
    assert not folder.exists() or not any(folder.iterdir())
