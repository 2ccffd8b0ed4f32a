"""Dipole inversion: TKD (with its correction) and TV-ADMM recover spheres and ellipsoids of
known susceptibility; on noisy fields TV-ADMM beats TKD; referencing."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.studies.qsm.dipole import dipole_field, dipole_kernel
from qmrflow.studies.qsm.inversion import reference_to, tkd, tkd_correction, tv_admm

SHAPE = (48, 48, 40)
VOXEL = (2.0, 2.0, 2.0)
#: (centre mm, semi-axes mm, chi ppm): iron-like nuclei, a vein-like rod and a diamagnetic blob.
OBJECTS = (
    ((-16.0, 8.0, 4.0), (7.0, 7.0, 7.0), 0.15),
    ((14.0, 6.0, -2.0), (6.0, 10.0, 6.0), 0.08),
    ((0.0, -18.0, 6.0), (8.0, 6.0, 5.0), -0.05),
    ((20.0, -14.0, 0.0), (3.0, 3.0, 14.0), 0.3),
)


def phantom():
    x, y, z = np.meshgrid(
        *[(np.arange(n) - n / 2 + 0.5) * v for n, v in zip(SHAPE, VOXEL, strict=True)],
        indexing="ij",
    )
    mask = (x / 42) ** 2 + (y / 40) ** 2 + (z / 32) ** 2 < 1
    chi = np.zeros(SHAPE)
    labels = np.zeros(SHAPE, int)
    for label, (centre, axes, value) in enumerate(OBJECTS, start=1):
        where = sum(((g - c) / a) ** 2 for g, c, a in zip((x, y, z), centre, axes, strict=True)) < 1
        chi[where] = value
        labels[where] = label
    background = mask & (labels == 0)
    return chi, labels, mask, background


def roi_values(chi, labels):
    return np.array([chi[labels == label].mean() for label in range(1, len(OBJECTS) + 1)])


TRUE = np.array([value for *_, value in OBJECTS])


def test_tkd_correction_factor():
    kernel = dipole_kernel((64, 64, 64), VOXEL)
    assert tkd_correction(kernel, 0.19) == pytest.approx(0.773, abs=0.005)
    assert tkd_correction(kernel, 0.1) > tkd_correction(kernel, 0.19)


def test_tkd_recovers_known_susceptibility():
    chi, labels, mask, background = phantom()
    field = dipole_field(chi, VOXEL)
    result = tkd(field, mask, VOXEL)
    assert result.dtype == np.float32 and np.all(result[~mask] == 0)
    corrected = roi_values(reference_to(result, background, mask=mask), labels)
    plain = roi_values(
        reference_to(tkd(field, mask, VOXEL, correct=False), background, mask=mask), labels
    )
    # Compact objects: corrected TKD within 10 % (+0.005 ppm) of the truth (+5-9 % here);
    # without the correction TKD underestimates them by about 20 %.
    np.testing.assert_allclose(corrected[:3], TRUE[:3], rtol=0.1, atol=0.005)
    assert np.all(np.abs(plain[:3]) < 0.85 * np.abs(TRUE[:3]))
    # A rod along B0 has its spectrum away from the cone, where nothing is truncated: the
    # uncorrected value is right (-4 %) and the global correction overestimates it (+24 %).
    assert plain[3] == pytest.approx(TRUE[3], rel=0.1)
    assert TRUE[3] < corrected[3] < 1.3 * TRUE[3]


def test_tv_admm_recovers_known_susceptibility():
    chi, labels, mask, background = phantom()
    field = dipole_field(chi, VOXEL)
    result = tv_admm(field, mask, VOXEL)
    assert result.dtype == np.float32 and np.all(result[~mask] == 0)
    referenced = reference_to(result, background, mask=mask)
    np.testing.assert_allclose(roi_values(referenced, labels), TRUE, rtol=0.15, atol=0.005)


def test_tv_admm_beats_tkd_on_noisy_fields():
    chi, _, mask, background = phantom()
    rng = np.random.default_rng(3)
    field = dipole_field(chi, VOXEL) + 0.005 * rng.standard_normal(SHAPE)
    truth = np.where(mask, chi, 0.0)

    def rmse(estimate):
        x = reference_to(estimate, background, mask=mask)
        return np.linalg.norm((x - truth)[mask]) / np.linalg.norm(truth[mask])

    tkd_error = rmse(tkd(field, mask, VOXEL))
    tv_error = rmse(tv_admm(field, mask, VOXEL))
    assert tv_error < 0.7 * tkd_error


def test_reference_to():
    chi = np.arange(24, dtype=float).reshape(2, 3, 4)
    region = chi < 4
    referenced = reference_to(chi, region)
    assert referenced.dtype == np.float32
    assert referenced[region].mean() == pytest.approx(0.0)
    mask = chi > 2
    partial = reference_to(chi, region, mask=mask)
    np.testing.assert_array_equal(partial[~mask], chi[~mask])
    np.testing.assert_allclose(partial[mask], chi[mask] - 1.5)
    with pytest.raises(ValueError):
        reference_to(chi, np.zeros_like(region))


def test_inversion_errors():
    _, _, mask, _ = phantom()
    with pytest.raises(ValueError):
        tkd(np.zeros(SHAPE), np.zeros(SHAPE, bool), VOXEL)
    with pytest.raises(ValueError):
        tkd(np.zeros(SHAPE), mask, VOXEL, threshold=0.9)
    with pytest.raises(ValueError):
        tv_admm(np.zeros(SHAPE), mask, VOXEL, lam=0.0)
