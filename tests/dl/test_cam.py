"""Class activation maps (qmrflow.dl.cam): normalisation and the exportable CAM classifier."""

import numpy as np
import pytest
import torch

from qmrflow.dl.cam import CamClassifier, class_activation_maps, normalise_maps
from qmrflow.dl.networks import architecture, build_classifier


def test_normalise_maps_puts_the_strongest_evidence_at_one():
    maps = torch.tensor([[[0.0, 2.0], [4.0, 1.0]], [[3.0, 3.0], [3.0, 3.0]]])
    out = normalise_maps(maps)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.5], [1.0, 0.25]]))
    assert torch.equal(out[1], torch.zeros(2, 2))  # a flat map carries no location


@pytest.mark.parametrize("name", ["resnet10-lite", "densenet-lite"])
def test_cam_classifier_matches_monai_cam(name):
    torch.manual_seed(0)
    model = build_classifier(name).eval()
    arch = architecture(name)
    x = torch.randn(3, 1, 64, 48)
    with torch.no_grad():
        logits, maps = CamClassifier(model, arch.feature_layer, arch.head)(x)
        torch.testing.assert_close(logits, model(x))
    reference = class_activation_maps(name, model, x.numpy(), torch.device("cpu"))
    np.testing.assert_allclose(maps.detach().numpy(), reference, atol=1e-5)


def test_the_hottest_region_is_where_the_positive_evidence_is():
    # A linear "network": the logit is the mean of the image, so the brightest pixel carries
    # the most evidence and must be where the map is 1.
    class Mean(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Identity()
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.fc = torch.nn.Linear(1, 1)
            torch.nn.init.ones_(self.fc.weight)
            torch.nn.init.zeros_(self.fc.bias)

        def forward(self, x):
            return self.fc(self.pool(self.features(x)).flatten(1))

    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 5] = 1.0
    with torch.no_grad():
        _, maps = CamClassifier(Mean(), "features", "fc")(x)
    assert tuple(np.unravel_index(int(maps[0].argmax()), (8, 8))) == (2, 5)
    assert float(maps[0, 2, 5]) == pytest.approx(1.0)
