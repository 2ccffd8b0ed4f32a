"""Myocardium segmentation of perfusion frames by a 2-D MONAI U-Net.

Every frame of every slice is segmented in one forward pass into the network's four classes
(:data:`NETWORK_CLASSES`): background, LV blood pool, myocardium, RV blood pool. The study's
labels 4 (liver) and 5 (other tissue) are background to the network (:func:`map_labels`).

Inputs (:func:`network_inputs`, the same in training and inference)
    Channel 0 is the frame itself, divided by its own 99th intensity percentile (the contrast
    passage changes a frame's brightness many-fold; per frame, every phase is on a comparable
    scale). With ``context`` (the default) two more channels hold the slice's *temporal
    summary*: the maximum and the standard deviation over all its frames, each divided by its
    own 99th percentile. Before the contrast arrives myocardium, blood and surrounding tissue
    look alike in a frame, while the summary images always show the enhanced blood pools and
    myocardium; the frame channel says where they are *in this frame*. The network still
    labels every frame on its own, so the labels follow the frame: it is trained on the
    unaligned series, whose summary is blurred by the motion while each frame's labels follow
    that frame, and augmentation shifts the frame and its labels against the summary channels
    by a few pixels (``shift``), so that the position comes from the frame and the summary only
    says what the tissues are. The Dice of a frame's labels against the majority
    (:mod:`.measure`) therefore still measures how consistently the myocardium sits in one
    place across the aligned frames.

Training (:func:`train_segmentation`) runs on :func:`qmrflow.dl.training.fit` with MONAI's
Dice + cross-entropy loss, AdamW with a cosine schedule, augmentation (random flips along each
axis and, for square frames, a transpose: the 8 symmetries of the square; labels take the same
exact, nearest-neighbour transform; the frame shift above; a random intensity scale of the
frame channel) and selects the epoch with the highest validation mean myocardial Dice (it
minimises ``val_dice_error = 1 - Dice``). Training frames are sampled evenly over each series
(:func:`training_frames`), so the baseline, the upslope, the peak and the washout are all seen.

The checkpoint holds the network's inference program (:mod:`qmrflow.dl.inference`), so
per-subject jobs (:func:`load_segmenter`, :func:`segment_series`) run it without importing
MONAI; this module imports MONAI only where a network is built or trained. Checkpoints whose
recorded settings predate ``context`` are frame-only networks and are run as such.
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
    training_metadata,
)
from qmrflow.dl.inference import export_program, predict_batches
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import load_nifti, write_tsv
from qmrflow.io.bids import subject_of
from qmrflow.studies.perfusion.series import PerfusionSeries, load_series

if TYPE_CHECKING:
    from torch import nn

    from qmrflow.dl.training import TrainResult, TrainStep

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
#: Per-frame intensity percentile the frames are divided by.
NORMALISATION_PERCENTILE = 99.0
#: Inputs are zero-padded (right and bottom) to a multiple of this at inference.
PAD_MULTIPLE = 16
#: Input channels of a network with temporal context, in order.
CONTEXT_INPUTS: tuple[str, ...] = ("frame", "temporal_max", "temporal_sd")


@dataclass(frozen=True)
class SegmentationSettings:
    """Training settings (config ``perfusion.segmentation``); defaults sized for the CPU demo.

    With the defaults, 10 training subjects x 3 slices x 16 frames of 64 x 64 (20 epochs) train
    in about half a minute on one CPU thread (demo: validation myocardial Dice 0.89).

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
        Adam(W) optimisation.
    frames_per_series
        Frames sampled evenly over each series (per slice) for training and validation.
    augment
        Random flips, transposes and intensity scaling of the training frames.
    context
        Give the network the slice's temporal maximum and SD as two more input channels
        (:func:`network_inputs`).
    shift
        With ``context`` and ``augment``: the frame channel and its labels are shifted by up to
        this many pixels (per axis) against the summary channels, about the respiratory
        excursion of a free-breathing series (6 pixels: 12 mm at the demo's 2 mm). Smaller
        shifts score a slightly higher validation Dice but let the network place the
        myocardium of a frame without contrast where the summary has it (the frames then agree
        with the majority whatever the alignment).
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
    context: bool = True
    shift: int = 6

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
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

    @property
    def in_channels(self) -> int:
        """Input channels of the network: 3 with ``context``, else 1."""
        return len(CONTEXT_INPUTS) if self.context else 1

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | SegmentationSettings) -> SegmentationSettings:
        """Settings from a config mapping (missing keys take the defaults).

        Raises
        ------
        ValueError
            An unknown key or a value out of range.
        """
        if isinstance(values, SegmentationSettings):
            return values
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown segmentation settings {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (recorded in the checkpoint metadata)."""
        return dataclasses.asdict(self) | {"channels": list(self.channels)}


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


def network_inputs(
    series: SeriesLike, *, frames: Sequence[int] | np.ndarray | None = None, context: bool = True
) -> np.ndarray:
    """The network's inputs for frames of every slice: ``(S, T', C, X, Y)`` float32.

    Parameters
    ----------
    series
        ``(X, Y, S, T)`` array or :class:`PerfusionSeries`.
    frames
        Frame indices to return (default all); the temporal summary always uses every frame.
    context
        Add the slice's temporal maximum and SD (:data:`CONTEXT_INPUTS`) after the frame
        channel (C = 3); without, C = 1.
    """
    data = _series_array(series)
    stack = np.ascontiguousarray(data.transpose(2, 3, 0, 1), dtype=np.float32)  # (S, T, X, Y)
    index = np.arange(stack.shape[1]) if frames is None else np.asarray(frames, dtype=int)
    chosen = normalise_frames(stack[:, index])[:, :, None]  # (S, T', 1, X, Y)
    if not context:
        return chosen
    summary = _temporal_context(stack)[:, None]  # (S, 1, 2, X, Y)
    summary = np.broadcast_to(summary, (stack.shape[0], index.size, *summary.shape[2:]))
    return np.concatenate([chosen, summary], axis=2)


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


def dice(a: np.ndarray, b: np.ndarray, label: int, axes: Sequence[int] = (0, 1)) -> np.ndarray:
    """Dice overlap of ``label`` in two label arrays, over ``axes`` (per frame by default).

    Parameters
    ----------
    a, b
        Label arrays of one shape, e.g. ``(X, Y, S, T)``.
    label
        The label compared.
    axes
        The in-plane axes: the default ``(0, 1)`` gives one Dice per slice and frame,
        ``(S, T)``, for series; use ``(1, 2)`` for a stack ``(N, X, Y)``.

    Returns
    -------
    numpy.ndarray
        Dice over the remaining axes (float64); NaN where the label is in neither array.
    """
    a, b = np.asarray(a) == label, np.asarray(b) == label
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in shape: {a.shape} vs {b.shape}")
    axes = tuple(axes)
    overlap = np.count_nonzero(a & b, axis=axes)
    total = np.count_nonzero(a, axis=axes) + np.count_nonzero(b, axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * overlap / total, np.nan)


def _series_array(series: SeriesLike) -> np.ndarray:
    data = series.data if isinstance(series, PerfusionSeries) else np.asarray(series)
    if data.ndim != 4:
        raise ValueError(f"a series is (X, Y, slices, frames), got shape {data.shape}")
    return data


def _frame_indices(n_frames: int, count: int) -> np.ndarray:
    """``count`` frames evenly spread from the first to the last (all if there are fewer)."""
    return np.unique(np.round(np.linspace(0, n_frames - 1, min(count, n_frames))).astype(int))


def training_frames(
    series_list: Sequence[SeriesLike],
    labels_list: Sequence[np.ndarray],
    *,
    frames_per_series: int = 16,
    context: bool = True,
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
    frames_per_series
        Frames taken from each slice, evenly spaced over the series (baseline, upslope, peak,
        washout).
    context
        Add the temporal-summary channels (:func:`network_inputs`).

    Returns
    -------
    tuple
        ``x`` ``(N, C, X, Y)`` float32 (:func:`network_inputs`) and ``y`` ``(N, X, Y)`` int64
        in 0-3; ordered by series, slice, frame.

    Raises
    ------
    ValueError
        Lengths or shapes disagree, or a label outside 0-5.
    """
    if len(series_list) != len(labels_list) or not series_list:
        raise ValueError("need one labels array per series, and at least one series")
    xs, ys = [], []
    for series, labels in zip(series_list, labels_list, strict=True):
        data, labels = _series_array(series), np.asarray(labels)
        if labels.ndim == 3 and labels.shape == data.shape[:3]:
            labels = np.broadcast_to(labels[..., None], data.shape)
        if labels.shape != data.shape:
            raise ValueError(f"labels {labels.shape} do not match the series {data.shape}")
        if xs and data.shape[:2] != xs[0].shape[-2:]:
            raise ValueError(f"in-plane sizes differ: {data.shape[:2]} vs {xs[0].shape[-2:]}")
        index = _frame_indices(data.shape[3], frames_per_series)
        inputs = network_inputs(data, frames=index, context=context)
        xs.append(inputs.reshape(-1, *inputs.shape[2:]))
        ys.append(labels[..., index].transpose(2, 3, 0, 1).reshape(-1, *data.shape[:2]))
    return np.ascontiguousarray(np.concatenate(xs)), map_labels(np.concatenate(ys))


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two axes (right and bottom) to a multiple of ``multiple``."""
    extra = [(-size) % multiple for size in x.shape[-2:]]
    return F.pad(x, (0, extra[1], 0, extra[0])) if any(extra) else x


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


# --------------------------------------------------------------------------- training


def _build_unet(settings: SegmentationSettings) -> nn.Module:
    """The U-Net the settings describe (imports MONAI)."""
    from qmrflow.dl.segmentation import build_unet

    return build_unet(
        2,
        in_channels=settings.in_channels,
        out_channels=len(NETWORK_CLASSES),
        channels=settings.channels,
        num_res_units=settings.num_res_units,
        dropout=settings.dropout,
    )


def _augment(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, shift: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: flip along X, along Y, and (square frames) transpose; labels alike.

    Then the frame channel is scaled by a random factor in [0.7, 1.3] and, with context
    channels and ``shift``, rolled together with its labels by up to ``shift`` pixels per axis
    against the context channels.
    """
    n = x.shape[0]
    draws = torch.rand(3, n, generator=generator) < 0.5
    square = x.shape[-1] == x.shape[-2]
    for chosen, transform in zip(draws, ("flip_x", "flip_y", "transpose"), strict=True):
        if transform == "transpose" and not square:
            continue
        if transform == "transpose":
            moved_x, moved_y = x.transpose(-2, -1), y.transpose(-2, -1)
        else:
            axis = -2 if transform == "flip_x" else -1
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
    settings: SegmentationSettings,
    device: torch.device,
    generator: torch.Generator,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimiser: torch.optim.Optimizer,
) -> TrainStep:
    def step(idx: torch.Tensor, _phase: str | None) -> dict[str, float]:
        xb, yb = x[idx], y[idx]
        if settings.augment:
            xb, yb = _augment(xb, yb, generator, settings.shift if settings.context else 0)
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
) -> Callable[[], dict[str, float]]:
    y_padded = _pad(torch.as_tensor(y), PAD_MULTIPLE)[:, None]
    size = y.shape[-2:]

    def evaluate() -> dict[str, float]:
        logits = predict_batches(model, x, device, batch_size)
        loss = float(loss_fn(torch.as_tensor(logits), y_padded))
        predicted = logits.argmax(1)[:, : size[0], : size[1]]
        scores = {
            name: float(np.nanmean(dice(predicted, y, label, axes=(1, 2))))
            for label, name in enumerate(NETWORK_CLASSES)
            if label
        }
        return {
            "val_loss": loss,
            "val_dice_lv": scores["lv_blood_pool"],
            "val_dice_myocardium": scores["myocardium"],
            "val_dice_rv": scores["rv_blood_pool"],
            "val_dice_error": 1.0 - scores["myocardium"],
        }

    return evaluate


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
    from monai.losses import DiceCELoss

    from qmrflow.dl.device import select_device
    from qmrflow.dl.seed import deterministic, seed_everything
    from qmrflow.dl.training import fit

    s = SegmentationSettings.from_mapping(settings)
    overlap = sorted(set(train) & set(val))
    if overlap:
        raise ValueError(f"subjects in both train and val: {overlap}")
    x_train, y_train = _subject_frames(train, s, "training")
    x_val, y_val = _subject_frames(val, s, "validation")
    logger.info(
        "segmentation: %d training frames from %d subjects, %d validation frames from %d",
        len(x_train),
        len(train),
        len(x_val),
        len(val),
    )
    if device is None:
        device = select_device(threads)
    elif threads:
        torch.set_num_threads(threads)
    x_t = _pad(torch.as_tensor(x_train), PAD_MULTIPLE)
    y_t = _pad(torch.as_tensor(y_train), PAD_MULTIPLE)
    x_v = _pad(torch.as_tensor(x_val), PAD_MULTIPLE)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    with deterministic():
        generator = seed_everything(seed)
        model = _build_unet(s).to(device)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay
        )
        result = fit(
            model,
            n_train=len(x_t),
            batch_size=s.batch_size,
            schedule=s.epochs,
            train_step=_train_step(model, x_t, y_t, s, device, generator, loss_fn, optimiser),
            evaluate=_evaluator(model, x_v, y_val, device, loss_fn, 2 * s.batch_size),
            generator=generator,
            monitor="val_dice_error",
            patience=s.patience,
            min_batch=2,
            scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=s.epochs),
        )
    logger.info(
        "best epoch %d: validation myocardial Dice %.3f (LV %.3f, RV %.3f)",
        result.best_epoch,
        result.best["val_dice_myocardium"],
        result.best["val_dice_lv"],
        result.best["val_dice_rv"],
    )
    if "history" in outputs:
        write_tsv(result.history, outputs["history"])
    metadata = training_metadata(
        study="perfusion",
        task="myocardium segmentation of perfusion frames",
        seed=seed,
        provenance=provenance,
        training_subjects=list(train),
        validation_subjects=list(val),
        result=result,
        device=device,
        architecture="MONAI UNet 2-D (qmrflow.dl.segmentation.build_unet)",
        classes=list(NETWORK_CLASSES),
        normalisation={"per_frame_percentile": NORMALISATION_PERCENTILE},
        inputs=list(CONTEXT_INPUTS if s.context else CONTEXT_INPUTS[:1]),
        pad_multiple=PAD_MULTIPLE,
        settings=s.as_dict(),
        n_train_frames=len(x_train),
        n_val_frames=len(x_val),
        frame_shape=list(x_train.shape[-2:]),
    )
    program = export_program(model.cpu().eval(), x_v[:1], dynamic_dims=(0, 2, 3))
    save_checkpoint(result.state_dict, outputs["model"], metadata, program=program)
    return result


