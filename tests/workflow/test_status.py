"""qmrflow status: Snakemake's dry-run, summary and run logs read into a subject x stage table.

The texts below are Snakemake 9's own output (job blocks, job statistics, summary rows, run
log events), shortened; no Snakemake runs here.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from qmrflow import cli
from qmrflow.workflow import status
from qmrflow.workflow.status import (
    GROUP,
    NOT_NEEDED,
    WORKFLOW,
    SnakemakeJob,
    StatusError,
    job_states,
    last_attempts,
    parse_dry_run,
    parse_run_log,
    parse_summary,
    reason_categories,
    results_folder,
    run_setting,
    stage_order,
    status_table,
    study_of,
    write_status_tables,
)

STUDIES = ["dystrophy", "qsm"]

# `snakemake --dry-run`: every planned job's block, then the job statistics.
DRY_RUN = """\
Building DAG of jobs...
Job stats:
job                        count
-----------------------  -------
reconstruct_qsm_subject        1
compute_qsm_cr                 1
evaluate_qsm                   1
all                            1
total                          4


[Mon Dec  7 16:57:38 2026]
rule reconstruct_qsm_subject:
    input: raw/sub-ms01/kspace/sub-ms01_acq-gre_kspace.h5
    output: results/qsm/sub-ms01/anat/sub-ms01_mag.nii.gz, results/qsm/sub-ms01/sub-ms01_timing.tsv
    log: results/logs/reconstruct_qsm_subject/sub-ms01.log
    jobid: 5
    benchmark: results/benchmarks/reconstruct_qsm_subject/sub-ms01.tsv
    reason: Updated input files: raw/sub-ms01/kspace/sub-ms01_acq-gre_kspace.h5
    wildcards: subject=ms01
    resources: tmpdir=/tmp
[Mon Dec  7 16:57:38 2026]
rule compute_qsm_cr:
    input: results/qsm/sub-ms01/anat/sub-ms01_mag.nii.gz
    output: results/qsm/sub-ms01/anat/sub-ms01_Chimap.nii.gz, results/qsm/fifo (pipe)
    log: results/logs/compute_qsm_cr/sub-ms01.log
    jobid: 3
    reason: Input files updated by another job: results/qsm/sub-ms01/anat/sub-ms01_mag.nii.gz
    wildcards: subject=ms01
    resources: tmpdir=/tmp
[Mon Dec  7 16:57:38 2026]
localrule evaluate_qsm:
    input: results/qsm/sub-ms01/anat/sub-ms01_Chimap.nii.gz
    output: results/qsm/group/statistics.tsv
    log: results/logs/evaluate_qsm/evaluate_qsm.log
    jobid: 1
    reason: Input files updated by another job: c; Params have changed since last execution: {}
    resources: tmpdir=/tmp
[Mon Dec  7 16:57:38 2026]
localrule all:
    input: results/qsm/group/statistics.tsv
    jobid: 0
    reason: Input files updated by another job: results/qsm/group/statistics.tsv
    resources: tmpdir=/tmp
Job stats:
job                        count
-----------------------  -------
reconstruct_qsm_subject        1
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
"""

SUMMARY = "\n".join(
    [
        "Building DAG of jobs...",
        "output_file\tdate\trule\tlog-file(s)\tstatus\tplan",
        "results/qsm/sub-ms01/anat/sub-ms01_mag.nii.gz\tMon Dec  7 16:55:14 2026\t"
        "reconstruct_qsm_subject\tresults/logs/reconstruct_qsm_subject/sub-ms01.log\t"
        "updated input files\tupdate pending",
        "results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz\t-\treconstruct_qsm_subject\t"
        "results/logs/reconstruct_qsm_subject/sub-ms02.log\tmissing\tno update",
        "results/qsm/group/statistics.tsv\tMon Dec  7 16:55:32 2026\tevaluate_qsm\t-\tok\t"
        "update pending",
    ]
)

# A run log (`.snakemake/log/*.snakemake.log`): job blocks, one finished job, one failed job.
RUN_LOG = """\
Select jobs to execute...
Execute 2 jobs...

