"""Applying a trained one-shot registration network: torch only, no MONAI.

A per-subject job imports this module, not :mod:`qmrflow.registration.deep` (which builds and
trains the networks with MONAI): it verifies the checkpoint, runs the torch-only inference
program stored in it (:mod:`qmrflow.dl.inference`), and aligns a slice's series in one forward
pass. The settings, the input preparation and the checkpoint format are defined here once, for
training and inference alike.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from qmrflow.dl.checkpoint import Checkpoint, check_not_trained_on, load_checkpoint, runnable
from qmrflow.errors import ModelError
from qmrflow.settings import settings_from_mapping

__all__ = [
    "DESIGN",
    "RegistrationSettings",
    "load_registration",
    "prepare_series",
    "register_series_dl",
    "temporal_summary",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Version of the network design, recorded in the settings. Design 1 (no ``design`` recorded)
#: had MONAI's raw affine head and unstandardised inputs: its weights do not fit design 2.
DESIGN = 2


@dataclass(frozen=True)
class RegistrationSettings:
    """Network and training hyper-parameters (defaults sized for a CPU demo, 64 x 64 frames).

    Attributes
    ----------
    image_shape
        Frame shape ``(X, Y)``; the networks are built for one size, divisible by
        ``resolution * 2 ** max(affine_depth, deformable_levels)``.
    resolution
        The networks see the frames average-pooled by this factor (2: 4 mm voxels in the demo;
        about 4x cheaper); the DDFs are returned on the full grid.
    channels
        Initial channels of both networks (doubled at each level; 8 is about 0.16 M weights,
        4 was too few for the affine stage).
    affine_depth
        Down-sampling levels of GlobalNet's encoder.
    deformable_levels
        LocalNet's depth; its DDF averages the outputs of levels ``0 .. deformable_levels``.
    fixed
        The fixed input: ``"median"`` or ``"mean"`` of the normalised series over time.
    training_fixed
        Whose summary is the fixed input in training: ``"reference"`` (of the motion-free
        reference series: the geometry the loss aligns to) or ``"frames"`` (as at inference).
    percentile
        Each series is divided by this percentile of its frames.
    similarity
        ``"ncc"`` (one minus the normalised cross-correlation per frame), ``"mse"``
        (normalised intensities: degenerate on dark, noisy frames) or ``"lncc"`` (MONAI's local
        normalised cross-correlation; about twice the training time).
    lncc_kernel
        LNCC window (voxels).
    smoothness_weight
        Weight of the bending energy of the total DDF (voxel units).
    affine_weight
        Weight of the similarity of the affinely warped frame (trains the affine stage to
        carry the global motion).
    augment_shift
        Training frames are shifted by random translations up to this many voxels per axis
        (0: none).
    epochs, batch_size, learning_rate
        Adam training schedule (cosine-annealed learning rate).
    patience
        Early stopping after this many epochs without a lower ``val_loss``; None: all epochs.
    design
        The network design (:data:`DESIGN`); set when checkpoints are read.
    """

    image_shape: tuple[int, int] = (64, 64)
    resolution: int = 2
    channels: int = 8
    affine_depth: int = 3
    deformable_levels: int = 2
    fixed: str = "median"
    training_fixed: str = "reference"
    percentile: float = 99.0
    similarity: str = "ncc"
    lncc_kernel: int = 7
    smoothness_weight: float = 0.1
    affine_weight: float = 0.5
    augment_shift: float = 3.0
    epochs: int = 16
    batch_size: int = 32
    learning_rate: float = 5e-3
    patience: int | None = None
    design: int = DESIGN

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.image_shape)
        if len(shape) != 2:
            raise ValueError(f"image_shape must be (X, Y), got {self.image_shape}")
        object.__setattr__(self, "image_shape", shape)
        if self.resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {self.resolution}")
        divisor = self.resolution * 2 ** max(self.affine_depth, self.deformable_levels)
        if any(n % divisor for n in shape):
            raise ValueError(f"image_shape {shape} must be divisible by {divisor}")
        if self.fixed not in ("median", "mean"):
            raise ValueError(f"fixed must be 'median' or 'mean', got {self.fixed!r}")
        if self.training_fixed not in ("reference", "frames"):
            raise ValueError(
                f"training_fixed must be 'reference' or 'frames', got {self.training_fixed!r}"
            )
        if self.similarity not in ("ncc", "mse", "lncc"):
            raise ValueError(f"similarity must be 'ncc', 'mse' or 'lncc', got {self.similarity!r}")
        if not (math.isfinite(self.augment_shift) and self.augment_shift >= 0):
            raise ValueError(f"augment_shift must be >= 0, got {self.augment_shift}")
        if self.design != DESIGN:
            raise ValueError(
                f"network design {self.design} is not this version's ({DESIGN}): retrain it"
            )

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | RegistrationSettings | None
    ) -> RegistrationSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused)."""
        return settings_from_mapping(cls, values, "registration settings", error=ValueError)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for checkpoint metadata."""
        return asdict(self) | {"image_shape": list(self.image_shape)}


def temporal_summary(stack: np.ndarray, fixed: str = "median") -> np.ndarray:
    """The per-pixel ``"median"`` or ``"mean"`` over time of a ``(T, X, Y)`` stack."""
    return np.median(stack, axis=0) if fixed == "median" else stack.mean(axis=0)


def prepare_series(
    frames: ArrayLike,
    reference: ArrayLike | None = None,
    *,
    fixed: str = "median",
    percentile: float = 99.0,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Network inputs of one slice's series, normalised by the series' percentile.

    Parameters
    ----------
    frames
        ``(T, X, Y)`` dynamic series.
    reference
        ``(T, X, Y)`` robust-PCA reference (training targets), or None at inference.
    fixed
        ``"median"`` or ``"mean"``: the temporal summary given to the network as fixed image.
    percentile
        Intensity scale: frames (and reference) are divided by this percentile of the frames.

    Returns
    -------
    x : numpy.ndarray
        ``(T, 2, X, Y)`` float32: normalised frame, fixed image.
    target : numpy.ndarray or None
        ``(T, 1, X, Y)`` float32 normalised reference.
    scale : float
        The divisor (1 for an all-zero series).
    """
    stack = np.asarray(frames, dtype=np.float32)
    if stack.ndim != 3:
        raise ValueError(f"frames must be (T, X, Y), got shape {stack.shape}")
    scale = float(np.percentile(stack, percentile))
    if not math.isfinite(scale) or scale <= 0:
        scale = 1.0
    norm = stack / np.float32(scale)
    summary = temporal_summary(norm, fixed)
    x = np.stack([norm, np.broadcast_to(summary, norm.shape)], axis=1).astype(np.float32)
    target = None
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float32)
        if ref.shape != stack.shape:
            raise ValueError(f"reference shape {ref.shape} differs from frames {stack.shape}")
        target = (ref / np.float32(scale))[:, None]
    return x, target, scale


