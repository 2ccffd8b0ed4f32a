"""The synthmri demo cohort: template anatomy, truth maps, labels and routine/fast MDME scans."""

from __future__ import annotations

import json
import math
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from qmrflow.errors import ConfigError
from qmrflow.io import load_nifti, read_tsv
from qmrflow.studies.synthmri import simulate as sim
from qmrflow.studies.synthmri.protocol import DEFAULT_PROTOCOL, read_sidecar

SMALL = {"n_slices": 2, "matrix": (48, 56), "seed": 11}
LESION_ROW = {"participant_id": "s002", "has_lesions": True}
HEALTHY_ROW = {"participant_id": "s001", "has_lesions": False}


@pytest.fixture(scope="module")
def lesion_subject() -> sim.SimulatedSubject:
    return sim.simulate_arrays(LESION_ROW, **SMALL)


@pytest.fixture(scope="module")
def healthy_subject() -> sim.SimulatedSubject:
    return sim.simulate_arrays(HEALTHY_ROW, **SMALL)


@pytest.fixture(scope="module")
def clean_routine_grid() -> sim.SimulatedSubject:
    """Default in-plane matrix, 3 slices, no noise."""
    return sim.simulate_arrays(LESION_ROW, n_slices=3, matrix=(96, 112), snr=math.inf, seed=3)


# --------------------------------------------------------------------------------------------
# Cohort
# --------------------------------------------------------------------------------------------


def test_demo_participants_defaults_and_determinism() -> None:
    table = sim.demo_participants(24, 5)
    pd.testing.assert_frame_equal(table, sim.demo_participants(24, 5))
    assert list(table.columns) == ["participant_id", "split", "age", "sex", "has_lesions"]
    assert all(re.fullmatch(r"[A-Za-z0-9]+", p) for p in table["participant_id"])
    assert table["participant_id"].is_unique
    assert table["split"].value_counts().to_dict() == {"train": 14, "test": 8, "val": 2}
    assert table["has_lesions"].dtype == bool
    assert 0.3 <= table["has_lesions"].mean() <= 0.5
    for split in ("train", "val", "test"):
        assert table.loc[table["split"] == split, "has_lesions"].any()
    assert table["age"].between(20, 75).all()
    assert set(table["sex"]) <= {"F", "M"}
    other = sim.demo_participants(24, 6)
    assert not other[["split", "has_lesions"]].equals(table[["split", "has_lesions"]])


def test_demo_participants_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="at least 3"):
        sim.demo_participants(2, 0)
    with pytest.raises(ConfigError, match="splits"):
        sim.demo_participants(10, 0, splits=(1.0, -1.0, 1.0))
    with pytest.raises(ConfigError, match="lesion_fraction"):
        sim.demo_participants(10, 0, lesion_fraction=1.5)


# --------------------------------------------------------------------------------------------
# Determinism and geometry
# --------------------------------------------------------------------------------------------


def test_subject_is_deterministic_and_depends_only_on_its_row(
    lesion_subject: sim.SimulatedSubject, healthy_subject: sim.SimulatedSubject
) -> None:
    again = sim.simulate_arrays(pd.Series({**LESION_ROW, "age": 40.0, "split": "test"}), **SMALL)
    for name in ("routine", "fast", "t1", "t2", "pd", "b1", "dseg", "regions", "lesions"):
        np.testing.assert_array_equal(getattr(again, name), getattr(lesion_subject, name))
    # Another subject (other id): other anatomy, tissue values and noise.
    assert not np.array_equal(healthy_subject.dseg, lesion_subject.dseg)
    assert healthy_subject.tissue_values["wm"] != lesion_subject.tissue_values["wm"]
    # Another cohort seed: another subject.
    other = sim.simulate_arrays(LESION_ROW, **{**SMALL, "seed": 12})
    assert not np.array_equal(other.t1, lesion_subject.t1)


def test_noise_level_changes_only_the_noise(lesion_subject: sim.SimulatedSubject) -> None:
    noisier = sim.simulate_arrays(LESION_ROW, **SMALL, snr=20.0)
    np.testing.assert_array_equal(noisier.t1, lesion_subject.t1)
    np.testing.assert_array_equal(noisier.lesions, lesion_subject.lesions)
    assert noisier.sigma == pytest.approx(3 * lesion_subject.sigma)


