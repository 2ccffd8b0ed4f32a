"""Fixes to SLURM execution, applied by the workflow in the Snakemake process (not science).

Two defects of ``snakemake-executor-plugin-slurm`` 2.8 (the newest) lose jobs silently; we
cannot fix them upstream from here, so :func:`fix_slurm_executor` patches the loaded plugin at
the narrowest point, and each patch is harmless once upstream is fixed:

- Since 2.4 the plugin keeps ``sacct``'s whole State field, so a job cancelled with ``scancel``
  reads ``CANCELLED by <uid>``: not one of its failure states, so the plugin waits forever for a
  job that is gone (1.x and 2.0-2.3 kept the first word, which is what the state is). States are
  read as their first word again, so the job is reported as failed and resubmitted under
  ``retries``.
- On Ctrl-C, Snakemake cancels the jobs in the executor's active list, but a status check in
  progress empties that list while it runs (snakemake-interface-executor-plugins 9.4): jobs
  submitted by the interrupted run keep running unseen, and a resumed run submits them again.
  Cancelling also cancels every job named with the run's id (the plugin's job name).
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

PLUGIN = "snakemake_executor_plugin_slurm"

StateQuery = Callable[..., Awaitable[tuple[dict[str, str] | None, float | None]]]


def first_word_states(states: dict[str, str] | None) -> dict[str, str] | None:
    """``{"17": "CANCELLED by 0"}`` -> ``{"17": "CANCELLED"}``; ``None`` (a failed query) stays."""
    if states is None:
        return None
    return {
        job: state.split(maxsplit=1)[0] if state.strip() else state for job, state in states.items()
    }


def normalise_states_of(query: StateQuery) -> StateQuery:
    """Wrap the plugin's state query so that every state is its first word."""

    @functools.wraps(query)
    async def query_job_status(*args: Any, **kwargs: Any):
        states, duration = await query(*args, **kwargs)
        return first_word_states(states), duration

    query_job_status.patched_by_qmrflow = True  # type: ignore[attr-defined]
    return query_job_status


def cancel_whole_run(cancel_jobs: Callable[..., None]) -> Callable[..., None]:
    """Wrap the executor's ``cancel_jobs`` so that it also cancels every job of its run by name."""

    @functools.wraps(cancel_jobs)
    def cancel_jobs_of_run(self: Any, active_jobs: list) -> None:
        try:
            cancel_jobs(self, active_jobs)
        finally:
            run = getattr(self, "run_uuid", None)
            if run:
                logger.info("cancelling every SLURM job named %s (this run)", run)
                subprocess.run(
                    ["scancel", f"--name={run}"], capture_output=True, timeout=60, check=False
                )

    cancel_jobs_of_run.patched_by_qmrflow = True  # type: ignore[attr-defined]
    return cancel_jobs_of_run


def fix_slurm_executor() -> list[str]:
    """Patch the loaded SLURM executor plugin; the names of the patches applied now.

    Does nothing when the plugin is not loaded (Snakemake loads every installed executor plugin
    at start-up, so it is loaded whenever it is installed), lacks the patched function, or is
    patched already.
    """
    plugin = sys.modules.get(PLUGIN)
    applied = []
    query = getattr(plugin, "query_job_status", None)
    if query is not None and not getattr(query, "patched_by_qmrflow", False):
        plugin.query_job_status = normalise_states_of(query)
        applied.append("query_job_status")
    executor = getattr(plugin, "Executor", None)
    cancel = getattr(executor, "cancel_jobs", None)
    if cancel is not None and not getattr(cancel, "patched_by_qmrflow", False):
        executor.cancel_jobs = cancel_whole_run(cancel)
        applied.append("cancel_jobs")
    if applied:
        logger.debug("patched the SLURM executor plugin: %s", ", ".join(applied))
    return applied
