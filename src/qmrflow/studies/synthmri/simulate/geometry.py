"""Slice and in-plane geometry of the synthmri demo scans (routine and fast grids, affines)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qmrflow.errors import ConfigError

SLAB_MM: tuple[float, float] = (-4.0, 36.0)
"""MNI z range (mm) covered by the slices: lateral ventricles and centrum semiovale."""

MAX_SLICE_THICKNESS_MM = 4.0

FOV_MM: tuple[float, float] = (192.0, 224.0)
"""In-plane field of view (x, y) in mm; the voxel size is ``FOV_MM / matrix``."""

FOV_CENTRE_MM: tuple[float, float] = (0.0, -18.0)
"""Centre of the field of view (x, y) in scanner (approximately MNI) mm."""


def slice_geometry(n_slices: int) -> tuple[np.ndarray, float, float]:
    """Slice centres (MNI z, mm), thickness and centre spacing for ``n_slices`` slices.

    The slab :data:`SLAB_MM` is cut into ``n_slices`` equal parts; each slice is centred in its
    part with thickness ``min(4 mm, part)``.
    """
    if int(n_slices) < 1:
        raise ConfigError(f"n_slices must be >= 1, got {n_slices}")
    n = int(n_slices)
    spacing = (SLAB_MM[1] - SLAB_MM[0]) / n
    centres = SLAB_MM[0] + spacing * (np.arange(n) + 0.5)
    return centres, min(MAX_SLICE_THICKNESS_MM, spacing), spacing


def _check_matrix(matrix: Sequence[int]) -> tuple[int, int]:
    values = tuple(int(m) for m in matrix)
    if len(values) != 2 or min(values) < 2:
        raise ConfigError(f"matrix must be two integers >= 2 (x, y), got {list(matrix)}")
    return values[0], values[1]


def _fast_lines(ny: int, fast_phase_fraction: float) -> int:
    fraction = float(fast_phase_fraction)
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fast_phase_fraction must be in (0, 1], got {fast_phase_fraction}")
    ny_fast = round(fraction * ny)
    if ny_fast < 2:
        raise ConfigError(
            f"fast_phase_fraction {fraction} keeps {ny_fast} of {ny} phase-encoding lines (< 2)"
        )
    return ny_fast


def _affine(nx: int, ny: int, n_slices: int) -> np.ndarray:
    centres, _, spacing = slice_geometry(n_slices)
    dx, dy = FOV_MM[0] / nx, FOV_MM[1] / ny
    return np.array(
        [
            [dx, 0.0, 0.0, FOV_CENTRE_MM[0] - dx * (nx - 1) / 2],
            [0.0, dy, 0.0, FOV_CENTRE_MM[1] - dy * (ny - 1) / 2],
            [0.0, 0.0, spacing, float(centres[0])],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def routine_affine(matrix: Sequence[int], n_slices: int) -> np.ndarray:
    """RAS+ affine of the routine grid: voxel ``FOV_MM / matrix``, field of view centred on
    :data:`FOV_CENTRE_MM`, slices at :func:`slice_geometry` centres."""
    nx, ny = _check_matrix(matrix)
    return _affine(nx, ny, n_slices)


def fast_affine(matrix: Sequence[int], n_slices: int, fast_phase_fraction: float) -> np.ndarray:
    """RAS+ affine of the fast grid ``(nx, ny_f)``: y spacing ``FOV_y / ny_f``, same field of
    view as :func:`routine_affine` (voxel centres shifted by half the spacing difference)."""
    nx, ny = _check_matrix(matrix)
    return _affine(nx, _fast_lines(ny, fast_phase_fraction), n_slices)