[Mon Dec  7 16:57:46 2026]
localrule reconstruct_qsm_subject:
    input: raw/sub-ms02/kspace/sub-ms02_acq-gre_kspace.h5
    output: results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz, results/qsm/sub-ms02/sub-ms02_timing.tsv
    log: results/logs/reconstruct_qsm_subject/sub-ms02.log
    jobid: 15
    reason: Updated input files: raw/sub-ms02/kspace/sub-ms02_acq-gre_kspace.h5
    wildcards: subject=ms02
    resources: tmpdir=/tmp
[Mon Dec  7 16:57:46 2026]
localrule simulate_qsm_subject:
    output: raw/sub-ms03/kspace/sub-ms03_acq-gre_kspace.h5
    log: results/logs/simulate_qsm_subject/sub-ms03.log
    jobid: 10
    reason: Missing output files: raw/sub-ms03/kspace/sub-ms03_acq-gre_kspace.h5
    wildcards: subject=ms03
    resources: tmpdir=/tmp
[Mon Dec  7 16:57:47 2026]
Finished jobid: 10 (Rule: simulate_qsm_subject)
1 of 9 steps (11%) done
RuleException:
CalledProcessError in file "/work/main/rules/qsm/chain.smk", line 40:
[Mon Dec  7 16:57:47 2026]
Error in rule reconstruct_qsm_subject:
    message: None
    jobid: 15
    input: raw/sub-ms02/kspace/sub-ms02_acq-gre_kspace.h5
    output: results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz, results/qsm/sub-ms02/sub-ms02_timing.tsv
    log: results/logs/reconstruct_qsm_subject/sub-ms02.log (check log file(s) for error details)
Exiting because a job execution failed. Look above for error messages
"""

# A SLURM group job that failed: its jobs listed under "jobs:" (no "Error in rule" line).
GROUP_RUN_LOG = """\
[Mon Dec  7 16:57:46 2026]
Group job subject_ms02 (jobs in lexicogr. order):
    [Mon Dec  7 16:57:46 2026]
    rule reconstruct_qsm_subject:
        output: results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz
        log: results/logs/reconstruct_qsm_subject/sub-ms02.log
        jobid: 15
        wildcards: subject=ms02
[Mon Dec  7 16:58:10 2026]
    message: SLURM-job '4711' failed
    log: .snakemake/slurm_logs/group_subject_ms02/4711.log (check log file(s) for error details)
    jobs:
        rule reconstruct_qsm_subject:
            jobid: 15
            output: results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz
            log: results/logs/recon/sub-ms02.log (check log file(s) for error details)
