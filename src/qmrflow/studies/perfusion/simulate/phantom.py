"""The short-axis phantom: geometry, affines, label maps and AHA segments of one subject.

Everything is defined in world millimetres in the short-axis plane (the world frame *is* the
short-axis frame here: diagonal affines, world ``x, y`` along voxel axes 0 and 1, world ``z``
along the slice axis from base to apex), so the stress grid (2 mm) and the AIF grid (4 mm) are
rendered from the same anatomy and agree in world coordinates.

Angles are measured about the LV centre in the ``(axis0, axis1)`` plane from ``+axis0`` toward
``+axis1`` (degrees, ``atan2(d1, d0)``). With the slice axis pointing from base to apex and
right-handed affines this is counter-clockwise *as seen from the apex*. The segments are
numbered relative to the septum mid-line: the direction from the LV centre to the RV centroid,
at ``septum_angle`` (180 degrees plus a per-subject rotation of at most 10 degrees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from qmrflow.studies.perfusion.simulate.settings import LABELS, SimulationSettings

__all__ = [
    "Heart",
    "aha_segments",
    "draw_heart",
    "grid_affine",
    "grid_mm",
    "ring_of_level",
    "sample_world",
    "slice_centres_mm",
]


def ring_of_level(level: float) -> str:
    """``basal`` (level < 1/3), ``mid`` (< 2/3) or ``apical``."""
    return "basal" if level < 1 / 3 else "mid" if level < 2 / 3 else "apical"


def aha_segments(angle_deg: np.ndarray, septum_angle_deg: float, ring: str) -> np.ndarray:
    """AHA segment (1-16) at each angle about the LV centre.

    ``relative = angle - septum_angle`` (counter-clockwise from the septum mid-line, seen from
    the apex). Basal and mid rings (offset 0 and 6): anterior ``[-120, -60)``, anteroseptal
    ``[-60, 0)``, inferoseptal ``[0, 60)``, inferior ``[60, 120)``, inferolateral
    ``[120, 180)``, anterolateral ``[180, 240)`` degrees; the anterior RV insertion is at -60,
    the inferior at +60. Apical ring: anterior ``[-135, -45)``, septal ``[-45, 45)``, inferior
    ``[45, 135)``, lateral ``[135, 225)``.

    Returns
    -------
    numpy.ndarray
        uint8 segment numbers, same shape as ``angle_deg``.
    """
    relative = np.asarray(angle_deg, dtype=float) - float(septum_angle_deg)
    if ring == "apical":
        j = np.floor(np.mod(relative + 135.0, 360.0) / 90.0)
        return (13 + np.clip(j, 0, 3)).astype(np.uint8)
    offset = {"basal": 0, "mid": 6}[ring]
    j = np.floor(np.mod(relative + 120.0, 360.0) / 60.0)
    return (offset + 1 + np.clip(j, 0, 5)).astype(np.uint8)


def grid_mm(shape: tuple[int, int], voxel_mm: float) -> np.ndarray:
    """World in-plane coordinates ``(2, X, Y)`` (mm) of voxel centres; the FOV centre is 0."""
    axes = [(np.arange(n) - (n - 1) / 2.0) * voxel_mm for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def sample_world(field: np.ndarray, voxel_mm: float, coords: np.ndarray) -> np.ndarray:
    """A map ``(..., X, Y)`` on a :func:`grid_mm` grid, linearly sampled at world ``coords``.

    ``coords`` is ``(2, *out)`` mm; points beyond the grid take the nearest edge value.
    """
    shape = np.asarray(field.shape[-2:], dtype=float)
    index = coords / voxel_mm + ((shape - 1.0) / 2.0).reshape(2, *([1] * (coords.ndim - 1)))
    flat = field.reshape(-1, *field.shape[-2:])
    out = [ndimage.map_coordinates(f, index, order=1, mode="nearest") for f in flat]
    return np.stack(out).reshape(*field.shape[:-2], *coords.shape[1:])


def slice_centres_mm(settings: SimulationSettings) -> np.ndarray:
    """World ``z`` (mm) of every slice centre, base (index 0) to apex, centred on 0."""
    k = np.arange(settings.n_slices) - (settings.n_slices - 1) / 2.0
    return k * settings.slice_spacing_mm


def grid_affine(
    shape: tuple[int, int], voxel_mm: float, z0_mm: float, slice_step_mm: float
) -> np.ndarray:
    """Diagonal voxel-to-world affine of a grid centred on the FOV centre (see :func:`grid_mm`)."""
    affine = np.diag([voxel_mm, voxel_mm, slice_step_mm, 1.0])
    affine[:2, 3] = [-(n - 1) / 2.0 * voxel_mm for n in shape]
    affine[2, 3] = z0_mm
    return affine


@dataclass(frozen=True)
class Heart:
    """One subject's short-axis anatomy (world mm, angles in degrees).

    The LV is a truncated ellipsoid: at level ``l`` (0 basal plane, 1 epicardial apex) the
    epicardial radius is ``epi_radius sqrt(1 - l^2)`` and the endocardial radius
    ``endo_radius sqrt(1 - (l / 0.92)^2)``; the centre is ``centre + tilt (l - 0.5)``. The RV
    blood pool is a crescent on the LV epicardium centred on ``septum_angle``, its thickness
    ``rv_width sqrt(1 - l^2) sqrt(cos(1.5 rel))`` for ``|rel| < 60`` degrees (zero at the two
    RV insertions, ``septum_angle -+ 60``). The liver is the part of the body beyond a line
    ``liver_gap`` mm outside the epicardium, facing ``liver_angle`` (inferior, toward the
    inferior RV insertion). The body is an ellipse; outside it is air.
    """

    centre: tuple[float, float]
    tilt: tuple[float, float]
    endo_radius: float
    epi_radius: float
    rv_width: float
    septum_angle: float
    liver_angle: float
    liver_gap: float
    body_centre: tuple[float, float]
    body_axes: tuple[float, float]

    def at_level(self, level: float) -> tuple[np.ndarray, float, float, float]:
        """LV centre (2,), endocardial and epicardial radius and RV width at ``level``."""
        centre = np.asarray(self.centre) + np.asarray(self.tilt) * (level - 0.5)
        epi = self.epi_radius * np.sqrt(max(0.0, 1.0 - level**2))
        endo = self.endo_radius * np.sqrt(max(0.0, 1.0 - (level / 0.92) ** 2))
        rv = self.rv_width * np.sqrt(max(0.0, 1.0 - level**2))
        return centre, float(endo), float(epi), float(rv)

    def render(self, coords: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Label map and AHA segment map (both uint8, ``coords.shape[1:]``) at ``level``.

        Parameters
        ----------
        coords
            World in-plane coordinates ``(2, X, Y)`` of the voxel centres (:func:`grid_mm`).
        level
            Position along the LV (0 base, 1 apex).
        """
        centre, endo, epi, rv_width = self.at_level(level)
        d = coords - centre[:, None, None]
        radius = np.hypot(d[0], d[1])
        angle = np.degrees(np.arctan2(d[1], d[0]))
        rel = np.mod(angle - self.septum_angle + 180.0, 360.0) - 180.0
        labels = np.zeros(coords.shape[1:], dtype=np.uint8)
        body = ((coords[0] - self.body_centre[0]) / self.body_axes[0]) ** 2 + (
            (coords[1] - self.body_centre[1]) / self.body_axes[1]
        ) ** 2 <= 1.0
        labels[body] = LABELS["other"]
        normal = np.array(
            [np.cos(np.radians(self.liver_angle)), np.sin(np.radians(self.liver_angle))]
        )
        liver = body & (np.einsum("i,ixy->xy", normal, d) > epi + self.liver_gap)
        labels[liver] = LABELS["liver"]
        crescent = rv_width * np.sqrt(np.clip(np.cos(np.radians(1.5 * rel)), 0.0, None))
        crescent = np.where(np.abs(rel) < 60.0, crescent, 0.0)
        labels[(radius > epi) & (radius <= epi + crescent)] = LABELS["rv"]
        myocardium = (radius > endo) & (radius <= epi)
        labels[myocardium] = LABELS["myocardium"]
        labels[radius <= endo] = LABELS["lv"]
        segments = np.where(
            myocardium, aha_segments(angle, self.septum_angle, ring_of_level(level)), 0
        ).astype(np.uint8)
        return labels, segments


