"""Per-subject classification (qmrflow.studies.dystrophy.classify)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from qmrflow.dl.checkpoint import check_not_trained_on, load_checkpoint, save_checkpoint
from qmrflow.errors import ModelError
from qmrflow.io import load_nifti
from qmrflow.studies.dystrophy.classify import (
    classify_subject,
    load_classifier,
    load_subject_crops,
)

from .cohort import make_subject, train


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


def test_the_inference_program_matches_the_monai_network(cohort):
    _, _, paths = cohort
    model = train(cohort)
    x, _, _ = load_subject_crops(*paths["x0"], "x0", drop_inseparable=False)
    fast = load_classifier("resnet10-lite", model, torch.device("cpu"))
    slow = load_classifier("resnet10-lite", model, torch.device("cpu"), program=False)
    assert fast.has_cam and not isinstance(fast.run, torch.nn.Module)
    assert isinstance(slow.run, torch.nn.Module)
    np.testing.assert_allclose(fast.logits(x), slow.logits(x), atol=1e-5)
    np.testing.assert_allclose(fast.cams(x), slow.cams(x), atol=1e-4)


def test_a_checkpoint_without_a_program_is_rebuilt_from_its_weights(cohort):
    root, _, paths = cohort
    trained = load_checkpoint(train(cohort))
    plain = root / "plain.pt"
    save_checkpoint(trained.state_dict, plain, trained.metadata)
    classifier = load_classifier("resnet10-lite", plain, torch.device("cpu"))
    assert isinstance(classifier.run, torch.nn.Module)
    assert len(classify(root, "x0", *paths["x0"], plain, name="plain"))


def test_classifying_a_subject_does_not_import_monai(cohort):
    root, _, paths = cohort
    model = train(cohort)
    code = f"""
import sys
from qmrflow.studies.dystrophy.classify import classify_subject
classify_subject("x0", crops_path={str(paths["x0"][0])!r}, table_path={str(paths["x0"][1])!r},
    models={{"resnet10-lite": {str(model)!r}}}, primary="resnet10-lite", aggregation="mean",
    drop_inseparable=True, out_probabilities={str(root / "s.tsv")!r},
    out_cam={str(root / "s.nii.gz")!r}, out_overlay={str(root / "s.png")!r})
assert not [m for m in sys.modules if m.split(".")[0] == "monai"], "MONAI was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (root / "s.tsv").is_file()
