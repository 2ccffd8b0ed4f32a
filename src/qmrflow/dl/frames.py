"""Per-frame segmentation of dynamic 2-D series by a MONAI U-Net: one engine for every study.

A *stack* is one slice's dynamic series ``(T, X, Y)``; a study gives several stacks as
``(S, T, X, Y)`` (slices of a perfusion series, one per task of a real-time series). Every frame
is labelled on its own, in one forward pass per batch, into the study's classes (background
first). Used by ``perfusion`` (myocardium, LV and RV blood pools) and ``breathing`` (left and
right lungs); a study keeps only its labels, its file layout and its checkpoint metadata.

Inputs (:func:`network_inputs`, the same in training and inference)
    Channel 0 is the frame, divided by its own 99th intensity percentile (a contrast passage
    or a coil's shading changes a frame's brightness; per frame, every phase is on a comparable
    scale). With ``context`` (off by default) two more channels hold the stack's *temporal
    summary*: the maximum and the standard deviation over all its frames, each divided by its
    own 99th percentile (before a contrast agent arrives the tissues look alike in a frame, while
    the summary always shows them). The labels still follow the frame: augmentation shifts the
    frame and its labels against the summary channels by up to ``shift`` pixels. A study that
    trains on unaligned series and segments aligned ones should leave it off: the summary of a
    moving series is smeared along the motion, that of an aligned one is sharp, and a network
    that learned the first places its labels off the anatomy of the second (perfusion: by 1-3 mm,
    :mod:`qmrflow.studies.perfusion.segmentation`).

Training (:func:`train_frame_segmenter`) runs on :func:`qmrflow.dl.training.fit` with MONAI's
Dice + cross-entropy loss, AdamW with a cosine schedule and augmentation: random reversal of the
axes in ``flips`` and, for square frames with ``transpose``, a transpose (labels take the same
exact transform; a study whose classes have a side, such as left and right lungs, must not flip
across it); the frame shift above; a random intensity scale of the frame channel. It keeps the
epoch with the highest validation Dice of the monitored classes (it minimises
``val_dice_error = 1 - Dice``). Training frames are sampled evenly over each stack
(:func:`sample_frames`).

Checkpoints (:func:`save_frame_segmenter`) hold the network's torch-only inference program
(:mod:`qmrflow.dl.inference`), so per-subject jobs (:func:`load_frame_segmenter`,
:func:`segment_frames`) run without importing MONAI; MONAI is imported only where a network is
built or trained.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from qmrflow.dl.checkpoint import (
    Checkpoint,
    check_not_trained_on,
    load_checkpoint,
    runnable,
    save_checkpoint,
)
from qmrflow.dl.inference import export_program, predict_batches
from qmrflow.errors import ModelError
from qmrflow.roi import dice
from qmrflow.settings import settings_from_mapping

if TYPE_CHECKING:
    from torch import nn

    from qmrflow.dl.training import TrainResult, TrainStep

__all__ = [
    "CONTEXT_INPUTS",
    "NORMALISATION_PERCENTILE",
    "PAD_MULTIPLE",
    "FrameSegmentationSettings",
    "build_frame_unet",
    "dice",
    "frame_indices",
    "load_frame_segmenter",
    "network_inputs",
    "normalise_frames",
    "sample_frames",
    "save_frame_segmenter",
    "segment_frames",
    "train_and_save",
    "train_frame_segmenter",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Per-frame intensity percentile the frames are divided by.
NORMALISATION_PERCENTILE = 99.0
#: Inputs are zero-padded (right and bottom) to a multiple of this.
PAD_MULTIPLE = 16
#: Input channels of a network with temporal context, in order.
CONTEXT_INPUTS: tuple[str, ...] = ("frame", "temporal_max", "temporal_sd")


@dataclass(frozen=True)
class FrameSegmentationSettings:
    """Network and training settings (a study's ``segmentation`` config block).

    Attributes
    ----------
    channels
        U-Net feature channels per level, finest first (strides 2).
    num_res_units
        Residual units per block.
    dropout
        Dropout probability.
    epochs
        Training epochs (cosine learning-rate schedule over them).
    patience
        Early stop after this many epochs without a better validation Dice (None: never).
    batch_size, learning_rate, weight_decay
        AdamW optimisation.
    frames_per_series
        Frames sampled evenly over each stack for training and validation.
    augment
        Random flips, transposes, shifts and intensity scaling of the training frames.
    context
        Give the network the stack's temporal maximum and SD as two more input channels (see
        the module's notes for when not to).
    shift
        With ``context`` and ``augment``: the frame channel and its labels are shifted by up to
        this many pixels (per axis) against the summary channels (about the motion expected
        between a frame and the summary; 0: none).
    flips
        Image axes (0, 1) that augmentation may reverse. Leave out an axis across which the
        classes have a side (left and right lungs: axis 0 of a coronal frame).
    transpose
        Augmentation may transpose square frames (only where the classes have no side).
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    num_res_units: int = 0
    dropout: float = 0.0
    epochs: int = 20
    patience: int | None = None
    batch_size: int = 16
    learning_rate: float = 1e-2
    weight_decay: float = 1e-5
    frames_per_series: int = 16
    augment: bool = True
    context: bool = False
    shift: int = 6
    flips: tuple[int, ...] = (0, 1)
    transpose: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "flips", tuple(sorted({int(a) for a in self.flips})))
        if len(self.channels) < 2 or min(self.channels) < 1:
            raise ValueError(f"segmentation channels need >= 2 positive levels: {self.channels}")
        for key in ("epochs", "batch_size", "frames_per_series"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"segmentation setting {key} must be >= 1")
        if self.num_res_units < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("num_res_units must be >= 0 and dropout in [0, 1)")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError("learning_rate must be > 0 and weight_decay >= 0")
        if self.patience is not None and self.patience < 1:
            raise ValueError("patience must be >= 1 or None")
        if int(self.shift) < 0:
            raise ValueError("shift must be >= 0")
        if not set(self.flips) <= {0, 1}:
            raise ValueError(f"flips are image axes 0 and 1, got {list(self.flips)}")

    @property
    def in_channels(self) -> int:
        """Input channels of the network: 3 with ``context``, else 1."""
        return len(CONTEXT_INPUTS) if self.context else 1

    @property
    def inputs(self) -> list[str]:
        """Names of the input channels, in order."""
        return list(CONTEXT_INPUTS[: self.in_channels])

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | FrameSegmentationSettings | None
    ) -> FrameSegmentationSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused)."""
        return settings_from_mapping(cls, values, "segmentation settings", error=ValueError)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (recorded in the checkpoint metadata)."""
        return dataclasses.asdict(self) | {
            "channels": list(self.channels),
            "flips": list(self.flips),
        }


