"""DL super-resolution of the fast T1/T2/PD maps to the routine grid, with a spline baseline.

The fast protocol acquires half the phase-encoding lines (axis 1, y) over the same field of
view, so its maps have half the matrix along y (e.g. 96 x 56 for a 96 x 112 routine matrix).
An SRGAN generator (:class:`qmrflow.dl.superres.SRGenerator`, scale ``(1, 2)``) maps the three
fast maps of a slice, stacked as channels, to the routine grid; the routine maps are the
training target (as in the paper: routine maps are the reference standard).

Training (:func:`train_superresolution`, a group job on the ``train`` split, model selection on
``val``):

1. pixel-loss pre-training: masked L1 between the generator output and the routine maps
   (``pretrain_epochs``);
2. adversarial training (``adversarial_epochs``; Ledig et al. 2017): the discriminator ``D``
   and the generator ``G`` are updated alternately on every mini-batch with::

       L_D = BCE(D(y), 1) + BCE(D(G(x)), 0)
       L_G = L1_mask(G(x), y) + w_adv · BCE(D(G(x)), 1)

   where both images are multiplied by the brain mask before ``D`` sees them (the background
   is not trained, and would otherwise give the fakes away).

The checkpoint kept is the one with the lowest validation pixel loss over both phases.

Normalisation (fixed, identical in training and inference; :func:`normalise`): each map is
divided by a scale (T1 / 4000 ms, T2 / 300 ms, PD / 1.2) so that brain tissue lies in about
[0, 1]; values above 1 (CSF: T1 ≈ 4000-4500 ms, T2 ≈ 1500-2000 ms) are log-compressed,
``u ↦ 1 + ln u``, which is continuous with a continuous slope at 1, invertible and keeps CSF
from dominating the loss, and the result is clipped to [0, 4] (T2 up to 300·e³ ≈ 6000 ms).
The network output is clipped to the same range and mapped back with the inverse.

Baseline (:func:`spline_upsample`): cubic B-spline interpolation (``scipy.ndimage``, order 3)
of each fast slice at the routine voxel centres, located through the two affines.

Both functions run on the GPU a job was given and on the CPU otherwise
(:func:`qmrflow.dl.device.select_device`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torch import nn

from qmrflow.config import config_hash
from qmrflow.dl.checkpoint import check_not_trained_on, load_checkpoint, save_checkpoint
from qmrflow.dl.device import select_device
from qmrflow.dl.seed import seed_everything
from qmrflow.dl.superres import PatchDiscriminator, SRGenerator, count_parameters
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import load_nifti, save_nifti, write_tsv
from qmrflow.io.bids import subject_of

__all__ = [
    "DEFAULT_SETTINGS",
    "MAPS",
    "SCALES",
    "build_generator",
    "check_geometry",
    "denormalise",
    "normalise",
    "spline_upsample",
    "superresolve_subject",
    "train_superresolution",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Map keys, in channel order.
MAPS: tuple[str, ...] = ("T1map", "T2map", "PDmap")

#: Normalisation scale per map (ms for T1 and T2, fraction for PD): tissue lies in ~[0, 1].
SCALES: dict[str, float] = {"T1map": 4000.0, "T2map": 300.0, "PDmap": 1.2}

#: Upper clip of the normalised (log-compressed) values.
NORMALISED_MAX = 4.0

#: Training settings and their defaults (config ``synthmri.superresolution``).
#: Sized for the CPU demo (84 training slices of 96 x 56 -> 96 x 112: about 2 minutes on 2
#: cores); the paper-scale SRGAN is ``channels=64, residual_blocks=16, kernel_size=9``.
DEFAULT_SETTINGS: dict[str, Any] = {
    "channels": 32,
    "residual_blocks": 4,
    "pretrain_epochs": 20,
    "adversarial_epochs": 5,
    "adversarial_weight": 1e-3,
    "batch_size": 4,
    "learning_rate": 1e-3,
    "kernel_size": 3,
    "scale": [1, 2],
}

#: Tolerance (in routine voxels) on the alignment of the fast and routine grids.
GEOMETRY_TOLERANCE = 0.05

# --------------------------------------------------------------------------- normalisation


def normalise(values: np.ndarray, key: str) -> np.ndarray:
    """Fixed per-map normalisation to about [0, 1] (log-compressed above 1, clipped to [0, 4]).

    ``u = max(v, 0) / s``; ``n = u`` for ``u <= 1`` and ``n = 1 + ln u`` above; then
    ``n = clip(n, 0, 4)``, with ``s`` from :data:`SCALES`.
    """
    u = np.maximum(np.asarray(values, dtype=np.float32), 0.0) / np.float32(SCALES[key])
    n = np.where(u <= 1.0, u, 1.0 + np.log(np.maximum(u, 1.0)))
    return np.clip(n, 0.0, NORMALISED_MAX).astype(np.float32)


def denormalise(values: np.ndarray, key: str) -> np.ndarray:
    """Inverse of :func:`normalise` (input clipped to [0, 4] first)."""
    n = np.clip(np.asarray(values, dtype=np.float32), 0.0, NORMALISED_MAX)
    u = np.where(n <= 1.0, n, np.exp(n - 1.0))
    return (u * np.float32(SCALES[key])).astype(np.float32)


# --------------------------------------------------------------------------- settings / model


def resolve_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults completed with ``settings`` (unknown keys ignored), checked.

    Raises
    ------
    ValueError
        A value out of range.
    """
    resolved = {k: settings.get(k, v) for k, v in DEFAULT_SETTINGS.items()}
    resolved["scale"] = [int(s) for s in resolved["scale"]]
    for key in ("channels", "residual_blocks", "batch_size", "kernel_size"):
        resolved[key] = int(resolved[key])
        if resolved[key] < (0 if key == "residual_blocks" else 1):
            raise ValueError(f"superresolution setting {key} must be positive, got {resolved[key]}")
    for key in ("pretrain_epochs", "adversarial_epochs"):
        resolved[key] = int(resolved[key])
        if resolved[key] < 0:
            raise ValueError(f"superresolution setting {key} must be >= 0, got {resolved[key]}")
    if resolved["pretrain_epochs"] + resolved["adversarial_epochs"] < 1:
        raise ValueError("superresolution needs at least one epoch")
    resolved["learning_rate"] = float(resolved["learning_rate"])
    resolved["adversarial_weight"] = float(resolved["adversarial_weight"])
    if resolved["learning_rate"] <= 0 or resolved["adversarial_weight"] < 0:
        raise ValueError("learning_rate must be > 0 and adversarial_weight >= 0")
    if len(resolved["scale"]) != 2 or min(resolved["scale"]) < 1:
        raise ValueError(f"scale must be two positive integers, got {resolved['scale']}")
    return resolved


