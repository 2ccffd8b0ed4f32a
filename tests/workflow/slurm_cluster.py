"""A real single-node SLURM cluster on this machine, for the workflow tests and benchmarks.

Debian's packages (munge, slurmctld, slurmd, slurmdbd with MariaDB for accounting) are installed
when missing; the daemons run in the foreground as children of this process, with their state,
logs and the MariaDB data directory under one scratch folder, and are stopped by pid. The node
declares fake GPUs as generic resources (character devices made with ``mknod``), so SLURM really
schedules GPUs: a job that asks for one gets ``CUDA_VISIBLE_DEVICES`` and a job that does not,
gets none. Facts behind the settings: ``../shared/SLURM.md``.

The configuration has to live at ``/etc/slurm`` (the executor's job-step plugin strips
``SLURM_*`` variables, so ``SLURM_CONF`` would not reach the nested ``srun``). A configuration
that this module did not write is never overwritten, and ours is removed on stop.

SLURM tracks a job's processes as a real cluster does (a cgroup per job; see
:func:`process_tracking`), so that a cancelled job leaves no process behind, and :meth:`stop`
cancels whatever still runs before it stops the daemons.

There is no library for this; it is test infrastructure, written by hand.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .debian import PackagesUnavailable, apt_install

logger = logging.getLogger(__name__)

PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client", "slurmdbd", "mariadb-server")
BINARIES = ("munged", "slurmctld", "slurmd", "slurmdbd", "mariadbd", "sbatch", "sacct")
SLURM_ETC = Path("/etc/slurm")
CGROUPS = Path("/sys/fs/cgroup")
MARKER = "# written by qmrflow's tests/workflow/slurm_cluster.py"
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
CLUSTER = "qmrflowtest"


class ClusterUnavailable(RuntimeError):
    """The local cluster cannot be installed or started here; the message says why."""


def install() -> None:
    """Install the SLURM, munge and MariaDB packages with apt when any daemon is missing."""
    try:
        apt_install(PACKAGES, BINARIES, "SLURM")
    except PackagesUnavailable as error:
        raise ClusterUnavailable(str(error)) from error


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(what: str, ready, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise ClusterUnavailable(f"{what} did not become ready within {timeout:.0f} s\n{tail}")


def _succeeds(*command: str) -> bool:
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def process_tracking(cgroups: Path = CGROUPS) -> tuple[str, str | None]:
    """SLURM's ``ProctrackType`` here, and the ``cgroup.conf`` it needs (or None).

    How SLURM finds a job's processes decides whether ``scancel`` (or Ctrl-C of the run, which
    cancels its jobs) ends them all. Inside a job, the executor's nested Snakemake runs under
    ``srun ... sh -s``; on SIGTERM the ``sh`` dies and the Snakemake below it, which does not
    die of SIGTERM, is re-parented to init. Measured on this project's machines (SLURM 22.05,
    a reparented process that ignores SIGTERM, then ``scancel``):

    - ``proctrack/linuxproc`` (what a bare test box would take) follows the parent links: it
      loses the process, which ran on after its job had left the queue (the orphan that a full
      test run used to leave behind);
    - ``proctrack/pgid`` kills the job's process groups: it ends that process within a second,
      but not one that called ``setsid`` (it survived 2 min);
    - ``proctrack/cgroup`` puts each job step in a cgroup of its own, which no child can leave:
      it ends both within a second. That is what real clusters run, so the tests use it.

    It takes the freezer controller of cgroup v1 (mounted here beside a v2 hierarchy). SLURM
    22.05's cgroup v2 plugin wants systemd to delegate a scope to slurmd, which a test box does
    not run, so where there is no v1 freezer it falls back to ``proctrack/pgid``. Killing the
    steps' processes ``KillWait`` (30 s, SLURM's default) after SIGTERM is left as on a real
    cluster: the tracking, not the wait, was what let processes escape.
    """
    freezer = cgroups / "freezer"
    if (freezer / "cgroup.procs").is_file() and os.access(freezer, os.W_OK):
        return "proctrack/cgroup", (
            f"CgroupPlugin=cgroup/v1\nCgroupMountpoint={cgroups}\n"
            # Tracking only: confining CPUs, memory and devices is the task plugin's job.
            "ConstrainCores=no\nConstrainRAMSpace=no\nConstrainSwapSpace=no\n"
            "ConstrainDevices=no\n"
        )
    logger.warning(
        "no writable cgroup v1 freezer under %s: tracking jobs by process group", cgroups
    )
    return "proctrack/pgid", None


@dataclass
class LocalSlurm:
    """A single-node SLURM with accounting and fake GPUs, rooted at ``root``.

    Parameters
    ----------
    root
        Scratch folder for state, logs, fake GPU devices and the MariaDB data directory.
    cpus, memory_mb
        What the node declares (``SlurmdParameters=config_overrides`` lets it declare more than
        the machine has, so the project's profile runs unchanged).
    gpus, gpu_type
        Fake GPUs declared as the generic resource ``gpu:<gpu_type>:<gpus>``.
    """

    root: Path
    cpus: int = 4
    memory_mb: int = 32000
    gpus: int = 2
    gpu_type: str = "a100"
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])

    # ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Write the configuration and start munged, MariaDB, slurmdbd, slurmctld and slurmd."""
        if os.geteuid() != 0:
            raise ClusterUnavailable("a local SLURM cluster needs root")
        existing = SLURM_ETC / "slurm.conf"
        if existing.exists() and MARKER not in existing.read_text(errors="replace"):
            raise ClusterUnavailable(f"{existing} exists and is not ours; not overwriting it")
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs = self.root / "logs"
        self.logs.mkdir(exist_ok=True)
        try:
            self._start_munge()
            self._start_mariadb()
            self._write_slurm_conf()
            self._start_slurmdbd()
            self._register_accounts()
            self._start_slurmctld()
            self._start_slurmd()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel the jobs still queued or running, stop every daemon this object started, in
        reverse order, by pid, and remove our configuration and the cgroups slurmd made."""
        self._cancel_jobs()
        while self.processes:
            name, process = self.processes.pop()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    logger.warning("%s (pid %d) ignored SIGTERM; killing it", name, process.pid)
                    process.kill()
                    process.wait(timeout=10)
        for name in ("slurm.conf", "gres.conf", "slurmdbd.conf", "cgroup.conf"):
            path = SLURM_ETC / name
            if path.exists() and MARKER in path.read_text(errors="replace"):
                path.unlink()
        self._remove_cgroups()

    def _cancel_jobs(self, timeout: float = 90) -> None:
        """Cancel every job the cluster holds and wait until they have left the queue (their
        processes ended: ``KillWait`` after SIGTERM, SIGKILL)."""
        controller = dict(self.processes).get("slurmctld")
        if controller is None or controller.poll() is not None:
            return

        def held() -> list[str]:
            result = subprocess.run(
                ["squeue", "--noheader", "--format=%i"], capture_output=True, text=True
            )
            return result.stdout.split()

        jobs = held()
        if not jobs:
            return
        logger.warning("cancelling jobs still held at stop: %s", " ".join(jobs))
        subprocess.run(["scancel", *jobs], capture_output=True, check=False)
        deadline = time.monotonic() + timeout
        while held() and time.monotonic() < deadline:
            time.sleep(0.5)

    def _remove_cgroups(self) -> None:
        """Remove the (empty) cgroups slurmd made for this node; a busy one stays (EBUSY)."""
        if getattr(self, "proctrack", None) != "proctrack/cgroup":
            return
        top = CGROUPS / "freezer" / f"slurm_{self.node}"
        if not top.is_dir():
            return
        for folder in sorted(
            (path for path in top.rglob("*") if path.is_dir()),
            key=lambda path: len(path.parts),
            reverse=True,
        ):
            try:
                folder.rmdir()
            except OSError:
                logger.warning("cannot remove %s (still in use?)", folder)
        try:
            top.rmdir()
        except OSError:
            logger.warning("cannot remove %s (still in use?)", top)

    def __enter__(self) -> LocalSlurm:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], user: str | None = None) -> None:
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        log = (self.logs / f"{name}.out").open("ab")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        self.processes.append((name, process))
        logger.info("started %s (pid %d)", name, process.pid)

    def _alive(self, name: str) -> bool:
        process = dict(self.processes)[name]
        if process.poll() is not None:
            log = self.logs / f"{name}.out"
            raise ClusterUnavailable(
                f"{name} exited with {process.returncode}\n"
                + log.read_text(errors="replace")[-3000:]
            )
        return True

    def _start_munge(self) -> None:
        if _succeeds("sh", "-c", "munge -n | unmunge"):
            logger.info("reusing the munged already running on %s", MUNGE_SOCKET)
            return
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
        self._spawn("munged", ["munged", "--foreground", "--force"], user="munge")
        _wait(
            "munged",
            lambda: self._alive("munged") and _succeeds("sh", "-c", "munge -n | unmunge"),
            30,
        )

    def _start_mariadb(self) -> None:
        data = self.root / "mariadb"
        self.db_socket = self.root / "mariadb.sock"
        self.db_port = _free_port()
        if not data.exists():
            result = subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={data}",
                    "--user=root",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise ClusterUnavailable(f"mariadb-install-db failed: {result.stderr[-2000:]}")
        self._spawn(
            "mariadbd",
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.db_socket}",
                f"--port={self.db_port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--pid-file={self.root / 'mariadbd.pid'}",
                "--innodb-buffer-pool-size=128M",
                "--innodb-lock-wait-timeout=900",
            ],
        )
        sql = ["mariadb", "--no-defaults", f"--socket={self.db_socket}", "-u", "root"]
        _wait(
            "MariaDB",
            lambda: self._alive("mariadbd") and _succeeds(*sql, "-e", "SELECT 1"),
            60,
            self.logs / "mariadbd.out",
        )
        self.db_password = "qmrflow-test"
        statements = (
            f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{self.db_password}';"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        )
        subprocess.run([*sql, "-e", statements], check=True, capture_output=True)

    def _write(self, name: str, text: str, mode: int = 0o644) -> None:
        SLURM_ETC.mkdir(parents=True, exist_ok=True)
        path = SLURM_ETC / name
        path.write_text(f"{MARKER}\n{text}")
        path.chmod(mode)

    def _write_slurm_conf(self) -> None:
        state = self.root / "state"
        spool = self.root / "spool"
        devices = self.root / "dev"
        for folder in (state, spool, devices):
            folder.mkdir(exist_ok=True)
        for index in range(self.gpus):
            device = devices / f"nvidia{index}"
            if not device.exists():
                # Character devices (as /dev/null): SLURM then sets CUDA_VISIBLE_DEVICES.
                subprocess.run(["mknod", str(device), "c", "1", "3"], check=True)
        self.dbd_port = _free_port()
        ctld_port, slurmd_port = _free_port(), _free_port()
        self.proctrack, cgroup_conf = process_tracking()
        if cgroup_conf is not None:
            self._write("cgroup.conf", cgroup_conf)
        self._write(
            "slurm.conf",
            f"""ClusterName={CLUSTER}
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={self.root / "slurmctld.pid"}
SlurmdPidFile={self.root / "slurmd.pid"}
SlurmctldLogFile={self.logs / "slurmctld.log"}
SlurmdLogFile={self.logs / "slurmd.log"}
MpiDefault=none
ProctrackType={self.proctrack}
TaskPlugin=task/affinity
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SlurmdParameters=config_overrides
MinJobAge=300
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={self.dbd_port}
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} \
Gres=gpu:{self.gpu_type}:{self.gpus} State=UNKNOWN
PartitionName=main Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""",
        )
        last = f"[0-{self.gpus - 1}]" if self.gpus > 1 else "0"
        self._write(
            "gres.conf",
            f"AutoDetect=off\nNodeName={self.node} Name=gpu Type={self.gpu_type} "
            f"File={devices}/nvidia{last}\n",
        )
        self._write(
            "slurmdbd.conf",
            f"""AuthType=auth/munge
