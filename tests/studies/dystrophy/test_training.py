"""Training the classifiers (qmrflow.studies.dystrophy.training)."""

from __future__ import annotations

import json

import pytest
import torch

from qmrflow.dl.checkpoint import load_checkpoint, save_checkpoint
from qmrflow.dl.networks import build_classifier
from qmrflow.errors import ModelError

from .cohort import train


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
