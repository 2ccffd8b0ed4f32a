"""What only dystrophy checks beyond the contract of test_studies.py: its tables, user data
reruns and each kind of bad image."""

from __future__ import annotations

import copy
import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from qmrflow.io import read_tsv
from qmrflow.stats.tidy import TIDY_COLUMNS
from qmrflow.studies.dystrophy.simulate import demo_participants, write_case

from .conftest import TINY, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(dystrophy_demo_run):
    """One complete run of the tiny demo configuration (shared with the SLURM test)."""
    return dystrophy_demo_run


def test_demo_tables(demo_run):
    results = demo_run / "results"
    group = results / "dystrophy" / "group"
    participants = read_tsv(results / "demo/dystrophy/participants.tsv")  # ids as bare labels
    test_ids = set(participants.loc[participants["split"] == "test", "participant_id"])
    predictions = pd.read_csv(group / "predictions.tsv", sep="\t", dtype={"participant_id": str})
    assert set(predictions["participant_id"]) == test_ids  # only the test split is evaluated
    assert predictions["probability"].between(0, 1).all()
    statistics = pd.read_csv(group / "statistics.tsv", sep="\t")
    assert list(statistics.columns) == list(TIDY_COLUMNS)
    assert {"accuracy", "auc", "fleiss_kappa", "cohen_kappa", "lr_positive"} <= set(
        statistics["measure"]
    )
    comparison = pd.read_csv(group / "model_comparison.tsv", sep="\t")
    assert "resnet10-lite" in set(comparison["architecture"])
    assert "ResNet50" in set(comparison["architecture"])  # the paper's Table 1 beside ours
    meta = json.loads((results / "models/dystrophy/resnet10-lite/model.json").read_text())
    assert set(meta["training_subjects"]).isdisjoint(test_ids)
    assert len(meta["sha256"]) == 64 and meta["seed"] == 20261122
    assert {"torch", "monai", "qmrflow"} <= set(meta["versions"])
    description = json.loads((results / "dystrophy/dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert (results / "logs/localise_dystrophy_roi").is_dir()


def test_demo_is_deterministic(demo_run):
    """The simulated inputs depend on the seed only."""
    from qmrflow.studies.dystrophy.simulate import simulate_case

    row = read_tsv(demo_run / "results/demo/dystrophy/participants.tsv").iloc[0].to_dict()
    label = row["participant_id"]
    case = simulate_case(row, 2, shape=(128, 96))
    stored = nib.load(
        demo_run / f"results/demo/dystrophy/sub-{label}/anat/sub-{label}_T1w.nii.gz"
    ).get_fdata()
    np.testing.assert_allclose(np.moveaxis(stored, 2, 0), case.images, rtol=1e-6)


# ------------------------------------------------------------------ user data: reruns
#: Keys dcm2niix writes in the sidecar of an axial T1 TSE series (times in seconds).
DCM2NIIX_SIDECAR = {
    "Modality": "MR",
    "Manufacturer": "Siemens",
    "ManufacturersModelName": "Prisma",
    "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"],
    "SeriesDescription": "t1_tse_tra_thigh",
    "ProtocolName": "t1_tse_tra_thigh",
    "EchoTime": 0.012,
    "RepetitionTime": 0.55,
    "FlipAngle": 150,
    "ConversionSoftware": "dcm2niix",
    "ConversionSoftwareVersion": "v1.0.20240202",
}


def make_dataset(root: Path, n_cases: int = 14, n_slices: int = 2) -> pd.DataFrame:
    """A user's BIDS dataset as dcm2niix and the BIDS conventions lay it out: participants.tsv
    with ``sub-<label>`` ids, one ``sub-<label>/anat/sub-<label>_T1w.nii.gz`` slice stack per
    subject with dcm2niix's JSON sidecar beside it (images from the simulator)."""
    table = demo_participants(n_cases, seed=7)
    for row in table.to_dict(orient="records"):
        write_case(row, root, n_slices, shape=(128, 96))
        sidecar = root / f"sub-{row['participant_id']}/anat/sub-{row['participant_id']}_T1w.json"
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **DCM2NIIX_SIDECAR}))
    shutil.rmtree(root / "derivatives")
    columns = ["participant_id", "diagnosis", "split", "age", "sex"]
    table[columns].assign(participant_id="sub-" + table["participant_id"]).to_csv(
        root / "participants.tsv", sep="\t", index=False
    )
    return table


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("user")
    table = make_dataset(workdir / "dataset")
    config = copy.deepcopy(TINY)
    config["dystrophy"]["dataset"] = str(workdir / "dataset")
    run_snakemake(workdir, config)
    return workdir, config, table


GROUP_JOBS = {("evaluate_dystrophy", ""), ("plot_dystrophy_figures", "")}


def test_evaluation_settings_and_new_architectures_do_not_retrain(user_run):
    workdir, config, _ = user_run
    threshold = copy.deepcopy(config)
    threshold["dystrophy"]["threshold"] = 0.4
    rules = {rule for rule, _ in planned_jobs(workdir, threshold)}
    assert rules == {
        "evaluate_dystrophy",
        "plot_dystrophy_figures",
        "describe_derivatives",
        "write_methods",  # the methods text states the config's threshold
    }
    more = copy.deepcopy(config)
    more["dystrophy"]["model"]["architectures"] = ["resnet10-lite", "densenet-lite"]
    jobs = planned_jobs(workdir, more)
    assert {job for job in jobs if job[0] == "train_dystrophy_classifier"} == {
        ("train_dystrophy_classifier", "architecture=densenet-lite")
    }
    assert not any(rule == "localise_dystrophy_roi" for rule, _ in jobs)


