"""Why would this rerun: a subject x stage table per study, from Snakemake's own records.

Snakemake decides what runs; this module only reads what it says, through the ``snakemake``
command line (qmrflow never imports Snakemake):

- the dry-run (``snakemake --dry-run``) lists every job that would run, with its rule,
  wildcards, outputs, log and the *reason* Snakemake gives (missing output, updated input
  files, input files updated by another job, changed code, params or set of input files, ...);
- the forced dry-run (``--dry-run --forceall``) lists every job of the workflow, so the jobs
  that would not run are known too (done), and its job statistics give the stages in
  topological order;
- the summary (``--summary``) gives each output file's status and plan: an output that is
  missing but that Snakemake will not remake, because the files made from it are present and
  up to date (Snakemake does not rebuild a removed intermediate file);
- Snakemake's run logs (``.snakemake/log/*.snakemake.log``) record each job that started,
  finished or failed ("Error in rule ..." with the job's log). A job whose last recorded
  attempt failed, and whose outputs are not all present, is *failed*. After a failed job
  Snakemake removes its outputs; when the jobs downstream still hold outputs of an earlier
  run, the next dry-run plans nothing for it, so only the log tells.

Rows are subjects (the ``subject`` wildcard; jobs without one form the ``group`` row), columns
are stages (rule names), one table per study (a rule belongs to the study named by its
``study`` wildcard or by one of the ``_``-separated words of its name, as every study's rules
are named). Jobs without outputs (the ``all`` target) are left out.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from qmrflow.errors import QmrflowError

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "GROUP",
    "NOT_NEEDED",
    "STATES",
    "WORKFLOW",
    "Attempt",
    "SnakemakeJob",
    "StatusError",
    "default_snakefile",
    "job_states",
    "last_attempts",
    "parse_dry_run",
    "parse_run_log",
    "parse_summary",
    "reason_categories",
    "results_folder",
    "run_setting",
    "stage_order",
    "status_table",
    "study_of",
    "study_status",
    "write_status_tables",
]

#: Columns of the tidy job table (one row per job; ``wildcards``: those besides subject/study).
COLUMNS = ("study", "subject", "stage", "state", "reason", "log", "wildcards")
#: The row of the jobs that have no ``subject`` wildcard.
GROUP = "group"
#: The study of a rule that names none (a cross-study rule).
WORKFLOW = "workflow"
#: Job states, most urgent first.
STATES = ("failed", "will run", "done")
#: Reason of a done job whose outputs are missing but that Snakemake will not remake.
NOT_NEEDED = "missing output, not needed"

# Snakemake's reason texts (snakemake.jobs.Reason.__str__, joined with "; ") and their
# category, in Snakemake's order.
_REASONS: tuple[tuple[str, str], ...] = (
    ("Forced execution", "forced"),
    ("Rules with neither input nor output files are always executed", "always"),
    ("Rules with a run or shell declaration but no output are always executed", "always"),
    ("Missing output files", "missing output"),
    ("Incomplete output files", "incomplete"),
    ("Updated input files", "input changed"),
    ("Input files updated by another job", "upstream"),
    ("Output file is a pipe", "pipe"),
    ("Job provides a service", "service"),
    ("Set of input files has changed since last execution", "input set changed"),
    ("Input is yielded by queue", "queue"),
    ("Code has changed since last execution", "code changed"),
    ("Params have changed since last execution", "params changed"),
    ("Software environment definition has changed since last execution", "software changed"),
)

_HEADER = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$")
_ERROR = re.compile(r"^\s*Error in rule (\w+):\s*$")
_FIELD = re.compile(r"^\s+(\w+): ?(.*)$")
_FINISHED = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")
_MESSAGE_JOB = re.compile(r"^\s*Job (\d+): ")
_GROUP_JOBS = re.compile(r"^\s+jobs:\s*$")
_ANNOTATION = re.compile(r"\s+\([^()]*\)$")
_LOG_HINT = " (check log file(s) for error details)"


class StatusError(QmrflowError):
    """Snakemake could not plan the workflow (a config error, a missing Snakefile, ...)."""


@dataclass(frozen=True)
class SnakemakeJob:
    """One job as Snakemake's dry-run (or run log) shows it."""

    rule: str
    wildcards: tuple[tuple[str, str], ...] = ()
    output: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    jobid: int | None = None
    reason: str = ""

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Rule and wildcards: the same job in every Snakemake listing."""
        return self.rule, self.wildcards

    def wildcard(self, name: str) -> str | None:
        """The value of one wildcard, or None."""
        return dict(self.wildcards).get(name)


@dataclass(frozen=True)
class Attempt:
    """The last recorded attempt of a job in Snakemake's run logs."""

    outcome: str  #: ``finished`` or ``failed``
    log: tuple[str, ...] = ()
    run_log: str = ""  #: the Snakemake log file that records it
    output: tuple[str, ...] = field(default=(), compare=False)


