"""Applying the trained dystrophinopathy classifiers to a subject (a per-subject job).

A model is refused on the subjects it was trained or selected on
(:func:`qmrflow.dl.checkpoint.check_not_trained_on`). Its checkpoint is verified by sha256 and
loaded with ``weights_only=True``; the network then runs from the inference program stored with
it (:mod:`qmrflow.dl.inference`: logits and class activation maps from one torch-only graph), so
the job does not import MONAI. A checkpoint without a program that loads here (written by
another torch, or by a user) is rebuilt as a MONAI network from its weights, the slow way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from qmrflow.dl.checkpoint import Checkpoint, check_not_trained_on, load_checkpoint
from qmrflow.dl.device import select_device
from qmrflow.dl.inference import load_program, predict_batches, predict_logits, program_header
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import load_nifti, read_tsv, save_nifti, write_tsv

if TYPE_CHECKING:
    import pandas as pd

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


@dataclass
class Classifier:
    """A verified classifier ready to run: its inference program, or the rebuilt MONAI network."""

    architecture: str
    checkpoint: Checkpoint
    device: torch.device
    run: Callable[[torch.Tensor], Any]
    has_cam: bool

    def logits(self, x: np.ndarray) -> np.ndarray:
        """One logit per image (N, C, X, Y)."""
        return predict_logits(self.run, x, self.device)

    def cams(self, x: np.ndarray) -> np.ndarray:
        """Class activation maps (N, X, Y), from the program or else with MONAI."""
        if self.has_cam:
            return predict_batches(self.run, x, self.device, output=1)
        from qmrflow.dl.cam import class_activation_maps

        model = self.run
        if not isinstance(model, torch.nn.Module):
            model = build_model(self.architecture, self.checkpoint, self.device)
        return class_activation_maps(self.architecture, model, x, self.device)


def build_model(architecture: str, checkpoint: Checkpoint, device: torch.device) -> torch.nn.Module:
    """The MONAI network of ``architecture`` with a checkpoint's weights (imports MONAI)."""
    from qmrflow.dl.networks import build_classifier

    model = build_classifier(architecture)
    try:
        model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as exc:
        raise ModelError(f"{checkpoint.path}: weights do not fit {architecture}: {exc}") from exc
    return model.to(device).eval()


def load_classifier(
    architecture: str,
    path: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
    program: bool = True,
) -> Classifier:
    """Verify a checkpoint and make it ready to run.

    Parameters
    ----------
    architecture
        The architecture the checkpoint must hold.
    path
        Checkpoint ``.pt`` file.
    device
        Where to run.
    expected_sha256
        Checksum of a model named in the config (else the one its metadata records).
    program
        Run the stored inference program when there is one; False always rebuilds the MONAI
        network (the way before inference programs; benchmarks compare the two).
    """
    checkpoint = load_checkpoint(path, expected_sha256=expected_sha256, map_location="cpu")
    recorded = checkpoint.metadata.get("architecture")
    if recorded and recorded != architecture:
        raise ModelError(f"{path}: holds a {recorded} model, expected {architecture}")
    if program:
        run = load_program(checkpoint.state_dict | checkpoint.program, str(path), device)
        if run is not None:
            # Two outputs, (logits, maps), where the architecture's CAM could be exported.
            has_cam = program_header(checkpoint.program)["outputs"] == 2
            return Classifier(architecture, checkpoint, device, run, has_cam)
    return Classifier(
        architecture, checkpoint, device, build_model(architecture, checkpoint, device), False
    )


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
    # pandas and matplotlib (~0.8 s of imports) are imported where the tables and the figure are
    # made, so the model is ready without them (benchmarks/inference_startup.py).
    import pandas as pd

    from qmrflow.figures.overlay import overlay_grid, save_figure

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
        classifier = load_classifier(architecture, path, device, expected_sha256=expected)
        check_not_trained_on(subject, classifier.checkpoint.metadata, path)
        probability = 1.0 / (1.0 + np.exp(-classifier.logits(x).astype(np.float64)))
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
            cam = classifier.cams(x)
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
