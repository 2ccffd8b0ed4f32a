"""One-shot deep-learning registration of dynamic series: an affine then a deformable network.

The optimisation-based pipeline registers every frame to its robust-PCA reference frame by
iterative affine and B-spline optimisation. Here two MONAI networks predict the displacement in
one forward pass per frame (Schueler et al., JCMR 2026):

1. :class:`monai.networks.nets.GlobalNet` predicts an affine map (its affine head re-centred on
   the frame centre and rescaled to voxels, :class:`CentredAffineHead`) and outputs its dense
   displacement field (DDF) ``u_a``; the moving frame warped by it is ``m_a``.
2. :class:`monai.networks.nets.LocalNet` sees ``(m_a, fixed)`` and predicts a deformable DDF
   ``u_d`` (its output layer starts at zero, and the affine head at the identity, so an
   untrained network is the identity map).

Both networks see the frames average-pooled by ``settings.resolution`` (2 by default: the
motion is smooth, and it is about four times cheaper) and standardised per frame (zero mean,
unit variance: a dark pre-contrast frame looks to them like a bright one); both DDFs are
returned on the full grid, and the frame itself is warped, not its standardised copy.

Composition. The final image samples ``m_a`` at ``p + u_d(p)``, i.e. the moving frame at
``q + u_a(q)`` with ``q = p + u_d(p)``, so the total pull-back field is
``u(p) = u_d(p) + u_a(p + u_d(p))``. ``u_a`` is affine, ``u_a(q) = (A - I) q + b``, so
``u_a(p + u_d) = u_a(p) + J u_d(p)`` exactly, with ``J = A - I`` its (constant) Jacobian, read
from ``u_a`` by finite differences. Hence ``u = u_a + u_d + J u_d``: no resampling of fields,
and the output image is the moving frame warped once by ``u`` (one interpolation).

Inputs. The network sees ``(moving frame, fixed image)`` with the fixed image the per-pixel
temporal **median** of the normalised series (or its mean, ``settings.fixed``): it needs no
robust PCA at inference, shows the anatomy at the series' dominant position and does not depend
on the contrast of any single frame. The loss compares the warped frame with the robust-PCA
reference frame of the same time point (same contrast, motion-free). During training the fixed
image is the same summary of the *reference* series (``settings.training_fixed``): it lies
exactly in the geometry the loss aligns to, so the network learns "move the frame onto the
fixed image". The median of the unaligned frames lies up to ~0.75 voxel off that geometry, by
an amount that depends on the subject's breathing, which the network cannot know; trained with
it, it learned that noise. At inference it aligns every frame of a slice onto the frames'
median, one geometry per slice. Intensities are divided by the series' 99th percentile
(:func:`prepare_series`).

Augmentation. Every training frame is shifted by a random translation (uniform in
``+-settings.augment_shift`` voxels per axis) before it enters the network, its target
unchanged: the network sees more and larger motion than the training series hold.

Displacements follow :mod:`qmrflow.registration.warp`: ``(T, 2, X, Y)`` voxels, pull-back,
channel 0 along the first image axis (MONAI's ``Warp``/DDF order). Frames are warped by
:class:`GridWarp` (MONAI's ``Warp`` arithmetic, bilinear with border padding, its grid held as a
buffer so that the network exports to a torch-only program), which agrees with
:func:`qmrflow.registration.warp.warp_frames` (linear, nearest edge).

Loss. ``similarity(warped, reference) + affine_weight * similarity(affine-warped, reference)
+ smoothness_weight * bending_energy(u)``; bending energy vanishes on affine maps, so it only
penalises the deformable part. The similarity is ``1 - NCC`` by default (normalised
cross-correlation of each frame with its reference), or MSE on normalised intensities, or
MONAI's local normalised cross-correlation (slower). MSE weighs the dark pre-contrast frames
~100x less than the bolus and, their noise exceeding their anatomy's contrast, it is *lowered*
by warping them onto a flat region: the first trained networks did that (displacements of
100+ voxels on those frames). The correlation is blind to each frame's brightness and a flat
image scores zero.

Training runs on :func:`qmrflow.dl.training.fit`; the validation metric ``val_loss`` is the
same loss on the validation pairs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import BendingEnergyLoss, LocalNormalizedCrossCorrelationLoss
from monai.networks.nets import GlobalNet, LocalNet
from numpy.typing import ArrayLike
from torch import nn

from qmrflow.dl.inference import export_program
from qmrflow.dl.seed import deterministic, seed_everything
from qmrflow.dl.training import TrainResult, fit
from qmrflow.registration.oneshot import (
    RegistrationSettings,
    _to,
    prepare_series,
    register_series_dl,
    temporal_summary,
)

__all__ = [
    "CentredAffineHead",
    "GridWarp",
    "RegistrationLoss",
    "RegistrationSettings",
    "TwoStageRegistration",
    "build_registration_network",
    "inference_program",
    "ncc_loss",
    "prepare_series",
    "register_series_dl",
    "train_registration",
]

logger = logging.getLogger(__name__)

#: A training or validation item: a slice's frames ``(T, X, Y)`` and their RPCA reference.
SeriesPair = tuple[ArrayLike, ArrayLike]


# --------------------------------------------------------------------------- network


def _identity_grid(shape: Sequence[int]) -> torch.Tensor:
    """Voxel coordinates ``(2, X, Y)`` (float32)."""
    axes = [torch.arange(n, dtype=torch.float32) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


class GridWarp(nn.Module):
    """MONAI's :class:`~monai.networks.blocks.Warp` (bilinear, border) for one frame size.

    The same arithmetic as ``Warp``'s native path (``grid_sample`` with ``align_corners=True``
    on the identity grid plus the DDF), with the identity grid held as a buffer instead of being
    rebuilt and cached per batch size: the module then exports to a plain ATen graph
    (:mod:`qmrflow.dl.inference`).
    """

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("grid", _identity_grid(shape)[None], persistent=False)
        scale = torch.tensor([2.0 / max(n - 1, 1) for n in shape]).view(1, 2, 1, 1)
        self.register_buffer("scale", scale, persistent=False)

    def forward(self, image: torch.Tensor, ddf: torch.Tensor) -> torch.Tensor:
        """``image`` (N, C, X, Y) sampled at ``p + ddf(p)`` (ddf (N, 2, X, Y), voxels)."""
        grid = ((self.grid + ddf) * self.scale - 1.0).permute(0, 2, 3, 1).flip(-1)
        return F.grid_sample(
            image, grid, mode="bilinear", padding_mode="border", align_corners=True
        )


class CentredAffineHead(nn.Module):
    """GlobalNet's affine head about the frame centre, its DDF on the full-resolution grid.

    MONAI's :class:`~monai.networks.nets.regunet.AffineHead` maps the encoder features by one
    linear layer ``fc`` (initialised to the identity) to ``theta`` (2 x 3) and returns
    ``theta [p; 1] - p`` about voxel ``(0, 0)`` on the grid of the network's input. This head
    keeps ``fc`` (same weight names) but applies ``theta`` to coordinates centred on the frame
    (rotations and scalings about the heart rather than a corner: better conditioned), on the
    grid of the full-resolution frame when the networks see a down-sampled one.

    Units. ``theta = I + fc(features) * unit``, ``fc`` initialised to zero (the identity map):
    a unit output moves the frame by one voxel (translations) or one voxel at the frame's edge
    (matrix entries, scaled by the half-size). MONAI's head outputs ``theta`` directly; then
    Adam's first steps (each weight of ``fc``, over a thousand, moves by about the learning
    rate) change the matrix entries by order one, i.e. tens of voxels at the edge: training
    was unstable and the affine stage ended near the identity or blew up on unusual frames.
    """

    def __init__(self, fc: nn.Linear, shape: Sequence[int]) -> None:
        super().__init__()
        self.fc = fc
        grid = _identity_grid(shape)
        centre = torch.tensor([(n - 1) / 2.0 for n in shape]).view(2, 1, 1)
        padded = torch.cat([grid - centre, torch.ones_like(grid[:1])])
        self.register_buffer("padded", padded, persistent=False)
        self.register_buffer("centred", grid - centre, persistent=False)
        half = [1.0 / max((n - 1) / 2.0, 1.0) for n in shape]
        self.register_buffer(
            "unit",
            torch.tensor([[half[0], half[1], 1.0], [half[0], half[1], 1.0]]),
            persistent=False,
        )
        self.register_buffer("identity", torch.eye(2, 3), persistent=False)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.zero_()

    def theta(self, raw: torch.Tensor) -> torch.Tensor:
        """The affine matrices (N, 2, 3) about the centre, in voxels, of ``fc``'s outputs (N, 6)."""
        return self.identity + raw.reshape(-1, 2, 3) * self.unit

    def forward(self, x: Sequence[torch.Tensor], image_size: Sequence[int]) -> torch.Tensor:
        """Affine DDF (N, 2, X, Y) from the deepest features ``x[0]`` (``image_size`` unused)."""
        features = x[0]
        theta = self.theta(self.fc(features.reshape(features.shape[0], -1)))
        return torch.einsum("qij,bpq->bpij", self.padded, theta) - self.centred


