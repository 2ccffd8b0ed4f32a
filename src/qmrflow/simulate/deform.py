"""Per-subject smooth random deformation of a template: affine part plus a smooth warp.

A :class:`RandomDeformation` maps every point ``p`` of a subject (scanner) space to the
template: ``c + M (p - c) + t + u(p)``, with a global and per-axis scaling and a small rotation
in ``M``, a head-position shift ``t`` and a smooth displacement field ``u`` (white noise on a
coarse grid, Gaussian-filtered, scaled to an RMS drawn per subject, interpolated trilinearly).
Because it maps subject to template, template-defined structures (regions, lesions, labels)
travel with the anatomy when the template is sampled at the mapped points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmrflow.simulate.fields import smooth_noise

__all__ = ["BRAIN_BOX_MM", "RandomDeformation", "linear_weights", "rotation_matrix"]

BRAIN_BOX_MM: tuple[tuple[float, float], ...] = ((-100.0, 100.0), (-136.0, 104.0), (-76.0, 88.0))
"""Default extent (x, y, z; MNI mm) of the displacement grid: the whole MNI152 brain."""


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """Rotation matrix ``Rz Ry Rx`` from angles (rad) about x, y and z."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def linear_weights(position: np.ndarray, n: int) -> np.ndarray:
    """Matrix ``(len(position), n)`` of linear-interpolation weights on a grid ``0..n-1``.

    Positions outside the grid take the nearest grid value.
    """
    position = np.clip(np.asarray(position, dtype=float), 0.0, n - 1.0)
    low = np.minimum(np.floor(position).astype(int), n - 2)
    frac = position - low
    weights = np.zeros((len(position), n))
    rows = np.arange(len(position))
    weights[rows, low] = 1.0 - frac
    weights[rows, low + 1] = frac
    return weights


@dataclass(frozen=True)
class RandomDeformation:
    """Subject (scanner) mm -> template mm: ``c + M (p - c) + t + u(p)``.

    Attributes
    ----------
    matrix
        ``M`` (3, 3).
    shift
        ``t`` (3,), mm.
    field
        ``u`` on the coarse grid, ``(3, gx, gy, gz)`` mm.
    box
        Extent of the coarse grid per axis (mm); outside it ``u`` takes the nearest value.
    grid_mm
        Spacing of the coarse grid.
    centre
        ``c`` (3,), mm: the point the scaling and rotation keep fixed.
    """

    matrix: np.ndarray
    shift: np.ndarray
    field: np.ndarray
    box: tuple[tuple[float, float], ...] = BRAIN_BOX_MM
    grid_mm: float = 8.0
    centre: tuple[float, float, float] = (0.0, -18.0, 16.0)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        *,
        box: tuple[tuple[float, float], ...] = BRAIN_BOX_MM,
        grid_mm: float = 8.0,
        centre: tuple[float, float, float] = (0.0, -18.0, 16.0),
        scale_sd: float = 0.04,
        axis_sd: float = 0.02,
        rotation_sd_deg: float = 3.0,
        shift_sd_mm: float = 2.0,
        smoothness: float = 2.5,
        rms_mm: tuple[float, float] = (1.0, 2.5),
    ) -> RandomDeformation:
        """Draw one subject's deformation.

        Global scale ``N(1, scale_sd)`` clipped to 0.9-1.1, times per-axis ``N(1, axis_sd)``
        clipped to 0.95-1.05; rotation ``N(0, rotation_sd_deg)`` per axis clipped to +-8
        degrees; in-plane (x, y) shift ``N(0, shift_sd_mm)``; displacement: white noise on the
        coarse grid filtered with a Gaussian of ``smoothness`` grid cells (periodic), unit SD
        per component, times an RMS drawn uniformly from ``rms_mm``. The draws are made in
        this order (the synthmri demo cohort depends on it).
        """
        scale = float(np.clip(rng.normal(1.0, scale_sd), 0.9, 1.1))
        axes = scale * np.clip(rng.normal(1.0, axis_sd, size=3), 0.95, 1.05)
        angles = np.deg2rad(np.clip(rng.normal(0.0, rotation_sd_deg, size=3), -8.0, 8.0))
        # The subject is the template scaled by ``axes`` and rotated: its inverse maps back.
        matrix = np.diag(1.0 / axes) @ rotation_matrix(angles).T
        shift = np.array([*rng.normal(0.0, shift_sd_mm, size=2), 0.0])
        shape = [round((b - a) / grid_mm) + 1 for a, b in box]
        field = smooth_noise(rng, (3, *shape), smoothness, channel_axes=1, mode="wrap")
        field *= rng.uniform(*rms_mm)
        return cls(
            matrix=matrix,
            shift=shift,
            field=field,
            box=tuple(tuple(b) for b in box),
            grid_mm=float(grid_mm),
            centre=tuple(float(c) for c in centre),
        )

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Template coordinates ``(3, len(x), len(y), len(z))`` of the grid ``x x y x z``."""
        axes = (x, y, z)
        rel = [v - c for v, c in zip(axes, self.centre, strict=True)]
        # Trilinear interpolation of the coarse field on a tensor grid is separable: three
        # small matrix products instead of map_coordinates on every point (10x faster).
        weights = [
            linear_weights((v - box[0]) / self.grid_mm, n)
            for v, box, n in zip(axes, self.box, self.field.shape[1:], strict=True)
        ]
        out = np.einsum("cijk,xi,yj,zk->cxyz", self.field, *weights, optimize=True)
        for i in range(3):
            out[i] += (
                self.centre[i]
                + self.shift[i]
                + self.matrix[i, 0] * rel[0][:, None, None]
                + self.matrix[i, 1] * rel[1][None, :, None]
                + self.matrix[i, 2] * rel[2][None, None, :]
            )
        return out

    def point(self, p: np.ndarray) -> np.ndarray:
        """Template coordinate (3,) of one subject point ``p`` (3,)."""
        return self(*(np.array([float(v)]) for v in p))[:, 0, 0, 0]
