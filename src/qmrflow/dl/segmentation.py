"""MONAI U-Net factory for 2D and 3D segmentation (lungs in `breathing`, myocardium in
`perfusion`): one place for the network every segmenting study builds."""

from __future__ import annotations

from collections.abc import Sequence

from monai.networks.nets import UNet
from torch import nn


def build_unet(
    spatial_dims: int,
    in_channels: int = 1,
    out_channels: int = 2,
    *,
    channels: Sequence[int] = (16, 32, 64, 128),
    strides: Sequence[int] | None = None,
    num_res_units: int = 2,
    dropout: float = 0.0,
) -> nn.Module:
    """A freshly initialised MONAI U-Net returning per-class logits, (N, out_channels, *spatial).

    Parameters
    ----------
    spatial_dims
        2 (slices) or 3 (volumes).
    in_channels, out_channels
        Input channels (e.g. contrasts or time frames) and classes including background.
    channels
        Feature channels per level, finest first.
    strides
        Downsampling per level transition (default 2 everywhere: ``len(channels) - 1`` values).
        Spatial sizes must be divisible by their product.
    num_res_units
        Residual units per block (0 gives plain convolution blocks).
    dropout
        Dropout probability in every block.

    Raises
    ------
    ValueError
        ``spatial_dims`` not 2 or 3, fewer than 2 levels, or strides of the wrong length.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if len(channels) < 2:
        raise ValueError(f"a U-Net needs at least 2 levels, got channels {list(channels)}")
    strides = tuple(strides) if strides is not None else (2,) * (len(channels) - 1)
    if len(strides) != len(channels) - 1:
        raise ValueError(
            f"strides needs {len(channels) - 1} values for {len(channels)} levels, got {strides}"
        )
    return UNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=tuple(channels),
        strides=strides,
        num_res_units=num_res_units,
        dropout=dropout,
    )
