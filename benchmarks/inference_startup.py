"""Start-up of a per-subject DL inference job: process start to model ready, two ways.

Each measurement is a fresh Python process (as a Snakemake job is) that imports the study's
inference module, verifies the checkpoint (sha256, ``weights_only`` load) and runs the model on
one input, for the dystrophy classifier (logits and CAMs) and the synthmri generator:

* ``program``: the torch-only inference program stored in the checkpoint (today's way);
* ``monai``: the network rebuilt from MONAI and its weights loaded (the way before programs).

The two run interleaved in the same session, ``--repeats`` times each; the median is reported.
Target: the program's start-up at most half the MONAI way's.

Usage: python benchmarks/inference_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qmrflow.dl.checkpoint import save_checkpoint
from qmrflow.dl.inference import export_program
from qmrflow.dl.networks import build_classifier
from qmrflow.studies.dystrophy.training import inference_program
from qmrflow.studies.synthmri.superres import DEFAULT_SETTINGS, MAPS, build_generator

logger = logging.getLogger("benchmarks.inference_startup")

CROP = (1, 128, 64)  # the demo's ROI crops
FAST = (len(MAPS), 96, 56)  # the demo's fast-map slices

CHILD = {
    "dystrophy": """
import numpy as np, torch
from qmrflow.studies.dystrophy.classify import load_classifier
c = load_classifier("resnet10-lite", {path!r}, torch.device("cpu"), program={program})
x = np.zeros((6, *{shape!r}), dtype=np.float32)
c.logits(x), c.cams(x)
""",
    "synthmri": """
import numpy as np, torch
from qmrflow.dl.inference import predict_batches
from qmrflow.studies.synthmri.superres import load_generator
run, _, _ = load_generator({path!r}, torch.device("cpu"), program={program})
predict_batches(run, np.zeros((6, *{shape!r}), dtype=np.float32), torch.device("cpu"), 16)
""",
}


def _checkpoints(folder: Path) -> dict[str, tuple[Path, tuple[int, ...]]]:
    """An (untrained) classifier and generator saved as training saves them."""
    classifier = build_classifier("resnet10-lite").eval()
    example = np.zeros((1, *CROP), dtype=np.float32)
    save_checkpoint(
        classifier.state_dict(),
        folder / "classifier.pt",
        {"architecture": "resnet10-lite", "input_shape": list(CROP)},
        program=inference_program("resnet10-lite", classifier, example),
    )
    generator = build_generator(DEFAULT_SETTINGS).eval()
    save_checkpoint(
        generator.state_dict(),
        folder / "generator.pt",
        {"settings": DEFAULT_SETTINGS},
        program=export_program(generator, torch.zeros(2, *FAST), dynamic_dims=(0, 2, 3)),
    )
    return {
        "dystrophy": (folder / "classifier.pt", CROP),
        "synthmri": (folder / "generator.pt", FAST),
    }


def _seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("qmrflow").setLevel(logging.WARNING)
    python = _seconds("pass")
    logger.info("bare interpreter start: %.2f s", python)
    with tempfile.TemporaryDirectory() as tmp:
        for study, (path, shape) in _checkpoints(Path(tmp)).items():
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats):
                for program in (True, False):
                    code = CHILD[study].format(path=str(path), shape=shape, program=program)
                    times[program].append(_seconds(code))
            fast, slow = (statistics.median(times[p]) for p in (True, False))
            logger.info(
                "%-9s process start to model run: program %.2f s, MONAI %.2f s: ratio %.2f "
                "(median of %d each)",
                study,
                fast,
                slow,
                fast / slow,
                args.repeats,
            )


if __name__ == "__main__":
    main()
