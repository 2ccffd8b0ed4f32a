"""Per-job log files: where the job ran, and why it failed."""

from __future__ import annotations

import logging

import pytest

from qmrflow.logs import job_logging


def test_the_log_names_the_slurm_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    log = tmp_path / "logs" / "rule" / "sub-01.log"
    with job_logging(log):
        logging.getLogger("qmrflow.test").info("working")
    text = log.read_text()
    assert "as SLURM job 4711" in text and "working" in text


def test_a_failure_is_logged_with_its_traceback_and_reraised(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    log = tmp_path / "job.log"
    with pytest.raises(ValueError, match="bad slice"), job_logging(log):
        raise ValueError("bad slice")
    text = log.read_text()
    assert "SLURM job" not in text
    assert "job failed" in text and "Traceback" in text and "bad slice" in text