# ------------------------------------------------------------------ parsing Snakemake's text
def _files(value: str) -> tuple[str, ...]:
    """A file list as Snakemake prints it (``a, b (pipe), c``), without annotations."""
    if value.endswith(_LOG_HINT):
        value = value[: -len(_LOG_HINT)]
    return tuple(_ANNOTATION.sub("", item.strip()) for item in value.split(", ") if item.strip())


def _wildcards(value: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in value.split(", "):
        name, sep, wildcard = item.partition("=")
        if sep:
            pairs.append((name.strip(), wildcard.strip()))
    return tuple(pairs)


def _blocks(text: str, header: re.Pattern[str]) -> Iterable[tuple[str, dict[str, str]]]:
    """``(name, fields)`` of each block that ``header`` opens, its fields indented below."""
    name: str | None = None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if match := header.match(line):
            if name is not None:
                yield name, fields
            name, fields = match.group(1), {}
        elif name is not None and (match := _FIELD.match(line)):
            fields.setdefault(match.group(1), match.group(2).strip())
        elif name is not None:
            yield name, fields
            name = None
    if name is not None:
        yield name, fields


def _job(rule: str, fields: Mapping[str, str]) -> SnakemakeJob:
    jobid = fields.get("jobid", "")
    return SnakemakeJob(
        rule=rule,
        wildcards=_wildcards(fields.get("wildcards", "")),
        output=_files(fields.get("output", "")),
        log=_files(fields.get("log", "")),
        jobid=int(jobid) if jobid.isdigit() else None,
        reason=fields.get("reason", ""),
    )


def parse_dry_run(text: str) -> list[SnakemakeJob]:
    """The jobs of a ``snakemake --dry-run`` listing (its job blocks), in listing order.

    Raises
    ------
    StatusError
        A rule's ``message:`` replaced a job block ("Job N: ..."): the job's rule and wildcards
        are then not shown.
    """
    if any(_MESSAGE_JOB.match(line) for line in text.splitlines()):
        raise StatusError(
            "a rule has a `message:`, so Snakemake's dry-run hides its jobs' rule and "
            "wildcards; qmrflow status needs the rules without `message:`"
        )
    return [_job(rule, fields) for rule, fields in _blocks(text, _HEADER)]


def stage_order(text: str) -> list[str]:
    """The rules of a dry-run's "Job stats" table: Snakemake's topological order."""
    rules: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.strip() != "Job stats:":
            continue
        next(lines, None)  # header
        next(lines, None)  # rule of dashes
        for row in lines:
            parts = row.split()
            if len(parts) != 2 or parts[0] == "total":
                break
            if parts[0] not in rules:
                rules.append(parts[0])
        break
    return rules


def parse_summary(text: str) -> pd.DataFrame:
    """``snakemake --summary`` as a table: output_file, date, rule, log, status, plan."""
    columns = ["output_file", "date", "rule", "log", "status", "plan"]
    rows = [
        line.split("\t")
        for line in text.splitlines()
        if line.count("\t") == 5 and not line.startswith("output_file\t")
    ]
    return pd.DataFrame(rows, columns=columns)


def parse_run_log(text: str) -> list[tuple[str, SnakemakeJob]]:
    """The job events of one Snakemake run log, in order: ``(outcome, job)``.

    ``outcome`` is ``finished`` ("Finished jobid: N") or ``failed`` ("Error in rule X:" with
    the job's log); the job's rule, wildcards and outputs come from its job block in the same
    log (job ids are numbered per run).
    """
    started: dict[int, SnakemakeJob] = {}
    events: list[tuple[str, SnakemakeJob]] = []
    block = re.compile(f"{_HEADER.pattern}|{_ERROR.pattern}")
    name: str | None = None
    error = False
    fields: dict[str, str] = {}

    def close() -> None:
        if name is None:
            return
        job = _job(name, fields)
        if error:
            known = started.get(job.jobid) if job.jobid is not None else None
            if known is not None and known.rule == job.rule:
                job = SnakemakeJob(known.rule, known.wildcards, known.output, job.log, job.jobid)
            events.append(("failed", job))
        elif job.jobid is not None:
            started[job.jobid] = job

    group_error = False  # inside a group job's error: its "jobs:" list of failed jobs
    for line in text.splitlines():
        if match := block.match(line):
            close()
            name, fields = match.group(1) or match.group(2), {}
            error = bool(match.group(2)) or group_error
        elif name is not None and (field_match := _FIELD.match(line)):
            fields.setdefault(field_match.group(1), field_match.group(2).strip())
        else:
            close()
            name = None
            group_error = bool(_GROUP_JOBS.match(line)) or (group_error and line[:1].isspace())
            if finished := _FINISHED.search(line):
                job = started.get(int(finished.group(1)))
                if job is not None and job.rule == finished.group(2):
                    events.append(("finished", job))
    close()
    return events


def last_attempts(logs: Sequence[Path]) -> dict[str, Attempt]:
    """Each output file's job's last recorded attempt, over Snakemake's run logs (oldest
    first, as their time-stamped names sort)."""
    attempts: dict[str, Attempt] = {}
    for path in logs:
        for outcome, job in parse_run_log(path.read_text(errors="replace")):
            attempt = Attempt(outcome, job.log, str(path), job.output)
            for output in job.output:
                attempts[output] = attempt
    return attempts


def reason_categories(reason: str) -> tuple[str, ...]:
    """The categories of a Snakemake reason text, in Snakemake's order.

    >>> reason_categories("Updated input files: a.h5; Input files updated by another job: b")
    ('input changed', 'upstream')
    """
    found = []
    for prefix, category in _REASONS:
        if re.search(rf"(?:^|; ){re.escape(prefix)}", reason) and category not in found:
            found.append(category)
    if reason and not found:
        logger.warning("unknown Snakemake reason %r: reported as it is", reason)
        found.append(reason)
    return tuple(found)


def study_of(job: SnakemakeJob, studies: Iterable[str]) -> str:
    """The study of a job: its ``study`` wildcard, or the study its rule name names."""
    if (study := job.wildcard("study")) is not None:
        return study
    words = set(job.rule.split("_"))
    for study in studies:
        if study in words:
            return study
    return WORKFLOW


# ------------------------------------------------------------------ the table
def job_states(
    every_job: Sequence[SnakemakeJob],
    planned: Sequence[SnakemakeJob],
    summary: pd.DataFrame,
    attempts: Mapping[str, Attempt],
    studies: Iterable[str],
    stages: Sequence[str] = (),
) -> pd.DataFrame:
    """The tidy job table (:data:`COLUMNS`): each job's study, subject, stage, state, reason
    and log. ``stage`` is an ordered categorical: ``stages`` (Snakemake's topological order),
    then the other rules by name.

    Parameters
    ----------
    every_job
        Every job of the workflow (the forced dry-run).
    planned
        The jobs Snakemake would run, with their reasons (the dry-run).
    summary
        :func:`parse_summary` of ``snakemake --summary``.
    attempts
        :func:`last_attempts` of Snakemake's run logs.
    studies
        The study names (the registry's).
    stages
        The rules in Snakemake's order (:func:`stage_order`).
    """
    studies = list(studies)
    will_run = {job.key: job for job in planned}
    missing = set(summary.loc[summary["status"] == "missing", "output_file"])
    jobs = {job.key: job for job in every_job}
    for job in planned:
        jobs.setdefault(job.key, job)
    rows = []
    for key, job in jobs.items():
        if not job.output:
            continue  # a target rule (`all`)
        plan = will_run.get(key)
        reason = ", ".join(reason_categories(plan.reason)) if plan is not None else ""
        if plan is None and missing.intersection(job.output):
            reason = NOT_NEEDED
        attempt = next((attempts[o] for o in job.output if o in attempts), None)
        failed = (
            attempt is not None
            and attempt.outcome == "failed"
            and (plan is not None or bool(missing.intersection(job.output)))
        )
        state = "failed" if failed else "will run" if plan is not None else "done"
        log = attempt.log if failed and attempt is not None and attempt.log else job.log
        rows.append(
            {
                "study": study_of(job, studies),
                "subject": job.wildcard("subject") or GROUP,
                "stage": job.rule,
                "state": state,
                "reason": reason,
                "log": ", ".join(log),
                "wildcards": ", ".join(
                    f"{k}={v}" for k, v in job.wildcards if k not in ("subject", "study")
                ),
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    order = [s for s in stages if s in set(frame["stage"])]
    order += sorted(set(frame["stage"]).difference(order))
    frame["stage"] = pd.Categorical(frame["stage"], categories=order, ordered=True)
    return frame


def _cell(jobs: pd.DataFrame) -> str:
    state = next(s for s in STATES if (jobs["state"] == s).any())
    chosen = jobs[jobs["state"] == state]
    count = f" [{len(chosen)} of {len(jobs)} jobs]" if len(chosen) < len(jobs) else ""
    if state == "failed":
        return f"failed: {', '.join(dict.fromkeys(chosen['log']))}{count}"
    reasons = [r for text in chosen["reason"] for r in text.split(", ") if r]
    order = [category for _, category in _REASONS]
    reasons = sorted(dict.fromkeys(reasons), key=lambda r: order.index(r) if r in order else 99)
    detail = f": {', '.join(reasons)}" if reasons else ""
    return f"{state}{detail}{count}"


def _subject_order(subject: str) -> tuple[bool, str]:
    return subject == GROUP, subject


def status_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """One study's subject x stage table of a tidy job table (one study's rows).

    A cell sums its jobs (a stage may run once per subject and acquisition): the most urgent
    state (failed, will run, done), the reasons of its jobs in that state, the failed jobs'
    logs, and "[k of n jobs]" when not all its jobs are in that state. ``n/a``: no such job.
    Columns follow the order of the ``stage`` categories (Snakemake's topological order);
    subjects are sorted, the group row last.
    """
    if jobs.empty:
        return pd.DataFrame(index=pd.Index([], name="subject"))
    stages = jobs["stage"].astype(str)
    cells = {
        (subject, stage): _cell(group)
        for (subject, stage), group in jobs.assign(stage=stages).groupby(["subject", "stage"])
    }
    present = set(stages)
    categorical = isinstance(jobs["stage"].dtype, pd.CategoricalDtype)
    order = [str(s) for s in jobs["stage"].cat.categories] if categorical else []
    columns = [s for s in order if s in present] + sorted(present.difference(order))
    subjects = sorted(set(jobs["subject"]), key=_subject_order)
    return pd.DataFrame(
        [[cells.get((subject, stage), "n/a") for stage in columns] for subject in subjects],
        index=pd.Index(subjects, name="subject"),
        columns=columns,
    )


def write_status_tables(jobs: pd.DataFrame, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write each study's :func:`status_table` to ``<folder>/<study>_status.tsv``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for study, rows in jobs.groupby("study", sort=True):
        path = folder / f"{study}_status.tsv"
        status_table(rows).to_csv(path, sep="\t")
        written[str(study)] = path
    return written


# ------------------------------------------------------------------ running Snakemake
def default_snakefile(directory: str | os.PathLike[str] = ".") -> Path:
    """The ``Snakefile`` of ``directory`` (Snakemake's own default), else the one of the
    qmrflow checkout this package was installed from.

    Raises
    ------
    StatusError
        Neither exists.
    """
    candidates = [Path(directory) / "Snakefile", Path(__file__).resolve().parents[3] / "Snakefile"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise StatusError(
        f"no Snakefile in {Path(directory).resolve()} nor beside the qmrflow package; "
        "name it with --snakefile"
    )


def run_setting(
    snakefile: str | os.PathLike[str],
    configfiles: Sequence[str | os.PathLike[str]] = (),
    config: Sequence[str] = (),
    key: Sequence[str] = ("results",),
    default: Any = None,
) -> Any:
    """A setting of the run: the workflow's config/config.yaml, then each ``--configfile``,
    then ``--config KEY=VALUE`` (as Snakemake merges them; ``--config`` only for a top-level
    key). ``key`` is the path of nested keys, e.g. ``("qc", "outlier_threshold")``."""
    value = default
    for path in [Path(snakefile).parent / "config" / "config.yaml", *map(Path, configfiles)]:
        if path.is_file():
            node: Any = yaml.safe_load(path.read_text()) or {}
            for part in key:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                value = node
    for item in config:
        name, sep, text = item.partition("=")
        if sep and len(key) == 1 and name.strip() == key[0]:
            value = yaml.safe_load(text)
    return value


def results_folder(
    snakefile: str | os.PathLike[str],
    configfiles: Sequence[str | os.PathLike[str]] = (),
    config: Sequence[str] = (),
) -> str:
    """The ``results`` setting of the run (:func:`run_setting`; default ``results``)."""
    return str(run_setting(snakefile, configfiles, config, ("results",), "results"))


def _snakemake(base: Sequence[str], mode: Sequence[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "snakemake", *base, *mode]
    logger.debug("running %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise StatusError(f"snakemake {' '.join(mode)} failed ({result.returncode}):\n{tail}")
    return result


def study_status(
    directory: str | os.PathLike[str] = ".",
    *,
    snakefile: str | os.PathLike[str] | None = None,
    configfiles: Sequence[str | os.PathLike[str]] = (),
    config: Sequence[str] = (),
    extra: Sequence[str] = (),
    studies: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Ask Snakemake what would run in the workflow folder ``directory``, and why.

    Runs ``snakemake --dry-run``, ``--dry-run --forceall`` and ``--summary`` (side by side,
    without locking the folder, so a running workflow may be watched) and reads Snakemake's
    run logs in ``directory/.snakemake/log``. Nothing is run or changed.

    Parameters
    ----------
    directory
        The workflow folder (where ``snakemake`` runs; ``--directory``).
    snakefile
        The Snakefile; by default ``directory/Snakefile``, else qmrflow's own.
    configfiles, config
        Passed on as ``--configfile`` and ``--config KEY=VALUE``.
    extra
        Further ``snakemake`` arguments (``--profile``, targets, ...).
    studies
        Study names; by default the registry's.

    Returns
    -------
    pandas.DataFrame
        One row per job, :data:`COLUMNS` (see :func:`job_states`); e.g. the failed jobs are
        ``jobs[jobs.state == "failed"]``, with their logs.

    Raises
    ------
    StatusError
        Snakemake could not plan the workflow; the message ends with its output.
    """
    from qmrflow.workflow.registry import available_studies

    directory = Path(directory).resolve()
    snakefile = Path(snakefile).resolve() if snakefile else default_snakefile(directory)
    base = ["--snakefile", str(snakefile), "--directory", str(directory), "--nolock"]
    # Every job's block, whatever a profile says (quiet, or the quiet console of profiles/local).
    base += ["--rerun-incomplete", "--quiet", "host", "--logger-qmrflow-verbose", *extra]
    if configfiles:
        base += ["--configfile", *(str(Path(path).resolve()) for path in configfiles)]
    if config:
        base += ["--config", *config]
    # (`--summary` without `--dry-run` would leave a log file in .snakemake/log each time)
    modes = (["--dry-run"], ["--dry-run", "--forceall"], ["--summary", "--dry-run"])
    with ThreadPoolExecutor(len(modes)) as pool:
        plan, every, summary = pool.map(lambda mode: _snakemake(base, mode), modes)
    every_text = every.stdout + every.stderr
    return job_states(
        parse_dry_run(every_text),
        parse_dry_run(plan.stdout + plan.stderr),
        parse_summary(summary.stdout),
        last_attempts(sorted((directory / ".snakemake" / "log").glob("*.snakemake.log"))),
        available_studies() if studies is None else studies,
        stage_order(every_text),
    )
