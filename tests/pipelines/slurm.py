"""A single-node SLURM on localhost for tests: Debian's `slurm-wlm` (slurmctld + slurmd) in a temporary folder.

`local_slurm(directory)` writes a slurm.conf with one node (this machine, as `slurmd -C` describes it) in one
partition, starts slurmctld and slurmd in the foreground (`-D`) as child processes, waits until `sinfo` shows the
node idle, and stops them when the block ends. Nothing is written outside `directory`: state, spool, logs and pid
files live there, and the ports are free ones picked at start, so two test runs on one machine do not meet.
Authentication is `auth/none` (Slurm 22.05 still ships it), so no munged is needed. The clients (`sbatch`, `sinfo`,
`squeue`) find this SLURM through the `SLURM_CONF` variable of `LocalSlurm.environ`.

Raises `SlurmUnavailable` (the test skips with its message) when the programs are missing or the daemons do not come
up; the message holds the tail of their logs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PARTITION = "protein-test"
START_TIMEOUT_S = 30.0
LOG_TAIL_CHARS = 1500
_STOP_WAIT_S = 10.0


class SlurmUnavailable(Exception):
    """The local SLURM cannot start here (programs missing, a daemon died or the node never became idle)."""


@dataclass(frozen=True)
class LocalSlurm:
    """A running single-node SLURM: its config file, partition and node, and the environment its clients need."""

    conf: Path
    partition: str
    node: str
    environ: dict[str, str]


@contextlib.contextmanager
def local_slurm(directory: Path) -> Iterator[LocalSlurm]:
    """Starts slurmctld and slurmd configured under `directory`; stops both (and reaps them) on exit."""
    for program in ("slurmctld", "slurmd", "sinfo", "sbatch"):
        if shutil.which(program) is None:
            raise SlurmUnavailable(f"{program!r} not found: install the Debian package slurm-wlm")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    node_line = _node_description()
    node = node_line.split()[0].removeprefix("NodeName=")
    conf = directory / "slurm.conf"
    conf.write_text(_slurm_conf(directory, node_line))
    environ = {**os.environ, "SLURM_CONF": str(conf)}
    daemons: list[tuple[subprocess.Popen, Path]] = []
    try:
        for daemon in ("slurmctld", "slurmd"):
            log = directory / f"{daemon}.out"
            with open(log, "wb") as output:
                command = [daemon, "-D", "-f", str(conf)] + (["-i"] if daemon == "slurmctld" else [])
                process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environ,
                                           start_new_session=True)
            daemons.append((process, log))
        _wait_until_idle(node, environ, daemons, directory)
        yield LocalSlurm(conf=conf, partition=PARTITION, node=node, environ=environ)
    finally:
        for process, _ in reversed(daemons):
            _stop(process)


def _node_description() -> str:
    """This machine's node line as slurmd itself sees it (`slurmd -C`), so that slurmd accepts the config."""
    try:
        result = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SlurmUnavailable(f"slurmd -C failed: {error}") from error
    lines = [line for line in result.stdout.splitlines() if line.startswith("NodeName=")]
    if result.returncode != 0 or not lines:
        raise SlurmUnavailable(f"slurmd -C gave no node line (exit code {result.returncode}): "
                               f"{(result.stdout + result.stderr)[-LOG_TAIL_CHARS:]}")
    return lines[0]


def _slurm_conf(directory: Path, node_line: str) -> str:
    """A minimal slurm.conf: root runs everything, no cgroups, no accounting, no munge."""
    for name in ("state", "spool"):
        (directory / name).mkdir(exist_ok=True)
    controller_port, node_port = _free_port(), _free_port()
    node = node_line.split()[0].removeprefix("NodeName=")
    return "\n".join([
        "ClusterName=proteintest",
        f"SlurmctldHost={node}(127.0.0.1)",
        f"SlurmctldPort={controller_port}",
        f"SlurmdPort={node_port}",
        "AuthType=auth/none",
        "CredType=cred/none",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={directory / 'state'}",
        f"SlurmdSpoolDir={directory / 'spool'}",
        f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
        f"SlurmdPidFile={directory / 'slurmd.pid'}",
        f"SlurmctldLogFile={directory / 'slurmctld.log'}",
        f"SlurmdLogFile={directory / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "ReturnToService=2",
        "MailProg=/bin/true",
        f"{node_line} NodeAddr=127.0.0.1 State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_idle(node: str, environ: dict[str, str], daemons: list[tuple[subprocess.Popen, Path]],
                     directory: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        for process, _ in daemons:
            if process.poll() is not None:
                raise SlurmUnavailable(f"{process.args[0]} exited with code {process.returncode}; "
                                       f"{_log_tails(directory)}")
        result = subprocess.run(["sinfo", "--noheader", "--nodes", node, "--format", "%T"], capture_output=True,
                                text=True, env=environ, timeout=10)
        state = result.stdout.strip()
        if result.returncode == 0 and state == "idle":
            return
        time.sleep(0.5)
    raise SlurmUnavailable(f"node {node} not idle after {START_TIMEOUT_S:g} s (sinfo says {state!r}); "
                           f"{_log_tails(directory)}")


def _log_tails(directory: Path) -> str:
    tails = []
    for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
        path = directory / name
        if path.exists() and path.stat().st_size:
            tails.append(f"{name} ends: {path.read_text(errors='replace')[-LOG_TAIL_CHARS:].strip()}")
    return "; ".join(tails) or "no logs written"


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (the daemons shut down cleanly on it), SIGKILL to the whole group if that takes too long."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # slurmstepd and job steps left behind by slurmd
    process.wait()
