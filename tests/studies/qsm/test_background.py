"""Background field removal on analytic fields: the dipole field of a magnetised sphere (the
forward model every test here relies on), V-SHARP and PDF with a source outside the mask
(removed) and sources inside it (kept)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qmrflow.studies.qsm.background import pdf, smv_kernel, vsharp
from qmrflow.studies.qsm.dipole import dipole_field
from qmrflow.studies.qsm.masking import ball

SHAPE = (48, 48, 40)
VOXEL = (2.0, 2.0, 2.0)


def coordinates(shape=SHAPE, voxel=VOXEL):
    return np.meshgrid(
        *[(np.arange(n) - n / 2 + 0.5) * v for n, v in zip(shape, voxel, strict=True)],
        indexing="ij",
    )


def test_field_of_a_magnetised_sphere_matches_the_analytic_dipole():
    """Inside 0, outside (dchi / 3) (a / r)^3 (3 cos^2 theta - 1) (Lorentz-corrected)."""
    n, radius, dchi = 48, 6.0, 1.0
    g = np.arange(n) - n // 2
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    field = dipole_field(dchi * (r <= radius), (1.0, 1.0, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        analytic = dchi / 3 * (radius / r) ** 3 * (3 * z**2 / r**2 - 1)
    outside = (r >= 1.5 * radius) & (r <= n // 2 - 2)
    assert np.abs(field[r <= 0.6 * radius]).max() < 0.03 * dchi
    assert np.abs(field - analytic)[outside].max() < 0.01 * dchi
    assert field[24, 24, 36] == pytest.approx(2 * dchi / 3 / 8, rel=0.02)  # pole at 2a
    assert field[36, 24, 24] == pytest.approx(-dchi / 3 / 8, rel=0.02)  # equator at 2a


def test_smv_kernel_is_a_normalised_mean():
    spectrum = smv_kernel((16, 16, 16), (1.0, 1.0, 1.0), 2.0)
    assert spectrum[0, 0, 0] == pytest.approx(1.0)
    assert spectrum.shape == (16, 16, 9)
    assert np.abs(spectrum).max() <= 1.0 + 1e-12


def fields():
    """Mask, a field from an outside source, and the field of two inside spheres (ppm)."""
    x, y, z = coordinates()
    mask = (x / 40) ** 2 + (y / 36) ** 2 + (z / 30) ** 2 < 1
    inside = 0.1 * ((x - 8) ** 2 + y**2 + (z - 4) ** 2 < 10**2)
    inside = inside - 0.05 * ((x + 14) ** 2 + (y - 6) ** 2 + z**2 < 7**2)
    outside = 5.0 * (x**2 + (y - 48) ** 2 + (z + 10) ** 2 < 10**2)  # an air-like source
    assert not np.any(mask & (outside != 0))
    return mask, dipole_field(outside, VOXEL), dipole_field(inside, VOXEL)


def demeaned(a, where):
    return a[where] - a[where].mean()


def test_vsharp_removes_an_outside_source_and_keeps_inside_ones():
    mask, background, local = fields()
    result, eroded = vsharp(background + local, mask, VOXEL)
    assert result.dtype == np.float32 and eroded.dtype == bool
    # Eroded by the smallest radius (2 mm: one voxel).
    np.testing.assert_array_equal(eroded, ndimage.binary_erosion(mask, ball(2.0, VOXEL)))
    assert np.all(result[~eroded] == 0)
    # The background alone: residual under 3 % of its spread (2 % here).
    residual, _ = vsharp(background, mask, VOXEL)
    assert residual[eroded].std() < 0.03 * background[eroded].std()
    # The local field is kept (V-SHARP loses its lowest frequencies: 15 % error here).
    error = demeaned(result, eroded) - demeaned(local, eroded)
    assert np.linalg.norm(error) < 0.2 * np.linalg.norm(demeaned(local, eroded))
    assert np.corrcoef(result[eroded], local[eroded])[0, 1] > 0.98


def test_vsharp_errors():
    mask, background, _ = fields()
    with pytest.raises(ValueError):
        vsharp(background, np.zeros_like(mask), VOXEL)
    with pytest.raises(ValueError):
        vsharp(background, mask, VOXEL, radii_mm=(1.0,))  # below a voxel
    with pytest.raises(ValueError):
        vsharp(background, mask[:-1], VOXEL)


def test_pdf_removes_an_outside_source():
    mask, background, local = fields()
    result = pdf(background + local, mask, VOXEL, iterations=20)
    assert result.dtype == np.float32 and np.all(result[~mask] == 0)
    residual = pdf(background, mask, VOXEL, iterations=20)
    assert residual[mask].std() < 0.03 * background[mask].std()
    # PDF keeps the local field's structure but removes its part that outside dipoles mimic.
    assert np.corrcoef(result[mask], local[mask])[0, 1] > 0.9
