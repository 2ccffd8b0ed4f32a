"""Free-breathing motion: a respiratory trace driving a translation, an affine and a warp.

The trace ``r(t)`` is 0 at end-expiration (the reference, motion-free position) and about 1 at
a normal end-inspiration (Lujan et al., Med Phys 1999)::

    r(t) = a_m cos^4(pi (t / P - phi)),   m = round(t / P - phi)  (the breath's index)

with period ``P`` ~ U(3.5, 5) s, a random phase ``phi`` and a per-breath amplitude ``a_m`` ~
U(0.8, 1.1); in a subject with deep breaths, 1-3 breaths whose peak falls inside the
acquisition are ``U(2, 3)`` times deeper (``r`` is 0 where one breath ends and the next begins,
so the trace stays continuous).

The anatomy moves in the short-axis plane (world mm, about the LV centre ``c``) by::

    phi_t(x) = c + M_t (x - c) + r(t) d,   M_t = Rot(r(t) theta) diag(1 + r(t) s)

with ``d`` 3-6 mm mostly along axis 1 (within 20 degrees), ``theta`` 1.5-4 degrees and ``s``
up to 4 % per axis, plus a mild non-rigid deformation ``r(t) n(p)``: ``n`` is a smooth random
field (Gaussian width 10 mm) of about 1 mm RMS. The stored fields are *pull-back*
displacements (:mod:`qmrflow.registration.warp`): frame ``t`` at voxel ``p`` shows the
reference anatomy at ``p + u_t(p)``, ``u_t = phi_t^{-1}(p) - p + r(t) n(p)``, in the voxels of
each grid. Through-plane motion is not simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmrflow.simulate.fields import smooth_noise
from qmrflow.studies.perfusion.simulate.phantom import sample_world

__all__ = ["Breathing", "Motion", "draw_breathing", "draw_motion"]


@dataclass(frozen=True)
class Breathing:
    """A respiratory trace (see the module docstring).

    Attributes
    ----------
    period
        Seconds per breath.
    phase
        Fraction of a period (0-1): the first breath peaks at ``t = phase * period``.
    first_breath
        Index ``m`` of ``amplitudes[0]``.
    amplitudes
        ``a_m`` of every breath from ``first_breath`` on (deep breaths included).
    deep_breaths
        Indices ``m`` of the deep breaths (empty for a normal subject).
    """

    period: float
    phase: float
    first_breath: int
    amplitudes: np.ndarray
    deep_breaths: tuple[int, ...]

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The trace ``r(t)`` at times ``t`` (s)."""
        x = np.asarray(t, dtype=float) / self.period - self.phase
        breath = np.clip(np.round(x).astype(int) - self.first_breath, 0, self.amplitudes.size - 1)
        return self.amplitudes[breath] * np.cos(np.pi * x) ** 4


def draw_breathing(
    rng: np.random.Generator,
    deep_rng: np.random.Generator,
    frame_times: np.ndarray,
    deep_breaths: bool,
) -> Breathing:
    """Draw a trace; ``deep_rng`` draws only the deep breaths (the rest is the same without)."""
    period = rng.uniform(3.5, 5.0)
    phase = rng.uniform(0.0, 1.0)
    t0, t1 = float(frame_times[0]), float(frame_times[-1])
    first = int(np.round(t0 / period - phase)) - 1
    last = int(np.round(t1 / period - phase)) + 1
    amplitudes = rng.uniform(0.8, 1.1, last - first + 1)
    n_deep = int(deep_rng.integers(1, 4))
    factors = deep_rng.uniform(2.0, 3.0, 3)
    peaks = (np.arange(first, last + 1) + phase) * period
    inside = np.flatnonzero((peaks >= t0) & (peaks <= t1))
    order = deep_rng.permutation(inside)
    chosen: tuple[int, ...] = ()
    if deep_breaths and inside.size:
        picked = order[: min(n_deep, inside.size)]
        amplitudes = amplitudes.copy()
        amplitudes[picked] *= factors[: picked.size]
        chosen = tuple(sorted(int(first + i) for i in picked))
    return Breathing(float(period), float(phase), first, amplitudes, chosen)


@dataclass(frozen=True)
class Motion:
    """The motion of one subject at ``r = 1`` (see the module docstring), world mm.

    Attributes
    ----------
    breathing
        The respiratory trace.
    centre
        Centre ``c`` of the affine (the LV centre at mid level), mm.
    translation
        ``d`` (mm).
    rotation
        ``theta`` (degrees).
    scale
        ``s`` per axis (fraction).
    nonrigid
        ``n`` on the stress grid, ``(2, X, Y)`` mm.
    voxel_mm
        Voxel size of the grid ``nonrigid`` lives on.
    amplitude
        Multiplies the trace (the ``motion_scale`` setting).
    """

    breathing: Breathing
    centre: np.ndarray
    translation: np.ndarray
    rotation: float
    scale: np.ndarray
    nonrigid: np.ndarray
    voxel_mm: float
    amplitude: float = 1.0

    def displacement(
        self, frame_times: np.ndarray, coords: np.ndarray, voxel_mm: float
    ) -> np.ndarray:
        """Pull-back displacement ``(T, 2, X, Y)`` in voxels of a grid at world ``coords``.

        Parameters
        ----------
        frame_times
            ``(T,)`` seconds.
        coords
            World in-plane coordinates ``(2, X, Y)`` of the grid's voxel centres (mm).
        voxel_mm
            The grid's voxel size (the field is returned in its voxels).
        """
        if self.amplitude == 0.0:
            return np.zeros((len(frame_times), 2, *coords.shape[1:]), dtype=np.float32)
        r = self.amplitude * self.breathing(frame_times)
        angle = np.radians(self.rotation) * r
        cos, sin = np.cos(angle), np.sin(angle)
        rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
        matrix = rotation * (1.0 + r[:, None, None] * self.scale[None, None, :])
        inverse = np.linalg.inv(matrix)
        c = self.centre[:, None, None]
        shifted = coords[None] - c[None] - (r[:, None] * self.translation[None])[:, :, None, None]
        back = np.einsum("tij,tjxy->tixy", inverse, shifted) + c[None]
        field = (
            back
            - coords[None]
            + r[:, None, None, None] * sample_world(self.nonrigid, self.voxel_mm, coords)[None]
        )
        return (field / voxel_mm).astype(np.float32)


def draw_motion(
    rng: np.random.Generator,
    breathing: Breathing,
    centre: np.ndarray,
    shape: tuple[int, int],
    voxel_mm: float,
    amplitude: float = 1.0,
) -> Motion:
    """Draw the translation, affine and non-rigid field of one subject (module docstring)."""
    size = rng.uniform(3.0, 6.0)
    direction = np.radians(90.0 + rng.uniform(-20.0, 20.0) + 180.0 * rng.integers(0, 2))
    rotation = rng.uniform(1.5, 4.0) * rng.choice([-1.0, 1.0])
    scale = rng.uniform(-0.04, 0.04, 2)
    rms = rng.uniform(0.8, 1.2)
    field = smooth_noise(rng, (2, *shape), 10.0 / voxel_mm, channel_axes=1, mode="reflect")
    return Motion(
        breathing=breathing,
        centre=np.asarray(centre, dtype=float),
        translation=size * np.array([np.cos(direction), np.sin(direction)]),
        rotation=float(rotation),
        scale=scale,
        nonrigid=field * rms / np.sqrt(2.0),
        voxel_mm=float(voxel_mm),
        amplitude=float(amplitude),
    )
