"""Test-process groups for pytest-xdist (``--dist loadgroup``, set in pyproject.toml).

Every test file is one group, as ``--dist loadfile`` would make it, except the workflow
contract (tests/workflow/test_studies.py), which is split by study: a study's contract tests
and its own workflow test file (test_<study>_workflow.py) form one group, so that they share
the session's one Snakemake run of that study's tiny demo, while different studies run in the
two processes side by side.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Workflow test files that reuse a study's contract run: file name -> study.
STUDY_FILES = {"test_dystrophy_workflow.py": "dystrophy", "test_synthmri_workflow.py": "synthmri"}


def _group(item: pytest.Item) -> str:
    path = Path(str(item.path))
    if path.name == "test_studies.py":
        case = getattr(item, "callspec", None)
        if case is not None and "case" in case.params:
            return f"study-{case.params['case'].name}"
    if path.name in STUDY_FILES:
        return f"study-{STUDY_FILES[path.name]}"
    return str(path)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put every test in its group (module docstring) unless it names one itself: first, since
    pytest-xdist reads the groups in its own hook of the same name."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_group(item)))
