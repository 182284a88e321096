"""External programs: finding them and running them, the one way every search backend (and Kalign) does.

`run_tool` logs the command and how long it ran, enforces a timeout and raises `SearchError` with the command, the
exit code and the tail of stderr. The program runs in a session of its own, so that on a timeout the whole process
group (a wrapper script and everything it started) is killed and nothing is left running or holding its pipes.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

from protein.errors import SearchError

logger = logging.getLogger(__name__)

STDERR_TAIL_CHARS = 2000
_KILL_WAIT_S = 5.0  # how long to wait for the killed group's output pipes to close


def find_binary(binary: str) -> str | None:
    """The path of an executable (a path, or a name looked up on PATH), or None if there is none."""
    return shutil.which(binary)


def require_binary(binary: str, package: str) -> str:
    """The path of an executable; raises SearchError naming the Debian package that provides it if absent."""
    path = find_binary(binary)
    if path is None:
        raise SearchError(f"{binary!r} not found (not an executable path, nor on PATH); install it, e.g. the Debian "
                          f"package {package!r} (apt-get install {package}), or pass the binary's path")
    return path


def run_tool(command: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Runs an external program to completion and returns its result (stdout and stderr as text).

    Raises:
      SearchError: if the program cannot start, runs past `timeout_s` seconds (its process group is killed),
        or exits with a non-zero code (or is killed by a signal); the message holds the command, the exit code
        and the last `STDERR_TAIL_CHARS` characters of stderr.
    """
    command = [os.fspath(part) for part in command]
    shown = shlex.join(command)
    logger.info("running %s", shown)
    start = time.perf_counter()
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   errors="replace", start_new_session=True)
    except OSError as error:
        raise SearchError(f"{shown} could not start: {error}") from error
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        _kill_group(process)
        raise SearchError(f"{shown} did not finish in {timeout_s:g} s and was killed") from error
    except BaseException:  # KeyboardInterrupt or a failed read: never leave the program running
        _kill_group(process)
        raise
    elapsed = time.perf_counter() - start
    logger.info("%s finished in %.2f s (exit code %d)", command[0], elapsed, process.returncode)
    if process.returncode != 0:
        if process.returncode < 0:
            how = f"was killed by signal {-process.returncode} ({signal.Signals(-process.returncode).name})"
        else:
            how = f"exited with code {process.returncode}"
        raise SearchError(f"{shown} {how}; stderr ends: {stderr[-STDERR_TAIL_CHARS:].strip() or '(empty)'}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen) -> None:
    """Kills the process's whole group (it leads its own session) and reaps it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.communicate(timeout=_KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        logger.warning("%s: output pipes still open %.0f s after the kill", process.args[0], _KILL_WAIT_S)
    process.wait()