def test_shapes_dtypes_and_affines(lesion_subject: sim.SimulatedSubject) -> None:
    s = lesion_subject
    assert s.routine.shape == (48, 56, 2, DEFAULT_PROTOCOL.n_volumes)
    assert s.fast.shape == (48, 28, 2, DEFAULT_PROTOCOL.n_volumes)
    assert s.routine.dtype == s.fast.dtype == s.t1.dtype == np.float32
    for truth in (s.t1, s.t2, s.pd, s.b1):
        assert truth.shape == (48, 56, 2)
    for labels in (s.dseg, s.regions, s.lesions):
        assert labels.shape == (48, 56, 2)
        assert labels.dtype == np.uint8
    assert nib.aff2axcodes(s.routine_affine) == ("R", "A", "S")
    assert nib.aff2axcodes(s.fast_affine) == ("R", "A", "S")
    centres, thickness, spacing = sim.slice_geometry(2)
    np.testing.assert_allclose(np.diag(s.routine_affine)[:3], [4.0, 4.0, spacing])
    np.testing.assert_allclose(np.diag(s.fast_affine)[:3], [4.0, 8.0, spacing])
    assert thickness == 4.0
    np.testing.assert_allclose(s.routine_affine[2, 3], centres[0])
    # Both grids cover the same field of view: the outer voxel edges coincide.
    for affine, n in ((s.routine_affine, 56), (s.fast_affine, 28)):
        dy = affine[1, 1]
        edges = (affine[1, 3] - dy / 2, affine[1, 3] + (n - 0.5) * dy)
        np.testing.assert_allclose(edges, (-18.0 - 112.0, -18.0 + 112.0))
    np.testing.assert_allclose(s.fast_affine[[0, 2], :], s.routine_affine[[0, 2], :])


def test_slice_geometry_covers_the_slab() -> None:
    centres, thickness, spacing = sim.slice_geometry(6)
    assert thickness == 4.0
    assert spacing == pytest.approx(40.0 / 6)
    assert centres[0] - spacing / 2 == pytest.approx(-4.0)
    assert centres[-1] + spacing / 2 == pytest.approx(36.0)
    centres, thickness, _ = sim.slice_geometry(20)
    assert thickness == pytest.approx(2.0)
    with pytest.raises(ConfigError):
        sim.slice_geometry(0)


# --------------------------------------------------------------------------------------------
# Truth and labels
# --------------------------------------------------------------------------------------------


def test_tissue_values_in_literature_ranges(clean_routine_grid: sim.SimulatedSubject) -> None:
    s = clean_routine_grid
    for name, base in sim.LITERATURE_VALUES.items():
        value = s.tissue_values[name]
        assert value.t1 == pytest.approx(base.t1, rel=0.15), name
        assert value.t2 == pytest.approx(base.t2, rel=0.2), name
        assert value.pd == pytest.approx(base.pd, rel=0.1), name
    ranges = {  # (T1, T2, PD) ranges of nearly pure voxels (>= 97 % one tissue)
        "wm": ((700, 980), (55, 84), (0.6, 0.78)),
        "gm": ((1050, 1550), (70, 105), (0.7, 0.88)),
        "deep_gm": ((900, 1300), (60, 88), (0.7, 0.86)),
    }
    for key, limits in ranges.items():
        pure = s.fractions[key] > 0.97
        assert pure.sum() >= 5, key
        for truth, (lo, hi) in zip((s.t1, s.t2, s.pd), limits, strict=True):
            assert np.all((truth[pure] >= lo) & (truth[pure] <= hi)), key
    # CSF: a few % of tissue shortens T2 a lot (rates add), T1 and PD stay high.
    csf = s.fractions["csf"] > 0.97
    assert csf.sum() >= 5
    assert np.all(s.t1[csf] > 2800) and np.all(s.pd[csf] > 0.9) and np.all(s.t2[csf] > 700)
    # Partial volume: brain-edge and tissue-boundary voxels lie between the pure values.
    assert np.all(s.t1[s.dseg > 0] > 0)
    assert np.all(s.t1[s.dseg > 0] < 4700)
    outside = sum(s.fractions.values()) == 0
    assert outside.sum() > 0
    assert np.all(s.t1[outside] == 0) and np.all(s.pd[outside] == 0)


def test_truth_blends_relaxation_rates_by_tissue_fraction(
    healthy_subject: sim.SimulatedSubject,
) -> None:
    s = healthy_subject
    names = ("csf", "gm", "wm", "deep_gm")
    fractions = np.stack([s.fractions[n] for n in names])
    values = [s.tissue_values[n] for n in names]
    tissue = fractions.sum(axis=0)
    brain = tissue > 0.05
    r1 = np.tensordot([1 / v.t1 for v in values], fractions, axes=1)[brain]
    r2 = np.tensordot([1 / v.t2 for v in values], fractions, axes=1)[brain]
    pd_expected = np.tensordot([v.pd for v in values], fractions, axes=1)
    np.testing.assert_allclose(s.t1[brain], tissue[brain] / r1, rtol=1e-4)
    np.testing.assert_allclose(s.t2[brain], tissue[brain] / r2, rtol=1e-4)
    np.testing.assert_allclose(s.pd[brain], pd_expected[brain], rtol=1e-4, atol=1e-6)
    assert tissue.max() <= 1.0 + 1e-5


