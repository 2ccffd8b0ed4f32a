"""Wall time of the default demo run in a fresh working folder.

Usage: python benchmarks/demo_wall_time.py [--cores N] [--keep DIR] [--studies S [S ...]]

Without ``--studies`` every study of the default config runs (the full ``make demo``).
"""

from __future__ import annotations

import argparse
import collections
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("benchmarks.demo_wall_time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", default="all")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep the results")
    parser.add_argument("--studies", nargs="+", help="run only these studies (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="qmrflow-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(REPO / "profiles/local"),
        "--cores",
        args.cores,
    ]
    if args.studies:
        command += ["--config", f"studies={args.studies!r}"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"demo failed:\n{result.stderr[-4000:]}")
    # Snakemake's job blocks ("rule X:") or the quiet console's lines ("... done: X ...").
    output = result.stdout + result.stderr
    found = re.findall(r"^(?:local)?rule (\w+):|steps \(\d+%\) done: (\w+)", output, re.M)
    counts = collections.Counter(block or line for block, line in found)
    logger.info(
        "demo (%s): %.1f s wall time (%.1f min), %d jobs, cores=%s, folder %s",
        ", ".join(args.studies or ["all studies"]),
        elapsed,
        elapsed / 60,
        sum(counts.values()),
        args.cores,
        workdir,
    )
    for rule, count in sorted(counts.items()):
        logger.info("  %-36s %5d jobs", rule, count)
    for history in sorted((workdir / "results/benchmarks").glob("train_*/*.tsv")):
        logger.info(
            "  %s %s: %s s",
            history.parent.name,
            history.stem,
            history.read_text().splitlines()[1].split("\t")[0],
        )


if __name__ == "__main__":
    main()
