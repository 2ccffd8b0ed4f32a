"""Warping 2-D frames with dense displacement fields: one convention for every method.

A displacement field ``u`` of a stack of frames has shape ``(frames, 2, X, Y)`` in voxel units,
channel 0 along the first image axis and channel 1 along the second (the order of MONAI's
``Warp`` / ``DDF``). It *pulls back*: the warped frame at voxel ``p`` is the moving frame
sampled at ``p + u(p)``. Warping is one ``scipy.ndimage.map_coordinates`` call over the whole
stack (frames as a third, unshifted axis), linear for images and nearest for label maps; points
outside the frame take the nearest edge value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

__all__ = ["compose_affine_field", "identity_grid", "warp_frames"]


def identity_grid(shape: tuple[int, int]) -> np.ndarray:
    """Voxel coordinates ``(2, X, Y)`` of a frame."""
    return np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"))


def warp_frames(frames: ArrayLike, displacement: ArrayLike, *, labels: bool = False) -> np.ndarray:
    """Each frame sampled at ``p + u(p)``.

    Parameters
    ----------
    frames
        ``(T, X, Y)`` images (or label maps with ``labels=True``).
    displacement
        ``(T, 2, X, Y)`` pull-back displacement in voxels, or ``(2, X, Y)`` for every frame.
    labels
        Nearest-neighbour interpolation (label maps keep their values and dtype).

    Returns
    -------
    numpy.ndarray
        ``(T, X, Y)``: float32 for images, the input dtype for labels.
    """
    stack = np.asarray(frames)
    if stack.ndim != 3:
        raise ValueError(f"frames must be (T, X, Y), got shape {stack.shape}")
    field = np.asarray(displacement, dtype=float)
    if field.ndim == 3:
        field = np.broadcast_to(field, (stack.shape[0], *field.shape))
    if field.shape != (stack.shape[0], 2, *stack.shape[1:]):
        raise ValueError(
            f"displacement must be (T, 2, X, Y) = {(stack.shape[0], 2, *stack.shape[1:])}, "
            f"got {field.shape}"
        )
    grid = identity_grid(stack.shape[1:])
    t = np.broadcast_to(
        np.arange(stack.shape[0], dtype=float)[:, None, None], (stack.shape[0], *stack.shape[1:])
    )
    coordinates = np.stack([t, grid[0] + field[:, 0], grid[1] + field[:, 1]])
    warped = ndimage.map_coordinates(
        stack.astype(np.float32 if not labels else stack.dtype, copy=False),
        coordinates,
        order=0 if labels else 1,
        mode="nearest",
    )
    return warped if labels else warped.astype(np.float32, copy=False)


def compose_affine_field(matrix: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """The displacement ``(2, X, Y)`` of an affine map about the frame centre.

    ``matrix`` is ``(2, 3)``: ``p -> A (p - c) + c + b`` in voxels, ``A = matrix[:, :2]``,
    ``b = matrix[:, 2]``, ``c`` the centre; the displacement is the mapped point minus ``p``.
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must be (2, 3), got {m.shape}")
    grid = identity_grid(shape)
    centre = (np.asarray(shape, dtype=float) - 1.0) / 2.0
    offset = grid - centre[:, None, None]
    mapped = (
        np.einsum("ij,jxy->ixy", m[:, :2], offset) + centre[:, None, None] + m[:, 2, None, None]
    )
    return mapped - grid
