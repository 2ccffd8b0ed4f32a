"""Subjects of a user's dataset that lack a required input: one table before any job.

Each study declares, in its registry row (:attr:`StudySpec.required_inputs
<qmrflow.workflow.layout.StudySpec>`), the input files the jobs of a subject of each split read:
one :class:`RequiredInput` per kind of input, with the forms a study accepts (e.g. raw k-space,
or magnitude and phase images), its files named with the placeholder :data:`SUBJECT`. At
start-up (rules/common.smk) :func:`check_missing_inputs` looks for them on disk for every
subject of every configured user dataset (the demo's simulation writes its own) and lists those
that are absent in one table, with the study, the subject, the kind of input and the file
expected. The config key ``missing_inputs`` then chooses:

``stop``
    stop before any job, the table in the error;
``skip``
    warn with the table and leave those subjects out of the study (its targets, its training
    and its group statistics, see :meth:`StudyLayout.leave_out
    <qmrflow.workflow.layout.StudyLayout.leave_out>`), so the complete subjects run.

A file that is there but bad is not this module's business: the subject's own job fails on it,
naming the subject and the file.

The check runs at every Snakemake invocation, so it is cheap: the declaration is asked once per
split, its names are filled in per subject by string replacement, and files are looked for with
one ``stat`` each (patterns: one listing per folder).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from qmrflow.errors import MissingInputsError
from qmrflow.workflow.layout import SPLITS

if TYPE_CHECKING:
    from qmrflow.workflow.layout import StudyLayout

__all__ = [
    "POLICIES",
    "QUIET_OPTIONS",
    "SUBJECT",
    "FileFinder",
    "MissingInput",
    "RequiredInput",
    "check_missing_inputs",
    "find_missing",
    "format_missing",
    "missing_table",
]

logger = logging.getLogger(__name__)

#: Values of the config key ``missing_inputs``.
POLICIES: tuple[str, ...] = ("stop", "skip")
#: Snakemake options of an invocation that plans no run of the user's data: no table, no stop
#: (``--target-jobs``: a cluster job's own Snakemake, after the main run checked).
QUIET_OPTIONS: tuple[str, ...] = ("--unlock", "--lint", "--target-jobs")
#: The placeholder of the participant label in the file names of a declaration.
SUBJECT = "{subject}"
#: The table's columns.
COLUMNS: tuple[str, ...] = ("study", "subject", "input", "expected")


@dataclass(frozen=True)
class RequiredInput:
    """One input a subject's jobs read, present when every file of one of its forms is.

    A file is a path, in which :data:`SUBJECT` stands for the participant label; a name with
    ``*`` (any characters, the only wildcard) in its last part is a pattern that at least one
    file of that folder must match (``sub-{subject}_inv-*_IRT1.nii.gz``); a path ending in ``/``
    is a folder that must exist (a DICOM series).

    Parameters
    ----------
    kind
        What the input is, for the table (``T1w``, ``k-space acq-gre``).
    forms
        The accepted forms, in the order they are looked for; each a tuple of files that must
        all be there.
    """

    kind: str
    forms: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not self.forms or not all(self.forms):
            raise ValueError(f"required input {self.kind!r}: every form needs a file")

    @classmethod
    def files(cls, kind: str, *files: str | os.PathLike[str]) -> RequiredInput:
        """An input of one form: all of ``files``."""
        return cls(kind, (tuple(map(str, files)),))

    @classmethod
    def one_of(cls, kind: str, *forms: Sequence[str | os.PathLike[str]]) -> RequiredInput:
        """An input of several accepted forms, each a sequence of files."""
        return cls(kind, tuple(tuple(map(str, form)) for form in forms))

    def absent(self, finder: FileFinder, subject: str) -> tuple[tuple[str, ...], ...]:
        """One subject's files absent from each form; empty when one form is complete."""
        absent = []
        for form in self.forms:
            paths = (path.replace(SUBJECT, subject) for path in form)
            lacking = tuple(path for path in paths if not finder.exists(path))
            if not lacking:
                return ()
            absent.append(lacking)
        return tuple(absent)


