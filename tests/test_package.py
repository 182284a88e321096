"""What importing the package sets up for the processes that run it."""

from __future__ import annotations

import os
import subprocess
import sys

import protein

SHOW_FLAGS = "import os, protein; print(os.environ['XLA_FLAGS'])"


def _flags(environment: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", SHOW_FLAGS], env=environment, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_import_turns_off_xlas_multithreaded_cpu_eigen_pool():
    # only for the jaxlib releases known to have the flag (XLA aborts on an unknown one): this one is
    assert protein._jaxlib_version() < protein.CPU_EIGEN_FLAG_JAXLIB
    environment = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    assert _flags(environment) == protein.CPU_EIGEN_FLAG
    # the user's other flags are kept, and their own choice of this one wins
    assert _flags({**environment, "XLA_FLAGS": "--xla_dump_to=/tmp/x"}) == f"--xla_dump_to=/tmp/x {protein.CPU_EIGEN_FLAG}"
    assert _flags({**environment, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"}) == \
        "--xla_cpu_multi_thread_eigen=true"


def test_sigusr1_prints_every_threads_stack_and_the_process_goes_on():
    code = ("import os, signal, threading, time; from pipelines.tasks import dump_stacks_on_signal; "
            "dump_stacks_on_signal(); threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start(); time.sleep(0.2); "
            "os.kill(os.getpid(), signal.SIGUSR1); print('still running')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "still running"
    assert "Current thread" in run.stderr and run.stderr.count("Thread 0x") >= 1 and " in wait" in run.stderr
