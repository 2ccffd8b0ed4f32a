"""The dystrophy study's figures (qmrflow.studies.dystrophy.figures) from small tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmrflow.io import save_nifti
from qmrflow.studies.dystrophy.figures import (
    plot_cam_panel,
    plot_roc_figure,
    plot_training_curves,
    rater_points,
)

PNG = b"\x89PNG"


def predictions():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        truth = i % 2
        for level, slices in (("image", [1, 2]), ("case", [None])):
            for s in slices:
                rows.append(
                    {
                        "participant_id": f"s{i}",
                        "architecture": "a",
                        "level": level,
                        "slice": s,
                        "probability": float(np.clip(0.3 + 0.4 * truth + rng.normal(0, 0.2), 0, 1)),
                        "truth": truth,
                        "diagnosis": "DMD" if truth else "myositis",
                    }
                )
    return pd.DataFrame(rows)


def statistics():
    rows = []
    for rater, (sens, spec) in {"rater1": (0.8, 0.9), "rater2": (0.7, 0.95)}.items():
        for measure, value in (("sensitivity", sens), ("specificity", spec)):
            rows.append(
                {
                    "comparison": f"{rater} vs reference (image)",
                    "measure": measure,
                    "statistic": "estimate",
                    "value": value,
                }
            )
    return pd.DataFrame(rows)


def test_rater_points_from_the_statistics_table():
    assert rater_points(statistics()) == {"rater1": (0.8, 0.9), "rater2": (0.7, 0.95)}


def test_figures_are_written(tmp_path):
    table = predictions()
    plot_roc_figure(table, statistics(), ["a"], tmp_path / "roc.png")
    cams = []
    for pid in table["participant_id"].unique():
        path = tmp_path / f"sub-{pid}_desc-cam_T1w.nii.gz"
        save_nifti(np.random.default_rng(1).random((32, 16, 2, 2)).astype(np.float32), path)
        cams.append(path)
    plot_cam_panel(cams, table, "a", tmp_path / "cam.png")
    history = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [0.7, 0.5], "val_loss": [0.8, 0.6], "val_auc": [0.6, 0.7]}
    )
    plot_training_curves({"a": history}, tmp_path / "curves.png")
    for name in ("roc.png", "cam.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:4] == PNG
