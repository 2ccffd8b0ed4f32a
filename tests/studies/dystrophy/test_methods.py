"""The methods text of study dystrophy (qmrflow.studies.dystrophy.methods) on synthetic inputs."""

from __future__ import annotations

from tests.report.methods_cases import (
    merged,
    model_metadata,
    participants,
    study_context,
    text,
)

SETTINGS = {
    "epochs": 30,
    "patience": 5,
    "batch_size": 12,
    "optimizer": "sgd",
    "learning_rate": 0.003,
    "weight_decay": 0.0002,
    "augment": True,
    "momentum": 0.8,
}
DIAGNOSES = ["DMD", "LGMD2A", "BMD", "myositis", "DMD", "BMD"]


def _context(change=None, *, cam="cam", settings=SETTINGS, **kwargs):
    change = merged({"model": {"architectures": ["resnet10-lite"]}}, change or {})
    architectures = change["model"]["architectures"]
    models = {
        name: model_metadata(name, train_config=settings, description=f"{name} net", cam=cam)
        for name in architectures
    }
    table, splits = participants((3, 1, 2), diagnosis=DIAGNOSES)
    return study_context("dystrophy", change, models=models, table=table, splits=splits, **kwargs)


def test_the_text_states_the_configured_values():
    change = {
        "threshold": 0.7,
        "case_aggregation": "max",
        "confidence": 0.9,
        "roi": {"margin": 7, "out_shape": [96, 48], "drop_inseparable": False},
        "demo": {"n_cases": 20, "slices_per_case": 3, "image_shape": [200, 150], "n_raters": 4},
        "model": {"architectures": ["resnet18", "densenet121"]},
    }
    out = text(_context(change))
    for expected in (
        "positive at a probability of 0.7 or more",
        "a case's is the maximum over its slices",
        "90% Wilson score intervals",
        "90% DeLong interval",
        "widened by 7 pixels",
        "resized to 96 x 48 pixels",
        "Slices whose legs could not be separated were kept",
        "20 cases with 3 axial mid-thigh T1-weighted slices each (200 x 150 pixels)",
        "the 4 simulated raters",
        "resnet18 (resnet18 net; He et al. 2016) and densenet121 (densenet121 net; Huang",
        "resnet18 is the primary model",
        "compared with that of densenet121 by the paired DeLong test, Holm-adjusted",
        "The test subjects' diagnoses: 1 DMD and 1 BMD.",
    ):
        assert expected in out, expected


def test_the_text_changes_with_the_config():
    base = text(_context())
    for change in (
        {"threshold": 0.6},
        {"confidence": 0.99},
        {"roi": {"margin": 9}},
        {"case_aggregation": "max"},
        {"demo": {"seed": 11}},
    ):
        assert text(_context(change)) != base, change
    assert "Holm" not in base  # one architecture: nothing to compare


def test_training_settings_come_from_the_models_metadata():
    out = text(_context())
    for expected in (
        "SGD with momentum 0.8",
        "learning rate 0.003 with cosine annealing",
        "over at most 30 epochs",
        "stopping early after 5 epochs without a lower validation loss",
        "weight decay 0.0002",
        "batch size 12",
        "trained in this run on the 3 training subjects and selected on the 1 validation",
    ):
        assert expected in out, expected
    adamw = text(_context(settings=SETTINGS | {"optimizer": "adamw", "augment": False}))
    assert "AdamW (Loshchilov & Hutter 2019)" in adamw and "no augmentation" in adamw
    assert "Grad-CAM maps (Selvaraju et al. 2017)" in text(_context(cam="gradcam"))


def test_the_text_has_the_citations_checksums_seeds_and_versions():
    out = text(_context())
    for expected in (
        "(Yang et al. 2021)",
        "doi:10.1186/s12883-020-02036-0",
        "Otsu's method (Otsu 1979)",
        "Cohen's kappa (Cohen 1960)",
        "Fleiss' kappa (Fleiss 1971)",
        "Class activation maps (Zhou et al. 2016)",
        model_metadata("resnet10-lite")["sha256"],
        "with seed 4321",
        "with qmrflow 9.8.7, PyTorch 3.1.4 and MONAI 2.7.1",
        "Snakemake 9.99.0",
    ):
        assert expected in out, expected


def test_a_users_dataset_and_its_raters_are_named():
    out = text(_context({"dataset": "/data/thighs", "ratings": "/data/raters.tsv"}))
    assert "the BIDS dataset (Gorgolewski et al. 2016) at /data/thighs" in out
    assert "simulated" not in out and "the raters of /data/raters.tsv" in out
    given = text(_context({"dataset": "/data/thighs"}, given=["resnet10-lite"]))
    assert "the dataset's ratings.tsv" in given
    assert "applied as given in the configuration" in given
