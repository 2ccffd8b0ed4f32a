"""MONAI network factory for 2D image classifiers, with the pieces transfer learning and CAM need.

Every architecture is a MONAI network ending in global average pooling followed by one linear
layer (the head). The registry records, per architecture, the name of that head (replaced and
trained in transfer-learning mode) and of the last convolutional block (the class activation
map's feature layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from monai.networks import nets
from torch import nn


@dataclass(frozen=True)
class Architecture:
    """How to build one architecture and where its parts are.

    Attributes
    ----------
    build
        ``build(in_channels, num_classes) -> nn.Module``.
    head
        Dotted name of the final linear layer (the classifier head).
    feature_layer
        Dotted name of the layer whose output the class activation map weighs.
    description
        One line for tables and logs.
    cam
        ``"cam"`` (class activation mapping: the head directly follows global average pooling of
        ``feature_layer``) or ``"gradcam"`` where that does not hold.
    """

    build: Callable[[int, int], nn.Module]
    head: str
    feature_layer: str
    description: str
    cam: str = "cam"


def _resnet(layers: list[int], block: str, widths: list[int]) -> Callable[[int, int], nn.Module]:
    def build(in_channels: int, num_classes: int) -> nn.Module:
        return nets.ResNet(
            block=block,
            layers=layers,
            block_inplanes=widths,
            spatial_dims=2,
            n_input_channels=in_channels,
            num_classes=num_classes,
        )

    return build


def _densenet(
    init_features: int, growth_rate: int, block_config: tuple[int, ...]
) -> Callable[[int, int], nn.Module]:
    def build(in_channels: int, num_classes: int) -> nn.Module:
        return nets.DenseNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=num_classes,
            init_features=init_features,
            growth_rate=growth_rate,
            block_config=block_config,
        )

    return build


def _efficientnet(name: str) -> Callable[[int, int], nn.Module]:
    def build(in_channels: int, num_classes: int) -> nn.Module:
        # pretrained=False: nothing is ever downloaded; transfer learning loads a local file.
        return nets.EfficientNetBN(
            name, pretrained=False, spatial_dims=2, in_channels=in_channels, num_classes=num_classes
        )

    return build


_FULL = [64, 128, 256, 512]
_RESNET_HEAD = ("fc", "layer4")
_DENSENET_HEAD = ("class_layers.out", "class_layers.relu")

ARCHITECTURES: dict[str, Architecture] = {
    "resnet10-lite": Architecture(
        _resnet([1, 1, 1, 1], "basic", [16, 32, 64, 128]),
        *_RESNET_HEAD,
        "ResNet-10, quarter width (CPU demo)",
    ),
    "densenet-lite": Architecture(
        _densenet(16, 12, (2, 4, 6, 4)), *_DENSENET_HEAD, "DenseNet, 4 short blocks (CPU demo)"
    ),
    "efficientnet-b0": Architecture(
        _efficientnet("efficientnet-b0"), "_fc", "_conv_head", "EfficientNet-B0", "gradcam"
    ),
    "resnet10": Architecture(_resnet([1, 1, 1, 1], "basic", _FULL), *_RESNET_HEAD, "ResNet-10"),
    "resnet18": Architecture(_resnet([2, 2, 2, 2], "basic", _FULL), *_RESNET_HEAD, "ResNet-18"),
    "resnet34": Architecture(_resnet([3, 4, 6, 3], "basic", _FULL), *_RESNET_HEAD, "ResNet-34"),
    "resnet50": Architecture(
        _resnet([3, 4, 6, 3], "bottleneck", _FULL), *_RESNET_HEAD, "ResNet-50 (the paper's)"
    ),
    "densenet121": Architecture(
        _densenet(64, 32, (6, 12, 24, 16)), *_DENSENET_HEAD, "DenseNet-121"
    ),
    "densenet169": Architecture(
        _densenet(64, 32, (6, 12, 32, 32)), *_DENSENET_HEAD, "DenseNet-169"
    ),
    "densenet201": Architecture(
        _densenet(64, 32, (6, 12, 48, 32)), *_DENSENET_HEAD, "DenseNet-201"
    ),
}


def architecture(name: str) -> Architecture:
    """Look up an architecture by name.

    Raises
    ------
    ValueError
        Unknown name; the message lists the known ones.
    """
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {name!r}; known: {known}") from None


def build_classifier(name: str, in_channels: int = 1, num_classes: int = 1) -> nn.Module:
    """Build a freshly initialised classifier (``num_classes=1``: one logit, binary task)."""
    return architecture(name).build(in_channels, num_classes)


def head_parameter_names(name: str, model: nn.Module) -> set[str]:
    """Names of the parameters that belong to the classifier head of ``model``."""
    prefix = architecture(name).head + "."
    return {n for n, _ in model.named_parameters() if n.startswith(prefix)}


def load_backbone(name: str, model: nn.Module, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Copy backbone weights from ``state_dict`` into ``model``, leaving the head new.

    Parameters
    ----------
    name
        Architecture name (selects the head to skip).
    model
        Freshly built network.
    state_dict
        Weights of a pre-trained network of the same architecture (head weights, if present,
        are ignored: the task's head is trained anew).

    Returns
    -------
    list of str
        Names of the loaded tensors.

    Raises
    ------
    ValueError
        The state dict is missing backbone tensors or has tensors of other shapes (another
        architecture).
    """
    head = architecture(name).head + "."
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(head)}
    given = {k: v for k, v in state_dict.items() if not k.startswith(head)}
    missing = sorted(set(own) - set(given))
    wrong = sorted(k for k in set(own) & set(given) if own[k].shape != given[k].shape)
    if missing or wrong:
        raise ValueError(
            f"pre-trained weights do not fit architecture {name!r}: "
            f"{len(missing)} missing tensors (e.g. {missing[:3]}), "
            f"{len(wrong)} of another shape (e.g. {wrong[:3]})"
        )
    model.load_state_dict(given, strict=False)
    return sorted(given)


def freeze_backbone(name: str, model: nn.Module) -> int:
    """Freeze every parameter except the head's (transfer learning as in the paper).

    Returns
    -------
    int
        Number of trainable parameters left.
    """
    trainable = head_parameter_names(name, model)
    for pname, param in model.named_parameters():
        param.requires_grad = pname in trainable
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
