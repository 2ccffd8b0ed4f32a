"""Seeding every random number generator a training run touches."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a dedicated torch generator.

    Parameters
    ----------
    seed
        Non-negative integer seed (recorded in the checkpoint metadata).

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed`` for shuffling and augmentation, so that the order of
        random draws does not depend on what other code consumed from the global generator.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may draw from the legacy global RNG
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic torch algorithms inside the block, restoring the previous mode after.

    With the seeds of :func:`seed_everything` a CPU run is reproducible (same thread count);
    ``warn_only``: an operation without a deterministic implementation warns instead of failing.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
        torch.backends.cudnn.benchmark = previous_benchmark
