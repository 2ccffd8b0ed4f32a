"""Logging set-up for workflow jobs: every job writes its own log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def job_logging(log_file: str | os.PathLike[str], level: int = logging.INFO) -> Iterator[None]:
    """Send log records to ``log_file`` (and stderr) for the duration of a job.

    An exception escaping the block is logged with its traceback (so the per-rule, per-subject
    log says why the job failed) and re-raised, so Snakemake still sees the failure.
    """
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_file, mode="w"),
        logging.StreamHandler(sys.stderr),
    ]
    root = logging.getLogger()
    previous = root.level
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
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
