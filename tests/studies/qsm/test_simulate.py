"""The qsm demo simulator: settings, cohort, phantom truth, fields, k-space and the files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from qmrflow.errors import ConfigError
from qmrflow.recon.fourier import ifftc
from qmrflow.studies.qsm.dipole import dipole_field
from qmrflow.studies.qsm.simulate import (
    ACQUISITIONS,
    CHI_RANGES,
    COLUMNS,
    LABELS,
    LESION_COLUMNS,
    LESION_TYPES,
    OUTPUT_KEYS,
    QsmDemoSettings,
    acquired_mask,
    coil_maps,
    demo_participants,
    noise_sd,
    reference_images,
    simulate_acquisition,
    simulate_phantom,
    write_subject,
)

# 4 mm voxels over the default field of view and slab (160 x 192 x 80 mm), 2 sub-points per
# axis, 4 coils: a phantom in ~0.5 s.
SMALL = QsmDemoSettings(matrix=(40, 48, 20), voxel_mm=4.0, supersample=2, lesions=(4, 6), n_coils=4)
ROW = {"participant_id": "ms01"}
AXES = (-3, -2, -1)


@pytest.fixture(scope="module")
def phantom():
    return simulate_phantom(ROW, SMALL, seed=0)


def laplacian(field: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Discrete 7-point Laplacian (ppm / mm^2)."""
    out = -6.0 * field
    for axis in range(3):
        out += np.roll(field, 1, axis) + np.roll(field, -1, axis)
    return out / voxel_mm**2


# --- settings and cohort ---------------------------------------------------------------------


def test_settings_defaults_and_mapping():
    s = QsmDemoSettings()
    assert s.matrix == (80, 96, 40) and s.voxel == (2.0, 2.0, 2.0)
    assert s.echo_times == (0.005, 0.012, 0.019) and s.b0 == 3.0 and s.n_coils == 8
    assert (s.epi_fraction, s.snr_gre, s.snr_epi2avg, s.lesions) == (0.6, 40.0, 12.0, (6, 12))
    assert s.snr("epi1avg") == pytest.approx(12.0 / math.sqrt(2.0))
    assert s.encoded("gre") == (80, 96, 40) and s.encoded("epi2avg") == (48, 58, 40)
    affine = s.affine()
    assert np.allclose(affine[:3, :3], 2.0 * np.eye(3))
    assert np.allclose(affine[:3, :3] @ ((np.array(s.matrix) - 1) / 2.0) + affine[:3, 3], 0.0)
    mapped = QsmDemoSettings.from_mapping(
        {"matrix": [40, 48, 20], "voxel_mm": 4, "lesions": [1, 2]}
    )
    assert mapped.matrix == (40, 48, 20) and mapped.lesions == (1, 2)
    assert QsmDemoSettings.from_mapping(None) == s and QsmDemoSettings.from_mapping(s) is s


@pytest.mark.parametrize(
    "values",
    [
        {"unknown": 1},
        {"echo_times": [0.012, 0.005]},
        {"echo_times": [5, 12]},
        {"matrix": [40, 48]},
        {"matrix": [20, 24, 40]},  # field of view too small for the brain
        {"snr_gre": 0},
        {"lesions": [5, 2]},
        {"epi_fraction": 0.0},
    ],
)
def test_settings_refuse_bad_values(values):
    with pytest.raises(ConfigError):
        QsmDemoSettings.from_mapping(values)


def test_demo_participants_follow_the_split_counts():
    table = demo_participants(8, 3, splits=[4, 1, 3])
    assert tuple(table.columns) == COLUMNS
    assert table["participant_id"].tolist() == [f"ms{i:02d}" for i in range(1, 9)]
    assert set(table["group"]) == {"ms"}
    assert table["split"].value_counts().to_dict() == {"train": 4, "test": 3, "val": 1}
    assert table["age"].between(18, 70).all() and set(table["sex"]) <= {"F", "M"}
    pd.testing.assert_frame_equal(table, demo_participants(8, 3, splits=[4, 1, 3]))
    with pytest.raises(ConfigError):
        demo_participants(2, 3, splits=[1, 1, 1])


# --- phantom ---------------------------------------------------------------------------------


def test_phantom_needs_a_participant_id():
    with pytest.raises(ConfigError, match="participant_id"):
        simulate_phantom({"group": "ms"}, SMALL, seed=0)


