"""MONAI network factory, transfer learning helpers and CAM (qmrflow.dl.networks, .cam)."""

import numpy as np
import pytest
import torch

from qmrflow.dl.cam import class_activation_maps
from qmrflow.dl.networks import (
    ARCHITECTURES,
    build_classifier,
    freeze_backbone,
    head_parameter_names,
    load_backbone,
)

LIGHT = ["resnet10-lite", "densenet-lite"]


@pytest.mark.parametrize("name", [*LIGHT, "resnet50", "densenet121", "efficientnet-b0"])
def test_every_architecture_gives_one_logit(name):
    model = build_classifier(name).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 64, 32))
    assert out.shape == (2, 1)
    assert head_parameter_names(name, model)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        build_classifier("vgg")


@pytest.mark.parametrize("name", LIGHT)
def test_backbone_transfer_and_freeze(name):
    torch.manual_seed(0)
    source = build_classifier(name)
    torch.manual_seed(1)
    target = build_classifier(name)
    head = head_parameter_names(name, target)
    before_head = {k: v.clone() for k, v in target.state_dict().items() if k in head}
    load_backbone(name, target, source.state_dict())
    for key, value in source.state_dict().items():
        if key not in head:
            torch.testing.assert_close(target.state_dict()[key], value)
    for key, value in before_head.items():
        torch.testing.assert_close(target.state_dict()[key], value)
    trainable = freeze_backbone(name, target)
    assert trainable == sum(p.numel() for n, p in target.named_parameters() if n in head)


def test_backbone_of_another_architecture_is_refused():
    with pytest.raises(ValueError, match="do not fit"):
        load_backbone(
            "resnet10-lite",
            build_classifier("resnet10-lite"),
            build_classifier("densenet-lite").state_dict(),
        )


@pytest.mark.parametrize("name", LIGHT)
def test_cam_shape_and_range(name):
    x = np.random.default_rng(0).random((2, 1, 64, 32)).astype(np.float32)
    maps = class_activation_maps(name, build_classifier(name), x, torch.device("cpu"))
    assert maps.shape == (2, 64, 32)
    assert maps.min() >= 0 and maps.max() <= 1


def test_registry_names_match_config_schema():
    from pathlib import Path

    from qmrflow.config import load_schema

    schema = load_schema(Path(__file__).resolve().parents[2] / "config/schemas/config.schema.yaml")
    allowed = schema["$defs"]["dystrophy"]["properties"]["model"]["properties"]["architectures"]
    assert set(allowed["items"]["enum"]) == set(ARCHITECTURES)