class FileFinder:
    """Answers "is this file there" with one ``stat`` per file and one listing per folder."""

    def __init__(self) -> None:
        self._listings: dict[str, frozenset[str]] = {}

    # os.path, not pathlib: a Path object costs more than the stat itself, and this runs for
    # every file of every subject at every Snakemake start.
    def _listing(self, folder: str) -> frozenset[str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = frozenset(os.listdir(folder))  # noqa: PTH208
            except OSError:  # absent or unreadable: nothing found there
                self._listings[folder] = frozenset()
        return self._listings[folder]

    def exists(self, path: str) -> bool:
        """Whether ``path`` (a file, a pattern or a folder ending in ``/``) is there."""
        if path.endswith("/"):
            return os.path.isdir(path)  # noqa: PTH112
        folder, name = os.path.split(path)
        if "*" not in name:
            return os.path.isfile(path)  # noqa: PTH113
        parts = name.split("*")
        return any(_matches(entry, parts) for entry in self._listing(folder or "."))


def _matches(name: str, parts: Sequence[str]) -> bool:
    """Whether ``name`` is ``parts`` joined by any characters (a ``*`` pattern, split at its
    stars): string searches, no regular expression to compile per subject."""
    if not (name.startswith(parts[0]) and name.endswith(parts[-1])):
        return False
    position, end = len(parts[0]), len(name) - len(parts[-1])
    for part in parts[1:-1]:
        found = name.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return position <= end


@dataclass(frozen=True)
class MissingInput:
    """One row of the table: a subject's input that is not there."""

    study: str
    subject: str  #: participant label, without ``sub-``
    kind: str
    expected: str  #: the files expected (the absent ones of each form, ``or`` between forms)


def _expected(absent: tuple[tuple[str, ...], ...]) -> str:
    return " or ".join(" + ".join(form) for form in absent)


def find_missing(
    layouts: Iterable[StudyLayout], finder: FileFinder | None = None
) -> list[MissingInput]:
    """Every required input absent from the user datasets of ``layouts``.

    Demo studies (their simulation writes the inputs) and studies without a declaration
    (:attr:`StudySpec.required_inputs`) are passed over. Rows come by study, then subject in
    the participants table's order, then input in the study's order.
    """
    finder = finder or FileFinder()
    rows = []
    for layout in layouts:
        declare = layout.spec.required_inputs
        if layout.demo or declare is None:
            continue
        by_split = {split: declare(layout, split) for split in SPLITS}
        for subject, row in layout.rows.items():
            for required in by_split[row["split"]]:
                absent = required.absent(finder, subject)
                if absent:
                    rows.append(
                        MissingInput(layout.name, subject, required.kind, _expected(absent))
                    )
    return rows


def missing_table(missing: Sequence[MissingInput]) -> pd.DataFrame:
    """The rows as a table: study, subject (``sub-<label>``), input, expected."""
    return pd.DataFrame(
        [(m.study, f"sub-{m.subject}", m.kind, m.expected) for m in missing],
        columns=list(COLUMNS),
    )


def format_missing(missing: Sequence[MissingInput]) -> str:
    """The table as aligned text, one input per line, under a header."""
    rows = [COLUMNS, *missing_table(missing).itertuples(index=False, name=None)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(str(v).ljust(w) for v, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )


def _summary(missing: Sequence[MissingInput]) -> str:
    subjects = {(m.study, m.subject) for m in missing}
    studies = sorted({m.study for m in missing})
    return (
        f"{len(subjects)} subject(s) of your dataset(s) ({', '.join(studies)}) lack "
        f"{len(missing)} required input(s)"
    )


def check_missing_inputs(
    layouts: Mapping[str, StudyLayout],
    policy: str,
    *,
    main_process: bool = True,
    argv: Sequence[str] = (),
    finder: FileFinder | None = None,
) -> list[MissingInput]:
    """List the subjects lacking a required input, then stop or leave them out.

    Parameters
    ----------
    layouts
        The configured studies (``qmrflow.workflow.study_layouts``).
    policy
        ``stop``: raise with the table. ``skip``: log the table as a warning and leave the
        subjects out of their study (:meth:`StudyLayout.leave_out`).
    main_process
        ``False`` in a cluster job's own Snakemake (``workflow.is_main_process``); with
        ``--unlock``, ``--lint`` or ``--target-jobs`` in ``argv`` it counts as ``False`` too.
        There nothing is said and nothing stops; with ``skip`` the same subjects are still left
        out (the job's plan must be the main run's), with ``stop`` nothing is looked for.
    argv
        The Snakemake command line (``sys.argv``).
    finder
        Looks the files up (a fresh :class:`FileFinder` by default).

    Returns
    -------
    list of MissingInput
        What is missing (empty when every subject is complete or nothing was looked for).

    Raises
    ------
    MissingInputsError
        ``policy`` is ``stop`` and an input is missing; the message holds the table.
    ConfigError
        ``policy`` is ``skip`` and the subjects left make a study's participants table unusable
        (e.g. no test subject left).
    """
    if policy not in POLICIES:
        raise ValueError(f"missing_inputs must be one of {POLICIES}, got {policy!r}")
    quiet = not main_process or any(
        arg == option or arg.startswith(f"{option}=") for arg in argv for option in QUIET_OPTIONS
    )
    if quiet and policy == "stop":
        return []
    missing = find_missing(layouts.values(), finder)
    if not missing:
        return []
    table = format_missing(missing)
    if policy == "stop":
        raise MissingInputsError(
            f"{_summary(missing)}; stopping before any job (config missing_inputs: stop; "
            f"missing_inputs: skip runs the complete subjects only):\n{table}"
        )
    if not quiet:
        logger.warning(
            "%s; they are left out of the run, of training and of the group statistics "
            "(config missing_inputs: skip):\n%s",
            _summary(missing),
            table,
        )
    for name, layout in layouts.items():
        left_out = [m.subject for m in missing if m.study == name]
        if left_out:
            layout.leave_out(left_out)
    return missing
