"""SRGAN networks (qmrflow.dl.superres): shapes, anisotropic pixel shuffle, identity base."""

import pytest
import torch

from qmrflow.dl.superres import (
    PatchDiscriminator,
    SRGenerator,
    anisotropic_pixel_shuffle,
    count_parameters,
    icnr_,
)


@pytest.mark.parametrize("scale", [(1, 2), (2, 1), (2, 2), (1, 1), (3, 2)])
def test_generator_output_shape(scale):
    torch.manual_seed(0)
    net = SRGenerator(3, 3, channels=8, residual_blocks=2, scale=scale, kernel_size=3).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 10, 7))
    assert out.shape == (2, 3, 10 * scale[0], 7 * scale[1])


def test_generator_channels_and_plain_srgan():
    net = SRGenerator(1, 2, channels=8, residual_blocks=1, scale=(1, 2), base=None).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, 6, 5)).shape == (1, 2, 6, 10)
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        SRGenerator(1, 2, base="bicubic")


def test_pixel_shuffle_matches_torch_for_isotropic_factor():
    x = torch.arange(2 * 12 * 3 * 4, dtype=torch.float32).reshape(2, 12, 3, 4)
    torch.testing.assert_close(anisotropic_pixel_shuffle(x, (2, 2)), torch.pixel_shuffle(x, 2))


def test_anisotropic_pixel_shuffle_places_sub_pixels_along_y():
    # Two sub-pixel channels per output channel with scale (1, 2): channel 2c fills the even
    # y positions and channel 2c + 1 the odd ones.
    x = torch.stack([torch.zeros(3, 4), torch.ones(3, 4)])[None]
    out = anisotropic_pixel_shuffle(x, (1, 2))
    assert out.shape == (1, 1, 3, 8)
    assert torch.all(out[0, 0, :, 0::2] == 0)
    assert torch.all(out[0, 0, :, 1::2] == 1)
    with pytest.raises(ValueError, match="divisible"):
        anisotropic_pixel_shuffle(torch.zeros(1, 3, 2, 2), (1, 2))
    with pytest.raises(ValueError, match="positive integers"):
        anisotropic_pixel_shuffle(x, (1, 1.5))


def test_icnr_gives_nearest_neighbour_upsampling():
    conv = torch.nn.Conv2d(4, 4 * 2 * 3, 3, padding=1, bias=False)
    icnr_(conv.weight, (2, 3))
    out = anisotropic_pixel_shuffle(conv(torch.rand(1, 4, 5, 6)), (2, 3))
    # every 2 x 3 block of the output is constant
    blocks = out.reshape(1, 4, 5, 2, 6, 3)
    torch.testing.assert_close(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks))


def test_residual_only_generator_is_interpolation():
    """With the last convolution zeroed, the output is the interpolated input (the base)."""
    x = torch.rand(2, 3, 6, 5)
    identity = SRGenerator(channels=8, residual_blocks=2, scale=(1, 1)).eval()
    nearest = SRGenerator(channels=8, residual_blocks=2, scale=(1, 2), base="nearest").eval()
    for net in (identity, nearest):
        torch.nn.init.zeros_(net.tail.conv.weight)
        torch.nn.init.zeros_(net.tail.conv.bias)
    with torch.no_grad():
        torch.testing.assert_close(identity(x), x)
        torch.testing.assert_close(nearest(x), x.repeat_interleave(2, dim=3))


def test_bicubic_base_keeps_a_constant_image():
    net = SRGenerator(channels=8, residual_blocks=1, scale=(1, 2)).eval()
    x = torch.full((1, 3, 6, 5), 0.7)
    torch.testing.assert_close(net.interpolate(x), torch.full((1, 3, 6, 10), 0.7))


@pytest.mark.parametrize(("levels", "size"), [(3, (12, 14)), (2, (24, 28))])
def test_discriminator_output_shape(levels, size):
    net = PatchDiscriminator(3, channels=8, levels=levels).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 96, 112))
    assert out.shape == (2, 1, *size)


def test_parameter_counts_are_reasonable():
    generator = SRGenerator()  # defaults: 32 channels, 6 blocks, 9x9 input/output kernels
    blocks = 6 * 2 * (32 * 32 * 9 + 2 * 32) + 6 * 32  # two conv+BN per block, one PReLU
    assert blocks < count_parameters(generator) < blocks + 50_000
    assert 100_000 < count_parameters(generator) < 300_000
    assert count_parameters(SRGenerator(channels=64, residual_blocks=16)) > 1_000_000
    assert 50_000 < count_parameters(PatchDiscriminator(3, channels=32)) < 1_000_000
