"""Lesion features (qmrflow.studies.qsm.lesions) on small synthetic label maps.

A 48 x 24 x 24 volume of uniform tissue (NAWM, -0.02 ppm) holds spherical lesions of known
construction: a hyperintense core, an iso core with a paramagnetic rim in its 1-voxel edge, a
hypointense core crossed by a central vein along z, and a small lesion too small for a core.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from qmrflow.errors import InputDataError
from qmrflow.studies.qsm.lesions import FEATURE_COLUMNS, appearance, lesion_features

SHAPE = (48, 24, 24)
NAWM = -0.02
HYPER, ISO, HYPO = 0.05, NAWM, -0.06
RIM, VEIN = 0.10, 0.30
CENTRES = {1: (8, 12, 12), 2: (24, 12, 12), 3: (40, 12, 12)}
SMALL = 4  # a 2 x 2 x 2 voxel lesion: no core
FACES = ndimage.generate_binary_structure(3, 1)


def sphere(centre, radius=4.5):
    grid = np.indices(SHAPE)
    return sum((grid[a] - centre[a]) ** 2 for a in range(3)) <= radius**2


def phantom():
    labels = np.zeros(SHAPE, np.int16)
    for label, centre in CENTRES.items():
        labels[sphere(centre)] = label
    labels[23:25, 2:4, 2:4] = SMALL
    chi = np.full(SHAPE, NAWM)
    chi[labels == 1] = HYPER
    chi[labels == 2] = ISO
    chi[labels == 3] = HYPO
    chi[labels == SMALL] = HYPER
    lesion2 = labels == 2
    chi[lesion2 & ~ndimage.binary_erosion(lesion2, FACES)] = RIM
    chi[40, 12, 9:16] = VEIN  # central vein along z through lesion 3
    magnitude = np.where(labels > 0, 0.8, 1.0)
    flair = np.where(labels > 0, 1.5, 1.0)
    return labels, chi, magnitude, flair


@pytest.fixture(scope="module")
def data():
    return phantom()


@pytest.fixture(scope="module")
def clean(data):
    labels, chi, magnitude, flair = data
    return lesion_features(labels, chi, magnitude, flair, (1.0, 1.0, 1.0)).set_index("lesion")


@pytest.fixture(scope="module")
def noisy(data):
    labels, chi, magnitude, flair = data
    rng = np.random.default_rng(0)
    noisy_chi = chi + rng.normal(0.0, 0.01, SHAPE)
    return lesion_features(labels, noisy_chi, magnitude, flair, (1.0, 1.0, 1.0)).set_index("lesion")


def test_columns_and_sizes(data, clean):
    labels = data[0]
    assert list(clean.reset_index().columns) == list(FEATURE_COLUMNS)
    assert clean.index.tolist() == [1, 2, 3, SMALL]
    for label in (1, 2, 3, SMALL):
        assert clean.loc[label, "n_voxels"] == int((labels == label).sum())
    assert clean.loc[1, "n_core"] == int(ndimage.binary_erosion(labels == 1, FACES).sum())
    assert clean.loc[SMALL, "n_core"] == 0


def test_volume_uses_voxel_size(data):
    labels, chi, magnitude, flair = data
    table = lesion_features(labels, chi, magnitude, flair, (0.5, 1.0, 2.0))
    assert np.allclose(table["volume_ml"], table["n_voxels"] * 1.0 / 1000.0)


def test_core_nawm_and_contrast_recovered(clean):
    assert clean.loc[1, "chi_core"] == pytest.approx(HYPER)
    assert clean.loc[2, "chi_core"] == pytest.approx(ISO)
    # Lesion 3's core holds the vein: its mean is slightly above HYPO.
    assert clean.loc[3, "chi_core"] == pytest.approx(HYPO, abs=0.03)
    assert np.allclose(clean["chi_nawm"], NAWM)
    assert clean.loc[1, "qsm_contrast"] == pytest.approx(HYPER - NAWM)
    assert clean.loc[2, "qsm_contrast"] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(clean["noise_ppm"], 0.0, atol=1e-12)


def test_small_lesion_uses_all_voxels_as_core(clean):
    assert clean.loc[SMALL, "chi_core"] == pytest.approx(HYPER)
    assert clean.loc[SMALL, "appearance"] == "hyper"


def test_rim_contrast(clean, noisy):
    for table, tol in ((clean, 1e-9), (noisy, 0.01)):
        assert table.loc[2, "chi_rim"] == pytest.approx(RIM, abs=tol)
        assert table.loc[2, "rim_contrast"] == pytest.approx(RIM - ISO, abs=tol)
        assert table.loc[2, "rim_nawm_contrast"] == pytest.approx(RIM - NAWM, abs=tol)
        # A uniform hyperintense lesion has no rim over its core.
        assert abs(table.loc[1, "rim_contrast"]) < 0.01
    # A hypointense lesion: its outer shell is brighter than its core but not than NAWM.
    assert clean.loc[3, "rim_nawm_contrast"] == pytest.approx(0.0, abs=1e-12)


def test_rim_outside_the_lesion_border_is_found(data):
    labels, chi, magnitude, flair = data
    chi = np.where(labels == 2, ISO, chi)
    lesion2 = labels == 2
    chi[ndimage.binary_dilation(lesion2, FACES) & ~lesion2] = RIM
    table = lesion_features(labels, chi, magnitude, flair, (1, 1, 1)).set_index("lesion")
    assert table.loc[2, "chi_rim"] == pytest.approx(RIM)
    assert table.loc[2, "rim_contrast"] == pytest.approx(RIM - ISO)
    # The outer shell is skipped by the NAWM shell: NAWM stays NAWM.
    assert table.loc[2, "chi_nawm"] == pytest.approx(NAWM)


def test_central_vein(clean, noisy):
    assert clean.loc[3, "vein_contrast"] == pytest.approx(VEIN - HYPO)
    assert clean.loc[1, "vein_contrast"] == pytest.approx(0.0, abs=1e-12)
    # The rim in the lesion edge is no vein.
    assert clean.loc[2, "vein_contrast"] < 0.1 * (VEIN - HYPO)
    noise = noisy["noise_ppm"]
    assert noisy.loc[3, "vein_contrast"] / noise.loc[3] > 20
    for label in (1, 2):
        assert noisy.loc[label, "vein_contrast"] / noise.loc[label] < 4


def test_noise_and_appearance_with_noise(noisy):
    assert np.allclose(noisy["noise_ppm"], 0.01, rtol=0.15)
    assert noisy.loc[1, "appearance"] == "hyper"
    assert noisy.loc[2, "appearance"] == "iso"
    assert noisy.loc[3, "appearance"] == "hypo"


def test_magnitude_and_flair_contrast(clean):
    assert np.allclose(clean["magnitude_contrast"], -0.2)
    assert np.allclose(clean["flair_contrast"], 0.5)


def test_appearance_thresholds():
    out = appearance([0.05, 0.005, -0.05, np.nan, 0.003], [0.01, 0.01, 0.01, 0.01, 0.0])
    assert out.tolist() == ["hyper", "iso", "hypo", None, "iso"]
    out = appearance([0.03], [0.01], cnr_threshold=4.0)
    assert out.tolist() == ["iso"]


def test_nawm_shell_excludes_other_lesions_and_respects_reference():
    labels = np.zeros((30, 16, 16), np.int16)
    grid = np.indices(labels.shape)
    centre = np.array([10, 8, 8])[:, None, None, None]
    labels[((grid - centre) ** 2).sum(axis=0) <= 9] = 1
    labels[16:20, 6:10, 6:10] = 2  # a neighbour 3-4 voxels away, very hyperintense
    chi = np.full(labels.shape, NAWM)
    chi[labels == 2] = 0.5
    ones = np.ones(labels.shape)
    table = lesion_features(labels, chi, ones, ones, (1, 1, 1)).set_index("lesion")
    assert table.loc[1, "chi_nawm"] == pytest.approx(NAWM)
    # Only the tissue of the reference mask counts as surroundings.
    chi[:, :, :8] = 0.3
    reference = np.zeros(labels.shape, bool)
    reference[:, :, 8:] = True
    table = lesion_features(labels, chi, ones, ones, (1, 1, 1), reference=reference)
    assert table.set_index("lesion").loc[1, "chi_nawm"] == pytest.approx(NAWM)


def test_non_finite_chi_left_out(data):
    labels, chi, magnitude, flair = data
    chi = chi.copy()
    chi[:, :, :2] = np.nan
    table = lesion_features(labels, chi, magnitude, flair, (1, 1, 1)).set_index("lesion")
    assert np.isfinite(table[["chi_core", "chi_nawm", "noise_ppm"]].to_numpy()).all()
    assert table.loc[1, "chi_nawm"] == pytest.approx(NAWM)


def test_no_lesion_gives_empty_table():
    zeros = np.zeros((8, 8, 8))
    table = lesion_features(zeros.astype(int), zeros, zeros, zeros, (1, 1, 1))
    assert table.empty
    assert list(table.columns) == list(FEATURE_COLUMNS)


def test_float_labels_with_integer_values_accepted(data):
    labels, chi, magnitude, flair = data
    table = lesion_features(labels.astype(np.float32), chi, magnitude, flair, (1, 1, 1))
    assert table["lesion"].tolist() == [1, 2, 3, SMALL]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"chi": np.zeros((8, 8, 7))}, "chi has shape"),
        ({"labels": np.full((8, 8, 8), 0.5)}, "integers"),
        ({"labels": -np.ones((8, 8, 8), int)}, ">= 0"),
        ({"labels": np.zeros((8, 8), int)}, "3-D"),
        ({"voxel_mm": (1, 1)}, "voxel_mm"),
        ({"voxel_mm": (1, 0, 1)}, "voxel_mm"),
        ({"reference": np.ones((8, 8, 9), bool)}, "reference"),
        ({"shell_voxels": (3, 2)}, "shell_voxels"),
    ],
)
def test_bad_input(change, message):
    labels = np.zeros((8, 8, 8), int)
    labels[3:5, 3:5, 3:5] = 1
    ones = np.ones((8, 8, 8))
    arguments = {
        "labels": labels,
        "chi": ones,
        "magnitude": ones,
        "flair": ones,
        "voxel_mm": (1, 1, 1),
    } | change
    keywords = {k: arguments.pop(k) for k in ("reference", "shell_voxels") if k in arguments}
    with pytest.raises(InputDataError, match=message) as error:
        lesion_features(**arguments, **keywords, subject="p01")
    assert "sub-p01" in str(error.value)


def test_returns_dataframe(clean):
    assert isinstance(clean, pd.DataFrame)
