"""One workflow contract for every study: the real Snakemake on each study's tiny demo.

Every row of studies.STUDIES must: run end to end; write a demo dataset and derivatives that
the official BIDS validator passes; leave nothing to do; rerun only a changed test subject's
jobs plus the group jobs; apply a model given in the config, trained in another run, to a new
cohort without training; fail only a subject whose input is bad or missing, naming it and the
file; and stop on a config error before any job.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qmrflow.config import load_schema, validate_config
from qmrflow.workflow import StudyLayout, study_layouts

from .conftest import REPO, planned_jobs, run_snakemake
from .studies import STUDIES, StudyCase

pytestmark = pytest.mark.workflow
each_study = pytest.mark.parametrize("case", STUDIES, ids=[case.name for case in STUDIES])


def layout_of(case: StudyCase, config: dict) -> StudyLayout:
    """The study's layout for a test config (paths relative to the run's folder)."""
    full = copy.deepcopy(config)
    validate_config(full, load_schema(REPO / "config/schemas/config.schema.yaml"))
    return study_layouts(full, schemas=REPO / "config/schemas")[case.name]


def merged(base: dict, change: dict) -> dict:
    """``base`` with ``change`` merged in, key by key."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def bids_errors(dataset: Path) -> list[tuple[str, str]]:
    """The errors (code, file) the official BIDS validator finds in one dataset.

    Each dataset is validated on its own: the validator honours a nested derivative dataset's
    ``.bidsignore`` only when that dataset is the one validated.
    """
    validator = Path(sys.executable).with_name("bids-validator-deno")
    result = subprocess.run(
        [str(validator), str(dataset), "--format", "json", "--no-color"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    return [
        (issue["code"], issue.get("location", ""))
        for issue in report["issues"]["issues"]
        if issue["severity"] == "error"
    ]


def test_every_study_of_the_registry_has_a_row():
    from qmrflow.workflow import available_studies

    assert {case.name for case in STUDIES} == set(available_studies())


@each_study
def test_demo_runs_end_to_end(case, study_run):
    workdir = study_run(case)
    layout = layout_of(case, case.tiny())
    for target in layout.targets():
        assert (workdir / target).stat().st_size > 0, target
    test = layout.subjects("test")
    for subject in test:
        for output in case.subject_outputs:
            assert (workdir / output.format(subject=subject)).is_file()
    description = json.loads((workdir / layout.description_file).read_text())
    assert description["DatasetType"] == "derivative"
    for name in layout.model_names:
        meta = json.loads((workdir / layout.model_metadata(name)).read_text())
        assert len(meta["sha256"]) == 64 and meta["seed"] == layout.seed
        assert set(meta["training_subjects"]).isdisjoint(test)
        assert meta["sha256"] in {m["sha256"] for m in description["qmrflow"]["models"]}


@each_study
def test_the_demo_dataset_and_the_derivatives_are_valid_bids(case, study_run):
    workdir = study_run(case)
    layout = layout_of(case, case.tiny())
    root = workdir / layout.root
    datasets = [
        root,
        *(root / "derivatives" / pipeline for pipeline in layout.spec.demo_derivatives),
        workdir / layout.out,
    ]
    for dataset in datasets:
        assert bids_errors(dataset) == [], dataset
    assert (root / "participants.tsv").read_text().splitlines()[1].startswith("sub-")


@each_study
def test_nothing_to_do_after_a_complete_run(case, study_run):
    assert planned_jobs(study_run(case), case.tiny()) == set()


@each_study
def test_a_changed_test_subject_reruns_only_its_jobs_and_the_group(case, study_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(study_run(case), workdir, symlinks=True)
    layout = layout_of(case, case.tiny())
    subject = layout.subjects("test")[0]
    case.change(workdir / layout.root, subject)
    jobs = planned_jobs(workdir, case.tiny())
    per_subject = {(rule, wildcards) for rule, wildcards in jobs if wildcards}
    assert all(f"subject={subject}" in wildcards for _, wildcards in per_subject)
    assert {rule for rule, _ in per_subject} == case.subject_rules
    assert {rule for rule, wildcards in jobs if not wildcards} == case.group_rules


@each_study
def test_a_given_model_is_applied_to_a_new_cohort_and_a_bad_subject_fails_alone(
    case, study_run, tmp_path
):
    trained_run = study_run(case)
    first = layout_of(case, case.tiny())
    trained = {}
    for name in first.model_names:
        meta = json.loads((trained_run / first.model_metadata(name)).read_text())
        trained[name] = {
            "file": str(trained_run / first.model_file(name)),
            "sha256": meta["sha256"],
        }
    config = case.tiny(seed=4242, id_prefix="new")
    config[case.name]["model"]["trained"] = trained
    layout = layout_of(case, config)
    assert set(layout.subjects()).isdisjoint(first.subjects())  # a new cohort
    assert not {rule for rule, _ in planned_jobs(tmp_path, config)} & case.train_rules

    run_snakemake(tmp_path, config, "--until", case.demo_rule)
    bad, *good = layout.subjects("test")
    broken = case.breakage(tmp_path / layout.root, bad)
    result = run_snakemake(tmp_path, config, "--keep-going", check=False)
    assert result.returncode != 0
    log = (tmp_path / f"results/logs/{broken.rule}" / broken.log.format(subject=bad)).read_text()
    for text in (f"sub-{bad}", *broken.expected):
        assert text.format(subject=bad) in log
    for output in broken.absent:
        assert not (tmp_path / output.format(subject=bad)).exists(), "partial output"
    for subject in good:
        for output in case.subject_outputs:
            assert (tmp_path / output.format(subject=subject)).is_file(), subject

    broken.broken.unlink()  # the subject's input is simulated again: now the run completes
    run_snakemake(tmp_path, config)
    assert not (tmp_path / layout.models_dir).exists()  # nothing was trained
    description = json.loads((tmp_path / layout.description_file).read_text())
    used = {(m["file"], m["sha256"]) for m in description["qmrflow"]["models"]}
    assert used == {(m["file"], m["sha256"]) for m in trained.values()}


@each_study
def test_a_users_bids_dataset_runs_and_a_missing_subject_fails_alone(case, study_run, tmp_path):
    """The demo dataset, copied as a user's own (valid BIDS, ``sub-`` ids, sidecar times in
    seconds) without its ground truth; one listed test subject's folder is missing. Planning
    goes on: only that subject fails, naming the file it expected."""
    run = study_run(case)
    first = layout_of(case, case.tiny())
    dataset = tmp_path / "mydata"
    shutil.copytree(run / first.root, dataset, ignore=shutil.ignore_patterns("truth"))
    trained = {
        name: {
            "file": str(run / first.model_file(name)),
            "sha256": json.loads((run / first.model_metadata(name)).read_text())["sha256"],
        }
        for name in first.model_names
    }
    config = case.tiny()
    config[case.name]["dataset"] = str(dataset)
    config[case.name]["model"]["trained"] = trained
    missing, *present = first.subjects("test")
    shutil.rmtree(dataset / f"sub-{missing}")
    result = run_snakemake(tmp_path, config, "--keep-going", check=False)
    assert result.returncode != 0
    log = (tmp_path / "results/logs" / case.first_log.format(subject=missing)).read_text()
    assert f"sub-{missing}" in log
    assert str(dataset / f"sub-{missing}") in log  # the file it expected
    for subject in present:
        for output in case.subject_outputs:
            assert (tmp_path / output.format(subject=subject)).is_file(), subject


@each_study
def test_a_config_error_stops_before_any_job(case, tmp_path):
    change, key = case.bad_config
    config = case.tiny()
    config[case.name] = merged(config[case.name], change)
    result = run_snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert key in result.stdout + result.stderr
    assert "config.yaml" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()
