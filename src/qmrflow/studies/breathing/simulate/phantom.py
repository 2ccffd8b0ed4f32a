"""The coronal thorax phantom: anatomy, world grid, affine and partial-volume rendering.

Everything is defined in world millimetres of the coronal plane, in the patient's RAS frame:
``x`` toward the patient's right (RAS ``+x``), ``z`` toward the head (RAS ``+z``), both 0 at the
centre of the field of view. Voxel axis 0 runs toward the patient's *left* (radiological
display: the patient's right lung is at low axis-0 indices), axis 1 toward the head, so voxel
``(i, j)`` has its centre at ``x = ((X - 1) / 2 - i) v``, ``z = (j - (Y - 1) / 2) v``
(:func:`grid_affine`; the third axis points anterior).

Anatomy (:class:`Thorax`, one subject, end-expiration values; see the package docstring):

- the body is a capsule: below ``centre_z`` a band ``|x - body_x| < w / 2 + wall`` of constant
  width, above it a half ellipse of vertical semi-axis ``cavity_height + wall``; its outer
  ``fat`` mm are subcutaneous fat, the rest of the wall is muscle;
- the *inner region* (thoracic cavity and abdomen) is the same capsule shrunk by ``wall``: its
  half width is ``w / 2`` at and below ``centre_z``, so the thoracic width ``w`` is the distance
  between the lateral lung borders at their widest (height ``centre_z``), and the chest wall
  (inner region and body outline) moves laterally with ``w(t)``;
- each hemidiaphragm's upper surface (the lung's lower border) is a raised-cosine dome::

      border_s(x) = D_s - H_s (1 - cos(pi min(1, |x - dome_x_s| / R_s))) / 2

  whose apex, at ``x = dome_x_s`` (fixed), has the height ``D_s(t)``: the *dome position*;
  the diaphragm surface is the right dome's on the patient's right of the mediastinum and the
  left dome's on its left, blended over ``mediastinum_x +- 25`` mm (:meth:`Thorax.border`);
- below the surface a diaphragm band ``diaphragm_thickness`` mm thick (measured vertically),
  below that the abdomen: liver on the patient's right of ``liver_split_x``, stomach and spleen
  (soft tissue) on the left;
- above the surface, in the inner region: the lungs (right lung ``x > mediastinum_x +
  mediastinum_half``, left lung ``x < mediastinum_x - mediastinum_half``), the mediastinum
  between them and the heart, an ellipse resting on the diaphragm medial to the left dome's
  apex (it moves craniocaudally with the diaphragm surface under its centre).

The rendering samples ``supersample x supersample`` sub-pixels per pixel: a pixel's signal is
their mean (partial volume, anti-aliased edges) and its label is the label covering most of them
(ties go to the lower label number, background last), so a lung pixel is at least half lung.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qmrflow.studies.breathing.simulate.settings import (
    CLASS_LABEL,
    CLASSES,
    LABELS,
    PD_TISSUE,
    T1_TISSUE,
    SimulationSettings,
)

__all__ = [
    "Thorax",
    "class_fractions",
    "diaphragm_t1",
    "draw_thorax",
    "grid_affine",
    "grid_world",
    "majority_labels",
    "render_classes",
    "render_frames",
    "subpixel_world",
]

_C = {name: k for k, name in enumerate(CLASSES)}

#: Half width (mm) of the blend between the two hemidiaphragms about the mediastinum.
BLEND_MM = 25.0
_CHUNK = 16  # frames rendered at once (bounds the memory of the supersampled maps)


def grid_world(shape: tuple[int, int], voxel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """World ``x`` (RAS, toward the patient's right) of each axis-0 index, ``z`` of each axis-1."""
    x = ((shape[0] - 1) / 2.0 - np.arange(shape[0])) * voxel_mm
    z = (np.arange(shape[1]) - (shape[1] - 1) / 2.0) * voxel_mm
    return x, z


def subpixel_world(
    shape: tuple[int, int], voxel_mm: float, supersample: int
) -> tuple[np.ndarray, np.ndarray]:
    """World ``x``, ``z`` of the sub-pixel centres, ``supersample`` per pixel in index order."""
    s = int(supersample)
    offsets = (np.arange(s) + 0.5) / s - 0.5
    i = (np.arange(shape[0])[:, None] + offsets[None, :]).ravel()
    j = (np.arange(shape[1])[:, None] + offsets[None, :]).ravel()
    return ((shape[0] - 1) / 2.0 - i) * voxel_mm, (j - (shape[1] - 1) / 2.0) * voxel_mm


def grid_affine(shape: tuple[int, int], voxel_mm: float, slice_thickness_mm: float) -> np.ndarray:
    """Voxel-to-world (RAS, mm) affine of the coronal grid (see the module docstring).

    Axis 0 -> ``-x`` (toward the patient's left), axis 1 -> ``+z`` (head), axis 2 -> ``+y``
    (anterior, the slice normal); the centre of the field of view is the world origin. The
    matrix is a rotation times ``diag(v, v, thickness)`` with determinant ``+v^2 thickness``.
    """
    affine = np.zeros((4, 4))
    affine[0, 0] = -voxel_mm
    affine[2, 1] = voxel_mm
    affine[1, 2] = slice_thickness_mm
    affine[3, 3] = 1.0
    affine[0, 3] = (shape[0] - 1) / 2.0 * voxel_mm
    affine[2, 3] = -(shape[1] - 1) / 2.0 * voxel_mm
    return affine


def diaphragm_t1(fat_fraction: float, field_strength: float) -> float:
    """T1 (s) of the diaphragm with ``fat_fraction``: relaxation rates mixed (fast exchange).

    ``1 / T1 = (1 - f) / T1_muscle + f / T1_fat`` (:data:`T1_TISSUE`), so fat lowers the T1
    from the muscle's (1.41 s at 3 T, 1.01 s at 1.5 T) toward the fat's (0.37, 0.29 s).
    """
    table = T1_TISSUE[float(field_strength)]
    f = float(fat_fraction)
    return 1.0 / ((1.0 - f) / table["muscle"] + f / table["fat"])


def diaphragm_pd(fat_fraction: float) -> float:
    """Relative proton density of the diaphragm: muscle and fat mixed by the fat fraction."""
    f = float(fat_fraction)
    return (1.0 - f) * PD_TISSUE["muscle"] + f * PD_TISSUE["fat"]


@dataclass(frozen=True)
class Thorax:
    """One subject's coronal anatomy at end-expiration (world mm; module docstring).

    Attributes
    ----------
    width
        Thoracic width ``w`` at end-expiration: distance between the inner chest walls (the
        lateral lung borders) at height ``centre_z``.
    wall, fat
        Chest-wall thickness (fat included) and subcutaneous fat thickness.
    body_x
        Lateral centre of the body.
    centre_z
        Height of the widest point of the thoracic cavity; above it the cavity is a half
        ellipse of vertical semi-axis ``cavity_height`` (the lung apices).
    cavity_height
        See ``centre_z``.
    dome_x, dome_z
        ``(right, left)`` position ``x`` of each dome's apex and its height ``D_s`` at
        end-expiration.
    dome_depth, dome_radius
        ``(right, left)`` ``H_s`` and ``R_s`` of the raised cosine.
    diaphragm_thickness
        Vertical thickness of the diaphragm band.
    mediastinum_x, mediastinum_half
        Centre and half width of the mediastinum between the lungs.
    heart_centre, heart_axes
        Heart ellipse centre ``(x, z)`` at end-expiration and semi-axes ``(a_x, a_z)``.
    heart_sink
        The heart rests on the diaphragm: its centre is ``heart_sink * a_z`` above the
        diaphragm surface at ``x = heart_centre[0]`` in every frame (its lower pole sinks below
        the surface, where it is not drawn).
    liver_split_x
        The liver lies on the patient's right of this ``x``, stomach and spleen on the left.
    """

    width: float
    wall: float
    fat: float
    body_x: float
    centre_z: float
    cavity_height: float
    dome_x: tuple[float, float]
    dome_z: tuple[float, float]
    dome_depth: tuple[float, float]
    dome_radius: tuple[float, float]
    diaphragm_thickness: float
    mediastinum_x: float
    mediastinum_half: float
    heart_centre: tuple[float, float]
    heart_axes: tuple[float, float]
    heart_sink: float
    liver_split_x: float

    def border(self, x: np.ndarray, dome_right: np.ndarray, dome_left: np.ndarray) -> np.ndarray:
        """Height ``(T, len(x))`` of the diaphragm's upper surface (the lungs' lower border).

        The right dome's surface on the patient's right of the mediastinum, the left dome's on
        its left, blended by a smoothstep over ``mediastinum_x +- BLEND_MM`` (under the heart
        and mediastinum, far from the apices).
        """
        sides = []
        for k, dome in enumerate((dome_right, dome_left)):
            u = np.minimum(np.abs(x - self.dome_x[k]) / self.dome_radius[k], 1.0)
            drop = self.dome_depth[k] * 0.5 * (1.0 - np.cos(np.pi * u))
            sides.append(np.asarray(dome, dtype=float)[:, None] - drop[None, :])
        u = np.clip((x - self.mediastinum_x) / (2.0 * BLEND_MM) + 0.5, 0.0, 1.0)
        weight = u * u * (3.0 - 2.0 * u)  # 1 on the right, 0 on the left
        return weight[None, :] * sides[0] + (1.0 - weight[None, :]) * sides[1]


def draw_thorax(rng: np.random.Generator) -> Thorax:
    """Draw one subject's anatomy (a fixed number of draws in a fixed order; adult sizes)."""
    width = rng.uniform(240.0, 270.0)
    wall = rng.uniform(22.0, 32.0)
    fat = rng.uniform(6.0, 12.0)
    body_x = rng.normal(0.0, 3.0)
    centre_z = rng.normal(0.0, 5.0)
    cavity_height = rng.uniform(170.0, 185.0)
    right_x = body_x + rng.uniform(60.0, 80.0)
    left_x = body_x - rng.uniform(85.0, 95.0)
    right_z = centre_z - rng.uniform(10.0, 25.0)
    left_z = right_z - rng.uniform(10.0, 20.0)
    depth = rng.uniform(35.0, 50.0, 2)
    radius = rng.uniform(85.0, 110.0, 2)
    thickness = rng.uniform(10.0, 14.0)
    mediastinum = body_x - rng.uniform(0.0, 10.0)
    half = rng.uniform(15.0, 22.0)
    heart_x = body_x - rng.uniform(10.0, 18.0)
    axes = (rng.uniform(48.0, 55.0), rng.uniform(40.0, 50.0))
    sink = rng.uniform(0.6, 0.8)
    split = body_x - rng.uniform(10.0, 30.0)
    thorax = Thorax(
        width=float(width),
        wall=float(wall),
        fat=float(fat),
        body_x=float(body_x),
        centre_z=float(centre_z),
        cavity_height=float(cavity_height),
        dome_x=(float(right_x), float(left_x)),
        dome_z=(float(right_z), float(left_z)),
        dome_depth=(float(depth[0]), float(depth[1])),
        dome_radius=(float(radius[0]), float(radius[1])),
        diaphragm_thickness=float(thickness),
        mediastinum_x=float(mediastinum),
        mediastinum_half=float(half),
        heart_centre=(float(heart_x), 0.0),
        heart_axes=(float(axes[0]), float(axes[1])),
        heart_sink=float(sink),
        liver_split_x=float(split),
    )
    # The heart rests on the diaphragm: its lower pole sinks below the surface under it (the
    # part below the surface is not drawn).
    floor = thorax.border(np.array([heart_x]), np.array([right_z]), np.array([left_z]))[0, 0]
    return replace(thorax, heart_centre=(float(heart_x), float(floor + sink * axes[1])))


def _half_width(z: np.ndarray, half: np.ndarray, centre_z: float, height: float) -> np.ndarray:
    """Half width ``(T, len(z))`` of a capsule: ``half`` below ``centre_z``, an ellipse above."""
    rel = np.clip((z - centre_z) / height, 0.0, None)
    profile = np.sqrt(np.clip(1.0 - rel**2, 0.0, None))
    return np.asarray(half, dtype=float)[:, None] * profile[None, :]


def render_classes(
    thorax: Thorax,
    dome_right: np.ndarray,
    dome_left: np.ndarray,
    width: np.ndarray,
    x: np.ndarray,
    z: np.ndarray,
) -> np.ndarray:
    """Tissue class (:data:`CLASSES`) at every point ``(x, z)`` of every frame.

    Parameters
    ----------
    thorax
        The anatomy.
    dome_right, dome_left, width
        ``(T,)`` dome heights ``D_s`` and thoracic width ``w`` (mm) of each frame.
    x, z
        World coordinates (mm) of the sample columns and rows.

    Returns
    -------
    numpy.ndarray
        uint8 ``(T, len(x), len(z))``.
    """
    th = thorax
    dome_right = np.atleast_1d(np.asarray(dome_right, dtype=float))
    dome_left = np.atleast_1d(np.asarray(dome_left, dtype=float))
    half_inner = 0.5 * np.atleast_1d(np.asarray(width, dtype=float))
    ax = np.abs(x - th.body_x)[None, :, None]
    zz = z[None, None, :]
    inner = ax < _half_width(z, half_inner, th.centre_z, th.cavity_height)[:, None, :]
    muscle = (
        ax
        < _half_width(
            z, half_inner + th.wall - th.fat, th.centre_z, th.cavity_height + th.wall - th.fat
        )[:, None, :]
    )
    body = (
        ax
        < _half_width(z, half_inner + th.wall, th.centre_z, th.cavity_height + th.wall)[:, None, :]
    )
    border = th.border(x, dome_right, dome_left)[:, :, None]
    above = zz > border
    abdomen = zz <= border - th.diaphragm_thickness
    right = (x > th.liver_split_x)[None, :, None]
    medial = np.abs(x - th.mediastinum_x) <= th.mediastinum_half
    lung_right = (x > th.mediastinum_x)[None, :, None]
    floor = th.border(np.array([th.heart_centre[0]]), dome_right, dome_left)[:, 0]
    heart_z = floor + th.heart_sink * th.heart_axes[1]
    ex = ((x - th.heart_centre[0]) / th.heart_axes[0]) ** 2
    ez = ((z[None, :] - heart_z[:, None]) / th.heart_axes[1]) ** 2
    heart = ex[None, :, None] + ez[:, None, :] <= 1.0

    c = _C
    out = np.where(body, np.uint8(c["fat"]), np.uint8(c["air"]))
    out[muscle] = c["muscle"]
    thorax_part = np.where(
        heart,
        np.uint8(c["heart"]),
        np.where(
            medial[None, :, None],
            np.uint8(c["mediastinum"]),
            np.where(lung_right, np.uint8(c["lung_right"]), np.uint8(c["lung_left"])),
        ),
    )
    abdomen_part = np.where(right, np.uint8(c["liver"]), np.uint8(c["stomach_spleen"]))
    inside = np.where(above, thorax_part, np.where(abdomen, abdomen_part, np.uint8(c["diaphragm"])))
    return np.where(inner, inside, out).astype(np.uint8)


def _block_sum(values: np.ndarray, shape: tuple[int, int], s: int, dtype) -> np.ndarray:
    """Sum over ``s x s`` blocks of ``(T, X s, Y s)`` -> ``(T, X, Y)``."""
    n = values.shape[0]
    return values.reshape(n, shape[0], s, shape[1], s).sum(axis=(2, 4), dtype=dtype)


def class_fractions(classes: np.ndarray, shape: tuple[int, int], s: int) -> np.ndarray:
    """Fraction ``(T, n_classes, X, Y)`` float32 of each class's sub-pixels per pixel."""
    counts = [_block_sum(classes == k, shape, s, np.int32) for k in range(len(CLASSES))]
    return (np.stack(counts, axis=1) / float(s * s)).astype(np.float32)


def majority_labels(classes: np.ndarray, shape: tuple[int, int], s: int) -> np.ndarray:
    """The label ``(T, X, Y)`` covering most sub-pixels of classes ``(T, X s, Y s)``, uint8.

    Ties go to the lower label number, background last.

    The sub-pixel counts of all labels are summed in one pass, packed 7 bits per label into an
    int64 (at most 64 sub-pixels per pixel).
    """
    packed = np.left_shift(np.int64(1), 7 * CLASS_LABEL.astype(np.int64))
    total = _block_sum(packed[classes], shape, s, np.int64)
    order = np.array([*range(1, len(LABELS)), 0])
    counts = np.stack([(total >> (7 * k)) & 127 for k in order], axis=1)
    return order.astype(np.uint8)[np.argmax(counts, axis=1)]


def render_frames(
    thorax: Thorax,
    dome_right: np.ndarray,
    dome_left: np.ndarray,
    width: np.ndarray,
    settings: SimulationSettings,
    values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Partial-volume magnitude frames and majority labels on the settings' grid.

    Parameters
    ----------
    thorax, dome_right, dome_left, width
        See :func:`render_classes` (``(T,)`` curves).
    settings
        Grid (``matrix``, ``voxel_mm``) and ``supersample``.
    values
        Signal of every tissue class, ``(n_classes,)``.

    Returns
    -------
    tuple of numpy.ndarray
        float32 ``(T, X, Y)`` mean signal of the sub-pixels and uint8 ``(T, X, Y)`` labels.
    """
    shape, s = settings.matrix, settings.supersample
    x, z = subpixel_world(shape, settings.voxel_mm, s)
    lut = np.asarray(values, dtype=np.float32)
    n = len(dome_right)
    signal = np.empty((n, *shape), dtype=np.float32)
    labels = np.empty((n, *shape), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(n, start + _CHUNK))
        classes = render_classes(thorax, dome_right[part], dome_left[part], width[part], x, z)
        signal[part] = _block_sum(lut[classes], shape, s, np.float32) / np.float32(s * s)
        labels[part] = majority_labels(classes, shape, s)
    return signal, labels
