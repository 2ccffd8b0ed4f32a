"""Fixes to the SLURM executor plugin: cancelled jobs fail, and Ctrl-C cancels the whole run."""

from __future__ import annotations

import asyncio
import logging
import sys
import types

import pytest

from qmrflow.workflow import cluster
from qmrflow.workflow.cluster import (
    PLUGIN,
    cancel_whole_run,
    first_word_states,
    fix_slurm_executor,
    normalise_states_of,
)


def test_states_are_their_first_word():
    assert first_word_states({"17": "CANCELLED by 0", "18": "COMPLETED", "19": ""}) == {
        "17": "CANCELLED",
        "18": "COMPLETED",
        "19": "",
    }
    assert first_word_states(None) is None


def test_the_real_plugins_query_reads_a_cancelled_job_as_failed():
    """The installed plugin's own query, on sacct-like output, before and after the fix."""
    plugin = pytest.importorskip(PLUGIN)
    original = getattr(plugin.query_job_status, "__wrapped__", plugin.query_job_status)
    command = "printf '17|CANCELLED by 0\\n18|COMPLETED\\n'"
    fixed, _ = asyncio.run(normalise_states_of(original)(command, logging.getLogger("test")))
    assert fixed == {"17": "CANCELLED", "18": "COMPLETED"}


def test_cancelling_also_cancels_the_runs_jobs_by_name(monkeypatch):
    """A status check in progress hides jobs from the active list: cancel the run by name too."""
    calls = []
    monkeypatch.setattr(cluster.subprocess, "run", lambda command, **kw: calls.append(command))

    class Executor:
        run_uuid = "3f2a-run"

        def cancel_jobs(self, active_jobs):
            calls.append(["scancel", *active_jobs])

    Executor.cancel_jobs = cancel_whole_run(Executor.cancel_jobs)
    Executor().cancel_jobs([])  # the active list was empty at Ctrl-C
    assert calls == [["scancel"], ["scancel", "--name=3f2a-run"]]


def test_the_loaded_plugin_is_patched_once(monkeypatch):
    async def query(command, logger):
        return {"5": "CANCELLED by 1000"}, 0.01

    class Executor:
        def cancel_jobs(self, active_jobs):
            pass

    fake = types.ModuleType(PLUGIN)
    fake.query_job_status = query
    fake.Executor = Executor
    monkeypatch.setitem(sys.modules, PLUGIN, fake)
    assert fix_slurm_executor() == ["query_job_status", "cancel_jobs"]
    assert fix_slurm_executor() == []  # already patched
    states, _ = asyncio.run(fake.query_job_status("sacct", None))
    assert states == {"5": "CANCELLED"}


def test_the_installed_plugin_has_what_we_patch():
    """If an upgrade renames these, the patches would silently stop applying: fail instead."""
    plugin = pytest.importorskip(PLUGIN)
    assert callable(plugin.query_job_status)
    assert callable(plugin.Executor.cancel_jobs)


def test_nothing_to_patch_without_the_plugin(monkeypatch):
    monkeypatch.delitem(sys.modules, PLUGIN, raising=False)
    assert fix_slurm_executor() == []
