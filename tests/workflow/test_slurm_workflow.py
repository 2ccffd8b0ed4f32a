"""The tiny dystrophy demo on a real local SLURM cluster through the project's profile.

One scenario, asserted piece by piece: a first run is interrupted (Ctrl-C) once some subjects
have finished; a second run resumes it, and while it runs the training job is cancelled with
``scancel`` and must be resubmitted. Then: no process of a cancelled job outlived it, every job
ran through SLURM, the DL jobs with a GPU and the CPU jobs without, and the results equal those
of a local run of the same config.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from qmrflow.io import read_tsv
from qmrflow.workflow.locks import read_processes

from .conftest import TINY, slurm_command
from .slurm_cluster import ClusterUnavailable, LocalSlurm, install

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

#: Seconds before the plugin's first status check (its default, 40, suits a real cluster).
STATUS_SECONDS = 3
#: Jobs that run beside Snakemake (the workflow's localrules), never through SLURM.
LOCAL_RULES = {
    "simulate_dystrophy_participants",
    "simulate_dystrophy_ratings",
    "evaluate_dystrophy",
    "plot_dystrophy_figures",
    "describe_derivatives",
    "index_qc_pages",
}
SUBJECT_GROUP = "rule_subject_"  # the comment the plugin gives a subject's grouped CPU chain
CHAIN_DONE = "(Rule: localise_dystrophy_roi)"  # Snakemake's record of a finished chain
CHAIN_SUBMITTED = "slurm_logs/group_subject_"  # in the line reporting a chain's sbatch
GPU_RULES = ("rule_train_dystrophy_classifier", "rule_classify_dystrophy_subject")
ACCOUNTING = ("JobID", "Comment", "AllocTRES", "State")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A single-node SLURM with accounting and two fake GPUs; skipped where it cannot run."""
    try:
        install()
        slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
        slurm.start()
    except ClusterUnavailable as error:
        pytest.skip(f"cannot bring up a local SLURM cluster here: {error}")
    yield slurm
    slurm.stop()


def _as_at_a_terminal() -> None:
    """Let Ctrl-C reach Snakemake as it does at a terminal.

    A shell starts background commands with SIGINT ignored (as CI may start the tests), and a
    Python started with SIGINT ignored never raises KeyboardInterrupt: Snakemake would then
    ignore the test's Ctrl-C and run to the end.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_workflow(workdir: Path, log: Path) -> subprocess.Popen:
    command = slurm_command(workdir, TINY, STATUS_SECONDS)
    with log.open("w") as stream:
        return subprocess.Popen(
            command, stdout=stream, stderr=subprocess.STDOUT, preexec_fn=_as_at_a_terminal
        )


def wait_for(what: str, condition, process: subprocess.Popen, log: Path, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"snakemake ended ({process.returncode}) before {what}:\n{log.read_text()}")
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


TERMINATING = "Terminating processes on user request"  # Snakemake's answer to Ctrl-C


def interrupt(process: subprocess.Popen, log: Path, attempts: int = 12, wait: float = 5) -> None:
    """Press Ctrl-C, and again if Snakemake has not answered within ``wait`` seconds.

    The first run once went on to the end; the cause found was a SIGINT ignored from the start
    (see :func:`_as_at_a_terminal`). Pressing again, as a user would, is a safeguard only, soon
    enough that the run has not gone on to finish every chain.
    """
    for _ in range(attempts):
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if TERMINATING in log.read_text() or process.poll() is not None:
                return
            time.sleep(0.5)


def finish(process: subprocess.Popen, log: Path, timeout=900) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"snakemake did not finish:\n{log.read_text()}")


def queue() -> list[tuple[str, str, str]]:
    """(job id, comment, state) of every job SLURM still holds."""
    out = subprocess.run(
        ["squeue", "--noheader", "--format=%i|%k|%T"], capture_output=True, text=True
    ).stdout
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def job_processes(workdir: Path) -> dict[int, str]:
    """Processes of a run in ``workdir`` (by pid, their command lines): those working in it or
    naming a path in it, as every job's Snakemake, shell and script does."""
    folder = str(workdir)
    return {
        info.pid: info.command
        for info in read_processes().values()
        if info.pid != os.getpid()
        and (
            (info.cwd is not None and (info.cwd == workdir or workdir in info.cwd.parents))
            or any(arg == folder or f"{folder}/" in arg for arg in info.argv)
        )
    }