# --------------------------------------------------------------------------- data


def normalise_frames(frames: np.ndarray) -> np.ndarray:
    """Divide each frame ``(..., X, Y)`` by its 99th percentile (1 if that is not positive).

    Returns float32 of the same shape.
    """
    frames = np.asarray(frames, dtype=np.float32)
    flat = frames.reshape(-1, frames.shape[-2] * frames.shape[-1])
    scale = np.percentile(flat, NORMALISATION_PERCENTILE, axis=1).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1.0))
    return (flat / scale[:, None]).reshape(frames.shape).astype(np.float32, copy=False)


def _temporal_context(frames: np.ndarray) -> np.ndarray:
    """Temporal maximum and SD of ``(..., T, X, Y)`` frames, each normalised: ``(..., 2, X, Y)``."""
    summary = np.stack([frames.max(axis=-3), frames.std(axis=-3)], axis=-3)
    return normalise_frames(summary)


def _stacks(stacks: np.ndarray) -> np.ndarray:
    data = np.asarray(stacks)
    if data.ndim != 4:
        raise ValueError(f"stacks are (S, T, X, Y), got shape {data.shape}")
    return data


def network_inputs(
    stacks: np.ndarray, *, frames: Sequence[int] | np.ndarray | None = None, context: bool = False
) -> np.ndarray:
    """The network's inputs for frames of every stack: ``(S, T', C, X, Y)`` float32.

    Parameters
    ----------
    stacks
        ``(S, T, X, Y)`` dynamic series, one per slice (or task).
    frames
        Frame indices to return (default all); the temporal summary always uses every frame.
    context
        Add the stack's temporal maximum and SD (:data:`CONTEXT_INPUTS`) after the frame
        channel (C = 3); without, C = 1.
    """
    stack = np.ascontiguousarray(_stacks(stacks), dtype=np.float32)
    index = np.arange(stack.shape[1]) if frames is None else np.asarray(frames, dtype=int)
    chosen = normalise_frames(stack[:, index])[:, :, None]  # (S, T', 1, X, Y)
    if not context:
        return chosen
    summary = _temporal_context(stack)[:, None]  # (S, 1, 2, X, Y)
    summary = np.broadcast_to(summary, (stack.shape[0], index.size, *summary.shape[2:]))
    return np.concatenate([chosen, summary], axis=2)


