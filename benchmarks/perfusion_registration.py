"""Motion correction of one perfusion series: iterative against one-shot DL, same frames.

One demo subject is simulated (3 slices x 40 frames of 64 x 64, as the default demo) and its
stress series is aligned slice by slice by

* ``iterative``: :func:`qmrflow.registration.iterative.correct_series_iterative` with the
  study's default options (config/config.yaml, ``perfusion.registration.iterative``);
* ``dl``: one forward pass per slice of the registration network
  (:func:`qmrflow.registration.oneshot.register_series_dl`), from its torch-only inference
  program as the per-subject job runs it. Training is excluded: the network's cost at inference
  does not depend on its weights, so a freshly built one is timed.

Both run in this process, interleaved, ``--repeats`` times; the medians, the ratio and the
frames per second are printed. Threads: ``--threads`` (default 1, as the workflow's jobs).

Usage: python benchmarks/perfusion_registration.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from qmrflow.dl.inference import load_program
from qmrflow.registration.deep import (
    RegistrationSettings,
    build_registration_network,
    inference_program,
)
from qmrflow.registration.iterative import correct_series_iterative
from qmrflow.registration.oneshot import register_series_dl
from qmrflow.studies.perfusion.simulate import simulate_arrays

logger = logging.getLogger("benchmarks.perfusion_registration")
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("qmrflow").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["perfusion"]
    options = config["registration"]["iterative"]
    row = {"participant_id": "b001", "ischaemia": "LAD", "deep_breaths": False, "stress_mbf": 3.0}
    subject = simulate_arrays(row, seed=1)
    stress = subject.stress  # (X, Y, S, T)
    slices = [np.moveaxis(stress[:, :, k, :], -1, 0) for k in range(stress.shape[2])]
    n_frames = sum(len(s) for s in slices)

    settings = RegistrationSettings(image_shape=slices[0].shape[1:])
    network = build_registration_network(settings).eval()
    example = torch.zeros((2, 2, *settings.image_shape))
    program = load_program(network.state_dict() | inference_program(network, example), "bench")

    times: dict[str, list[float]] = {"iterative": [], "dl": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        for frames in slices:
            correct_series_iterative(frames, spacing=(2.0, 2.0), threads=args.threads, **options)
        times["iterative"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for frames in slices:
            register_series_dl(program, frames, device="cpu")
        times["dl"].append(time.perf_counter() - start)
    iterative, dl = (statistics.median(times[m]) for m in ("iterative", "dl"))
    logger.info(
        "%d frames (%d slices of %s): iterative %.2f s (%.1f frames/s), DL %.3f s "
        "(%.0f frames/s); DL is %.0fx faster (median of %d, %d thread(s))",
        n_frames,
        len(slices),
        "x".join(map(str, slices[0].shape)),
        iterative,
        n_frames / iterative,
        dl,
        n_frames / dl,
        iterative / dl,
        args.repeats,
        args.threads,
    )


if __name__ == "__main__":
    main()
