"""Multi-coil Cartesian and radial k-space sampling with noise of the simulation kit."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.simulate.kspace import (
    GOLDEN_ANGLE,
    cartesian_mask,
    coil_sensitivities,
    complex_noise,
    fftc,
    ifftc,
    nufft_adjoint,
    nufft_forward,
    radial_density,
    radial_trajectory,
    sample_cartesian,
    sample_noncartesian,
    sigma_for_snr,
)


def _phantom(n: int = 64) -> np.ndarray:
    """A smooth disc-like phantom (Gaussian blob with a gentle phase), well inside the FOV."""
    x = np.linspace(-1, 1, n)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    return np.exp(-((xx / 0.35) ** 2 + (yy / 0.25) ** 2)) * np.exp(0.5j * xx)


def test_fftc_is_centred_orthonormal_and_inverted() -> None:
    image = _phantom(32)
    k = fftc(image)
    assert np.linalg.norm(k) == pytest.approx(np.linalg.norm(image))
    assert np.argmax(np.abs(k)) == np.ravel_multi_index((16, 16), k.shape)  # DC at N // 2
    np.testing.assert_allclose(ifftc(k), image, atol=1e-12)


def test_coil_sensitivities_are_smooth_and_normalised() -> None:
    maps = coil_sensitivities((40, 48), 8)
    assert maps.shape == (8, 40, 48) and np.iscomplexobj(maps)
    np.testing.assert_allclose(np.sqrt((np.abs(maps) ** 2).sum(axis=0)), 1.0)
    # Each coil sees its own side: coil 0 sits at +x, so it is brighter at high x.
    assert np.abs(maps[0, -1, 24]) > np.abs(maps[0, 0, 24])
    assert np.abs(np.diff(maps, axis=1)).max() < 0.2
    assert coil_sensitivities((8, 8, 4), 4).shape == (4, 8, 8, 4)


def test_full_mask_multicoil_sampling_reproduces_the_image() -> None:
    image = _phantom(48)
    coils = coil_sensitivities(image.shape, 6)
    kspace = sample_cartesian(image, np.ones(image.shape, bool), coils=coils)
    coil_images = ifftc(kspace)
    combined = np.sum(np.conj(coils) * coil_images, axis=0)  # SENSE combination, RSS = 1
    np.testing.assert_allclose(combined, image, atol=1e-12)


def test_cartesian_mask_acceleration_and_centre() -> None:
    rng = np.random.default_rng(0)
    mask = cartesian_mask((32, 128), 4, center_fraction=0.08, rng=rng)
    lines = mask[0]
    assert lines.sum() == 32 and (mask == lines[None]).all()
    assert lines[64 - 5 : 64 + 5].all()  # round(0.08 * 128) = 10 central lines around DC
    again = cartesian_mask((32, 128), 4, center_fraction=0.08, rng=np.random.default_rng(0))
    assert np.array_equal(mask, again)
    equi = cartesian_mask((8, 128), 4, pattern="equispaced")
    assert equi[0].sum() == 32
    kspace = sample_cartesian(_phantom(32)[:, :32].repeat(4, axis=1), mask)
    assert np.all(kspace[:, :, ~lines] == 0)
    with pytest.raises(ValueError):
        cartesian_mask((8, 16), 2)  # random pattern without rng


def test_noise_sd_matches_the_snr() -> None:
    sigma = sigma_for_snr(1.0, 20.0)
    assert sigma == pytest.approx(0.05)
    assert sigma_for_snr(1.0, float("inf")) == 0.0
    noise = complex_noise((400, 400), sigma, np.random.default_rng(1))
    assert noise.real.std() == pytest.approx(sigma, rel=0.02)
    assert noise.imag.std() == pytest.approx(sigma, rel=0.02)
    # A fully sampled image keeps the noise SD: measured SNR of a flat image = 20.
    flat = np.ones((128, 128), complex)
    image = ifftc(
        sample_cartesian(flat, np.ones((128, 128), bool), sigma=sigma, rng=np.random.default_rng(2))
    )[0]
    measured = np.abs(image.mean()) / (image - flat).real.std()
    assert measured == pytest.approx(20.0, rel=0.03)
    with pytest.raises(ValueError):
        sigma_for_snr(1.0, 0.0)


def test_nufft_on_the_cartesian_grid_is_the_fft() -> None:
    image = _phantom(32)
    k = 2 * np.pi * (np.arange(32) - 16) / 32
    grid = np.stack(np.meshgrid(k, k, indexing="ij"), axis=-1)
    np.testing.assert_allclose(nufft_forward(image, grid), fftc(image), atol=1e-6)
    # Adjoint: <A x, y> = <x, A^H y>.
    rng = np.random.default_rng(3)
    traj = rng.uniform(-np.pi, np.pi, size=(200, 2))
    y = rng.standard_normal(200) + 1j * rng.standard_normal(200)
    lhs = np.vdot(nufft_forward(image, traj), y)
    rhs = np.vdot(image, nufft_adjoint(y, traj, image.shape))
    assert lhs == pytest.approx(rhs, rel=1e-5)


def test_radial_trajectory_golden_angle() -> None:
    traj = radial_trajectory(13, 64)
    assert traj.shape == (13, 64, 2)
    assert np.abs(traj).max() <= np.pi + 1e-12
    np.testing.assert_allclose(traj[:, 32], 0.0, atol=1e-12)  # every spoke through DC
    angles = np.arctan2(traj[:, -1, 1], traj[:, -1, 0])
    step = np.angle(np.exp(1j * (angles[1] - angles[0])))
    assert step == pytest.approx(np.angle(np.exp(1j * GOLDEN_ANGLE)))
    assert GOLDEN_ANGLE == pytest.approx(np.deg2rad(111.246), abs=1e-4)


def test_radial_adjoint_with_density_compensation_recovers_a_smooth_phantom() -> None:
    n = 64
    image = _phantom(n)
    traj = radial_trajectory(int(np.pi / 2 * n), n)  # Nyquist number of spokes
    coils = coil_sensitivities(image.shape, 4)
    data = sample_noncartesian(image, traj, coils=coils)
    assert data.shape == (4, *traj.shape[:-1])
    weights = radial_density(traj, n)
    coil_images = nufft_adjoint(data, traj, image.shape, weights=weights)
    recon = np.sum(np.conj(coils) * coil_images, axis=0)
    error = np.linalg.norm(recon - image) / np.linalg.norm(image)
    assert error < 0.05
    # Without density compensation the centre of k-space dominates: far worse.
    plain = np.sum(np.conj(coils) * nufft_adjoint(data, traj, image.shape), axis=0)
    scale = np.vdot(plain, image) / np.vdot(plain, plain)
    assert np.linalg.norm(scale * plain - image) / np.linalg.norm(image) > 4 * error


def test_radial_noise_is_added_per_sample() -> None:
    traj = radial_trajectory(8, 32)
    clean = sample_noncartesian(np.zeros((32, 32)), traj)
    noisy = sample_noncartesian(np.zeros((32, 32)), traj, sigma=0.1, rng=np.random.default_rng(4))
    assert np.abs(clean).max() == 0
    assert noisy.real.std() == pytest.approx(0.1, rel=0.1)
    with pytest.raises(ValueError):
        sample_noncartesian(np.zeros((32, 32)), traj, sigma=0.1)
