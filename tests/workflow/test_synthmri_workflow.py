"""What only synthmri checks beyond the contract of test_studies.py: its tables and geometry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qmrflow.io import load_nifti, read_tsv
from qmrflow.stats.tidy import TIDY_COLUMNS

from .studies import SYNTHMRI

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(study_run):
    """The complete tiny synthmri demo run of the contract (test_studies.py)."""
    return study_run(SYNTHMRI)


def _participants(workdir):
    return read_tsv(workdir / "results/demo/synthmri/participants.tsv")  # ids as bare labels


def test_demo_tables(demo_run):
    results = demo_run / "results"
    group = results / "synthmri/group"
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
