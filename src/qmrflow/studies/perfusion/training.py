"""Training the perfusion study's registration network.

Every slice of every training and validation subject's stress series becomes one training item:
its frames and their motion-free robust-PCA-guided reference
(:func:`qmrflow.registration.iterative.motion_free_reference`, the iterative method's own
synthetic series, so the network is guided by what the iterative baseline aligns to), written
per subject by :func:`write_reference` (a per-subject job, so the references of a cohort are
made in parallel and kept). The network is trained by
:func:`qmrflow.registration.deep.train_registration` on the shared training loop and written
with its torch-only inference program, its metadata (subjects, seed, settings, provenance) and
its history.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from qmrflow.io import write_tsv
from qmrflow.registration.iterative import motion_free_reference
from qmrflow.studies.perfusion.motion import voxel_size
from qmrflow.studies.perfusion.series import load_series, save_series

if TYPE_CHECKING:
    from qmrflow.dl.training import TrainResult

__all__ = ["reference_pairs", "train_registration_model", "write_reference"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def write_reference(
    subject: str,
    *,
    stress: PathLike,
    output: PathLike,
    options: Mapping[str, Any],
    threads: int = 1,
) -> None:
    """The motion-free reference series of a subject's stress series, slice by slice."""
    series = load_series(stress, subject=subject)
    spacing = voxel_size(series.affine)
    reference = np.empty_like(series.data, dtype=np.float32)
    for k in range(series.n_slices):
        frames = np.moveaxis(series.data[:, :, k, :], -1, 0)
        target = motion_free_reference(frames, spacing=spacing, threads=threads, **options)
        reference[:, :, k, :] = np.moveaxis(target, 0, -1)
    save_series(
        reference,
        series.affine,
        output,
        frame_times=series.frame_times,
        saturation_time=series.saturation_time,
        extra={
            "Description": "motion-free synthetic reference series",
            "Sources": [series.path.name],
        },
    )


def reference_pairs(
    items: Mapping[str, tuple[PathLike, PathLike]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(frames, reference)`` of every slice of every subject: (stress, reference) series."""
    pairs = []
    for subject, (stress, reference) in items.items():
        frames = load_series(stress, subject=subject).data
        target = load_series(reference, subject=subject).data
        if target.shape != frames.shape:
            raise ValueError(f"sub-{subject}: reference {target.shape} != series {frames.shape}")
        pairs.extend(
            (np.moveaxis(frames[:, :, k, :], -1, 0), np.moveaxis(target[:, :, k, :], -1, 0))
            for k in range(frames.shape[2])
        )
    return pairs


def train_registration_model(
    *,
    train: Mapping[str, tuple[PathLike, PathLike]],
    val: Mapping[str, tuple[PathLike, PathLike]],
    settings: Mapping[str, Any],
    seed: int,
    provenance: Mapping[str, Any],
    outputs: Mapping[str, PathLike],
    threads: int | None = None,
) -> TrainResult:
    """Train the registration network and write ``model`` (+ ``model.json``) and ``history``.

    Parameters
    ----------
    train, val
        Subject label -> (stress series, its reference series, :func:`write_reference`) of the
        training and validation subjects.
    settings
        :class:`qmrflow.registration.deep.RegistrationSettings` fields (the config's
        ``model.registration``); ``image_shape`` is taken from the series.
    seed
        Training seed (recorded).
    provenance
        What determines the model (stored and hashed into its metadata).
    outputs
        ``model`` (checkpoint) and ``history`` (TSV).
    threads
        CPU threads.
    """
    # here, not at the top: the per-subject reference jobs import this module and need neither
    # torch nor MONAI (about 3 s of imports each)
    import torch

    from qmrflow.dl.checkpoint import save_checkpoint, training_metadata
    from qmrflow.dl.device import select_device
    from qmrflow.registration.deep import (
        RegistrationSettings,
        inference_program,
        train_registration,
    )

    device = select_device(threads)
    train_pairs = reference_pairs(train)
    val_pairs = reference_pairs(val)
    shape = train_pairs[0][0].shape[1:]
    resolved = RegistrationSettings.from_mapping({**settings, "image_shape": shape})
    model, result = train_registration(
        train_pairs, val_pairs, settings=resolved, seed=seed, device=device
    )
    example = torch.zeros((2, 2, *shape), dtype=torch.float32)
    metadata = training_metadata(
        study="perfusion",
        task="one-shot motion correction (affine + deformable)",
        seed=seed,
        provenance=provenance,
        training_subjects=train,
        validation_subjects=val,
        result=result,
        device=device,
        settings=resolved.as_dict(),
        training_slices=len(train_pairs),
    )
    save_checkpoint(
        model.state_dict(), outputs["model"], metadata, program=inference_program(model, example)
    )
    write_tsv(result.history, outputs["history"])
    return result
