"""Myocardium segmentation of perfusion frames by a 2-D MONAI U-Net.

Every frame of every slice is segmented in one forward pass into the network's four classes
(:data:`NETWORK_CLASSES`): background, LV blood pool, myocardium, RV blood pool. The study's
labels 4 (liver) and 5 (other tissue) are background to the network (:func:`map_labels`).

The network, its inputs, training and inference are the shared per-frame engine
(:mod:`qmrflow.dl.frames`); this module holds what is the study's: its labels, its series
layout ``(X, Y, S, T)`` (the engine's stacks are ``(S, T, X, Y)``), its files and its checkpoint
metadata. The network sees each frame alone, as the paper segments every frame. It is trained
on the unaligned series (each frame's labels follow that frame) and applied to the aligned ones.
The engine's temporal-summary channels (``context``: the slice's maximum and SD over the frames
beside each frame) were tried and dropped for that reason: the summary of an unaligned series
is smeared along the breathing motion, that of an aligned series is sharp, and the network
trained on the first placed the myocardium of the second 1-3 mm off its true position (demo,
every alignment). That shifted the segment cores toward the blood pool, and the DL alignment's
median MBF error against the truth was 12-14 % with the summary and 8-11 % without it (the
iterative alignment's 8-10 % either way); without the summary each frame's Dice is lower
(DL 0.86 instead of 0.88, validation myocardium about 0.83 either way). The Dice of a frame's
labels against the majority (:mod:`.measure`) measures how consistently the myocardium sits in
one place across the aligned frames. Training keeps the epoch with the highest validation
myocardial Dice; training frames are sampled evenly over each series, so the baseline, the
upslope, the peak and the washout are all seen. Checkpoints that record the summary channels
(``context``) are run with them; those whose settings predate ``context`` are frame-only.
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
    dice,
    load_frame_segmenter,
    normalise_frames,
    sample_frames,
    segment_frames,
    train_and_save,
)
from qmrflow.dl.frames import network_inputs as stack_inputs
from qmrflow.dl.training import TrainResult
from qmrflow.errors import InputDataError
from qmrflow.io import load_nifti
from qmrflow.io.bids import subject_of
from qmrflow.studies.perfusion.series import PerfusionSeries, load_series

__all__ = [
    "MYOCARDIUM",
    "NETWORK_CLASSES",
    "SegmentationSettings",
    "dice",
    "load_segmenter",
    "map_labels",
    "network_inputs",
    "normalise_frames",
    "segment_series",
    "train_segmentation",
    "training_frames",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
SeriesLike = np.ndarray | PerfusionSeries
#: A training subject: (series ``(X, Y, S, T)``, labels ``(X, Y, S, T)`` or ``(X, Y, S)``);
#: each an array, or a path (series through :func:`load_series`, labels a NIfTI).
Item = tuple[SeriesLike | PathLike, np.ndarray | PathLike]

#: The network's classes, in output-channel order.
NETWORK_CLASSES: tuple[str, ...] = ("background", "lv_blood_pool", "myocardium", "rv_blood_pool")
#: Network label of the myocardium.
MYOCARDIUM = 2
#: Study label -> network label (liver 4 and other tissue 5 are background).
_LABEL_MAP = np.array([0, 1, 2, 3, 0, 0], dtype=np.int64)
#: History column of each class's validation Dice (``val_dice_<column>``).
_COLUMNS = {"lv_blood_pool": "lv", "myocardium": "myocardium", "rv_blood_pool": "rv"}

#: Config ``perfusion.model.segmentation``; the engine's defaults otherwise (frame only). The demo
#: trains 60 epochs on 6 training subjects x 3 slices x 16 frames of 64 x 64 in about a minute
#: on one CPU thread, beside the registration network's training (validation myocardial Dice
#: about 0.83, best after 30-50 epochs; 20 epochs gave 0.78-0.80).
SegmentationSettings = FrameSegmentationSettings


def _series_array(series: SeriesLike) -> np.ndarray:
    data = series.data if isinstance(series, PerfusionSeries) else np.asarray(series)
    if data.ndim != 4:
        raise ValueError(f"a series is (X, Y, slices, frames), got shape {data.shape}")
    return data


def _stacks(data: np.ndarray) -> np.ndarray:
    """``(X, Y, S, T)`` -> the engine's ``(S, T, X, Y)``."""
    return data.transpose(2, 3, 0, 1)


