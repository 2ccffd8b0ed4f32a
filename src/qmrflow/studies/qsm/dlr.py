"""Deep-learning reconstruction (DLR) of 3D-EPI multi-echo images: denoising and super-resolution
with soft k-space data consistency, phase preserved.

The 3D-EPI acquires only a central block of k-space in x and y (all of z) and has more noise than
the reference GRE; its conventional reconstruction (CR, :mod:`qmrflow.studies.qsm.recon`) is
zero-filled onto the GRE's grid. A network trained on the training split maps the EPI CR images
to the subject's GRE CR images (same grid, same echo times), and QSM is computed from its output
afterwards, so the phase must come out right, not only the magnitude.

Network (:class:`DlrNet`), applied to every axial slice ``(x, y)`` on its own:

- input channels: the real and imaginary parts of every echo, interleaved
  ``(Re e1, Im e1, Re e2, Im e2, ...)``, all divided by one robust scale per volume, the
  :data:`SCALE_PERCENTILE` th percentile of the echo-1 magnitude (:func:`volume_scale`), so that
  tissue lies near 1 whatever the receiver gain, and the output is multiplied back by it. Real
  and imaginary channels (not magnitude and phase) keep the map linear near zero signal and free
  of phase wraps;
- phase-referenced (:func:`phase_reference`): each echo is multiplied by the conjugate unit
  phasor of its own Gaussian-smoothed image (``phase_reference_px``) before the U-Net and by the
  phasor again after it. The U-Net then sees ``|x| e^{i dphi}`` with ``dphi`` the local phase
  (the tissue field, a fraction of a radian) instead of phasors turning with the background
  field (several radians across a slice near the sinuses, wrapping at late echoes): the same
  local structure looks the same wherever it is, in the real channel the magnitude and in the
  imaginary one the local field. On the demo (16 epochs) it took the validation NRMSE in the
  brain from 0.135 (CR) to 0.115, against 0.123 without, and the TKD-QSM RMSE against the truth
  from 151/199 % (CR, 2-/1-average EPI) to 92/106 %, against 114/138 % without. The reference is
  computed from the input alone and is exactly unit-modulus, so an untrained network is still
  the identity;
- a MONAI 2-D U-Net (``monai.networks.nets.UNet``) as a residual: ``x_net = x + U(x)``, its last
  layer initialised to zero so that an untrained network returns its input (training starts
  from CR and learns corrections);
- soft data consistency in the slice's 2-D k-space (centred orthonormal FFT, as
  :func:`qmrflow.recon.fourier.fftc`; the mask ``M`` is the acquired block)::

      X_dc = F^-1[ (1 - M) F(x_net) + M (F(x_net) + lam F(x_cr)) / (1 + lam) ]

  Since the acquired block covers every k_z, the 3-D mask is ``M(kx, ky)`` for every ``z`` and a
  per-slice 2-D transform is exact.

Training (:func:`train_dlr`) runs on :func:`qmrflow.dl.training.fit` with AdamW and a cosine
schedule on whole slices (a patch would break the slice FFT of the data consistency) of every
training subject and EPI acquisition (2- and 1-average together), slices without brain left out.
The loss (:func:`dlr_loss`) is the L1 of the real and imaginary parts plus ``phase_weight`` times
the L1 of the echo-to-echo product ``x_{e+1} conj(x_e)``: its phase is the field's phase accrued
between echoes, what QSM's field fit reads. Both weigh the voxels in the brain mask by 1 and the
rest of the slice by ``background_weight``: QSM draws its own mask from the reconstructed
magnitude, and its field fit and background removal read the phase of every voxel in it, so the
layer around the brain and the background must not be left to chance. With the loss in the brain
only they were: the DLR magnitude outside the brain came out brighter than CR's, QSM's masks (a
threshold without a noise floor then) grew into voxels of meaningless phase and the demo's DLR-QSM
was far worse than CR-QSM (TV RMSE 469 % against 391 % for the 1-average EPI; 201 % with the whole
slice in the loss). A small weight (0.1) keeps the background at the GRE's level at no cost in the
brain, where a weight of 1 spends the network on the background (brain NRMSE 0.122 against 0.115).
The validation NRMSE in the history is taken inside the brain. Augmentation reverses x (left-right)
only, with the k-space mask mapped to match: transposes or flips in y would change the acquired
block and the in-plane geometry against B0. The selected epoch has the lowest validation loss; the
history also records the validation NRMSE and that of the input (zero-filled CR) for comparison.

What the DLR does for QSM (the demo's 4 test subjects): it denoises the acquired k-space somewhat
better than the best linear (Wiener) filter would, but does not recover the field's unacquired high
frequencies. The local field comes out closer to the truth (sub-ms01: RMS error 5.8/6.4 ppb against
CR's 7.7/9.9 ppb for the 2-/1-average EPI) but, as any estimator that minimises the error at a
voxel SNR near 1 does, shrunk (slope against the truth 0.58 against CR's 0.72; the small, strong
sources, veins and the globus pallidus, most). The direct inversion (TKD), which has no regulariser
of its own, gains much from the lower noise (RMSE 92/106 % against 151/199 %, HFEN 80/94 % against
103/131 %); the regularised inversion (TV), which already suppresses the noise with an
edge-preserving prior scaled to the fitted noise, loses a little from the shrinkage (RMSE 80/83 %
against 76/81 %, HFEN 71/75 % against 67/73 %). No variant tried (loss weights, L2, normalisation,
sizes, 60 epochs, neighbouring slices as input) avoided this, nor does the data consistency: a
network that sees ``x_cr`` makes up for any finite ``lam`` (the learned value only trades off
against the U-Net; ``lam = 1`` fixed gave about the same QSM errors), and ``lam = inf`` keeps the
acquired samples and with them CR's QSM (the network's unacquired frequencies did not change it).
Linear filters of the CR images (Wiener and milder) showed the same: TKD better, TV worse; only the
GRE's own unacquired k-space, added to CR, improved TV (RMSE -13 to -25 %).

Why the network does not supply those frequencies: the small sources that carry them are barely
visible in the EPI. A one-voxel vein along B0 (0.4 ppm) has a TE3 phase of 1.46 rad in the GRE
(sub-ms01) but 0.08 rad in the 1-average EPI CR. Without noise it would be about 0.35 rad: the
truncated block keeps about a third of the vein's complex contrast and spreads it over the
neighbouring voxels. The phase noise there is about 0.2 rad. So the network's best guess is near
zero, and it does not restore the vein.

More variants were tried on the 4 test subjects, and none brought TV-QSM below CR's (RMSE / HFEN
in %, 1-average EPI; CR 81.0 / 73.0):

- a 4-level U-Net (32-256 features, 40 epochs) with hard data consistency: it cut the error of
  the unacquired k-space by 29 %, yet TV-QSM was 81.3 / 72.8;
- a phase-only (unit-phasor) loss term, with hard data consistency: the mean susceptibility in
  the veins stayed at CR's (TV 0.061 ppm, truth about 0.3);
- an L1 term on the smoothed error (against low-frequency bias);
- a learned radial profile of ``lam``;
- 5 neighbouring slices as input, soft or hard;
- an EPI SNR of 17.5 instead of 12: CR 76.3 / 67.2, DLR 79.9 / 69.4.

Only one variant put DLR-TV ahead of CR-TV, and only just: the 4-level U-Net with hard data
consistency (super-resolution only), 60 epochs, its loss weighted by the target's local phase at
the last echo (``1 + 10 |dphi|``). TV was 80.8 / 72.6 for the 1-average EPI and 74.9 / 66.6 for
the 2-average (CR 75.7 / 67.2), with CR's deep grey matter slopes. But its TKD did not improve
(198.6 / 129.8 and 151.8 / 100.9 against CR's 199.2 / 131.0 and 151.2 / 102.8), and it trains in
150 s on two cores. Denoising in the acquired block is what helps TKD, and it is also what costs
TV. Keeping the measured samples below a radius ``r0`` (cycles/voxel) trades one against the
other: at ``r0 = 0.25``, TKD was 145 / 126 (base DLR 107 / 94), TV 81.6 / 72.9, and the deep grey
matter slope against GRE-QSM was 0.91 (TKD; base DLR 0.69).

Checkpoints (:func:`train_and_save_dlr`, :func:`load_dlr`) go through
:mod:`qmrflow.dl.checkpoint` (sha256, training subjects, settings, seed, versions) and hold the
U-Net's torch-only inference program (:mod:`qmrflow.dl.inference`), so applying a model
(:func:`apply_dlr`) does not import MONAI; the phase referencing and the data consistency are
plain torch and run either way.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qmrflow.dl.checkpoint import (
    Checkpoint,
    check_not_trained_on,
    load_checkpoint,
    save_checkpoint,
    training_metadata,
)
from qmrflow.dl.inference import export_program, load_program
from qmrflow.dl.seed import deterministic, seed_everything
from qmrflow.errors import ConfigError, InputDataError, ModelError
from qmrflow.settings import settings_from_mapping

if TYPE_CHECKING:
    from qmrflow.dl.training import TrainResult

__all__ = [
    "ECHO_TIME_TOLERANCE",
    "SCALE_PERCENTILE",
    "DlrNet",
    "DlrSettings",
    "apply_dlr",
    "data_consistency",
    "dlr_loss",
    "fft2c",
    "flip_x",
    "from_channels",
    "ifft2c",
    "load_dlr",
    "nrmse",
    "phase_reference",
    "to_channels",
    "train_and_save_dlr",
    "train_dlr",
    "volume_scale",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Percentile of the echo-1 magnitude that a volume is divided by (recorded in checkpoints).
SCALE_PERCENTILE = 99.0

#: Relative difference of echo times up to which a trained network is applied to other data.
ECHO_TIME_TOLERANCE = 0.05

#: The learning rate of ``log lam`` relative to the network's.
DC_LEARNING_RATE_FACTOR = 10.0

#: Training volumes: (inputs, sampled, targets, masks), one entry per subject and acquisition.
Volumes = tuple[
    Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray]
]


#: The type of each :class:`DlrSettings` field (config values are converted to it).
_SETTING_KINDS: dict[str, type] = {
    "features": tuple,
    "epochs": int,
    "batch_size": int,
    "learning_rate": float,
    "weight_decay": float,
    "dc_weight": float,
    "learn_dc_weight": bool,
    "phase_weight": float,
    "phase_reference_px": float,
    "background_weight": float,
    "augment": bool,
    "slices_per_volume": int,
    "patience": int,
    "seed": int,
}


@dataclass(frozen=True)
class DlrSettings:
    """Network and training settings (the study's ``dlr`` config block).

    The defaults are sized for the CPU demo (about 300 slices of 64 x 80 with 3 echoes train in
    about 40 s on one core).

    Attributes
    ----------
    features
        U-Net feature channels per level, finest first (strides 2; plain convolution blocks,
        instance norm, PReLU). Three levels see ~30 voxels around a voxel: enough to learn the
        ringing of the truncated k-space and the local noise.
    epochs
        Training epochs (cosine learning-rate schedule over them).
    batch_size, learning_rate, weight_decay
        AdamW optimisation.
    dc_weight
        ``lam`` of the soft data consistency: the weight of the measured k-space samples
        against the network's (0 < lam; ``inf`` with ``learn_dc_weight=False``: hard data
        consistency). With ``learn_dc_weight`` it is the initial value.
    learn_dc_weight
        Learn ``lam`` (as ``log lam``, one scalar). The right weight is the ratio of the network's
        error to the noise in the acquired samples (the MAP estimate for Gaussian noise), which
        depends on the acquisition's noise and on how well the network denoises; neither is
        known beforehand, so it is fitted to the training pairs.
    phase_weight
        Weight of the echo-to-echo phase term of :func:`dlr_loss`.
    phase_reference_px
        Gaussian SD (voxels, in-plane) of the smoothed image whose phase every echo is referenced
        to around the U-Net (:func:`phase_reference`); 0 turns the referencing off. About two
        voxels: smooth enough not to follow the tissue field the network should see, narrow
        enough to follow the background field near the sinuses.
    background_weight
        Loss weight of the voxels outside the brain mask (the brain's is 1; 0: the brain only).
    augment
        Random left-right flips (x) of the training slices.
    slices_per_volume
        Slices sampled evenly from each volume's slices with brain (None: all of them).
    patience
        Early stop after this many epochs without a lower validation loss (None: never).
    seed
        Seeds initialisation, shuffling and augmentation.
    """

    features: tuple[int, ...] = (16, 32, 64)
    epochs: int = 16
    batch_size: int = 8
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    dc_weight: float = 1.0
    learn_dc_weight: bool = True
    phase_weight: float = 1.0
    phase_reference_px: float = 2.0
    background_weight: float = 0.1
    augment: bool = True
    slices_per_volume: int | None = None
    patience: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for key, kind in _SETTING_KINDS.items():
            value = getattr(self, key)
            if value is None and key in ("slices_per_volume", "patience"):
                continue
            try:
                if kind is bool and not isinstance(value, bool):
                    raise TypeError("not true or false")
                converted = tuple(int(c) for c in value) if kind is tuple else kind(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"dlr setting {key} is not valid: {value!r} ({exc})") from exc
            object.__setattr__(self, key, converted)

        def require(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(f"dlr setting {message}")

        require(
            len(self.features) >= 2 and min(self.features) >= 1,
            f"features needs >= 2 positive levels, got {list(self.features)}",
        )
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(self.phase_weight >= 0, f"phase_weight must be >= 0, got {self.phase_weight}")
        require(
            self.background_weight >= 0,
            f"background_weight must be >= 0, got {self.background_weight}",
        )
        require(
            0 <= self.phase_reference_px <= 64,
            f"phase_reference_px must be in [0, 64] voxels, got {self.phase_reference_px}",
        )
        require(self.dc_weight > 0, f"dc_weight must be > 0 (inf: hard), got {self.dc_weight}")
        require(
            not (math.isinf(self.dc_weight) and self.learn_dc_weight),
            "dc_weight inf (hard data consistency) cannot be learned: set learn_dc_weight false",
        )
        for key in ("slices_per_volume", "patience"):
            value = getattr(self, key)
            require(value is None or value >= 1, f"{key} must be >= 1 or null, got {value}")

    @property
    def pad_multiple(self) -> int:
        """Slices are zero-padded (right and bottom) to a multiple of this for the U-Net."""
        return 2 ** (len(self.features) - 1)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | DlrSettings | None) -> DlrSettings:
        """Settings from a config mapping (missing keys: defaults; unknown keys refused).

        Raises
        ------
        ConfigError
            Unknown keys, or values of the wrong type or out of range.
        """
        return settings_from_mapping(cls, values, "dlr settings")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (recorded in the checkpoint metadata; ``inf`` as a string)."""
        dc = "inf" if math.isinf(self.dc_weight) else self.dc_weight
        return dataclasses.asdict(self) | {"features": list(self.features), "dc_weight": dc}


# --------------------------------------------------------------------------- tensors


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D FFT over the last two axes (``qmrflow.recon.fourier.fftc``)."""
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), norm="ortho"), dims)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal inverse 2-D FFT over the last two axes (``ifftc``)."""
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=dims), norm="ortho"), dims)


