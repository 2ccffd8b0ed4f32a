"""The quiet console (profiles/local): one line per finished job, a progress count, failures.

Log records are built as Snakemake 9 emits them (``event`` and the fields of each event); the
plugin is loaded through Snakemake's own logger plugin registry.
"""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

from qmrflow.workflow.console import QuietConsole


def record(msg: str | None = None, level: int = logging.INFO, **extra) -> logging.LogRecord:
    made = logging.LogRecord("snakemake", level, __file__, 1, msg, None, None)
    made.__dict__.update(extra)
    return made


def job_info(jobid: int, rule: str, **wildcards: str) -> logging.LogRecord:
    return record(
        f" Rule: {rule}, Jobid: {jobid}",
        event="job_info",
        jobid=jobid,
        rule_name=rule,
        wildcards=wildcards,
        reason="Missing output files: a.tsv; Input files updated by another job: b.tsv",
        input=["b.tsv"],
        output=["a.tsv"],
        log=[f"results/logs/{rule}.log"],
    )


def finished(jobid: int, rule: str) -> logging.LogRecord:
    return record(f"Finished jobid: {jobid} (Rule: {rule})", event="job_finished", job_id=jobid)


def progress(done: int, total: int) -> logging.LogRecord:
    return record(None, event="progress", done=done, total=total)


def lines(handler: QuietConsole, *records: logging.LogRecord) -> list[str]:
    for made in records:
        handler.handle(made)
    return handler.stream.getvalue().splitlines()


def strip_time(line: str) -> str:
    return line.split("] ", 1)[1] if line.startswith("[") else line


def test_one_line_per_finished_job_with_the_progress_count():
    out = lines(
        QuietConsole(io.StringIO()),
        record("Building DAG of jobs..."),
        record(
            "Job stats: ...",
            event="run_info",
            stats={"reconstruct_qsm_subject": 2, "evaluate_qsm": 1, "total": 3},
        ),
        record("Select jobs to execute..."),
        record("Execute 2 jobs..."),
        job_info(5, "reconstruct_qsm_subject", subject="ms01"),
        job_info(6, "reconstruct_qsm_subject", subject="ms02"),
        record("Shell command: None", event="shellcmd", shellcmd=None),
        finished(6, "reconstruct_qsm_subject"),
        progress(1, 3),
        finished(5, "reconstruct_qsm_subject"),
        progress(2, 3),
        job_info(1, "evaluate_qsm"),
        finished(1, "evaluate_qsm"),
        progress(3, 3),
        record("Complete log(s): .snakemake/log/x.snakemake.log"),
    )
    assert [strip_time(line) for line in out] == [
        "3 jobs: reconstruct_qsm_subject 2, evaluate_qsm 1",
        "1 of 3 steps (33%) done: reconstruct_qsm_subject subject=ms02",
        "2 of 3 steps (67%) done: reconstruct_qsm_subject subject=ms01",
        "3 of 3 steps (100%) done: evaluate_qsm",
        "Complete log(s): .snakemake/log/x.snakemake.log",
    ]
    assert out[1].startswith("[") and out[1][9] == "]"  # [HH:MM:SS]


def test_a_failed_job_is_one_line_with_its_wildcards_and_log():
    out = lines(
        QuietConsole(io.StringIO()),
        job_info(15, "reconstruct_qsm_subject", subject="ms02"),
        record(
            "Error in rule reconstruct_qsm_subject, jobid: 15",
            logging.ERROR,
            event="job_error",
            rule_name="reconstruct_qsm_subject",
            rule_msg=None,
            jobid=15,
            log=["results/logs/reconstruct_qsm_subject/sub-ms02.log"],
        ),
        record("Exiting because a job execution failed. Look below for error messages", 40),
    )
    assert [strip_time(line) for line in out] == [
        "Error in rule reconstruct_qsm_subject (subject=ms02); "
        "log: results/logs/reconstruct_qsm_subject/sub-ms02.log",
        "Exiting because a job execution failed. Look below for error messages",
    ]


def test_a_failed_group_job_names_each_of_its_jobs():
    out = lines(
        QuietConsole(io.StringIO()),
        record(
            "Error in group subject_ms02",
            logging.ERROR,
            event="group_error",
            job_error_info=[{"rule_name": "segment_lungs", "jobid": 3, "log": ["a.log"]}],
        ),
    )
    assert [strip_time(line) for line in out] == [
        "Error in rule segment_lungs (group job); log: a.log"
    ]


def test_warnings_and_unknown_messages_pass_the_chatter_does_not():
    out = lines(
        QuietConsole(io.StringIO()),
        record(None, event="workflow_started"),
        record("Provided cores: 2", event="resources_info"),
        record("Using shell: /usr/bin/bash"),
        record("Execute 1 jobs..."),
        record("Nothing to be done (all requested files are present and up to date)."),
        record("Execute this: a warning", logging.WARNING),
    )
    assert out == [
        "Nothing to be done (all requested files are present and up to date).",
        "Execute this: a warning",
    ]


def test_shell_commands_show_only_when_asked():
    command = record("Shell command: echo hi", event="shellcmd", shellcmd="echo hi")
    assert lines(QuietConsole(io.StringIO()), command) == []
    assert lines(QuietConsole(io.StringIO(), printshellcmds=True), command) == ["echo hi"]


def test_a_dry_run_shows_one_line_per_planned_job_and_why():
    out = lines(
        QuietConsole(io.StringIO(), dryrun=True),
        job_info(5, "reconstruct_qsm_subject", subject="ms01"),
        job_info(1, "evaluate_qsm"),
    )
    assert out == [
        "reconstruct_qsm_subject (subject=ms01): missing output, upstream",
        "evaluate_qsm: missing output, upstream",
    ]


def test_the_plugin_is_found_by_snakemake_and_verbose_gives_snakemakes_own_format():
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    plugin = LoggerPluginRegistry().get_plugin("qmrflow")
    settings = plugin.settings_cls()
    common = SimpleNamespace(printshellcmds=False, dryrun=False)
    handler = plugin.log_handler(common, settings)
    assert handler.writes_to_stream and not handler.writes_to_file
    assert handler.has_filter and handler.has_formatter  # the quiet console does both
    assert isinstance(handler.quiet, QuietConsole)

    settings.verbose = True
    verbose = plugin.log_handler(common, settings)
    # Snakemake then attaches its default filter and formatter: its full job blocks
    assert not verbose.has_filter and not verbose.has_formatter
    assert plugin.cli_prefix == "logger-qmrflow"
