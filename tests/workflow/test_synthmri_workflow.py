"""The real Snakemake on a tiny synthmri configuration: demo end to end, reruns, bad input."""

from __future__ import annotations

import copy
import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from qmrflow.io import load_nifti
from qmrflow.stats.tidy import TIDY_COLUMNS

from .conftest import TINY_SYNTHMRI, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One complete run of the tiny synthmri demo configuration."""
    workdir = tmp_path_factory.mktemp("synthmri")
    run_snakemake(workdir, TINY_SYNTHMRI)
    return workdir


def _participants(workdir):
    return pd.read_csv(
        workdir / "results/demo/synthmri/participants.tsv", sep="\t", dtype={"participant_id": str}
    )


def test_demo_runs_end_to_end(demo_run):
    results = demo_run / "results"
    group = results / "synthmri/group"
    for name in (
        "statistics.tsv",
        "rois.tsv",
        "quality.tsv",
        "accuracy.tsv",
        "paper_comparison.tsv",
        "figures/agreement_T1.png",
        "figures/agreement_T2.png",
        "figures/agreement_PD.png",
        "figures/example_maps.png",
        "figures/image_quality.png",
        "figures/paper_comparison.png",
        "figures/lesions.png",
    ):
        assert (group / name).stat().st_size > 0, name
    participants = _participants(demo_run)
    test_ids = set(participants.loc[participants["split"] == "test", "participant_id"])
    rois = pd.read_csv(group / "rois.tsv", sep="\t", dtype={"participant_id": str})
    assert set(rois["participant_id"]) == test_ids  # only the test split is evaluated
    assert {"routine", "fast", "dl", "truth"} <= set(rois["method"])
    statistics = pd.read_csv(group / "statistics.tsv", sep="\t")
    assert list(statistics.columns) == list(TIDY_COLUMNS)
    assert {"slope", "r_squared", "bias", "lower_limit", "mean_difference"} <= set(
        statistics["measure"]
    )
    meta = json.loads((results / "models/synthmri/generator/model.json").read_text())
    assert len(meta["sha256"]) == 64
    description = json.loads((results / "synthmri/dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"


def test_maps_keep_the_source_geometry(demo_run):
    subject = _participants(demo_run)["participant_id"].iloc[0]
    source = load_nifti(
        demo_run / f"results/demo/synthmri/sub-{subject}/anat/sub-{subject}_acq-fast_MDME.nii.gz",
        ndim=4,
    )
    t1 = load_nifti(
        demo_run / f"results/synthmri/sub-{subject}/anat/sub-{subject}_acq-fast_T1map.nii.gz",
        ndim=3,
    )
    np.testing.assert_allclose(t1.affine, source.affine)
    assert t1.data.shape == source.data.shape[:3]


def test_nothing_to_do_after_a_complete_run(demo_run):
    assert planned_jobs(demo_run, TINY_SYNTHMRI) == set()


def test_changed_test_subject_reruns_only_that_subject(demo_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(demo_run, workdir, symlinks=True)
    participants = _participants(workdir)
    subject = participants.loc[participants["split"] == "test", "participant_id"].iloc[0]
    path = workdir / f"results/demo/synthmri/sub-{subject}/anat/sub-{subject}_acq-fast_MDME.nii.gz"
    image = nib.load(path)
    nib.save(nib.Nifti1Image(image.get_fdata().astype(np.float32) * 1.01, image.affine), path)
    jobs = planned_jobs(workdir, TINY_SYNTHMRI)
    per_subject = {rule for rule, wildcards in jobs if wildcards}
    assert all(f"subject={subject}" in wildcards for _, wildcards in jobs if wildcards)
    assert "train_synthmri_superresolution" not in {rule for rule, _ in jobs}
    assert {"fit_synthmri_maps", "superresolve_synthmri_subject", "measure_synthmri_subject"} == (
        per_subject
    )
    assert {"evaluate_synthmri", "plot_synthmri_figures"} <= {rule for rule, _ in jobs}


def test_bad_sidecar_fails_only_that_subject(demo_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(demo_run, workdir, symlinks=True)
    participants = _participants(workdir)
    subject = participants.loc[participants["split"] == "test", "participant_id"].iloc[-1]
    sidecar = (
        workdir / f"results/demo/synthmri/sub-{subject}/anat/sub-{subject}_acq-routine_MDME.json"
    )
    meta = json.loads(sidecar.read_text())
    meta["EchoTime"] = meta["EchoTime"][:-1]  # one echo time short of the 8 volumes
    sidecar.write_text(json.dumps(meta))
    result = run_snakemake(workdir, TINY_SYNTHMRI, "--keep-going", check=False)
    assert result.returncode != 0
    log = (workdir / f"results/logs/fit_synthmri_maps/sub-{subject}_acq-routine.log").read_text()
    assert f"sub-{subject}" in log and "EchoTime has 7 value(s)" in log and sidecar.name in log
    maps = workdir / f"results/synthmri/sub-{subject}/anat"
    assert not (maps / f"sub-{subject}_acq-routine_T1map.nii.gz").exists()  # no partial output


def test_config_errors_stop_before_any_job(tmp_path):
    config = copy.deepcopy(TINY_SYNTHMRI)
    config["synthmri"]["model"]["adversarial_weight"] = -1
    result = run_snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    assert "synthmri.model.adversarial_weight" in result.stdout + result.stderr
