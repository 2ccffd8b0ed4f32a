"""The simulated dystrophinopathy demo cohort: determinism, anatomy, disease patterns, readers."""

from __future__ import annotations

import json
import logging
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from qmrflow.errors import ConfigError
from qmrflow.studies.dystrophy import simulate as sim
from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES

SHAPE = (256, 192)


def _row(diagnosis: str, severity: float, seed: int, **extra: object) -> dict[str, object]:
    base = {
        "participant_id": f"t{seed}",
        "diagnosis": diagnosis,
        "severity": severity,
        "seed": seed,
        "age": 10.0 if diagnosis == "DMD" else 30.0,
        "sex": "M",
    }
    return {**base, **extra}


def _is_positive(diagnoses: pd.Series) -> np.ndarray:
    return diagnoses.isin(POSITIVE_DIAGNOSES).to_numpy()


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return sim.demo_participants(432, 2021)


@pytest.fixture(scope="module")
def dmd_case() -> sim.SimulatedCase:
    return sim.simulate_case(_row("DMD", 0.5, 7), 4)


# ------------------------------------------------------------------------------- constants


def test_label_table_is_consistent() -> None:
    for i, muscle in enumerate(sim.MUSCLES, start=1):
        assert sim.LABELS[muscle] == i
    ids = list(sim.LABELS.values())
    assert len(set(ids)) == len(ids)
    assert max(ids) < sim.LEFT_OFFSET
    assert {"subcutaneous_fat", "femur_cortex", "marrow", "skin"} <= set(sim.LABELS)
    assert set(POSITIVE_DIAGNOSES) <= set(sim.DIAGNOSES)


# ------------------------------------------------------------------------------- participants


