"""Debian packages that workflow tests need (SLURM's daemons, Chromium), installed when missing.

Installing needs root and ``apt-get``, as in CI; elsewhere :class:`PackagesUnavailable` says why,
and the test that needed the packages is skipped with that reason. Test processes running side by
side (pytest-xdist) install one after the other: apt holds one lock at a time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: Serialises installs of concurrent test processes (apt-get would fail on a held lock).
LOCK = Path("/tmp/qmrflow-tests-apt.lock")


class PackagesUnavailable(RuntimeError):
    """Debian packages are missing and cannot be installed here; the message says why."""


def apt_install(packages: Sequence[str], binaries: Sequence[str], what: str) -> None:
    """Install ``packages`` with apt unless every program of ``binaries`` is on the PATH.

    Parameters
    ----------
    packages
        Debian package names.
    binaries
        Programs the packages provide; all present means nothing to install.
    what
        What the packages are, for the messages (e.g. ``"SLURM"``).

    Raises
    ------
    PackagesUnavailable
        Not root, no ``apt-get``, apt failed (its error output attached), or a program still
        missing after the install.
    """
    if all(shutil.which(name) for name in binaries):
        return
    if os.geteuid() != 0:
        raise PackagesUnavailable(f"installing {what} needs root (apt-get)")
    if shutil.which("apt-get") is None:
        raise PackagesUnavailable(f"{what} is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(shutil.which(name) for name in binaries):  # installed while we waited
            return
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        ):
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if result.returncode != 0:
                raise PackagesUnavailable(
                    f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}"
                )
    missing = [name for name in binaries if shutil.which(name) is None]
    if missing:
        raise PackagesUnavailable(f"installed {tuple(packages)} but still missing {missing}")
