"""How the test processes share the work (pytest-xdist ``--dist loadgroup``, see pyproject).

A study's workflow tests carry ``xdist_group(<study>)``: they run in one process, so the tiny
demo run they share (workflow/conftest.py, ``study_run``) is made once. Every other test is
grouped by its file, as ``--dist loadfile`` would, so that a file's module fixtures (the SLURM
cluster, ...) are set up in one process only. The study groups are handed out first, longest
first, and the short files fill in behind them (``--no-loadscope-reorder`` keeps this order).
"""

from __future__ import annotations

import pytest

#: The study groups, longest first (tiny demo and contract tests on a 2-core machine; dystrophy
#: also holds the SLURM scenario, which compares its results with dystrophy's local run).
LONGEST_FIRST = ("dystrophy", "breathing", "perfusion", "synthmri", "qsm")


def _group(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _group(item) is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

    def rank(item: pytest.Item) -> int:
        group = _group(item)
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a file's tests stay together and in order
