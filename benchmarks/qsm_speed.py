"""Per-subject times of the qsm study: CR vs DLR reconstruction, and QSM per inversion method.

One demo subject at the config's demo settings (:mod:`qmrflow.studies.qsm.simulate`: 64 x 80 x 32
at 2.4 mm, 3 echoes, 4 coils) is simulated; every acquisition (GRE, 2- and 1-average 3D-EPI) is
reconstructed conventionally (:func:`qmrflow.studies.qsm.recon.reconstruct_cr`: inverse FFT and
phase-preserving coil combination), the EPI also by the DLR network of the config's architecture
(:func:`qmrflow.studies.qsm.dlr.apply_dlr`, on the GPU when one is present; untrained weights,
which cost the same as trained ones), and QSM is computed from each CR
(:func:`qmrflow.studies.qsm.pipeline.compute_qsm` with the config's settings). Printed: seconds
per acquisition of CR and DLR and their ratio, and of each QSM method (mask, field fit and
V-SHARP included in each).

Usage: python benchmarks/qsm_speed.py [--threads 1] [--repeats 3]
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

from qmrflow.dl.device import select_device
from qmrflow.studies.qsm.dlr import DlrNet, DlrSettings, apply_dlr
from qmrflow.studies.qsm.pipeline import compute_qsm
from qmrflow.studies.qsm.recon import reconstruct_cr
from qmrflow.studies.qsm.simulate import (
    QsmDemoSettings,
    demo_participants,
    simulate_acquisition,
    simulate_phantom,
)
from qmrflow.studies.qsm.study import ACQUISITIONS, EPI

logger = logging.getLogger("benchmarks.qsm_speed")

DEMO_KEYS = ("n_subjects", "splits", "seed", "id_prefix")


def _median_seconds(run, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())["qsm"]
    demo = {k: v for k, v in config["demo"].items() if k not in DEMO_KEYS}
    settings = QsmDemoSettings.from_mapping(demo)
    row = demo_participants(3, config["demo"]["seed"], splits=[1, 1, 1]).iloc[0].to_dict()
    phantom = simulate_phantom(row, settings, config["demo"]["seed"])
    rng = np.random.default_rng(0)
    device = select_device()
    network = DlrNet(
        len(settings.echo_times), DlrSettings.from_mapping(config["model"]["reconstruction"])
    )
    network = network.to(device).eval()
    logger.info(
        "qsm, one subject %s at %s mm, %d thread(s), %s",
        settings.matrix,
        settings.voxel_mm,
        args.threads,
        device,
    )
    for acq in ACQUISITIONS:
        kspace, encoded = simulate_acquisition(phantom, settings, acq, rng)
        cr_s, cr = _median_seconds(
            lambda k=kspace, e=encoded: reconstruct_cr(k, settings.echo_times, e), args.repeats
        )
        line = f"{acq:8s} CR {cr_s:6.3f} s"
        if acq in EPI:
            apply_dlr(network, cr.images, cr.sampled)  # warm-up
            dlr_s, _ = _median_seconds(
                lambda c=cr: apply_dlr(network, c.images, c.sampled), args.repeats
            )
            line += (
                f" | DLR {dlr_s:6.3f} s (DLR/CR {dlr_s / cr_s:5.2f}; CR+DLR {cr_s + dlr_s:6.3f} s)"
            )
        maps = compute_qsm(
            cr,
            (settings.voxel_mm,) * 3,
            settings.b0,
            tissues=phantom.labels,
            settings=config["qsm"],
        )
        seconds = maps.seconds
        line += f" | QSM TKD {seconds['tkd']:6.2f} s, TV-ADMM {seconds['tv']:6.2f} s"
        logger.info(line)


if __name__ == "__main__":
    main()
