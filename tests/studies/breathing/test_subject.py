"""Per-subject measures and T1 jobs (qmrflow.studies.breathing.subject)."""

import json

import numpy as np
import pandas as pd
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.breathing.frames import load_labels, save_frames, save_labels
from qmrflow.studies.breathing.measures import lung_labels
from qmrflow.studies.breathing.subject import fit_subject_t1, measure_subject

TASKS = ("breathing", "sniff")


def true_mask_inputs(files, root):
    """The truth's lung labels as the 'U-Net' masks, with frames carrying the frame times."""
    frames, labels = {}, {}
    for task in TASKS:
        truth = load_labels(files[f"labels_{task}"])
        affine = np.diag([8.0, 8.0, 10.0, 1.0])
        frames[task] = save_frames(
            truth.astype(np.float32),
            affine,
            root / f"f_{task}.nii.gz",
            frame_times=0.2 * np.arange(len(truth)),
        )
        labels[task] = save_labels(lung_labels(truth), affine, root / f"l_{task}.nii.gz")
    return frames, labels


def test_measures_from_true_masks_agree_with_the_truth(written, tmp_path):
    files = written["b901"]
    frames, labels = true_mask_inputs(files, tmp_path)
    outputs = {k: tmp_path / f"{k}.tsv" for k in ("curves", "measures", "quality")}
    truth = {k: files[k] for k in files if k.startswith(("labels_", "curves_", "truth"))}
    measure_subject("b901", "sense", labels=labels, frames=frames, outputs=outputs, truth=truth)
    quality = pd.read_csv(outputs["quality"], sep="\t")
    assert (quality["dice"] == 1.0).all()
    assert quality["excursion_error"].abs().max() < 8.0 / 2  # half a pixel of the 8 mm grid
    sniff = quality[quality["task"] == "sniff"].set_index("side")
    assert sniff.loc["right", "true_paradoxical"] and not sniff.loc["left", "true_paradoxical"]
    assert sniff["paradoxical"].tolist() == sniff["true_paradoxical"].tolist()
    curves = pd.read_csv(outputs["curves"], sep="\t")
    assert set(curves["task"]) == set(TASKS)
    assert {"dome_right_mm", "dome_left_mm", "width_mm"} <= set(curves.columns)
    measures = pd.read_csv(outputs["measures"], sep="\t")
    assert (measures["participant_id"] == "b901").all() and (measures["method"] == "sense").all()


def test_masks_of_another_shape_are_refused(written, tmp_path):
    frames, labels = true_mask_inputs(written["b902"], tmp_path)
    short = load_labels(labels["sniff"])[:-1]
    save_labels(short, np.diag([8.0, 8.0, 10.0, 1.0]), labels["sniff"])
    outputs = {k: tmp_path / f"{k}.tsv" for k in ("curves", "measures")}
    with pytest.raises(InputDataError, match="do not match") as error:
        measure_subject("b902", "sense", labels=labels, frames=frames, outputs=outputs)
    assert "sub-b902" in str(error.value)
    assert not outputs["curves"].exists() and not outputs["measures"].exists()


def test_diaphragm_t1_recovers_the_truth(written, tmp_path):
    files = written["b901"]
    outputs = {"t1map": tmp_path / "t1.nii.gz", "table": tmp_path / "t1.tsv"}
    fit_subject_t1(
        "b901",
        inversions=files["inversions"],
        roi=files["roi"],
        outputs=outputs,
        truth=files["truth"],
    )
    row = pd.read_csv(outputs["table"], sep="\t").iloc[0]
    assert abs(row["t1_error"]) < 0.03 and row["n_valid"] > 0


def test_t1_errors_name_subject_and_file(written, tmp_path):
    files = written["b902"]
    outputs = {"t1map": tmp_path / "t1.nii.gz", "table": tmp_path / "t1.tsv"}
    with pytest.raises(InputDataError, match="no inversion-recovery images") as error:
        fit_subject_t1(
            "b902",
            inversions=[],
            roi=files["roi"],
            outputs=outputs,
            expected="sub-b902_inv-<index>_IRT1.nii.gz",
        )
    assert "sub-b902_inv-<index>" in str(error.value)
    sidecar = sidecar_path(files["inversions"][2])
    original = sidecar.read_text()
    sidecar.write_text(json.dumps(json.loads(original) | {"InversionTime": 350}))
    try:
        with pytest.raises(InputDataError, match="milliseconds"):
            fit_subject_t1(
                "b902", inversions=files["inversions"], roi=files["roi"], outputs=outputs
            )
    finally:
        sidecar.write_text(original)
    assert not outputs["table"].exists()
