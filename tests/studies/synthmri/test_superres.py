"""Super-resolution of the fast maps (qmrflow.studies.synthmri.superres) on tiny synthetic maps."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmrflow.dl.checkpoint import load_checkpoint, metadata_path, sha256sum
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import load_nifti, save_nifti
from qmrflow.studies.synthmri.superres import (
    MAPS,
    check_geometry,
    denormalise,
    normalise,
    spline_upsample,
    superresolve_subject,
    train_superresolution,
)

SHAPE = (16, 16, 2)  # routine grid: x, y (phase encoding), slices
ROUTINE_AFFINE = np.array(
    [[2.0, 0, 0, -16], [0, 2.0, 0, -16], [0, 0, 5.0, 0], [0, 0, 0, 1]], dtype=float
)
# Same field of view with twice the y spacing: fast voxel j is centred at routine index 2j + 0.5.
FAST_AFFINE = ROUTINE_AFFINE @ np.array(
    [[1.0, 0, 0, 0], [0, 2.0, 0, 0.5], [0, 0, 1.0, 0], [0, 0, 0, 1]]
)
TISSUE = {"T1map": (800.0, 1300.0), "T2map": (80.0, 110.0), "PDmap": (0.7, 0.8)}
TINY = {
    "channels": 4,
    "residual_blocks": 1,
    "kernel_size": 3,
    "pretrain_epochs": 1,
    "adversarial_epochs": 1,
    "batch_size": 2,
    "learning_rate": 1e-3,
    "adversarial_weight": 1e-3,
}


def _subject(root, label, seed, *, fast_shape=None, fast_affine=FAST_AFFINE):
    """Write a subject: smooth two-tissue maps, brain mask, fast maps averaged over y pairs."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    radius = np.hypot(x - 7.5 + rng.normal(0, 0.5), y - 7.5 + rng.normal(0, 0.5))
    inner = 1.0 / (1.0 + np.exp(radius - 4.0))  # smooth "white matter" disc
    brain = radius < 7.0
    folder = root / f"sub-{label}" / "anat"
    fast, routine = {}, {}
    for key, (low, high) in TISSUE.items():
        value = (high + (low - high) * inner) * brain
        volume = np.repeat(value[..., None], SHAPE[2], axis=2).astype(np.float32)
        volume *= 1.0 + 0.01 * rng.normal(size=SHAPE).astype(np.float32)
        small = 0.5 * (volume[:, 0::2] + volume[:, 1::2])
        if fast_shape is not None:
            small = np.zeros(fast_shape, dtype=np.float32)
        routine[key] = save_nifti(
            volume, folder / f"sub-{label}_acq-routine_{key}.nii.gz", ROUTINE_AFFINE
        )
        fast[key] = save_nifti(small, folder / f"sub-{label}_acq-fast_{key}.nii.gz", fast_affine)
    mask_volume = np.repeat(brain[..., None], SHAPE[2], axis=2).astype(np.uint8)
    mask = save_nifti(
        mask_volume, folder / f"sub-{label}_acq-routine_desc-brain_mask.nii.gz", ROUTINE_AFFINE
    )
    return fast, routine, mask


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthmri")
    return root, {label: _subject(root, label, i) for i, label in enumerate(["a", "b", "c", "d"])}


def _train(dataset, out, seed=0, settings=TINY):
    _, subjects = dataset
    outputs = {"model": out / "model.pt", "history": out / "history.tsv"}
    train_superresolution(
        train=[subjects["a"], subjects["b"]],
        val=[subjects["c"]],
        settings=settings,
        seed=seed,
        outputs=outputs,
        provenance={"study": "synthmri", "test": True},
        threads=1,
    )
    return outputs


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    return _train(dataset, tmp_path_factory.mktemp("model"))


def _outputs(folder):
    return {
        f"{kind}_{key}": folder / f"{kind}_{key}.nii.gz"
        for kind in ("dl", "spline")
        for key in MAPS
    }


def test_normalisation_round_trip_and_range():
    values = {"T1map": [0, 800, 4000, 4500], "T2map": [0, 80, 300, 2000], "PDmap": [0, 0.7, 1.0]}
    for key, raw in values.items():
        raw = np.asarray(raw, dtype=np.float32)
        n = normalise(raw, key)
        assert n.min() >= 0 and n.max() <= 4
        np.testing.assert_allclose(denormalise(n, key), raw, rtol=1e-5)
    assert normalise(np.array([-5.0]), "T1map")[0] == 0
    assert 1 < normalise(np.array([1800.0]), "T2map")[0] < 3  # CSF compressed, not clipped


def test_training_writes_checkpoint_and_history(trained):
    meta = json.loads(metadata_path(trained["model"]).read_text())
    assert meta["sha256"] == sha256sum(trained["model"])
    assert meta["training_subjects"] == ["a", "b"]
    assert meta["validation_subjects"] == ["c"]
    assert meta["settings"]["residual_blocks"] == 1
    assert meta["provenance"] == {"study": "synthmri", "test": True}
    assert meta["seed"] == 0
    assert meta["n_train_slices"] == 4
    history = pd.read_csv(trained["history"], sep="\t")
    assert list(history.columns) == [
        "epoch",
        "phase",
        "train_loss",
        "val_loss",
        "val_psnr",
        "d_loss",
    ]
    assert history["phase"].tolist() == ["pretrain", "adversarial"]
    assert np.isnan(history["d_loss"][0]) and np.isfinite(history["d_loss"][1])
    assert meta["best_val_loss"] == pytest.approx(history["val_loss"].min())
    assert load_checkpoint(trained["model"]).state_dict


