"""Training loop (qmrflow.dl.training), seeding and augmentation."""

import numpy as np
import pandas as pd
import torch

from qmrflow.dl.inference import predict_logits
from qmrflow.dl.networks import build_classifier, freeze_backbone
from qmrflow.dl.seed import seed_everything
from qmrflow.dl.training import TrainConfig, augment_batch, fit, train_binary_classifier


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


def _loop(values, **kwargs):
    """fit on a one-parameter model whose 'validation loss' follows ``values``."""
    model = torch.nn.Linear(1, 1)
    seen = iter(values)
    calls = []

    def step(idx, phase):
        calls.append((len(idx), phase))
        with torch.no_grad():
            model.weight.add_(1.0)  # the weights record the epoch
        return {"train_loss": float(len(idx))}

    result = fit(
        model,
        n_train=5,
        batch_size=2,
        train_step=step,
        evaluate=lambda: {"val_loss": next(seen)},
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    return model, result, calls


def test_fit_selects_the_lowest_monitored_epoch_and_restores_its_weights():
    model, result, calls = _loop([3.0, 1.0, 2.0], schedule=["a", "a", "b"])
    assert list(result.history.columns) == ["epoch", "phase", "train_loss", "val_loss", "seconds"]
    assert result.best_epoch == 2 and result.best["phase"] == "a"
    assert calls[:3] == [(2, "a"), (2, "a"), (1, "a")] and calls[-1] == (1, "b")
    assert result.history["train_loss"].tolist() == [1.0, 1.0, 1.0]  # summed / n_train
    assert torch.equal(model.weight, result.state_dict["weight"])


def test_fit_stops_early_and_skips_small_batches():
    _, result, calls = _loop([1.0, 1.0, 1.0, 0.5], schedule=4, patience=2, min_batch=2)
    assert len(result.history) == 3 and result.best_epoch == 1
    assert "phase" not in result.history.columns
    assert {n for n, _ in calls} == {2}


def test_fit_keeps_the_last_weights_when_the_metric_is_never_finite(caplog):
    _, result, _ = _loop([float("nan")] * 2, schedule=2)
    assert result.best_epoch == 2
    assert "never finite" in caplog.text
