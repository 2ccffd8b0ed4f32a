"""The tiny dystrophy config through a local SLURM cluster against the local executor.

Usage (as root; installs Debian's SLURM packages when missing):
    python benchmarks/slurm_vs_local.py [--status-seconds N]

Both runs happen in this process, each in a fresh folder, with the same threads per rule (those
of profiles/slurm). The SLURM run uses the project's profile unchanged, except the seconds
before the plugin's first status check (``--status-seconds``, default 3; the plugin's own
default is 40). Reports wall times, their ratio, and the sbatch submissions per subject, counted
from the accounting database.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.workflow.conftest import (  # noqa: E402  (the tests' helpers, from the repo root)
    TINY,
    slurm_command,
    snakemake_command,
    threads_as_on_slurm,
)
from tests.workflow.slurm_cluster import LocalSlurm, install  # noqa: E402

logger = logging.getLogger("benchmarks.slurm_vs_local")


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--status-seconds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    scratch = Path(tempfile.mkdtemp(prefix="qmrflow-slurm-bench-"))
    local_dir = scratch / "local"
    local_dir.mkdir()
    thread_args, cores = threads_as_on_slurm()
    local = timed(snakemake_command(local_dir, TINY, *thread_args, cores=cores))

    install()
    with LocalSlurm(scratch / "cluster") as cluster:
        slurm_dir = scratch / "slurm"
        slurm_dir.mkdir()
        slurm = timed(slurm_command(slurm_dir, TINY, args.status_seconds))
        time.sleep(3)  # let the last jobs reach the accounting database
        jobs = cluster.jobs("JobID", "Comment")

    n_subjects = TINY["dystrophy"]["demo"]["n_cases"]
    kinds = Counter(row["Comment"].split("_wildcards_")[0] for row in jobs)
    logger.info("tiny dystrophy config, %d subjects, %s", n_subjects, scratch)
    logger.info("local executor: %.1f s", local)
    logger.info("local SLURM:    %.1f s (%.2fx the local executor)", slurm, slurm / local)
    logger.info(
        "sbatch submissions: %d in all, %.2f per subject; by kind: %s",
        len(jobs),
        len(jobs) / n_subjects,
        dict(kinds),
    )


if __name__ == "__main__":
    main()
