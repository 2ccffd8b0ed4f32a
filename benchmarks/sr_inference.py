"""Super-resolution inference time per volume: SRGAN generator vs the cubic-spline baseline.

Times, on the available device, the generator (default settings of
``qmrflow.studies.synthmri.superres``, or the library defaults with ``--library-defaults``) on a
volume of ``--slices`` slices of ``--shape`` fast-grid voxels with 3 channels (T1, T2, PD),
upsampled by (1, 2), and the cubic-spline baseline (``spline_upsample``) of the same three maps
in the same run.

Usage: python benchmarks/sr_inference.py [--threads 2] [--slices 6] [--shape 96 56] [--repeats 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
import torch

from qmrflow.dl.device import select_device
from qmrflow.dl.superres import SRGenerator, count_parameters
from qmrflow.studies.synthmri.superres import (
    DEFAULT_SETTINGS,
    MAPS,
    build_generator,
    check_geometry,
    spline_upsample,
)

logger = logging.getLogger("benchmarks.sr_inference")


def _median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--shape", type=int, nargs=2, default=(96, 56))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--library-defaults",
        action="store_true",
        help="time SRGenerator() (6 blocks, 9x9 kernels) instead of the study defaults",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("qmrflow").setLevel(logging.WARNING)
    device = select_device(args.threads)
    torch.manual_seed(0)
    generator = SRGenerator() if args.library_defaults else build_generator(DEFAULT_SETTINGS)
    generator = generator.to(device, memory_format=torch.channels_last).eval()
    sx, sy = generator.scale
    nx, ny = args.shape
    rng = np.random.default_rng(0)
    volume = rng.random((len(MAPS), nx, ny, args.slices)).astype(np.float32)
    x = torch.as_tensor(np.moveaxis(volume, 3, 0)).to(device)
    x = x.contiguous(memory_format=torch.channels_last)

    def run_dl() -> None:
        with torch.no_grad():
            generator(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    routine = np.diag([2.0, 2.0, 5.0, 1.0])
    fast = routine @ np.diag([float(sx), float(sy), 1.0, 1.0])
    fast[:3, 3] = routine[:3, :3] @ [(sx - 1) / 2, (sy - 1) / 2, 0.0]
    shape = (nx * sx, ny * sy, args.slices)
    mapping = check_geometry(volume.shape[1:], fast, shape, routine, (sx, sy))

    def run_spline() -> None:
        for c in range(len(MAPS)):
            spline_upsample(volume[c], mapping, shape)

    dl = _median_seconds(run_dl, args.repeats)
    spline = _median_seconds(run_spline, args.repeats)
    logger.info(
        "device %s, %d threads; volume %d slices of %dx%d -> %dx%d, %d maps",
        device,
        torch.get_num_threads(),
        args.slices,
        nx,
        ny,
        shape[0],
        shape[1],
        len(MAPS),
    )
    logger.info(
        "generator (%d parameters): %.3f s per volume (%.1f ms per slice)",
        count_parameters(generator),
        dl,
        1e3 * dl / args.slices,
    )
    logger.info("cubic spline baseline:  %.3f s per volume", spline)
    logger.info("ratio generator / spline: %.1f", dl / spline)


if __name__ == "__main__":
    main()
