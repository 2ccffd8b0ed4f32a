"""Training the super-resolution GAN (qmrflow.studies.synthmri.superres_training)."""

import json

import numpy as np
import pandas as pd
import pytest

from qmrflow.dl.checkpoint import load_checkpoint, metadata_path, sha256sum
from qmrflow.errors import InputDataError
from qmrflow.studies.synthmri.superres_training import train_superresolution

from .maps import TINY, train


def test_training_writes_checkpoint_and_history(trained):
    meta = json.loads(metadata_path(trained["model"]).read_text())
    assert meta["sha256"] == sha256sum(trained["model"])
    assert meta["training_subjects"] == ["a", "b"]
    assert meta["validation_subjects"] == ["c"]
    assert meta["settings"]["residual_blocks"] == 1
    assert meta["provenance"] == {"study": "synthmri", "test": True}
    assert meta["seed"] == 0
    assert meta["n_train_slices"] == 4
    history = pd.read_csv(trained["history"], sep="\t")
    assert list(history.columns) == [
        "epoch",
        "phase",
        "train_loss",
        "d_loss",
        "val_loss",
        "val_psnr",
        "seconds",
    ]
    assert history["phase"].tolist() == ["pretrain", "adversarial"]
    assert np.isnan(history["d_loss"][0]) and np.isfinite(history["d_loss"][1])
    assert meta["best_val_loss"] == pytest.approx(history["val_loss"].min())
    assert load_checkpoint(trained["model"]).state_dict


def test_training_is_deterministic_for_a_seed(dataset, trained, tmp_path):
    again = train(dataset, tmp_path / "again")
    assert sha256sum(again["model"]) == sha256sum(trained["model"])
    other = train(dataset, tmp_path / "other", seed=1)
    assert sha256sum(other["model"]) != sha256sum(trained["model"])


def test_train_and_val_must_be_disjoint(dataset, tmp_path):
    _, subjects = dataset
    with pytest.raises(ValueError, match="both train and val"):
        train_superresolution(
            train=[subjects["a"]],
            val=[subjects["a"]],
            settings=TINY,
            seed=0,
            outputs={"model": tmp_path / "m.pt", "history": tmp_path / "h.tsv"},
            provenance={},
        )


def test_an_item_mixing_subjects_is_refused(dataset, tmp_path):
    _, subjects = dataset
    fast, _, mask = subjects["a"]
    _, routine_b, _ = subjects["b"]
    with pytest.raises(InputDataError, match="mixes subjects"):
        train_superresolution(
            train=[(fast, routine_b, mask)],
            val=[subjects["c"]],
            settings=TINY,
            seed=0,
            outputs={"model": tmp_path / "m.pt", "history": tmp_path / "h.tsv"},
            provenance={},
        )
