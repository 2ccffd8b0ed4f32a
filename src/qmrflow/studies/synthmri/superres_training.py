"""Training the super-resolution GAN (a group job on the ``train`` split, selected on ``val``).

Two phases on :func:`qmrflow.dl.training.fit` (Ledig et al. 2017):

1. pixel-loss pre-training: masked L1 between the generator output and the routine maps
   (``pretrain_epochs``);
2. adversarial training (``adversarial_epochs``): the discriminator ``D`` and the generator ``G``
   are updated alternately on every mini-batch with::

       L_D = BCE(D(y), 1) + BCE(D(G(x)), 0)
       L_G = L1_mask(G(x), y) + w_adv · BCE(D(G(x)), 1)

   where both images are multiplied by the brain mask before ``D`` sees them (the background
   is not trained, and would otherwise give the fakes away).

The checkpoint kept is the one with the lowest validation pixel loss over both phases; it holds
the generator's inference program (:mod:`qmrflow.dl.inference`) beside its weights.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from qmrflow.dl.checkpoint import save_checkpoint, training_metadata
from qmrflow.dl.device import select_device
from qmrflow.dl.inference import export_program, predict_batches
from qmrflow.dl.seed import deterministic, seed_everything
from qmrflow.dl.superres import PatchDiscriminator, SRGenerator, count_parameters
from qmrflow.dl.training import TrainStep, fit
from qmrflow.io import write_tsv
from qmrflow.studies.synthmri.superres import (
    MAPS,
    NORMALISED_MAX,
    SCALES,
    PathLike,
    build_generator,
    load_pairs,
    resolve_settings,
)

__all__ = ["masked_l1", "train_superresolution"]

logger = logging.getLogger(__name__)

Item = tuple[Mapping[str, PathLike], Mapping[str, PathLike], PathLike]


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the voxels inside ``mask`` (N, 1, X, Y), all channels."""
    weight = mask.expand_as(prediction)
    return (torch.abs(prediction - target) * weight).sum() / weight.sum().clamp_min(1.0)