def test_labels_are_consistent(clean_routine_grid: sim.SimulatedSubject) -> None:
    s = clean_routine_grid
    counts = np.bincount(s.dseg.ravel(), minlength=5)
    assert counts.size == 5 and np.all(counts > 0)
    # Deep GM lies in the deep region; regions cover exactly the brain.
    assert np.array_equal(s.regions > 0, s.dseg > 0)
    assert s.regions.max() <= len(sim.REGION_NAMES)
    deep = [sim.REGION_NAMES.index(n) + 1 for n in ("deep_left", "deep_right")]
    assert np.isin(s.regions[s.dseg == sim.TISSUE_LABELS["deep_gm"]], deep).all()
    # Left labels (odd) on the left (low x in RAS) half, right labels (even) on the right.
    x_mm = s.routine_affine[0, 0] * np.arange(s.dseg.shape[0]) + s.routine_affine[0, 3]
    x = np.broadcast_to(x_mm[:, None, None], s.dseg.shape)
    labelled = s.regions > 0
    left = labelled & (s.regions % 2 == 1)
    assert np.median(x[left]) < -20 and np.median(x[labelled & ~left]) > 20
    for name in ("frontal", "parietal", "temporal", "occipital", "deep"):
        assert (s.regions == sim.REGION_NAMES.index(f"{name}_left") + 1).any(), name


def test_region_of_planes() -> None:
    points = np.array(
        [
            [-30.0, 30.0, 0.0],  # left frontal
            [40.0, -40.0, 30.0],  # right parietal
            [-50.0, -20.0, 0.0],  # left temporal
            [10.0, -90.0, 10.0],  # right occipital
            [-15.0, -10.0, 6.0],  # left deep
            [5.0, -50.0, -20.0],  # cerebellum/brainstem, right
        ]
    ).T
    names = [sim.REGION_NAMES[i - 1] for i in sim.region_of(points)]
    assert names == [
        "frontal_left",
        "parietal_right",
        "temporal_left",
        "occipital_right",
        "deep_left",
        "cerebellum_brainstem_right",
    ]


def test_lesions_only_in_lesion_subjects_and_inside_white_matter(
    lesion_subject: sim.SimulatedSubject,
    healthy_subject: sim.SimulatedSubject,
    clean_routine_grid: sim.SimulatedSubject,
) -> None:
    assert healthy_subject.lesions.sum() == 0
    assert healthy_subject.fractions["lesion"].max() == 0
    for s in (lesion_subject, clean_routine_grid):
        assert s.lesions.sum() > 0
        assert np.all(s.dseg[s.lesions > 0] == sim.TISSUE_LABELS["wm"])
        # Lesions are longer in T1 and T2 than the surrounding white matter.
        wm = (s.fractions["wm"] > 0.9) & (s.lesions == 0)
        assert s.t2[s.lesions > 0].mean() > s.t2[wm].mean() * 1.2
        assert s.t1[s.lesions > 0].mean() > s.t1[wm].mean() * 1.15
    # In a lesion-free subject the lesion tissue values are the population draw, no lesion.
    assert set(healthy_subject.tissue_values) == set(sim.LITERATURE_VALUES)


def test_b1_field_is_smooth_and_in_range(lesion_subject: sim.SimulatedSubject) -> None:
    b1 = lesion_subject.b1
    assert b1.min() >= 0.85 and b1.max() <= 1.15
    brain = lesion_subject.dseg > 0
    assert b1[brain].std() > 0.02
    assert np.abs(np.diff(b1, axis=0)).max() < 0.05


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def test_noiseless_routine_matches_the_signal_model(
    clean_routine_grid: sim.SimulatedSubject,
) -> None:
    from qmrflow.studies.synthmri.protocol import mdme_signal

    s = clean_routine_grid
    brain = s.pd > 0
    expected = mdme_signal(s.t1[brain], s.t2[brain], s.pd[brain], s.b1[brain], s.protocol)
    np.testing.assert_allclose(s.routine[brain], expected, rtol=1e-4, atol=1e-6)
    assert np.abs(s.routine[~brain]).max() < 1e-6


