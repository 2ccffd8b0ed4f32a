"""The breathing demo simulator: cohort, geometry conventions, motion truth, k-space, T1 truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qmrflow.errors import ConfigError
from qmrflow.simulate.kspace import nufft_adjoint, radial_density
from qmrflow.studies.breathing.simulate import (
    COLUMNS,
    LABELS,
    TASKS,
    SimulationSettings,
    demo_participants,
    diaphragm_t1,
    frame_trajectories,
    simulate_arrays,
)
from qmrflow.studies.breathing.simulate.phantom import (
    class_fractions,
    render_classes,
    subpixel_world,
)
from qmrflow.studies.breathing.simulate.settings import CLASSES

# 48 x 48 at 8 mm (the same 384 mm field of view), 2 coils, 0.2 s frames: 40 + 20 frames.
SMALL = SimulationSettings(matrix=(48, 48), voxel_mm=8.0, n_coils=2, samples=96, frame_s=0.2)
PATIENT = {
    "participant_id": "b001",
    "group": "patient",
    "severity": 0.7,
    "paradoxical": "right",
    "diaphragm_fat": 0.3,
}


@pytest.fixture(scope="module")
def patient():
    return simulate_arrays(PATIENT, SMALL, seed=5)


def _lowest_lung_edge(labels: np.ndarray, label: int, column: int, voxel_mm: float) -> np.ndarray:
    """World ``z`` (mm) of the lower edge of the lowest ``label`` pixel of ``column``, per frame."""
    lung = labels[:, column, :] == label
    lowest = np.argmax(lung, axis=1)
    centre = (lowest - (labels.shape[2] - 1) / 2.0) * voxel_mm
    return np.where(lung.any(axis=1), centre - voxel_mm / 2.0, np.nan)


def _column_of(x_mm: float, settings: SimulationSettings) -> int:
    return round((settings.matrix[0] - 1) / 2.0 - x_mm / settings.voxel_mm)


def test_cohort_has_the_columns_splits_and_truth():
    table = demo_participants(seed=3)
    assert tuple(table.columns) == COLUMNS
    assert table["participant_id"].tolist() == [f"b{i:03d}" for i in range(1, 13)]
    assert table["group"].value_counts().to_dict() == {"patient": 6, "control": 6}
    assert table["split"].value_counts().to_dict() == {"train": 6, "test": 4, "val": 2}
    for _, part in table.groupby("group"):  # stratified by group: 3 / 1 / 2 each
        assert part["split"].value_counts().to_dict() == {"train": 3, "test": 2, "val": 1}
    patients = table[table["group"] == "patient"]
    controls = table[table["group"] == "control"]
    assert (controls["severity"] == 0).all() and patients["severity"].between(0.25, 1).all()
    assert (controls["paradoxical"] == "none").all()
    assert (patients["paradoxical"] != "none").sum() == round(7 / 11 * 6)
    assert set(patients["paradoxical"]) <= {"none", "right", "left", "both"}
    assert sorted(controls["sex"]) == sorted(patients["sex"])  # matched controls
    pd.testing.assert_frame_equal(table, demo_participants(seed=3))
    assert not table.equals(demo_participants(seed=4))
    small = demo_participants(2, 1, seed=0)
    assert sorted(small["split"]) == ["test", "train", "val"]
    with pytest.raises(ConfigError):
        demo_participants(0, 5, seed=0)
    with pytest.raises(ConfigError):
        demo_participants(splits=(1.0, -1.0, 1.0))


def test_cohort_lung_function_and_fat_follow_the_severity():
    table = demo_participants(40, 40, seed=1)
    patients = table["group"] == "patient"
    means = table.groupby("group")[
        ["fvc_upright_pct", "fvc_supine_drop_pct", "mip", "snip", "diaphragm_fat"]
    ].mean()
    assert means.loc["patient", "fvc_upright_pct"] < means.loc["control", "fvc_upright_pct"] - 15
    assert (
        means.loc["patient", "fvc_supine_drop_pct"]
        > means.loc["control", "fvc_supine_drop_pct"] + 10
    )
    assert means.loc["patient", "mip"] < means.loc["control", "mip"] - 15
    assert means.loc["patient", "snip"] < means.loc["control", "snip"] - 15
    assert means.loc["patient", "diaphragm_fat"] > 3 * means.loc["control", "diaphragm_fat"]
    rho = table[patients].corr(method="spearman", numeric_only=True)["severity"]
    assert rho["fvc_upright_pct"] < -0.5 and rho["mip"] < -0.4 and rho["snip"] < -0.4
    assert rho["fvc_supine_drop_pct"] > 0.6 and rho["diaphragm_fat"] > 0.8
    paradoxical = table[patients]["paradoxical"] != "none"
    assert table[patients][paradoxical]["severity"].mean() > (
        table[patients][~paradoxical]["severity"].mean()
    )


def test_shapes_dtypes_and_trajectory_convention(patient):
    s = patient
    assert s.coils.shape == (2, 48, 48) and s.coils.dtype == np.complex64
    np.testing.assert_allclose(np.sqrt((np.abs(s.coils) ** 2).sum(axis=0)), 1.0, rtol=1e-5)
    assert s.phase.shape == (48, 48) and s.phase.dtype == np.float32
    for task, n in zip(TASKS, (40, 20), strict=True):
        t = s.tasks[task]
        assert t.kspace.shape == (n, 2, 11, 96) and t.kspace.dtype == np.complex64
        assert t.trajectory.shape == (n, 11, 96, 2) and t.trajectory.dtype == np.float32
        assert t.images.shape == (n, 48, 48) and t.images.dtype == np.float32
        assert t.labels.shape == (n, 48, 48) and t.labels.dtype == np.uint8
        np.testing.assert_allclose(t.frame_times, np.arange(n) * 0.2)
        assert list(t.curves.columns[:6]) == [
            "frame",
            "time",
            "phase",
            "dome_right_mm",
            "dome_left_mm",
            "width_mm",
        ]
        assert len(t.curves) == n
        assert set(np.unique(t.labels[0])) == set(LABELS.values())
    traj = s.tasks["breathing"].trajectory
    assert np.abs(traj).max() <= np.pi
    np.testing.assert_array_equal(traj[0], traj[5])  # 5 turns
    assert not np.array_equal(traj[0], traj[1])
    np.testing.assert_allclose(traj[:, :, 48], 0.0, atol=1e-7)  # DC at sample N // 2
    np.testing.assert_allclose(np.diff(traj[0, 0, :, 0]), np.pi / 48, rtol=1e-4)  # 2x oversampled
    # spoke s of frame t at pi s / 11 + (t mod 5) pi / 55 from +axis 0 toward +axis 1
    angles = np.arctan2(traj[:, :, -1, 1], traj[:, :, -1, 0])
    expected = np.pi * np.arange(11)[None] / 11 + (np.arange(40) % 5)[:, None] * np.pi / 55
    np.testing.assert_allclose(np.angle(np.exp(1j * (angles - expected))), 0.0, atol=1e-5)
    np.testing.assert_array_equal(frame_trajectories(SMALL)[2].astype(np.float32), traj[7])
    assert s.t1_series.shape == (48, 48, 10) and s.t1_series.dtype == np.float32
    assert s.t1.shape == s.t1_star.shape == s.diaphragm_roi.shape == (48, 48)
    assert s.diaphragm_roi.dtype == bool and s.diaphragm_roi.sum() > 20
    np.testing.assert_allclose(s.inversion_times, SMALL.ir_times)


def test_affine_and_radiological_orientation(patient):
    s, v = patient, SMALL.voxel_mm
    affine = s.affine
    assert np.linalg.det(affine[:3, :3]) > 0
    np.testing.assert_allclose(affine @ [23.5, 23.5, 0, 1], [0, 0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(affine[:3, 0], [-v, 0, 0])  # axis 0 toward the patient's left
    np.testing.assert_allclose(affine[:3, 1], [0, 0, v])  # axis 1 toward the head
    labels = s.tasks["breathing"].labels[0]
    right = np.argwhere(labels == LABELS["lung_right"]).mean(axis=0)
    left = np.argwhere(labels == LABELS["lung_left"]).mean(axis=0)
    liver = np.argwhere(labels == LABELS["liver"]).mean(axis=0)
    heart = np.argwhere(labels == LABELS["heart"]).mean(axis=0)
    assert right[0] < 24 < left[0]  # the patient's right at low axis-0 indices
    assert liver[0] < 24 and liver[1] < right[1]  # liver under the right dome
    assert heart[0] > 22 and heart[1] < left[1]  # heart on the left, low in the thorax
    world = affine @ [*right, 0, 1]
    assert world[0] > 0  # RAS: +x is the patient's right


def test_reproducible_and_streams_are_independent(patient):
    again = simulate_arrays(PATIENT, SMALL, seed=5)
    for task in TASKS:
        np.testing.assert_array_equal(again.tasks[task].kspace, patient.tasks[task].kspace)
        pd.testing.assert_frame_equal(again.tasks[task].curves, patient.tasks[task].curves)
    np.testing.assert_array_equal(again.t1_series, patient.t1_series)

    # paradoxical: only the sniff task changes
    other = simulate_arrays({**PATIENT, "paradoxical": "none"}, SMALL, seed=5)
    np.testing.assert_array_equal(
        other.tasks["breathing"].kspace, patient.tasks["breathing"].kspace
    )
    assert not np.array_equal(other.tasks["sniff"].kspace, patient.tasks["sniff"].kspace)
    np.testing.assert_array_equal(other.t1_series, patient.t1_series)

    # diaphragm fat: only the T1 series and maps change
    fatter = simulate_arrays({**PATIENT, "diaphragm_fat": 0.5}, SMALL, seed=5)
    for task in TASKS:
        np.testing.assert_array_equal(fatter.tasks[task].kspace, patient.tasks[task].kspace)
    assert not np.array_equal(fatter.t1_series, patient.t1_series)
    assert fatter.diaphragm_t1 < patient.diaphragm_t1

    # severity: the motion changes, the anatomy, coils, phase and T1 slice do not
    milder = simulate_arrays({**PATIENT, "severity": 0.2}, SMALL, seed=5)
    assert milder.thorax == patient.thorax
    np.testing.assert_array_equal(milder.coils, patient.coils)
    np.testing.assert_array_equal(milder.phase, patient.phase)
    np.testing.assert_array_equal(milder.t1_series, patient.t1_series)
    assert not np.array_equal(milder.tasks["breathing"].images, patient.tasks["breathing"].images)

    # another subject or seed: different data
    assert simulate_arrays({**PATIENT, "participant_id": "b002"}, SMALL, seed=5).thorax != (
        patient.thorax
    )
    assert simulate_arrays(PATIENT, SMALL, seed=6).thorax != patient.thorax


def test_masks_agree_with_the_truth_curves(patient):
    s, v = patient, SMALL.voxel_mm
    for task in TASKS:
        t = s.tasks[task]
        for side, label, column in (
            ("right", LABELS["lung_right"], "dome_right_mm"),
            ("left", LABELS["lung_left"], "dome_left_mm"),
        ):
            k = 0 if side == "right" else 1
            col = _column_of(s.thorax.dome_x[k], SMALL)
            edge = _lowest_lung_edge(t.labels, label, col, v)
            error = edge - t.curves[column].to_numpy()
            # a pixel is lung when at least half of it is: the lower edge of the lowest lung
            # pixel lies within 5/8 of a pixel of the dome (4 x 4 supersampling)
            assert np.all(np.abs(error) <= 0.65 * v), (task, side, error)
            assert np.abs(error).mean() < 0.4 * v
        # thoracic width: the largest distance between the lateral lung borders
        lung = (t.labels == LABELS["lung_right"]) | (t.labels == LABELS["lung_left"])
        columns = np.arange(48)[None, :, None]
        first = np.where(lung, columns, 99).min(axis=1)
        last = np.where(lung, columns, -1).max(axis=1)
        measured = (last - first + 1).max(axis=1) * v
        assert np.all(np.abs(measured - t.curves["width_mm"]) <= 1.25 * v)
        # the lung areas of the curves are the label counts
        area = (t.labels == LABELS["lung_left"]).sum(axis=(1, 2)) * v**2
        np.testing.assert_allclose(t.curves["lung_area_left_mm2"], area)


def test_breathing_phases_excursions_and_deep_breaths(patient):
    t = patient.tasks["breathing"]
    assert list(t.summary["phase"]) == ["quiet", "deep"]
    quiet, deep = t.summary.iloc[0], t.summary.iloc[1]
    assert deep["excursion_right_mm"] > 2 * quiet["excursion_right_mm"]
    assert deep["width_excursion_mm"] > quiet["width_excursion_mm"]
    curves = t.curves
    for side in ("right", "left"):
        d = curves[f"dome_{side}_mm"]
        assert d.iloc[0] == pytest.approx(patient.thorax.dome_z[0 if side == "right" else 1])
        assert d.max() <= d.iloc[0] + 1e-9  # inspiration moves the dome caudally
        deep_part = d[curves["phase"] == "deep"]
        assert deep["excursion_" + side + "_mm"] == pytest.approx(np.ptp(deep_part))
    assert not any(t.paradoxical.values())
    assert patient.truth["task"].tolist() == ["breathing", "breathing", "sniff"]


def test_patients_move_less_than_controls_and_lag_the_chest_wall():
    table = demo_participants(seed=0)
    tiny = SimulationSettings(
        matrix=(32, 32), voxel_mm=12.0, n_coils=1, samples=32, spokes=3, frame_s=0.25
    )
    rows = []
    for _, row in table.iterrows():
        sim = simulate_arrays(row, tiny, seed=0)
        truth = sim.truth.set_index("phase")
        rows.append(
            {
                "group": row["group"],
                "quiet": truth.loc["quiet", "excursion_right_mm"],
                "deep": truth.loc["deep", ["excursion_right_mm", "excursion_left_mm"]].mean(),
                "lag": sim.response.lag,
            }
        )
    result = pd.DataFrame(rows).groupby("group").mean()
    assert result.loc["patient", "deep"] < 0.8 * result.loc["control", "deep"]
    assert result.loc["patient", "quiet"] < result.loc["control", "quiet"]
    assert 35.0 < result.loc["control", "deep"] < 75.0
    assert result.loc["patient", "lag"] < -0.1 < result.loc["control", "lag"] + 0.1


def test_paradoxical_dome_rises_during_the_sniff(patient):
    t = patient.tasks["sniff"]
    assert t.paradoxical == {"right": True, "left": False}
    right = t.curves["dome_right_mm"].to_numpy()
    left = t.curves["dome_left_mm"].to_numpy()
    rest_right, rest_left = patient.thorax.dome_z
    assert right.max() - rest_right > 4.0 and right.min() == pytest.approx(rest_right)
    assert rest_left - left.min() > 5.0 and left.max() == pytest.approx(rest_left)
    widest = int(np.argmax(t.curves["width_mm"]))
    assert t.curves["width_mm"].iloc[widest] > t.curves["width_mm"].iloc[0] + 3.0
    # the masks show it: the right lung's base rises at the peak frame
    v = SMALL.voxel_mm
    peak = int(np.argmax(right))
    edge = _lowest_lung_edge(t.labels, 1, _column_of(patient.thorax.dome_x[0], SMALL), v)
    assert edge[peak] > edge[0]
    summary = t.summary.iloc[0]
    assert bool(summary["paradoxical_right"]) and not bool(summary["paradoxical_left"])
    assert summary["excursion_right_mm"] == pytest.approx(right.max() - right.min())
    # a normal sniff: fast descent, 10-25 cm/s in a control
    control = simulate_arrays({"participant_id": "b009", "group": "control"}, SMALL, seed=5)
    c = control.tasks["sniff"].summary.iloc[0]
    assert 90.0 < c["peak_velocity_right_mm_s"] < 260.0
    assert c["excursion_right_mm"] > 20.0
    assert not any(control.tasks["sniff"].paradoxical.values())
    both = simulate_arrays({**PATIENT, "paradoxical": "both"}, SMALL, seed=5)
    for column in ("dome_right_mm", "dome_left_mm"):
        curve = both.tasks["sniff"].curves[column]
        assert curve.max() > curve.iloc[0] + 4.0


def test_kspace_grids_back_to_the_image_when_fully_sampled():
    settings = SimulationSettings(
        matrix=(48, 48),
        voxel_mm=8.0,
        n_coils=2,
        spokes=76,  # pi / 2 * 48: Nyquist
        samples=96,
        turns=1,
        snr=math.inf,
        frame_s=0.25,
    )
    sim = simulate_arrays(PATIENT, settings, seed=1)
    t, frame = sim.tasks["breathing"], 13
    trajectory = t.trajectory[frame].astype(np.float64)
    # 2x oversampled readout: weights per sample of spacing 2 pi / samples, in image cells
    weights = radial_density(trajectory, settings.samples) * (48 / settings.samples) ** 2
    coil_images = nufft_adjoint(t.kspace[frame], trajectory, (48, 48), weights=weights)
    recon = np.sum(np.conj(sim.coils) * coil_images, axis=0)
    image = t.images[frame] * np.exp(1j * sim.phase)
    assert np.linalg.norm(recon - image) / np.linalg.norm(image) < 0.08
    # and the noise has the requested SD per sample
    noisy = simulate_arrays(PATIENT, SMALL, seed=1).tasks["sniff"]
    assert noisy.sigma == pytest.approx(0.6 / SMALL.snr)


def test_t1_truth_follows_the_fat_fraction_and_the_look_locker_model(patient):
    s = patient
    assert s.diaphragm_t1 == pytest.approx(diaphragm_t1(0.3, 3.0))
    assert 0.6 < s.diaphragm_t1 < 0.9  # muscle 1.41 s lowered toward fat 0.37 s
    np.testing.assert_allclose(s.t1[s.diaphragm_roi], s.diaphragm_t1, rtol=1e-6)
    assert s.t1_labels[s.diaphragm_roi].tolist() == [LABELS["other"]] * int(s.diaphragm_roi.sum())
    t1s = [diaphragm_t1(f, 3.0) for f in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert t1s[0] == pytest.approx(1.41) and t1s[-1] == pytest.approx(0.37)
    assert np.all(np.diff(t1s) < 0)
    assert diaphragm_t1(0.0, 1.5) == pytest.approx(1.01)
    # T1 = T1* (B / A - 1) with A = M0 T1* / T1 and B = A + M0 in pure diaphragm pixels
    th = s.thorax
    x, z = subpixel_world(SMALL.matrix, SMALL.voxel_mm, SMALL.supersample)
    classes = render_classes(th, [th.dome_z[0]], [th.dome_z[1]], [th.width], x, z)
    pure = class_fractions(classes, SMALL.matrix, SMALL.supersample)[0, CLASSES.index("diaphragm")]
    pure = (pure == 1.0) & s.diaphragm_roi
    assert pure.sum() >= 3
    t1, t1_star = s.diaphragm_t1, s.diaphragm_t1_star
    assert 1 / t1_star == pytest.approx(1 / t1 + SMALL.look_locker_rate)
    m0 = 0.7 * 0.7 + 0.3 * 0.9
    a = m0 * t1_star / t1
    b = a + m0
    expected = np.abs(a - b * np.exp(-s.inversion_times / t1_star))
    np.testing.assert_allclose(s.t1_clean[pure], np.broadcast_to(expected, (pure.sum(), 10)))
    assert t1_star * (b / a - 1) == pytest.approx(t1)
    # noise: the series is the clean one plus Rician noise of the stated SD
    air = np.all(s.t1_clean == 0, axis=-1)  # pure air
    assert s.t1_series[air].mean() == pytest.approx(s.t1_sigma * np.sqrt(np.pi / 2), rel=0.1)
    assert s.t1_sigma == pytest.approx(0.7 / SMALL.ir_snr)


def test_static_anatomy_without_motion():
    sim = simulate_arrays(PATIENT, {**_small_mapping(), "motion_scale": 0.0}, seed=2)
    t = sim.tasks["breathing"]
    np.testing.assert_array_equal(t.images[0], t.images[-1])
    assert (t.summary["excursion_right_mm"] == 0).all()


def _small_mapping() -> dict:
    return {"matrix": [48, 48], "voxel_mm": 8.0, "n_coils": 2, "samples": 96, "frame_s": 0.2}


def test_settings_validation():
    assert SimulationSettings.from_mapping(_small_mapping()) == SMALL
    assert SimulationSettings.from_mapping(None) == SimulationSettings()
    settings = SimulationSettings()
    assert settings.n_frames("breathing") == 160 and settings.n_frames("sniff") == 80
    assert settings.look_locker_rate == pytest.approx(2.058, rel=1e-3)
    assert SimulationSettings(ir_times=[0.1, 0.5, 1.0]).ir_times == (0.1, 0.5, 1.0)
    bad = [
        {"matrx": [96, 96]},
        {"matrix": [96]},
        {"matrix": [64, 64]},  # 256 mm: too small a field of view
        {"samples": 64},
        {"spokes": 0},
        {"spokes": 2.5},
        {"snr": -1.0},
        {"snr": float("nan")},
        {"field_strength": 7.0},
        {"ir_times": [0.5, 0.1, 1.0]},
        {"ir_times": [0.1, 0.2]},
        {"ir_flip_angle": 95.0},
        {"breathing_s": 4.0},
        {"sniff_s": 1.0},
        {"motion_scale": -1.0},
        {"supersample": 0},
        {"frame_s": "fast"},
    ]
    for values in bad:
        with pytest.raises(ConfigError):
            SimulationSettings.from_mapping(values)
    with pytest.raises(ConfigError, match="task"):
        settings.n_frames("cough")


def test_bad_rows_raise_config_errors():
    for row in (
        {"group": "patient"},
        {"participant_id": "b001", "group": "athlete"},
        {"participant_id": "b001", "severity": 1.5},
        {"participant_id": "b001", "severity": "high"},
        {"participant_id": "b001", "paradoxical": "up"},
        {"participant_id": "b001", "diaphragm_fat": -0.1},
    ):
        with pytest.raises(ConfigError):
            simulate_arrays(row, SMALL)
    # missing optional columns take defaults (a control with 5 % diaphragm fat)
    sim = simulate_arrays({"participant_id": "b001", "severity": float("nan")}, SMALL)
    assert sim.group == "control" and sim.severity == 0.0 and sim.diaphragm_fat == 0.05
