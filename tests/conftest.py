"""How the two test processes share the work (pytest-xdist, ``-n 2`` in pyproject).

A study's workflow tests run in one process, so the tiny demo run they share
(workflow/conftest.py, ``study_run``) is made once: the contract's tests of that study
(test_studies.py, parametrised by study) and the files of :data:`STUDY_FILES`. Every other test
goes with its file, as ``--dist loadfile`` would, so that a file's module fixtures (the SLURM
cluster, ...) are set up in one process only. The study groups are handed out first, longest
first, and the short files fill in behind them.

xdist's own ``--dist loadgroup`` (``xdist_group`` marks) cannot do this here: xdist 3.8 puts the
group into ``item._nodeid``, which pytest 9 no longer reads, so every test becomes a group of
its own. The grouping is therefore a scheduler of ours, xdist's ``loadscope`` scheduling with
our scopes (xdist's ``pytest_xdist_make_scheduler`` hook).
"""

from __future__ import annotations

import re

import pytest

#: The workflow contract: its tests are parametrised by study (``test_x[<study>]``).
CONTRACT = "tests/workflow/test_studies.py"
#: Other test files whose tests share a study's tiny run.
STUDY_FILES = {
    "tests/workflow/test_dystrophy_workflow.py": "dystrophy",
    "tests/workflow/test_slurm_workflow.py": "dystrophy",  # compares with the local run
    "tests/workflow/test_synthmri_workflow.py": "synthmri",
}
#: The study groups, longest first (tiny demo and contract tests on a 2-core machine; dystrophy
#: also holds the SLURM scenario).
LONGEST_FIRST = ("dystrophy", "breathing", "perfusion", "synthmri", "qsm")


def work_group(nodeid: str) -> str:
    """The group of a test: its study (see the module docstring) or else its file."""
    path, _, test = nodeid.partition("::")
    if path in STUDY_FILES:
        return STUDY_FILES[path]
    study = re.search(r"\[(\w+)\]$", test)
    if path == CONTRACT and study and study.group(1) in LONGEST_FIRST:
        return study.group(1)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The study groups first, longest first; a file's tests stay together and in order."""

    def rank(item: pytest.Item) -> int:
        group = work_group(item.nodeid)
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's scope scheduling over :func:`work_group`, in the collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class StudyScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_group(nodeid)

    config.option.loadscopereorder = False  # keep the order of pytest_collection_modifyitems
    return StudyScheduling(config, log)
