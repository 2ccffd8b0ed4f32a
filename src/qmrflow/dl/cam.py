"""Class activation maps through MONAI's ``CAM`` / ``GradCAM``."""

from __future__ import annotations

import numpy as np
import torch
from monai.visualize import CAM, GradCAM
from torch import nn

from qmrflow.dl.networks import architecture


def class_activation_maps(
    name: str, model: nn.Module, x: np.ndarray, device: torch.device
) -> np.ndarray:
    """Class activation maps of the positive class, upsampled to the input size.

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
        Maps (N, X, Y) float32, each min-max normalised to [0, 1] (MONAI's default).
    """
    arch = architecture(name)
    model.eval().to(device)
    inputs = torch.as_tensor(x, dtype=torch.float32, device=device)
    if arch.cam == "cam":
        explainer = CAM(nn_module=model, target_layers=arch.feature_layer, fc_layers=arch.head)
    else:
        explainer = GradCAM(nn_module=model, target_layers=arch.feature_layer)
    # One logit: the default target class (argmax over a single output) is the positive class.
    maps = explainer(x=inputs)
    return maps[:, 0].detach().float().cpu().numpy()
