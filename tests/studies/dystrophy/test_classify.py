"""Training and per-subject classification (qmrflow.studies.dystrophy.classify)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from qmrflow.dl.checkpoint import check_not_trained_on, load_checkpoint, save_checkpoint
from qmrflow.dl.networks import build_classifier
from qmrflow.errors import ModelError
from qmrflow.io import load_nifti, save_nifti, write_tsv
from qmrflow.studies.dystrophy.classify import (
    classify_subject,
    load_subject_crops,
    train_architecture,
)

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


@pytest.fixture
def cohort(tmp_path):
    labels = {f"t{i}": i % 2 for i in range(6)} | {f"v{i}": i % 2 for i in range(2)} | {"x0": 1}
    paths = {s: make_subject(tmp_path, s, y, seed=i) for i, (s, y) in enumerate(labels.items())}
    return tmp_path, labels, paths


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


def classify(root, subject, crops, table, model, name="p", sha256=None):
    """classify_subject with the test defaults; outputs named ``<name>.*`` under ``root``."""
    return classify_subject(
        subject,
        crops_path=crops,
        table_path=table,
        models={"resnet10-lite": model},
        primary="resnet10-lite",
        aggregation="mean",
        sha256={"resnet10-lite": sha256},
        drop_inseparable=True,
        out_probabilities=root / f"{name}.tsv",
        out_cam=root / f"{name}.nii.gz",
        out_overlay=root / f"{name}.png",
    )


def test_inseparable_slices_are_dropped(cohort):
    _, _, paths = cohort
    x, table, _ = load_subject_crops(*paths["t0"], "t0", drop_inseparable=True)
    assert x.shape == (2, 1, 64, 32)
    assert list(table["slice"]) == [1, 2]
    x, _, _ = load_subject_crops(*paths["t0"], "t0", drop_inseparable=False)
    assert len(x) == 3


def test_training_writes_checkpoint_with_provenance(cohort):
    out = train(cohort)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["training_subjects"] == [f"t{i}" for i in range(6)]
    assert meta["validation_subjects"] == ["v0", "v1"]
    assert meta["seed"] == 3 and len(meta["config_hash"]) == 64
    assert meta["n_train_images"] == 12  # 2 separable slices x 6 subjects
    assert meta["transfer_learning"] is None
    assert load_checkpoint(out).sha256 == meta["sha256"]
    assert (out.parent / "history.tsv").is_file()


def test_classify_writes_image_and_case_probabilities_and_cams(cohort):
    root, _, paths = cohort
    model = train(cohort)
    table = classify(root, "x0", *paths["x0"], model, name="cam")
    images = table[table["level"] == "image"]
    case = table[table["level"] == "case"]
    assert list(images["slice"]) == [1, 2, 3]
    assert list(images["usable"]) == [True, True, False]  # slice 3: legs not separable
    usable = images.loc[images["usable"], "probability"]
    assert case["probability"].iloc[0] == pytest.approx(usable.mean())
    cam = load_nifti(root / "cam.nii.gz", ndim=4).data
    assert cam.shape == (64, 32, 3, 2)
    assert (root / "cam.png").read_bytes()[:4] == b"\x89PNG"
    assert 0 <= cam[..., 1].min() and cam[..., 1].max() <= 1


def test_evaluating_a_training_subject_is_refused(cohort):
    root, _, paths = cohort
    model = train(cohort)
    with pytest.raises(ModelError, match=r"sub-t1: model .* trained/selected on this subject"):
        classify(root, "t1", *paths["t1"], model)
    assert not (root / "p.tsv").exists()
    with pytest.raises(ModelError):
        check_not_trained_on("v0", {"validation_subjects": ["v0"]}, model)


def test_transfer_learning_freezes_the_pretrained_backbone(cohort):
    root, _, _ = cohort
    torch.manual_seed(11)
    pretrained = build_classifier("resnet10-lite").state_dict()
    backbone = root / "backbone.pt"
    digest = save_checkpoint(pretrained, backbone, {"architecture": "resnet10-lite"})
    out = train(cohort, pretrained_backbone=str(backbone), pretrained_sha256=digest)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["transfer_learning"]["sha256"] == digest
    trained = load_checkpoint(out).state_dict
    for key, value in pretrained.items():
        if not key.startswith("fc."):
            torch.testing.assert_close(trained[key], value, msg=key)
    assert not torch.equal(trained["fc.weight"], pretrained["fc.weight"])
    assert meta["trainable_parameters"] == trained["fc.weight"].numel() + trained["fc.bias"].numel()


def test_wrong_backbone_checksum_is_refused(cohort):
    root, _, _ = cohort
    backbone = root / "backbone.pt"
    save_checkpoint(build_classifier("resnet10-lite").state_dict(), backbone, {})
    with pytest.raises(ModelError, match="sha256 mismatch"):
        train(cohort, pretrained_backbone=str(backbone), pretrained_sha256="0" * 64)


def test_a_model_named_in_the_config_is_checked_against_its_sha256(cohort):
    root, _, _ = cohort
    model = train(cohort)
    crops, table = make_subject(root, "n1", 1)
    digest = json.loads(model.with_suffix(".json").read_text())["sha256"]
    assert len(classify(root, "n1", crops, table, model, sha256=digest))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        classify(root, "n1", crops, table, model, name="q", sha256="0" * 64)
    assert not (root / "q.tsv").exists()


def test_a_case_without_separable_slices_is_excluded_not_failed(cohort, caplog):
    root, _, _ = cohort
    crops, table = make_subject(root, "z9", 1, separable=(False, False, False))
    model = train(cohort)
    result = classify(root, "z9", crops, table, model, name="z")
    case = result[result["level"] == "case"].iloc[0]
    assert np.isnan(case["probability"]) and not case["usable"]
    assert "could not be separated on any slice" in caplog.text