def test_participants_are_pure_and_seeded(cohort: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(cohort, sim.demo_participants(432, 2021))
    other = sim.demo_participants(432, 2022)
    assert not cohort["seed"].equals(other["seed"])
    # A subject's seed depends only on the cohort seed and its index.
    small = sim.demo_participants(40, 2021)
    assert small["seed"].tolist() == cohort["seed"].iloc[:40].tolist()
    assert cohort["seed"].is_unique


def test_participants_columns_and_values(cohort: pd.DataFrame) -> None:
    assert list(cohort.columns) == [
        "participant_id",
        "diagnosis",
        "split",
        "age",
        "sex",
        "disease_duration",
        "severity",
        "seed",
    ]
    assert cohort["participant_id"].is_unique
    assert all(re.fullmatch(r"[A-Za-z0-9]+", p) for p in cohort["participant_id"])
    assert set(cohort["diagnosis"]) <= set(sim.DIAGNOSES)
    assert set(cohort["sex"]) == {"M", "F"}
    assert cohort["severity"].between(0, 1).all()
    assert (cohort["disease_duration"] <= cohort["age"]).all()
    assert (cohort["disease_duration"] > 0).all()
    assert pd.api.types.is_integer_dtype(cohort["seed"])


def test_class_mix_follows_the_paper(cohort: pd.DataFrame) -> None:
    counts = cohort["diagnosis"].value_counts()
    assert counts["DMD"] + counts["BMD"] == 148
    assert counts["DMD"] == 117 and counts["BMD"] == 31
    # Negatives are a mixture, with the dystrophinopathy mimics present.
    assert {"LGMD2A", "LGMD2I", "Bethlem", "neurogenic", "myositis"} <= set(counts.index)


def test_demographics_and_severity(cohort: pd.DataFrame) -> None:
    big = sim.demo_participants(2000, 5)
    dmd = big[big["diagnosis"] == "DMD"]
    bmd = big[big["diagnosis"] == "BMD"]
    assert (dmd["sex"] == "M").all() and (bmd["sex"] == "M").all()
    assert dmd["age"].median() < 12 < bmd["age"].median()
    assert dmd["severity"].mean() > bmd["severity"].mean() + 0.15
    # Severity per year of disease is higher in DMD than in BMD.
    rate = big["severity"] / big["disease_duration"]
    assert rate[dmd.index].median() > 2 * rate[bmd.index].median()
    # Hard cases exist: mild BMD and advanced cases of both classes.
    assert (bmd["severity"] < 0.15).mean() > 0.1
    assert (dmd["severity"] > 0.85).any()
    negatives = big[~_is_positive(big["diagnosis"])]
    assert (negatives["severity"] > 0.85).any()


@pytest.mark.parametrize("n_cases", [6, 7, 12, 25, 160, 2000])
def test_splits_are_stratified(n_cases: int) -> None:
    table = sim.demo_participants(n_cases, 3)
    assert len(table) == n_cases
    assert table["participant_id"].is_unique
    for split in ("train", "val", "test"):
        positive = _is_positive(table.loc[table["split"] == split, "diagnosis"])
        assert positive.any() and not positive.all(), split
    if n_cases >= 160:
        share = table["split"].value_counts(normalize=True)
        assert share["train"] == pytest.approx(0.55, abs=0.03)
        assert share["test"] == pytest.approx(0.25, abs=0.03)
        by_split = table.groupby("split")["diagnosis"].apply(lambda d: _is_positive(d).mean())
        assert by_split.max() - by_split.min() < 0.05


@settings(max_examples=15, deadline=None)
@given(n_cases=st.integers(6, 80), seed=st.integers(0, 2**31))
def test_splits_hold_both_classes_for_any_size(n_cases: int, seed: int) -> None:
    table = sim.demo_participants(n_cases, seed)
    crossed = pd.crosstab(table["split"], _is_positive(table["diagnosis"]))
    assert crossed.shape == (3, 2)
    assert (crossed.to_numpy() >= 1).all()


def test_participants_reject_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        sim.demo_participants(5, 0)
    with pytest.raises(ConfigError):
        sim.demo_participants(20, 0, split_fractions=(0.5, 0.5))


# ------------------------------------------------------------------------------- images


def test_case_shapes_and_types(dmd_case: sim.SimulatedCase) -> None:
    case = dmd_case
    assert case.images.shape == (4, *SHAPE) and case.images.dtype == np.float32
    assert case.labels.shape == (4, *SHAPE) and case.labels.dtype == np.uint8
    assert np.isfinite(case.images).all() and (case.images >= 0).all()
    assert case.affine.shape == (4, 4)
    np.testing.assert_allclose(np.abs(np.diag(case.affine)[:2]), [1.5625, 1.5625])
    assert case.slice_z_mm.shape == (4,)
    assert np.all(np.diff(case.slice_z_mm) < 0)  # proximal first, z decreasing
    assert case.slice_affine(2)[2, 3] == case.slice_z_mm[2]
    assert case.leg_gap_px.shape == (4,)
    ff = case.fat_fraction
    assert list(ff.columns) == ["muscle", "side", "fat_fraction"]
    assert len(ff) == 2 * len(sim.MUSCLES)
    assert set(ff["side"]) == {"right", "left"}
    assert ff["fat_fraction"].between(0, 1).all()


def test_case_is_deterministic(dmd_case: sim.SimulatedCase) -> None:
    again = sim.simulate_case(pd.Series(_row("DMD", 0.5, 7)), 4)
    np.testing.assert_array_equal(again.images, dmd_case.images)
    np.testing.assert_array_equal(again.labels, dmd_case.labels)
    pd.testing.assert_frame_equal(again.fat_fraction, dmd_case.fat_fraction)
    other = sim.simulate_case(_row("DMD", 0.5, 8), 4)
    assert not np.array_equal(other.images, dmd_case.images)
    assert not np.array_equal(other.labels, dmd_case.labels)


def test_custom_geometry() -> None:
    case = sim.simulate_case(_row("LGMD2A", 0.4, 3), 2, shape=(160, 120), spacing_mm=(2.5, 2.5))
    assert case.images.shape == (2, 160, 120)
    assert case.affine[0, 0] == -2.5
    assert (case.labels[:, [0, -1], :] == 0).all() and (case.labels[:, :, [0, -1]] == 0).all()


def test_labels_match_the_anatomy(dmd_case: sim.SimulatedCase) -> None:
    labels, images = dmd_case.labels, dmd_case.images
    right, left = labels % sim.LEFT_OFFSET, labels >= sim.LEFT_OFFSET
    present = set(np.unique(labels).tolist())
    for name, lab in sim.LABELS.items():
        if name != "background":
            assert lab in present and lab + sim.LEFT_OFFSET in present, name
    # The right leg lies at low x (patient's right on the image left), the left leg at high x.
    xs = np.nonzero(labels)[1]
    is_left = left[np.nonzero(labels)]
    assert xs[~is_left].max() < xs[is_left].min() + 1
    # Nothing touches the image border.
    assert not labels[:, [0, -1], :].any() and not labels[:, :, [0, -1]].any()
    # Anatomy: quadriceps anterior (low y) to the hamstrings, gracilis medial to vastus lateralis.
    y = np.nonzero(labels == sim.LABELS["rectus_femoris"])[2].mean()
    assert y < np.nonzero(labels == sim.LABELS["semitendinosus"])[2].mean()
    x_gr = np.nonzero(labels == sim.LABELS["gracilis"])[1].mean()
    x_vl = np.nonzero(labels == sim.LABELS["vastus_lateralis"])[1].mean()
    assert x_gr > x_vl
    # Intensities: fat bright, muscle dark, cortex and air darkest.
    spared = np.isin(right, [sim.LABELS["gracilis"], sim.LABELS["sartorius"]]) & (labels > 0)
    fat = images[right == sim.LABELS["subcutaneous_fat"]].mean()
    assert fat > 2.0 * images[spared].mean()
    assert images[right == sim.LABELS["marrow"]].mean() > images[right == 15].mean()
    assert images[labels == 0].mean() < 0.2 * fat


def test_fat_fraction_truth_matches_the_image(dmd_case: sim.SimulatedCase) -> None:
    ff = dmd_case.fat_fraction.set_index(["side", "muscle"])["fat_fraction"]
    means = []
    for side, offset in (("right", 0), ("left", sim.LEFT_OFFSET)):
        for muscle in sim.MUSCLES:
            mask = dmd_case.labels == sim.LABELS[muscle] + offset
            means.append((ff[side, muscle], dmd_case.images[mask].mean()))
    truth, signal = np.array(means).T
    assert np.corrcoef(truth, signal)[0, 1] > 0.9


def test_fat_infiltration_is_textured(dmd_case: sim.SimulatedCase) -> None:
    """Fatty muscle is mottled, not uniformly brighter: its intensity spread is larger."""
    am = dmd_case.labels == sim.LABELS["adductor_magnus"]
    gr = dmd_case.labels == sim.LABELS["gracilis"]
    ff = dmd_case.fat_fraction.set_index(["side", "muscle"])["fat_fraction"]
    assert ff["right", "adductor_magnus"] > 0.3 > ff["right", "gracilis"]
    # A uniform brightening would leave only the noise spread that the spared muscle shows.
    excess = np.sqrt(dmd_case.images[am].var() - dmd_case.images[gr].var())
    assert excess > 0.2 * (dmd_case.images[am].mean() - dmd_case.images[gr].mean())


def test_dystrophinopathy_spares_the_trefoil() -> None:
    spared = ["sartorius", "gracilis", "semitendinosus"]
    involved = ["adductor_magnus", "biceps_femoris_long"]
    for seed, severity in ((11, 0.35), (12, 0.5), (13, 0.65)):
        ff = sim.simulate_case(_row("DMD", severity, seed), 1).fat_fraction
        ff = ff.groupby("muscle")["fat_fraction"].mean()
        assert ff[spared].max() < ff[involved].min(), (seed, ff.round(2).to_dict())


def test_bmd_is_milder_than_dmd(cohort: pd.DataFrame) -> None:
    def mean_ff(diagnosis: str) -> float:
        rows = cohort[cohort["diagnosis"] == diagnosis].head(6)
        return float(
            np.mean(
                [
                    sim.simulate_case(r, 1).fat_fraction["fat_fraction"].mean()
                    for _, r in rows.iterrows()
                ]
            )
        )

    assert mean_ff("BMD") < mean_ff("DMD")


def test_other_patterns_differ() -> None:
    def ff(diagnosis: str, seed: int) -> pd.Series:
        case = sim.simulate_case(_row(diagnosis, 0.45, seed), 1)
        return case.fat_fraction.groupby("muscle")["fat_fraction"].mean()

    # LGMD2A involves semitendinosus and spares vastus lateralis, unlike DMD.
    lgmd = ff("LGMD2A", 21)
    assert lgmd["vastus_lateralis"] < lgmd["adductor_magnus"] - 0.3
    assert lgmd["semitendinosus"] > ff("DMD", 21)["semitendinosus"]
    # GNE myopathy spares the quadriceps.
    gne = ff("GNE_myopathy", 22)
    assert gne["rectus_femoris"] < gne["biceps_femoris_long"] - 0.3
    # Neurogenic disease is asymmetric.
    case = sim.simulate_case(_row("neurogenic", 0.8, 23), 1).fat_fraction
    sides = case.groupby("side")["fat_fraction"].mean()
    assert abs(sides["left"] - sides["right"]) > 0.1


def test_unknown_diagnosis_uses_a_generic_pattern(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        case = sim.simulate_case(_row("Pompe", 0.5, 4), 1)
    assert case.images.shape == (1, *SHAPE)
    assert "Pompe" in caplog.text


def test_missing_columns_are_reported() -> None:
    row = _row("DMD", 0.5, 1)
    del row["seed"]
    with pytest.raises(ConfigError, match="seed"):
        sim.simulate_case(row, 1)


def test_legs_nearly_touch_in_some_cases() -> None:
    table = sim.demo_participants(40, 9)
    gaps = np.array([sim.simulate_case(r, 1).leg_gap_px[0] for _, r in table.iterrows()])
    assert (gaps >= 0).all()
    assert 0.03 < (gaps <= 2).mean() < 0.4
    assert (gaps >= 5).mean() > 0.5
    # The recorded gap is what the label map shows.
    k = int(np.argmin(gaps))
    case = sim.simulate_case(table.iloc[k], 1)
    labels = case.labels[0]
    right = (labels > 0) & (labels < sim.LEFT_OFFSET)
    left = labels > sim.LEFT_OFFSET
    rows = right.any(axis=0) & left.any(axis=0)
    right_edge = right.shape[0] - 1 - np.argmax(right[::-1], axis=0)
    left_edge = np.argmax(left, axis=0)
    assert (left_edge - right_edge - 1)[rows].min() == case.leg_gap_px[0]


# ------------------------------------------------------------------------------- readers


def test_ratings_are_like_the_radiologists() -> None:
    table = sim.demo_participants(1200, 17)
    ratings = sim.simulate_ratings(table, 6, seed=4)
    test_ids = table.loc[table["split"] == "test", "participant_id"]
    assert list(ratings.columns) == ["participant_id", "slice", "rater1", "rater2", "rater3"]
    assert len(ratings) == 6 * len(test_ids)
    assert set(ratings["participant_id"]) == set(test_ids)
    assert sorted(set(ratings["slice"])) == [1, 2, 3, 4, 5, 6]
    raters = ratings[["rater1", "rater2", "rater3"]].to_numpy()
    assert set(np.unique(raters)) == {0, 1}

    diagnosis = ratings["participant_id"].map(table.set_index("participant_id")["diagnosis"])
    truth = _is_positive(diagnosis)
    accuracy = (raters == truth[:, None]).mean(axis=0)
    assert ((accuracy > 0.74) & (accuracy < 0.9)).all(), accuracy
    kappa = fleiss_kappa(aggregate_raters(raters)[0])
    assert 0.45 < kappa < 0.75, kappa

    # Each reader mostly keeps one call over a case's slices, with some flips.
    per_case = raters.reshape(-1, 6, 3)
    majority = per_case.mean(axis=1, keepdims=True) > 0.5
    agreement = (per_case == majority).mean()
    assert 0.85 < agreement < 0.995

    # Errors concentrate on hard cases: mild BMD and LGMD2I against moderate DMD.
    severity = ratings["participant_id"].map(table.set_index("participant_id")["severity"])
    easy = (diagnosis == "DMD") & severity.between(0.3, 0.75)
    hard = ((diagnosis == "BMD") & (severity < 0.2)) | (diagnosis == "LGMD2I")
    error = (raters != truth[:, None]).mean(axis=1)
    assert error[hard.to_numpy()].mean() > error[easy.to_numpy()].mean() + 0.2


def test_ratings_are_deterministic() -> None:
    table = sim.demo_participants(60, 2)
    first = sim.simulate_ratings(table, 3, n_raters=2, seed=1)
    pd.testing.assert_frame_equal(first, sim.simulate_ratings(table, 3, n_raters=2, seed=1))
    assert list(first.columns) == ["participant_id", "slice", "rater1", "rater2"]
    assert not first.equals(sim.simulate_ratings(table, 3, n_raters=2, seed=2))


# ------------------------------------------------------------------------------- files


def test_write_case(tmp_path, cohort: pd.DataFrame) -> None:
    row = cohort.iloc[0]
    pid = row["participant_id"]
    paths = sim.write_case(row, tmp_path, 3)
    truth = tmp_path / "derivatives" / "truth" / f"sub-{pid}"
    assert paths == [
        tmp_path / f"sub-{pid}" / "anat" / f"sub-{pid}_T1w.nii.gz",
        tmp_path / f"sub-{pid}" / "anat" / f"sub-{pid}_T1w.json",
        truth / "anat" / f"sub-{pid}_dseg.nii.gz",
        truth / f"sub-{pid}_fatfraction.tsv",
    ]

    case = sim.simulate_case(row, 3)
    image = nib.load(paths[0])
    assert image.shape == (*SHAPE, 3)  # one 3D stack, as BIDS requires of a T1w
    assert image.get_data_dtype() == np.float32
    np.testing.assert_allclose(image.header.get_zooms()[:2], (1.5625, 1.5625))
    for k in range(3):
        # each slice sits where its own affine puts it
        np.testing.assert_allclose(image.affine @ [0, 0, k, 1], case.slice_affine(k) @ [0, 0, 0, 1])
        np.testing.assert_array_equal(np.asarray(image.dataobj)[:, :, k], case.images[k])
    sidecar = json.loads(paths[1].read_text())
    assert sidecar["MagneticFieldStrength"] == case.field_strength_t
    assert sidecar["SliceThickness"] == pytest.approx(case.slice_thickness_mm)
    labels = nib.load(paths[2])
    assert labels.shape == (*SHAPE, 3) and labels.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.moveaxis(np.asarray(labels.dataobj), 2, 0), case.labels)
    table = pd.read_csv(paths[3], sep="\t")
    assert len(table) == 22
    np.testing.assert_allclose(table["fat_fraction"], case.fat_fraction["fat_fraction"], atol=1e-5)


def test_simulator_does_not_define_the_positive_diagnoses() -> None:
    """Labels of real data live in diagnoses.py; the simulator only uses them."""
    import inspect

    from qmrflow.studies.dystrophy import diagnoses
    from qmrflow.studies.dystrophy.simulate import case, cohort, diseases, labels, legs, ratings

    for module in (sim, case, cohort, diseases, labels, legs, ratings):
        assert not re.search(r"^POSITIVE_DIAGNOSES\s*[:=]", inspect.getsource(module), re.M)
    assert not hasattr(sim, "POSITIVE_DIAGNOSES")
    assert diagnoses.is_positive("DMD") and not diagnoses.is_positive("LGMD2B")
