"""Training loop (qmrflow.dl.training), seeding and augmentation."""

import numpy as np
import pandas as pd
import torch

from qmrflow.dl.networks import build_classifier, freeze_backbone
from qmrflow.dl.seed import seed_everything
from qmrflow.dl.training import TrainConfig, augment_batch, predict_logits, train_binary_classifier


def toy_data(n, seed):
    """Bright square on the left half = positive; on the right half = negative."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.1, (n, 1, 64, 32)).astype(np.float32)
    y = (np.arange(n) % 2).astype(np.float32)
    x[y == 1, :, 8:24, 8:24] += 1.0
    x[y == 0, :, 40:56, 8:24] += 1.0
    return x, y


def test_learns_a_separable_task_and_records_history():
    x, y = toy_data(64, 0)
    xv, yv = toy_data(32, 1)
    seed_everything(0)
    model = build_classifier("resnet10-lite")
    config = TrainConfig(
        epochs=6, patience=6, batch_size=16, augment=False, learning_rate=1e-2, optimizer="adam"
    )
    result = train_binary_classifier(
        model,
        x,
        y,
        xv,
        yv,
        config,
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
    )
    assert isinstance(result.history, pd.DataFrame)
    assert list(result.history.columns[:4]) == ["epoch", "train_loss", "val_loss", "val_auc"]
    model.load_state_dict(result.state_dict)
    logits = predict_logits(model, xv, torch.device("cpu"))
    assert ((logits >= 0) == (yv == 1)).mean() > 0.9


def test_same_seed_same_weights():
    x, y = toy_data(32, 0)
    states = []
    for _ in range(2):
        generator = seed_everything(5)
        model = build_classifier("densenet-lite")
        result = train_binary_classifier(
            model,
            x,
            y,
            x,
            y,
            TrainConfig(epochs=1, batch_size=8),
            device=torch.device("cpu"),
            generator=generator,
        )
        states.append(result.state_dict)
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key])


def test_frozen_backbone_is_not_updated():
    x, y = toy_data(16, 0)
    seed_everything(0)
    model = build_classifier("resnet10-lite")
    freeze_backbone("resnet10-lite", model)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    result = train_binary_classifier(
        model,
        x,
        y,
        x,
        y,
        TrainConfig(epochs=2, batch_size=8),
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
    )
    for key, value in before.items():
        torch.testing.assert_close(result.state_dict[key], value)
    assert result.trainable_parameters == sum(p.numel() for p in model.fc.parameters())


def test_augmentation_is_seeded_and_keeps_shape():
    x = torch.rand(4, 1, 32, 16)
    a = augment_batch(x, torch.Generator().manual_seed(1))
    b = augment_batch(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape
    torch.testing.assert_close(a, b)
