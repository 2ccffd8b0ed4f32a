"""The methods text of study perfusion (qmrflow.studies.perfusion.methods) on synthetic inputs."""

from __future__ import annotations

from tests.report.methods_cases import model_metadata, study_context, text

REGISTRATION = {
    "resolution": 3,
    "fixed": "median",
    "similarity": "lncc",
    "affine_weight": 0.25,
    "smoothness_weight": 0.07,
    "learning_rate": 0.004,
    "epochs": 13,
    "batch_size": 24,
    "augment_shift": 2.5,
}
SEGMENTATION = {
    "channels": [8, 16, 32],
    "num_res_units": 2,
    "dropout": 0.1,
    "epochs": 9,
    "batch_size": 6,
    "learning_rate": 0.02,
    "weight_decay": 0.0003,
    "frames_per_series": 12,
    "augment": True,
    "context": True,
    "shift": 4,
    "flips": [0, 1],
    "transpose": True,
}


def _context(change=None, provenance=None, **kwargs):
    extra = {"provenance": {"registration": provenance}} if provenance else {}
    models = {
        "registration": model_metadata("registration", REGISTRATION, **extra),
        "segmentation": model_metadata("segmentation", SEGMENTATION),
    }
    return study_context("perfusion", change, models=models, **kwargs)


def test_the_text_states_the_configured_values():
    change = {
        "confidence": 0.9,
        "demo": {"n_subjects": 7, "n_frames": 30, "matrix": [48, 80], "snr": 15},
        "registration": {
            "iterative": {
                "lambdas": [0.9, 1.2],
                "components": [4],
                "bspline_mesh": [5, 6],
                "affine_iterations": 33,
                "bspline_iterations": 12,
            }
        },
        "quantification": {
            "r10_myocardium": 0.9,
            "r10_blood": 0.6,
            "relaxivity": 4.1,
            "baseline_frames": 5,
        },
    }
    out = text(_context(change))
    for expected in (
        "The demo simulates 7 subjects",
        "series of 30 frames",
        "48 x 80 short-axis grid",
        "SNR of 15",
        "2 round(s) against the low-rank part of robust PCA",
        "lambda 0.9 and 1.2 x 1/sqrt(max(m, n))",
        "1 round(s) against a PCA reference of 4 components",
        "at most 33 iterations of regular-step gradient descent",
        "cubic B-spline on a 5 x 6 control mesh (L-BFGS-B, at most 12 iterations)",
        "native R1 of 0.9/s (myocardium) and 0.6/s (blood)",
        "relaxivity of 4.1/(mM s)",
        "mean of the first 5 frames",
        "mean difference with its 90% interval",
        "run without the B-spline stage",  # the default training references
    ):
        assert expected in out, expected


def test_the_text_changes_with_the_config():
    base = text(_context())
    for change in (
        {"confidence": 0.99},
        {"quantification": {"relaxivity": 5.0}},
        {"registration": {"iterative": {"bspline_mesh": None}}},
        {"registration": {"iterative": {"components": [2, 4, 6]}}},
        {"dataset": "/data/perfusion"},
    ):
        assert text(_context(change)) != base, change
    affine = text(_context({"registration": {"iterative": {"bspline_mesh": None}}}))
    assert "(no B-spline stage)" in affine
    user = text(_context({"dataset": "/data/perfusion"}))
    assert "compared with the truth" not in user and "/data/perfusion" in user


def test_the_networks_and_their_training_come_from_the_models_metadata():
    out = text(_context())
    for expected in (
        "average-pooled by 3",
        "one minus the local normalised cross-correlation",
        "plus 0.25 x that of the affine-warped frame plus 0.07 x the bending energy",
        "Adam (Kingma & Ba 2015) at a learning rate of 0.004",
        "over 13 epochs, batches of 24 frames, random shifts of up to 2.5 voxels",
        "8, 16 and 32 channels per level, 2 residual units per block, dropout 0.1",
        "12 frames sampled evenly over each series",
        "AdamW (Loshchilov & Hutter 2019) at a learning rate of 0.02 with weight decay 0.0003",
        "over 9 epochs, batches of 6 frames",
        "shifts of the frame against the summary of up to 4 pixels",
    ):
        assert expected in out, expected
    # A given model is described with the references it was trained with.
    trained = {
        "iterative": {"lambdas": [], "components": [3], "bspline_mesh": None},
        "reference": {"components": [2]},
    }
    given = text(_context(provenance=trained, given=["registration"]))
    assert "run with components 2" in given
    assert "applied as given in the configuration" in given


def test_the_text_has_the_citations_checksums_seeds_and_versions():
    out = text(_context())
    for expected in (
        "(Schueler et al. 2026)",
        "(Candès et al. 2011; Lin et al. 2010)",
        "(Scannell et al. 2019; Hamy et al. 2014)",
        "Fermi-constrained deconvolution (Jerosch-Herold et al. 1998)",
        "doi:10.1118/1.598163",
        "AHA segment (Cerqueira et al. 2002)",
        "SimpleITK (Lowekamp et al. 2013)",
        "LocalNet (deformable) (Hu et al. 2018)",
        "U-Net (Ronneberger et al. 2015)",
        "Holm-adjusted (Holm 1979)",
        model_metadata("registration")["sha256"],
        model_metadata("segmentation")["sha256"],
        "with seed 4321",
        "with qmrflow 9.8.7, PyTorch 3.1.4 and MONAI 2.7.1",
    ):
        assert expected in out, expected
