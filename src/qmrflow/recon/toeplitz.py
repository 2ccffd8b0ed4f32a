"""The GPU path of temporally regularised SENSE: Toeplitz-embedded normal operators in torch.

FINUFFT runs on the CPU only, so on a GPU the per-frame normal operator ``A_t^H W_t A_t`` of
:mod:`qmrflow.recon.sense` is applied as a convolution instead (the Toeplitz embedding: Wajer,
PhD thesis 2001; Fessler, Lee, Olafsson, Shi and Noll, IEEE TSP 2005; the same approach as
torchkbnufft's ``ToepNufft`` and BART's ``--toeplitz``). For an orthonormal type-2 NUFFT ``A``
with samples ``k_m`` and weights ``w_m``,

.. math::

    (A^H W A x)[n] = \\sum_{n'} x[n'] \\, p[n - n'], \\qquad
    p[d] = \\frac{1}{XY} \\sum_m w_m e^{i k_m \\cdot d},

with ``d`` in ``[-X+1, X-1] x [-Y+1, Y-1]``: ``p`` is one type-1 NUFFT of the weights onto a
``2X x 2Y`` grid (computed once per trajectory group with FINUFFT on the CPU), and the
convolution is exact as a circular one on that grid (two FFTs of the zero-padded coil images).
The kernels are written here by hand because torchkbnufft's (``calc_toeplitz_kernel``) would
add a dependency for twenty lines of FINUFFT calls and computes them with its own, less exact
Kaiser-Bessel interpolation.

The conjugate-gradient iteration is that of :func:`qmrflow.recon.sense.sense_frames`, in torch
on the given device: the right-hand sides come from the same batched FINUFFT gridding on the
CPU, then the frames are solved one after another on the device (each frame's prior is the
previous frame). On the CPU the FINUFFT path is faster (see the notes of
:mod:`qmrflow.recon.sense`); this path is for a GPU, and the CPU runs it only in tests and
benchmarks, where it must agree with the FINUFFT path.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from qmrflow.recon.fourier import BatchedNufft, nufft_adjoint

__all__ = ["gpu_present", "resolve_device", "sense_frames_toeplitz", "toeplitz_kernels"]

log = logging.getLogger(__name__)


def gpu_present() -> bool:
    """Whether torch can use a CUDA GPU here; torch is imported only when a driver is visible.

    A reconstruction job without a GPU should not pay torch's import (~1.4 s): an NVIDIA driver
    (``/proc/driver/nvidia`` or ``nvidia-smi``) and ``CUDA_VISIBLE_DEVICES`` not hiding every
    device are checked first.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if not (Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi")):
        return False
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.device_count() > 0)


def resolve_device(device: str | None) -> str | None:
    """The reconstruction's device: None (numpy and FINUFFT on the CPU) or a torch device.

    ``"auto"`` is ``"cuda"`` when :func:`gpu_present`, else None; ``"cpu"`` and None are the
    FINUFFT path; any other value (``"cuda"``, ``"cuda:1"``, ``"torch-cpu"`` for the torch path
    on the CPU, used by tests and benchmarks) is the Toeplitz path on that device.
    """
    if device is None or device == "cpu":
        return None
    if device == "auto":
        return "cuda" if gpu_present() else None
    return "cpu" if device == "torch-cpu" else device


