"""A supervised training loop for binary image classifiers, shared by the studies.

Mini-batch augmentation is done on the whole batch at once with torch's ``affine_grid`` /
``grid_sample`` (MONAI's random transforms work one sample at a time, which on a CPU costs more
than the network for the small images used here).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (see config/README.md, ``<study>.model``)."""

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
    """Outcome of a training run: best weights (by validation loss) and the learning curves."""

    state_dict: dict[str, torch.Tensor]
    history: pd.DataFrame
    best_epoch: int
    trainable_parameters: int


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


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: np.ndarray | torch.Tensor, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """Logits of a binary classifier for a stack of images (N, C, X, Y), in batches."""
    model.eval()
    inputs = torch.as_tensor(x, dtype=torch.float32)
    outputs = [
        model(inputs[i : i + batch_size].to(device)).reshape(-1).float().cpu()
        for i in range(0, inputs.shape[0], batch_size)
    ]
    return torch.cat(outputs).numpy() if outputs else np.zeros(0, dtype=np.float32)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    positives, negatives = score[y == 1], score[y == 0]
    if positives.size == 0 or negatives.size == 0:
        return float("nan")
    # Mann-Whitney form of the AUC, vectorised over all pairs (validation sets are small).
    diff = positives[:, None] - negatives[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


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
    """Train with binary cross-entropy and keep the weights with the lowest validation loss.

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
        Hyper-parameters.
    device
        Where to train.
    generator
        Seeded generator for shuffling and augmentation.
    on_epoch_end
        Hook called with (epoch, metrics) after each epoch.

    Returns
    -------
    TrainResult
        Best weights, per-epoch history (train_loss, val_loss, val_auc, val_accuracy, seconds).
    """
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("training and validation sets must both be non-empty")
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        optimiser: torch.optim.Optimizer = torch.optim.SGD(
            params,
            lr=config.learning_rate,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    else:
        optimiser = torch.optim.AdamW(
            params, lr=config.learning_rate, weight_decay=config.weight_decay
        )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    y_t = torch.as_tensor(y_train, dtype=torch.float32)
    x_t = torch.as_tensor(x_train, dtype=torch.float32)
    n_pos = float(y_t.sum())
    pos_weight = torch.tensor([(len(y_t) - n_pos) / max(n_pos, 1.0)], device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    val_loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    y_val_t = torch.as_tensor(y_val, dtype=torch.float32)

    best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
    rows = []
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        model.train()
        _set_frozen_batchnorm_eval(model)
        order = torch.randperm(len(x_t), generator=generator)
        total = 0.0
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            xb = x_t[idx]
            if config.augment:
                xb = augment_batch(xb, generator)
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb.to(device)).reshape(-1), y_t[idx].to(device))
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        scheduler.step()
        logits = predict_logits(model, x_val, device)
        val_loss = float(val_loss_fn(torch.as_tensor(logits), y_val_t))
        metrics = {
            "epoch": epoch,
            "train_loss": total / len(x_t),
            "val_loss": val_loss,
            "val_auc": _auc(np.asarray(y_val), logits),
            "val_accuracy": float(((logits >= 0) == (np.asarray(y_val) == 1)).mean()),
            "seconds": time.perf_counter() - start,
        }
        rows.append(metrics)
        logger.info(
            "epoch %d: train loss %.4f, val loss %.4f, val AUC %.3f (%.1f s)",
            epoch,
            metrics["train_loss"],
            val_loss,
            metrics["val_auc"],
            metrics["seconds"],
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            stale += 1
            if stale >= config.patience:
                logger.info("early stop at epoch %d (best %d)", epoch, best_epoch)
                break
    if best_state is None:  # validation loss never finite: keep the last weights
        best_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        best_epoch = len(rows)
    return TrainResult(
        state_dict=best_state,
        history=pd.DataFrame(rows),
        best_epoch=best_epoch,
        trainable_parameters=sum(p.numel() for p in params),
    )