def _to(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    # channels_last: about twice as fast for these convolutions on the CPU (oneDNN).
    return torch.as_tensor(x).to(device).contiguous(memory_format=torch.channels_last)


def _pixel_metrics(prediction: np.ndarray, y: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """Masked L1 and PSNR (dB, normalised units: data range 1)."""
    weight = np.broadcast_to(m, prediction.shape)
    count = max(float(weight.sum()), 1.0)
    diff = (prediction - y) * weight
    l1 = float(np.abs(diff).sum() / count)
    mse = float((diff**2).sum() / count)
    return l1, (math.inf if mse == 0 else float(-10.0 * np.log10(mse)))


def _flip_x(generator: torch.Generator, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """Flip each sample along x (axis 2, left-right) with probability 1/2, the same in all."""
    flip = (torch.rand(tensors[0].shape[0], generator=generator) < 0.5).view(-1, 1, 1, 1)
    return [torch.where(flip, t.flip(2), t) for t in tensors]


def _gan_step(
    generator: SRGenerator,
    discriminator: PatchDiscriminator,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    s: Mapping[str, Any],
    device: torch.device,
    torch_generator: torch.Generator,
) -> TrainStep:
    """One mini-batch: the pixel loss (pre-training) or a D update then a G update."""
    x_t, y_t, m_t = (torch.as_tensor(a) for a in train)
    g_opt = torch.optim.Adam(generator.parameters(), lr=s["learning_rate"])
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=s["learning_rate"])
    bce = nn.BCEWithLogitsLoss()

    def step(idx: torch.Tensor, phase: str | None) -> dict[str, float]:
        xb, yb, mb = _flip_x(torch_generator, x_t[idx], y_t[idx], m_t[idx])
        xb, yb, mb = _to(xb, device), _to(yb, device), _to(mb, device)
        sr = generator(xb)
        g_loss = masked_l1(sr, yb, mb)
        n = len(idx)
        d_total = math.nan
        if phase == "adversarial":
            # Real and fake images go through D in one batch: with separate batches, batch
            # norm would standardise each one on its own statistics and remove the
            # difference in texture (noise level, sharpness) that tells them apart.
            real = yb * mb
            d_opt.zero_grad(set_to_none=True)
            logits = discriminator(torch.cat([real, sr.detach() * mb]))
            labels = torch.cat([torch.ones_like(logits[:n]), torch.zeros_like(logits[n:])])
            d_loss = bce(logits, labels)
            d_loss.backward()
            d_opt.step()
            d_total = d_loss.item() * n
            judged = discriminator(torch.cat([real, sr * mb]))[n:]
            g_loss = g_loss + s["adversarial_weight"] * bce(judged, torch.ones_like(judged))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        return {"train_loss": g_loss.item() * n, "d_loss": d_total}

    return step


def train_superresolution(
    *,
    train: Sequence[Item],
    val: Sequence[Item],
    settings: Mapping[str, Any],
    seed: int,
    outputs: Mapping[str, PathLike],
    provenance: Mapping[str, Any],
    threads: int | None = None,
) -> None:
    """Train the super-resolution GAN on the training subjects; select on validation.

    Parameters
    ----------
    train, val
        One item per subject: (fast maps ``{"T1map", "T2map", "PDmap"}`` on the fast grid,
        routine maps on the routine grid, routine brain mask). Subjects are read from the
        ``sub-<id>`` entity of the mask file name; every file of an item must belong to it.
    settings
        ``channels``, ``residual_blocks``, ``pretrain_epochs``, ``adversarial_epochs``,
        ``adversarial_weight``, ``batch_size``, ``learning_rate`` (optional ``kernel_size``,
        ``scale``); missing keys take :data:`~qmrflow.studies.synthmri.superres.DEFAULT_SETTINGS`.
    seed
        Seeds initialisation, shuffling and augmentation; recorded in the metadata.
    outputs
        ``model``: checkpoint ``.pt`` (metadata ``.json`` beside it); ``history``: TSV with
        epoch, phase, train_loss, d_loss, val_loss, val_psnr, seconds per epoch.
    provenance
        Configuration that determines the model; stored and hashed into the metadata.
    threads
        CPU threads for torch.

    Raises
    ------
    InputDataError
        A file is unreadable, grids disagree (fast grid not the routine grid divided by the
        scale, mask on another grid), an empty mask, or an item mixing subjects.
    ValueError
        A subject in both train and val (or listed twice), no subjects, or invalid settings.

    Notes
    -----
    On the CPU a run is reproducible for a seed (same thread count): torch's deterministic
    algorithms are enabled for its duration.
    """
    s = resolve_settings(settings)
    train_subjects, x_train, y_train, m_train = load_pairs(train, s["scale"], "train")
    val_subjects, x_val, y_val, m_val = load_pairs(val, s["scale"], "val")
    overlap = sorted(set(train_subjects) & set(val_subjects))
    if overlap:
        raise ValueError(f"subjects in both train and val: {overlap}")
    logger.info(
        "super-resolution: %d training slices from %d subjects, %d validation slices from %d",
        len(x_train),
        len(train_subjects),
        len(x_val),
        len(val_subjects),
    )
    device = select_device(threads)
    with deterministic():
        torch_generator = seed_everything(seed)
        generator = build_generator(s).to(device, memory_format=torch.channels_last)
        discriminator = PatchDiscriminator(len(MAPS), channels=s["channels"]).to(
            device, memory_format=torch.channels_last
        )

        def validate() -> dict[str, float]:
            prediction = predict_batches(
                generator, x_val, device, 16, memory_format=torch.channels_last
            )
            l1, psnr = _pixel_metrics(np.clip(prediction, 0.0, NORMALISED_MAX), y_val, m_val)
            return {"val_loss": l1, "val_psnr": psnr}

        result = fit(
            generator,
            n_train=len(x_train),
            batch_size=s["batch_size"],
            schedule=["pretrain"] * s["pretrain_epochs"]
            + ["adversarial"] * s["adversarial_epochs"],
            train_step=_gan_step(
                generator, discriminator, (x_train, y_train, m_train), s, device, torch_generator
            ),
            evaluate=validate,
            generator=torch_generator,
            on_epoch_start=lambda _epoch: discriminator.train(),
        )
    bicubic = _pixel_metrics(
        generator.interpolate(torch.as_tensor(x_val)).clamp(0, NORMALISED_MAX).numpy(),
        y_val,
        m_val,
    )
    logger.info(
        "best epoch %d (%s): validation L1 %.4f, PSNR %.2f dB (bicubic interpolation: "
        "L1 %.4f, PSNR %.2f dB)",
        result.best_epoch,
        result.best["phase"],
        result.best["val_loss"],
        result.best["val_psnr"],
        *bicubic,
    )
    write_tsv(result.history, outputs["history"])
    metadata = training_metadata(
        study="synthmri",
        task="super-resolution of fast T1/T2/PD maps to the routine grid",
        seed=seed,
        provenance=provenance,
        training_subjects=train_subjects,
        validation_subjects=val_subjects,
        result=result,
        device=device,
        architecture="SRGAN generator (qmrflow.dl.superres.SRGenerator, bicubic base)",
        maps=list(MAPS),
        normalisation={
            "scales": SCALES,
            "log_compression_above": 1.0,
            "clip": [0.0, NORMALISED_MAX],
        },
        settings=s,
        n_train_slices=len(x_train),
        n_val_slices=len(x_val),
        generator_parameters=count_parameters(generator),
        discriminator_parameters=count_parameters(discriminator),
        val_loss_bicubic=bicubic[0],
        val_psnr_bicubic=bicubic[1],
    )
    program = export_program(generator.cpu(), torch.as_tensor(x_val[:1]), dynamic_dims=(0, 2, 3))
    save_checkpoint(result.state_dict, outputs["model"], metadata, program=program)