Exiting because a job execution failed. Look above for error messages
"""


def job(rule: str, subject: str | None = None, *outputs: str, **wildcards: str) -> SnakemakeJob:
    pairs = (("subject", subject),) if subject else ()
    log = f"results/logs/{rule}/{subject or rule}.log"
    return SnakemakeJob(rule, pairs + tuple(wildcards.items()), tuple(outputs), (log,))


# ------------------------------------------------------------------ parsing
def test_the_dry_run_jobs_are_read_with_rule_wildcards_outputs_log_and_reason():
    jobs = parse_dry_run(DRY_RUN)
    assert [j.rule for j in jobs] == [
        "reconstruct_qsm_subject",
        "compute_qsm_cr",
        "evaluate_qsm",
        "all",
    ]
    first = jobs[0]
    assert first.wildcards == (("subject", "ms01"),)
    assert first.output == (
        "results/qsm/sub-ms01/anat/sub-ms01_mag.nii.gz",
        "results/qsm/sub-ms01/sub-ms01_timing.tsv",
    )
    assert first.log == ("results/logs/reconstruct_qsm_subject/sub-ms01.log",)
    assert first.jobid == 5
    assert first.reason.startswith("Updated input files: raw/")
    assert jobs[1].output[1] == "results/qsm/fifo"  # the "(pipe)" annotation is dropped
    assert jobs[2].wildcards == () and jobs[3].output == ()


def test_a_rule_message_that_hides_the_job_block_is_an_error():
    with pytest.raises(StatusError, match="message"):
        parse_dry_run("[Mon Dec  7 16:57:38 2026]\nJob 3: Reconstructing ms01\nReason: x\n")


def test_the_stages_come_in_the_order_of_snakemakes_job_statistics():
    assert stage_order(DRY_RUN) == [
        "reconstruct_qsm_subject",
        "compute_qsm_cr",
        "evaluate_qsm",
        "all",
    ]
    assert stage_order("Nothing to be done.") == []


@pytest.mark.parametrize(
    ("reason", "categories"),
    [
        ("Missing output files: a.tsv, b.tsv", ("missing output",)),
        ("Incomplete output files: a.tsv", ("incomplete",)),
        ("Updated input files: raw.h5", ("input changed",)),
        ("Input files updated by another job: a.nii.gz", ("upstream",)),
        ("Set of input files has changed since last execution", ("input set changed",)),
        ("Code has changed since last execution", ("code changed",)),
        ("Params have changed since last execution: {'confidence'}", ("params changed",)),
        (
            "Software environment definition has changed since last execution",
            ("software changed",),
        ),
        ("Forced execution", ("forced",)),
        (
            "Missing output files: s.tsv; Input files updated by another job: a.tsv, b.tsv",
            ("missing output", "upstream"),
        ),
        (
            "Params have changed since last execution: {'x'}; Updated input files: r.h5",
            ("input changed", "params changed"),
        ),
        ("", ()),
    ],
)
def test_snakemakes_reasons_become_categories(reason, categories):
    assert reason_categories(reason) == categories


def test_an_unknown_reason_is_kept_as_it_is_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert reason_categories("Cosmic rays") == ("Cosmic rays",)
    assert "Cosmic rays" in caplog.text


def test_a_file_named_like_a_reason_is_not_one():
    reason = "Missing output files: results/Updated input files.tsv"
    assert reason_categories(reason) == ("missing output",)


def test_the_summary_is_read_as_a_table():
    summary = parse_summary(SUMMARY)
    assert list(summary.columns) == ["output_file", "date", "rule", "log", "status", "plan"]
    assert list(summary["status"]) == ["updated input files", "missing", "ok"]
    assert summary.loc[1, "plan"] == "no update"


def test_a_run_log_gives_each_finished_and_failed_job_with_its_wildcards():
    events = parse_run_log(RUN_LOG)
    assert [(outcome, j.rule, j.wildcards) for outcome, j in events] == [
        ("finished", "simulate_qsm_subject", (("subject", "ms03"),)),
        ("failed", "reconstruct_qsm_subject", (("subject", "ms02"),)),
    ]
    failed = events[1][1]
    assert failed.log == ("results/logs/reconstruct_qsm_subject/sub-ms02.log",)
    assert failed.output[0] == "results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz"


def test_a_failed_group_jobs_jobs_are_failed():
    events = parse_run_log(GROUP_RUN_LOG)
    assert [(outcome, j.rule, j.wildcards) for outcome, j in events] == [
        ("failed", "reconstruct_qsm_subject", (("subject", "ms02"),)),
    ]


def test_the_last_attempt_of_a_job_counts(tmp_path):
    first = tmp_path / "2026-12-07T165745.839972.snakemake.log"
    first.write_text(RUN_LOG)
    later = tmp_path / "2026-12-07T170000.000000.snakemake.log"
    later.write_text(
        RUN_LOG.replace(
            "Error in rule reconstruct_qsm_subject:",
            "Finished jobid: 15 (Rule: reconstruct_qsm_subject)\n",
        )
    )
    output = "results/qsm/sub-ms02/anat/sub-ms02_mag.nii.gz"
    assert last_attempts([first])[output].outcome == "failed"
    assert last_attempts([first])[output].run_log == str(first)
    assert last_attempts([first, later])[output].outcome == "finished"


def test_the_study_of_a_job_is_its_study_wildcard_or_the_study_its_rule_names():
    assert study_of(job("describe_derivatives", None, study="qsm"), STUDIES) == "qsm"
    assert study_of(job("localise_dystrophy_roi", "c01"), STUDIES) == "dystrophy"
    assert study_of(job("compute_qsm_cr", "ms01"), STUDIES) == "qsm"
    assert study_of(job("index_qc_pages"), STUDIES) == WORKFLOW
    assert study_of(job("qsmlike_rule"), STUDIES) == WORKFLOW  # a whole word only


# ------------------------------------------------------------------ the table
def _scenario() -> pd.DataFrame:
    every = [
        job("simulate_qsm_subject", "ms01", "raw/ms01.h5"),
        job("simulate_qsm_subject", "ms02", "raw/ms02.h5"),
        job("reconstruct_qsm_subject", "ms01", "ms01_mag.nii.gz"),
        job("reconstruct_qsm_subject", "ms02", "ms02_mag.nii.gz"),
        job("compute_qsm_cr", "ms01", "ms01_chi.nii.gz"),
        job("evaluate_qsm", None, "statistics.tsv"),
        job("describe_derivatives", None, "dataset_description.json", study="qsm"),
        job("localise_dystrophy_roi", "c01", "c01_roi.tsv"),
        job("localise_dystrophy_roi", "c02", "c02_roi.tsv"),
        SnakemakeJob("all"),  # no output: a target, left out
    ]
    planned = [
        SnakemakeJob(*every[2].key, every[2].output, every[2].log, 5, "Updated input files: r"),
        SnakemakeJob(
            *every[4].key, every[4].output, every[4].log, 3, "Input files updated by another job: y"
        ),
        SnakemakeJob(
            *every[5].key,
            every[5].output,
            every[5].log,
            1,
            "Params have changed since last execution: {'ci'}",
        ),
        SnakemakeJob(*every[8].key, every[8].output, every[8].log, 7, "Missing output files: c"),
    ]
    summary = pd.DataFrame(
        {
            "output_file": ["ms02_mag.nii.gz", "c02_roi.tsv", "raw/ms02.h5"],
            "status": ["missing", "missing", "missing"],
            "plan": ["no update", "update pending", "no update"],
        }
    )
    failed = status.Attempt("failed", ("results/logs/reconstruct_qsm_subject/ms02.log",))
    attempts = {"ms02_mag.nii.gz": failed, "c01_roi.tsv": failed}  # c01 ran fine since
    stages = ["simulate_qsm_subject", "reconstruct_qsm_subject", "compute_qsm_cr", "evaluate_qsm"]
    return job_states(every, planned, summary, attempts, STUDIES, stages)


def test_every_job_gets_its_state_reason_and_log():
    jobs = _scenario().set_index(["study", "subject", "stage"])
    assert list(jobs.columns) == ["state", "reason", "log", "wildcards"]
    assert len(jobs) == 9  # `all` left out
    rows = {key: tuple(row[["state", "reason"]]) for key, row in jobs.iterrows()}
    assert rows == {
        ("qsm", "ms01", "simulate_qsm_subject"): ("done", ""),
        ("qsm", "ms02", "simulate_qsm_subject"): ("done", NOT_NEEDED),
        ("qsm", "ms01", "reconstruct_qsm_subject"): ("will run", "input changed"),
        # failed last time; Snakemake removed its outputs and plans nothing for them
        ("qsm", "ms02", "reconstruct_qsm_subject"): ("failed", NOT_NEEDED),
        ("qsm", "ms01", "compute_qsm_cr"): ("will run", "upstream"),
        ("qsm", GROUP, "evaluate_qsm"): ("will run", "params changed"),
        ("qsm", GROUP, "describe_derivatives"): ("done", ""),
        # an attempt that failed, but the outputs are there (not missing): done
        ("dystrophy", "c01", "localise_dystrophy_roi"): ("done", ""),
        ("dystrophy", "c02", "localise_dystrophy_roi"): ("will run", "missing output"),
    }
    failed = jobs.loc[("qsm", "ms02", "reconstruct_qsm_subject")]
    assert failed["log"] == "results/logs/reconstruct_qsm_subject/ms02.log"
    assert jobs.loc[("qsm", GROUP, "describe_derivatives"), "wildcards"] == ""


def test_the_table_is_subjects_by_stages_in_snakemakes_order():
    jobs = _scenario()
    table = status_table(jobs[jobs.study == "qsm"])
    assert list(table.columns) == [
        "simulate_qsm_subject",
        "reconstruct_qsm_subject",
        "compute_qsm_cr",
        "evaluate_qsm",
        "describe_derivatives",  # not in the stage order: after it
    ]
    assert list(table.index) == ["ms01", "ms02", GROUP]
    assert table.loc["ms01", "reconstruct_qsm_subject"] == "will run: input changed"
    assert table.loc["ms02", "reconstruct_qsm_subject"] == (
        "failed: results/logs/reconstruct_qsm_subject/ms02.log"
    )
    assert table.loc["ms01", "simulate_qsm_subject"] == "done"
    assert table.loc["ms02", "simulate_qsm_subject"] == f"done: {NOT_NEEDED}"
    assert table.loc["ms02", "compute_qsm_cr"] == "n/a"
    assert table.loc[GROUP, "evaluate_qsm"] == "will run: params changed"


def test_a_cell_of_several_jobs_shows_the_most_urgent_state_and_how_many():
    jobs = job_states(
        [job("fit_maps", "s1", "a", acq="fast"), job("fit_maps", "s1", "b", acq="routine")],
        [
            SnakemakeJob(
                "fit_maps",
                (("subject", "s1"), ("acq", "fast")),
                ("a",),
                (),
                1,
                "Updated input files: x",
            )
        ],
        parse_summary(""),
        {},
        ["maps"],
    )
    assert list(jobs["wildcards"]) == ["acq=fast", "acq=routine"]
    assert status_table(jobs).loc["s1", "fit_maps"] == "will run: input changed [1 of 2 jobs]"


def test_each_studys_table_is_written(tmp_path):
    written = write_status_tables(_scenario(), tmp_path / "status")
    assert written == {
        "dystrophy": tmp_path / "status/dystrophy_status.tsv",
        "qsm": tmp_path / "status/qsm_status.tsv",
    }
    table = pd.read_csv(written["qsm"], sep="\t", index_col="subject")
    assert table.loc["ms01", "compute_qsm_cr"] == "will run: upstream"
    assert pd.isna(table.loc["ms02", "compute_qsm_cr"])  # "n/a": BIDS's missing value
    dystrophy = pd.read_csv(written["dystrophy"], sep="\t", index_col="subject")
    assert dystrophy.loc["c02", "localise_dystrophy_roi"] == "will run: missing output"


# ------------------------------------------------------------------ the workflow folder
def test_the_results_folder_follows_the_configs_as_snakemake_merges_them(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text("results: out\nseed: 1\n")
    snakefile = tmp_path / "Snakefile"
    assert results_folder(snakefile) == "out"
    mine = tmp_path / "mine.yaml"
    mine.write_text("results: /data/derivatives\n")
    assert results_folder(snakefile, [mine]) == "/data/derivatives"
    assert results_folder(snakefile, [mine], ["seed=3", "results=elsewhere"]) == "elsewhere"
    assert results_folder(tmp_path / "nowhere" / "Snakefile") == "results"


def test_a_nested_setting_follows_the_configs(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text("qc:\n  outlier_threshold: 3.5\n")
    snakefile = tmp_path / "Snakefile"
    key = ("qc", "outlier_threshold")
    assert run_setting(snakefile, key=key) == 3.5
    mine = tmp_path / "mine.yaml"
    mine.write_text("qc:\n  min_subjects: 4\n")  # another key of the block: the default stays
    assert run_setting(snakefile, [mine], key=key) == 3.5
    mine.write_text("qc:\n  outlier_threshold: 5\n")
    assert run_setting(snakefile, [mine], key=key) == 5
    assert run_setting(tmp_path / "none" / "Snakefile", key=key, default=2.0) == 2.0


def test_the_snakefile_is_the_folders_own_else_qmrflows(tmp_path):
    assert status.default_snakefile(tmp_path) == Path(status.__file__).parents[3] / "Snakefile"
    (tmp_path / "Snakefile").write_text("")
    assert status.default_snakefile(tmp_path) == tmp_path / "Snakefile"


def test_study_status_asks_snakemake_three_times_without_a_lock(tmp_path, monkeypatch):
    calls = []
    outputs = {
        "--dry-run": DRY_RUN,
        "--forceall": DRY_RUN,
        "--summary": SUMMARY,
    }

    def fake(base, mode):
        calls.append((list(base), list(mode)))
        text = outputs[mode[-1] if mode[-1] == "--forceall" else mode[0]]
        return subprocess.CompletedProcess(mode, 0, stdout=text, stderr="")

    monkeypatch.setattr(status, "_snakemake", fake)
    (tmp_path / ".snakemake/log").mkdir(parents=True)
    (tmp_path / ".snakemake/log/2026-12-07T165745.839972.snakemake.log").write_text(RUN_LOG)
    jobs = status.study_status(
        tmp_path,
        snakefile=tmp_path / "Snakefile",
        configfiles=[tmp_path / "c.yaml"],
        config=["results=out"],
        extra=["--profile", "p"],
        studies=["qsm"],
    )
    assert sorted(mode for _, mode in calls) == [
        ["--dry-run"],
        ["--dry-run", "--forceall"],
        ["--summary", "--dry-run"],
    ]
    base = calls[0][0]
    for expected in (["--directory", str(tmp_path)], ["--nolock"], ["--quiet", "host"]):
        at = base.index(expected[0])
        assert base[at : at + len(expected)] == expected
    assert base[base.index("--configfile") + 1] == str(tmp_path / "c.yaml")
    assert base[base.index("--config") + 1] == "results=out"
    assert "--profile" in base
    assert list(jobs["stage"].cat.categories[:3]) == [
        "reconstruct_qsm_subject",
        "compute_qsm_cr",
        "evaluate_qsm",
    ]
    assert set(jobs["state"]) == {"will run"}


def test_a_snakemake_error_is_reported_with_its_output(monkeypatch):
    def fail(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="ConfigError: bad key")

    monkeypatch.setattr(subprocess, "run", fail)
    with pytest.raises(StatusError, match="ConfigError: bad key"):
        status._snakemake(["--directory", "."], ["--dry-run"])


# ------------------------------------------------------------------ the command
def test_qmrflow_status_prints_and_writes_the_tables(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake(directory, **kwargs):
        seen.update(kwargs, directory=directory)
        return _scenario()

    monkeypatch.setattr(cli, "study_status", fake)
    (tmp_path / "Snakefile").write_text("")
    page = tmp_path / "out/qc/qsm/sub-ms01.html"  # a page of an earlier, partial run
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    code = cli.main(["status", "-d", str(tmp_path), "--config", "results=out", "--", "-p"])
    assert code == 1  # a job failed
    assert seen["extra"] == ["-p"] and seen["config"] == ["results=out"]
    printed = capsys.readouterr().out
    assert "== qsm: 7 jobs: 1 failed, 3 will run, 3 done" in printed
    assert "failed: results/logs/reconstruct_qsm_subject/ms02.log" in printed
    assert "(1 more row(s), every stage done: --all shows them)" in printed  # dystrophy c01
    assert (tmp_path / "out/status/qsm_status.tsv").is_file()
    assert (tmp_path / "out/status/dystrophy_status.tsv").is_file()
    # The failed job is shown on the QC pages (flags.js) and on an index of the pages on disk.
    flags = (tmp_path / "out/qc/flags.js").read_text()
    assert "results/logs/reconstruct_qsm_subject/ms02.log" in flags
    index = (tmp_path / "out/qc/index.html").read_text()
    assert 'href="qsm/sub-ms01.html"' in index
    assert "qsm sub-ms02: reconstruct_qsm_subject" in index


def test_qmrflow_status_reports_a_snakemake_error(tmp_path, monkeypatch, caplog):
    def fake(directory, **kwargs):
        raise StatusError("snakemake --dry-run failed (1):\nbad config")

    monkeypatch.setattr(cli, "study_status", fake)
    with caplog.at_level(logging.ERROR):
        assert cli.main(["status", "-d", str(tmp_path), "--no-write"]) == 2
    assert "bad config" in caplog.text
