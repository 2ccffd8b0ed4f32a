"""One exception type per failure class.

Every message names what failed so that a researcher reading a Snakemake log on a cluster knows
which subject and which file to look at without opening the traceback.
"""

from __future__ import annotations

from os import PathLike


class QmrflowError(Exception):
    """Base class of every error qmrflow raises on purpose."""


class ConfigError(QmrflowError):
    """The configuration or a participants table is invalid.

    Parameters
    ----------
    message
        What is wrong.
    file
        The file that holds the problem (config YAML or participants table).
    location
        Where in the file: a key path (``dystrophy.model.epochs``) or ``row 4, column split``.
    """

    def __init__(
        self, message: str, *, file: str | PathLike[str] | None = None, location: str | None = None
    ) -> None:
        self.file = None if file is None else str(file)
        self.location = location
        parts = [p for p in (self.file, location) if p]
        super().__init__(": ".join([*parts, message]))


class InputDataError(QmrflowError):
    """A subject's input file is missing, unreadable or not what the study expects.

    Parameters
    ----------
    message
        What is wrong (e.g. ``expected a 2D slice, got shape (4, 4, 4)``).
    subject
        Participant label without the ``sub-`` prefix.
    path
        The offending file or folder.
    """

    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        path: str | PathLike[str] | None = None,
    ) -> None:
        self.subject = subject
        self.path = None if path is None else str(path)
        parts = []
        if subject is not None:
            parts.append(f"sub-{subject}")
        if self.path is not None:
            parts.append(self.path)
        super().__init__(": ".join([*parts, message]))


class MissingInputsError(QmrflowError):
    """Subjects of a user's dataset lack required input files (config ``missing_inputs:
    stop``); the message holds the table of study, subject, input and file expected."""


class ModelError(QmrflowError):
    """A model checkpoint is corrupt, does not match its recorded checksum, or is misused.

    Misuse includes evaluating a model on a subject it was trained on (data leakage).
    """
