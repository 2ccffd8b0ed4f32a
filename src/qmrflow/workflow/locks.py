"""Say what to do when the working directory is still locked by a previous Snakemake run.

Snakemake locks its working directory (``.snakemake/locks/``) while it runs and removes the lock
when it ends, even on Ctrl-C. When it is killed (``SIGKILL``, a lost login session, an
out-of-memory kill) the lock stays, and so may its local jobs: they keep running as orphans and
may still write outputs. The next run then stops with Snakemake's own "Directory cannot be
locked" message, which cannot say which case this is. The Snakefile is evaluated before the lock
is taken, so :func:`explain_lock`, called from it, looks at an existing lock and at the processes
of this machine (``/proc``) and logs what to do: wait for, or stop, the run that is still active;
or kill the jobs a killed run left behind and then ``snakemake --unlock`` with the same options.
It never removes a lock itself.

Without a lock it costs one directory listing; it stays silent for ``--unlock``, ``--lint``,
``--nolock`` and the nested Snakemake of a job.

A process belongs to this working directory when its current directory is in it (Snakemake
changes into ``--directory`` and runs its jobs there). Among those, a Snakemake process is a run
(a job's own nested Snakemake has ``--target-jobs``); the other processes count as a job of a
killed run when they were orphaned (re-parented to init or a ``systemd`` session manager), when
their command line names a file under ``.snakemake/`` (Snakemake's job scripts) or when they are
a nested job's Snakemake. Their descendants count with them. A shell, editor or ``tmux`` that
merely has the directory open is none of these. The current process, its ancestors and its
descendants are never counted.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: Snakemake's lock folder, relative to the working directory.
LOCKS = Path(".snakemake") / "locks"
#: Snakemake's lock files (``0.input.lock``, ``0.output.lock``, ...).
LOCK_FILE = re.compile(r"\d+\.(input|output)\.lock")
#: Options for which no lock is taken or the lock is being dealt with: stay silent.
SILENT_OPTIONS = ("--unlock", "--lint", "--nolock", "--target-jobs")
#: Options dropped from the ``--unlock`` command we suggest.
DRY_RUN_OPTIONS = ("-n", "--dry-run", "--dryrun")
#: Parents that adopt orphans: init, and ``systemd --user`` (a subreaper) on login nodes.
ADOPTERS = ("init", "systemd")
#: Programs that a user may have started in the directory and that are no job of a run even
#: when orphaned (a terminal multiplexer's server; a login or interactive shell).
INTERACTIVE = ("tmux", "screen", "SCREEN", "bash", "sh", "dash", "zsh", "fish", "tcsh", "csh")


@dataclass(frozen=True)
class ProcessInfo:
    """What ``/proc/<pid>`` tells about one process.

    Attributes
    ----------
    pid, ppid
        The process and its parent.
    argv
        Its command line (empty for kernel threads).
    cwd
        Its current directory, or ``None`` where it cannot be read (another user's process).
    """

    pid: int
    ppid: int
    argv: tuple[str, ...]
    cwd: Path | None

    @property
    def command(self) -> str:
        """The command line as one shell-quoted string."""
        return shlex.join(self.argv)


@dataclass(frozen=True)
class LockReport:
    """A lock found in the working directory, and what is left of the run that took it.

    Attributes
    ----------
    workdir
        The working directory.
    locks
        Its lock files.
    runs
        Live Snakemake runs of this directory (other than the current one), by pid.
    jobs
        Live job processes of a previous run that no longer runs, by pid (with descendants).
    level
        The logging level the report was logged at.
    message
        What was logged: what is going on and what to run.
    """

    workdir: Path
    locks: tuple[Path, ...]
    runs: tuple[int, ...]
    jobs: tuple[int, ...]
    level: int
    message: str


def lock_files(workdir: Path) -> list[Path]:
    """The lock files Snakemake left in ``workdir`` (none: an empty list, at the cost of one
    directory listing).

    Parameters
    ----------
    workdir
        The working directory.

    Returns
    -------
    list of Path
        The lock files, sorted; Snakemake leaves ``.snakemake/locks`` empty after a dry run.
    """
    try:
        entries = os.scandir(workdir / LOCKS)
    except OSError:
        return []
    with entries:
        return sorted(
            Path(entry.path)
            for entry in entries
            if LOCK_FILE.fullmatch(entry.name) and entry.is_file()
        )


def _read_process(folder: Path) -> ProcessInfo | None:
    try:
        stat = (folder / "stat").read_text()
        raw = (folder / "cmdline").read_bytes()
    except OSError:  # gone meanwhile, or not readable
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 2:
        return None
    argv = tuple(arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1] if raw)
    try:
        cwd: Path | None = (folder / "cwd").readlink()
    except OSError:
        cwd = None
    return ProcessInfo(pid=int(folder.name), ppid=int(fields[1]), argv=argv, cwd=cwd)


def read_processes(proc: Path = Path("/proc")) -> dict[int, ProcessInfo]:
    """Every process in ``proc`` (``/proc``, or a folder laid out like it), by pid.

    Parameters
    ----------
    proc
        The folder to read: one folder per pid holding ``stat``, ``cmdline`` and the ``cwd``
        link. Processes that end while being read, or cannot be read, are left out.

    Returns
    -------
    dict of int to ProcessInfo
    """
    processes = {}
    try:
        with os.scandir(proc) as entries:
            folders = [entry.path for entry in entries if entry.name.isdigit()]
    except OSError:
        logger.debug("cannot list %s: not looking for processes", proc)
        return {}
    for folder in folders:
        info = _read_process(Path(folder))
        if info is not None:
            processes[info.pid] = info
    return processes


def is_snakemake(argv: Sequence[str]) -> bool:
    """Whether a command line runs Snakemake (``snakemake ...``, ``python .../snakemake ...``
    or ``python -m snakemake ...``).

    Parameters
    ----------
    argv
        The command line.

    Returns
    -------
    bool
    """
    if not argv:
        return False
    if Path(argv[0]).name == "snakemake":
        return True
    if not Path(argv[0]).name.startswith("python"):
        return False
    for index, arg in enumerate(argv[1:], start=1):
        if arg == "-m":
            return list(argv[index + 1 : index + 2]) == ["snakemake"]
        if not arg.startswith("-"):
            return Path(arg).name == "snakemake"
    return False


def _children(processes: Mapping[int, ProcessInfo]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for info in processes.values():
        children.setdefault(info.ppid, []).append(info.pid)
    return children


def _descendants(roots: Iterable[int], children: Mapping[int, list[int]]) -> set[int]:
    found: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def _ancestors(pid: int, processes: Mapping[int, ProcessInfo]) -> set[int]:
    found: set[int] = set()
    while pid in processes and pid not in found:
        found.add(pid)
        pid = processes[pid].ppid
    return found


def _inside(info: ProcessInfo, workdir: Path) -> bool:
    return info.cwd is not None and (info.cwd == workdir or workdir in info.cwd.parents)


def _interactive(info: ProcessInfo) -> bool:
    """A multiplexer or a shell without a command (``bash -c ...`` runs a job's shell command)."""
    if not info.argv:
        return False
    name = Path((info.argv[0].split() or [""])[0]).name.lstrip("-").rstrip(":")
    return name in INTERACTIVE and "-c" not in info.argv[1:]


def _orphaned(info: ProcessInfo, processes: Mapping[int, ProcessInfo]) -> bool:
    if _interactive(info):
        return False
    parent = processes.get(info.ppid)
    if info.ppid <= 1 or parent is None:
        return True
    return bool(parent.argv) and Path(parent.argv[0]).name in ADOPTERS


def previous_run(
    workdir: Path, processes: Mapping[int, ProcessInfo], me: int
) -> tuple[list[int], list[int]]:
    """The live Snakemake runs of ``workdir`` and the job processes a killed run left there.

    Parameters
    ----------
    workdir
        The working directory (absolute, as the processes' ``cwd`` links read).
    processes
        The processes of this machine (:func:`read_processes`).
    me
        The current process: it, its ancestors and its descendants are never counted.

    Returns
    -------
    runs, jobs : list of int
        The pids of the runs (Snakemake processes without ``--target-jobs``) and of the left-over
        jobs with their descendants, excluding the runs' own descendants; both sorted.
    """
    children = _children(processes)
    family = _ancestors(me, processes) | _descendants([me], children)
    scripts = str(workdir / ".snakemake") + os.sep
    inside = [
        info for info in processes.values() if info.pid not in family and _inside(info, workdir)
    ]
    runs = [
        info.pid for info in inside if is_snakemake(info.argv) and "--target-jobs" not in info.argv
    ]
    of_runs = _descendants(runs, children)
    roots = [
        info.pid
        for info in inside
        if info.pid not in of_runs
        and (
            (is_snakemake(info.argv) and "--target-jobs" in info.argv)
            or _orphaned(info, processes)
            or any(scripts in arg for arg in info.argv)
        )
    ]
    jobs = _descendants(roots, children) - of_runs - family
    return sorted(runs), sorted(jobs)


def unlock_command(argv: Sequence[str]) -> str:
    """The ``snakemake --unlock`` command with the options of ``argv`` (a dry run's dropped).

    Parameters
    ----------
    argv
        The current Snakemake command line (``sys.argv``): its program when that is the
        ``snakemake`` script (e.g. ``.venv/bin/snakemake``), else ``snakemake``.

    Returns
    -------
    str
        A shell command, e.g. ``snakemake --profile profiles/slurm --configfile my.yaml --unlock``.
    """
    program = argv[0] if argv and Path(argv[0]).name == "snakemake" else "snakemake"
    options = [arg for arg in argv[1:] if arg not in DRY_RUN_OPTIONS]
    return shlex.join([program, *options, "--unlock"])


def _listing(pids: Sequence[int], processes: Mapping[int, ProcessInfo], most: int = 8) -> str:
    lines = []
    for pid in pids[:most]:
        command = processes[pid].command if pid in processes else "?"
        lines.append(f"    {pid}: {command[:160]}")
    if len(pids) > most:
        lines.append(f"    ... and {len(pids) - most} more")
    return "\n".join(lines)


def describe(
    workdir: Path,
    locks: Sequence[Path],
    runs: Sequence[int],
    jobs: Sequence[int],
    processes: Mapping[int, ProcessInfo],
    argv: Sequence[str],
) -> tuple[int, str]:
    """The logging level and the message for a lock and what is left of its run.

    Parameters
    ----------
    workdir, locks
        The working directory and its lock files.
    runs, jobs
        From :func:`previous_run`.
    processes
        The processes, to show the command lines of ``runs`` and ``jobs``.
    argv
        The current command line, for the ``--unlock`` command to suggest.

    Returns
    -------
    level, message : int, str
        ``WARNING`` while another run is active (its lock is legitimate, and Snakemake refuses to
        start only if the two runs' files overlap); ``ERROR`` for a killed run's lock.
    """
    unlock = unlock_command(argv)
    files = "lock file" if len(locks) == 1 else "lock files"
    where = f"{workdir} is locked ({len(locks)} {files} in {LOCKS})"
    if runs:
        pids = " ".join(map(str, runs))
        return logging.WARNING, (
            f"{where}: another Snakemake run is active here (PIDs {pids}):\n"
            f"{_listing(runs, processes)}\n"
            "If Snakemake now reports 'Directory cannot be locked', wait for that run to end or "
            f"stop it (Ctrl-C in its terminal, or `kill {pids}`: it then cancels its jobs). Do "
            "not unlock while it runs."
        )
    cluster = any("slurm" in arg for arg in argv)
    queue = (
        " Jobs it submitted to SLURM may still be queued or running: `squeue --me` lists them "
        "under the run's name; `scancel` them too."
        if cluster
        else ""
    )
    if jobs:
        pids = " ".join(map(str, jobs))
        return logging.ERROR, (
            f"{where} by a previous Snakemake run that was killed; its jobs are still running "
            f"(PIDs {pids}):\n{_listing(jobs, processes)}\n"
            f"Kill them with `kill {pids}` (`kill -9 {pids}` if any is still there after a few "
            f"seconds), then run `{unlock}`, then run again: finished outputs are kept and "
            f"interrupted ones are redone.{queue}"
        )
    return logging.ERROR, (
        f"{where} by a previous Snakemake run that was killed; no process of it is left on this "
        f"machine. Run `{unlock}`, then run again: finished outputs are kept and interrupted "
        f"ones are redone.{queue}"
    )


def explain_lock(
    workdir: Path,
    argv: Sequence[str],
    *,
    main_process: bool = True,
    proc: Path = Path("/proc"),
    me: int | None = None,
) -> LockReport | None:
    """Log what to do about a lock left in ``workdir``; never removes it.

    Called from the Snakefile, which Snakemake evaluates before it takes the lock.

    Parameters
    ----------
    workdir
        The working directory (the Snakefile's current directory).
    argv
        The Snakemake command line (``sys.argv``): silent with ``--unlock``, ``--lint``,
        ``--nolock`` or ``--target-jobs``; the options of the ``--unlock`` command suggested.
    main_process
        ``False`` in a job's nested Snakemake (``workflow.is_main_process``): silent.
    proc
        Where to read the processes (``/proc``; a folder laid out like it in tests).
    me
        The current process (default: this one).

    Returns
    -------
    LockReport or None
        What was logged, or ``None`` when there is no lock or nothing is to be said.
    """
    if not main_process or any(
        arg == option or arg.startswith(f"{option}=") for arg in argv for option in SILENT_OPTIONS
    ):
        return None
    locks = lock_files(workdir)
    if not locks:
        return None
    workdir = workdir.resolve()  # as the processes' cwd links read
    processes = read_processes(proc)
    runs, jobs = previous_run(workdir, processes, os.getpid() if me is None else me)
    level, message = describe(workdir, locks, runs, jobs, processes, argv)
    logger.log(level, message)
    return LockReport(
        workdir=workdir,
        locks=tuple(locks),
        runs=tuple(runs),
        jobs=tuple(jobs),
        level=level,
        message=message,
    )
