"""The training loop shared by the studies, and a binary-classifier trainer built on it.

:func:`fit` owns what every study's training does the same way: per-epoch shuffling from a
seeded generator, mini-batches, a learning-rate schedule, validation, the history table, model
selection on a monitored validation metric, early stopping and the best weights. What differs
between studies is passed in: the step that updates the networks on one mini-batch (a plain
loss, or a generator/discriminator pair), the validation metrics and which of them selects.

Mini-batch augmentation for classifiers is done on the whole batch at once with torch's
``affine_grid`` / ``grid_sample`` (MONAI's random transforms work one sample at a time, which on
a CPU costs more than the network for the small images used here).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from qmrflow.dl.inference import predict_logits

logger = logging.getLogger(__name__)

EpochHook = Callable[[int, dict[str, Any]], None]

#: ``step(indices, phase) -> sums``: update the networks on the training samples ``indices``;
#: return each training metric summed over the batch (``fit`` divides by the training-set size).
TrainStep = Callable[[torch.Tensor, str | None], Mapping[str, float]]


@dataclass(frozen=True)
class TrainConfig:
    """Classifier training hyper-parameters (see config/README.md, ``<study>.model``)."""

    epochs: int = 16
    patience: int = 8
    batch_size: int = 32
    optimizer: str = "sgd"
    learning_rate: float = 1e-2
    weight_decay: float = 1e-4
    augment: bool = True
    momentum: float = 0.9


@dataclass
class TrainResult:
    """Outcome of a training run.

    Attributes
    ----------
    state_dict
        Weights of the selected epoch (on the CPU).
    history
        One row per epoch: ``epoch`` (``phase``), the training and validation metrics, ``seconds``.
    best
        The history row of the selected epoch.
    trainable_parameters
        Parameters the optimiser updated.
    seconds
        Wall time of the whole loop.
    """

    state_dict: dict[str, torch.Tensor]
    history: pd.DataFrame
    best: dict[str, Any]
    trainable_parameters: int
    seconds: float

    @property
    def best_epoch(self) -> int:
        """The selected epoch (1-based)."""
        return int(self.best["epoch"])


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})


def fit(
    model: nn.Module,
    *,
    n_train: int,
    batch_size: int,
    schedule: int | Sequence[str],
    train_step: TrainStep,
    evaluate: Callable[[], Mapping[str, float]],
    generator: torch.Generator,
    monitor: str = "val_loss",
    min_delta: float = 0.0,
    patience: int | None = None,
    min_batch: int = 1,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    on_epoch_end: EpochHook | None = None,
) -> TrainResult:
    """Train for a schedule of epochs and keep the weights with the lowest monitored metric.

    Parameters
    ----------
    model
        The network whose weights are selected (put in train mode before each epoch; its best
        weights are loaded back into it at the end).
    n_train
        Number of training samples (the indices shuffled each epoch).
    batch_size
        Mini-batch size.
    schedule
        Number of epochs, or one phase name per epoch (passed to ``train_step`` and recorded in
        the history's ``phase`` column).
    train_step
        Updates the networks on one mini-batch; see :data:`TrainStep`.
    evaluate
        Validation metrics after each epoch (must include ``monitor``); sets eval mode itself.
    generator
        Seeded generator for the per-epoch shuffle (steps may draw augmentations from it too).
    monitor
        Metric minimised for model selection and early stopping.
    min_delta
        An epoch is better only if it lowers ``monitor`` by more than this.
    patience
        Stop after this many epochs without improvement; None trains the whole schedule.
    min_batch
        Skip a final mini-batch smaller than this (batch norm needs two samples in train mode).
    scheduler
        Learning-rate schedule, stepped once per epoch.
    on_epoch_start
        Called with the epoch after ``model.train()`` (e.g. to keep frozen batch norm in eval
        mode, or put a second network in train mode).
    on_epoch_end
        Called with (epoch, history row).

    Returns
    -------
    TrainResult
        If ``monitor`` is never finite the last epoch's weights are kept, with a warning.
    """
    if n_train < 1:
        raise ValueError("the training set is empty")
    phases = [None] * schedule if isinstance(schedule, int) else list(schedule)
    params = [p for p in model.parameters() if p.requires_grad]
    best_value, best, best_state, stale = math.inf, None, None, 0
    rows: list[dict[str, Any]] = []
    start_all = time.perf_counter()
    for epoch, phase in enumerate(phases, start=1):
        start = time.perf_counter()
        model.train()
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        order = torch.randperm(n_train, generator=generator)
        sums: dict[str, float] = {}
        for i in range(0, n_train, batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < min_batch:
                continue
            for key, value in train_step(idx, phase).items():
                sums[key] = sums.get(key, 0.0) + value
        if scheduler is not None:
            scheduler.step()
        row: dict[str, Any] = {"epoch": epoch} | ({} if phase is None else {"phase": phase})
        row |= {key: value / n_train for key, value in sums.items()}
        row |= dict(evaluate())
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        logger.info(
            "epoch %d%s: %s (%.1f s)",
            epoch,
            "" if phase is None else f" ({phase})",
            ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "phase", "seconds")
            ),
            row["seconds"],
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        if row[monitor] < best_value - min_delta:
            best_value, best, best_state, stale = row[monitor], row, _cpu_state(model), 0
        else:
            stale += 1
            if patience is not None and stale >= patience:
                logger.info("early stop at epoch %d (best %d)", epoch, best["epoch"] if best else 0)
                break
    if best_state is None:
        logger.warning("validation %s was never finite; keeping the last epoch's weights", monitor)
        best, best_state = rows[-1], _cpu_state(model)
    model.load_state_dict(best_state)
    return TrainResult(
        state_dict=best_state,
        history=pd.DataFrame(rows, columns=list(rows[0])),
        best=dict(best),
        trainable_parameters=sum(p.numel() for p in params),
        seconds=time.perf_counter() - start_all,
    )


# --------------------------------------------------------------------------- classifiers


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flip, small rotation/scale/shift and intensity scaling of a batch.

    Parameters
    ----------
    x
        Batch (N, C, X, Y); X is the left-right axis, so flipping it swaps the legs.
    generator
        Seeded generator: the same seed gives the same augmentations.
    """
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1).to(x.device), x.flip(2), x)
    angle = uniform(-8.0, 8.0) * math.pi / 180
    scale = uniform(0.92, 1.08)
    shift = torch.stack([uniform(-0.05, 0.05), uniform(-0.05, 0.05)], dim=1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gain = uniform(0.85, 1.15).view(n, 1, 1, 1).to(x.device, x.dtype)
    return x * gain


def _set_frozen_batchnorm_eval(model: nn.Module) -> None:
    """Keep batch-norm statistics of frozen layers fixed (a frozen feature extractor)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    positives, negatives = score[y == 1], score[y == 0]
    if positives.size == 0 or negatives.size == 0:
        return float("nan")
    # Mann-Whitney form of the AUC, vectorised over all pairs (validation sets are small).
    diff = positives[:, None] - negatives[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _optimiser(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.learning_rate,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def train_binary_classifier(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    *,
    device: torch.device,
    generator: torch.Generator,
    on_epoch_end: EpochHook | None = None,
) -> TrainResult:
    """Train with class-weighted binary cross-entropy; select on the validation loss.

    Parameters
    ----------
    model
        Network returning one logit per image. Parameters with ``requires_grad=False`` (a frozen
        backbone) are not optimised and their batch-norm statistics stay fixed.
    x_train, y_train
        Training images (N, C, X, Y) float32 and labels (N,) in {0, 1}.
    x_val, y_val
        Validation images and labels (model selection only).
    config
        Hyper-parameters: SGD (momentum) or AdamW with a cosine schedule, early stopping after
        ``patience`` epochs without a lower validation loss.
    device
        Where to train.
    generator
        Seeded generator for shuffling and augmentation.
    on_epoch_end
        Hook called with (epoch, metrics) after each epoch.

    Returns
    -------
    TrainResult
        History columns: epoch, train_loss, val_loss, val_auc, val_accuracy, seconds.
    """
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("training and validation sets must both be non-empty")
    model.to(device)
    optimiser = _optimiser([p for p in model.parameters() if p.requires_grad], config)
    x_t = torch.as_tensor(x_train, dtype=torch.float32)
    y_t = torch.as_tensor(y_train, dtype=torch.float32)
    n_pos = float(y_t.sum())
    pos_weight = torch.tensor([(len(y_t) - n_pos) / max(n_pos, 1.0)], device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    val_loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight.cpu())  # logits come back on the CPU
    y_val = np.asarray(y_val)
    y_val_t = torch.as_tensor(y_val, dtype=torch.float32)

    def step(idx: torch.Tensor, _phase: str | None) -> dict[str, float]:
        xb = augment_batch(x_t[idx], generator) if config.augment else x_t[idx]
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb.to(device)).reshape(-1), y_t[idx].to(device))
        loss.backward()
        optimiser.step()
        return {"train_loss": loss.item() * len(idx)}

    def evaluate() -> dict[str, float]:
        logits = predict_logits(model, x_val, device)
        return {
            "val_loss": float(val_loss_fn(torch.as_tensor(logits), y_val_t)),
            "val_auc": _auc(y_val, logits),
            "val_accuracy": float(((logits >= 0) == (y_val == 1)).mean()),
        }

    return fit(
        model,
        n_train=len(x_t),
        batch_size=config.batch_size,
        schedule=config.epochs,
        train_step=step,
        evaluate=evaluate,
        generator=generator,
        min_delta=1e-6,
        patience=config.patience,
        min_batch=2,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs),
        on_epoch_start=lambda _epoch: _set_frozen_batchnorm_eval(model),
        on_epoch_end=on_epoch_end,
    )
