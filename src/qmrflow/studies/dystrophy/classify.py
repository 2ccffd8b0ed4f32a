"""Training the dystrophinopathy classifiers and applying them per subject.

Training (a group job) sees only the subjects the participants table marks ``train`` (fitting)
and ``val`` (model selection); the list is stored in the checkpoint metadata, and applying a
model to any of those subjects is refused, so a test-set figure can never include a case the
model learnt from.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from qmrflow.config import config_hash
from qmrflow.dl.cam import class_activation_maps
from qmrflow.dl.checkpoint import check_not_trained_on, load_checkpoint, save_checkpoint
from qmrflow.dl.device import select_device
from qmrflow.dl.networks import architecture as describe
from qmrflow.dl.networks import build_classifier, freeze_backbone, load_backbone
from qmrflow.dl.seed import seed_everything
from qmrflow.dl.training import TrainConfig, predict_logits, train_binary_classifier
from qmrflow.errors import InputDataError, ModelError
from qmrflow.figures.overlay import overlay_grid, save_figure
from qmrflow.io import load_nifti, read_tsv, save_nifti, write_tsv

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def load_subject_crops(
    crops_path: PathLike, table_path: PathLike, subject: str, *, drop_inseparable: bool
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """A subject's ROI crops as a network input stack, with their ROI table and affine.

    Parameters
    ----------
    crops_path
        3D NIfTI (X, Y, slices) written by the ROI step.
    table_path
        The ROI table (one row per slice, with ``slice`` and ``separable``).
    subject
        Participant label (for errors).
    drop_inseparable
        Leave out slices whose legs could not be separated.

    Returns
    -------
    x : numpy.ndarray
        (N, 1, X, Y) float32.
    table : pandas.DataFrame
        The rows of the kept slices.
    affine : numpy.ndarray
        The crops' affine, for outputs written on the same grid.
    """
    image = load_nifti(crops_path, subject=subject, ndim=3)
    crops = image.data
    table = read_tsv(table_path, subject=subject)
    if len(table) != crops.shape[2]:
        raise InputDataError(
            f"{crops.shape[2]} crops but {len(table)} rows in {table_path}",
            subject=subject,
            path=crops_path,
        )
    keep = (
        table["separable"].astype(bool).to_numpy()
        if drop_inseparable
        else np.ones(len(table), dtype=bool)
    )
    x = np.moveaxis(crops, 2, 0)[keep][:, None]
    kept = table.loc[keep].reset_index(drop=True)
    return np.ascontiguousarray(x, dtype=np.float32), kept, image.affine


def _stack(
    subjects: Mapping[str, int],
    crops: Mapping[str, PathLike],
    tables: Mapping[str, PathLike],
    drop_inseparable: bool,
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for subject, label in subjects.items():
        x, _, _ = load_subject_crops(
            crops[subject], tables[subject], subject, drop_inseparable=drop_inseparable
        )
        xs.append(x)
        ys.append(np.full(len(x), label, dtype=np.float32))
    if not xs:
        raise ValueError("no subjects given")
    return np.concatenate(xs), np.concatenate(ys)


def train_architecture(
    architecture: str,
    *,
    train: Mapping[str, int],
    val: Mapping[str, int],
    crops: Mapping[str, PathLike],
    tables: Mapping[str, PathLike],
    model_config: Mapping[str, Any],
    seed: int,
    provenance: Mapping[str, Any],
    drop_inseparable: bool,
    out_model: PathLike,
    out_history: PathLike,
    threads: int | None = None,
) -> str:
    """Train one architecture on the training split, select on validation, write the checkpoint.

    Parameters
    ----------
    architecture
        Name in :data:`qmrflow.dl.networks.ARCHITECTURES`.
    train, val
        Subject label -> class (1 dystrophinopathy, 0 other) for the train and val splits.
    crops, tables
        Subject -> ROI crop stack and ROI table paths (train and val subjects).
    model_config
        The study's ``model`` config section (hyper-parameters, transfer learning).
    seed
        Training seed.
    provenance
        The configuration that determines the model (data, ROI, training), hashed into the
        metadata.
    drop_inseparable
        Leave out slices whose legs could not be separated.
    out_model, out_history
        Checkpoint path (sidecar JSON beside it) and learning-curve TSV.
    threads
        CPU threads for torch.

    Returns
    -------
    str
        sha256 of the written checkpoint.
    """
    overlap = set(train) & set(val)
    if overlap:
        raise ValueError(f"subjects in both train and val: {sorted(overlap)}")
    generator = seed_everything(seed)
    device = select_device(threads)
    x_train, y_train = _stack(train, crops, tables, drop_inseparable)
    x_val, y_val = _stack(val, crops, tables, drop_inseparable)
    logger.info(
        "%s: %d training images (%d positive) from %d cases, %d validation images from %d cases",
        architecture,
        len(y_train),
        int(y_train.sum()),
        len(train),
        len(y_val),
        len(val),
    )
    model = build_classifier(architecture)
    transfer = None
    backbone = model_config.get("pretrained_backbone")
    if backbone:
        checkpoint = load_checkpoint(
            backbone, expected_sha256=model_config.get("pretrained_sha256")
        )
        loaded = load_backbone(architecture, model, checkpoint.state_dict)
        trainable = freeze_backbone(architecture, model)
        transfer = {"backbone": str(backbone), "sha256": checkpoint.sha256, "tensors": len(loaded)}
        logger.info(
            "transfer learning: %d backbone tensors frozen, %d trainable parameters in "
            "the new head",
            len(loaded),
            trainable,
        )
    fields = TrainConfig.__dataclass_fields__
    config = TrainConfig(**{k: v for k, v in model_config.items() if k in fields})
    result = train_binary_classifier(
        model, x_train, y_train, x_val, y_val, config, device=device, generator=generator
    )
    write_tsv(result.history, out_history)
    metadata = {
        "study": "dystrophy",
        "architecture": architecture,
        "description": describe(architecture).description,
        "task": "dystrophinopathy (DMD/BMD) vs other muscle disease, one logit",
        "input_shape": list(x_train.shape[1:]),
        "seed": seed,
        "config_hash": config_hash(provenance),
        "train_config": dict(config.__dict__),
        "training_subjects": sorted(train),
        "validation_subjects": sorted(val),
        "n_train_images": len(y_train),
        "n_val_images": len(y_val),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "best_val_loss": float(result.history["val_loss"].min()),
        "trainable_parameters": result.trainable_parameters,
        "transfer_learning": transfer,
        "device": str(device),
    }
    return save_checkpoint(result.state_dict, out_model, metadata)


def load_model(
    architecture: str,
    path: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
) -> tuple[Any, dict]:
    """Build ``architecture`` and load a verified checkpoint into it.

    ``expected_sha256`` (a model named in the config) is checked instead of the checksum its
    metadata records.
    """
    checkpoint = load_checkpoint(path, expected_sha256=expected_sha256, map_location=device)
    recorded = checkpoint.metadata.get("architecture")
    if recorded and recorded != architecture:
        raise ModelError(f"{path}: holds a {recorded} model, expected {architecture}")
    model = build_classifier(architecture)
    model.load_state_dict(checkpoint.state_dict)
    return model.to(device).eval(), checkpoint.metadata


def classify_subject(
    subject: str,
    *,
    crops_path: PathLike,
    table_path: PathLike,
    models: Mapping[str, PathLike],
    primary: str,
    aggregation: str,
    sha256: Mapping[str, str | None] | None = None,
    drop_inseparable: bool,
    out_probabilities: PathLike,
    out_cam: PathLike,
    out_overlay: PathLike,
    threads: int | None = None,
) -> pd.DataFrame:
    """Probability per image and per case for every architecture; CAMs of the primary one.

    Parameters
    ----------
    subject
        Participant label.
    crops_path, table_path
        The subject's ROI crops and ROI table.
    models
        Architecture -> checkpoint path.
    sha256
        Architecture -> expected checksum of a model named in the config; None (or absent)
        verifies against the checksum in the model's metadata.
    primary
        Architecture whose class activation maps are written.
    aggregation
        ``mean`` or ``max`` of the image probabilities gives the case probability.
    drop_inseparable
        Mark slices whose legs could not be separated as not usable: they are classified, but
        the case probability ignores them and the evaluation leaves them out (as the paper
        did). A case with no usable slice gets no case probability (NaN).
    out_probabilities
        TSV: participant_id, architecture, level (image/case), slice, probability, usable.
    out_cam
        4D NIfTI (X, Y, slices, 2): the crop and the CAM of each slice.
    out_overlay
        PNG: every slice with its CAM overlaid and its probability.
    threads
        CPU threads for torch.

    Returns
    -------
    pandas.DataFrame
        The probability table.
    """
    device = select_device(threads)
    x, table, affine = load_subject_crops(crops_path, table_path, subject, drop_inseparable=False)
    usable = table["separable"].astype(bool).to_numpy() | (not drop_inseparable)
    if not usable.any():
        logger.warning(
            "sub-%s: the legs could not be separated on any slice; the case is excluded from "
            "the evaluation (its slices are still classified)",
            subject,
        )
    rows = []
    cam, primary_result = None, None
    for architecture, path in models.items():
        expected = (sha256 or {}).get(architecture)
        model, metadata = load_model(architecture, path, device, expected_sha256=expected)
        check_not_trained_on(subject, metadata, path)
        probability = 1.0 / (1.0 + np.exp(-predict_logits(model, x, device).astype(np.float64)))
        kept = probability[usable]
        case = (
            float("nan")
            if kept.size == 0
            else float(kept.mean() if aggregation == "mean" else kept.max())
        )
        rows.extend(
            {
                "architecture": architecture,
                "level": "image",
                "slice": int(s),
                "probability": p,
                "usable": bool(u),
            }
            for s, p, u in zip(table["slice"], probability, usable, strict=True)
        )
        rows.append(
            {
                "architecture": architecture,
                "level": "case",
                "slice": None,
                "probability": case,
                "usable": bool(usable.any()),
            }
        )
        if architecture == primary:
            cam = class_activation_maps(architecture, model, x, device)
            primary_result = (probability, case)
    if cam is None:
        raise ValueError(f"primary architecture {primary!r} is not among the models")
    result = pd.DataFrame(rows)
    result.insert(0, "participant_id", subject)
    result["slice"] = result["slice"].astype("Int64")
    write_tsv(result, out_probabilities)
    primary_probability, primary_case = primary_result
    titles = [
        f"slice {s}: p={p:.2f}" for s, p in zip(table["slice"], primary_probability, strict=True)
    ]
    figure = overlay_grid(
        list(x[:, 0]),
        list(cam),
        titles,
        suptitle=f"sub-{subject}: {primary} class activation maps, case p={primary_case:.2f}",
    )
    save_figure(figure, out_overlay)
    save_nifti(
        np.stack([np.moveaxis(x[:, 0], 0, 2), np.moveaxis(cam, 0, 2)], axis=3), out_cam, affine
    )
    return result
