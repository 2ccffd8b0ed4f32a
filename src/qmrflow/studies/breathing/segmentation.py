"""Lung segmentation of real-time frames by a 2-D MONAI U-Net (the shared per-frame engine).

Every frame of a reconstructed series is labelled on its own into :data:`NETWORK_CLASSES`:
background, right lung, left lung (the study's labels 1 and 2; every other tissue is background
to the network, :func:`.measures.lung_labels`). The network, its inputs, training and inference are
:mod:`qmrflow.dl.frames`; this module holds the study's network classes, settings and files.

The lungs are dark in every frame (no contrast passage), so the network sees the frame alone
(``context`` off). Augmentation may not reverse the left-right axis (axis 0 of the coronal
frame) nor transpose: the two lungs are told apart by their side. A training subject gives
every task's series (quiet/deep breathing and sniff), frames sampled evenly over each.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from qmrflow.dl.checkpoint import Checkpoint
from qmrflow.dl.frames import (
    FrameSegmentationSettings,
    load_frame_segmenter,
    sample_frames,
    segment_frames,
    train_and_save,
)
from qmrflow.dl.training import TrainResult
from qmrflow.errors import InputDataError
from qmrflow.io.bids import subject_of
from qmrflow.studies.breathing.frames import load_frames, load_labels, save_labels
from qmrflow.studies.breathing.measures import lung_labels

__all__ = [
    "DEFAULT_SETTINGS",
    "NETWORK_CLASSES",
    "load_lung_segmenter",
    "segment_subject",
    "train_lung_segmentation",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
#: A training subject: one (frames, labels) pair per task; frames ``(T, X, Y)`` or a series file
#: (:func:`.frames.load_frames`), labels ``(T, X, Y)`` or a label-series file.
Item = Sequence[tuple[np.ndarray | PathLike, np.ndarray | PathLike]]

#: The network's classes, in output-channel order.
NETWORK_CLASSES: tuple[str, ...] = ("background", "right_lung", "left_lung")

#: Engine settings of the study (config ``breathing.model.segmentation`` overrides them): the
#: frame alone, no flips across the sides.
DEFAULT_SETTINGS: dict[str, Any] = {
    "context": False,
    "shift": 0,
    "flips": (),
    "transpose": False,
}


def settings_from(values: Mapping[str, Any] | None) -> FrameSegmentationSettings:
    """The engine settings: the study's defaults under the config's values."""
    return FrameSegmentationSettings.from_mapping(DEFAULT_SETTINGS | dict(values or {}))


def _load_pair(
    subject: str, frames: np.ndarray | PathLike, labels: np.ndarray | PathLike
) -> tuple[np.ndarray, np.ndarray]:
    for value in (frames, labels):
        if isinstance(value, str | os.PathLike) and subject_of(value) not in (None, subject):
            raise ValueError(f"{value} does not belong to sub-{subject}")
    label_path = labels if isinstance(labels, str | os.PathLike) else None
    if isinstance(frames, str | os.PathLike):
        frames = load_frames(frames, subject=subject).frames
    if label_path is not None:
        labels = load_labels(label_path, subject=subject)
    frames, labels = np.asarray(frames), np.asarray(labels)
    if labels.shape != frames.shape:
        raise InputDataError(
            f"lung labels {labels.shape} do not match the frames {frames.shape}",
            subject=subject,
            path=label_path,
        )
    return frames, lung_labels(labels)


def _frames(
    items: Mapping[str, Item], settings: FrameSegmentationSettings, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if not items:
        raise ValueError(f"no {name} subjects")
    stacks, labels = [], []
    for subject, pairs in items.items():
        for frames, lab in pairs:
            data, mask = _load_pair(subject, frames, lab)
            stacks.append(data[None])
            labels.append(mask[None])
    return sample_frames(
        stacks, labels, frames_per_series=settings.frames_per_series, context=settings.context
    )


def train_lung_segmentation(
    *,
    train: Mapping[str, Item],
    val: Mapping[str, Item],
    settings: Mapping[str, Any] | None,
    seed: int,
    outputs: Mapping[str, PathLike],
    provenance: Mapping[str, Any],
    device: torch.device | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train the lung U-Net on the training subjects; select on validation Dice of both lungs.

    Parameters
    ----------
    train, val
        Subject label -> one (frames, labels) pair per task (arrays ``(T, X, Y)`` or files).
    settings
        Overrides of :data:`DEFAULT_SETTINGS` and the engine's defaults.
    seed
        Seeds initialisation, shuffling and augmentation; recorded in the metadata.
    outputs
        ``model`` (checkpoint ``.pt``, metadata ``.json`` beside it) and optional ``history``
        (TSV: epoch, train_loss, val_loss, val_dice_right_lung, val_dice_left_lung,
        val_dice_error, seconds).
    provenance
        Configuration that determines the model; stored and hashed into the metadata.
    device, threads
        Where to train (default :func:`qmrflow.dl.device.select_device`) and CPU threads.

    Raises
    ------
    ValueError
        A subject in both train and val, no subjects, invalid settings or labels.
    InputDataError
        A file is unreadable or invalid, or labels do not fit their frames.
    """
    return train_and_save(
        lambda items, name: _frames(items, settings_from(settings), name),
        train,
        val,
        study="breathing",
        task="left and right lung segmentation of real-time frames",
        classes=NETWORK_CLASSES,
        settings=settings_from(settings),
        seed=seed,
        outputs=outputs,
        provenance=provenance,
        device=device,
        threads=threads,
    )


def load_lung_segmenter(
    path: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
    subject: str | None = None,
    program: bool = True,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], FrameSegmentationSettings, Checkpoint]:
    """Verify a lung checkpoint and make it ready to run (refused on its training subjects)."""
    return load_frame_segmenter(
        path,
        device,
        classes=NETWORK_CLASSES,
        expected_sha256=expected_sha256,
        subject=subject,
        program=program,
    )


def segment_subject(
    subject: str,
    *,
    series: Mapping[str, PathLike],
    model: PathLike,
    outputs: Mapping[str, PathLike],
    sha256: str | None = None,
    threads: int | None = None,
) -> None:
    """Label every frame of several series of one subject (e.g. per task and reconstruction).

    ``series`` and ``outputs`` map the same names to a reconstructed series and to its label
    series (``(X, Y, 1, T)`` uint8, :data:`NETWORK_CLASSES`); all are read before any is
    written.
    """
    from qmrflow.dl.device import select_device

    device = select_device(threads)
    run, settings, _ = load_lung_segmenter(model, device, expected_sha256=sha256, subject=subject)
    labels = {}
    for name, path in series.items():
        loaded = load_frames(path, subject=subject)
        predicted = segment_frames(
            run, loaded.frames[None], device=device, context=settings.context
        )[0]
        labels[name] = (predicted, loaded.affine)
    for name, (values, affine) in labels.items():
        save_labels(values, affine, outputs[name])
