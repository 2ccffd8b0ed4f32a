"""The GPU path of SENSE: Toeplitz-embedded normal operators and the CG in torch."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.recon import reconstruct_series
from qmrflow.recon.fourier import BatchedNufft, radial_dcf
from qmrflow.recon.sense import sense_frames
from qmrflow.recon.toeplitz import resolve_device, toeplitz_kernels
from qmrflow.simulate.kspace import coil_sensitivities
from tests.recon.phantoms import (
    MATRIX,
    acquire,
    relative_error,
    structured_object,
    turns_trajectory,
)

torch = pytest.importorskip("torch")


def _toeplitz_normal(kernel: np.ndarray, images: np.ndarray) -> np.ndarray:
    nx, ny = images.shape[-2:]
    padded = np.zeros((*images.shape[:-2], 2 * nx, 2 * ny), np.complex128)
    padded[..., :nx, :ny] = images
    return np.fft.ifft2(np.fft.fft2(padded) * kernel)[..., :nx, :ny]


@pytest.mark.parametrize("weighted", [False, True])
def test_the_kernel_convolution_is_the_nufft_normal_operator(weighted):
    # A non-square matrix catches a swapped axis; two groups, each with its own kernel.
    shape = (20, 16)
    traj = turns_trajectory(2, 7, 40, turns=2)
    op = BatchedNufft(traj, shape, eps=1e-6, threads=1)
    weights = radial_dcf(op.group_trajectories, shape).reshape(op.n_groups, -1)
    kernels = toeplitz_kernels(op, weights if weighted else None)
    assert kernels.shape == (2, 40, 32)
    rng = np.random.default_rng(1)
    images = (rng.standard_normal((3, *shape)) + 1j * rng.standard_normal((3, *shape))).astype(
        np.complex64
    )
    for t in range(2):
        expected = op.normal(images.copy(), t, weights[t] if weighted else None)
        assert relative_error(_toeplitz_normal(kernels[t], images), expected) < 1e-4


def test_the_torch_path_agrees_with_the_finufft_path():
    n_frames, n_coils = 6, 4
    traj = turns_trajectory(n_frames, 9, 2 * MATRIX[0])
    truth = np.stack([structured_object(shift=0.5 * t) for t in range(n_frames)])
    kspace, maps = acquire(truth, traj, n_coils=n_coils, sigma=0.01)
    common = dict(method="sense", coils=maps, iterations=6, return_complex=True)
    cpu = reconstruct_series(kspace, traj, MATRIX, device="cpu", **common)
    toep = reconstruct_series(kspace, traj, MATRIX, device="torch-cpu", **common)
    assert cpu.device == "cpu" and toep.device == "torch:cpu"
    # FINUFFT runs at eps 1e-4 in single precision; the kernels are exact to 1e-6.
    assert relative_error(toep.images, cpu.images) < 2e-3


def test_weights_that_differ_within_a_group_are_refused():
    traj = turns_trajectory(2, 5, 24, turns=1)
    shape = (12, 12)
    op = BatchedNufft(traj, shape, eps=1e-6, threads=1)
    maps = coil_sensitivities(shape, 2).astype(np.complex64)
    w = np.ones((2, op.n_samples), np.float32)
    w[1, 0] = 2.0
    y = np.ones((2, 2, op.n_samples), np.complex64)
    with pytest.raises(ValueError, match="same data weights within a group"):
        sense_frames(y, op, maps, density=w, weighting=True, device="cpu")


def test_device_choice(monkeypatch):
    assert resolve_device(None) is None
    assert resolve_device("cpu") is None
    assert resolve_device("torch-cpu") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert resolve_device("auto") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("auto") == expected
