"""Laplacian phase unwrapping (Schofield & Zhu, Opt Lett 2003).

The Laplacian of the true (unwrapped) phase ``phi`` is computed from the wrapped phase alone, and
the Poisson equation ``nabla^2 u = nabla^2 phi`` is solved by a fast transform; ``u`` equals
``phi`` up to a constant (and, where the right-hand side is restricted to a mask, up to a
harmonic function inside the mask, which background-field removal takes out with the
background field). Two ways of getting ``nabla^2 phi`` are offered:

``"differences"`` (default)
    The 7-point discrete Laplacian of the wrapped *differences* of neighbours,
    ``sum_n wrap(phi_n - phi_0) / h^2``. Where the true phase changes by less than pi between
    neighbours this is *exactly* the discrete Laplacian of the unwrapped phase, so the solution is
    exact up to a constant and the operation is linear in the true phase (a multi-echo fit of
    Laplacian-unwrapped echoes then stays linear in TE). It is the discrete form of Schofield &
    Zhu's identity and the unweighted least-squares unwrapper of Ghiglia & Romero (JOSA A 1994).
``"schofield"``
    Schofield & Zhu's trigonometric identity
    ``nabla^2 phi = cos(phi) nabla^2 sin(phi) - sin(phi) nabla^2 cos(phi)``; discretised it equals
    ``sum_n sin(phi_n - phi_0) / h^2``, which underestimates the curvature by ``cos(g)`` where the
    phase gradient is ``g`` rad per voxel (the known scaling error of Laplacian unwrapping).

The Poisson equation is solved with the type-II discrete cosine transform, which diagonalises the
7-point Laplacian with reflecting (Neumann) boundaries: it is the FFT solution on the
mirror-padded volume (Schofield & Zhu's own choice of boundary) without storing the padding. The
eigenvalues ``sum_i (2 cos(pi k_i / N_i) - 2) / h_i^2`` match the forward stencil exactly, and the
zero-frequency term (the undetermined constant) is set to zero: the result has zero mean over the
volume (or over the mask). Everything is vectorised over a leading echo axis.

No maintained Python QSM library fits our numpy-2 stack (QSMxT pins numpy 1.24 and runs its
algorithms outside Python; scikit-image's ``unwrap_phase`` is a slow region-growing unwrapper that
is not a Laplacian one), so the method is written here with :mod:`scipy.fft` and checked on
analytic phases in the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.fft

__all__ = ["laplacian_unwrap", "wrap"]

logger = logging.getLogger(__name__)


def wrap(phase: np.ndarray) -> np.ndarray:
    """Phase wrapped into ``[-pi, pi)``."""
    return (phase + np.pi) % (2.0 * np.pi) - np.pi


def _check_voxel(voxel_mm: Sequence[float]) -> np.ndarray:
    voxel = np.asarray(voxel_mm, dtype=float)
    if voxel.shape != (3,) or not np.all(voxel > 0):
        raise ValueError(f"voxel_mm must be three positive sizes, got {voxel_mm}")
    return voxel


def _laplacian_of_phase(
    phase: np.ndarray, voxel: np.ndarray, inside: np.ndarray | None, method: str
) -> np.ndarray:
    """``nabla^2`` of the unwrapped phase from the wrapped one (reflecting boundaries)."""
    out = np.zeros(phase.shape, dtype=float)
    for axis_3d in range(3):
        axis = phase.ndim - 3 + axis_3d
        n = phase.shape[axis]
        if n < 2:
            continue
        lo = [slice(None)] * phase.ndim
        hi = [slice(None)] * phase.ndim
        lo[axis] = slice(0, n - 1)
        hi[axis] = slice(1, n)
        delta = phase[tuple(hi)] - phase[tuple(lo)]
        # The flux between neighbours x and x+1; zero across the volume's faces (Neumann).
        flux = np.sin(delta) if method == "schofield" else wrap(delta)
        if inside is not None:
            # No flux across the mask's boundary: the mask's exterior (noise) stays out.
            flux = flux * (inside[tuple(hi[-3:])] & inside[tuple(lo[-3:])])
        flux /= voxel[axis_3d] ** 2
        out[tuple(lo)] += flux
        out[tuple(hi)] -= flux
    return out


def _inverse_laplacian_eigenvalues(shape: Sequence[int], voxel: np.ndarray) -> np.ndarray:
    """``1 / lambda(k)`` of the Neumann 7-point Laplacian in the DCT-II basis (0 at k = 0)."""
    eig = np.zeros(tuple(shape), dtype=float)
    for axis, (n, h) in enumerate(zip(shape, voxel, strict=True)):
        lam = (2.0 * np.cos(np.pi * np.arange(n) / n) - 2.0) / h**2
        eig = eig + lam.reshape([-1 if a == axis else 1 for a in range(3)])
    inverse = np.zeros_like(eig)
    nonzero = eig != 0
    inverse[nonzero] = 1.0 / eig[nonzero]
    return inverse


def laplacian_unwrap(
    phase: np.ndarray,
    voxel_mm: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    mask: np.ndarray | None = None,
    method: Literal["differences", "schofield"] = "differences",
) -> np.ndarray:
    """Unwrap a phase volume (or a stack of echoes) by solving a Poisson equation.

    Parameters
    ----------
    phase
        Wrapped phase (rad), ``(X, Y, Z)`` or with a leading echo axis ``(E, X, Y, Z)`` (each
        echo is unwrapped on its own, all in one vectorised transform).
    voxel_mm
        Voxel size (mm) along ``(X, Y, Z)``; only the anisotropy matters.
    mask
        Optional boolean ``(X, Y, Z)`` region: only neighbour pairs that both lie inside it enter
        the Laplacian, so that noise outside (air, where the phase is random) does not spread
        into the region. Inside the mask the result is then the true phase plus a harmonic
        function (removed later with the background field); outside it is meaningless.
    method
        ``"differences"`` (wrapped neighbour differences, exact where the true phase changes by
        less than pi per voxel) or ``"schofield"`` (the trigonometric identity of Schofield &
        Zhu 2003); see the module docstring.

    Returns
    -------
    numpy.ndarray
        The unwrapped phase (float64, the shape of ``phase``), zero mean over the volume, defined
        up to a constant per echo.

    Raises
    ------
    ValueError
        ``phase`` is not 3-D/4-D or not finite, the mask's shape differs, or an unknown method.
    """
    phi = np.asarray(phase, dtype=float)
    if phi.ndim not in (3, 4):
        raise ValueError(f"phase must be (X, Y, Z) or (E, X, Y, Z), got shape {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise ValueError("phase has non-finite values")
    if method not in ("differences", "schofield"):
        raise ValueError(f"method must be 'differences' or 'schofield', got {method!r}")
    voxel = _check_voxel(voxel_mm)
    inside = None
    if mask is not None:
        inside = np.asarray(mask, dtype=bool)
        if inside.shape != phi.shape[-3:]:
            raise ValueError(f"mask shape {inside.shape} differs from {phi.shape[-3:]}")
    axes = (-3, -2, -1)
    rhs = _laplacian_of_phase(phi, voxel, inside, method)
    spectrum = scipy.fft.dctn(rhs, type=2, axes=axes, norm="ortho")
    spectrum *= _inverse_laplacian_eigenvalues(phi.shape[-3:], voxel)
    return scipy.fft.idctn(spectrum, type=2, axes=axes, norm="ortho")
