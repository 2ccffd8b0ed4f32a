"""Training the dystrophinopathy classifiers (a group job on the ``train`` and ``val`` splits).

Training sees only the subjects the participants table marks ``train`` (fitting) and ``val``
(model selection); the list is stored in the checkpoint metadata, and applying a model to any of
those subjects is refused (:mod:`qmrflow.studies.dystrophy.classify`), so a test-set figure can
never include a case the model learnt from.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from qmrflow.dl.cam import CamClassifier
from qmrflow.dl.checkpoint import load_checkpoint, save_checkpoint, training_metadata
from qmrflow.dl.device import select_device
from qmrflow.dl.inference import export_program
from qmrflow.dl.networks import architecture as describe
from qmrflow.dl.networks import build_classifier, freeze_backbone, load_backbone
from qmrflow.dl.seed import deterministic, seed_everything
from qmrflow.dl.training import TrainConfig, train_binary_classifier
from qmrflow.io import write_tsv
from qmrflow.studies.dystrophy.classify import load_subject_crops

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


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
    with deterministic():
        generator = seed_everything(seed)
        device = select_device(threads)
        x_train, y_train = _stack(train, crops, tables, drop_inseparable)
        x_val, y_val = _stack(val, crops, tables, drop_inseparable)
        logger.info(
            "%s: %d training images (%d positive) from %d cases, %d validation images from %d "
            "cases",
            architecture,
            len(y_train),
            int(y_train.sum()),
            len(train),
            len(y_val),
            len(val),
        )
        model = build_classifier(architecture)
        transfer = _transfer(architecture, model, model_config)
        fields = TrainConfig.__dataclass_fields__
        config = TrainConfig(**{k: v for k, v in model_config.items() if k in fields})
        result = train_binary_classifier(
            model, x_train, y_train, x_val, y_val, config, device=device, generator=generator
        )
    write_tsv(result.history, out_history)
    metadata = training_metadata(
        study="dystrophy",
        task="dystrophinopathy (DMD/BMD) vs other muscle disease, one logit",
        seed=seed,
        provenance=provenance,
        training_subjects=train,
        validation_subjects=val,
        result=result,
        device=device,
        architecture=architecture,
        description=describe(architecture).description,
        cam=describe(architecture).cam,
        input_shape=list(x_train.shape[1:]),
        train_config=dict(config.__dict__),
        n_train_images=len(y_train),
        n_val_images=len(y_val),
        transfer_learning=transfer,
    )
    program = inference_program(architecture, model.cpu(), x_train)
    return save_checkpoint(result.state_dict, out_model, metadata, program=program)


def _transfer(
    architecture: str, model: torch.nn.Module, model_config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Load and freeze a configured pretrained backbone (transfer learning); its record."""
    backbone = model_config.get("pretrained_backbone")
    if not backbone:
        return None
    checkpoint = load_checkpoint(backbone, expected_sha256=model_config.get("pretrained_sha256"))
    loaded = load_backbone(architecture, model, checkpoint.state_dict)
    trainable = freeze_backbone(architecture, model)
    logger.info(
        "transfer learning: %d backbone tensors frozen, %d trainable parameters in the new head",
        len(loaded),
        trainable,
    )
    return {"backbone": str(backbone), "sha256": checkpoint.sha256, "tensors": len(loaded)}


def inference_program(
    architecture: str, model: torch.nn.Module, x: np.ndarray
) -> dict[str, torch.Tensor]:
    """The torch-only inference program: logits and CAMs (logits only for Grad-CAM networks)."""
    example = torch.as_tensor(x[:1])
    arch = describe(architecture)
    if arch.cam != "cam":  # Grad-CAM needs gradients: the maps are computed with MONAI
        return export_program(model, example, dynamic_dims=(0, 2, 3))
    wrapper = CamClassifier(model, arch.feature_layer, arch.head)
    return export_program(wrapper, example, prefix="model.", dynamic_dims=(0, 2, 3))
