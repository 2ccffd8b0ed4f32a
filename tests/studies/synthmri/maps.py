"""Tiny synthetic fast and routine maps for the super-resolution tests."""

from __future__ import annotations

import numpy as np

from qmrflow.io import save_nifti
from qmrflow.studies.synthmri.superres_training import train_superresolution

SHAPE = (16, 16, 2)  # routine grid: x, y (phase encoding), slices
ROUTINE_AFFINE = np.array(
    [[2.0, 0, 0, -16], [0, 2.0, 0, -16], [0, 0, 5.0, 0], [0, 0, 0, 1]], dtype=float
)
# Same field of view with twice the y spacing: fast voxel j is centred at routine index 2j + 0.5.
FAST_AFFINE = ROUTINE_AFFINE @ np.array(
    [[1.0, 0, 0, 0], [0, 2.0, 0, 0.5], [0, 0, 1.0, 0], [0, 0, 0, 1]]
)
TISSUE = {"T1map": (800.0, 1300.0), "T2map": (80.0, 110.0), "PDmap": (0.7, 0.8)}
TINY = {
    "channels": 4,
    "residual_blocks": 1,
    "kernel_size": 3,
    "pretrain_epochs": 1,
    "adversarial_epochs": 1,
    "batch_size": 2,
    "learning_rate": 1e-3,
    "adversarial_weight": 1e-3,
}


def make_subject(root, label, seed, *, fast_shape=None, fast_affine=FAST_AFFINE):
    """Write a subject: smooth two-tissue maps, brain mask, fast maps averaged over y pairs."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    radius = np.hypot(x - 7.5 + rng.normal(0, 0.5), y - 7.5 + rng.normal(0, 0.5))
    inner = 1.0 / (1.0 + np.exp(radius - 4.0))  # smooth "white matter" disc
    brain = radius < 7.0
    folder = root / f"sub-{label}" / "anat"
    fast, routine = {}, {}
    for key, (low, high) in TISSUE.items():
        value = (high + (low - high) * inner) * brain
        volume = np.repeat(value[..., None], SHAPE[2], axis=2).astype(np.float32)
        volume *= 1.0 + 0.01 * rng.normal(size=SHAPE).astype(np.float32)
        small = 0.5 * (volume[:, 0::2] + volume[:, 1::2])
        if fast_shape is not None:
            small = np.zeros(fast_shape, dtype=np.float32)
        routine[key] = save_nifti(
            volume, folder / f"sub-{label}_acq-routine_{key}.nii.gz", ROUTINE_AFFINE
        )
        fast[key] = save_nifti(small, folder / f"sub-{label}_acq-fast_{key}.nii.gz", fast_affine)
    mask_volume = np.repeat(brain[..., None], SHAPE[2], axis=2).astype(np.uint8)
    mask = save_nifti(
        mask_volume, folder / f"sub-{label}_acq-routine_desc-brain_mask.nii.gz", ROUTINE_AFFINE
    )
    return fast, routine, mask


def train(dataset, out, seed=0, settings=TINY):
    """Train the tiny generator on subjects a, b (validation c) into ``out``."""
    _, subjects = dataset
    outputs = {"model": out / "model.pt", "history": out / "history.tsv"}
    train_superresolution(
        train=[subjects["a"], subjects["b"]],
        val=[subjects["c"]],
        settings=settings,
        seed=seed,
        outputs=outputs,
        provenance={"study": "synthmri", "test": True},
        threads=1,
    )
    return outputs
