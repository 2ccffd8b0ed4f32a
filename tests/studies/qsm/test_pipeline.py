"""compute_qsm end to end on a small head: an ellipsoidal brain with deep nuclei, ventricles and
a vein in a background field from air outside it, noisy three-echo images."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.errors import ConfigError
from qmrflow.studies.qsm.dipole import dipole_field
from qmrflow.studies.qsm.field import field_to_phase
from qmrflow.studies.qsm.inversion import reference_to
from qmrflow.studies.qsm.metrics import rmse_percent
from qmrflow.studies.qsm.pipeline import CSF_LABEL, QsmSettings, compute_qsm, tv_lambda_for
from qmrflow.studies.qsm.recon import MultiEcho

SHAPE = (40, 44, 32)
VOXEL = (2.4, 2.4, 2.4)
TE = np.array([0.005, 0.012, 0.019])


def head(noise: float = 0.01, seed: int = 0):
    x, y, z = np.meshgrid(
        *[(np.arange(n) - n / 2 + 0.5) * v for n, v in zip(SHAPE, VOXEL, strict=True)],
        indexing="ij",
    )
    brain = (x / 40) ** 2 + (y / 46) ** 2 + (z / 34) ** 2 < 1
    labels = np.where(brain, 6, 0).astype(np.int16)
    chi = np.where(brain, -0.03, 0.0)
    for cx, cy, cz, r, value, label in (
        (12, 6, 0, 7, 0.18, 3),  # pallidus
        (-12, 6, 0, 7, 0.07, 2),  # putamen
        (0, -14, 6, 8, 0.0, CSF_LABEL),  # ventricle
    ):
        ball = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < r**2
        chi[ball] = value
        labels[ball] = label
    chi[(np.abs(x - 4) < 1.3) & (np.abs(y + 30) < 1.3) & brain] = 0.4  # a vein along B0
    local = dipole_field(chi, VOXEL)
    air = ((x / 16) ** 2 + ((y - 62) / 10) ** 2 + ((z + 30) / 12) ** 2 < 1) | (
        (x / 60) ** 2 + (y / 66) ** 2 + (z / 54) ** 2 > 1
    )
    background = dipole_field(np.where(air, 0.0, -9.4), VOXEL) - dipole_field(
        np.full(SHAPE, -9.4), VOXEL
    )
    rng = np.random.default_rng(seed)
    magnitude = np.where(brain, 1.0, 0.0) * np.exp(-20.0 * TE.reshape(-1, 1, 1, 1))
    phase = field_to_phase(local + background, 3.0, TE, offset_rad=0.3)
    images = magnitude * np.exp(1j * phase)
    images = images + noise * (
        rng.standard_normal(images.shape) + 1j * rng.standard_normal(images.shape)
    )
    echoes = MultiEcho(images.astype(np.complex64), TE, SHAPE)
    return echoes, chi, labels, brain


@pytest.fixture(scope="module")
def result():
    echoes, chi, labels, brain = head()
    return compute_qsm(echoes, VOXEL, 3.0, tissues=labels), chi, labels, brain


def test_maps_and_mask(result):
    maps, _, labels, brain = result
    assert set(maps.chi) == {"tkd", "tv"}
    assert set(maps.seconds) == {"prepare", "tkd", "tv"}
    assert not np.any(maps.mask & ~brain)
    assert maps.mask.sum() > 0.5 * brain.sum()
    for values in maps.chi.values():
        assert values.dtype == np.float32 and not np.any(values[~maps.mask])
        csf = (labels == CSF_LABEL) & maps.mask
        assert abs(float(values[csf].mean())) < 1e-6  # referenced to the ventricles


def test_tv_beats_tkd_against_the_truth(result):
    maps, chi, labels, _ = result
    truth = reference_to(chi, (labels == CSF_LABEL) & maps.mask) * maps.mask
    errors = {name: rmse_percent(values, truth, maps.mask) for name, values in maps.chi.items()}
    assert errors["tv"] < errors["tkd"]
    assert errors["tv"] < 60.0
    pallidus = (labels == 3) & maps.mask
    assert float(maps.chi["tv"][pallidus].mean()) == pytest.approx(0.18, abs=0.05)


def test_settings_and_errors():
    echoes, _, labels, _ = head(noise=0.02, seed=1)
    maps = compute_qsm(
        echoes, VOXEL, 3.0, inversions=("tv",), settings={"tv_lambda": 1e-3, "tv_iterations": 5}
    )
    assert set(maps.chi) == {"tv"}
    with pytest.raises(ValueError, match="unknown dipole inversion"):
        compute_qsm(echoes, VOXEL, 3.0, tissues=labels, inversions=("nope",))
    with pytest.raises(ConfigError):
        QsmSettings.from_mapping({"tv_weight": 1.0})


def test_tv_lambda_follows_the_noise():
    mask = np.ones((4, 4, 4), bool)
    assert tv_lambda_for(np.full((4, 4, 4), 0.005), mask) == pytest.approx(5e-4)
    assert tv_lambda_for(np.zeros((4, 4, 4)), mask) == pytest.approx(5e-5)
