"""run_tool: output returned; failures, crashes and timeouts raise SearchError with the command and stderr, and a
timeout kills the program's whole process group (nothing left running); a missing binary names its package."""

from __future__ import annotations

import os
import sys
import time

import pytest

from protein.errors import SearchError
from protein.search.tools import require_binary, run_tool


def _script(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a container's init to reap it has stopped running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def test_output_is_returned(tmp_path):
    result = run_tool([_script(tmp_path, "echo", 'echo "out $1"; echo "err" >&2\n'), "x"], timeout_s=10)
    assert (result.stdout, result.stderr, result.returncode) == ("out x\n", "err\n", 0)


def test_a_failure_names_the_command_exit_code_and_stderr_tail(tmp_path):
    tool = _script(tmp_path, "fails", 'echo "line one" >&2; echo "Error: database corrupt" >&2; exit 3\n')
    with pytest.raises(SearchError, match=r"fails --flag exited with code 3; stderr ends: line one\nError: "
                                          r"database corrupt"):
        run_tool([tool, "--flag"], timeout_s=10)


def test_a_crash_by_signal_is_reported(tmp_path):
    tool = _script(tmp_path, "crashes", "kill -SEGV $$\n")
    with pytest.raises(SearchError, match=r"killed by signal 11 \(SIGSEGV\)"):
        run_tool([tool], timeout_s=10)


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    # A wrapper that starts a long child holding stdout: killing only the wrapper would leave it (and the pipe).
    tool = _script(tmp_path, "hangs", f"sleep 300 &\necho $! > {pid_file}\nwait\n")
    start = time.perf_counter()
    with pytest.raises(SearchError, match=r"hangs did not finish in 1 s and was killed"):
        run_tool([tool], timeout_s=1)
    assert time.perf_counter() - start < 10
    child = int(pid_file.read_text())
    deadline = time.perf_counter() + 5
    while _alive(child) and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_program_that_cannot_start(tmp_path):
    with pytest.raises(SearchError, match="could not start"):
        run_tool([str(tmp_path / "absent")], timeout_s=10)


def test_require_binary_names_the_package():
    assert require_binary(sys.executable, "python3") == sys.executable
    with pytest.raises(SearchError, match=r"'/nonexistent/jackhmmer' not found .* package 'hmmer'"):
        require_binary("/nonexistent/jackhmmer", "hmmer")
