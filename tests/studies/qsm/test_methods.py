"""The methods text of study qsm (qmrflow.studies.qsm.methods) on synthetic inputs."""

from __future__ import annotations

from tests.report.methods_cases import model_metadata, study_context, text

RECONSTRUCTION = {
    "features": [12, 24],
    "epochs": 5,
    "batch_size": 3,
    "learning_rate": 0.006,
    "background_weight": 0.2,
    "phase_weight": 0.5,
    "dc_weight": 2.0,
    "learn_dc_weight": False,
    "phase_reference_px": 3.0,
    "augment": True,
}


def _context(change=None, **kwargs):
    models = {"reconstruction": model_metadata("reconstruction", RECONSTRUCTION)}
    return study_context("qsm", change, models=models, **kwargs)


def test_the_text_states_the_configured_values():
    change = {
        "confidence": 0.9,
        "demo": {
            "n_subjects": 8,
            "matrix": [48, 64, 16],
            "voxel_mm": 3.0,
            "echo_times": [0.004, 0.01],
            "b0": 7.0,
            "n_coils": 6,
            "epi_fraction": 0.5,
            "lesions": [2, 5],
        },
        "qsm": {
            "mask_threshold": 0.2,
            "erode_mm": 3.0,
            "vsharp_radii_mm": [9.0, 5.0],
            "vsharp_threshold": 0.03,
            "tkd_threshold": 0.15,
            "tv_lambda": 0.0004,
            "tv_iterations": 60,
        },
        "lesions": {"acquisition": "epi2avg"},
    }
    out = text(_context(change))
    for expected in (
        "The demo simulates 8 subjects",
        "2 to 5 FLAIR lesions each",
        "at 7 T: 6-coil Cartesian k-space",
        "on a 48 x 64 x 16 grid of 3 mm voxels",
        "echo times of 4 and 10 ms",
        "central 0.5 of k-space",
        "thresholded at 0.2 of the robust maximum",
        "eroded by 3 mm",
        "kernel radii of 9 and 5 mm and a threshold of 0.03",
        "at a threshold of 0.15",
        "with lambda 0.0004 and 60 iterations",
        "of the 2-average 3D-EPI (lesions.acquisition epi2avg)",
        "90% intervals",
    ):
        assert expected in out, expected


def test_the_text_changes_with_the_config():
    base = text(_context())
    for change in (
        {"confidence": 0.99},
        {"qsm": {"tkd_threshold": 0.25}},
        {"qsm": {"tv_lambda": 0.001}},
        {"lesions": {"acquisition": "epi2avg"}},
        {"demo": {"seed": 3}},
    ):
        assert text(_context(change)) != base, change
    assert "lambda 0.1 x the median standard error of the fitted field" in base  # tv_lambda null
    assert "The demo's 2 simulated raters" in base
    user = text(_context({"dataset": "/data/qsm", "ratings": "/data/ratings.tsv"}))
    assert "read from /data/ratings.tsv" in user and "The demo simulates" not in user
    unrated = text(_context({"dataset": "/data/qsm"}))
    assert "No ratings table is configured" in unrated


def test_the_reconstruction_network_comes_from_the_models_metadata():
    out = text(_context())
    for expected in (
        "referenced to the phase of its Gaussian-smoothed image (3 pixels)",
        "with 12 and 24 features per level",
        "soft k-space data consistency with a fixed weight of 2",
        "plus 0.5 x the L1 of the echo-to-echo products",
        "the background weighted by 0.2",
        "AdamW (Loshchilov & Hutter 2019) at a learning rate of 0.006",
        "over 5 epochs, batches of 3 slices, random left-right flips",
    ):
        assert expected in out, expected


def test_the_text_has_the_citations_checksums_seeds_and_versions():
    out = text(_context())
    for expected in (
        "(Gkotsoulias et al. 2025)",
        "doi:10.3389/fnins.2025.1544376",
        "(Bernstein et al. 1994)",
        "Laplacian phase unwrapping (Schofield & Zhu 2003)",
        "V-SHARP (Li et al. 2011)",
        "truncated k-space division (Shmueli et al. 2009)",
        "underestimation corrected (Schweser et al. 2013)",
        "ADMM (Bilgic et al. 2014)",
        "quadratic weights (Cohen 1968) for prl, cvs and quality",
        "(Langkammer et al. 2018)",
        "HFEN (Ravishankar & Bresler 2011)",
        model_metadata("reconstruction")["sha256"],
        "with seed 4321",
        "with qmrflow 9.8.7, PyTorch 3.1.4 and MONAI 2.7.1",
    ):
        assert expected in out, expected