def frame_indices(n_frames: int, count: int) -> np.ndarray:
    """``count`` frames evenly spread from the first to the last (all if there are fewer)."""
    return np.unique(np.round(np.linspace(0, n_frames - 1, min(count, n_frames))).astype(int))


def sample_frames(
    stacks: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    frames_per_series: int = 16,
    context: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames sampled evenly over each stack, as network inputs, with their labels.

    Parameters
    ----------
    stacks
        ``(S, T, X, Y)`` arrays (one per subject), all with the same in-plane size.
    labels
        Network labels (0 .. classes - 1) per stack: ``(S, T, X, Y)`` (per frame, following
        motion) or ``(S, X, Y)`` (one mask for every frame).
    frames_per_series
        Frames taken from each stack, evenly spaced over it.
    context
        Add the temporal-summary channels (:func:`network_inputs`).

    Returns
    -------
    tuple
        ``x`` ``(N, C, X, Y)`` float32 and ``y`` ``(N, X, Y)`` int64, ordered by subject,
        stack, frame.

    Raises
    ------
    ValueError
        Lengths or shapes disagree, or labels are not non-negative integers.
    """
    if len(stacks) != len(labels) or not stacks:
        raise ValueError("need one labels array per series, and at least one series")
    xs, ys = [], []
    for data, lab in zip(stacks, labels, strict=True):
        data, lab = _stacks(data), np.asarray(lab)
        if lab.ndim == 3 and lab.shape == (data.shape[0], *data.shape[2:]):
            lab = np.broadcast_to(lab[:, None], data.shape)
        if lab.shape != data.shape:
            raise ValueError(f"labels {lab.shape} do not match the series {data.shape}")
        if xs and data.shape[2:] != xs[0].shape[-2:]:
            raise ValueError(f"in-plane sizes differ: {data.shape[2:]} vs {xs[0].shape[-2:]}")
        index = frame_indices(data.shape[1], frames_per_series)
        inputs = network_inputs(data, frames=index, context=context)
        xs.append(inputs.reshape(-1, *inputs.shape[2:]))
        ys.append(lab[:, index].reshape(-1, *data.shape[2:]))
    y = np.concatenate(ys)
    as_int = y.astype(np.int64)
    if np.any(as_int != y) or as_int.min(initial=0) < 0:
        raise ValueError(f"labels must be non-negative integers, got {np.unique(y)[:10]}")
    return np.ascontiguousarray(np.concatenate(xs)), as_int


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two axes (right and bottom) to a multiple of ``multiple``."""
    extra = [(-size) % multiple for size in x.shape[-2:]]
    return F.pad(x, (0, extra[1], 0, extra[0])) if any(extra) else x


# --------------------------------------------------------------------------- training


def build_frame_unet(settings: FrameSegmentationSettings, n_classes: int) -> nn.Module:
    """A fresh U-Net of the settings with ``n_classes`` outputs, background included (imports
    MONAI)."""
    from qmrflow.dl.segmentation import build_unet

    return build_unet(
        2,
        in_channels=settings.in_channels,
        out_channels=n_classes,
        channels=settings.channels,
        num_res_units=settings.num_res_units,
        dropout=settings.dropout,
    )


def _augment(
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
    shift: int = 0,
    *,
    flips: Sequence[int] = (0, 1),
    transpose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: reverse each axis of ``flips`` and (square frames) transpose; labels alike.

    Each transform is drawn with probability 1/2 per sample (the random numbers are drawn for
    all three whatever is allowed, so a seed gives the same draws). Then the frame channel is
    scaled by a random factor in [0.7, 1.3] and, with context channels and ``shift``, rolled
    together with its labels by up to ``shift`` pixels per axis against the context channels.
    """
    n = x.shape[0]
    draws = torch.rand(3, n, generator=generator) < 0.5
    allowed = {"flip_x": 0 in flips, "flip_y": 1 in flips}
    allowed["transpose"] = transpose and x.shape[-1] == x.shape[-2]
    for chosen, name in zip(draws, ("flip_x", "flip_y", "transpose"), strict=True):
        if not allowed[name]:
            continue
        if name == "transpose":
            moved_x, moved_y = x.transpose(-2, -1), y.transpose(-2, -1)
        else:
            axis = -2 if name == "flip_x" else -1
            moved_x, moved_y = x.flip(axis), y.flip(axis)
        x = torch.where(chosen.view(n, 1, 1, 1), moved_x, x)
        y = torch.where(chosen.view(n, 1, 1), moved_y, y)
    scale = 0.7 + 0.6 * torch.rand(n, generator=generator)
    x = x.clone()
    x[:, 0] *= scale.view(n, 1, 1).to(x.dtype)
    if shift and x.shape[1] > 1:
        offsets = torch.randint(-shift, shift + 1, (n, 2), generator=generator).tolist()
        y = y.clone()
        for i, (dx, dy) in enumerate(offsets):
            if dx or dy:
                x[i, 0] = torch.roll(x[i, 0], (dx, dy), dims=(0, 1))
                y[i] = torch.roll(y[i], (dx, dy), dims=(0, 1))
    return x, y


def _train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: FrameSegmentationSettings,
    device: torch.device,
    generator: torch.Generator,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimiser: torch.optim.Optimizer,
) -> TrainStep:
    s = settings

    def step(idx: torch.Tensor, _phase: str | None) -> dict[str, float]:
        xb, yb = x[idx], y[idx]
        if s.augment:
            shift = s.shift if s.context else 0
            xb, yb = _augment(xb, yb, generator, shift, flips=s.flips, transpose=s.transpose)
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb.to(device)), yb[:, None].to(device))
        loss.backward()
        optimiser.step()
        return {"train_loss": loss.item() * len(idx)}

    return step


def _evaluator(
    model: nn.Module,
    x: torch.Tensor,
    y: np.ndarray,
    device: torch.device,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int,
    columns: Mapping[int, str],
    monitor: Sequence[int],
) -> Callable[[], dict[str, float]]:
    y_padded = _pad(torch.as_tensor(y), PAD_MULTIPLE)[:, None]
    size = y.shape[-2:]

    def evaluate() -> dict[str, float]:
        logits = predict_batches(model, x, device, batch_size)
        loss = float(loss_fn(torch.as_tensor(logits), y_padded))
        predicted = logits.argmax(1)[:, : size[0], : size[1]]
        scores = {
            label: float(np.nanmean(dice(predicted, y, label, axes=(1, 2)))) for label in columns
        }
        return (
            {"val_loss": loss}
            | {f"val_dice_{name}": scores[label] for label, name in columns.items()}
            | {"val_dice_error": 1.0 - float(np.mean([scores[label] for label in monitor]))}
        )

    return evaluate


def train_frame_segmenter(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    classes: Sequence[str],
    settings: FrameSegmentationSettings,
    seed: int,
    device: torch.device,
    monitor: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train a U-Net on sampled frames; keep the epoch of best validation Dice.

    Parameters
    ----------
    train, val
        ``(x, y)`` from :func:`sample_frames`: inputs ``(N, C, X, Y)`` and labels ``(N, X, Y)``.
    classes
        Class names in output-channel order, background first.
    settings
        Network and schedule.
    seed
        Seeds initialisation, shuffling and augmentation.
    device
        Where to train.
    monitor
        Classes whose mean validation Dice selects the epoch (default all but background).
    columns
        Class name -> history column suffix (``val_dice_<suffix>``; default the class name).

    Returns
    -------
    tuple
        The network (selected weights, on the CPU, eval mode) and the run. Deterministic for a
        seed on the CPU (same thread count).
    """
    from monai.losses import DiceCELoss

    from qmrflow.dl.seed import deterministic, seed_everything
    from qmrflow.dl.training import fit

    names = list(classes)
    monitored = list(monitor) if monitor is not None else names[1:]
    unknown = sorted(set(monitored) - set(names[1:]))
    if unknown or not monitored:
        raise ValueError(f"monitored classes {monitored} must be among {names[1:]}")
    suffix = {name: (columns or {}).get(name, name) for name in names[1:]}
    label_columns = {names.index(name): suffix[name] for name in names[1:]}
    (x_train, y_train), (x_val, y_val) = train, val
    if int(max(y_train.max(initial=0), y_val.max(initial=0))) >= len(names):
        raise ValueError(f"labels exceed the {len(names)} classes {names}")
    s = settings
    x_t = _pad(torch.as_tensor(x_train), PAD_MULTIPLE)
    y_t = _pad(torch.as_tensor(y_train), PAD_MULTIPLE)
    x_v = _pad(torch.as_tensor(x_val), PAD_MULTIPLE)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    with deterministic():
        generator = seed_everything(seed)
        model = build_frame_unet(s, len(names)).to(device)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay
        )
        result = fit(
            model,
            n_train=len(x_t),
            batch_size=s.batch_size,
            schedule=s.epochs,
            train_step=_train_step(model, x_t, y_t, s, device, generator, loss_fn, optimiser),
            evaluate=_evaluator(
                model,
                x_v,
                y_val,
                device,
                loss_fn,
                2 * s.batch_size,
                label_columns,
                [names.index(name) for name in monitored],
            ),
            generator=generator,
            monitor="val_dice_error",
            patience=s.patience,
            min_batch=2,
            scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=s.epochs),
        )
    logger.info(
        "best epoch %d: validation Dice %s",
        result.best_epoch,
        ", ".join(f"{c} {result.best[f'val_dice_{c}']:.3f}" for c in label_columns.values()),
    )
    return model.cpu().eval(), result


