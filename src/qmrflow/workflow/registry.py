"""The study registry: every package ``qmrflow.studies.<name>`` with a ``study`` module is a study.

A study's registry row is the :class:`~qmrflow.workflow.layout.StudySpec` named ``STUDY`` in
``qmrflow/studies/<name>/study.py``; adding a study adds that module and nothing here.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import qmrflow.studies
from qmrflow.workflow.layout import StudyLayout, StudySpec

__all__ = ["available_studies", "study_layouts", "study_spec"]


def available_studies() -> list[str]:
    """Names of the studies the package implements, sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(qmrflow.studies.__path__)
        if info.ispkg and importlib.util.find_spec(f"qmrflow.studies.{info.name}.study")
    )


def study_spec(name: str) -> StudySpec:
    """The registry row of study ``name``.

    Raises
    ------
    KeyError
        No study of that name.
    """
    if name not in available_studies():
        raise KeyError(f"no study {name!r}; available: {', '.join(available_studies())}")
    spec = importlib.import_module(f"qmrflow.studies.{name}.study").STUDY
    if not isinstance(spec, StudySpec) or spec.name != name:
        raise TypeError(f"qmrflow.studies.{name}.study.STUDY must be the StudySpec of {name!r}")
    return spec


def study_layouts(
    config: Mapping[str, Any], *, schemas: Path, configfile: str | None = None
) -> dict[str, StudyLayout]:
    """A layout for each study listed in ``config["studies"]``, in that order."""
    return {
        name: StudyLayout(study_spec(name), config, schemas=schemas, configfile=configfile)
        for name in config["studies"]
    }
