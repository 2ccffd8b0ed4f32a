"""The U-Net factory (qmrflow.dl.segmentation) in 2D and 3D."""

import pytest
import torch

from qmrflow.dl.segmentation import build_unet


@pytest.mark.parametrize(("dims", "shape"), [(2, (32, 48)), (3, (16, 16, 24))])
def test_unet_gives_one_logit_map_per_class_on_the_input_grid(dims, shape):
    torch.manual_seed(0)
    net = build_unet(dims, in_channels=2, out_channels=3, channels=(4, 8, 16))
    out = net(torch.randn(2, 2, *shape))
    assert out.shape == (2, 3, *shape)
    out.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_unet_refuses_bad_settings():
    with pytest.raises(ValueError, match="spatial_dims"):
        build_unet(1)
    with pytest.raises(ValueError, match="strides"):
        build_unet(2, channels=(4, 8, 16), strides=(2,))
