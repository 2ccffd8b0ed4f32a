"""Per-subject measures (qmrflow.studies.perfusion.measure) on simulated subjects.

The simulator writes one subject's files in a temporary folder; its true labels (network
classes) stand in for the U-Net's and a zero field for the alignment, so the quantification
chain (concentration, arterial input from the AIF series, segment and pixel Fermi fits) is
checked against the truth it was simulated from.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qmrflow.io import load_nifti, read_tsv, save_nifti, write_tsv
from qmrflow.studies.perfusion.measure import measure_subject, reference_labels
from qmrflow.studies.perfusion.quantify import MAX_MBF, arterial_input, resample_mask
from qmrflow.studies.perfusion.segmentation import map_labels
from qmrflow.studies.perfusion.simulate import simulate_arrays, simulate_subject

QUANTIFICATION = {
    "r10_myocardium": 1 / 1.05,
    "r10_blood": 1 / 1.55,
    "relaxivity": 4.5,
    "baseline_frames": 3,
}
ROW = {"participant_id": "m01", "ischaemia": "LAD", "stress_mbf": 3.0}
SEED = 11


def measure_simulated(tmp_path, settings):
    """Simulate sub-m01 with ``settings``, measure it (method ``none``), return its tables."""
    files = {
        key: tmp_path / f"sub-m01_{key}.nii.gz"
        for key in ("stress", "aif", "stress_pd", "aif_pd", "labels", "segments", "mbf")
    }
    files |= {"mbf_segments": tmp_path / "segments.tsv", "aif_truth": tmp_path / "aif.tsv"}
    simulate_subject(ROW, settings=settings, seed=SEED, outputs=files)
    labels = load_nifti(files["labels"], subject="m01", ndim=4)
    network = tmp_path / "sub-m01_dseg.nii.gz"
    save_nifti(map_labels(labels.data).astype(np.uint8), network, labels.affine)
    field = tmp_path / "sub-m01_xfm.nii.gz"
    save_nifti(np.zeros((*labels.data.shape, 2), np.float32), field, labels.affine)
    timing = tmp_path / "timing.tsv"
    write_tsv(pd.DataFrame([{"participant_id": "m01", "seconds": 0.0, "device": "cpu"}]), timing)
    outputs = {key: tmp_path / f"out_{key}.tsv" for key in ("segments", "quality", "curves")}
    outputs["mbf"] = tmp_path / "out_mbf.nii.gz"
    measure_subject(
        "m01",
        "none",
        stress=files["stress"],
        aif=files["aif"],
        stress_pd=files["stress_pd"],
        aif_pd=files["aif_pd"],
        labels=network,
        timing=timing,
        quantification=QUANTIFICATION,
        outputs=outputs,
        truth={"labels": files["labels"], "field": field, "segments": files["mbf_segments"]},
    )
    tables = {key: read_tsv(outputs[key]) for key in ("segments", "quality", "curves")}
    tables["mbf"] = load_nifti(outputs["mbf"], ndim=3).data
    tables["true_mbf"] = load_nifti(files["mbf"], ndim=3).data
    tables["true_segments"] = load_nifti(files["segments"], ndim=3, dtype=None).data
    tables["aif_truth"] = read_tsv(files["aif_truth"])
    return tables


@pytest.fixture(scope="module")
def noise_free(tmp_path_factory):
    settings = {"motion_scale": 0.0, "snr": math.inf, "aif_snr": math.inf}
    return measure_simulated(tmp_path_factory.mktemp("noise_free"), settings)


def test_noise_free_subject_recovers_segment_mbf(noise_free):
    segments = noise_free["segments"]
    assert len(segments) == 16 and set(segments["segment"]) == set(range(1, 17))
    error = segments["mbf"] / segments["truth_mbf"] - 1
    assert np.median(np.abs(error)) < 0.03
    assert np.max(np.abs(error)) < 0.08
    ischaemic = segments["segment"].isin([1, 2, 7, 8, 13, 14])  # LAD
    assert segments.loc[ischaemic, "mbf"].max() < segments.loc[~ischaemic, "mbf"].min()
    assert (segments["n_core_pixels"] < segments["n_pixels"]).all()
    quality = noise_free["quality"]
    np.testing.assert_allclose(quality["dice"], 1.0)
    np.testing.assert_allclose(quality["dice_truth"], 1.0)


def test_noise_free_pixel_mbf_follows_the_true_variation(noise_free):
    segments, mbf, truth = noise_free["segments"], noise_free["mbf"], noise_free["true_mbf"]
    myocardium = noise_free["true_segments"] > 0
    assert mbf.max() <= MAX_MBF + 1e-6 and mbf[myocardium].min() > 0
    # per-pixel MBF varies smoothly within a segment (SD about 6 %): the fits follow it
    error = mbf[myocardium] / truth[myocardium] - 1
    assert np.median(np.abs(error)) < 0.03
    assert segments["pixel_mbf_sd"].median() < 0.3


def test_the_arterial_input_is_the_true_one(noise_free):
    curves = noise_free["curves"]
    aif = curves[(curves["segment"] == 0) & (curves["slice"] == 0)]["concentration"].to_numpy()
    truth = noise_free["aif_truth"]["concentration"].to_numpy()
    np.testing.assert_allclose(aif.max(), truth.max(), rtol=0.03)
    assert np.max(np.abs(aif - truth)) < 0.05 * truth.max()


def test_noisy_subject_stays_accurate_and_bounded(tmp_path):
    tables = measure_simulated(tmp_path, {"motion_scale": 0.0})  # SNR 20 and 30
    segments = tables["segments"]
    error = np.abs(segments["mbf"] / segments["truth_mbf"] - 1)
    assert np.median(error) < 0.12
    assert tables["mbf"].max() <= MAX_MBF + 1e-6
    assert segments["pixel_mbf_sd"].median() < 1.0  # noise, no run-away pixel fits


def test_the_lv_mask_lands_in_the_lv_pool_of_the_aif_series():
    sim = simulate_arrays(ROW, {"snr": math.inf, "aif_snr": math.inf}, seed=SEED)
    stress_lv = reference_labels(map_labels(sim.labels))[:, :, 0] == 1
    lv = resample_mask(stress_lv, sim.stress_affine, sim.aif_affine, sim.aif.shape[:3])[..., 0]
    true_lv = sim.aif_reference_labels[:, :, 0] == 1
    assert lv.sum() >= 10
    assert (lv & true_lv).sum() >= 0.8 * lv.sum()
    aif = arterial_input(
        np.moveaxis(sim.aif[:, :, 0], -1, 0),
        sim.aif_pd[:, :, 0],
        lv,
        saturation_time=sim.settings.aif_saturation_time,
        r10=QUANTIFICATION["r10_blood"],
        relaxivity=QUANTIFICATION["relaxivity"],
    )
    np.testing.assert_allclose(aif, sim.aif_concentration, atol=0.03 * sim.aif_concentration.max())


def test_measure_jobs_do_not_import_torch():
    """Twelve measure jobs per demo: the numpy Dice keeps torch (about 1.7 s each) out."""
    code = (
        "import sys, qmrflow.studies.perfusion.measure; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