def build_generator(settings: Mapping[str, Any]) -> SRGenerator:
    """The generator described by (resolved) settings: 3 maps in, 3 maps out."""
    s = resolve_settings(settings)
    return SRGenerator(
        len(MAPS),
        len(MAPS),
        channels=s["channels"],
        residual_blocks=s["residual_blocks"],
        scale=tuple(s["scale"]),
        kernel_size=s["kernel_size"],
        base="bicubic",
    )


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Maps:
    """Three co-registered maps as (3, X, Y, Z) with their affine and the file names."""

    data: np.ndarray
    affine: np.ndarray
    path: Path


def _load_maps(paths: Mapping[str, PathLike], subject: str | None, role: str) -> _Maps:
    missing = [k for k in MAPS if k not in paths]
    if missing:
        raise ValueError(f"{role} maps: missing keys {missing} (need {list(MAPS)})")
    images = [load_nifti(paths[k], subject=subject, ndim=3) for k in MAPS]
    first = Path(paths[MAPS[0]])
    for key, image in zip(MAPS[1:], images[1:], strict=True):
        if image.data.shape != images[0].data.shape or not np.allclose(
            image.affine, images[0].affine, atol=1e-3
        ):
            raise InputDataError(
                f"{role} {key} grid (shape {image.data.shape}) differs from that of {first} "
                f"(shape {images[0].data.shape}) or its affine does",
                subject=subject,
                path=paths[key],
            )
    return _Maps(np.stack([i.data for i in images]), images[0].affine, first)


def _load_mask(
    path: PathLike, subject: str | None, shape: Sequence[int], affine: np.ndarray, grid: PathLike
) -> np.ndarray:
    image = load_nifti(path, subject=subject, ndim=3)
    if image.data.shape != tuple(shape) or not np.allclose(image.affine, affine, atol=1e-3):
        raise InputDataError(
            f"brain mask grid (shape {image.data.shape}) differs from that of the routine maps "
            f"{grid} (shape {tuple(shape)}) or its affine does",
            subject=subject,
            path=path,
        )
    return image.data > 0.5


