"""Helpers for workflow tests: run the real Snakemake on tiny configs in a temporary folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

#: A tiny but complete dystrophy configuration: small images, two epochs, one light network.
TINY = {
    "studies": ["dystrophy"],
    "dystrophy": {
        "demo": {"n_cases": 14, "slices_per_case": 2, "image_shape": [128, 96]},
        "roi": {"out_shape": [64, 32]},
        "model": {"architectures": ["resnet10-lite"], "epochs": 2, "batch_size": 8},
    },
}


#: A tiny but complete synthmri configuration: few small slices, one epoch per phase.
TINY_SYNTHMRI = {
    "studies": ["synthmri"],
    "synthmri": {
        "demo": {"n_subjects": 6, "n_slices": 2, "matrix": [64, 80]},
        "model": {
            "residual_blocks": 1,
            "channels": 8,
            "pretrain_epochs": 1,
            "adversarial_epochs": 1,
            "batch_size": 4,
        },
    },
}


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


_JOB = re.compile(r"^(?:local)?rule (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def planned_jobs(workdir: Path, config: dict) -> set[tuple[str, str]]:
    """The jobs a dry run plans, as (rule, wildcards) pairs from Snakemake's own job list."""
    result = run_snakemake(workdir, config, "--dry-run")
    jobs, rule = set(), None
    for line in result.stdout.splitlines():
        if match := _JOB.match(line.strip()):
            if rule is not None:
                jobs.add((rule, ""))
            rule = match.group(1)
        elif rule is not None and (match := _WILDCARDS.match(line)):
            jobs.add((rule, match.group(1).strip()))
            rule = None
        elif rule is not None and not line.strip():
            jobs.add((rule, ""))
            rule = None
    if rule is not None:
        jobs.add((rule, ""))
    return {job for job in jobs if job[0] != "all"}


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
def dystrophy_demo_run(tmp_path_factory) -> Path:
    """One complete local run of the tiny dystrophy demo, with the threads of the SLURM profile
    so that the SLURM test can compare its results with these."""
    workdir = tmp_path_factory.mktemp("dystrophy_demo")
    args, cores = threads_as_on_slurm()
    run_snakemake(workdir, TINY, *args, cores=cores)
    return workdir
