"""A lock left by a killed Snakemake run: what is found, and what the message says to run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qmrflow.workflow.locks import (
    LOCKS,
    ProcessInfo,
    explain_lock,
    is_snakemake,
    lock_files,
    previous_run,
    read_processes,
    unlock_command,
)

from .conftest import TINY, run_snakemake

ME = 500  # the current process in the fake process tables
ARGV = ["/venv/bin/snakemake", "--profile", "profiles/slurm", "--configfile", "my.yaml"]


def lock(workdir: Path, *names: str) -> None:
    """Leave Snakemake's lock files in ``workdir``, as a killed run does."""
    folder = workdir / LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or ("0.input.lock", "0.output.lock"):
        (folder / name).write_text("results/x.tsv\n")


def fake_proc(root: Path, processes: list[ProcessInfo]) -> Path:
    """A folder laid out like /proc: stat (with a comm holding ') ('), cmdline, cwd link."""
    for info in processes:
        folder = root / str(info.pid)
        folder.mkdir(parents=True)
        (folder / "stat").write_text(f"{info.pid} (odd) (name) S {info.ppid} 1 1 0 -1\n")
        (folder / "cmdline").write_bytes(b"".join(arg.encode() + b"\0" for arg in info.argv))
        if info.cwd is not None:
            (folder / "cwd").symlink_to(info.cwd)
    (root / "self").mkdir(parents=True)  # not a pid: ignored
    return root


def process(pid: int, ppid: int, *argv: str, cwd: Path | None) -> ProcessInfo:
    return ProcessInfo(pid=pid, ppid=ppid, argv=tuple(argv), cwd=cwd)


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    return folder.resolve()


def test_reading_a_proc_like_folder(tmp_path, workdir):
    table = [
        process(1, 0, "init", cwd=Path("/")),
        process(42, 1, "python", "-m", "snakemake", "--cores", "1", cwd=workdir),
        process(43, 42, cwd=None),  # a kernel thread, or a cwd we may not read
    ]
    assert read_processes(fake_proc(tmp_path / "proc", table)) == {p.pid: p for p in table}
    assert read_processes(tmp_path / "missing") == {}


def test_the_real_proc_has_this_process():
    me = read_processes()[os.getpid()]
    assert me.ppid == os.getppid()
    assert me.cwd == Path.cwd().resolve()
    assert me.argv[0] == sys.argv[0] or Path(me.argv[0]).name.startswith("python")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/snakemake", "--cores", "1"], True),
        (["/venv/bin/python", "/venv/bin/snakemake", "-n"], True),
        (["python3", "-u", "-m", "snakemake", "--target-jobs", "a:"], True),
        (["python3", "-m", "pytest", "snakemake"], False),
        (["python", "scripts/snakemake_report.py"], False),
        (["bash", "-c", "snakemake --cores 1"], False),
        ([], False),
    ],
)
def test_which_command_lines_run_snakemake(argv, expected):
    assert is_snakemake(argv) is expected


def test_a_killed_runs_jobs_are_found_with_their_children(workdir):
    other = workdir.parent / "elsewhere"
    table = {
        p.pid: p
        for p in [
            process(1, 0, "init", cwd=Path("/")),
            process(10, 1, "tmux", cwd=workdir),  # the user's multiplexer, started here
            process(11, 10, "-bash", cwd=workdir),  # a shell of it
            process(12, 11, "vim", "Snakefile", cwd=workdir),
            process(20, 1, "/usr/bin/bash", "-c", "set -euo pipefail; sleep 300", cwd=workdir),
            process(21, 20, "sleep", "300", cwd=workdir),
            # A script of the killed run adopted by a session manager, run from a sub-folder.
            process(
                30,
                2,
                "/venv/bin/python",
                f"{workdir}/.snakemake/scripts/tmp1.x.py",
                cwd=workdir / "results",
            ),
            process(2, 1, "/lib/systemd/systemd", "--user", cwd=Path("/")),
            # A nested job's Snakemake (a SLURM job's, or a group's) whose parent still runs.
            process(40, 41, "python", "-m", "snakemake", "--target-jobs", "a:s=1", cwd=workdir),
            process(41, 1, "slurmstepd: [3.0]", cwd=Path("/var/spool")),
            process(50, 1, "sleep", "300", cwd=other),  # another directory's
            process(ME, 11, "/venv/bin/snakemake", "--cores", "1", cwd=workdir),  # this run
            process(ME + 1, ME, "/usr/bin/bash", "-c", "hostname", cwd=workdir),  # its child
        ]
    }
    assert previous_run(workdir, table, ME) == ([], [20, 21, 30, 40])


def test_an_active_run_is_a_run_and_its_jobs_are_its_own(workdir):
    table = {
        p.pid: p
        for p in [
            process(7, 1, "/venv/bin/python", "/venv/bin/snakemake", "-c2", cwd=workdir),
            process(8, 7, "/usr/bin/bash", "-c", "sleep 300", cwd=workdir),
            process(9, 8, "sleep", "300", cwd=workdir),
            process(ME, 1, "/venv/bin/snakemake", "--cores", "1", cwd=workdir),
        ]
    }
    assert previous_run(workdir, table, ME) == ([7], [])