def check_geometry(
    fast_shape: Sequence[int],
    fast_affine: np.ndarray,
    routine_shape: Sequence[int],
    routine_affine: np.ndarray,
    scale: Sequence[int],
    *,
    subject: str | None = None,
    fast_path: PathLike | None = None,
    routine_path: PathLike | None = None,
) -> np.ndarray:
    """Check that the fast grid is the routine grid divided by ``scale``; return the mapping.

    The fast grid must have ``routine_shape / (sx, sy, 1)`` voxels, ``(sx, sy, 1)`` times the
    routine voxel size along the same axes, the same slices, and the same field of view: fast
    voxel ``i`` along x spans routine voxels ``sx·i ... sx·i + sx - 1``, so its centre lies at
    routine index ``sx·i + (sx - 1) / 2`` (likewise along y).

    Returns
    -------
    numpy.ndarray
        4x4 matrix taking routine voxel indices to (fractional) fast voxel indices,
        ``inv(A_fast) @ A_routine``.

    Raises
    ------
    InputDataError
        Naming both files and what differs.
    """
    sx, sy = (int(s) for s in scale)
    expected = (routine_shape[0] / sx, routine_shape[1] / sy, routine_shape[2])
    where = f"fast maps {fast_path} vs routine grid {routine_path}"
    if tuple(fast_shape) != expected:
        raise InputDataError(
            f"{where}: fast grid shape {tuple(fast_shape)} x scale ({sx}, {sy}, 1) does not give "
            f"the routine grid shape {tuple(routine_shape)}",
            subject=subject,
            path=fast_path,
        )
    mapping = np.linalg.inv(fast_affine) @ routine_affine
    ideal = np.diag([1.0 / sx, 1.0 / sy, 1.0, 1.0])
    ideal[:3, 3] = [(1.0 / sx - 1.0) / 2.0, (1.0 / sy - 1.0) / 2.0, 0.0]
    if not np.allclose(mapping[:3, :3], ideal[:3, :3], atol=1e-3) or not np.allclose(
        mapping[:3, 3], ideal[:3, 3], atol=GEOMETRY_TOLERANCE
    ):
        raise InputDataError(
            f"{where}: the affines do not describe the same field of view with ({sx}, {sy}, 1) "
            f"times larger fast voxels (routine->fast index map {np.round(mapping[:3], 4)}, "
            f"expected {np.round(ideal[:3], 4)})",
            subject=subject,
            path=fast_path,
        )
    return mapping


def _slices(maps: np.ndarray) -> np.ndarray:
    """(3, X, Y, Z) normalised -> (Z, 3, X, Y) float32."""
    stacked = np.stack([normalise(maps[c], key) for c, key in enumerate(MAPS)])
    return np.ascontiguousarray(np.moveaxis(stacked, 3, 0), dtype=np.float32)