def test_phantom_is_deterministic_by_seed(phantom):
    again = simulate_phantom(ROW, SMALL, seed=0)
    for name in ("chi", "labels", "lesions", "r2star", "pd", "flair", "background_ppm", "phase0"):
        np.testing.assert_array_equal(getattr(again, name), getattr(phantom, name), err_msg=name)
    pd.testing.assert_frame_equal(again.lesion_table, phantom.lesion_table)
    other = simulate_phantom(ROW, SMALL, seed=1)
    assert not np.array_equal(other.chi, phantom.chi)


def test_phantom_maps_are_consistent(phantom):
    shape = SMALL.matrix
    assert phantom.shape == shape and phantom.chi.dtype == np.float32
    assert phantom.labels.dtype == np.int16 and phantom.lesions.dtype == np.int16
    assert np.all(phantom.chi[~phantom.brain] == 0.0)
    assert np.all((phantom.labels > 0) <= phantom.brain)
    assert set(np.unique(phantom.labels)) == {0, *LABELS.values()}
    for name in ("chi", "pd", "r2star", "flair", "background_ppm", "local_ppm", "phase0"):
        assert np.all(np.isfinite(getattr(phantom, name))), name
    np.testing.assert_allclose(phantom.local_ppm, dipole_field(phantom.chi, SMALL.voxel), atol=1e-6)
    assert np.allclose(phantom.total_ppm, phantom.local_ppm + phantom.background_ppm)


def test_chi_and_r2star_per_label_are_literature_values(phantom):
    for name, (low, high) in CHI_RANGES.items():
        assert low <= phantom.tissues[name].chi <= high, name
    median = {
        name: float(np.median(phantom.chi[phantom.labels == label]))
        for name, label in LABELS.items()
    }
    assert abs(median["ventricles"]) < 0.01
    assert -0.045 <= median["wm"] <= -0.005
    assert -0.01 <= median["cortex"] <= 0.035
    # Deep grey matter: small nuclei at 4 mm, half their voxels partial volume: upper quartile.
    upper = {
        name: float(np.percentile(phantom.chi[phantom.labels == LABELS[name]], 75))
        for name in ("caudate", "putamen", "pallidus", "thalamus")
    }
    for name, value in upper.items():
        low, high = CHI_RANGES[name]
        assert low - 0.02 <= value <= high + 0.01, name
    assert upper["pallidus"] > upper["putamen"] > upper["thalamus"] > median["wm"]
    assert upper["caudate"] > upper["thalamus"]
    r2 = {name: float(np.median(phantom.r2star[phantom.labels == k])) for name, k in LABELS.items()}
    assert r2["pallidus"] > r2["wm"] > r2["cortex"] > r2["ventricles"]
    assert 15.0 < r2["wm"] < 25.0 and r2["ventricles"] < 8.0


def test_lesion_table_matches_the_label_map(phantom):
    table = phantom.lesion_table
    assert tuple(table.columns) == LESION_COLUMNS
    assert SMALL.lesions[0] <= len(table) <= SMALL.lesions[1]
    assert table["lesion"].tolist() == list(range(1, len(table) + 1))
    assert set(np.unique(phantom.lesions)) == {0, *table["lesion"]}
    counts = np.bincount(phantom.lesions.ravel())
    np.testing.assert_allclose(
        table["volume_ml"], counts[table["lesion"]] * SMALL.voxel_mm**3 / 1000.0
    )
    assert set(table["type"]) <= set(LESION_TYPES)
    assert table["rim"].any() and table["central_vein"].any()  # >= 3 lesions: one of each
    assert table["chi_rim"].isna().tolist() == (~table["rim"]).tolist()
    in_lesions = phantom.lesions > 0
    assert np.all(phantom.brain[in_lesions])
    assert np.mean(phantom.labels[in_lesions] == LABELS["wm"]) > 0.8
    for row in table.itertuples():
        assert phantom.lesions[row.x, row.y, row.z] == row.lesion


