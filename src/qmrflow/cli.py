"""The ``qmrflow`` command line.

``qmrflow status``: what Snakemake would run in a workflow folder, and why, as a subject x
stage table per study (see :mod:`qmrflow.workflow.status`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from qmrflow.errors import QmrflowError
from qmrflow.report.qc import DEFAULT_THRESHOLD, FAILED_COLUMNS, flag_failed_jobs
from qmrflow.workflow.status import (
    STATES,
    default_snakefile,
    results_folder,
    run_setting,
    status_table,
    study_status,
    write_status_tables,
)

logger = logging.getLogger("qmrflow.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qmrflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser(
        "status",
        help="what would run, and why: a subject x stage table per study",
        description=(
            "Ask Snakemake (dry-run, forced dry-run, summary and its run logs) what would run "
            "in the workflow folder and why. Prints, per study, the subjects with a stage "
            "that is not done, and writes every subject's row to "
            "<results>/status/<study>_status.tsv. Arguments after `--` go to snakemake "
            "(e.g. -- --profile profiles/slurm)."
        ),
    )
    status.add_argument(
        "--directory", "-d", default=".", help="the workflow folder (default: the current one)"
    )
    status.add_argument(
        "--snakefile",
        "-s",
        default=None,
        help="the Snakefile (default: ./Snakefile, else qmrflow's own)",
    )
    status.add_argument(
        "--configfile", nargs="+", default=[], metavar="FILE", help="as for snakemake"
    )
    status.add_argument(
        "--config", nargs="+", default=[], metavar="KEY=VALUE", help="as for snakemake"
    )
    status.add_argument(
        "--study", nargs="+", default=None, metavar="NAME", help="only these studies"
    )
    status.add_argument(
        "--all", action="store_true", help="print every subject, also those with all done"
    )
    status.add_argument("--no-write", action="store_true", help="print only; write no status table")
    status.add_argument("--verbose", "-v", action="store_true", help="log the snakemake calls")
    return parser


def _show(study: str, rows: pd.DataFrame, everything: bool) -> str:
    table = status_table(rows)
    counts = rows["state"].value_counts()
    summary = ", ".join(f"{counts[state]} {state}" for state in STATES if state in counts)
    lines = [f"== {study}: {len(rows)} jobs: {summary}"]
    pending = table.apply(lambda row: any(not c.startswith(("done", "n/a")) for c in row), axis=1)
    shown = table if everything else table[pending]
    if not shown.empty:
        lines.append(shown.to_string())
    if len(shown) < len(table):
        lines.append(f"({len(table) - len(shown)} more row(s), every stage done: --all shows them)")
    return "\n".join(lines) + "\n\n"


def status(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Run ``qmrflow status``: print and write the tables; 1 when a job failed."""
    jobs = study_status(
        args.directory,
        snakefile=args.snakefile,
        configfiles=args.configfile,
        config=args.config,
        extra=extra,
    )
    if args.study:
        jobs = jobs[jobs["study"].isin(args.study)]
    with pd.option_context("display.width", None, "display.max_colwidth", None):
        for study, rows in jobs.groupby("study", sort=True):
            sys.stdout.write(_show(str(study), rows, args.all))
    if not args.no_write:
        snakefile = args.snakefile or default_snakefile(args.directory)
        results = Path(args.directory) / results_folder(snakefile, args.configfile, args.config)
        for path in write_status_tables(jobs, results / "status").values():
            logger.info("wrote %s", path)
        threshold = run_setting(
            snakefile, args.configfile, args.config, ("qc", "outlier_threshold"), DEFAULT_THRESHOLD
        )
        failed = jobs.loc[jobs["state"] == "failed", list(FAILED_COLUMNS)]
        flag_failed_jobs(results, failed, float(threshold), studies=jobs["study"].unique())
    return 1 if (jobs["state"] == "failed").any() else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qmrflow`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        return status(args, extra)
    except QmrflowError as error:
        logger.error("%s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
