"""Real-time radial reconstruction: gridding against temporally regularised SENSE, 1 and 2 threads.

Simulates one moving-object series at the demo protocol of real-time radial FLASH (Uecker et al.,
NMR Biomed 2010): matrix 96 x 96 (4 mm pixels), 8 coils
(:func:`qmrflow.simulate.kspace.coil_sensitivities`), 11 spokes per frame of 192 samples (2x
readout oversampling), the spokes of a frame spread evenly over 360 deg and successive frames
rotated so that 5 of them interleave ("5 turns"), 50 ms per frame, 100 frames, complex noise.
The object is a torso-like ellipse with two lungs, a spine and a heart that beats (1 s period:
blood pool and wall radius) and moves with breathing (4 s period, +-3 pixels along x). The
k-space is computed from the pixel images with :func:`qmrflow.simulate.kspace.nufft_forward`
on the reconstruction's matrix (an inverse crime, harmless for timing and for the comparison of
the two methods).

Each method (:func:`qmrflow.recon.reconstruct_series`, coil estimation from the data included)
runs ``--repeats`` times per thread count; the median seconds per frame, frames per second, the
real-time factor (acquisition time, frames x 50 ms, over processing time) and the RMSE of the
magnitude frames against the true object (relative to the object's RMS; whole image, and
inside the body) are printed, with the time per stage of the last SENSE run.

Usage: python benchmarks/radial_recon.py [--frames 100] [--repeats 3] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from qmrflow.recon import reconstruct_series
from qmrflow.simulate.kspace import (
    coil_sensitivities,
    complex_noise,
    nufft_forward,
    radial_trajectory,
)

logger = logging.getLogger("benchmarks.radial_recon")

MATRIX = (96, 96)
COILS = 8
SPOKES = 11
SAMPLES = 192
TURNS = 5
FRAME_SECONDS = 0.05
SIGMA = 0.02  # noise SD per channel; the object's tissue intensities are 0.1-1


def uecker_trajectory(n_frames: int) -> np.ndarray:
    """``(T, S, N, 2)`` float32: ``S`` spokes over 360 deg, frame ``t`` rotated by turn ``t % 5``.

    With an odd number of spokes spread over 2 pi, the 2S half-spokes are pi / S apart; turn
    ``j`` rotates them by ``j pi / (S turns)``, so ``turns`` successive frames interleave.
    """
    frames = [
        radial_trajectory(
            SPOKES,
            SAMPLES,
            angle_increment=2 * np.pi / SPOKES,
            first_angle=(t % TURNS) * np.pi / (SPOKES * TURNS),
        )
        for t in range(n_frames)
    ]
    return np.stack(frames).astype(np.float32)


def moving_object(n_frames: int) -> np.ndarray:
    """``(T, X, Y)`` float64 magnitude images of the beating, breathing torso."""
    x = np.arange(MATRIX[0])[:, None] - MATRIX[0] / 2
    y = np.arange(MATRIX[1])[None, :] - MATRIX[1] / 2
    frames = []
    for t in range(n_frames):
        seconds = t * FRAME_SECONDS
        shift = 3.0 * np.sin(2 * np.pi * seconds / 4.0)  # breathing, pixels along x
        beat = 0.5 * (1 + np.cos(2 * np.pi * seconds / 1.0))  # 1 at end-diastole
        image = np.where((x / 40) ** 2 + (y / 30) ** 2 < 1, 0.3, 0.0)  # torso
        for side in (-1, 1):  # lungs
            image = np.where(((x - 2) / 22) ** 2 + ((y - side * 15) / 11) ** 2 < 1, 0.05, image)
        image = np.where((x + 4) ** 2 + (y - 22) ** 2 < 16, 0.8, image)  # spine (asymmetric)
        hx, hy = x - 8 - shift, y + 4  # heart, off-centre
        outer, inner = 12 + 2 * beat, 7 + 3 * beat
        heart = hx**2 + (hy / 1.1) ** 2
        image = np.where(heart < outer**2, 0.45, image)  # myocardium
        image = np.where(heart < inner**2, 1.0, image)  # blood pool
        frames.append(image)
    return np.stack(frames)


def simulate(n_frames: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(kspace (T, C, S, N) complex64, trajectory (T, S, N, 2), truth (T, X, Y))``."""
    rng = np.random.default_rng(seed)
    truth = moving_object(n_frames)
    trajectory = uecker_trajectory(n_frames)
    coils = coil_sensitivities(MATRIX, COILS)
    kspace = np.stack(
        [nufft_forward(coils * truth[t], trajectory[t], eps=1e-6) for t in range(n_frames)]
    )
    kspace = kspace + complex_noise(kspace.shape, SIGMA, rng)
    return kspace.astype(np.complex64), trajectory, truth


def relative_rmse(frames: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> float:
    """RMSE of the magnitude frames over the RMS of the truth (all frames; ``where``: pixels)."""
    if where is not None:
        frames, truth = frames[:, where], truth[:, where]
    return float(np.sqrt(np.mean((frames - truth) ** 2) / np.mean(truth**2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("qmrflow").setLevel(logging.WARNING)

    kspace, trajectory, truth = simulate(args.frames)
    acquisition = args.frames * FRAME_SECONDS
    body = truth.max(axis=0) > 0
    logger.info(
        "%d frames, %d coils, %d spokes x %d samples, matrix %dx%d, %d turns: %.1f s of data",
        args.frames,
        COILS,
        SPOKES,
        SAMPLES,
        *MATRIX,
        TURNS,
        acquisition,
    )
    for threads in args.threads:
        with threadpool_limits(threads):
            for method in ("gridding", "sense"):
                seconds = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    result = reconstruct_series(
                        kspace, trajectory, MATRIX, method=method, threads=threads
                    )
                    seconds.append(time.perf_counter() - start)
                median = statistics.median(seconds)
                logger.info(
                    "%-8s %d thread(s): %.2f ms/frame, %.0f frames/s, real-time factor %.1f, "
                    "relative RMSE %.3f (in the body %.3f) (median of %d)",
                    method,
                    threads,
                    1e3 * median / args.frames,
                    args.frames / median,
                    acquisition / median,
                    relative_rmse(result.frames, truth),
                    relative_rmse(result.frames, truth, body),
                    args.repeats,
                )
            logger.info(
                "  SENSE stages (last run): %s",
                ", ".join(f"{k} {1e3 * v:.0f} ms" for k, v in result.timings.items()),
            )


if __name__ == "__main__":
    main()
