"""The methods text of study breathing (qmrflow.studies.breathing.methods) on synthetic inputs."""

from __future__ import annotations

from tests.report.methods_cases import model_metadata, participants, study_context, text

SEGMENTATION = {
    "channels": [8, 16, 32, 64],
    "num_res_units": 0,
    "dropout": 0.0,
    "epochs": 7,
    "batch_size": 5,
    "learning_rate": 0.03,
    "weight_decay": 0.0001,
    "frames_per_series": 21,
    "augment": True,
    "context": False,
    "shift": 0,
    "flips": [],
    "transpose": False,
}
GROUPS = ["patient", "control", "patient", "control", "patient", "patient"]


def _context(change=None, **kwargs):
    table, splits = participants((3, 1, 2), group=GROUPS)
    models = {"segmentation": model_metadata("segmentation", SEGMENTATION)}
    return study_context("breathing", change, models=models, table=table, splits=splits, **kwargs)


def test_the_text_states_the_configured_values():
    change = {
        "confidence": 0.9,
        "demo": {
            "n_patients": 5,
            "n_controls": 4,
            "splits": [4, 1, 4],
            "n_coils": 12,
            "frame_s": 0.04,
            "breathing_s": 9.0,
            "sniff_s": 5.0,
            "snr": 30,
        },
        "reconstruction": {"sense": {"iterations": 9, "lam": 0.2, "lam0": 0.05, "device": "cpu"}},
        "measures": {"paradoxical_threshold_mm": 3.5},
    }
    out = text(_context(change))
    for expected in (
        "The demo simulates 5 patients and 4 controls",
        "from 12 coils at 40 ms per frame",
        "9 s of quiet and deep breathing and 5 s around a sniff",
        "SNR of 30",
        "regularised toward the previous one (weight 0.2) and toward zero (Tikhonov, 0.05)",
        "solved by 9 conjugate-gradient iterations",
        "on the CPU",
        "rising by more than 3.5 mm",
        "their 90% intervals",
        "The test subjects are 2 patients.",
    ):
        assert expected in out, expected


def test_the_text_changes_with_the_config():
    base = text(_context())
    for change in (
        {"confidence": 0.99},
        {"reconstruction": {"sense": {"lam": 0.5}}},
        {"reconstruction": {"sense": {"device": "cuda"}}},
        {"measures": {"paradoxical_threshold_mm": 1.5}},
        {"dataset": "/data/rtmri"},
    ):
        assert text(_context(change)) != base, change
    assert "on a GPU when the job has one, else on the CPU" in base  # device auto
    user = text(_context({"dataset": "/data/rtmri"}))
    assert "The demo simulates" not in user and "Wilson" not in user


def test_the_unet_and_its_training_come_from_the_models_metadata():
    out = text(_context())
    for expected in (
        "8, 16, 32 and 64 channels per level, which sees each frame alone",
        "21 frames sampled evenly over each series",
        "at a learning rate of 0.03 with weight decay 0.0001",
        "over 7 epochs, batches of 5 frames",
        "augmentation by a random intensity scale of the frame",  # no flips: the lungs' sides
    ):
        assert expected in out, expected


def test_the_text_has_the_citations_checksums_seeds_and_versions():
    out = text(_context())
    for expected in (
        "(Zeng et al. 2026)",
        "Walsh's adaptive combination (Walsh et al. 2000)",
        "(Jackson et al. 1991; Barnett et al. 2019)",
        "CG-SENSE (Pruessmann et al. 2001)",
        "ISMRMRD files (Inati et al. 2017)",
        "(Deichmann & Haase 1992)",
        "the magnitude null (Barral et al. 2010)",
        "Mann-Whitney U test (Mann & Whitney 1947)",
        "Welch's t-test (Welch 1947)",
        "Holm-adjusted (Holm 1979)",
        "fvc_upright_pct, fvc_supine_drop_pct, mip and snip",
        model_metadata("segmentation")["sha256"],
        "with seed 4321",
        "with qmrflow 9.8.7, PyTorch 3.1.4 and MONAI 2.7.1",
    ):
        assert expected in out, expected