def test_the_unlock_command_repeats_the_options_without_the_dry_run():
    assert unlock_command([*ARGV, "-n", "--configfile", "a b.yaml"]) == (
        "/venv/bin/snakemake --profile profiles/slurm --configfile my.yaml "
        "--configfile 'a b.yaml' --unlock"
    )
    python_m = ["/venv/lib/python3.11/site-packages/snakemake/__main__.py", "--cores", "1"]
    assert unlock_command(python_m) == "snakemake --cores 1 --unlock"


def test_no_lock_costs_one_listing_and_says_nothing(workdir, tmp_path, caplog):
    (workdir / LOCKS).mkdir(parents=True)  # a dry run leaves the folder empty
    (workdir / LOCKS / "notes.txt").write_text("")
    proc = tmp_path / "never-read"  # a scan would find nothing: it must not even be tried
    with caplog.at_level(logging.DEBUG, logger="qmrflow.workflow.locks"):
        assert explain_lock(workdir, ARGV, proc=proc, me=ME) is None
    assert caplog.records == []
    assert lock_files(workdir / "missing") == []


@pytest.mark.parametrize(
    "extra", [["--unlock"], ["--lint"], ["--lint=json"], ["--nolock"], ["--target-jobs", "a:"]]
)
def test_silent_while_unlocking_linting_or_in_a_job(workdir, tmp_path, caplog, extra):
    lock(workdir)
    proc = fake_proc(tmp_path / "proc", [])
    assert explain_lock(workdir, [*ARGV, *extra], proc=proc, me=ME) is None
    assert explain_lock(workdir, ARGV, main_process=False, proc=proc, me=ME) is None
    assert caplog.records == []


def test_a_killed_run_with_jobs_left_says_what_to_kill_and_unlock(workdir, tmp_path, caplog):
    lock(workdir)
    proc = fake_proc(
        tmp_path / "proc",
        [
            process(20, 1, "/usr/bin/bash", "-c", "sleep 300", cwd=workdir),
            process(21, 20, "sleep", "300", cwd=workdir),
            process(ME, 1, *ARGV, cwd=workdir),
        ],
    )
    with caplog.at_level(logging.WARNING):
        report = explain_lock(workdir, ARGV, proc=proc, me=ME)
    assert report is not None and report.jobs == (20, 21) and report.runs == ()
    assert report.level == logging.ERROR
    assert len(report.locks) == 2
    message = caplog.records[-1].getMessage()
    assert message == report.message
    assert "a previous Snakemake run that was killed" in message
    assert "21: sleep 300" in message
    assert "`kill 20 21`" in message
    assert f"`{unlock_command(ARGV)}`" in message
    assert "squeue --me" in message  # the profile is SLURM's: its jobs may be queued too


def test_a_killed_run_without_processes_says_to_unlock(workdir, tmp_path):
    lock(workdir, "0.output.lock")
    argv = ["snakemake", "--cores", "2"]
    report = explain_lock(workdir, argv, proc=fake_proc(tmp_path / "proc", []), me=ME)
    assert report is not None and report.level == logging.ERROR
    assert "no process of it is left" in report.message
    assert "`snakemake --cores 2 --unlock`" in report.message
    assert "`kill" not in report.message and "squeue" not in report.message


def test_another_active_run_is_a_warning_not_an_unlock(workdir, tmp_path):
    lock(workdir)
    other = process(7, 1, "/venv/bin/python", "/venv/bin/snakemake", "-c2", cwd=workdir)
    report = explain_lock(workdir, ARGV, proc=fake_proc(tmp_path / "proc", [other]), me=ME)
    assert report is not None and report.runs == (7,) and report.level == logging.WARNING
    assert "another Snakemake run is active here (PIDs 7)" in report.message
    assert "--unlock" not in report.message


@pytest.fixture
def orphan(workdir):
    """A real job process left behind: started by a shell in ``workdir`` that then exited."""
    out = subprocess.run(
        ["sh", "-c", "sleep 120 >/dev/null 2>&1 & echo $!"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(out.stdout)
    try:
        if read_processes()[pid].ppid != 1:
            pytest.skip("orphans are adopted by a subreaper here, not by init")
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_real_orphan_in_the_working_directory_is_found(workdir, orphan):
    lock(workdir)
    report = explain_lock(workdir, ["snakemake", "--cores", "1"])
    assert report is not None
    assert report.jobs == (orphan,)
    assert f"`kill {orphan}`" in report.message


@pytest.mark.workflow
def test_the_snakefile_explains_a_stale_lock_before_snakemake_refuses_it(tmp_path):
    """The real Snakefile on a working directory with a killed run's lock: the dry run says what
    to run; ``--unlock`` says nothing and unlocks; then the dry run is silent."""
    workdir = tmp_path / "locked"
    workdir.mkdir()
    lock(workdir)
    stale = run_snakemake(workdir, TINY, "--dry-run", check=False)
    assert "by a previous Snakemake run that was killed" in stale.stderr, stale.stderr
    assert "--unlock`" in stale.stderr
    unlocked = run_snakemake(workdir, TINY, "--unlock")
    assert "killed" not in unlocked.stderr + unlocked.stdout
    assert lock_files(workdir) == []
    clean = run_snakemake(workdir, TINY, "--dry-run")
    assert "killed" not in clean.stderr + clean.stdout
