"""SRGAN-style super-resolution networks for 2-D slices with anisotropic upsampling factors.

Generator (Ledig et al., "Photo-realistic single image super-resolution using a generative
adversarial network", CVPR 2017, Fig. 4)::

    x ─ conv k×k ─ PReLU ─┬─ [conv-BN-PReLU-conv-BN (+skip)] × B ─ conv-BN ─(+)─ conv ─ shuffle
                          └──────────────────── long skip ──────────────────┘     ─ PReLU ─ conv
    y = head(x) + interpolate(x)                                   (optional image-level skip)

* Sub-pixel upsampling (Shi et al., CVPR 2016): a convolution produces ``C·sx·sy`` channels that
  :func:`anisotropic_pixel_shuffle` rearranges into a ``(sx·X, sy·Y)`` image.
* The optional image-level skip (``base="bicubic"``, the default) adds the interpolated input to
  the network output, so the network learns only the residual detail (as in VDSR, Kim et al.,
  CVPR 2016). The fast synthetic-MRI maps are close to their routine counterparts at low spatial
  frequencies, and a residual target trains in a few CPU minutes where learning the whole map
  from scratch does not. With ``base=None`` the network is the plain SRGAN generator.

Discriminator: a fully convolutional PatchGAN-style stack (Isola et al., CVPR 2017) of
conv-BN-LeakyReLU blocks with stride 2, ending in a 1-channel convolution: one logit per
receptive-field patch, averaged by the loss.

Both networks are built from MONAI's :class:`monai.networks.blocks.Convolution` (conv + norm +
activation). MONAI's ``SubpixelUpsample`` and torch's ``pixel_shuffle`` only handle the same
factor along every axis, and the fast maps are under-sampled along the phase-encoding axis only
(scale ``(1, 2)``), so the shuffle and its ICNR initialisation are written here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from torch import nn

__all__ = [
    "PatchDiscriminator",
    "SRGenerator",
    "anisotropic_pixel_shuffle",
    "count_parameters",
    "icnr_",
]

Scale = tuple[int, int]


def _scale(scale: int | Sequence[int]) -> Scale:
    if isinstance(scale, int):
        scale = (scale, scale)
    values = tuple(scale)
    if len(values) != 2 or any(int(v) != v or v < 1 for v in values):
        raise ValueError(f"scale must be two positive integers, got {scale!r}")
    return int(values[0]), int(values[1])


def anisotropic_pixel_shuffle(x: torch.Tensor, scale: int | Sequence[int]) -> torch.Tensor:
    """Rearrange ``(N, C·sx·sy, X, Y)`` into ``(N, C, X·sx, Y·sy)`` (sub-pixel convolution).

    Output pixel ``(sx·i + a, sy·j + b)`` of channel ``c`` is input channel
    ``c·sx·sy + a·sy + b`` at ``(i, j)``: the channel ordering of :func:`torch.pixel_shuffle`,
    which this equals when ``sx == sy`` (written by hand because that function and MONAI's
    ``SubpixelUpsample`` accept one factor for all axes only).

    Parameters
    ----------
    x
        Tensor (N, C·sx·sy, X, Y).
    scale
        ``(sx, sy)`` or one integer for both axes.
    """
    sx, sy = _scale(scale)
    n, channels, width, height = x.shape
    if channels % (sx * sy):
        raise ValueError(f"{channels} channels are not divisible by sx*sy = {sx * sy}")
    out = channels // (sx * sy)
    x = x.reshape(n, out, sx, sy, width, height)
    x = x.permute(0, 1, 4, 2, 5, 3)  # n, c, X, sx, Y, sy
    return x.reshape(n, out, width * sx, height * sy)


@torch.no_grad()
def icnr_(weight: torch.Tensor, scale: int | Sequence[int]) -> torch.Tensor:
    """ICNR initialisation of the convolution before an anisotropic pixel shuffle, in place.

    The ``sx·sy`` sub-pixel channels of each output channel get the same kernel, so that the
    shuffled output starts as a nearest-neighbour upsampling and has no checkerboard artefact
    (Aitken et al., arXiv:1707.02937). MONAI's ``icnr_init`` assumes one factor for all axes.
    """
    sx, sy = _scale(scale)
    factor = sx * sy
    sub = torch.empty(weight.shape[0] // factor, *weight.shape[1:], dtype=weight.dtype)
    nn.init.kaiming_normal_(sub)
    weight.copy_(sub.repeat_interleave(factor, dim=0))
    return weight


class ResidualBlock(nn.Module):
    """conv-BN-PReLU-conv-BN with an identity skip (SRGAN residual block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        prelu = ("prelu", {"num_parameters": channels})
        self.body = nn.Sequential(
            Convolution(2, channels, channels, act=prelu, norm="batch", bias=False),
            Convolution(2, channels, channels, act=None, norm="batch", bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGenerator(nn.Module):
    """SRGAN generator with anisotropic sub-pixel upsampling.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the low- and high-resolution images (3: T1, T2, PD stacked, so one network
        maps all three maps).
    channels
        Width of the feature maps.
    residual_blocks
        Number of residual blocks.
    scale
        Upsampling factor ``(sx, sy)`` along the two image axes; ``(1, 2)``: twice the lines
        along axis 1 (y, the phase-encoding direction).
    kernel_size
        Kernel of the input and output convolutions (9 in SRGAN).
    base
        Interpolation added to the output (``"bicubic"``, ``"bilinear"``, ``"nearest"``) or
        ``None`` for the plain SRGAN generator; needs ``in_channels == out_channels``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        *,
        channels: int = 32,
        residual_blocks: int = 6,
        scale: int | Sequence[int] = (1, 2),
        kernel_size: int = 9,
        base: str | None = "bicubic",
    ) -> None:
        super().__init__()
        self.scale = _scale(scale)
        if base is not None and base not in ("bicubic", "bilinear", "nearest"):
            raise ValueError(f"unknown base interpolation {base!r}")
        if base is not None and in_channels != out_channels:
            raise ValueError("an interpolation base needs in_channels == out_channels")
        self.base = base
        factor = self.scale[0] * self.scale[1]
        self.head = Convolution(
            2,
            in_channels,
            channels,
            kernel_size=kernel_size,
            act=("prelu", {"num_parameters": channels}),
            norm=None,
        )
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(residual_blocks)))
        self.trunk = Convolution(2, channels, channels, act=None, norm="batch", bias=False)
        self.upsample = Convolution(2, channels, channels * factor, conv_only=True)
        icnr_(self.upsample.conv.weight, self.scale)
        self.upsample_act = nn.PReLU(channels)
        self.tail = Convolution(2, channels, out_channels, kernel_size=kernel_size, conv_only=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, C_in, X, Y)`` to ``(N, C_out, X·sx, Y·sy)``."""
        features = self.head(x)
        features = features + self.trunk(self.blocks(features))  # long skip
        features = self.upsample_act(anisotropic_pixel_shuffle(self.upsample(features), self.scale))
        out = self.tail(features)
        if self.base is not None:
            out = out + self.interpolate(x)
        return out

    def interpolate(self, x: torch.Tensor) -> torch.Tensor:
        """The image-level base: ``x`` interpolated by ``scale`` (voxel-centre aligned)."""
        if self.base is None:
            raise ValueError("this generator has no interpolation base")
        if self.scale == (1, 1):
            return x
        align = None if self.base == "nearest" else False
        return F.interpolate(x, scale_factor=self.scale, mode=self.base, align_corners=align)


class PatchDiscriminator(nn.Module):
    """Fully convolutional discriminator: one real/fake logit per image patch.

    Parameters
    ----------
    in_channels
        Channels of the (high-resolution) images.
    channels
        Width of the first block; doubled by each strided block.
    levels
        Number of conv-BN-LeakyReLU blocks with stride 2 (each halves the size).
    """

    def __init__(self, in_channels: int = 3, *, channels: int = 32, levels: int = 3) -> None:
        super().__init__()
        leaky = ("leakyrelu", {"negative_slope": 0.2})
        layers: list[nn.Module] = [
            Convolution(2, in_channels, channels, act=leaky, norm=None)  # no BN on the input
        ]
        width = channels
        for _ in range(levels):
            layers.append(
                Convolution(2, width, width * 2, strides=2, act=leaky, norm="batch", bias=False)
            )
            width *= 2
        layers.append(Convolution(2, width, 1, conv_only=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1, ceil(X / 2**levels), ceil(Y / 2**levels))``."""
        return self.net(x)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