def test_training_is_deterministic_for_a_seed(dataset, trained, tmp_path):
    again = _train(dataset, tmp_path / "again")
    assert sha256sum(again["model"]) == sha256sum(trained["model"])
    other = _train(dataset, tmp_path / "other", seed=1)
    assert sha256sum(other["model"]) != sha256sum(trained["model"])


def test_superresolve_writes_maps_on_the_reference_grid(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["d"]
    outputs = _outputs(tmp_path)
    superresolve_subject(
        fast=fast,
        reference=routine["T1map"],
        mask=mask,
        model=trained["model"],
        subject="d",
        outputs=outputs,
        threads=1,
    )
    brain = load_nifti(mask).data > 0
    for key, path in outputs.items():
        image = load_nifti(path, dtype=None)
        assert image.data.shape == SHAPE, key
        assert image.data.dtype == np.float32
        np.testing.assert_allclose(image.affine, ROUTINE_AFFINE)
        assert np.all(image.data[~brain] == 0)
        assert np.all(image.data[brain] >= 0)
    t1 = load_nifti(outputs["spline_T1map"]).data[brain]
    assert 700 < np.median(t1) < 1400


def test_superresolve_refuses_a_training_subject(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["a"]
    with pytest.raises(ModelError, match=r"sub-a.*trained"):
        superresolve_subject(
            fast=fast,
            reference=routine["T1map"],
            mask=mask,
            model=trained["model"],
            subject="a",
            outputs=_outputs(tmp_path),
        )


def test_a_generator_named_in_the_config_is_checked_against_its_sha256(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["d"]
    outputs = _outputs(tmp_path)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        superresolve_subject(
            fast=fast,
            reference=routine["T1map"],
            mask=mask,
            model=trained["model"],
            subject="d",
            outputs=outputs,
            sha256="0" * 64,
        )
    assert not any(Path(path).exists() for path in outputs.values())


def test_spline_baseline_of_a_smooth_image_is_close_to_the_truth():
    def truth(x, y):  # world coordinates, mm
        return 1000.0 + 300.0 * np.sin(x / 9.0) * np.cos(y / 11.0)

    def sample(shape, affine):
        index = np.indices(shape).reshape(3, -1)
        world = affine[:3, :3] @ index + affine[:3, 3:4]
        return truth(world[0], world[1]).reshape(shape)

    fast_shape = (SHAPE[0], SHAPE[1] // 2, SHAPE[2])
    mapping = check_geometry(fast_shape, FAST_AFFINE, SHAPE, ROUTINE_AFFINE, (1, 2))
    upsampled = spline_upsample(sample(fast_shape, FAST_AFFINE), mapping, SHAPE)
    expected = sample(SHAPE, ROUTINE_AFFINE)
    interior = (slice(None), slice(2, -2), slice(None))  # edges are extrapolated
    np.testing.assert_allclose(upsampled[interior], expected[interior], atol=5.0)
    assert np.abs(upsampled - expected).max() < 30.0


@pytest.mark.parametrize(
    ("fast_shape", "fast_affine", "message"),
    [
        ((16, 16, 2), FAST_AFFINE, "shape"),
        ((16, 8, 3), FAST_AFFINE, "shape"),
        (None, ROUTINE_AFFINE @ np.diag([1.0, 2.0, 1.0, 1.0]), "field of view"),
    ],
)
def test_geometry_mismatch_raises(dataset, trained, tmp_path, fast_shape, fast_affine, message):
    _, subjects = dataset
    bad = _subject(tmp_path, "e", 9, fast_shape=fast_shape, fast_affine=fast_affine)
    fast, routine, mask = bad
    with pytest.raises(InputDataError, match=message) as error:
        superresolve_subject(
            fast=fast,
            reference=routine["T1map"],
            mask=mask,
            model=trained["model"],
            subject="e",
            outputs=_outputs(tmp_path),
        )
    assert "sub-e_acq-fast_T1map" in str(error.value)
    assert "sub-e_acq-routine_T1map" in str(error.value)
    with pytest.raises(InputDataError, match=message):
        train_superresolution(
            train=[bad],
            val=[subjects["c"]],
            settings=TINY,
            seed=0,
            outputs={"model": tmp_path / "m.pt", "history": tmp_path / "h.tsv"},
            provenance={},
        )
    assert not (tmp_path / "m.pt").exists()


def test_train_and_val_must_be_disjoint(dataset, tmp_path):
    _, subjects = dataset
    with pytest.raises(ValueError, match="both train and val"):
        train_superresolution(
            train=[subjects["a"]],
            val=[subjects["a"]],
            settings=TINY,
            seed=0,
            outputs={"model": tmp_path / "m.pt", "history": tmp_path / "h.tsv"},
            provenance={},
        )


def test_an_item_mixing_subjects_is_refused(dataset, tmp_path):
    _, subjects = dataset
    fast, _, mask = subjects["a"]
    _, routine_b, _ = subjects["b"]
    with pytest.raises(InputDataError, match="mixes subjects"):
        train_superresolution(
            train=[(fast, routine_b, mask)],
            val=[subjects["c"]],
            settings=TINY,
            seed=0,
            outputs={"model": tmp_path / "m.pt", "history": tmp_path / "h.tsv"},
            provenance={},
        )