def save_frame_segmenter(
    model: nn.Module,
    result: TrainResult,
    path: PathLike,
    metadata: Mapping[str, Any],
    example: np.ndarray,
) -> None:
    """Write the checkpoint with its torch-only inference program.

    ``metadata`` comes from :func:`qmrflow.dl.checkpoint.training_metadata` and must record
    ``classes`` and ``settings`` (:meth:`FrameSegmentationSettings.as_dict`); ``example`` is
    one network input ``(1, C, X, Y)``.
    """
    for key in ("classes", "settings"):
        if key not in metadata:
            raise ValueError(f"segmentation checkpoint metadata needs {key!r}")
    x = _pad(torch.as_tensor(example[:1]), PAD_MULTIPLE)
    program = export_program(model.cpu().eval(), x, dynamic_dims=(0, 2, 3))
    save_checkpoint(result.state_dict, path, dict(metadata), program=program)


def train_and_save(
    frames: Callable[[Mapping[str, Any], str], tuple[np.ndarray, np.ndarray]],
    train: Mapping[str, Any],
    val: Mapping[str, Any],
    *,
    study: str,
    task: str,
    classes: Sequence[str],
    settings: FrameSegmentationSettings,
    seed: int,
    outputs: Mapping[str, PathLike],
    provenance: Mapping[str, Any],
    device: torch.device | None = None,
    threads: int | None = None,
    monitor: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
) -> TrainResult:
    """A study's segmentation training job: sample, train, write the history and checkpoint.

    Parameters
    ----------
    frames
        ``(items, name) -> (x, y)``: the study's sampled frames (:func:`sample_frames`) of the
        subjects in ``items`` (``name`` is ``"training"`` or ``"validation"``, for errors).
    train, val
        Subject label -> the study's item (series and labels); disjoint.
    study, task
        Recorded in the metadata.
    classes, settings, seed, monitor, columns
        See :func:`train_frame_segmenter`.
    outputs
        ``model`` (``.pt``, metadata ``.json`` beside it) and optional ``history`` (TSV).
    provenance
        Configuration that determines the model; stored and hashed into the metadata.
    device, threads
        Where to train (default :func:`qmrflow.dl.device.select_device`) and CPU threads.

    Raises
    ------
    ValueError
        A subject in both train and val, or what ``frames`` raises.
    """
    from qmrflow.dl.checkpoint import training_metadata
    from qmrflow.dl.device import select_device
    from qmrflow.io import write_tsv

    overlap = sorted(set(train) & set(val))
    if overlap:
        raise ValueError(f"subjects in both train and val: {overlap}")
    x_train, y_train = frames(train, "training")
    x_val, y_val = frames(val, "validation")
    logger.info(
        "%s: %d training frames from %d subjects, %d validation frames from %d",
        *(task, len(x_train), len(train), len(x_val), len(val)),
    )
    if device is None:
        device = select_device(threads)
    elif threads:
        torch.set_num_threads(threads)
    model, result = train_frame_segmenter(
        (x_train, y_train),
        (x_val, y_val),
        classes=classes,
        settings=settings,
        seed=seed,
        device=device,
        monitor=monitor,
        columns=columns,
    )
    if "history" in outputs:
        write_tsv(result.history, outputs["history"])
    metadata = training_metadata(
        study=study,
        task=task,
        seed=seed,
        provenance=provenance,
        training_subjects=list(train),
        validation_subjects=list(val),
        result=result,
        device=device,
        architecture="MONAI UNet 2-D (qmrflow.dl.segmentation.build_unet)",
        classes=list(classes),
        normalisation={"per_frame_percentile": NORMALISATION_PERCENTILE},
        inputs=settings.inputs,
        pad_multiple=PAD_MULTIPLE,
        settings=settings.as_dict(),
        n_train_frames=len(x_train),
        n_val_frames=len(x_val),
        frame_shape=list(x_train.shape[-2:]),
    )
    save_frame_segmenter(model, result, outputs["model"], metadata, x_val[:1])
    return result


