"""Small objects and acquisitions shared by the reconstruction tests (48 x 48, 4 coils)."""

from __future__ import annotations

import numpy as np

from qmrflow.simulate.kspace import (
    coil_sensitivities,
    complex_noise,
    nufft_forward,
    radial_trajectory,
)

MATRIX = (48, 48)


def smooth_object(shape: tuple[int, int] = MATRIX, centre: tuple[float, float] = (0.0, 0.0)):
    """Real positive ellipse with soft edges and an off-centre bright blob (asymmetric)."""
    x = np.arange(shape[0])[:, None] - shape[0] / 2 - centre[0]
    y = np.arange(shape[1])[None, :] - shape[1] / 2 - centre[1]
    body = 1 / (
        1 + np.exp(np.sqrt((x / (0.36 * shape[0])) ** 2 + (y / (0.28 * shape[1])) ** 2) * 12 - 12)
    )
    blob = np.exp(
        -((x - 0.15 * shape[0]) ** 2 + (y + 0.1 * shape[1]) ** 2) / (0.05 * shape[0]) ** 2
    )
    return 0.5 * body + 0.5 * blob


def structured_object(shape: tuple[int, int] = MATRIX, shift: float = 0.0) -> np.ndarray:
    """:func:`smooth_object` with sharp-edged discs (fine structure that undersampling streaks);
    the discs move along x by ``shift`` pixels."""
    x = np.arange(shape[0])[:, None] - shape[0] / 2
    y = np.arange(shape[1])[None, :] - shape[1] / 2
    image = 0.6 * smooth_object(shape)
    for cx, cy, r, value in ((-6, -6, 4, 1.0), (5, 8, 3, 0.8), (8, -9, 2, 1.2), (-10, 7, 2.5, 0.2)):
        image = np.where((x - cx - shift) ** 2 + (y - cy) ** 2 < r**2, value, image)
    return image


def turns_trajectory(n_frames: int, spokes: int, samples: int, turns: int = 5) -> np.ndarray:
    """``(T, S, N, 2)``: spokes over 360 deg, successive frames rotated to interleave ``turns``."""
    return np.stack(
        [
            radial_trajectory(
                spokes,
                samples,
                angle_increment=2 * np.pi / spokes,
                first_angle=(t % turns) * np.pi / (spokes * turns),
            )
            for t in range(n_frames)
        ]
    ).astype(np.float32)


def acquire(
    objects: np.ndarray, trajectory: np.ndarray, n_coils: int = 4, sigma: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(kspace (T, C, S, N) complex64, true maps)`` of images ``(T, X, Y)`` on ``trajectory``."""
    maps = coil_sensitivities(objects.shape[1:], n_coils)
    kspace = np.stack(
        [nufft_forward(maps * o, tr) for o, tr in zip(objects, trajectory, strict=True)]
    )
    if sigma > 0:
        kspace = kspace + complex_noise(kspace.shape, sigma, np.random.default_rng(seed))
    return kspace.astype(np.complex64), maps


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))
