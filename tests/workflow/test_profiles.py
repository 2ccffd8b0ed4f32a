"""The execution profiles against the workflow's real job list (dry runs of the default demo)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
import yte

from .conftest import REPO, SLURM_PROFILE, run_snakemake, slurm_profile

pytestmark = pytest.mark.workflow

#: Every study on its default demo cohort: every rule of the workflow is planned.
FULL = {"studies": ["dystrophy", "synthmri", "perfusion", "breathing", "qsm"]}


def jobs(workdir, *args) -> list[dict]:
    """Every job of a dry run: rule, wildcards, resources, its group's name and which submitted
    group job (numbered in order of appearance) it belongs to."""
    out = run_snakemake(workdir, FULL, "--dry-run", *args).stdout
    found, current, group, group_jobs = [], None, None, 0
    for line in out.splitlines():
        if "Group job " in line:
            group, group_jobs = line.split("Group job ")[1].split()[0], group_jobs + 1
        elif match := re.match(r"^(\s*)rule (\w+):$", line):
            # A group's jobs are listed indented under its header; other jobs are not.
            grouped = bool(match.group(1))
            current = {
                "rule": match.group(2),
                "group": group if grouped else None,
                "group_job": group_jobs if grouped else None,
                "wildcards": {},
            }
            found.append(current)
        elif current is not None and (match := re.match(r"^\s+(resources|wildcards): (.*)$", line)):
            items = match.group(2).split(", ")
            current[match.group(1)] = dict(item.split("=", 1) for item in items)
    return [job for job in found if job["rule"] != "all"]


@pytest.fixture(scope="module")
def slurm_jobs(tmp_path_factory):
    return jobs(tmp_path_factory.mktemp("profile"), "--profile", str(SLURM_PROFILE))


@pytest.fixture(scope="module")
def gpu_rules(tmp_path_factory) -> set[str]:
    """Rules that declare a GPU themselves (``resources: gpu=1`` in rules/*.smk)."""
    planned = jobs(tmp_path_factory.mktemp("plain"))
    return {job["rule"] for job in planned if job.get("resources", {}).get("gpu") == "1"}


def declared_localrules() -> set[str]:
    """The rules named in ``localrules:`` blocks of rules/*.smk (a dry run does not mark them)."""
    names = set()
    for path in (REPO / "rules").rglob("*.smk"):
        for block in re.findall(r"localrules:\n((?:\s+\w+,\n)+)", path.read_text()):
            names |= set(re.findall(r"(\w+),", block))
    return names


def test_every_submitted_rule_has_a_class_and_cheap_rules_run_locally(slurm_jobs):
    classes = slurm_profile()["set-threads"]
    local = declared_localrules()
    assert local == {
        "simulate_dystrophy_participants",
        "simulate_dystrophy_ratings",
        "simulate_synthmri_participants",
        "evaluate_dystrophy",
        "plot_dystrophy_figures",
        "evaluate_synthmri",
        "plot_synthmri_figures",
        "simulate_perfusion_participants",
        "evaluate_perfusion",
        "plot_perfusion_figures",
        "index_perfusion_qc",
        "simulate_breathing_participants",
        "evaluate_breathing",
        "plot_breathing_figures",
        "index_breathing_qc",
        "simulate_qsm_participants",
        "evaluate_qsm",
        "plot_qsm_figures",
        "describe_derivatives",
        "index_qc_pages",
        "write_methods",
    }
    planned = {job["rule"] for job in slurm_jobs}
    assert local <= planned
    assert planned - local == set(classes)


def test_dl_rules_ask_for_a_gpu_and_cpu_rules_for_none(slurm_jobs, gpu_rules):
    assert gpu_rules == {
        "train_dystrophy_classifier",
        "classify_dystrophy_subject",
        "train_synthmri_superresolution",
        "superresolve_synthmri_subject",
        "train_perfusion_registration",
        "train_perfusion_segmentation",
        "correct_perfusion_motion_dl",
        "segment_perfusion_subject",
        "train_breathing_segmentation",
        "segment_breathing_subject",
        "train_qsm_reconstruction",
        "reconstruct_qsm_dlr",
    }
    for job in slurm_jobs:
        if job["rule"] in declared_localrules():
            continue
        gpu = job["resources"].get("gpu", "0")
        assert (gpu == "1") == (job["rule"] in gpu_rules), job


def test_a_subjects_cpu_chain_is_one_cluster_job(slurm_jobs):
    """Simulation and localisation (dystrophy), simulation and both fits (synthmri)."""
    grouped = Counter(job["rule"] for job in slurm_jobs if job["group"] == "subject")
    assert grouped == {
        "simulate_dystrophy_subject": 150,
        "localise_dystrophy_roi": 150,
        "simulate_synthmri_subject": 24,
        "fit_synthmri_maps": 48,
    }
    assert not any(job["group"] for job in slurm_jobs if job["rule"] not in grouped)


def test_a_cluster_job_holds_one_subject_so_a_bad_subject_fails_alone(slurm_jobs):
    """Groups never span subjects (no ``--group-components``): a subject with bad input fails
    its own sbatch job, and no other subject's job waits on it. This is also why DL inference
    stays one job per subject rather than a batch of subjects."""
    subjects = defaultdict(set)
    for job in slurm_jobs:
        if job["group_job"] is not None:
            subjects[job["group_job"]].add(job["wildcards"]["subject"])
    assert len(subjects) == 150 + 24
    assert all(len(members) == 1 for members in subjects.values())


def test_the_cluster_settings_are_set_in_one_place():
    """Account, partitions and GPU model reach every submitted rule from the top block."""
    text = (SLURM_PROFILE / "config.yaml").read_text()
    text = text.replace("account = None", 'account = "lab"')
    text = text.replace("gpu_partition = None", 'gpu_partition = "gpu"')
    text = text.replace("cpu_partition = None", 'cpu_partition = "cpu"')
    text = text.replace("gpu_model = None", 'gpu_model = "a100"')
    profile = yte.process_yaml(text, require_use_yte=True)
    for rule, resources in profile["set-resources"].items():
        gpu = resources["gpu"] == 1
        assert resources["slurm_account"] == "lab", rule
        assert resources["slurm_partition"] == ("gpu" if gpu else "cpu"), rule
        assert resources.get("gpu_model") == ("a100" if gpu else None), rule
    assert profile["default-resources"]["slurm_account"] == "lab"
    no_gpus = yte.process_yaml(
        text.replace("use_gpus = True", "use_gpus = False"), require_use_yte=True
    )
    assert all(r["gpu"] == 0 for r in no_gpus["set-resources"].values())