def _affine_jacobian(ddf: torch.Tensor) -> torch.Tensor:
    """``J = A - I`` (N, 2, 2) of an affine DDF (N, 2, X, Y): ``J[:, i, j] = d u_i / d x_j``."""
    return torch.stack(
        [ddf[:, :, 1, 0] - ddf[:, :, 0, 0], ddf[:, :, 0, 1] - ddf[:, :, 0, 0]], dim=2
    )


class TwoStageRegistration(nn.Module):
    """GlobalNet (affine) then LocalNet (deformable) on ``(moving, fixed)`` batches.

    Both networks see the frames average-pooled by ``settings.resolution`` and standardised
    per frame and channel; the affine DDF is evaluated on the full-resolution grid and the
    deformable DDF is interpolated up to it (bilinear, values scaled to full-resolution voxels).

    Parameters
    ----------
    settings
        ``image_shape``, ``resolution``, ``channels``, ``affine_depth`` and
        ``deformable_levels`` are used.
    """

    def __init__(self, settings: RegistrationSettings) -> None:
        super().__init__()
        self.factor = settings.resolution
        small = [n // self.factor for n in settings.image_shape]
        self.affine = GlobalNet(
            image_size=small,
            spatial_dims=2,
            in_channels=2,
            num_channel_initial=settings.channels,
            depth=settings.affine_depth,
        )
        self.affine.output_block = CentredAffineHead(
            self.affine.output_block.fc, settings.image_shape
        )
        self.deformable = LocalNet(
            spatial_dims=2,
            in_channels=2,
            num_channel_initial=settings.channels,
            extract_levels=tuple(range(settings.deformable_levels + 1)),
            out_channels=2,
            out_kernel_initializer="zeros",  # starts as the identity map
            # Transposed-convolution up-sampling: the additive up-sampling block splits a
            # tensor into a list, which qmrflow.dl.inference.Program cannot run.
            use_additive_sampling=False,
        )
        self.warp = GridWarp(settings.image_shape)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Network input: average-pooled, each frame and channel at zero mean, unit variance."""
        x = x if self.factor == 1 else F.avg_pool2d(x, self.factor)
        centred = x - x.mean(dim=(2, 3), keepdim=True)
        std = (centred * centred).mean(dim=(2, 3), keepdim=True).sqrt()
        return centred / (std + 1e-6)

    def stages(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Total DDF, warped frame, affine DDF and affinely warped frame (N, ., X, Y) each."""
        if x.ndim != 4 or x.shape[1] != 2:
            raise ValueError(f"input must be (N, 2, X, Y) = (moving, fixed), got {tuple(x.shape)}")
        moving, fixed = x[:, :1], x[:, 1:]
        affine_ddf = self.affine(self._features(x))
        moved = self.warp(moving, affine_ddf)
        local_ddf = self.deformable(self._features(torch.cat([moved, fixed], dim=1)))
        if self.factor > 1:
            local_ddf = self.factor * F.interpolate(
                local_ddf, scale_factor=float(self.factor), mode="bilinear", align_corners=False
            )
        jacobian = _affine_jacobian(affine_ddf)
        ddf = affine_ddf + local_ddf + torch.einsum("nij,njxy->nixy", jacobian, local_ddf)
        return ddf, self.warp(moving, ddf), affine_ddf, moved

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 2, X, Y) (moving, fixed) -> total DDF (N, 2, X, Y), warped frame (N, 1, X, Y)."""
        ddf, warped, _, _ = self.stages(x)
        return ddf, warped


def build_registration_network(
    settings: RegistrationSettings | None = None,
) -> TwoStageRegistration:
    """The two-stage registration network (identity map before training); see the module notes."""
    return TwoStageRegistration(settings or RegistrationSettings())


# --------------------------------------------------------------------------- data


def _stack_pairs(
    pairs: Sequence[SeriesPair], settings: RegistrationSettings, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs ``(N, 2, X, Y)`` and targets ``(N, 1, X, Y)`` of every frame of ``pairs``.

    The fixed channel is the temporal summary of the reference series, or of the frames
    (``settings.training_fixed``).
    """
    if len(pairs) == 0:
        raise ValueError(f"the {name} set is empty")
    xs, ys = [], []
    for frames, reference in pairs:
        x, y, _ = prepare_series(
            frames, reference, fixed=settings.fixed, percentile=settings.percentile
        )
        assert y is not None
        if settings.training_fixed == "reference":
            x[:, 1] = temporal_summary(y[:, 0], settings.fixed)
        if x.shape[2:] != settings.image_shape:
            raise ValueError(
                f"{name} frames are {x.shape[2:]}, the network is built for "
                f"{settings.image_shape} (settings.image_shape)"
            )
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


