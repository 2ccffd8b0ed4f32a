"""The methods text of study synthmri (qmrflow.studies.synthmri.methods) on synthetic inputs."""

from __future__ import annotations

from tests.report.methods_cases import model_metadata, study_context, text

SETTINGS = {
    "residual_blocks": 6,
    "channels": 24,
    "kernel_size": 5,
    "scale": [1, 3],
    "pretrain_epochs": 11,
    "adversarial_epochs": 7,
    "adversarial_weight": 0.002,
    "batch_size": 3,
    "learning_rate": 0.0004,
}
SCALES = {"T1map": 4000.0, "T2map": 300.0, "PDmap": 1.2}


def _context(change=None, **kwargs):
    generator = model_metadata("generator", SETTINGS, normalisation={"scales": SCALES})
    return study_context("synthmri", change, models={"generator": generator}, **kwargs)


def test_the_text_states_the_configured_values():
    change = {
        "confidence": 0.9,
        "mapping": {"mask_threshold": 0.07, "max_iterations": 33},
        "demo": {"n_subjects": 9, "n_slices": 4, "matrix": [80, 96], "snr": 60},
    }
    out = text(_context(change))
    for expected in (
        "inside a foreground mask at 0.07 of the robust maximum signal",
        "at most 33 iterations",
        "90% intervals",
        "The demo simulates 9 subjects",
        "4 slices of multi-delay multi-echo (MDME) magnitude images",
        "on a 80 x 96 matrix",
        "SNR of 60",
        "saturation delays of 150, 580, 1850 and 3800 ms",  # the demo protocol
        "FLAIR (TR 11000 ms, TE 120 ms, TI 2800 ms)",
    ):
        assert expected in out, expected


def test_the_text_changes_with_the_config():
    base = text(_context())
    for change in (
        {"confidence": 0.99},
        {"mapping": {"max_iterations": 20}},
        {"demo": {"snr": 40}},
        {"dataset": "/data/mdme"},
    ):
        assert text(_context(change)) != base, change
    user = text(_context({"dataset": "/data/mdme"}))
    assert "read from the images' JSON sidecars" in user and "The demo simulates" not in user
    assert "error against the ground truth" not in user


def test_the_generator_and_its_training_come_from_the_models_metadata():
    out = text(_context())
    for expected in (
        "6 residual blocks of 24 channels with 5 x 5 kernels",
        "sub-pixel upsampling (Shi et al. 2016) by 1 x 3",
        "normalised by fixed scales of 4000 ms (T1), 300 ms (T2) and 1.2 (PD)",
        "11 epochs of masked L1 pre-training, then 7 adversarial epochs",
        "adversarial weight of 0.002",
        "Adam (Kingma & Ba 2015) at a learning rate of 0.0004 and batches of 3 slices",
    ):
        assert expected in out, expected


def test_the_text_has_the_citations_checksums_seeds_and_versions():
    out = text(_context())
    for expected in (
        "(JMIR Med Inform 2025)",
        "QRAPMASTER (Warntjes et al. 2008)",
        "doi:10.1002/mrm.21635",
        "SRGAN generator (Ledig et al. 2017)",
        "PatchGAN discriminator (Isola et al. 2017)",
        "(Bland & Altman 1986; Bland & Altman 1999)",
        "Holm-adjusted (Holm 1979)",
        "Wilcoxon signed-rank test (Wilcoxon 1945)",
        "SSIM (Wang et al. 2004)",
        model_metadata("generator")["sha256"],
        "with seed 4321",
        "with qmrflow 9.8.7, PyTorch 3.1.4 and MONAI 2.7.1",
    ):
        assert expected in out, expected
