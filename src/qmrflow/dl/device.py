"""Device selection: the GPU a job was given, else the CPU."""

from __future__ import annotations

import logging
import os

import torch

logger = logging.getLogger(__name__)


def select_device(threads: int | None = None) -> torch.device:
    """Pick the device for a job and size torch's CPU thread pool.

    On a SLURM GPU node the job sees only the GPUs it was allocated through
    ``CUDA_VISIBLE_DEVICES`` (SLURM sets it; the nested ``srun`` step keeps it), so the first
    visible device is the job's own. Without a visible GPU the job runs on the CPU.

    Parameters
    ----------
    threads
        CPU threads for torch (the job's Snakemake ``threads``); ``None`` keeps the default.

    Returns
    -------
    torch.device
        ``cuda:0`` when a GPU is visible, else ``cpu``.
    """
    if threads is not None and threads > 0:
        torch.set_num_threads(threads)
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        device = torch.device("cuda:0")
        logger.info(
            "using GPU %s (CUDA_VISIBLE_DEVICES=%s)",
            torch.cuda.get_device_name(device),
            os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"),
        )
    else:
        device = torch.device("cpu")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if visible and visible != "-1":
            # The scheduler gave this job a GPU that torch cannot use (a CPU-only torch build
            # or no driver on the node): run anyway, but say so.
            logger.warning(
                "CUDA_VISIBLE_DEVICES=%s but torch sees no usable GPU; using the CPU with %d "
                "threads",
                visible,
                torch.get_num_threads(),
            )
        else:
            logger.info("no GPU visible; using the CPU with %d threads", torch.get_num_threads())
    return device
