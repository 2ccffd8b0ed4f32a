"""Real-time factor of the breathing study's reconstruction plus lung segmentation.

One demo subject of the study (:func:`qmrflow.studies.breathing.simulate.simulate_arrays`, the
default settings: 96 x 96 at 4 mm, 8 coils, 11 spokes per frame, 50 ms frames; both tasks,
breathing 8 s and sniff 4 s, 240 frames) is reconstructed by each method
(:func:`qmrflow.recon.reconstruct_series` with the config's SENSE settings, coil estimation
included) and every frame is labelled by a lung U-Net of the study's configuration
(:func:`qmrflow.dl.frames.segment_frames`, on the GPU when one is present; the weights are the
untrained initialisation, which costs the same as trained ones). Printed per method: seconds of
reconstruction and of segmentation, frames per second of both together, and the real-time factor
(acquisition time over processing time; >= 1 keeps pace with the scanner at 20 frames/s).
SENSE runs twice: numpy and FINUFFT (the CPU path) and torch with Toeplitz-embedded normal
operators (the GPU path, :mod:`qmrflow.recon.toeplitz`; on the CPU when there is no GPU).

Usage: python benchmarks/breathing_realtime.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import torch
import yaml

from qmrflow.dl.device import select_device
from qmrflow.dl.frames import build_frame_unet, segment_frames
from qmrflow.recon import reconstruct_series
from qmrflow.studies.breathing.segmentation import NETWORK_CLASSES, settings_from
from qmrflow.studies.breathing.simulate import demo_participants, simulate_arrays

logger = logging.getLogger("benchmarks.breathing_realtime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path("config/config.yaml").read_text())["breathing"]
    row = demo_participants(2, 2, seed=1).iloc[0].to_dict()
    subject = simulate_arrays(row, seed=1)
    tasks = list(subject.tasks.values())
    frames = sum(len(t.frame_times) for t in tasks)
    acquisition = frames * subject.settings.frame_s
    device = select_device(args.threads)
    settings = settings_from(config["model"]["segmentation"])
    network = build_frame_unet(settings, len(NETWORK_CLASSES)).to(device).eval()
    logger.info(
        "%d frames (%.1f s of acquisition), segmentation on %s", frames, acquisition, device
    )
    sense = config["reconstruction"]["sense"]
    # SENSE twice: numpy and FINUFFT on the CPU (the CPU default), and the torch path with
    # Toeplitz-embedded normal operators (the GPU path; on the CPU when there is no GPU).
    torch_device = "cuda" if device.type == "cuda" else "torch-cpu"
    runs = {
        "gridding": ("gridding", {}),
        "sense": ("sense", {**sense, "device": "cpu"}),
        f"sense/{torch_device}": ("sense", {**sense, "device": torch_device}),
    }
    logger.info("%-16s %8s %9s %9s %9s", "method", "recon s", "segment s", "frames/s", "RT factor")
    for label, (method, options) in runs.items():
        recon_times, seg_times = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            images = [
                reconstruct_series(
                    t.kspace,
                    t.trajectory,
                    subject.settings.matrix,
                    method=method,
                    threads=args.threads,
                    **options,
                ).frames
                for t in tasks
            ]
            recon_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            with torch.no_grad():
                for stack in images:
                    segment_frames(network, stack[None], device=device, context=settings.context)
            seg_times.append(time.perf_counter() - start)
        recon, seg = statistics.median(recon_times), statistics.median(seg_times)
        total = recon + seg
        logger.info(
            "%-16s %8.2f %9.2f %9.1f %9.2f",
            *(label, recon, seg, frames / total, acquisition / total),
        )


if __name__ == "__main__":
    main()