def leftover_processes(workdir: Path, grace: float = 15) -> dict[int, str]:
    """The run's processes still alive ``grace`` seconds after its jobs have left the queue,
    killed then (by pid) so that none outlives the test; none is expected."""
    deadline = time.monotonic() + grace
    while (left := job_processes(workdir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def subjects(workdir: Path) -> set[str]:
    table = read_tsv(workdir / "results/demo/dystrophy/participants.tsv")  # bare labels
    return set(table["participant_id"])


def finished_subjects(log: str) -> set[str]:
    """Subjects whose ROI localisation Snakemake's log records as finished."""
    subject_of, jobid = {}, None
    for line in log.splitlines():
        if match := re.match(r"\s+jobid: (\d+)$", line):
            jobid = match.group(1)
        elif (match := re.match(r"\s+wildcards: subject=(\w+)$", line)) and jobid:
            subject_of[jobid] = match.group(1)
    done = re.findall(r"Finished jobid: (\d+) " + re.escape(CHAIN_DONE), log)
    return {subject_of[jobid] for jobid in done}


def crops(workdir: Path, subject: str) -> Path:
    return workdir / f"results/dystrophy/sub-{subject}/anat/sub-{subject}_desc-roi_T1w.nii.gz"


@pytest.fixture(scope="module")
def scenario(cluster, tmp_path_factory):
    """Interrupt, resume with a cancelled training job, and collect what each step left."""
    workdir = tmp_path_factory.mktemp("slurm_run")
    facts: dict = {"workdir": workdir}

    # 1. Start, and press Ctrl-C once Snakemake has recorded a subject's CPU chain as done.
    first_log = workdir / "first.log"
    first = start_workflow(workdir, first_log)
    wait_for(
        "a subject's chain to finish",
        lambda: CHAIN_DONE in first_log.read_text(),
        first,
        first_log,
    )
    interrupt(first, first_log)
    facts["first_returncode"] = finish(first, first_log, timeout=120)
    # Cancelled jobs leave the queue within seconds (COMPLETING while their processes end).
    deadline = time.monotonic() + 30
    while queue() and time.monotonic() < deadline:
        time.sleep(0.5)
    facts["queue_after_interrupt"] = queue()
    facts["left_after_interrupt"] = leftover_processes(workdir)
    facts["first_log"] = first_log.read_text()

    # The subjects whose chain Snakemake recorded as finished must not be redone. (A chain that
    # finished in SLURM while Snakemake was being interrupted is complete too: the job's own
    # Snakemake recorded it.)
    facts["finished_subjects"] = finished_subjects(facts["first_log"])
    facts["mtimes_after_interrupt"] = {
        subject: crops(workdir, subject).stat().st_mtime_ns
        for subject in subjects(workdir)
        if crops(workdir, subject).exists()
    }

    # 2. Resume; cancel the training job while it runs: it must be resubmitted.
    second_log = workdir / "second.log"
    second = start_workflow(workdir, second_log)
    cancelled: list[str] = []

    def training_running() -> bool:
        for job_id, comment, state in queue():
            if comment.startswith("rule_train_dystrophy_classifier") and state == "RUNNING":
                subprocess.run(["scancel", job_id], check=True)
                cancelled.append(job_id)
                return True
        return False

    wait_for("the training job to run", training_running, second, second_log)
    facts["cancelled"] = cancelled
    facts["second_returncode"] = finish(second, second_log)
    facts["left_after_resume"] = leftover_processes(workdir)
    facts["second_log"] = second_log.read_text()
    # sacct learns of finished jobs from slurmctld within seconds.
    time.sleep(3)
    facts["accounting"] = cluster.jobs(*ACCOUNTING)
    return facts


def test_an_interrupted_run_cancels_its_jobs_and_keeps_what_finished(scenario):
    assert scenario["first_returncode"] != 0
    assert scenario["queue_after_interrupt"] == []  # Ctrl-C cancelled the submitted jobs
    finished = scenario["finished_subjects"]
    assert 0 < len(finished) < len(subjects(scenario["workdir"])), scenario["first_log"]


def test_no_job_process_outlives_its_cancelled_job(scenario):
    """SLURM ends every process of a cancelled job (its cgroup), also the nested Snakemake that
    outlives SIGTERM once its ``sh`` has died; nothing of the run is left when it has ended."""
    assert scenario["left_after_interrupt"] == {}, scenario["first_log"][-3000:]
    assert scenario["left_after_resume"] == {}


def untouched_subjects(scenario) -> set[str]:
    """Subjects whose ROI crops the resumed run left as the interrupted run wrote them."""
    workdir = scenario["workdir"]
    return {
        subject
        for subject, mtime in scenario["mtimes_after_interrupt"].items()
        if crops(workdir, subject).stat().st_mtime_ns == mtime
    }


def test_resuming_does_not_redo_finished_subjects(scenario):
    workdir = scenario["workdir"]
    assert scenario["second_returncode"] == 0, scenario["second_log"]
    untouched = untouched_subjects(scenario)
    assert scenario["finished_subjects"] <= untouched
    # The resumed run submitted a chain for exactly the subjects it then (re)made.
    redone = subjects(workdir) - untouched
    assert redone
    assert scenario["second_log"].count(CHAIN_SUBMITTED) == len(redone)


def test_a_cancelled_job_is_resubmitted(scenario):
    accounting = {row["JobID"]: row for row in scenario["accounting"]}
    (cancelled,) = scenario["cancelled"]
    assert accounting[cancelled]["State"].startswith("CANCELLED")
    training = [row for row in scenario["accounting"] if row["Comment"].startswith(GPU_RULES[0])]
    assert [row["State"] for row in training][-1] == "COMPLETED"
    assert len(training) >= 2
    assert "Trying to restart job" in scenario["second_log"]


def slurm_job_of(log: Path) -> str | None:
    """The SLURM job id a rule's log records (qmrflow.logs writes it), or None."""
    match = re.search(r"as SLURM job (\d+)", log.read_text())
    return match.group(1) if match else None


def test_every_job_ran_through_slurm(scenario):
    """Each subject's CPU chain, the training and each classification was a SLURM job."""
    workdir = scenario["workdir"]
    logs = workdir / "results/logs"
    accounting = {row["JobID"]: row for row in scenario["accounting"]}

    def job_of(log: Path) -> dict[str, str]:
        job = slurm_job_of(log)
        assert job is not None, f"{log} did not run through SLURM"
        return accounting[job]

    untouched = untouched_subjects(scenario)
    for subject in subjects(workdir):
        chain = job_of(logs / "localise_dystrophy_roi" / f"sub-{subject}.log")
        assert chain["Comment"].startswith(SUBJECT_GROUP)
        # A chain that finished its work as Ctrl-C reached its SLURM job is recorded CANCELLED
        # but is complete (its own Snakemake recorded it): the resumed run kept it.
        assert chain["State"] == "COMPLETED" or subject in untouched, (subject, chain)
        # The simulation may come from a chain that Ctrl-C cancelled after it had finished.
        simulated = job_of(logs / "simulate_dystrophy_subject" / f"sub-{subject}.log")
        assert simulated["Comment"].startswith(SUBJECT_GROUP)
    training = job_of(logs / "train_dystrophy_classifier/resnet10-lite.log")
    assert training["Comment"] == "rule_train_dystrophy_classifier_wildcards_resnet10-lite"
    assert training["State"] == "COMPLETED"
    classified = sorted((logs / "classify_dystrophy_subject").glob("sub-*.log"))
    assert classified
    for log in classified:
        subject = log.stem.removeprefix("sub-")
        job = job_of(log)
        assert job["Comment"] == f"rule_classify_dystrophy_subject_wildcards_{subject}"
        assert job["State"] == "COMPLETED"
    # Cheap group steps ran beside Snakemake, not through SLURM.
    for rule in LOCAL_RULES:
        for log in (logs / rule).glob("*.log"):
            assert slurm_job_of(log) is None, log
        assert f"localrule {rule}:" in scenario["first_log"] + scenario["second_log"], rule


def test_dl_jobs_got_a_gpu_and_cpu_jobs_none(scenario):
    for row in scenario["accounting"]:
        if row["State"] != "COMPLETED":
            continue
        gets_gpu = "gres/gpu=1" in row["AllocTRES"]
        assert gets_gpu == row["Comment"].startswith(GPU_RULES), row
    # Inside the job the code saw the GPU SLURM gave it and, with a CPU-only torch, fell back.
    logs = scenario["workdir"] / "results/logs"
    for rule in ("train_dystrophy_classifier", "classify_dystrophy_subject"):
        for log in (logs / rule).glob("*.log"):
            text = log.read_text()
            assert "CUDA_VISIBLE_DEVICES=" in text or "using GPU" in text, log


def assert_same_numbers(ours: Path, local: Path) -> None:
    """Equal up to float32 rounding: the DL outputs of a threaded CPU torch are not
    bit-reproducible from run to run (reduction order), on a cluster or not."""
    if local.suffix == ".tsv":
        pd.testing.assert_frame_equal(
            pd.read_csv(ours, sep="\t"), pd.read_csv(local, sep="\t"), rtol=1e-4, atol=1e-6
        )
    elif local.name.endswith(".nii.gz"):
        np.testing.assert_allclose(
            nib.load(ours).get_fdata(), nib.load(local).get_fdata(), rtol=1e-4, atol=1e-5
        )
    elif local.suffix == ".pt":
        a, b = (torch.load(path, weights_only=True) for path in (ours, local))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-5)
    else:
        raise AssertionError(f"no comparison for {local}")


def test_results_equal_a_local_run(scenario, dystrophy_demo_run):
    """Every table, image and model equals the local executor's (same config and threads):
    byte for byte for the simulation, the CPU chain and files that hold no numbers (e.g.
    ``.bidsignore``), up to float rounding after the DL."""
    ours = scenario["workdir"] / "results"
    local = dystrophy_demo_run / "results"
    exact = approximate = 0
    for path in sorted(local.rglob("*")):
        relative = path.relative_to(local)
        if not path.is_file() or relative.parts[0] in ("logs", "benchmarks"):
            continue
        assert (ours / relative).is_file(), relative
        if path.suffix in (".png", ".json", ".html", ".md") or path.name == "history.tsv":
            continue  # figures (and the QC pages that embed them), sidecars, training
            # histories that record times, methods texts that quote model checksums
        numbers = path.name.endswith((".tsv", ".nii.gz", ".pt"))
        if relative.parts[0] == "demo" or "roi" in path.name or not numbers:
            assert (ours / relative).read_bytes() == path.read_bytes(), relative
            exact += 1
        else:
            assert_same_numbers(ours / relative, path)
            approximate += 1
    assert exact > 40 and approximate > 10, (exact, approximate)


def test_the_cluster_stops_every_daemon_it_started(cluster, tmp_path):
    """Stopping cancels a job still running (its processes end with it), then every daemon."""
    daemons = [process for _, process in cluster.processes]
    assert {name for name, _ in cluster.processes} >= {"slurmctld", "slurmd", "slurmdbd"}
    # A job left running (as after a test that failed midway), with a process that has left
    # both its parent and its process group.
    script = tmp_path / "stray.sh"
    script.write_text("#!/bin/sh\n(setsid sleep 601 >/dev/null 2>&1 &)\nsleep 600\n")
    subprocess.run(
        ["sbatch", f"--chdir={tmp_path}", f"--output={tmp_path}/out.log", str(script)],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 60
    while "sleep 601" not in job_processes(tmp_path).values():
        assert time.monotonic() < deadline, queue()
        time.sleep(0.5)
    cluster.stop()
    assert all(process.poll() is not None for process in daemons)
    assert not (Path("/etc/slurm") / "slurm.conf").exists()
    assert leftover_processes(tmp_path, grace=5) == {}
