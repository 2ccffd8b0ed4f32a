"""Class activation maps: MONAI's ``CAM`` / ``GradCAM``, and an exportable CAM classifier.

Maps are min-max normalised per image so that the strongest evidence for the positive class is
1. (MONAI's default post-processing maps the maximum to 0 and the minimum to 1, "flipping
magnitudes" by its docstring, which paints the least relevant region hottest on a ``jet``
overlay; qmrflow passes :func:`normalise_maps` instead.)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of a batch (N, ...) to [0, 1], maximum -> 1 (flat -> 0)."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.amin(1).view(-1, *([1] * (maps.ndim - 1)))
    span = flat.amax(1).view(-1, *([1] * (maps.ndim - 1))) - low
    return torch.where(span > 0, (maps - low) / span.clamp_min(1e-12), torch.zeros_like(maps))


class CamClassifier(nn.Module):
    """A classifier returning its logits and the class activation maps of its one output.

    CAM (Zhou et al., CVPR 2016): the head ``W·pool(A) + b`` applied at every location of the
    feature map ``A``, bilinearly upsampled to the input and normalised (:func:`normalise_maps`):
    the computation of MONAI's ``CAM`` written as one forward pass, so that
    :func:`torch.export.export` captures classifier and maps together for torch-only inference
    (MONAI's CAM works through hooks outside the forward pass). Only for architectures whose
    head is one linear layer directly after global average pooling of ``feature_layer``.

    Parameters
    ----------
    model
        Network returning one logit; held as ``model`` (its weights are ``model.<name>``).
    feature_layer, head
        Dotted names of the CAM's feature layer and of the linear head.
    """

    def __init__(self, model: nn.Module, feature_layer: str, head: str) -> None:
        super().__init__()
        self.model = model
        self._head = head
        self._features: list[torch.Tensor] = []
        model.get_submodule(feature_layer).register_forward_hook(
            lambda _module, _inputs, output: self._features.append(output)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (N, 1) and maps (N, X, Y) of images (N, C, X, Y)."""
        self._features.clear()
        logits = self.model(x)
        features = self._features.pop()
        head = self.model.get_submodule(self._head)
        maps = torch.einsum("oc,nc...->no...", head.weight, features)
        maps = maps + head.bias.view(1, -1, *([1] * (features.ndim - 2)))
        maps = F.interpolate(maps, size=x.shape[2:], mode="bilinear", align_corners=False)
        return logits, normalise_maps(maps[:, 0])


def class_activation_maps(
    name: str, model: nn.Module, x: np.ndarray, device: torch.device
) -> np.ndarray:
    """Class activation maps of the positive class with MONAI, upsampled to the input size.

    Parameters
    ----------
    name
        Architecture name (selects the feature layer, the head and CAM vs Grad-CAM).
    model
        Trained network returning one logit.
    x
        Images (N, C, X, Y).
    device
        Where to run.

    Returns
    -------
    numpy.ndarray
        Maps (N, X, Y) float32, each normalised by :func:`normalise_maps`.
    """
    # MONAI is imported here, not at module level: inference jobs that run an exported
    # CamClassifier never pay its import time.
    from monai.visualize import CAM, GradCAM

    from qmrflow.dl.networks import architecture

    arch = architecture(name)
    model.eval().to(device)
    inputs = torch.as_tensor(x, dtype=torch.float32, device=device)
    if arch.cam == "cam":
        explainer = CAM(
            nn_module=model,
            target_layers=arch.feature_layer,
            fc_layers=arch.head,
            postprocessing=normalise_maps,
        )
    else:
        explainer = GradCAM(
            nn_module=model, target_layers=arch.feature_layer, postprocessing=normalise_maps
        )
    # One logit: the default target class (argmax over a single output) is the positive class.
    maps = explainer(x=inputs)
    return maps[:, 0].detach().float().cpu().numpy()