def test_lesions_show_their_features(phantom):
    wm_chi = phantom.tissues["wm"].chi
    wm_flair = np.median(phantom.flair[phantom.labels == LABELS["wm"]])
    for row in phantom.lesion_table.itertuples():
        mask = phantom.lesions == row.lesion
        assert phantom.flair[mask].mean() > wm_flair + 0.25  # bright on FLAIR
        chi = phantom.chi[mask]
        if row.central_vein:  # a one-voxel vein along z through the centre
            column = phantom.chi[row.x, row.y, :][mask[row.x, row.y, :]]
            assert column.min() > 0.2
        elif row.rim:
            assert chi.max() > wm_chi + 0.02
        else:  # partial volume with white matter only
            mean = float(chi.mean())
            assert abs(mean - row.chi_core) <= 0.5 * abs(row.chi_core - wm_chi) + 0.005
    hyper = phantom.lesion_table.query("type == 'hyper'")["chi_core"]
    hypo = phantom.lesion_table.query("type == 'hypo'")["chi_core"]
    assert np.all(hyper > wm_chi + 0.015) and np.all(hypo < wm_chi - 0.015)


def test_background_field_is_harmonic_in_the_brain_and_largest_near_the_base(phantom):
    field = phantom.background_ppm.astype(np.float64)
    lap = np.abs(laplacian(field, SMALL.voxel_mm))
    inner = ndimage.binary_erosion(phantom.brain, iterations=3)
    edge = phantom.brain & ~ndimage.binary_erosion(phantom.brain)
    assert inner.sum() > 500
    assert lap[inner].max() < 0.1 * lap[edge].max()
    assert np.percentile(lap[inner], 99) < 0.03 * lap[edge].max()
    # A few tenths of a ppm to a few ppm, varying most in the bottom slices (frontal and
    # temporal base, near the air cavities).
    assert 0.5 < np.ptp(field[phantom.brain]) < 6.0
    gradient = np.sqrt(sum(np.gradient(field, SMALL.voxel_mm, axis=a) ** 2 for a in range(3)))
    quarter = SMALL.matrix[2] // 4
    base = gradient[:, :, :quarter][phantom.brain[:, :, :quarter]]
    middle = gradient[:, :, quarter:-quarter][phantom.brain[:, :, quarter:-quarter]]
    assert np.percentile(base, 95) > 2.0 * np.percentile(middle, 95)


# --- acquisitions ----------------------------------------------------------------------------


def combine(kspace: np.ndarray, coils: np.ndarray) -> np.ndarray:
    """Inverse FFT and phase-preserving coil combination ``sum conj(S) y``."""
    return np.sum(np.conj(coils)[:, None] * ifftc(kspace, axes=AXES), axis=0)


def test_noise_free_gre_reconstructs_the_reference_images(phantom):
    kspace, encoded = simulate_acquisition(phantom, SMALL, "gre", None)
    assert kspace.shape == (SMALL.n_coils, 3, *SMALL.matrix) and kspace.dtype == np.complex64
    assert encoded == SMALL.matrix
    reference = reference_images(phantom, SMALL)
    assert reference.shape == (3, *SMALL.matrix) and reference.dtype == np.complex64
    np.testing.assert_allclose(combine(kspace, coil_maps(phantom, SMALL)), reference, atol=2e-5)
    # The phase follows the field: echo 2 over echo 1 in white matter.
    wm = (phantom.labels == LABELS["wm"]) & (phantom.lesions == 0)
    dphase = np.angle(reference[1] * np.conj(reference[0]))[wm]
    expected = 2 * np.pi * 42.577478e6 * 3.0 * 1e-6 * phantom.total_ppm[wm] * 0.007
    np.testing.assert_allclose(np.angle(np.exp(1j * (dphase - expected))), 0.0, atol=1e-3)


def test_epi_kspace_is_zero_outside_the_encoded_block(phantom):
    rng = np.random.default_rng(0)
    kspace, encoded = simulate_acquisition(phantom, SMALL, "epi2avg", rng)
    assert encoded == SMALL.encoded("epi2avg") == (24, 29, 20)
    mask = acquired_mask(SMALL, "epi2avg")
    assert mask.sum() == np.prod(encoded)
    assert np.all(kspace[..., ~mask] == 0) and np.all(kspace[..., mask] != 0)
    assert mask[20, 24, 10]  # DC