def _to(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    # channels_last: about 1.5-2x faster for these small convolutions on the CPU (oneDNN).
    return x.to(device).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def register_series_dl(
    model: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    frames: ArrayLike,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    fixed: str = "median",
    percentile: float = 99.0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Align a slice's series in one forward pass per batch (no optimisation).

    Parameters
    ----------
    model
        A trained :class:`TwoStageRegistration` (or its exported program from
        :func:`inference_program`, run by :class:`qmrflow.dl.inference.Program`).
    frames
        ``(T, X, Y)`` series.
    device
        Where to run.
    batch_size
        Frames per forward pass (the default takes a 40-frame series in one).
    fixed, percentile
        As in training (:class:`RegistrationSettings`).

    Returns
    -------
    warped : numpy.ndarray
        ``(T, X, Y)`` float32 aligned frames in the input's intensity units; equal (to
        interpolation precision) to ``warp_frames(frames, displacement)``.
    displacement : numpy.ndarray
        ``(T, 2, X, Y)`` float32 pull-back field in voxels (:mod:`qmrflow.registration.warp`).
    seconds : float
        Wall time, preparation included.
    """
    start = time.perf_counter()
    device = torch.device(device)
    if isinstance(model, nn.Module):
        model.eval()
    x, _, scale = prepare_series(frames, fixed=fixed, percentile=percentile)
    inputs = torch.from_numpy(x)
    fields_, images = [], []
    for i in range(0, len(inputs), batch_size):
        ddf, warped = model(_to(inputs[i : i + batch_size], device))
        fields_.append(ddf.float().cpu())
        images.append(warped[:, 0].float().cpu())
    displacement = torch.cat(fields_).numpy()
    warped_frames = torch.cat(images).numpy() * np.float32(scale)
    seconds = time.perf_counter() - start
    return warped_frames.astype(np.float32, copy=False), displacement, seconds


def load_registration(
    path: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
    subject: str | None = None,
    program: bool = True,
) -> tuple[Callable[[torch.Tensor], Any], RegistrationSettings, Checkpoint]:
    """Verify a registration checkpoint and make it ready to run.

    Parameters
    ----------
    path
        Checkpoint ``.pt`` (verified by sha256, loaded with ``weights_only=True``).
    device
        Where to run.
    expected_sha256
        Checksum of a model named in the config (else the one its metadata records).
    subject
        The subject it will be applied to: refused if the model was trained or selected on it.
    program
        Run the stored inference program (no MONAI import); False, or a program that cannot run
        here, rebuilds the MONAI networks
        (:func:`qmrflow.registration.deep.build_registration_network`).

    Returns
    -------
    tuple
        The network (callable on ``(N, 2, X, Y)``, returning ``(ddf, warped)``), its settings
        and the checkpoint.

    Raises
    ------
    ModelError
        Bad checkpoint, no settings recorded, settings of another network design (trained
        before :data:`DESIGN`), weights that do not fit, or a subject it was trained on.
    """
    checkpoint = load_checkpoint(path, expected_sha256=expected_sha256, map_location="cpu")
    if subject is not None:
        check_not_trained_on(subject, checkpoint.metadata, path)
    if "settings" not in checkpoint.metadata:
        raise ModelError(f"{path}: metadata has no 'settings' to rebuild the network from")
    recorded = {"design": 1} | dict(checkpoint.metadata["settings"])
    try:
        settings = RegistrationSettings.from_mapping(recorded)
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from exc

    def build() -> torch.nn.Module:
        from qmrflow.registration.deep import build_registration_network

        return build_registration_network(settings)

    run = runnable(checkpoint, device, build, program=program)
    return run, settings, checkpoint
