"""Myocardium segmentation U-Net (qmrflow.studies.perfusion.segmentation)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from qmrflow.dl.checkpoint import metadata_path, sha256sum
from qmrflow.dl.inference import Program
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import save_nifti
from qmrflow.studies.perfusion.segmentation import (
    MYOCARDIUM,
    dice,
    load_segmenter,
    map_labels,
    network_inputs,
    normalise_frames,
    segment_series,
    train_segmentation,
    training_frames,
)
from qmrflow.studies.perfusion.series import save_series

CPU = torch.device("cpu")
#: Small enough for a few seconds on one core; easy rings reach Dice > 0.85.
TINY = {
    "channels": (8, 16, 32),
    "num_res_units": 0,
    "epochs": 16,
    "batch_size": 8,
    "frames_per_series": 8,
}
AFFINE = np.diag([1.5, 1.5, 8.0, 1.0])


def ring_subject(seed, n=32, slices=2, frames=10):
    """A short-axis ring phantom: series (X, Y, S, T) and study labels 0-5 (X, Y, S).

    LV blood pool (1) inside a myocardial ring (2), an RV crescent (3) beside it, liver (4) and
    body (5) around; a gamma-variate-like first pass enhances the blood, then the tissue.
    """
    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    t = np.arange(frames, dtype=np.float32)
    peak = frames / 3
    blood = (t / peak) ** 2 * np.exp(2 * (1 - t / peak))
    tissue = np.convolve(blood, np.exp(-t / 3.0))[:frames] / 3.0
    gain = np.zeros((6, frames), np.float32)
    gain[1], gain[2], gain[3] = blood, 0.4 * tissue, np.append(blood[1:], blood[-1])
    gain[4], gain[5] = 0.1 * tissue, 0.15 * tissue
    base = np.array([0.0, 0.25, 0.12, 0.25, 0.35, 0.3], np.float32)
    labels = np.zeros((n, n, slices), np.uint8)
    for s in range(slices):
        cx, cy = n / 2 + rng.uniform(-2, 2, 2)
        r_in = rng.uniform(4.0, 5.5)
        r_out = r_in + rng.uniform(2.0, 3.0)
        d = np.hypot(xx - cx, yy - cy)
        body = ((xx - n / 2) / (0.47 * n)) ** 2 + ((yy - n / 2) / (0.42 * n)) ** 2 <= 1
        lab = np.where(body, 5, 0)
        lab[body & (xx > cx + r_out + 3)] = 4
        lab[(np.hypot(xx - cx, yy - (cy - r_out - 2)) < r_in + 1.5) & (d > r_out + 1)] = 3
        lab[d < r_out] = 2
        lab[d < r_in] = 1
        labels[:, :, s] = lab
    series = base[labels][..., None] + gain[labels]
    series += rng.normal(0, 0.02, series.shape)
    return (np.abs(series) * rng.uniform(50, 200)).astype(np.float32), labels


@pytest.fixture(scope="module")
def cohort():
    return {f"s{i}": ring_subject(i) for i in range(7)}


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    """Train once: s0 given as files, s1-s4 as arrays; s5 validates, s6 is held out."""
    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("segmentation")
    series, labels = cohort["s0"]
    series_path = root / "sub-s0_acq-stress_perf.nii.gz"
    save_series(series, AFFINE, series_path, frame_times=np.arange(10.0), saturation_time=0.1)
    labels_path = save_nifti(labels, root / "sub-s0_dseg.nii.gz", AFFINE[:, :])
    train = {"s0": (series_path, labels_path)} | {f"s{i}": cohort[f"s{i}"] for i in range(1, 5)}
    outputs = {"model": root / "model.pt", "history": root / "history.tsv"}
    result = train_segmentation(
        train=train,
        val={"s5": cohort["s5"]},
        settings=TINY,
        seed=0,
        outputs=outputs,
        provenance={"study": "perfusion", "test": True},
        device=CPU,
        threads=1,  # one thread: on a loaded 2-core machine two threads contend badly
    )
    torch.set_num_threads(threads)
    return outputs | {"result": result, "train": train}


def test_labels_map_to_network_classes():
    np.testing.assert_array_equal(map_labels(np.arange(6)), [0, 1, 2, 3, 0, 0])
    assert map_labels(np.arange(6, dtype=np.uint8)).dtype == np.int64
    with pytest.raises(ValueError, match="integers 0-5"):
        map_labels(np.array([0, 6]))
    with pytest.raises(ValueError, match="integers 0-5"):
        map_labels(np.array([0.5]))


def test_training_frames_sample_the_series_and_map_labels(cohort):
    series, labels = cohort["s0"]
    moving = np.repeat(labels[..., None], 10, axis=3)
    moving[..., -1] = 0  # per-frame labels follow the frame they belong to
    x, y = training_frames([series, series], [labels, moving], frames_per_series=4, context=True)
    assert x.shape == (2 * 2 * 4, 3, 32, 32) and x.dtype == np.float32
    assert y.shape == (16, 32, 32) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(y[0], map_labels(labels[:, :, 0]))
    # frames 0, 3, 6, 9 of slice 0, then slice 1: the last frame is sampled
    np.testing.assert_allclose(x[3, 0], normalise_frames(series[:, :, 0, 9]))
    assert not y[8 + 3].any() and y[8 + 2].any()
    np.testing.assert_allclose(np.percentile(x, 99, axis=(2, 3)), 1.0, rtol=1e-5)
    # the context channels: the slice's temporal maximum and SD over all its frames
    np.testing.assert_allclose(x[2, 1], normalise_frames(series[:, :, 0].max(axis=-1)), rtol=1e-6)
    np.testing.assert_allclose(x[2, 2], normalise_frames(series[:, :, 0].std(axis=-1)), rtol=1e-5)
    np.testing.assert_array_equal(x[0, 1:], x[3, 1:])
    assert not np.allclose(x[0, 1:], x[4, 1:])  # slice 1 has its own
    frame_only, _ = training_frames([series], [labels], frames_per_series=4, context=False)
    np.testing.assert_array_equal(frame_only, x[:8, :1])
    with pytest.raises(ValueError, match="do not match"):
        training_frames([series], [labels[:, :, :1]])


def test_network_inputs_of_chosen_frames(cohort):
    series, _ = cohort["s1"]
    every = network_inputs(series, context=True)
    assert every.shape == (2, 10, 3, 32, 32)
    some = network_inputs(series, frames=[2, 7], context=True)
    np.testing.assert_array_equal(some, every[:, [2, 7]])
    assert network_inputs(series).shape == (2, 10, 1, 32, 32)


def test_training_segments_held_out_rings(trained, cohort):
    run, settings, checkpoint = load_segmenter(trained["model"], CPU)
    assert checkpoint.metadata["study"] == "perfusion"
    assert isinstance(run, Program)  # the inference program: no MONAI needed
    assert settings.channels == (8, 16, 32)
    series, labels = cohort["s6"]
    assert (
        not settings.context and settings.in_channels == 1
    )  # the study's default: the frame alone
    predicted = segment_series(run, series, device=CPU, batch_size=7, context=settings.context)
    assert predicted.shape == series.shape and predicted.dtype == np.uint8
    truth = map_labels(np.broadcast_to(labels[..., None], series.shape))
    scores = dice(predicted, truth, MYOCARDIUM)
    assert scores.shape == (2, 10)
    assert np.nanmean(scores) > 0.7
    assert np.median(scores[:, 3]) > 0.7  # the peak frame of the held-out subject


def test_labels_follow_the_frame_not_the_context(trained, cohort):
    """A frame moved against the rest of its series is labelled where it shows the heart."""
    run, settings, _ = load_segmenter(trained["model"], CPU)
    series, labels = cohort["s6"]
    moved = series.copy()
    moved[:, :, :, 4] = np.roll(series[:, :, :, 4], (3, 3), axis=(0, 1))
    predicted = segment_series(run, moved, device=CPU, context=settings.context)[:, :, :, 4]
    truth = map_labels(labels)
    where_it_is = dice(predicted, np.roll(truth, (3, 3), axis=(0, 1)), MYOCARDIUM)
    where_the_series_is = dice(predicted, truth, MYOCARDIUM)
    assert np.all(where_it_is > where_the_series_is + 0.1)


def _one_epoch_model(cohort, path, context):
    """A checkpoint trained for one epoch on s0 (selected on s1), with or without the summary."""
    train_segmentation(
        train={"s0": cohort["s0"]},
        val={"s1": cohort["s1"]},
        settings=TINY | {"epochs": 1, "context": context},
        seed=0,
        outputs={"model": path},
        provenance={},
        device=CPU,
        threads=1,
    )
    return path


def _segments_with_its_inputs(path, cohort, channels):
    run, settings, _ = load_segmenter(path, CPU)
    assert settings.in_channels == channels
    labels = segment_series(run, cohort["s6"][0], device=CPU, context=settings.context)
    assert labels.shape == cohort["s6"][0].shape


def test_checkpoints_with_the_summary_channels_run_with_them(cohort, tmp_path):
    """A network trained with the temporal summary (``context``) is given it at inference."""
    path = _one_epoch_model(cohort, tmp_path / "context.pt", context=True)
    inputs = json.loads(metadata_path(path).read_text())["inputs"]
    assert inputs == ["frame", "temporal_max", "temporal_sd"]
    _segments_with_its_inputs(path, cohort, channels=3)


def test_frame_only_checkpoints_still_load(cohort, tmp_path):
    """Checkpoints from before the context channels record no ``context``: one input channel."""
    path = _one_epoch_model(cohort, tmp_path / "old.pt", context=False)
    meta_file = metadata_path(path)
    meta = json.loads(meta_file.read_text())
    del meta["settings"]["context"], meta["settings"]["shift"]
    meta_file.write_text(json.dumps(meta))
    _segments_with_its_inputs(path, cohort, channels=1)


def test_checkpoint_metadata_and_history(trained):
    meta = json.loads(metadata_path(trained["model"]).read_text())
    assert meta["sha256"] == sha256sum(trained["model"])
    assert meta["training_subjects"] == ["s0", "s1", "s2", "s3", "s4"]
    assert meta["validation_subjects"] == ["s5"]
    assert meta["classes"] == ["background", "lv_blood_pool", "myocardium", "rv_blood_pool"]
    assert meta["settings"]["epochs"] == TINY["epochs"] and meta["inference_program"]
    assert meta["n_train_frames"] == 5 * 2 * 8 and meta["seed"] == 0
    assert meta["inputs"] == ["frame"]
    history = pd.read_csv(trained["history"], sep="\t")
    assert list(history.columns) == [
        "epoch",
        "train_loss",
        "val_loss",
        "val_dice_lv",
        "val_dice_myocardium",
        "val_dice_rv",
        "val_dice_error",
        "seconds",
    ]
    assert meta["best_val_dice_myocardium"] == pytest.approx(history["val_dice_myocardium"].max())
    assert meta["best_val_dice_myocardium"] > 0.7


def test_program_and_monai_network_give_the_same_labels(trained, cohort):
    program, _, _ = load_segmenter(trained["model"], CPU)
    network, _, _ = load_segmenter(trained["model"], CPU, program=False)
    assert isinstance(network, torch.nn.Module)
    series = cohort["s6"][0][1:-1, 2:-2]  # 30 x 28: padded to the network's multiple
    ours = segment_series(program, series, device=CPU)
    theirs = segment_series(network, series, device=CPU)
    assert ours.shape == (30, 28, 2, 10)
    np.testing.assert_array_equal(ours, theirs)


def test_loading_refuses_a_wrong_checksum_and_a_training_subject(trained):
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_segmenter(trained["model"], CPU, expected_sha256="0" * 64)
    with pytest.raises(ModelError, match="sub-s5"):
        load_segmenter(trained["model"], CPU, subject="s5")
    load_segmenter(trained["model"], CPU, subject="s6")


def test_training_is_deterministic_for_a_seed(trained, cohort, tmp_path):
    # One epoch again: the same initialisation, shuffle, augmentation and updates (the
    # learning rate of the first epoch does not depend on the schedule's length).
    again = train_segmentation(
        train=trained["train"],
        val={"s5": cohort["s5"]},
        settings=TINY | {"epochs": 1},
        seed=0,
        outputs={"model": tmp_path / "a.pt"},
        provenance={},
        device=CPU,
        threads=1,
    )
    columns = ["train_loss", "val_loss", "val_dice_myocardium"]
    first = trained["result"].history.loc[:0, columns]
    pd.testing.assert_frame_equal(again.history[columns], first, check_exact=True)


def test_training_inputs_are_checked(cohort, tmp_path):
    outputs = {"model": tmp_path / "m.pt"}
    common = {"settings": TINY, "seed": 0, "outputs": outputs, "provenance": {}, "device": CPU}
    with pytest.raises(ValueError, match="both train and val"):
        train_segmentation(train={"s0": cohort["s0"]}, val={"s0": cohort["s0"]}, **common)
    series, labels = cohort["s0"]
    with pytest.raises(InputDataError, match="sub-s0: labels"):
        train_segmentation(
            train={"s0": (series, labels[:, :, :1])}, val={"s1": cohort["s1"]}, **common
        )
    with pytest.raises(ValueError, match="no validation subjects"):
        train_segmentation(train={"s0": cohort["s0"]}, val={}, **common)
    assert not outputs["model"].exists()