def test_noise_levels_follow_the_snr(phantom):
    clean = {acq: simulate_acquisition(phantom, SMALL, acq, None)[0] for acq in ACQUISITIONS}
    measured = {}
    for acq in ACQUISITIONS:
        noisy, _ = simulate_acquisition(phantom, SMALL, acq, np.random.default_rng(1))
        mask = acquired_mask(SMALL, acq)
        noise = (noisy - clean[acq])[..., mask]
        measured[acq] = float(np.concatenate([noise.real, noise.imag]).std())
        assert measured[acq] == pytest.approx(noise_sd(phantom, SMALL, acq), rel=0.03)
        assert np.all((noisy - clean[acq])[..., ~mask] == 0)
    assert measured["epi1avg"] / measured["epi2avg"] == pytest.approx(math.sqrt(2.0), rel=0.04)
    assert measured["gre"] < measured["epi2avg"]


# --- files -----------------------------------------------------------------------------------


def test_write_subject_writes_the_dataset_layout(tmp_path, phantom):
    from qmrflow.io import load_nifti, read_tsv
    from qmrflow.io.ismrmrd import read_cartesian_echoes

    paths = write_subject(ROW, tmp_path, SMALL, seed=0)
    assert set(paths) == set(OUTPUT_KEYS)
    relative = {key: path.relative_to(tmp_path).as_posix() for key, path in paths.items()}
    assert relative["kspace_epi1avg"] == "sub-ms01/kspace/sub-ms01_acq-epi1avg_kspace.h5"
    assert relative["flair"] == "sub-ms01/anat/sub-ms01_FLAIR.nii.gz"
    assert relative["lesions"] == (
        "derivatives/labels/sub-ms01/anat/sub-ms01_desc-lesions_dseg.nii.gz"
    )
    assert relative["aseg"] == "derivatives/labels/sub-ms01/anat/sub-ms01_desc-aseg_dseg.nii.gz"
    assert relative["chi"] == "derivatives/truth/sub-ms01/anat/sub-ms01_Chimap.nii.gz"
    assert relative["lesion_table"] == "derivatives/truth/sub-ms01/sub-ms01_lesions.tsv"
    for key in ("flair", "lesions", "aseg", "chi", "brain_mask"):
        assert paths[key].with_name(paths[key].name.replace(".nii.gz", ".json")).is_file()
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(written) == len(OUTPUT_KEYS) + 5  # and the five sidecars, nothing else

    chi = load_nifti(paths["chi"])
    np.testing.assert_array_equal(chi.data, phantom.chi)
    np.testing.assert_allclose(chi.affine, SMALL.affine())
    lesions = load_nifti(paths["lesions"], dtype=None).data
    np.testing.assert_array_equal(lesions, phantom.lesions)
    table = read_tsv(paths["lesion_table"])
    assert table["lesion"].tolist() == phantom.lesion_table["lesion"].tolist()
    assert table["type"].tolist() == phantom.lesion_table["type"].tolist()
    for acq in ACQUISITIONS:
        echoes = read_cartesian_echoes(paths[f"kspace_{acq}"], subject="ms01")
        assert echoes.encoded == SMALL.encoded(acq) and echoes.matrix == SMALL.matrix
        np.testing.assert_allclose(echoes.echo_times, SMALL.echo_times)
        assert echoes.field_strength == pytest.approx(3.0)
        np.testing.assert_allclose(echoes.affine, SMALL.affine(), atol=1e-4)
    kspace, _ = simulate_acquisition(phantom, SMALL, "epi1avg", None)
    echoes = read_cartesian_echoes(paths["kspace_epi1avg"])
    mask = acquired_mask(SMALL, "epi1avg")
    assert np.all(echoes.kspace[..., ~mask] == 0)
    noise = (echoes.kspace - kspace)[..., mask]
    assert noise.real.std() == pytest.approx(noise_sd(phantom, SMALL, "epi1avg"), rel=0.05)


def test_write_subject_leaves_nothing_behind_on_failure(tmp_path, monkeypatch, phantom):
    import qmrflow.io.ismrmrd
    from qmrflow.studies.qsm.simulate import files

    monkeypatch.setattr(files, "simulate_phantom", lambda *args, **kwargs: phantom)
    real = qmrflow.io.ismrmrd.write_cartesian_echoes
    calls = []

    def failing(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(qmrflow.io.ismrmrd, "write_cartesian_echoes", failing)
    with pytest.raises(OSError, match="disk full"):
        write_subject(ROW, tmp_path, SMALL, seed=0)
    assert len(calls) == 2
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