def draw_heart(rng: np.random.Generator, settings: SimulationSettings) -> Heart:
    """Draw one subject's anatomy (sizes vary about 8 %, position a few mm, rotation 10 deg)."""
    fov = np.asarray(settings.matrix, dtype=float) * settings.voxel_mm
    scale = rng.uniform(0.92, 1.08)
    endo = 21.0 * scale
    wall = 9.0 * rng.uniform(0.9, 1.12)
    septum = 180.0 + rng.uniform(-10.0, 10.0)
    return Heart(
        centre=(float(8.0 + rng.normal(0.0, 3.0)), float(2.0 + rng.normal(0.0, 3.0))),
        tilt=(float(rng.normal(0.0, 4.0)), float(rng.normal(0.0, 4.0))),
        endo_radius=float(endo),
        epi_radius=float(endo + wall),
        rv_width=float(16.0 * rng.uniform(0.85, 1.15)),
        septum_angle=float(septum),
        liver_angle=float(septum + 60.0 + rng.uniform(-5.0, 15.0)),
        liver_gap=float(rng.uniform(12.0, 18.0)),
        body_centre=(float(rng.normal(0.0, 2.0)), float(rng.normal(0.0, 2.0))),
        body_axes=(
            float(0.46 * fov[0] * rng.uniform(0.95, 1.05)),
            float(0.40 * fov[1] * rng.uniform(0.95, 1.05)),
        ),
    )
