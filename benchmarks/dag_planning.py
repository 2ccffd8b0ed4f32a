"""Dry-run planning time of a large cohort against a bare Snakefile with the same jobs.

The bare Snakefile has one trivial rule per qmrflow rule, the same wildcards, the same number of
jobs and the same dependency structure (per-subject chain -> training on train/val -> per test
subject -> group), so the ratio isolates what qmrflow adds at planning time: config and
participants validation, input functions, params. Both are timed in this run, alternating.

Usage: python benchmarks/dag_planning.py [--subjects 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from qmrflow.studies.dystrophy.simulate import demo_participants

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("benchmarks.dag_planning")

BARE = """
import pandas as pd
T = pd.read_csv("{table}", sep="\\t", dtype=str)
ALL = list(T.participant_id)
FIT = list(T.participant_id[T.split != "test"])
TEST = list(T.participant_id[T.split == "test"])
ARCH = {archs}
K = range(1, {slices} + 1)

rule all:
    input: "r/figures.done", "r/description.json"

rule participants:
    output: "d/participants.tsv"
    shell: "touch {{output}}"

rule simulate:
    output: expand("d/sub-{{{{s}}}}/slice-{{k}}.nii.gz", k=K), "d/truth/sub-{{s}}.tsv"
    shell: "touch {{output}}"

rule ratings:
    input: "d/participants.tsv"
    output: "d/ratings.tsv"
    shell: "touch {{output}}"

rule roi:
    input: expand("d/sub-{{{{s}}}}/slice-{{k}}.nii.gz", k=K)
    output: "r/sub-{{s}}/crops.nii.gz", "r/sub-{{s}}/roi.tsv"
    shell: "touch {{output}}"

rule train:
    input: expand("r/sub-{{s}}/crops.nii.gz", s=FIT), expand("r/sub-{{s}}/roi.tsv", s=FIT)
    output: "m/{{a}}/model.pt", "m/{{a}}/model.json", "m/{{a}}/history.tsv"
    shell: "touch {{output}}"

rule classify:
    input: "r/sub-{{s}}/crops.nii.gz", "r/sub-{{s}}/roi.tsv", expand("m/{{a}}/model.pt", a=ARCH)
    output: "r/sub-{{s}}/probabilities.tsv", "r/sub-{{s}}/cam.nii.gz"
    shell: "touch {{output}}"

rule evaluate:
    input: expand("r/sub-{{s}}/probabilities.tsv", s=TEST), expand("r/sub-{{s}}/roi.tsv", s=TEST),
           "d/participants.tsv", "d/ratings.tsv", expand("m/{{a}}/model.json", a=ARCH)
    output: "r/statistics.tsv"
    shell: "touch {{output}}"

rule figures:
    input: "r/statistics.tsv", expand("r/sub-{{s}}/cam.nii.gz", s=TEST),
           expand("m/{{a}}/history.tsv", a=ARCH)
    output: "r/figures.done"
    shell: "touch {{output}}"

rule describe:
    input: expand("m/{{a}}/model.json", a=ARCH)
    output: "r/description.json"
    shell: "touch {{output}}"
"""


def dry_run(args: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--quiet", "rules", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"dry run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    total = next(
        (
            int(line.split()[-1])
            for line in result.stdout.splitlines()
            if line.strip().startswith("total")
        ),
        -1,
    )
    return elapsed, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archs = ["resnet10-lite", "densenet-lite"]
        config = {"studies": ["dystrophy"], "dystrophy": {"demo": {"n_cases": args.subjects}}}
        (tmp / "q").mkdir()
        (tmp / "q/config.yaml").write_text(yaml.safe_dump(config))
        demo_participants(args.subjects, 2021).to_csv(tmp / "table.tsv", sep="\t", index=False)
        (tmp / "bare").mkdir()
        (tmp / "bare/Snakefile").write_text(
            BARE.format(table=tmp / "table.tsv", archs=archs, slices=6)
        )
        qmrflow_args = [
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            str(tmp / "q/config.yaml"),
        ]
        times: dict[str, list[float]] = {"qmrflow": [], "bare": []}
        jobs = {}
        for _ in range(args.repeats):
            elapsed, jobs["qmrflow"] = dry_run(qmrflow_args, tmp / "q")
            times["qmrflow"].append(elapsed)
            elapsed, jobs["bare"] = dry_run([], tmp / "bare")
            times["bare"].append(elapsed)
    q, b = statistics.median(times["qmrflow"]), statistics.median(times["bare"])
    logger.info(
        "%d subjects: qmrflow %d jobs, bare %d jobs", args.subjects, jobs["qmrflow"], jobs["bare"]
    )
    logger.info(
        "snakemake --dry-run median of %d: qmrflow %.2f s, bare %.2f s, ratio %.2fx "
        "(target <= 1.5x)",
        args.repeats,
        q,
        b,
        q / b,
    )


if __name__ == "__main__":
    main()
