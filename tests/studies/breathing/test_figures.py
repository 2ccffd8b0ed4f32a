"""Breathing figures (qmrflow.studies.breathing.figures)."""

import numpy as np
import pandas as pd
from PIL import Image as PILImage

from qmrflow.io import write_tsv
from qmrflow.studies.breathing.figures import plot_figures, plot_subject
from qmrflow.studies.breathing.frames import load_labels, save_frames, save_labels

AFFINE = np.diag([8.0, 8.0, 10.0, 1.0])


def test_subject_montage_and_animation(written, tmp_path):
    labels = load_labels(written["b901"]["labels_sniff"])
    frames = save_frames(
        labels.astype(np.float32) + 1,
        AFFINE,
        tmp_path / "f.nii.gz",
        frame_times=0.2 * np.arange(len(labels)),
    )
    masks = save_labels(np.where(labels <= 2, labels, 0), AFFINE, tmp_path / "m.nii.gz")
    outputs = {"montage": tmp_path / "m.png", "animation": tmp_path / "a.gif"}
    plot_subject("b901", frames=frames, labels=masks, outputs=outputs)
    assert outputs["montage"].stat().st_size < 300_000
    with PILImage.open(outputs["animation"]) as gif:
        assert gif.format == "GIF" and gif.n_frames == (len(labels) + 1) // 2


def test_group_figures(written, tmp_path):
    labels = load_labels(written["b901"]["labels_sniff"])
    frames = save_frames(
        labels.astype(np.float32),
        AFFINE,
        tmp_path / "f.nii.gz",
        frame_times=0.2 * np.arange(len(labels)),
    )
    masks = save_labels(np.where(labels <= 2, labels, 0), AFFINE, tmp_path / "m.nii.gz")
    t = 0.2 * np.arange(10)
    curves = []
    for subject in ("b901", "b902"):
        table = pd.DataFrame(
            {
                "participant_id": subject,
                "method": "sense",
                "task": "sniff",
                "frame": np.arange(10),
                "time": t,
                "dome_right_mm": np.sin(t),
                "dome_left_mm": np.cos(t),
                "width_mm": 250 + t,
            }
        )
        curves.append(write_tsv(table, tmp_path / f"{subject}_c.tsv"))
    subjects = write_tsv(
        pd.DataFrame(
            {
                "participant_id": ["b901", "b902", "b903", "b904"],
                "method": "sense",
                "group": ["patient", "control", "patient", "control"],
                "fvc_upright_pct": [60.0, 100.0, 70.0, 95.0],
                "breathing_right_excursion": [20.0, 50.0, 25.0, 55.0],
                "diaphragm_t1": [0.8, 1.3, 0.9, 1.25],
            }
        ),
        tmp_path / "subjects.tsv",
    )
    participants = write_tsv(
        pd.DataFrame({"participant_id": ["sub-b901", "sub-b902"], "group": ["patient", "control"]}),
        tmp_path / "participants.tsv",
    )
    names = ("curves", "measures", "correlations", "reconstruction")
    outputs = {k: tmp_path / f"{k}.png" for k in names}
    plot_figures(
        subjects=subjects,
        curves=curves,
        participants=participants,
        example={"gridding": (frames, masks), "sense": (frames, masks)},
        outputs=outputs,
    )
    assert all(path.stat().st_size > 0 for path in outputs.values())