DbdHost=localhost
DbdPort={self.dbd_port}
SlurmUser=root
PidFile={self.root / "slurmdbd.pid"}
LogFile={self.logs / "slurmdbd.log"}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.db_port}
StorageUser=slurm
StoragePass={self.db_password}
StorageLoc=slurm_acct_db
""",
            mode=0o600,
        )

    def _start_slurmdbd(self) -> None:
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        _wait(
            "slurmdbd",
            lambda: self._alive("slurmdbd") and _succeeds("sacctmgr", "-n", "show", "cluster"),
            60,
            self.logs / "slurmdbd.log",
        )

    def _register_accounts(self) -> None:
        user = os.environ.get("USER") or "root"
        for command in (
            ["add", "cluster", CLUSTER],
            ["add", "account", "qmrflow", f"cluster={CLUSTER}"],
            ["add", "user", user, "account=qmrflow", f"cluster={CLUSTER}"],
        ):
            # Already present (a restarted database) is fine: sacctmgr then exits non-zero
            # with "Nothing new added".
            subprocess.run(["sacctmgr", "-i", *command], capture_output=True, check=False)

    def _start_slurmctld(self) -> None:
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        _wait(
            "slurmctld",
            lambda: (
                self._alive("slurmctld")
                and "UP"
                in subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout
            ),
            60,
            self.logs / "slurmctld.log",
        )

    def _start_slurmd(self) -> None:
        self._spawn("slurmd", ["slurmd", "-D"])

        def idle() -> bool:
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True
            ).stdout
            return self._alive("slurmd") and "idle" in state

        _wait("slurmd", idle, 60, self.logs / "slurmd.log")

    # ----------------------------------------------------------------------------------------
    def jobs(self, *fields: str) -> list[dict[str, str]]:
        """Every job the accounting database knows, as ``sacct`` rows (allocations only)."""
        result = subprocess.run(
            [
                "sacct",
                "--allocations",
                "--allusers",
                "--parsable2",
                "--noheader",
                "--starttime=2000-01-01",
                f"--format={','.join(fields)}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return [
            dict(zip(fields, line.split("|"), strict=True))
            for line in result.stdout.splitlines()
            if line
        ]


# Manual use, from the repository root: python -m tests.workflow.slurm_cluster <root>
if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO)
    install()
    with LocalSlurm(Path(sys.argv[1])) as cluster:
        logger.info(
            "cluster up; sinfo:\n%s",
            subprocess.run(["sinfo"], capture_output=True, text=True).stdout,
        )
        input("press Enter to stop the cluster ")
