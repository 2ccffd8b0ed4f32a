"""A quiet Snakemake console: one line per finished job with the progress count.

Snakemake's default console prints, for every job, a block of its inputs, outputs, log, job
id, wildcards, resources and the *reason* it runs (several kilobytes per job in the demo:
every changed input file is listed), then "Finished jobid" and "k of n steps done" lines.
``snakemake --quiet rules`` drops the blocks but also every "Error in rule" message, on the
console and in Snakemake's own log file. :class:`QuietConsole` prints instead:

- one line per finished job: time, progress count, rule and wildcards;
- one line per failed job: rule, wildcards and the job's log (its own error output, which the
  job writes to the console itself, still shows);
- in a dry-run, one line per planned job: rule, wildcards and why it would run;
- the job count at the start, one line;
- every warning and error of Snakemake, and its other messages but the scheduler's
  "Select jobs to execute..." and "Execute n jobs..." rounds.

The full job blocks, reasons included, stay in Snakemake's log file
(``.snakemake/log/*.snakemake.log``, written as by default) and, on request, on the console
(``--logger-qmrflow-verbose``). The Snakemake logger plugin ``snakemake_logger_plugin_qmrflow``
(``--logger qmrflow``, set in profiles/local) puts this handler on Snakemake's logger; it reads
only the attributes Snakemake sets on its log records (``event``: ``job_info``,
``job_finished``, ``progress``, ...), so this module does not import Snakemake.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from qmrflow.workflow.status import reason_categories

__all__ = ["QuietConsole"]

# Snakemake's scheduling and set-up chatter, dropped from the quiet console.
_DROPPED_EVENTS = frozenset(
    {"workflow_started", "resources_info", "debug_dag", "rulegraph", "job_started"}
)
_DROPPED_MESSAGES = ("Select jobs to execute", "Execute ", "Building DAG of jobs", "Using shell")


def _wildcards(wildcards: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (wildcards or {}).items())


def _percent(done: int, total: int) -> str:
    return f"{100 * done / total:.0f}%" if total else "100%"


class QuietConsole(logging.Handler):
    """A logging handler for Snakemake's logger that prints one line per finished job.

    Parameters
    ----------
    stream
        Where to write (default: ``sys.stderr``, as Snakemake's console).
    printshellcmds
        Also print the shell commands (``--printshellcmds``).
    dryrun
        A dry-run (``--dry-run``): one line per planned job, with the categories of its reason
        (:func:`qmrflow.workflow.status.reason_categories`), instead of per finished job.
    """

    def __init__(
        self, stream: TextIO | None = None, printshellcmds: bool = False, dryrun: bool = False
    ) -> None:
        super().__init__()
        self.stream = stream
        self.printshellcmds = printshellcmds
        self.dryrun = dryrun
        self._jobs: dict[int, tuple[str, str]] = {}  # jobid -> rule, wildcards
        self._finished: list[tuple[str, str]] = []

    def _write(self, lines: Iterable[str]) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        for line in lines:
            stream.write(f"{line}\n")
        stream.flush()

    def _job(self, jobid: Any, rule: str | None = None) -> tuple[str, str]:
        known = self._jobs.get(jobid) if isinstance(jobid, int) else None
        return known if known is not None else (rule or f"job {jobid}", "")

    def _lines(self, record: logging.LogRecord) -> list[str]:
        event = str(getattr(record, "event", None) or "")
        now = time.strftime("%H:%M:%S", time.localtime(record.created))
        if event == "job_info":
            wildcards = _wildcards(getattr(record, "wildcards", None))
            self._jobs[record.jobid] = (record.rule_name, wildcards)  # type: ignore[attr-defined]
            if not self.dryrun:
                return []
            why = ", ".join(reason_categories(str(getattr(record, "reason", "") or "")))
            where = f" ({wildcards})" if wildcards else ""
            return [f"{record.rule_name}{where}: {why}"]  # type: ignore[attr-defined]
        if event == "job_finished":
            self._finished.append(self._job(getattr(record, "job_id", None)))
            return []
        if event == "progress":
            done, total = record.done, record.total  # type: ignore[attr-defined]
            count = f"{done} of {total} steps ({_percent(done, total)}) done"
            finished, self._finished = self._finished, []
            if not finished:
                return [f"[{now}] {count}"]
            return [f"[{now}] {count}: {' '.join(filter(None, job))}" for job in finished]
        if event == "job_error":
            rule, wildcards = self._job(getattr(record, "jobid", None), record.rule_name)  # type: ignore[attr-defined]
            where = f" ({wildcards})" if wildcards else ""
            logs = ", ".join(getattr(record, "log", None) or []) or "no log"
            message = getattr(record, "rule_msg", None)
            text = f": {message}" if message else ""
            return [f"[{now}] Error in rule {rule}{where}{text}; log: {logs}"]
        if event == "group_error":
            jobs = getattr(record, "job_error_info", None) or []
            return [
                f"[{now}] Error in rule {job['rule_name']} (group job); "
                f"log: {', '.join(job.get('log') or []) or 'no log'}"
                for job in jobs
            ] or [f"[{now}] Error in a group job: {record.getMessage()}"]
        if event == "run_info" and isinstance(getattr(record, "stats", None), Mapping):
            stats = dict(record.stats)  # type: ignore[attr-defined]
            total = stats.pop("total", sum(stats.values()))
            rules = ", ".join(f"{rule} {n}" for rule, n in stats.items())
            return [f"{total} jobs: {rules}"]
        if event == "shellcmd":
            command = getattr(record, "shellcmd", None) or ""
            return [command] if self.printshellcmds and command else []
        if event in _DROPPED_EVENTS or event == "group_info":
            return []
        message = record.getMessage() if record.msg is not None else ""
        if record.levelno < logging.WARNING and message.startswith(_DROPPED_MESSAGES):
            return []
        return [message] if message else []

    def emit(self, record: logging.LogRecord) -> None:
        """Print the record's line(s), if any."""
        try:
            self._write(self._lines(record))
        except Exception:
            self.handleError(record)