def toeplitz_kernels(operator: BatchedNufft, weights: np.ndarray | None = None) -> np.ndarray:
    """The FFT of each trajectory group's point-spread function on the ``2X x 2Y`` grid.

    Parameters
    ----------
    operator
        The series' operator (its groups and trajectories).
    weights
        ``(G, M)`` data weights ``w_m`` per group (density weighting), or None (all ones).

    Returns
    -------
    numpy.ndarray
        complex64 ``(G, 2X, 2Y)``: ``fft2(ifftshift(p))`` of each group, ready to multiply the
        FFT of images zero-padded to ``2X x 2Y`` (kept at ``[:X, :Y]``).
    """
    nx, ny = operator.matrix
    trajectories = operator.group_trajectories.reshape(operator.n_groups, -1, 2)
    values = (
        np.ones(trajectories.shape[:2], np.complex128)
        if weights is None
        else np.asarray(weights, dtype=np.complex128).reshape(operator.n_groups, -1)
    )
    psf = np.stack(
        [
            # nufft_adjoint divides by sqrt(4XY); p needs 1 / (XY).
            nufft_adjoint(values[g], trajectories[g], (2 * nx, 2 * ny), eps=1e-6)
            * (math.sqrt(4 * nx * ny) / (nx * ny))
            for g in range(operator.n_groups)
        ]
    )
    # Centred modes (-X..X-1): d = 0 to index 0, negative offsets to the upper half.
    return np.fft.fft2(np.fft.ifftshift(psf, axes=(-2, -1))).astype(np.complex64)


def sense_frames_toeplitz(
    rhs: np.ndarray,
    operator: BatchedNufft,
    maps: np.ndarray,
    *,
    device: str,
    weights: np.ndarray | None,
    prior: np.ndarray | None,
    **settings: Any,
) -> tuple[np.ndarray, int]:
    """The CG of :func:`~qmrflow.recon.sense.sense_frames` in torch on ``device``
    (:func:`~qmrflow.recon.sense.regularised_cg` with Toeplitz-embedded normal operators).

    ``rhs`` ``(T, X, Y)`` are the frames' ``S^H A_t^H W_t y_t``; ``weights`` ``(T, M)`` the
    data weights (equal within a trajectory group) or None; ``prior`` frame 0's prior;
    ``settings`` those of :func:`~qmrflow.recon.sense.regularised_cg`.

    Returns
    -------
    tuple
        complex64 ``(T, X, Y)`` images and the number of CG iterations run.
    """
    import torch

    from qmrflow.recon.sense import regularised_cg

    dev = torch.device(device)
    nx, ny = operator.matrix
    group_weights = None
    if weights is not None:
        group_weights = np.stack([weights[frames[0]] for frames in operator.group_frames])
        if not np.allclose(group_weights[operator.groups], weights, rtol=1e-6, atol=0):
            raise ValueError("the Toeplitz path needs the same data weights within a group")
    started = time.perf_counter()
    kernels = torch.from_numpy(toeplitz_kernels(operator, group_weights)).to(dev)
    log.info(
        "Toeplitz kernels of %d trajectory groups in %.3f s",
        operator.n_groups,
        time.perf_counter() - started,
    )

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.complex64)).to(dev)

    smaps = tensor(maps)
    smaps_conj = smaps.conj()
    padded = torch.zeros((smaps.shape[0], 2 * nx, 2 * ny), dtype=torch.complex64, device=dev)

    def normal(x: torch.Tensor, t: int, reg: float) -> torch.Tensor:
        """``(S^H A_t^H W_t A_t S + reg) x`` as a circular convolution on the doubled grid."""
        padded[:, :nx, :ny] = smaps * x
        kernel = kernels[int(operator.groups[t])]
        back = torch.fft.ifft2(torch.fft.fft2(padded) * kernel)[:, :nx, :ny]
        return (smaps_conj * back).sum(dim=0) + reg * x

    def dot(a: torch.Tensor, b: torch.Tensor) -> float:
        # one device-to-host synchronisation per scalar, as in any CG
        return float(torch.vdot(a.reshape(-1), b.reshape(-1)).real)

    images = torch.empty((rhs.shape[0], nx, ny), dtype=torch.complex64, device=dev)
    previous = (
        torch.zeros((nx, ny), dtype=torch.complex64, device=dev) if prior is None else tensor(prior)
    )
    total = regularised_cg(tensor(rhs), previous, images, normal, dot, **settings)
    return images.cpu().numpy(), total