def test_fast_image_is_the_low_passed_routine(clean_routine_grid: sim.SimulatedSubject) -> None:
    s = clean_routine_grid
    routine, fast = s.routine, s.fast
    # Fast voxel m covers routine voxels 2m and 2m+1 (same field of view).
    paired = 0.5 * (routine[:, 0::2] + routine[:, 1::2])
    assert np.corrcoef(paired.ravel(), fast.ravel())[0, 1] > 0.99
    wm = s.fractions["wm"] > 0.95
    wm_fast = wm[:, 0::2] & wm[:, 1::2]
    for volume in range(s.protocol.n_volumes):
        fast_mean = fast[..., volume][wm_fast].mean()
        assert fast_mean == pytest.approx(routine[..., volume][wm].mean(), rel=0.02)


def test_noise_matches_snr(lesion_subject: sim.SimulatedSubject) -> None:
    clean = sim.simulate_arrays(LESION_ROW, **{**SMALL, "snr": math.inf})
    sigma = lesion_subject.sigma
    assert sigma == pytest.approx(1 / 60)
    rayleigh = math.sqrt(math.pi / 2)
    # Routine background (no tissue near): Rayleigh with the SNR's sigma.
    tissue = sum(clean.fractions.values()) > 0
    background = ~ndimage.binary_dilation(tissue, iterations=2)
    assert background.sum() > 1000
    noisy = lesion_subject.routine[background]
    assert noisy.mean() == pytest.approx(sigma * rayleigh, rel=0.05)
    assert np.mean(noisy**2) == pytest.approx(2 * sigma**2, rel=0.08)
    # Fast background: the same noise per k-space sample, half the samples per voxel.
    quiet = clean.fast < 0.02 * sigma
    assert quiet.sum() > 500
    fast_sigma = sigma * math.sqrt(0.5)
    assert lesion_subject.fast[quiet].mean() == pytest.approx(fast_sigma * rayleigh, rel=0.06)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_simulate_subject_writes_every_output(tmp_path, lesion_subject) -> None:
    outputs = {key: tmp_path / f"sub-s002_{key}.nii.gz" for key in sim.OUTPUT_KEYS}
    sim.simulate_subject(LESION_ROW, **SMALL, snr=60.0, fast_phase_fraction=0.5, outputs=outputs)
    routine = load_nifti(outputs["routine"], ndim=4)
    np.testing.assert_array_equal(routine.data, lesion_subject.routine)
    np.testing.assert_allclose(routine.affine, lesion_subject.routine_affine)
    fast = load_nifti(outputs["fast"], ndim=4)
    np.testing.assert_allclose(fast.affine, lesion_subject.fast_affine)
    assert nib.load(outputs["fast"]).get_data_dtype() == np.float32
    for key in ("routine", "fast"):
        assert read_sidecar(outputs[key], DEFAULT_PROTOCOL.n_volumes) == DEFAULT_PROTOCOL
        meta = json.loads(outputs[key].with_name(f"sub-s002_{key}.json").read_text())
        assert meta["PhaseEncodingDirection"] == "j"
    for key, attribute in (("T1map", "t1"), ("T2map", "t2"), ("PDmap", "pd"), ("B1map", "b1")):
        image = load_nifti(outputs[key], ndim=3)
        np.testing.assert_array_equal(image.data, getattr(lesion_subject, attribute))
    for key, attribute in (("dseg", "dseg"), ("regions", "regions"), ("lesions", "lesions")):
        assert nib.load(outputs[key]).get_data_dtype() == np.uint8
        stored = load_nifti(outputs[key], ndim=3, dtype=None).data
        np.testing.assert_array_equal(stored, getattr(lesion_subject, attribute))
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_simulate_subject_rejects_unknown_outputs_and_bad_settings(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown"):
        sim.simulate_subject(LESION_ROW, **SMALL, outputs={"T1w": tmp_path / "x.nii.gz"})
    with pytest.raises(ConfigError, match="matrix"):
        sim.simulate_arrays(LESION_ROW, matrix=(48,))
    with pytest.raises(ConfigError, match="snr"):
        sim.simulate_arrays(LESION_ROW, snr=0.0)
    with pytest.raises(ConfigError, match="fast_phase_fraction"):
        sim.simulate_arrays(LESION_ROW, fast_phase_fraction=0.0)
    with pytest.raises(ConfigError, match="participant_id"):
        sim.simulate_arrays({"has_lesions": True})
    with pytest.raises(ConfigError, match="has_lesions"):
        sim.simulate_arrays({"participant_id": "x1", "has_lesions": "maybe"}, **SMALL)
    assert not list(tmp_path.iterdir())


def test_write_region_names(tmp_path) -> None:
    path = sim.write_region_names(tmp_path / "desc-regions_dseg.tsv")
    table = read_tsv(path)
    assert list(table.columns) == ["index", "name"]
    assert table["index"].tolist() == list(range(1, len(sim.REGION_NAMES) + 1))
    assert table["name"].tolist() == list(sim.REGION_NAMES)