def network_inputs(
    series: SeriesLike, *, frames: Sequence[int] | np.ndarray | None = None, context: bool = False
) -> np.ndarray:
    """The network's inputs for frames of every slice: ``(S, T', C, X, Y)`` float32.

    ``series`` is ``(X, Y, S, T)`` (array or :class:`PerfusionSeries`); see
    :func:`qmrflow.dl.frames.network_inputs`.
    """
    return stack_inputs(_stacks(_series_array(series)), frames=frames, context=context)


def map_labels(labels: np.ndarray) -> np.ndarray:
    """Study labels 0-5 to network labels 0-3 (4 and 5 become background), int64.

    Raises
    ------
    ValueError
        A label outside 0-5 or not an integer.
    """
    labels = np.asarray(labels)
    as_int = labels.astype(np.int64)
    if np.any(as_int != labels) or as_int.min(initial=0) < 0 or as_int.max(initial=0) > 5:
        raise ValueError(f"labels must be integers 0-5, got values {np.unique(labels)[:10]}")
    return _LABEL_MAP[as_int]


def training_frames(
    series_list: Sequence[SeriesLike],
    labels_list: Sequence[np.ndarray],
    *,
    frames_per_series: int = 16,
    context: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames sampled evenly over each series, as network inputs, with their network labels.

    Parameters
    ----------
    series_list
        Series ``(X, Y, S, T)`` (arrays or :class:`PerfusionSeries`), all with the same
        in-plane size.
    labels_list
        Study labels 0-5 per series: ``(X, Y, S, T)`` (per frame, following motion) or
        ``(X, Y, S)`` (one mask for every frame).
    frames_per_series, context
        See :func:`qmrflow.dl.frames.sample_frames`.

    Returns
    -------
    tuple
        ``x`` ``(N, C, X, Y)`` float32 and ``y`` ``(N, X, Y)`` int64 in 0-3; ordered by series,
        slice, frame.

    Raises
    ------
    ValueError
        Lengths or shapes disagree, or a label outside 0-5.
    """
    if len(series_list) != len(labels_list) or not series_list:
        raise ValueError("need one labels array per series, and at least one series")
    stacks, labels = [], []
    for series, lab in zip(series_list, labels_list, strict=True):
        data, lab = _series_array(series), np.asarray(lab)
        if lab.ndim == 3 and lab.shape == data.shape[:3]:
            lab = np.broadcast_to(lab[..., None], data.shape)
        if lab.shape != data.shape:
            raise ValueError(f"labels {lab.shape} do not match the series {data.shape}")
        stacks.append(_stacks(data))
        labels.append(_stacks(map_labels(lab)))
    return sample_frames(stacks, labels, frames_per_series=frames_per_series, context=context)


def _load_item(subject: str, item: Item) -> tuple[np.ndarray, np.ndarray]:
    """A training subject's series and labels as arrays, checked against each other."""
    series, labels = item
    for value in item:
        if isinstance(value, str | os.PathLike) and subject_of(value) not in (None, subject):
            raise ValueError(f"{value} does not belong to sub-{subject}")
    if isinstance(series, str | os.PathLike):
        series = load_series(series, subject=subject)
    data = _series_array(series)
    label_path = labels if isinstance(labels, str | os.PathLike) else None
    if label_path is not None:
        labels = load_nifti(label_path, subject=subject, dtype=None).data
    labels = np.asarray(labels)
    if labels.shape not in (data.shape, data.shape[:3]):
        raise InputDataError(
            f"labels {labels.shape} do not match the series {data.shape}",
            subject=subject,
            path=label_path,
        )
    return data, labels


def _subject_frames(
    items: Mapping[str, Item], settings: SegmentationSettings, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if not items:
        raise ValueError(f"no {name} subjects")
    loaded = [_load_item(subject, item) for subject, item in items.items()]
    return training_frames(
        [d for d, _ in loaded],
        [lab for _, lab in loaded],
        frames_per_series=settings.frames_per_series,
        context=settings.context,
    )


def train_segmentation(
    *,
    train: Mapping[str, Item],
    val: Mapping[str, Item],
    settings: Mapping[str, Any] | SegmentationSettings,
    seed: int,
    outputs: Mapping[str, PathLike],
    provenance: Mapping[str, Any],
    device: torch.device | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train the myocardium U-Net on the training subjects; select on validation Dice.

    Parameters
    ----------
    train, val
        Subject label -> (series, labels): arrays (series ``(X, Y, S, T)`` or a
        :class:`PerfusionSeries`; labels 0-5 ``(X, Y, S, T)`` or ``(X, Y, S)``) or paths (a
        file's ``sub-<label>`` entity must be the subject's).
    settings
        :class:`SegmentationSettings` or a mapping of its fields.
    seed
        Seeds initialisation, shuffling and augmentation; recorded in the metadata.
    outputs
        ``model``: checkpoint ``.pt`` (metadata ``.json`` beside it, with the inference
        program); optional ``history``: TSV with epoch, train_loss, val_loss, val_dice_lv,
        val_dice_myocardium, val_dice_rv, val_dice_error, seconds.
    provenance
        Configuration that determines the model; stored and hashed into the metadata.
    device
        Where to train (default :func:`qmrflow.dl.device.select_device`).
    threads
        CPU threads for torch (set whether or not ``device`` is given).

    Returns
    -------
    TrainResult
        The run (weights of the selected epoch, history).

    Raises
    ------
    ValueError
        A subject in both train and val, no subjects, invalid settings or labels.
    InputDataError
        A file is unreadable or invalid, or labels do not fit their series.

    Notes
    -----
    Deterministic for a seed on the CPU (same thread count): torch's deterministic algorithms
    are enabled for the run.
    """
    s = SegmentationSettings.from_mapping(settings)
    return train_and_save(
        lambda items, name: _subject_frames(items, s, name),
        train,
        val,
        study="perfusion",
        task="myocardium segmentation of perfusion frames",
        classes=NETWORK_CLASSES,
        settings=s,
        seed=seed,
        outputs=outputs,
        provenance=provenance,
        device=device,
        threads=threads,
        monitor=["myocardium"],
        columns=_COLUMNS,
    )


def load_segmenter(
    path: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
    subject: str | None = None,
    program: bool = True,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], SegmentationSettings, Checkpoint]:
    """Verify a myocardium checkpoint and make it ready to run
    (:func:`qmrflow.dl.frames.load_frame_segmenter` with this study's classes).

    Checkpoints from before the context channels record no ``context``: frame-only networks.

    Returns
    -------
    tuple
        The network (callable on ``(N, C, X, Y)`` float32 inputs of :func:`network_inputs`,
        returning logits), its settings (``settings.context`` says which inputs it takes; pass
        it to :func:`segment_series`) and the checkpoint.

    Raises
    ------
    ModelError
        Bad checkpoint, no settings recorded, other classes or normalisation, weights that do
        not fit, or a subject it was trained on.
    """
    return load_frame_segmenter(
        path,
        device,
        classes=NETWORK_CLASSES,
        expected_sha256=expected_sha256,
        subject=subject,
        program=program,
        recorded_defaults={"context": False},
    )


def segment_series(
    model: Callable[[torch.Tensor], torch.Tensor],
    series: SeriesLike,
    *,
    device: torch.device,
    batch_size: int = 32,
    context: bool = False,
) -> np.ndarray:
    """Segment every frame of every slice: network labels 0-3 per voxel, ``(X, Y, S, T)`` uint8.

    ``model`` is the U-Net or its program (:func:`load_segmenter`); ``context``: whether it takes
    the temporal-summary channels (its settings' ``context``).
    """
    stacks = _stacks(_series_array(series))
    labels = segment_frames(model, stacks, device=device, batch_size=batch_size, context=context)
    return np.ascontiguousarray(labels.transpose(2, 3, 0, 1))


def segment_subject(
    subject: str,
    *,
    series: Mapping[str, PathLike],
    model: PathLike,
    outputs: Mapping[str, PathLike],
    sha256: str | None = None,
    threads: int | None = None,
) -> None:
    """Label every frame of several series of one subject (one per alignment) and write them.

    Parameters
    ----------
    subject
        Participant label (the model is refused on subjects it was trained on).
    series
        Name (e.g. alignment) -> aligned ``(X, Y, S, T)`` series.
    model, sha256
        The segmentation checkpoint and the checksum given in the config, if any.
    outputs
        Name -> labels ``(X, Y, S, T)`` uint8, on the series' grid.
    threads
        CPU threads for torch.
    """
    from qmrflow.dl.device import select_device
    from qmrflow.io import save_nifti

    device = select_device(threads)
    run, settings, _ = load_segmenter(model, device, expected_sha256=sha256, subject=subject)
    labels = {}
    for name, path in series.items():
        loaded = load_series(path, subject=subject)
        labels[name] = (
            segment_series(run, loaded, device=device, context=settings.context),
            loaded.affine,
        )
    for name, (values, affine) in labels.items():
        save_nifti(values, outputs[name], affine)