def to_channels(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Complex ``(N, E, X, Y)`` -> float32 ``(N, 2E, X, Y)``: Re, Im of each echo, interleaved."""
    c = torch.as_tensor(images)
    stacked = torch.stack([c.real, c.imag], dim=2).to(torch.float32)
    return stacked.reshape(c.shape[0], 2 * c.shape[1], *c.shape[2:])


def from_channels(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_channels`: ``(N, 2E, X, Y)`` -> complex ``(N, E, X, Y)``."""
    pairs = x.reshape(x.shape[0], x.shape[1] // 2, 2, *x.shape[2:])
    return torch.complex(pairs[:, :, 0], pairs[:, :, 1])


def data_consistency(
    x_net: torch.Tensor, x_cr: torch.Tensor, sampled: torch.Tensor, lam: torch.Tensor | float
) -> torch.Tensor:
    """Soft k-space data consistency of complex slices ``(N, E, X, Y)``.

    ``F^-1[(1 - M) F(x_net) + M (F(x_net) + lam F(x_cr)) / (1 + lam)]`` with ``M`` the acquired
    mask ``(N, X, Y)`` or ``(X, Y)`` (bool or 0/1). ``lam = inf`` replaces the acquired samples
    by the measured ones (hard data consistency).

    Soft rather than hard: the acquired samples carry the EPI's noise (white over the acquired
    block, where most of the image's energy and so of the visible noise is). Hard consistency
    would put that noise back and undo the denoising inside the block; ``lam`` weighs the
    measurement against the network's estimate instead (lam = network error variance / noise
    variance is the MAP combination for Gaussian noise).
    """
    m = torch.as_tensor(sampled, device=x_net.device).to(x_net.real.dtype)
    m = m.unsqueeze(-3)  # broadcast over echoes
    k_net, k_cr = fft2c(x_net), fft2c(x_cr)
    if isinstance(lam, float) and math.isinf(lam):
        acquired = k_cr
    else:
        acquired = (k_net + lam * k_cr) / (1.0 + lam)
    return ifft2c(k_net + m * (acquired - k_net))


def phase_reference(images: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Unit phasors of Gaussian-smoothed complex slices ``(N, E, X, Y)`` (the same shape).

    The real and imaginary parts are smoothed in-plane (SD ``sigma_px`` voxels, reflected at the
    edges; a separable convolution in torch so that it runs with the stored inference program,
    which holds only the U-Net) and the result is divided by its modulus; where that is 0 the
    phasor is 1. ``images * phase_reference(images, s).conj()`` keeps each voxel's magnitude
    and leaves its phase relative to the smooth phase around it. ``sigma_px = 0``: all ones.
    """
    if sigma_px <= 0:
        return torch.ones_like(images)
    radius = max(1, math.ceil(3.0 * sigma_px))
    offsets = torch.arange(-radius, radius + 1, dtype=images.real.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    n, e, nx, ny = images.shape
    parts = torch.stack([images.real, images.imag], dim=2).reshape(n * e * 2, 1, nx, ny)
    # Reflection needs a pad narrower than the slice: clamp it (a wider kernel just sees less).
    pad_x, pad_y = min(radius, nx - 1), min(radius, ny - 1)
    parts = F.pad(parts, (0, 0, pad_x, pad_x), mode="reflect") if pad_x else parts
    parts = F.conv2d(parts, kernel[radius - pad_x : radius + pad_x + 1].view(1, 1, -1, 1))
    parts = F.pad(parts, (pad_y, pad_y, 0, 0), mode="reflect") if pad_y else parts
    parts = F.conv2d(parts, kernel[radius - pad_y : radius + pad_y + 1].view(1, 1, 1, -1))
    parts = parts.reshape(n, e, 2, nx, ny)
    smooth = torch.complex(parts[:, :, 0], parts[:, :, 1])
    modulus = smooth.abs()
    return torch.where(modulus > 0, smooth / modulus.clamp_min(1e-30), torch.ones_like(smooth))


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two axes (right and bottom) to a multiple of ``multiple``."""
    extra = [(-size) % multiple for size in x.shape[-2:]]
    return F.pad(x, (0, extra[1], 0, extra[0])) if any(extra) else x


class _Backbone(nn.Module):
    """Holds the U-Net under the attribute name :class:`DlrNet` uses, so that an exported
    program's weight names are the checkpoint's (``unet.*``)."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x)


class _ProgramBackbone(nn.Module):
    """A stored inference program in the place of the MONAI U-Net (no weights of its own here:
    the program holds them, on the device it was loaded to)."""

    def __init__(self, program: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.program = program

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)


def build_unet(n_echoes: int, settings: DlrSettings) -> nn.Module:
    """The MONAI 2-D U-Net of the settings, ``2E`` channels in and out, last layer zeroed."""
    from monai.networks.nets import UNet

    unet = UNet(
        spatial_dims=2,
        in_channels=2 * n_echoes,
        out_channels=2 * n_echoes,
        channels=settings.features,
        strides=(2,) * (len(settings.features) - 1),
        num_res_units=0,  # plain blocks: about twice as fast on the CPU; depth from the levels
    )
    # With no residual units the output is the last (transposed) convolution alone, so zeroing
    # it makes U(x) = 0 and the residual network the identity before training.
    last = [m for m in unet.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)][-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return unet


class DlrNet(nn.Module):
    """Phase-referenced residual MONAI U-Net over axial slices followed by soft k-space data
    consistency.

    Parameters
    ----------
    n_echoes
        Echoes ``E`` (the network has ``2E`` channels).
    settings
        Architecture and the data-consistency weight (:class:`DlrSettings` or a mapping).
    backbone
        Something that maps ``(N, 2E, Xp, Yp)`` to the U-Net's output, e.g. a stored inference
        program; None builds the MONAI U-Net (imports MONAI).

    Notes
    -----
    ``forward(x, sampled)`` takes scaled slices ``(N, 2E, X, Y)`` (:func:`to_channels`) and the
    acquired k-space mask ``(N, X, Y)`` or ``(X, Y)`` and returns ``(N, 2E, X, Y)``.
    """

    def __init__(
        self,
        n_echoes: int,
        settings: DlrSettings | Mapping[str, Any] | None = None,
        *,
        backbone: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.n_echoes = int(n_echoes)
        self.settings = DlrSettings.from_mapping(settings)
        if self.n_echoes < 1:
            raise ValueError(f"need at least one echo, got {n_echoes}")
        self.unet: nn.Module
        if backbone is None:
            self.unet = build_unet(self.n_echoes, self.settings)
        elif isinstance(backbone, nn.Module):
            self.unet = backbone
        else:
            self.unet = _ProgramBackbone(backbone)
        lam = self.settings.dc_weight
        log_lam = torch.tensor(math.log(lam) if math.isfinite(lam) else 0.0)
        if self.settings.learn_dc_weight:
            self.log_dc_weight = nn.Parameter(log_lam)
        else:
            self.register_buffer("log_dc_weight", log_lam)

    @property
    def dc_weight(self) -> float:
        """The data-consistency weight ``lam`` in use."""
        if math.isinf(self.settings.dc_weight):
            return math.inf
        return float(self.log_dc_weight.detach().exp())

    @property
    def device(self) -> torch.device:
        """Where the module's own tensors are."""
        return self.log_dc_weight.device

    def forward(self, x: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
        """Reconstruct scaled slices ``(N, 2E, X, Y)`` with their acquired mask."""
        if x.shape[1] != 2 * self.n_echoes:
            raise ValueError(f"expected {2 * self.n_echoes} channels, got {x.shape[1]}")
        size = x.shape[-2:]
        x_cr = from_channels(x)
        reference = phase_reference(x_cr, self.settings.phase_reference_px)
        referenced = to_channels(x_cr * reference.conj())
        padded = _pad(referenced, self.settings.pad_multiple)
        residual = self.unet(padded)[..., : size[0], : size[1]]
        x_net = from_channels(referenced + residual) * reference
        lam: torch.Tensor | float = (
            math.inf if math.isinf(self.settings.dc_weight) else self.log_dc_weight.exp()
        )
        return to_channels(data_consistency(x_net, x_cr, sampled, lam))


# --------------------------------------------------------------------------- data


def volume_scale(images: np.ndarray) -> float:
    """Robust magnitude scale of a multi-echo volume: the :data:`SCALE_PERCENTILE` th percentile
    of ``|echo 1|`` (1.0 where that is not positive, an empty image)."""
    value = float(np.percentile(np.abs(images[0]), SCALE_PERCENTILE))
    return value if value > 0 and math.isfinite(value) else 1.0


def flip_x(sampled: torch.Tensor) -> torch.Tensor:
    """The k-space mask ``(..., X, Y)`` of images reversed along x.

    Reversing ``i -> X - 1 - i`` maps the centred frequency ``k -> -k``: index ``j -> X - j``
    (mod X) for even X, ``j -> X - 1 - j`` for odd X. A centred block of even length is not
    symmetric about DC, so it moves by one line.
    """
    flipped = sampled.flip(-2)
    return torch.roll(flipped, 1, dims=-2) if sampled.shape[-2] % 2 == 0 else flipped


def _check_volume(
    images: np.ndarray,
    sampled: np.ndarray,
    target: np.ndarray | None,
    mask: np.ndarray | None,
    *,
    n_echoes: int | None,
    name: str | None,
) -> None:
    """Shapes, dtypes and finiteness of one volume's arrays (InputDataError naming ``name``)."""

    def fail(message: str) -> None:
        raise InputDataError(f"DLR: {message}", subject=name)

    if images.ndim != 4 or not np.iscomplexobj(images):
        fail(f"images must be complex (E, X, Y, Z), got {images.dtype} {images.shape}")
    if n_echoes is not None and images.shape[0] != n_echoes:
        fail(f"{images.shape[0]} echoes, the network has {n_echoes}")
    if sampled.shape != images.shape[1:3] or sampled.dtype != bool:
        fail(f"sampled mask must be bool {images.shape[1:3]}, got {sampled.dtype} {sampled.shape}")
    if not sampled.any():
        fail("sampled mask is empty (no acquired k-space)")
    if target is not None and target.shape != images.shape:
        fail(f"target shape {target.shape} differs from the input's {images.shape}")
    if mask is not None and mask.shape != images.shape[1:]:
        fail(f"mask shape {mask.shape} differs from the grid {images.shape[1:]}")
    for what, array in (("images", images), ("target", target)):
        if array is not None and not np.all(np.isfinite(array)):
            fail(f"{what} hold NaN or infinite values")


def _slice_indices(mask: np.ndarray, count: int | None) -> np.ndarray:
    keep = np.flatnonzero(mask.any(axis=(0, 1)))
    if count is None or count >= len(keep):
        return keep
    return keep[np.round(np.linspace(0, len(keep) - 1, count)).astype(int)]


@dataclass(frozen=True)
class _Slices:
    """Scaled slices of a split: inputs and targets (N, 2E, X, Y), brain masks (N, 1, X, Y),
    the acquired masks per volume (V, X, Y) and each slice's volume (N,)."""

    x: torch.Tensor
    y: torch.Tensor
    m: torch.Tensor
    sampled: torch.Tensor
    volume: torch.Tensor


def _prepare(
    volumes: Volumes, settings: DlrSettings, names: Sequence[str] | None, role: str
) -> _Slices:
    inputs, sampled, targets, masks = volumes
    if not (len(inputs) == len(sampled) == len(targets) == len(masks)):
        raise ValueError(
            f"DLR {role}: {len(inputs)} inputs, {len(sampled)} sampled masks, {len(targets)} "
            f"targets and {len(masks)} masks: need one of each per volume"
        )
    if not inputs:
        raise ValueError(f"DLR {role}: no volumes given")
    if names is not None and len(names) != len(inputs):
        raise ValueError(f"DLR {role}: {len(names)} names for {len(inputs)} volumes")
    n_echoes = np.asarray(inputs[0]).shape[0]
    xs, ys, ms, ss, vs = [], [], [], [], []
    for v, (images, acquired, target, mask) in enumerate(
        zip(inputs, sampled, targets, masks, strict=True)
    ):
        images, acquired, target = np.asarray(images), np.asarray(acquired), np.asarray(target)
        mask = np.asarray(mask, dtype=bool)
        name = None if names is None else names[v]
        _check_volume(images, acquired, target, mask, n_echoes=n_echoes, name=name)
        if acquired.shape != np.asarray(sampled[0]).shape:
            raise InputDataError(
                f"DLR {role}: grid {images.shape[1:]} differs from the first volume's",
                subject=name,
            )
        keep = _slice_indices(mask, settings.slices_per_volume)
        if len(keep) == 0:
            raise InputDataError(f"DLR {role}: the brain mask is empty", subject=name)
        scale = np.float32(volume_scale(images))
        xs.append(to_channels(np.moveaxis(images[..., keep], -1, 0) / scale))
        ys.append(to_channels(np.moveaxis(target[..., keep], -1, 0) / scale))
        ms.append(torch.from_numpy(np.moveaxis(mask[..., keep], -1, 0)[:, None]).float())
        ss.append(torch.from_numpy(acquired))
        vs.append(torch.full((len(keep),), v, dtype=torch.long))
    return _Slices(
        x=torch.cat(xs),
        y=torch.cat(ys),
        m=torch.cat(ms),
        sampled=torch.stack(ss).float(),
        volume=torch.cat(vs),
    )


# --------------------------------------------------------------------------- loss / metrics


def _echo_products(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Re and Im of ``x_{e+1} conj(x_e)`` for interleaved channels ``(N, 2E, X, Y)``."""
    pairs = x.reshape(x.shape[0], x.shape[1] // 2, 2, *x.shape[2:])
    a, b = pairs[:, :, 0], pairs[:, :, 1]
    return a[:, 1:] * a[:, :-1] + b[:, 1:] * b[:, :-1], b[:, 1:] * a[:, :-1] - a[:, 1:] * b[:, :-1]


def dlr_loss(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, phase_weight: float = 1.0
) -> torch.Tensor:
    """Weighted L1 of Re and Im plus ``phase_weight`` x weighted L1 of the echo-to-echo products.

    Parameters
    ----------
    prediction, target
        Scaled slices ``(N, 2E, X, Y)`` (:func:`to_channels`).
    mask
        Voxel weights ``(N, 1, X, Y)``: a 0/1 mask (e.g. the brain), or :func:`train_dlr`'s 1 in
        the brain and ``background_weight`` elsewhere; the terms are means over the weights.
    phase_weight
        Weight of the second term, ``mean |Re d| + |Im d|`` with
        ``d = x_{e+1} conj(x_e) - y_{e+1} conj(y_e)``: a difference of the phase accrued between
        echoes weighted by the magnitudes (smooth, no wrap, no division by a small magnitude).
        Zero for a single echo.
    """
    count = mask.sum().clamp_min(1.0)
    l1 = (torch.abs(prediction - target) * mask).sum() / (count * prediction.shape[1])
    if prediction.shape[1] < 4 or phase_weight == 0:
        return l1
    pr, pi = _echo_products(prediction)
    tr, ti = _echo_products(target)
    phase = ((torch.abs(pr - tr) + torch.abs(pi - ti)) * mask).sum() / (count * 2 * pr.shape[1])
    return l1 + phase_weight * phase


def nrmse(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Complex normalised RMSE ``||x - y|| / ||y||`` over the voxels in ``mask`` (all echoes)."""
    diff = np.abs(np.asarray(prediction) - np.asarray(target)) ** 2
    power = np.abs(np.asarray(target)) ** 2
    if mask is not None:
        weight = np.broadcast_to(np.asarray(mask, dtype=bool), diff.shape)
        diff, power = diff[weight], power[weight]
    return float(np.sqrt(diff.sum() / max(float(power.sum()), 1e-30)))


def _channel_nrmse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """:func:`nrmse` of interleaved channels (the squared Re and Im add up to ``|d|^2``)."""
    error = (((prediction - target) ** 2) * mask).sum()
    power = ((target**2) * mask).sum().clamp_min(1e-30)
    return float(torch.sqrt(error / power))


# --------------------------------------------------------------------------- training


def _loss_weight(brain: torch.Tensor, settings: DlrSettings) -> torch.Tensor:
    """Loss weight per voxel: 1 in the brain, ``background_weight`` outside it."""
    return brain + settings.background_weight * (1.0 - brain)


@torch.no_grad()
def _predict(model: DlrNet, data: _Slices, device: torch.device, batch_size: int) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(data.x), batch_size):
        sl = slice(i, i + batch_size)
        sampled = data.sampled[data.volume[sl]].to(device)
        out.append(model(data.x[sl].to(device), sampled).cpu())
    return torch.cat(out)


def train_dlr(
    inputs: Sequence[np.ndarray],
    sampled: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    settings: DlrSettings | Mapping[str, Any] | None = None,
    *,
    val: Volumes | None = None,
    device: torch.device | None = None,
    names: Sequence[str] | None = None,
    val_names: Sequence[str] | None = None,
) -> tuple[DlrNet, TrainResult]:
    """Train the DLR network on slices of every training volume.

    Parameters
    ----------
    inputs
        EPI CR images, complex ``(E, X, Y, Z)``, one per subject and acquisition (2- and
        1-average alike).
    sampled
        The acquired in-plane k-space block of each, bool ``(X, Y)``.
    targets
        The subject's reference (GRE) CR images on the same grid and echo times.
    masks
        Brain masks ``(X, Y, Z)``: slices without brain are left out, the validation NRMSE is
        taken inside, and the loss weighs the rest of the slice by ``background_weight``
        (module docstring).
    settings
        :class:`DlrSettings` (or a mapping of them; None: the defaults).
    val
        ``(inputs, sampled, targets, masks)`` of the validation volumes, for model selection
        on their loss; None selects on the training loss.
    device
        Where to train (default :func:`qmrflow.dl.device.select_device`).
    names, val_names
        A label per volume (e.g. ``"001 epi1avg"``) for error messages.

    Returns
    -------
    tuple
        The network with the selected weights (on ``device``, eval mode) and the training result;
        its history has ``train_loss`` and, with ``val``, ``val_loss``, ``val_nrmse`` and
        ``val_nrmse_input`` (the zero-filled CR's) per epoch.

    Raises
    ------
    InputDataError
        Arrays of the wrong shape or type, NaNs, an empty brain mask or sampling mask.
    ValueError
        Lists of different lengths or no volumes.

    Notes
    -----
    Reproducible for a seed on the CPU (same thread count): torch's deterministic algorithms
    are on for the duration.
    """
    from qmrflow.dl.training import fit

    s = DlrSettings.from_mapping(settings)
    if device is None:
        from qmrflow.dl.device import select_device

        device = select_device()
    train = _prepare((inputs, sampled, targets, masks), s, names, "training")
    n_echoes = train.x.shape[1] // 2
    valid = None if val is None else _prepare(val, s, val_names, "validation")
    if valid is not None and (valid.x.shape[1:], valid.sampled.shape[1:]) != (
        train.x.shape[1:],
        train.sampled.shape[1:],
    ):
        raise ValueError(
            f"DLR validation slices {tuple(valid.x.shape[1:])} differ from the training "
            f"slices {tuple(train.x.shape[1:])} (echoes x 2, X, Y)"
        )
    logger.info(
        "DLR: %d training slices from %d volumes, %d validation slices, %d echoes, %s",
        len(train.x),
        len(inputs),
        0 if valid is None else len(valid.x),
        n_echoes,
        device,
    )
    with deterministic():
        generator = seed_everything(s.seed)
        model = DlrNet(n_echoes, s).to(device)
        # log(lam) is one scalar whose Adam steps are about the learning rate: at the network's
        # rate it could move only by a factor of ~e^0.5 over a demo's few hundred steps.
        dc = [p for p in [model.log_dc_weight] if p.requires_grad]
        optimiser = torch.optim.AdamW(
            [
                {"params": list(model.unet.parameters()), "weight_decay": s.weight_decay},
                {
                    "params": dc,
                    "lr": DC_LEARNING_RATE_FACTOR * s.learning_rate,
                    "weight_decay": 0.0,
                },
            ],
            lr=s.learning_rate,
        )

        def step(idx: torch.Tensor, _phase: str | None) -> dict[str, float]:
            xb, yb, mb = train.x[idx], train.y[idx], train.m[idx]
            kb = train.sampled[train.volume[idx]]
            if s.augment:
                flip = (torch.rand(len(idx), generator=generator) < 0.5).view(-1, 1, 1, 1)
                xb, yb, mb = (torch.where(flip, t.flip(-2), t) for t in (xb, yb, mb))
                kb = torch.where(flip[:, 0], flip_x(kb), kb)
            optimiser.zero_grad(set_to_none=True)
            prediction = model(xb.to(device), kb.to(device))
            loss = dlr_loss(
                prediction, yb.to(device), _loss_weight(mb, s).to(device), s.phase_weight
            )
            loss.backward()
            optimiser.step()
            return {"train_loss": loss.item() * len(idx)}

        baseline = math.nan if valid is None else _channel_nrmse(valid.x, valid.y, valid.m)

        def evaluate() -> dict[str, float]:
            if valid is None:
                return {"dc_weight": model.dc_weight}
            prediction = _predict(model, valid, device, max(s.batch_size, 16))
            weight = _loss_weight(valid.m, s)
            return {
                "val_loss": float(dlr_loss(prediction, valid.y, weight, s.phase_weight)),
                "val_nrmse": _channel_nrmse(prediction, valid.y, valid.m),
                "val_nrmse_input": baseline,
                "dc_weight": model.dc_weight,
            }

        result = fit(
            model,
            n_train=len(train.x),
            batch_size=s.batch_size,
            schedule=s.epochs,
            train_step=step,
            evaluate=evaluate,
            generator=generator,
            monitor="train_loss" if valid is None else "val_loss",
            patience=s.patience,
            scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=s.epochs),
        )
    model.eval()
    if valid is not None:
        logger.info(
            "DLR best epoch %d: validation NRMSE %.4f (zero-filled CR %.4f), lam %.3g",
            result.best_epoch,
            result.best["val_nrmse"],
            baseline,
            model.dc_weight,
        )
    return model, result


def train_and_save_dlr(
    inputs: Sequence[np.ndarray],
    sampled: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    model_path: PathLike,
    subjects: Sequence[str],
    settings: DlrSettings | Mapping[str, Any] | None = None,
    seed: int | None = None,
    val: Volumes | None = None,
    val_subjects: Sequence[str] = (),
    provenance: Mapping[str, Any] | None = None,
    history_path: PathLike | None = None,
    echo_times: Sequence[float] | None = None,
    device: torch.device | None = None,
    threads: int | None = None,
    program: bool = True,
) -> dict[str, Any]:
    """The study's DLR training job: train, write the checkpoint (and history); its metadata.

    Parameters
    ----------
    inputs, sampled, targets, masks, val
        As :func:`train_dlr`.
    model_path
        Checkpoint ``.pt`` (metadata ``.json`` beside it, :mod:`qmrflow.dl.checkpoint`).
    subjects
        The subject of each training volume (repeated for its acquisitions); recorded as the
        training subjects, which the model is then refused on (:func:`load_dlr`).
    settings
        :class:`DlrSettings` or a mapping.
    seed
        Training seed (replaces the settings' ``seed`` when given); recorded.
    val_subjects
        The subject of each validation volume.
    provenance
        Configuration that determines the model; stored and hashed (default: the settings).
    history_path
        Optional TSV of the per-epoch history.
    echo_times
        Echo times (s) of the training data, recorded (a model is for these echo times).
    device, threads
        Where to train (default :func:`qmrflow.dl.device.select_device`) and CPU threads.
    program
        Store the U-Net's torch-only inference program too.

    Returns
    -------
    dict
        The metadata written beside the checkpoint (with its ``sha256``).

    Raises
    ------
    ValueError
        A subject in both training and validation, or subject lists that do not match the
        volumes; and what :func:`train_dlr` raises.
    """
    from qmrflow.dl.device import select_device
    from qmrflow.io import write_tsv

    s = DlrSettings.from_mapping(settings)
    if seed is not None:
        s = dataclasses.replace(s, seed=int(seed))
    if len(subjects) != len(inputs):
        raise ValueError(f"{len(subjects)} subjects for {len(inputs)} training volumes")
    val_subjects = list(val_subjects)
    if val is not None and len(val_subjects) != len(val[0]):
        raise ValueError(f"{len(val_subjects)} subjects for {len(val[0])} validation volumes")
    overlap = sorted(set(subjects) & set(val_subjects))
    if overlap:
        raise ValueError(f"subjects in both training and validation: {overlap}")
    if device is None:
        device = select_device(threads)
    elif threads:
        torch.set_num_threads(threads)
    model, result = train_dlr(
        inputs,
        sampled,
        targets,
        masks,
        s,
        val=val,
        device=device,
        names=[f"{name} (training volume {i})" for i, name in enumerate(subjects)],
        val_names=[f"{name} (validation volume {i})" for i, name in enumerate(val_subjects)],
    )
    if history_path is not None:
        write_tsv(result.history, history_path)
    n_echoes = model.n_echoes
    shape = np.asarray(inputs[0]).shape
    metadata = training_metadata(
        study="qsm",
        task="DL reconstruction of 3D-EPI multi-echo images (denoising, super-resolution)",
        seed=s.seed,
        provenance=dict(provenance) if provenance is not None else {"dlr": s.as_dict()},
        training_subjects=set(subjects),
        validation_subjects=set(val_subjects),
        result=result,
        device=device,
        architecture=(
            "MONAI UNet 2-D over axial slices, residual, + soft k-space data consistency "
            "(qmrflow.studies.qsm.dlr.DlrNet)"
        ),
        n_echoes=n_echoes,
        echo_times=None if echo_times is None else [float(t) for t in echo_times],
        inputs="Re/Im of each echo, interleaved",
        normalisation={"echo1_magnitude_percentile": SCALE_PERCENTILE},
        settings=s.as_dict(),
        dc_weight_learned=model.dc_weight if math.isfinite(model.dc_weight) else "inf",
        grid=list(shape[1:]),
        n_train_volumes=len(inputs),
        n_val_volumes=0 if val is None else len(val[0]),
    )
    entries: dict[str, torch.Tensor] = {}
    if program:
        example = torch.zeros(1, 2 * n_echoes, *shape[1:3])
        entries = export_program(
            _Backbone(model.unet).cpu().eval(),
            _pad(example, s.pad_multiple),
            dynamic_dims=(0, 2, 3),
        )
    digest = save_checkpoint(result.state_dict, model_path, metadata, program=entries)
    model.to(device)
    return metadata | {"sha256": digest}


# --------------------------------------------------------------------------- inference


def load_dlr(
    path: PathLike,
    sha256: str | None = None,
    *,
    device: torch.device | str = "cpu",
    subject: str | None = None,
    echo_times: Sequence[float] | None = None,
    program: bool = True,
) -> tuple[DlrNet, DlrSettings, Checkpoint]:
    """Verify a DLR checkpoint and rebuild the network, ready to run (eval mode).

    Parameters
    ----------
    path
        Checkpoint ``.pt`` (verified by sha256, loaded with ``weights_only=True``).
    sha256
        Checksum of a model named in the config (else the one its metadata records).
    device
        Where to run.
    subject
        The subject it will be applied to: refused if the model was trained or selected on it.
    echo_times
        The echo times (s) of the data it will be applied to: refused if the model records
        others (another number, or any more than :data:`ECHO_TIME_TOLERANCE` off relatively).
    program
        Run the U-Net from its stored inference program (no MONAI import) when there is one;
        False, or a program that cannot run here, rebuilds the MONAI U-Net.

    Returns
    -------
    tuple
        The network, its settings and the verified checkpoint (metadata, sha256).

    Raises
    ------
    ModelError
        Missing file, checksum mismatch, not a DLR checkpoint (no settings or echoes recorded,
        another normalisation), weights that do not fit, a subject it was trained on, or
        other echo times.
    """
    device = torch.device(device)
    checkpoint = load_checkpoint(path, expected_sha256=sha256, map_location="cpu")
    metadata = checkpoint.metadata
    if subject is not None:
        check_not_trained_on(subject, metadata, path)
    if "settings" not in metadata or "n_echoes" not in metadata:
        raise ModelError(f"{path}: not a DLR checkpoint (its metadata has no settings / n_echoes)")
    recorded = metadata.get("normalisation", {}).get("echo1_magnitude_percentile")
    if recorded not in (None, SCALE_PERCENTILE):
        raise ModelError(f"{path}: trained on volumes scaled by percentile {recorded}")
    recorded_settings = dict(metadata["settings"])
    # Checkpoints from before the phase referencing were trained without it.
    recorded_settings.setdefault("phase_reference_px", 0.0)
    try:
        settings = DlrSettings.from_mapping(recorded_settings)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: invalid recorded DLR settings: {exc}") from exc
    n_echoes = int(metadata["n_echoes"])
    trained_times = metadata.get("echo_times")
    if echo_times is not None and trained_times is not None:
        given, trained = np.asarray(echo_times, float), np.asarray(trained_times, float)
        if given.shape != trained.shape or not np.allclose(
            given, trained, rtol=ECHO_TIME_TOLERANCE, atol=0
        ):
            raise ModelError(
                f"{path}: trained on echo times {list(trained)} s, the data has {list(given)} s "
                "(a DLR network learns the phase evolution of its echo times; train one for "
                "these)"
            )
    state = checkpoint.state_dict
    run = None
    if program:
        run = load_program(state | checkpoint.program, str(checkpoint.path), device)
    try:
        if run is not None:
            model = DlrNet(n_echoes, settings, backbone=run)
            model.load_state_dict(
                {k: v for k, v in state.items() if not k.startswith("unet.")}, strict=True
            )
        else:
            model = DlrNet(n_echoes, settings)
            model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit the recorded DLR network: {exc}") from exc
    return model.to(device).eval(), settings, checkpoint


def apply_dlr(
    model: DlrNet,
    images: np.ndarray,
    sampled: np.ndarray,
    *,
    batch: int | None = None,
    subject: str | None = None,
) -> np.ndarray:
    """Reconstruct one EPI volume: ``(E, X, Y, Z)`` complex -> ``(E, X, Y, Z)`` complex64.

    Parameters
    ----------
    model
        A trained :class:`DlrNet` (:func:`load_dlr`); runs where its tensors are.
    images
        The EPI CR images (zero-filled onto the grid).
    sampled
        The acquired in-plane k-space block, bool ``(X, Y)``.
    batch
        Slices per forward pass (None: all slices in one pass).
    subject
        For error messages.

    Returns
    -------
    numpy.ndarray
        complex64 on the input's scale (the volume is divided by :func:`volume_scale` for the
        network and multiplied back).

    Raises
    ------
    InputDataError
        Not a complex 4-D array, another number of echoes than the network's, a mask of another
        grid, or NaNs.
    """
    images, sampled = np.asarray(images), np.asarray(sampled)
    _check_volume(images, sampled, None, None, n_echoes=model.n_echoes, name=subject)
    scale = volume_scale(images)
    n_slices = images.shape[-1]
    step = n_slices if batch is None else max(int(batch), 1)
    device = model.device
    mask = torch.from_numpy(sampled).to(device)
    out = np.empty((n_slices, *images.shape[:3]), dtype=np.complex64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, n_slices, step):
            stop = min(start + step, n_slices)
            x = to_channels(np.moveaxis(images[..., start:stop], -1, 0) / np.float32(scale))
            y = from_channels(model(x.to(device), mask)).cpu().numpy()
            out[start:stop] = y * np.float32(scale)
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))
