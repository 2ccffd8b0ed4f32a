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


def run_snakemake(
    workdir: Path, config: dict, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``snakemake`` on the repository's Snakefile in ``workdir`` with ``config``."""
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
        "--cores",
        "2",
        *args,
    ]
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
