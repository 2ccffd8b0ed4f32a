"""Classifier inference throughput (images/s) per architecture on the available device.

Usage: python benchmarks/classifier_inference.py [--shape 128 64] [--batch 32] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qmrflow.dl.device import select_device
from qmrflow.dl.networks import build_classifier
from qmrflow.studies.dystrophy.classify import load_classifier

logger = logging.getLogger("benchmarks.classifier_inference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", type=int, nargs=2, default=(128, 64))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--architectures",
        nargs="+",
        default=["resnet10-lite", "densenet-lite", "resnet18", "resnet50"],
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("qmrflow").setLevel(logging.WARNING)
    device = select_device(args.threads)
    x = np.random.default_rng(0).random((args.images, 1, *args.shape)).astype(np.float32)
    logger.info(
        "device %s, %d threads, %d images of %s, batch %d",
        device,
        torch.get_num_threads(),
        args.images,
        tuple(args.shape),
        args.batch,
    )
    from qmrflow.dl.checkpoint import save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.architectures:
            path = Path(tmp) / f"{name}.pt"
            save_checkpoint(build_classifier(name).state_dict(), path, {"architecture": name})
            start = time.perf_counter()
            classifier = load_classifier(name, path, device, program=False)
            load = time.perf_counter() - start
            classifier.logits(x[: args.batch])  # warm-up
            start = time.perf_counter()
            classifier.logits(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            rate = args.images / (time.perf_counter() - start)
            logger.info(
                "  %-16s %8.1f images/s   (checkpoint verify+load %.2f s)", name, rate, load
            )


if __name__ == "__main__":
    main()