# --------------------------------------------------------------------------- inference


def load_segmenter(
    path: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
    subject: str | None = None,
    program: bool = True,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], SegmentationSettings, Checkpoint]:
    """Verify a segmentation checkpoint and make it ready to run.

    Parameters
    ----------
    path
        Checkpoint ``.pt`` (verified by sha256, loaded with ``weights_only=True``).
    device
        Where to run.
    expected_sha256
        Checksum of a model named in the config (else the one its metadata records).
    subject
        The subject it will be applied to: refused if the model was trained or selected on it
        (:func:`qmrflow.dl.checkpoint.check_not_trained_on`).
    program
        Run the stored inference program (no MONAI import) when there is one; False, or a
        program that cannot run here, rebuilds the MONAI U-Net from the recorded settings.

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
    checkpoint = load_checkpoint(path, expected_sha256=expected_sha256, map_location="cpu")
    metadata = checkpoint.metadata
    if subject is not None:
        check_not_trained_on(subject, metadata, path)
    if "settings" not in metadata:
        raise ModelError(f"{path}: metadata has no 'settings' to rebuild the U-Net from")
    if metadata.get("classes", list(NETWORK_CLASSES)) != list(NETWORK_CLASSES):
        raise ModelError(f"{path}: predicts {metadata['classes']}, expected {NETWORK_CLASSES}")
    recorded = metadata.get("normalisation", {}).get("per_frame_percentile")
    if recorded not in (None, NORMALISATION_PERCENTILE):
        raise ModelError(f"{path}: trained on frames normalised by percentile {recorded}")
    recorded_settings = dict(metadata["settings"])
    # checkpoints from before the context channels: frame-only networks
    recorded_settings.setdefault("context", False)
    try:
        settings = SegmentationSettings.from_mapping(recorded_settings)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: invalid recorded settings: {exc}") from exc
    run = runnable(checkpoint, device, lambda: _build_unet(settings), program=program, what="U-Net")
    return run, settings, checkpoint


def segment_series(
    model: Callable[[torch.Tensor], torch.Tensor],
    series: SeriesLike,
    *,
    device: torch.device,
    batch_size: int = 32,
    context: bool = True,
) -> np.ndarray:
    """Segment every frame of every slice: network labels 0-3 per voxel.

    Parameters
    ----------
    model
        The U-Net or its inference program (:func:`load_segmenter`).
    series
        ``(X, Y, S, T)`` array or :class:`PerfusionSeries`.
    device
        Where the model runs.
    batch_size
        Frames per forward pass.
    context
        The model takes the temporal-summary channels (its settings' ``context``).

    Returns
    -------
    numpy.ndarray
        ``(X, Y, S, T)`` uint8 labels (:data:`NETWORK_CLASSES`).
    """
    data = _series_array(series)
    nx, ny, ns, nt = data.shape
    inputs = network_inputs(data, context=context)
    x = _pad(torch.from_numpy(inputs.reshape(ns * nt, *inputs.shape[2:])), PAD_MULTIPLE)
    labels = np.empty((ns * nt, nx, ny), dtype=np.uint8)
    for start in range(0, len(x), batch_size):
        logits = predict_batches(model, x[start : start + batch_size], device, batch_size)
        labels[start : start + batch_size] = logits[:, :, :nx, :ny].argmax(1)
    return np.ascontiguousarray(labels.reshape(ns, nt, nx, ny).transpose(2, 3, 0, 1))


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
