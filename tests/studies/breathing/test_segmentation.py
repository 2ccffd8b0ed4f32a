"""Lung U-Net (qmrflow.studies.breathing.segmentation) on moving two-lung phantoms."""

import json

import numpy as np
import pytest
import torch

from qmrflow.dl.checkpoint import metadata_path
from qmrflow.errors import ModelError
from qmrflow.roi import dice
from qmrflow.studies.breathing.frames import load_labels, save_frames, save_labels
from qmrflow.studies.breathing.measures import LEFT_LUNG, RIGHT_LUNG, lung_labels
from qmrflow.studies.breathing.segmentation import (
    NETWORK_CLASSES,
    load_lung_segmenter,
    segment_subject,
    train_lung_segmentation,
)

CPU = torch.device("cpu")
TINY = {"channels": (8, 16, 32), "epochs": 12, "batch_size": 8, "frames_per_series": 10}
AFFINE = np.diag([4.0, 4.0, 8.0, 1.0])


def thorax(seed, n=32, frames=12):
    """Body (5) with a right (1, low axis 0) and a left lung (2) whose bases move; liver (3)."""
    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    body = ((xx - n / 2) / (0.46 * n)) ** 2 + ((yy - n / 2) / (0.48 * n)) ** 2 <= 1
    phase = rng.uniform(0, 2 * np.pi)
    labels = np.zeros((frames, n, n), np.uint8)
    for t in range(frames):
        base = n * 0.35 + 3 * np.sin(2 * np.pi * t / frames + phase)
        lab = np.where(body, 5, 0)
        for side, centre in ((RIGHT_LUNG, n * 0.3), (LEFT_LUNG, n * 0.7)):
            lung = ((xx - centre) / (0.14 * n)) ** 2 + ((yy - n * 0.62) / (0.25 * n)) ** 2 <= 1
            lab[lung & (yy > base + 0.5 * ((xx - centre) / 3) ** 2)] = side
        lab[body & (lab == 5) & (yy < base - 2) & (xx < n / 2)] = 3
        labels[t] = lab
    signal = np.array([0.0, 0.08, 0.08, 0.7, 0.0, 0.5], np.float32)
    frames_ = signal[labels] + rng.normal(0, 0.03, labels.shape).astype(np.float32)
    return np.abs(frames_) * rng.uniform(50, 200), labels


@pytest.fixture(scope="module")
def cohort():
    return {f"b{i}": thorax(i) for i in range(6)}


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("lungs")
    frames, labels = cohort["b0"]
    f_path = save_frames(
        frames,
        AFFINE,
        root / "sub-b0_task-sniff_rtmri.nii.gz",
        frame_times=0.05 * np.arange(len(frames)),
    )
    l_path = save_labels(labels, AFFINE, root / "sub-b0_task-sniff_dseg.nii.gz")
    train = {"b0": [(f_path, l_path)]} | {f"b{i}": [cohort[f"b{i}"]] for i in (1, 2, 3)}
    outputs = {"model": root / "model.pt", "history": root / "history.tsv"}
    threads = torch.get_num_threads()
    train_lung_segmentation(
        train=train,
        val={"b4": [cohort["b4"]]},
        settings=TINY,
        seed=0,
        outputs=outputs,
        provenance={"test": True},
        device=CPU,
        threads=1,
    )
    torch.set_num_threads(threads)
    return outputs


def test_segments_held_out_lungs_on_their_sides(trained, cohort, tmp_path):
    frames, labels = cohort["b5"]
    path = save_frames(
        frames,
        AFFINE,
        tmp_path / "sub-b5_task-sniff_rtmri.nii.gz",
        frame_times=0.05 * np.arange(len(frames)),
    )
    segment_subject(
        "b5",
        series={"sniff": path},
        model=trained["model"],
        outputs={"sniff": tmp_path / "sub-b5_dseg.nii.gz"},
        threads=1,
    )
    predicted = load_labels(tmp_path / "sub-b5_dseg.nii.gz")
    assert predicted.shape == frames.shape and set(np.unique(predicted)) <= {0, 1, 2}
    for lung in (RIGHT_LUNG, LEFT_LUNG):
        assert np.nanmean(dice(predicted, lung_labels(labels), lung, axes=(1, 2))) > 0.85


def test_checkpoint_records_the_study_and_refuses_its_training_subjects(trained):
    meta = json.loads(metadata_path(trained["model"]).read_text())
    assert meta["study"] == "breathing" and meta["classes"] == list(NETWORK_CLASSES)
    assert meta["settings"]["flips"] == [] and meta["settings"]["context"] is False
    with pytest.raises(ModelError, match="b1"):
        load_lung_segmenter(trained["model"], CPU, subject="b1")
