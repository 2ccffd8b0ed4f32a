"""Helpers for workflow tests: run the real Snakemake on tiny configs in a temporary folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qmrflow.workflow.status import parse_dry_run

from .studies import DYSTROPHY, SYNTHMRI, StudyCase

REPO = Path(__file__).resolve().parents[2]

#: The tiny but complete demo configurations of the study table (studies.py).
TINY = DYSTROPHY.tiny()
TINY_SYNTHMRI = SYNTHMRI.tiny()


SLURM_PROFILE = REPO / "profiles" / "slurm"


def snakemake_command(workdir: Path, config: dict, *args: str, cores: int | None = 2) -> list[str]:
    """The ``snakemake`` command line for the repository's Snakefile in ``workdir``.

    ``cores=None`` leaves ``--cores`` out, as a cluster run does: there it would cap every
    rule's threads, and so the CPUs each job asks SLURM for.
    """
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
    ]
    if cores is not None:
        command += ["--cores", str(cores)]
    return [*command, *args]


def run_snakemake(
    workdir: Path, config: dict, *args: str, check: bool = True, cores: int | None = 2
) -> subprocess.CompletedProcess:
    """Run ``snakemake`` on the repository's Snakefile in ``workdir`` with ``config``."""
    command = snakemake_command(workdir, config, *args, cores=cores)
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    if check and result.returncode != 0:
        pytest.fail(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path, config: dict) -> set[tuple[str, str]]:
    """The jobs a dry run plans, as (rule, wildcards) pairs from Snakemake's own job list
    (read by ``qmrflow status``'s parser; wildcards as the listing writes them)."""
    result = run_snakemake(workdir, config, "--dry-run")
    return {
        (job.rule, ", ".join(f"{name}={value}" for name, value in job.wildcards))
        for job in parse_dry_run(result.stdout)
        if job.rule != "all"
    }


def slurm_profile() -> dict:
    """``profiles/slurm`` as Snakemake reads it (the profile is a YTE template)."""
    import yte

    with (SLURM_PROFILE / "config.yaml").open() as stream:
        return yte.process_yaml(stream, require_use_yte=True)


def threads_as_on_slurm() -> tuple[list[str], int]:
    """Arguments and cores for a local run with the threads per rule that ``profiles/slurm``
    gives (torch's results depend on its thread count)."""
    threads = slurm_profile()["set-threads"]
    return ["--set-threads", *(f"{rule}={n}" for rule, n in threads.items())], max(threads.values())


def slurm_command(workdir: Path, config: dict, status_seconds: int) -> list[str]:
    """``snakemake`` through the project's SLURM profile, unchanged except the seconds before
    the plugin's first status check (its default of 40 suits a real cluster, not a test)."""
    return snakemake_command(
        workdir,
        config,
        "--profile",
        str(SLURM_PROFILE),
        "--slurm-init-seconds-before-status-checks",
        str(status_seconds),
        cores=None,
    )


@pytest.fixture(scope="session")
def study_run(tmp_path_factory):
    """``study_run(case)``: the folder of one complete local run of a study's tiny demo, made
    once per session, with the threads of the SLURM profile so that the SLURM test can compare
    its results with these."""
    runs: dict[str, Path] = {}

    def run(case: StudyCase) -> Path:
        if case.name not in runs:
            workdir = tmp_path_factory.mktemp(f"{case.name}_demo")
            args, cores = threads_as_on_slurm()
            run_snakemake(workdir, case.tiny(), *args, cores=cores)
            runs[case.name] = workdir
        return runs[case.name]

    return run


@pytest.fixture(scope="session")
def dystrophy_demo_run(study_run) -> Path:
    """The complete tiny dystrophy demo run."""
    return study_run(DYSTROPHY)
