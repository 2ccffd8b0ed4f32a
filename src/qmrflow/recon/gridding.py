"""Gridding reconstruction of a multi-coil radial series: the baseline, one batched call per group.

For frame ``t`` with samples ``y_{t,c}`` of coil ``c`` on trajectory ``k_t``, density weights
``w_t`` (:func:`~qmrflow.recon.fourier.radial_dcf`) and sensitivities ``S_c``:

.. math::

    x_t = \\frac{\\sum_c \\overline{S_c} \\, A_t^H (w_t \\, y_{t,c})}{\\sum_c |S_c|^2},

the density-compensated adjoint NUFFT of each coil ("gridding", Jackson et al., IEEE TMI 1991;
O'Sullivan, IEEE TMI 1985) combined with the sensitivities (Roemer et al., MRM 1990, the
sensitivity-weighted combination). With orthonormal transforms and weights in Cartesian cells,
``x_t`` is in the units of the forward model (``y = A S x`` gives back ``x`` where k-space is
sampled); pixels where ``sum |S_c|^2 = 0`` (outside the coil maps' mask) are 0. All frames of a
trajectory group go through one FINUFFT call (``frames x coils`` transforms), in chunks of
``chunk`` frames to bound memory.
"""

from __future__ import annotations

import logging

import numpy as np

from qmrflow.recon.fourier import BatchedNufft

__all__ = ["combine_coils", "grid_frames"]

log = logging.getLogger(__name__)


def combine_coils(
    coil_images: np.ndarray, maps: np.ndarray, *, normalise: bool = True
) -> np.ndarray:
    """Sensitivity-weighted coil combination ``sum_c conj(S_c) I_c / sum_c |S_c|^2``.

    Parameters
    ----------
    coil_images
        ``(..., C, X, Y)``.
    maps
        ``(C, X, Y)`` sensitivities.
    normalise
        Divide by ``sum_c |S_c|^2`` (0 where that is 0); False: ``S^H I`` only.

    Returns
    -------
    numpy.ndarray
        complex64 ``(..., X, Y)``.
    """
    combined = (coil_images * np.conj(maps)).sum(axis=-3).astype(np.complex64, copy=False)
    if normalise:
        energy = np.sum(np.abs(maps) ** 2, axis=0)
        inverse = np.divide(1.0, energy, out=np.zeros_like(energy), where=energy > 1e-6)
        combined *= inverse.astype(np.float32)
    return combined


def grid_frames(
    kspace: np.ndarray,
    operator: BatchedNufft,
    maps: np.ndarray,
    *,
    density: np.ndarray | None,
    normalise: bool = True,
    chunk: int = 16,
) -> np.ndarray:
    """Coil-combined density-compensated adjoint of every frame: ``(T, X, Y)`` complex64.

    Parameters
    ----------
    kspace
        ``(T, C, M)`` samples.
    operator
        The series' :class:`~qmrflow.recon.fourier.BatchedNufft`.
    maps
        ``(C, X, Y)`` sensitivities.
    density
        ``(T, M)`` weights (None: unweighted adjoint).
    normalise
        See :func:`combine_coils` (False gives ``S^H A^H W y``, SENSE's right-hand side).
    chunk
        Frames per FINUFFT call (within a trajectory group).
    """
    n_frames = kspace.shape[0]
    if kspace.ndim != 3 or n_frames != operator.n_frames or kspace.shape[2] != operator.n_samples:
        raise ValueError(
            f"kspace must be (frames={operator.n_frames}, coils, samples={operator.n_samples}) "
            f"for this operator, got {kspace.shape}"
        )
    if maps.shape != (kspace.shape[1], *operator.matrix):
        raise ValueError(f"maps must be {(kspace.shape[1], *operator.matrix)}, got {maps.shape}")
    out = np.empty((n_frames, *operator.matrix), dtype=np.complex64)
    for frames in operator.group_frames:
        for start in range(0, len(frames), max(1, int(chunk))):
            block = frames[start : start + max(1, int(chunk))]
            weights = None if density is None else density[block]
            images = operator.adjoint(kspace[block], frames=block, weights=weights)
            out[block] = combine_coils(images, maps, normalise=normalise)
    return out
