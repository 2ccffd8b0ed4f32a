"""The perfusion demo simulator: cohort, phantom conventions, kinetics, motion, noise, files."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from qmrflow.errors import ConfigError
from qmrflow.studies.perfusion.kinetics import concentration_from_signal
from qmrflow.studies.perfusion.segments import SEGMENT_TERRITORY
from qmrflow.studies.perfusion.simulate import (
    LABELS,
    OUTPUT_KEYS,
    SimulationSettings,
    aha_segments,
    demo_participants,
    simulate_arrays,
    simulate_subject,
)
from qmrflow.studies.perfusion.simulate.phantom import sample_world

ROW = {"participant_id": "p001", "ischaemia": "LAD", "deep_breaths": False, "stress_mbf": 3.0}


@pytest.fixture(scope="module")
def subject():
    return simulate_arrays(ROW, seed=7)


@pytest.fixture(scope="module")
def deep_subject():
    return simulate_arrays({**ROW, "deep_breaths": True}, seed=7)


def test_cohort_has_the_columns_splits_and_mix():
    table = demo_participants(24, seed=3)
    assert list(table.columns) == [
        "participant_id",
        "split",
        "age",
        "sex",
        "ischaemia",
        "deep_breaths",
        "stress_mbf",
    ]
    assert table["participant_id"].iloc[0] == "p001"
    assert table["participant_id"].is_unique
    assert table["split"].value_counts().to_dict() == {"train": 14, "test": 8, "val": 2}
    assert (table["ischaemia"] == "none").sum() == 12
    assert set(table["ischaemia"]) == {"none", "LAD", "RCA", "LCx"}
    assert table["deep_breaths"].sum() == round(0.3 * 24)
    assert table["stress_mbf"].between(2.5, 3.5).all()
    pd.testing.assert_frame_equal(table, demo_participants(24, seed=3))
    small = demo_participants(3, seed=0)
    assert sorted(small["split"]) == ["test", "train", "val"]
    with pytest.raises(ConfigError):
        demo_participants(2, seed=0)


def test_segment_convention_counter_clockwise_from_the_anterior_insertion():
    # septum mid-line at 180 degrees: anterior insertion at 120, inferior insertion at 240
    angles = np.array([90.0, 150.0, 210.0, 270.0, 330.0, 30.0, 119.9, 120.0])
    assert aha_segments(angles, 180.0, "basal").tolist() == [1, 2, 3, 4, 5, 6, 1, 2]
    assert aha_segments(angles[:6], 180.0, "mid").tolist() == [7, 8, 9, 10, 11, 12]
    apical = aha_segments(np.array([90.0, 180.0, 270.0, 0.0]), 180.0, "apical")
    assert apical.tolist() == [13, 14, 15, 16]
    assert {SEGMENT_TERRITORY[s] for s in (1, 2, 7, 8, 13, 14)} == {"LAD"}


def test_phantom_rv_lies_at_the_septum_angle_and_segments_follow(subject):
    heart = subject.heart
    for k in range(subject.settings.n_slices):
        labels = subject.reference_labels[..., k]
        lv = np.argwhere(labels == LABELS["lv"]).mean(axis=0)
        rv = np.argwhere(labels == LABELS["rv"]).mean(axis=0) - lv
        assert np.degrees(np.arctan2(rv[1], rv[0])) % 360 == pytest.approx(
            heart.septum_angle, abs=3.0
        )
        segments = subject.segments[..., k]
        assert np.array_equal(segments > 0, labels == LABELS["myocardium"])
    assert set(np.unique(subject.segments[..., 0])) == {0, *range(1, 7)}
    assert set(np.unique(subject.segments[..., 2])) == {0, 13, 14, 15, 16}
    # LV radius shrinks toward the apex
    lv_sizes = [(subject.reference_labels[..., k] == 1).sum() for k in range(3)]
    assert lv_sizes[0] > lv_sizes[1] > lv_sizes[2] > 0


def test_shapes_and_dtypes(subject):
    s = subject
    assert s.stress.shape == (64, 64, 3, 40) and s.stress.dtype == np.float32
    assert s.aif.shape == (32, 32, 1, 40) and s.aif.dtype == np.float32
    assert s.stress_pd.shape == (64, 64, 3) and s.aif_pd.shape == (32, 32, 1)
    assert s.labels.shape == (64, 64, 3, 40) and s.labels.dtype == np.uint8
    assert s.aif_labels.shape == (32, 32, 1, 40) and s.aif_labels.dtype == np.uint8
    assert s.motion.shape == (64, 64, 3, 40, 2) and s.motion.dtype == np.float32
    assert s.aif_motion.shape == (32, 32, 1, 40, 2)
    assert s.segments.shape == (64, 64, 3) and s.segments.dtype == np.uint8
    assert s.mbf.shape == (64, 64, 3) and s.mbf.dtype == np.float32
    assert s.displacement(1).shape == (40, 2, 64, 64)
    assert s.frame_times.shape == (40,) and s.frame_times[0] == 0.0
    assert np.all(np.diff(s.frame_times) > 0.5) and np.all(np.diff(s.frame_times) < 0.9)
    assert set(np.unique(s.reference_labels)) == set(range(6))
    assert np.all(s.mbf[s.segments == 0] == 0) and np.all(s.mbf[s.segments > 0] > 0)


def test_reproducible_from_the_seed_and_the_id(subject):
    again = simulate_arrays(ROW, seed=7)
    for name in ("stress", "aif", "stress_pd", "labels", "motion", "mbf"):
        np.testing.assert_array_equal(getattr(again, name), getattr(subject, name))
    pd.testing.assert_frame_equal(again.segment_table, subject.segment_table)
    other = simulate_arrays({**ROW, "participant_id": "p002"}, seed=7)
    assert not np.array_equal(other.stress, subject.stress)


def test_truth_table_per_segment(subject):
    table = subject.segment_table
    assert table["segment"].tolist() == list(range(1, 17))
    assert {"segment", "territory", "mbf", "tau0", "k", "delay"} <= set(table.columns)
    lad = table["territory"] == "LAD"
    assert table.loc[lad, "mbf"].between(0.8, 1.2).all()
    assert table.loc[~lad, "mbf"].between(2.4, 3.6).all()
    assert (table["n_pixels"] > 0).all()
    np.testing.assert_allclose(table["mbf_pixel_mean"], table["mbf"], rtol=0.1)


def test_noise_free_signal_inverts_to_the_true_concentration():
    settings = SimulationSettings(motion_scale=0.0, snr=float("inf"), aif_snr=float("inf"))
    sim = simulate_arrays(ROW, settings, seed=7)
    assert np.all(sim.motion == 0)
    np.testing.assert_array_equal(sim.stress, sim.stress_clean)
    myo = np.argwhere(sim.reference_labels == LABELS["myocardium"])
    for x, y, k in myo[:: len(myo) // 5]:
        c = concentration_from_signal(
            sim.stress[x, y, k],
            pd=sim.stress_pd[x, y, k],
            saturation_time=settings.saturation_time,
            r10=1.0 / 1.05,
            relaxivity=settings.relaxivity,
        )
        np.testing.assert_allclose(c, sim.concentration[x, y, k], atol=1e-4)
    # the AIF series' LV blood inverts to the true input
    lv = np.argwhere(sim.aif_reference_labels[..., 0] == LABELS["lv"])[0]
    c = concentration_from_signal(
        sim.aif[lv[0], lv[1], 0],
        pd=sim.aif_pd[lv[0], lv[1], 0],
        saturation_time=settings.aif_saturation_time,
        r10=1.0 / 1.55,
        relaxivity=settings.relaxivity,
    )
    np.testing.assert_allclose(c, sim.aif_concentration, atol=1e-3)


def test_myocardium_enhances_later_and_lower_than_the_lv(subject):
    s = subject
    for k in range(3):
        series = np.moveaxis(s.stress[:, :, k], -1, 0)
        masks = np.moveaxis(s.labels[:, :, k], -1, 0)
        lv = np.array([f[m == LABELS["lv"]].mean() for f, m in zip(series, masks, strict=True)])
        myo = np.array([f[m == 2].mean() for f, m in zip(series, masks, strict=True)])
        assert np.argmax(myo) > np.argmax(lv)
        assert myo.max() < 0.7 * lv.max()
        assert myo.max() > 1.5 * myo[:3].mean()  # it does enhance


def test_labels_move_with_the_true_displacement(deep_subject):
    s = deep_subject
    k = 1
    reference = np.argwhere(s.reference_labels[..., k] == LABELS["lv"]).mean(axis=0)
    field = s.displacement(k)
    shifts = []
    for t in range(s.frame_times.size):
        pixels = np.argwhere(s.labels[..., k, t] == LABELS["lv"])
        # pull-back: the LV pixel p of frame t shows the reference LV at p + u(p)
        pulled = pixels + field[t][:, pixels[:, 0], pixels[:, 1]].T
        np.testing.assert_allclose(pulled.mean(axis=0), reference, atol=0.5)
        shifts.append(np.linalg.norm(pixels.mean(axis=0) - reference))
    assert max(shifts) > 3.0  # voxels: the motion is visible


def test_deep_breaths_give_larger_motion_and_change_nothing_else(subject, deep_subject):
    assert np.abs(deep_subject.motion).max() > 1.5 * np.abs(subject.motion).max()
    assert deep_subject.trace.max() > 1.5 * subject.trace.max()
    assert len(deep_subject.motion_model.breathing.deep_breaths) >= 1
    np.testing.assert_array_equal(deep_subject.mbf, subject.mbf)
    np.testing.assert_array_equal(deep_subject.frame_times, subject.frame_times)
    # normal breathing: 3-6 mm translation plus a few % affine and ~1 mm non-rigid
    lv = subject.reference_labels == LABELS["lv"]
    peak_mm = np.linalg.norm(subject.motion[lv], axis=-1).max() * subject.settings.voxel_mm
    assert 2.0 < peak_mm < 12.0


def test_noise_is_rician_with_the_requested_snr(subject):
    s = subject
    air = (s.labels == LABELS["background"]) & (s.reference_labels == 0)[..., None]
    rayleigh_mean = s.stress[air].mean()
    assert rayleigh_mean == pytest.approx(s.sigma * np.sqrt(np.pi / 2), rel=0.05)
    myo = s.reference_labels == LABELS["myocardium"]
    peak = np.moveaxis(s.stress_clean, -1, 0)[:, myo].mean(axis=1).max()
    assert 12.0 < peak / s.sigma < 30.0


def test_aif_series_is_world_aligned_with_the_stress_series(subject):
    s = subject
    centre_stress = s.stress_affine @ np.array([31.5, 31.5, 0.0, 1.0])
    centre_aif = s.aif_affine @ np.array([15.5, 15.5, 0.0, 1.0])
    np.testing.assert_allclose(centre_aif, centre_stress)
    lv_stress = np.argwhere(s.reference_labels[..., 0] == 1).mean(axis=0)
    lv_aif = np.argwhere(s.aif_reference_labels[..., 0] == 1).mean(axis=0)
    world_stress = s.stress_affine[:3, :3] @ [*lv_stress, 0] + s.stress_affine[:3, 3]
    world_aif = s.aif_affine[:3, :3] @ [*lv_aif, 0] + s.aif_affine[:3, 3]
    np.testing.assert_allclose(world_aif, world_stress, atol=1.5)
    # the same breathing, in each grid's voxels: the AIF field is the stress field / 2
    coords = np.stack(np.meshgrid(*(np.arange(32) * 4.0 - 62.0,) * 2, indexing="ij"))
    stress_field = np.moveaxis(s.motion[:, :, 0], (2, 3), (0, 1))  # (T, 2, X, Y)
    resampled = sample_world(stress_field, 2.0, coords) / 2.0
    aif_field = np.moveaxis(s.aif_motion[:, :, 0], (2, 3), (0, 1))
    inner = (slice(None), slice(None), slice(4, 28), slice(4, 28))
    np.testing.assert_allclose(aif_field[inner], resampled[inner], atol=0.05)


def test_written_files_load_with_affines_and_sidecars(subject, tmp_path):
    outputs = {
        key: tmp_path / (f"{key}.tsv" if key in ("mbf_segments", "aif_truth") else f"{key}.nii.gz")
        for key in OUTPUT_KEYS
    }
    simulate_subject(ROW, seed=7, outputs=outputs)
    stress = nib.load(outputs["stress"])
    aif = nib.load(outputs["aif"])
    np.testing.assert_allclose(stress.affine, subject.stress_affine)
    np.testing.assert_allclose(aif.affine, subject.aif_affine)
    np.testing.assert_array_equal(np.asarray(stress.dataobj), subject.stress)
    assert nib.load(outputs["motion"]).shape == (64, 64, 3, 40, 2)
    assert np.asarray(nib.load(outputs["labels"]).dataobj).dtype == np.uint8
    np.testing.assert_allclose(nib.load(outputs["aif_pd"]).affine, subject.aif_affine)
    for key, ts in (("stress", 0.10), ("aif", 0.02)):
        sidecar = json.loads((tmp_path / f"{key}.json").read_text())
        assert len(sidecar["FrameTimes"]) == 40
        np.testing.assert_allclose(sidecar["FrameTimes"], subject.frame_times, atol=1e-6)
        assert sidecar["SaturationTime"] == ts
        assert sidecar["MagneticFieldStrength"] == 1.5
    for key in ("stress_pd", "segments", "mbf", "motion"):
        assert (tmp_path / f"{key}.json").is_file()
    segments = pd.read_csv(outputs["mbf_segments"], sep="\t")
    np.testing.assert_allclose(segments["mbf"], subject.segment_table["mbf"], rtol=1e-5)
    truth = pd.read_csv(outputs["aif_truth"], sep="\t")
    assert list(truth.columns) == ["frame", "time", "concentration"] and len(truth) == 40
    assert 5.0 <= truth["concentration"].max() <= 7.5


def test_bad_inputs_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="output keys"):
        simulate_subject(ROW, outputs={"nonsense": tmp_path / "x.nii.gz"})
    with pytest.raises(ConfigError, match="ischaemia"):
        simulate_arrays({**ROW, "ischaemia": "LM"})
    with pytest.raises(ConfigError, match="unknown"):
        SimulationSettings.from_mapping({"matrx": [64, 64]})
    with pytest.raises(ConfigError):
        SimulationSettings(n_slices=6)  # does not fit the LV at 20 mm spacing
    assert SimulationSettings.from_mapping({"matrix": [64, 64]}).matrix == (64, 64)


def test_the_aif_series_covers_the_stress_field_of_view_by_default():
    assert SimulationSettings(matrix=(80, 64)).aif_matrix == (40, 32)  # 2 mm -> 4 mm voxels
    assert SimulationSettings(aif_matrix=(20, 20)).aif_matrix == (20, 20)
