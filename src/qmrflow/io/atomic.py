"""Atomic file output: write beside the target, rename on success, remove on failure."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` only if the block finishes.

    Parameters
    ----------
    path
        Final destination. Its parent folder is created.
    suffix
        Suffix of the temporary file; defaults to the target's full suffix (``.nii.gz``) so
        that libraries choosing the format from the name write the right one.

    Yields
    ------
    Path
        Where to write. On an exception it is deleted and the target is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(target.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file owner-only (0600); give the result the permissions any
        # new file gets (0666 minus the umask) so that collaborators can read results.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