# --------------------------------------------------------------------------- training


def ncc_loss(warped: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``1 - NCC``: one minus the normalised cross-correlation of each frame, batch mean.

    ``(N, 1, X, Y)`` each; 0 for frames equal up to brightness and contrast, 1 for a flat
    frame (or uncorrelated ones).
    """
    a = warped - warped.mean(dim=(2, 3), keepdim=True)
    b = reference - reference.mean(dim=(2, 3), keepdim=True)
    covariance = (a * b).mean(dim=(1, 2, 3))
    variances = (a * a).mean(dim=(1, 2, 3)) * (b * b).mean(dim=(1, 2, 3))
    return (1.0 - covariance / variances.clamp_min(1e-30).sqrt()).mean()


class RegistrationLoss(nn.Module):
    """Similarity of the (total and affine) warped frames to the reference plus smoothness.

    ``forward`` returns the total loss and its parts (``similarity``, ``affine_similarity``,
    ``smoothness``) as floats.
    """

    def __init__(self, settings: RegistrationSettings) -> None:
        super().__init__()
        self.settings = settings
        self.similarity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
        if settings.similarity == "ncc":
            self.similarity = ncc_loss
        elif settings.similarity == "lncc":
            self.similarity = LocalNormalizedCrossCorrelationLoss(
                spatial_dims=2, kernel_size=settings.lncc_kernel
            )
        else:
            self.similarity = nn.MSELoss()
        self.smoothness = BendingEnergyLoss()

    def forward(
        self, stages: Sequence[torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        ddf, warped, _, moved = stages
        similarity = self.similarity(warped, target)
        affine = self.similarity(moved, target)
        with warnings.catch_warnings():
            # MONAI's bending energy indexes with a list of slices (deprecated by torch, same
            # result; the tests check the energy on known fields).
            warnings.filterwarnings("ignore", "Using a non-tuple sequence", UserWarning)
            smooth = self.smoothness(ddf)
        s = self.settings
        loss = similarity + s.affine_weight * affine + s.smoothness_weight * smooth
        return loss, {
            "similarity": similarity.item(),
            "affine_similarity": affine.item(),
            "smoothness": smooth.item(),
        }


def _evaluate(
    model: TwoStageRegistration,
    loss_fn: RegistrationLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    batch_size: int,
) -> dict[str, float]:
    model.eval()
    sums: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb, yb = _to(x[i : i + batch_size], device), _to(y[i : i + batch_size], device)
        loss, parts = loss_fn(model.stages(xb), yb)
        for key, value in ({"loss": loss.item()} | parts).items():
            sums[key] = sums.get(key, 0.0) + value * len(xb)
    return {f"val_{key}": value / len(x) for key, value in sums.items()}


def _shift(
    model: TwoStageRegistration, x: torch.Tensor, limit: float, generator: torch.Generator
) -> torch.Tensor:
    """The moving frames of ``x`` translated by uniform random shifts in ``+-limit`` voxels."""
    shifts = (torch.rand(len(x), 2, 1, 1, generator=generator) * 2 - 1) * limit
    moving = model.warp(x[:, :1], shifts.to(x.device).expand(-1, -1, *x.shape[2:]))
    return torch.cat([moving, x[:, 1:]], dim=1)


def train_registration(
    train: Sequence[SeriesPair],
    val: Sequence[SeriesPair],
    *,
    settings: RegistrationSettings | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[TwoStageRegistration, TrainResult]:
    """Train the two-stage network unsupervised against robust-PCA reference frames.

    Parameters
    ----------
    train, val
        One item per slice series: ``(frames, reference)``, both ``(T, X, Y)``, the reference
        being the motion-free robust-PCA series of the same contrast per frame. Every frame is
        one training pair (randomly shifted by up to ``settings.augment_shift`` voxels in
        training).
    settings
        Network and schedule (:class:`RegistrationSettings`; frames must be ``image_shape``).
    seed
        Seeds initialisation and shuffling; on the CPU a run is reproducible for a seed (same
        thread count): torch's deterministic algorithms are enabled for its duration.
    device
        Where to train.

    Returns
    -------
    model : TwoStageRegistration
        With the weights of the epoch of lowest ``val_loss`` (on ``device``, eval mode).
    result : TrainResult
        History columns: epoch, train_loss, train_similarity, train_affine_similarity,
        train_smoothness, val_loss, val_similarity, val_affine_similarity, val_smoothness,
        seconds.
    """
    s = settings or RegistrationSettings()
    device = torch.device(device)
    x_train, y_train = _stack_pairs(train, s, "training")
    x_val, y_val = _stack_pairs(val, s, "validation")
    logger.info(
        "DL registration: %d training frames from %d series, %d validation frames from %d",
        len(x_train),
        len(train),
        len(x_val),
        len(val),
    )
    with deterministic():
        generator = seed_everything(seed)
        model = build_registration_network(s).to(device, memory_format=torch.channels_last)
        loss_fn = RegistrationLoss(s)
        optimiser = torch.optim.Adam(model.parameters(), lr=s.learning_rate)

        def step(idx: torch.Tensor, _phase: str | None) -> dict[str, float]:
            xb, yb = x_train[idx], _to(y_train[idx], device)
            if s.augment_shift > 0:
                with torch.no_grad():
                    xb = _shift(model, xb.to(device), s.augment_shift, generator)
            xb = _to(xb, device)
            optimiser.zero_grad(set_to_none=True)
            loss, parts = loss_fn(model.stages(xb), yb)
            loss.backward()
            optimiser.step()
            n = len(idx)
            return {"train_loss": loss.item() * n} | {
                f"train_{key}": value * n for key, value in parts.items()
            }

        result = fit(
            model,
            n_train=len(x_train),
            batch_size=s.batch_size,
            schedule=s.epochs,
            train_step=step,
            evaluate=lambda: _evaluate(model, loss_fn, x_val, y_val, device, 4 * s.batch_size),
            generator=generator,
            patience=s.patience,
            min_batch=2,  # batch norm
            scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=s.epochs),
        )
    logger.info(
        "best epoch %d: val_loss %.5f (similarity %.5f), %d parameters, %.1f s",
        result.best_epoch,
        result.best["val_loss"],
        result.best["val_similarity"],
        result.trainable_parameters,
        result.seconds,
    )
    return model.eval(), result


# --------------------------------------------------------------------------- inference


def inference_program(
    model: TwoStageRegistration, example: torch.Tensor | np.ndarray
) -> dict[str, torch.Tensor]:
    """The torch-only inference program of a trained network (checkpoint entries).

    ``example`` is an input batch ``(N, 2, X, Y)``; only the batch axis is dynamic (GlobalNet's
    affine head is built for one frame size). Empty, with a warning, if torch cannot export it.
    """
    was = next(model.parameters()).device
    entries = export_program(model.cpu(), torch.as_tensor(example, dtype=torch.float32))
    model.to(was)
    return entries
