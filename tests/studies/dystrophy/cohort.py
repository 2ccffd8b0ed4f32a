"""A tiny dystrophy cohort of ROI crops for the training and classification tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmrflow.io import save_nifti, write_tsv
from qmrflow.studies.dystrophy.training import train_architecture

MODEL = {"epochs": 2, "batch_size": 4, "learning_rate": 0.01, "augment": True}


def make_subject(root, subject, label, n=3, separable=(True, True, False), seed=0):
    rng = np.random.default_rng(seed)
    crops = rng.normal(0.3, 0.05, (64, 32, n)).astype(np.float32)
    crops[8:24, 8:24] += 0.6 if label else 0.0
    crops_path = root / f"sub-{subject}_desc-roi_T1w.nii.gz"
    table_path = root / f"sub-{subject}_roi.tsv"
    save_nifti(crops, crops_path)
    write_tsv(
        pd.DataFrame({"slice": range(1, n + 1), "separable": list(separable)[:n]}), table_path
    )
    return crops_path, table_path


def make_cohort(root):
    """Six training, two validation and one test subject: (root, labels, paths)."""
    labels = {f"t{i}": i % 2 for i in range(6)} | {f"v{i}": i % 2 for i in range(2)} | {"x0": 1}
    paths = {s: make_subject(root, s, y, seed=i) for i, (s, y) in enumerate(labels.items())}
    return root, labels, paths


def train(cohort, architecture="resnet10-lite", **model):
    root, labels, paths = cohort
    train_set = {s: y for s, y in labels.items() if s.startswith("t")}
    val_set = {s: y for s, y in labels.items() if s.startswith("v")}
    out = root / architecture / "model.pt"
    train_architecture(
        architecture,
        train=train_set,
        val=val_set,
        crops={s: p[0] for s, p in paths.items()},
        tables={s: p[1] for s, p in paths.items()},
        model_config=MODEL | model,
        seed=3,
        provenance={"x": 1},
        drop_inseparable=True,
        out_model=out,
        out_history=root / architecture / "history.tsv",
    )
    return out