def test_adding_a_test_subject_reruns_only_that_subject(user_run):
    workdir, config, table = user_run
    new = table.iloc[[0]].copy()
    new["participant_id"] = "new01"
    new["split"] = "test"
    write_case(new.iloc[0].to_dict(), workdir / "dataset", 2, shape=(128, 96))
    with (workdir / "dataset/participants.tsv").open("a") as handle:
        new[["participant_id", "diagnosis", "split", "age", "sex"]].to_csv(
            handle,
            sep="\t",
            index=False,
            header=False,  # a bare label: still accepted
        )
    jobs = planned_jobs(workdir, config)
    assert (
        jobs
        == {
            ("localise_dystrophy_roi", "subject=new01"),
            ("classify_dystrophy_subject", "subject=new01"),
            ("write_qc_page", "study=dystrophy, subject=new01"),
            ("index_qc_pages", ""),
            ("write_methods", "study=dystrophy"),  # it counts the subjects per split
        }
        | GROUP_JOBS
    )


# ------------------------------------------------------------------ bad input
def _corrupt(path: Path, kind: str) -> None:
    if kind == "corrupt":
        path.write_bytes(b"\x00garbage" * 50)
    elif kind == "truncated":
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    elif kind == "wrong_dimensions":
        image = nib.load(path)
        nib.save(nib.Nifti1Image(np.stack([image.get_fdata()] * 2, axis=3), image.affine), path)
    elif kind == "nan":
        image = nib.load(path)
        data = image.get_fdata()
        data[10, 10, 1] = np.nan
        nib.save(nib.Nifti1Image(data, image.affine), path)


def _as_slice_files(stack: Path, keep: tuple[int, ...]) -> None:
    """Replace a stack by qmrflow's older 2D files ``sub-<id>_slice-<n>_T1w.nii.gz``."""
    image = nib.load(stack)
    for k in keep:
        name = stack.name.replace("_T1w", f"_slice-{k}_T1w")
        nib.save(
            nib.Nifti1Image(image.get_fdata()[:, :, k - 1], image.affine), stack.with_name(name)
        )
    stack.unlink()


BAD_KINDS = ["corrupt", "truncated", "wrong_dimensions", "nan", "missing_slice", "dicom", "missing"]


def test_bad_subjects_fail_alone_with_clear_errors(tmp_path):
    table = make_dataset(tmp_path / "dataset", n_cases=10, n_slices=3)
    subjects = list(table["participant_id"])
    bad = dict(zip(BAD_KINDS, subjects, strict=False))
    for kind, subject in bad.items():
        anat = tmp_path / f"dataset/sub-{subject}/anat"
        target = anat / f"sub-{subject}_T1w.nii.gz"
        if kind == "missing_slice":
            _as_slice_files(target, keep=(1, 3))
        elif kind == "dicom":  # a scanner's export: DICOM under sourcedata/, a stray file
            shutil.rmtree(anat.parent)
            dicom = tmp_path / f"dataset/sourcedata/sub-{subject}/series1"
            dicom.mkdir(parents=True)
            (dicom / "IM0001.dcm").write_bytes(b"not a dicom file" * 20)
        elif kind == "missing":  # listed in participants.tsv, no folder: named as a target
            shutil.rmtree(anat.parent)  # (left out of the rest by missing_inputs: skip)
        else:
            _corrupt(target, kind)
    config = copy.deepcopy(TINY)
    config["dystrophy"]["dataset"] = str(tmp_path / "dataset")
    config["missing_inputs"] = "skip"
    targets = [f"results/dystrophy/sub-{s}/anat/sub-{s}_roi.tsv" for s in subjects]
    result = run_snakemake(tmp_path, config, "--keep-going", *targets, check=False)
    assert result.returncode != 0
    for subject in subjects:
        out = tmp_path / f"results/dystrophy/sub-{subject}/anat"
        if subject in bad.values():
            assert not out.exists() or not any(out.iterdir()), f"partial output for {subject}"
            log = (tmp_path / f"results/logs/localise_dystrophy_roi/sub-{subject}.log").read_text()
            assert f"sub-{subject}" in log
        else:
            assert (out / f"sub-{subject}_roi.tsv").is_file()
    logs = tmp_path / "results/logs/localise_dystrophy_roi"
    assert f"sub-{bad['corrupt']}_T1w.nii.gz" in (logs / f"sub-{bad['corrupt']}.log").read_text()
    assert "corrupt or truncated" in (logs / f"sub-{bad['truncated']}.log").read_text()
    assert "expected a 3D slice stack" in (logs / f"sub-{bad['wrong_dimensions']}.log").read_text()
    assert "NaN" in (logs / f"sub-{bad['nan']}.log").read_text()
    assert "missing slice(s) [2]" in (logs / f"sub-{bad['missing_slice']}.log").read_text()
    assert "IM0001.dcm" in (logs / f"sub-{bad['dicom']}.log").read_text()
    missing = (logs / f"sub-{bad['missing']}.log").read_text()
    assert "no T1w images found" in missing
    assert f"sub-{bad['missing']}/anat/sub-{bad['missing']}_T1w.nii.gz" in missing


# ------------------------------------------------------------------ config errors
def test_bad_participants_table_stops_before_any_job(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "participants.tsv").write_text(
        "participant_id\tdiagnosis\tsplit\nsub-01\tDMD\ttrain\nsub-02\tDMD\tholdout\n"
    )
    result = run_snakemake(tmp_path, {"dystrophy": {"dataset": str(root)}}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert str(root / "participants.tsv") in output
    assert "row 2 (line 3), column split: 'holdout'" in output
    assert not (tmp_path / "results").exists()
