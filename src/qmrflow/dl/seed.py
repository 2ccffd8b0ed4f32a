"""Seeding every random number generator a training run touches."""

from __future__ import annotations

import random

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