# --------------------------------------------------------------------------- inference


def load_frame_segmenter(
    path: PathLike,
    device: torch.device,
    *,
    classes: Sequence[str],
    expected_sha256: str | None = None,
    subject: str | None = None,
    program: bool = True,
    recorded_defaults: Mapping[str, Any] | None = None,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], FrameSegmentationSettings, Checkpoint]:
    """Verify a segmentation checkpoint and make it ready to run.

    Parameters
    ----------
    path
        Checkpoint ``.pt`` (verified by sha256, loaded with ``weights_only=True``).
    device
        Where to run.
    classes
        The classes the caller expects, in order; a checkpoint predicting others is refused.
    expected_sha256
        Checksum of a model named in the config (else the one its metadata records).
    subject
        The subject it will be applied to: refused if the model was trained or selected on it.
    program
        Run the stored inference program (no MONAI import) when there is one; False, or a
        program that cannot run here, rebuilds the MONAI U-Net from the recorded settings.
    recorded_defaults
        Settings assumed where an older checkpoint recorded none.

    Returns
    -------
    tuple
        The network (callable on ``(N, C, X, Y)`` float32 inputs of :func:`network_inputs`,
        returning logits), its settings and the checkpoint.

    Raises
    ------
    ModelError
        Bad checkpoint, no settings recorded, other classes or normalisation, weights that do
        not fit, or a subject it was trained on.
    """
    checkpoint = load_checkpoint(path, expected_sha256=expected_sha256, map_location="cpu")
    metadata = checkpoint.metadata
    if subject is not None:
        check_not_trained_on(subject, metadata, path)
    if "settings" not in metadata:
        raise ModelError(f"{path}: metadata has no 'settings' to rebuild the U-Net from")
    if metadata.get("classes", list(classes)) != list(classes):
        raise ModelError(f"{path}: predicts {metadata['classes']}, expected {list(classes)}")
    recorded = metadata.get("normalisation", {}).get("per_frame_percentile")
    if recorded not in (None, NORMALISATION_PERCENTILE):
        raise ModelError(f"{path}: trained on frames normalised by percentile {recorded}")
    values = dict(recorded_defaults or {}) | dict(metadata["settings"])
    try:
        settings = FrameSegmentationSettings.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: invalid recorded settings: {exc}") from exc
    run = runnable(
        checkpoint,
        device,
        lambda: build_frame_unet(settings, len(classes)),
        program=program,
        what="U-Net",
    )
    return run, settings, checkpoint


def segment_frames(
    model: Callable[[torch.Tensor], torch.Tensor],
    stacks: np.ndarray,
    *,
    device: torch.device,
    batch_size: int = 32,
    context: bool = False,
) -> np.ndarray:
    """Label every frame of every stack: ``(S, T, X, Y)`` -> ``(S, T, X, Y)`` uint8.

    Parameters
    ----------
    model
        The U-Net or its inference program (:func:`load_frame_segmenter`).
    stacks
        ``(S, T, X, Y)`` dynamic series.
    device
        Where the model runs.
    batch_size
        Frames per forward pass.
    context
        The model takes the temporal-summary channels (its settings' ``context``).
    """
    data = _stacks(stacks)
    ns, nt, nx, ny = data.shape
    inputs = network_inputs(data, context=context)
    x = _pad(torch.from_numpy(inputs.reshape(ns * nt, *inputs.shape[2:])), PAD_MULTIPLE)
    labels = np.empty((ns * nt, nx, ny), dtype=np.uint8)
    for start in range(0, len(x), batch_size):
        logits = predict_batches(model, x[start : start + batch_size], device, batch_size)
        labels[start : start + batch_size] = logits[:, :, :nx, :ny].argmax(1)
    return labels.reshape(ns, nt, nx, ny)