def _load_pairs(
    items: Sequence[tuple[Mapping[str, PathLike], Mapping[str, PathLike], PathLike]],
    scale: Sequence[int],
    role: str,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Slice pairs of a split: subjects, inputs (N,3,X,Yf), targets (N,3,X,Y), masks (N,1,X,Y)."""
    subjects, xs, ys, ms = [], [], [], []
    for fast_paths, routine_paths, mask_path in items:
        subject = subject_of(mask_path) or str(mask_path)
        for path in [*fast_paths.values(), *routine_paths.values()]:
            other = subject_of(path)
            if other is not None and other != subject:
                raise InputDataError(
                    f"{role} item mixes subjects: this file is sub-{other}, the mask "
                    f"{mask_path} is sub-{subject}",
                    subject=subject,
                    path=path,
                )
        fast = _load_maps(fast_paths, subject, "fast")
        routine = _load_maps(routine_paths, subject, "routine")
        mask = _load_mask(mask_path, subject, routine.data.shape[1:], routine.affine, routine.path)
        check_geometry(
            fast.data.shape[1:],
            fast.affine,
            routine.data.shape[1:],
            routine.affine,
            scale,
            subject=subject,
            fast_path=fast.path,
            routine_path=routine.path,
        )
        keep = mask.any(axis=(0, 1))
        if not keep.any():
            raise InputDataError("brain mask is empty", subject=subject, path=mask_path)
        subjects.append(subject)
        xs.append(_slices(fast.data)[keep])
        ys.append(_slices(routine.data * mask)[keep])
        ms.append(np.moveaxis(mask, 2, 0)[keep][:, None].astype(np.float32))
    if not subjects:
        raise ValueError(f"no {role} subjects given")
    duplicates = sorted({s for s in subjects if subjects.count(s) > 1})
    if duplicates:
        raise ValueError(f"{role} subjects listed twice: {duplicates}")
    return subjects, np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)


# --------------------------------------------------------------------------- training


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic torch algorithms inside the block, restoring the previous mode after."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
        torch.backends.cudnn.benchmark = previous_benchmark


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the voxels inside ``mask`` (N, 1, X, Y), all channels."""
    weight = mask.expand_as(prediction)
    return (torch.abs(prediction - target) * weight).sum() / weight.sum().clamp_min(1.0)


def _to(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    # channels_last: about twice as fast for these convolutions on the CPU (oneDNN).
    return torch.as_tensor(x).to(device).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def _predict(
    generator: nn.Module, x: np.ndarray, device: torch.device, batch_size: int = 16
) -> np.ndarray:
    """Generator output for a stack of slices (N, 3, X, Yf) in eval mode, as numpy."""
    generator.eval()
    outputs = [
        generator(_to(x[i : i + batch_size], device)).float().cpu().contiguous()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(outputs).numpy()


def _validate(
    generator: SRGenerator, x: np.ndarray, y: np.ndarray, m: np.ndarray, device: torch.device
) -> tuple[float, float]:
    """Masked L1 and PSNR (dB, normalised units: data range 1) on the validation slices."""
    prediction = np.clip(_predict(generator, x, device), 0.0, NORMALISED_MAX)
    return _pixel_metrics(prediction, y, m)


def _pixel_metrics(prediction: np.ndarray, y: np.ndarray, m: np.ndarray) -> tuple[float, float]:
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


def train_superresolution(
    *,
    train: Sequence[tuple[Mapping[str, PathLike], Mapping[str, PathLike], PathLike]],
    val: Sequence[tuple[Mapping[str, PathLike], Mapping[str, PathLike], PathLike]],
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
        ``scale``); missing keys take :data:`DEFAULT_SETTINGS`.
    seed
        Seeds initialisation, shuffling and augmentation; recorded in the metadata.
    outputs
        ``model``: checkpoint ``.pt`` (metadata ``.json`` beside it); ``history``: TSV with
        epoch, phase, train_loss, val_loss, val_psnr, d_loss per epoch.
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
    scale = s["scale"]
    train_subjects, x_train, y_train, m_train = _load_pairs(train, scale, "train")
    val_subjects, x_val, y_val, m_val = _load_pairs(val, scale, "val")
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
    with _deterministic():
        torch_generator = seed_everything(seed)
        generator = build_generator(s).to(device, memory_format=torch.channels_last)
        discriminator = PatchDiscriminator(len(MAPS), channels=s["channels"]).to(
            device, memory_format=torch.channels_last
        )
        result = _fit(
            generator,
            discriminator,
            (x_train, y_train, m_train),
            (x_val, y_val, m_val),
            s,
            device,
            torch_generator,
        )
    history, best = result
    interpolation = _pixel_metrics(
        generator.interpolate(torch.as_tensor(x_val)).clamp(0, NORMALISED_MAX).numpy(),
        y_val,
        m_val,
    )
    logger.info(
        "best epoch %d (%s): validation L1 %.4f, PSNR %.2f dB (bicubic interpolation: "
        "L1 %.4f, PSNR %.2f dB)",
        best["epoch"],
        best["phase"],
        best["val_loss"],
        best["val_psnr"],
        *interpolation,
    )
    write_tsv(history, outputs["history"])
    metadata = {
        "study": "synthmri",
        "task": "super-resolution of fast T1/T2/PD maps to the routine grid",
        "architecture": "SRGAN generator (qmrflow.dl.superres.SRGenerator, bicubic base)",
        "maps": list(MAPS),
        "normalisation": {
            "scales": SCALES,
            "log_compression_above": 1.0,
            "clip": [0.0, NORMALISED_MAX],
        },
        "settings": s,
        "seed": seed,
        "config_hash": config_hash(provenance),
        "provenance": dict(provenance),
        "training_subjects": sorted(train_subjects),
        "validation_subjects": sorted(val_subjects),
        "n_train_slices": len(x_train),
        "n_val_slices": len(x_val),
        "generator_parameters": count_parameters(generator),
        "discriminator_parameters": count_parameters(discriminator),
        "best_epoch": best["epoch"],
        "best_phase": best["phase"],
        "best_val_loss": best["val_loss"],
        "best_val_psnr": best["val_psnr"],
        "val_loss_bicubic": interpolation[0],
        "val_psnr_bicubic": interpolation[1],
        "epochs_run": len(history),
        "training_seconds": float(history.attrs.get("seconds", float("nan"))),
        "device": str(device),
    }
    save_checkpoint(best["state_dict"], outputs["model"], metadata)


def _fit(
    generator: SRGenerator,
    discriminator: PatchDiscriminator,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    s: Mapping[str, Any],
    device: torch.device,
    torch_generator: torch.Generator,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Pre-training then adversarial epochs; history and the best state by validation L1."""
    x_t, y_t, m_t = (torch.as_tensor(a) for a in train)
    g_opt = torch.optim.Adam(generator.parameters(), lr=s["learning_rate"])
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=s["learning_rate"])
    bce = nn.BCEWithLogitsLoss()
    weight = s["adversarial_weight"]
    phases = ["pretrain"] * s["pretrain_epochs"] + ["adversarial"] * s["adversarial_epochs"]
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_loss": math.inf}
    start_all = time.perf_counter()
    for epoch, phase in enumerate(phases, start=1):
        start = time.perf_counter()
        generator.train()
        discriminator.train()
        order = torch.randperm(len(x_t), generator=torch_generator)
        g_total, d_total = 0.0, 0.0
        for i in range(0, len(order), s["batch_size"]):
            idx = order[i : i + s["batch_size"]]
            xb, yb, mb = _flip_x(torch_generator, x_t[idx], y_t[idx], m_t[idx])
            xb, yb, mb = _to(xb, device), _to(yb, device), _to(mb, device)
            sr = generator(xb)
            pixel = masked_l1(sr, yb, mb)
            if phase == "pretrain":
                g_loss = pixel
            else:
                # Real and fake images go through D in one batch: with separate batches, batch
                # norm would standardise each one on its own statistics and remove the
                # difference in texture (noise level, sharpness) that tells them apart.
                real = yb * mb
                d_opt.zero_grad(set_to_none=True)
                logits = discriminator(torch.cat([real, sr.detach() * mb]))
                n = len(idx)
                labels = torch.cat([torch.ones_like(logits[:n]), torch.zeros_like(logits[n:])])
                d_loss = bce(logits, labels)
                d_loss.backward()
                d_opt.step()
                d_total += d_loss.item() * n
                judged = discriminator(torch.cat([real, sr * mb]))[n:]
                g_loss = pixel + weight * bce(judged, torch.ones_like(judged))
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            g_total += g_loss.item() * len(idx)
        val_loss, val_psnr = _validate(generator, *val, device)
        row = {
            "epoch": epoch,
            "phase": phase,
            "train_loss": g_total / len(x_t),
            "val_loss": val_loss,
            "val_psnr": val_psnr,
            "d_loss": d_total / len(x_t) if phase == "adversarial" else float("nan"),
        }
        rows.append(row)
        logger.info(
            "epoch %d (%s): train %.4f, val L1 %.4f, val PSNR %.2f dB, D %.4f (%.1f s)",
            epoch,
            phase,
            row["train_loss"],
            val_loss,
            val_psnr,
            row["d_loss"],
            time.perf_counter() - start,
        )
        if val_loss < best["val_loss"]:
            best = {
                **row,
                "state_dict": copy.deepcopy(
                    {k: v.detach().cpu() for k, v in generator.state_dict().items()}
                ),
            }
    if "state_dict" not in best:  # validation loss never finite: keep the last weights
        logger.warning("validation loss was never finite; keeping the last epoch's weights")
        state = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
        best = {**rows[-1], "state_dict": state}
    history = pd.DataFrame(rows, columns=list(rows[0]))
    history.attrs["seconds"] = time.perf_counter() - start_all
    generator.load_state_dict(best["state_dict"])
    return history, best


# --------------------------------------------------------------------------- inference


def spline_upsample(fast: np.ndarray, mapping: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Cubic B-spline interpolation of a fast volume at the routine voxel centres.

    Parameters
    ----------
    fast
        Fast-grid volume (X_f, Y_f, Z).
    mapping
        4x4 routine-index -> fast-index matrix from :func:`check_geometry` (slices coincide).
    shape
        Routine grid shape (X, Y, Z).

    Returns
    -------
    numpy.ndarray
        float32 (X, Y, Z). Each slice is interpolated in 2-D (``scipy.ndimage.affine_transform``,
        order 3, edges extended by the nearest value), so slices never mix.
    """
    matrix, offset = mapping[:2, :2], mapping[:2, 3]
    out = np.empty(tuple(shape), dtype=np.float32)
    for z in range(shape[2]):  # one 2-D spline per slice; a handful of slices
        out[..., z] = ndimage.affine_transform(
            fast[..., z].astype(np.float64),
            matrix,
            offset=offset,
            output_shape=tuple(shape[:2]),
            order=3,
            mode="nearest",
        )
    return out


def superresolve_subject(
    *,
    fast: Mapping[str, PathLike],
    reference: PathLike,
    mask: PathLike,
    model: PathLike,
    subject: str,
    outputs: Mapping[str, PathLike],
    threads: int | None = None,
    sha256: str | None = None,
) -> None:
    """Super-resolve a subject's fast maps with the trained generator and with cubic splines.

    Parameters
    ----------
    fast
        ``{"T1map", "T2map", "PDmap"}`` on the fast grid.
    reference
        A routine map: gives the output grid (shape and affine).
    mask
        Routine brain mask (on the reference grid); outputs are 0 outside it.
    model
        Checkpoint written by :func:`train_superresolution` (verified against the sha256 in
        its sidecar; the generator is rebuilt from the recorded settings).
    subject
        Participant label.
    outputs
        ``dl_T1map``, ``dl_T2map``, ``dl_PDmap``, ``spline_T1map``, ``spline_T2map``,
        ``spline_PDmap``: float32 NIfTI on the reference grid.
    threads
        CPU threads for torch.
    sha256
        Expected checksum of a model named in the config; None verifies against the checksum
        in the model's metadata.

    Raises
    ------
    InputDataError
        Unreadable files, fast grid x scale differs from the reference grid, mask on another grid.
    ModelError
        Bad checkpoint, or a subject the model was trained or selected on.
    """
    device = select_device(threads)
    checkpoint = load_checkpoint(model, expected_sha256=sha256, map_location="cpu")
    metadata = checkpoint.metadata
    check_not_trained_on(subject, metadata, model)
    if "settings" not in metadata:
        raise ModelError(f"{model}: metadata has no 'settings' to rebuild the generator from")
    recorded = metadata.get("normalisation", {}).get("scales", SCALES)
    if recorded != SCALES:
        raise ModelError(
            f"{model}: trained with map scales {recorded}, this version normalises with {SCALES}"
        )
    settings = resolve_settings(metadata["settings"])
    generator = build_generator(settings)
    try:
        generator.load_state_dict(checkpoint.state_dict)
    except RuntimeError as exc:
        raise ModelError(f"{model}: weights do not fit the recorded generator: {exc}") from exc
    generator = generator.to(device, memory_format=torch.channels_last).eval()

    maps = _load_maps(fast, subject, "fast")
    ref = load_nifti(reference, subject=subject, ndim=3)
    brain = _load_mask(mask, subject, ref.data.shape, ref.affine, reference)
    mapping = check_geometry(
        maps.data.shape[1:],
        maps.affine,
        ref.data.shape,
        ref.affine,
        settings["scale"],
        subject=subject,
        fast_path=maps.path,
        routine_path=reference,
    )
    start = time.perf_counter()
    with _deterministic():
        predicted = _predict(generator, _slices(maps.data), device)  # (Z, 3, X, Y)
    seconds = time.perf_counter() - start
    for c, key in enumerate(MAPS):
        dl = np.moveaxis(denormalise(predicted[:, c], key), 0, 2) * brain
        spline = np.maximum(spline_upsample(maps.data[c], mapping, ref.data.shape), 0.0) * brain
        save_nifti(dl.astype(np.float32), outputs[f"dl_{key}"], ref.affine)
        save_nifti(spline.astype(np.float32), outputs[f"spline_{key}"], ref.affine)
    logger.info(
        "sub-%s: super-resolved %d slices with %s in %.2f s (model sha256 %s)",
        subject,
        maps.data.shape[-1],
        device,
        seconds,
        checkpoint.sha256[:12],
    )
