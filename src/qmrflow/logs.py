"""Logging set-up for workflow jobs: every job writes its own log file."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def job_logging(log_file: str | os.PathLike[str], level: int = logging.INFO) -> Iterator[None]:
    """Send log records to ``log_file`` for the duration of a job; warnings also to stderr.

    The log opens with the host and, on a cluster, the SLURM job id, so a failure can be traced
    to its job (``sacct -j <id>``). An exception escaping the block is logged with its traceback
    (so the per-rule, per-subject log says why the job failed) and re-raised, so Snakemake still
    sees the failure and shows the error on its console (or the cluster job's stderr).
    """
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file, mode="w")
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [to_file, to_stderr]
    root = logging.getLogger()
    previous = root.level
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    slurm_job = os.environ.get("SLURM_JOB_ID")
    logging.getLogger("qmrflow").info(
        "running on %s%s", socket.gethostname(), f" as SLURM job {slurm_job}" if slurm_job else ""
    )
    try:
        yield
    except Exception:
        logging.getLogger("qmrflow").exception("job failed")
        raise
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(previous)
