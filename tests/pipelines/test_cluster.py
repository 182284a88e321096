"""pipelines.cluster: local clusters (sizes, GPU resources, clean close), an unreachable scheduler, SLURM and PBS
job scripts from Dask config, and a real single-node SLURM (tests/pipelines/slurm.py) when slurm-wlm is installed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask.config
import distributed
import psutil
import pytest
import yaml

from pipelines.cluster import ClusterError, connect, job_script
from tests.pipelines.slurm import SlurmUnavailable, local_slurm

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "jobqueue.example.yaml"
# Threads that live as long as the process by design: distributed's module-level offload executor.
PROCESS_WIDE_THREADS = ("Dask-Offload",)


def _children() -> set[int]:
    """Our child processes, but multiprocessing's resource tracker (started once per process with the first
    spawned worker, it stays until the interpreter exits)."""
    return {child.pid for child in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(child.cmdline())}


def _threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if not thread.name.startswith(PROCESS_WIDE_THREADS)}


def _assert_nothing_left(children_before: set[int], threads_before: set[threading.Thread]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_children() - children_before or _threads() - threads_before):
        time.sleep(0.1)
    assert _children() - children_before == set(), "worker processes left running"
    assert {thread.name for thread in _threads() - threads_before} == set(), "threads left running"


def _workers(client: distributed.Client) -> list[dict]:
    return list(client.scheduler_info(n_workers=-1)["workers"].values())


@pytest.fixture
def no_visible_gpus(monkeypatch):
    """This machine as one without GPUs, whatever it has: no CUDA device is visible."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


# -- local ------------------------------------------------------------------------------------------------------


def test_local_cluster_uses_the_cpus_of_this_process_and_closes_cleanly(no_visible_gpus):
    cpus = len(os.sched_getaffinity(0))
    children_before, threads_before = _children(), _threads()
    with connect() as cluster:
        workers = _workers(cluster.client)
        assert cluster.kind == "local"
        assert isinstance(cluster.cluster, distributed.LocalCluster)
        # Dask's split: up to 4 CPUs one single-threaded process each, beyond that fewer, multi-threaded ones.
        assert sum(worker["nthreads"] for worker in workers) == cpus
        if cpus <= 4:
            assert [worker["nthreads"] for worker in workers] == [1] * cpus
        assert all(worker["resources"] == {} for worker in workers)
        assert not cluster.gpu_workers()
        worker_pids = set(cluster.client.run(os.getpid).values())
        assert os.getpid() not in worker_pids and len(worker_pids) == len(workers)  # processes, not threads
        assert cluster.dashboard_link is None or cluster.dashboard_link.startswith("http")
    _assert_nothing_left(children_before, threads_before)


def test_local_cluster_splits_memory_and_takes_sizes(no_visible_gpus):
    with connect(workers=2, threads_per_worker=1) as cluster:
        workers = _workers(cluster.client)
        assert [worker["nthreads"] for worker in workers] == [1, 1]
        assert {worker["memory_limit"] for worker in workers} == {distributed.system.MEMORY_LIMIT // 2}
        assert cluster.client.submit(pow, 2, 10).result(timeout=30) == 1024


def test_gpus_declares_one_gpu_resource_and_device_per_gpu_worker(no_visible_gpus):
    children_before, threads_before = _children(), _threads()
    with connect(workers=2, threads_per_worker=1, gpus=1) as cluster:
        assert sorted(worker["resources"].get("GPU", 0) for worker in _workers(cluster.client)) == [0, 1]
        assert cluster.gpu_workers()
        devices = cluster.client.run(lambda: os.environ["CUDA_VISIBLE_DEVICES"])
        assert sorted(devices.values()) == ["", "0"]  # the GPU worker sees GPU 0, the other none
        gpu_task = cluster.client.submit(lambda: os.environ["CUDA_VISIBLE_DEVICES"], resources={"GPU": 1})
        assert gpu_task.result(timeout=30) == "0"
    _assert_nothing_left(children_before, threads_before)


def test_visible_gpus_are_found_without_jax(monkeypatch):
    from pipelines.cluster import local_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert local_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,0")  # CUDA stops at the first invalid id
    assert local_gpus() == ["1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert local_gpus() == []


def test_more_gpus_than_workers_is_refused_before_starting(no_visible_gpus):
    with pytest.raises(ClusterError, match=r"2 GPU workers need at least as many workers, got workers=1"):
        connect(workers=1, gpus=2)


@pytest.mark.parametrize("options, message", [
    ({"cluster": "kubernetes"}, r"unknown cluster 'kubernetes'"),
    ({"cluster": "scheduler"}, r"needs the scheduler's address"),
    ({"cluster": "slurm", "gpus": 1}, r"cluster='slurm' does not take gpus"),
    ({"jobqueue_config": "slurm-gpu"}, r"cluster='local' does not take jobqueue_config"),
    ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, r"cluster='scheduler' does not take workers"),
    ({"workers": 0}, r"workers must be an integer >= 1, got 0"),
])
def test_options_that_do_not_fit_are_refused(options, message):
    with pytest.raises(ClusterError, match=message):
        connect(**options)


# -- a running scheduler ----------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_scheduler_raises_fast_naming_the_address():
    address = f"tcp://127.0.0.1:{_closed_port()}"
    threads_before = _threads()
    start = time.monotonic()
    with pytest.raises(ClusterError, match=rf"no Dask scheduler answered at {address} within 2 s"):
        connect(scheduler=address, timeout_s=2)
    assert time.monotonic() - start < 15
    _assert_nothing_left(_children(), threads_before)


def test_scheduler_address_connects_and_close_leaves_the_cluster_running():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=":0") as running:
        with connect(scheduler=running.scheduler_address) as cluster:
            assert (cluster.kind, cluster.cluster) == ("scheduler", None)
            assert cluster.client.submit(pow, 3, 3).result(timeout=30) == 27
        assert running.status.name == "running"
        with distributed.Client(running) as other:
            assert len(_workers(other)) == 1


# -- SLURM and PBS from Dask config -----------------------------------------------------------------------------


@pytest.fixture
def example_config():
    """pipelines/jobqueue.example.yaml merged into Dask's config as if it were in ~/.config/dask."""
    sections = yaml.safe_load(EXAMPLE_CONFIG.read_text())["jobqueue"]
    with dask.config.set(jobqueue=dask.config.merge(dask.config.get("jobqueue"), sections)):
        yield


def _header(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith(("#SBATCH", "#PBS"))]


def _worker_command(script: str) -> str:
    return next(line for line in script.splitlines() if "distributed.cli.dask_worker" in line)


def test_slurm_cpu_section_renders_its_partition_and_no_gpu(example_config):
    script = job_script("slurm")
    assert _header(script) == ["#SBATCH -J dask-worker", "#SBATCH -p cpu", "#SBATCH -n 1",
                               "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64G", "#SBATCH -t 12:00:00"]
    command = _worker_command(script)
    assert command.startswith(f"{sys.executable} -m distributed.cli.dask_worker ")  # the batch's own Python
    assert "--nthreads 8" in command and "--memory-limit 64.00GiB" in command
    assert "--resources" not in command


def test_slurm_gpu_section_renders_gres_and_the_gpu_resource(example_config):
    script = job_script("slurm", jobqueue_config="slurm-gpu")
    assert "#SBATCH -p gpu" in _header(script)
    assert "#SBATCH --gres=gpu:1" in _header(script)
    assert "#SBATCH --mem=80G" in _header(script)
    assert "#SBATCH -t 12:00:00" in _header(script)  # a key the section sets
    assert script.startswith("#!/usr/bin/env bash\n")  # a key it leaves to dask-jobqueue's defaults
    assert _worker_command(script).endswith("--resources GPU=1")


def test_pbs_section_renders_queue_and_resources(example_config):
    script = job_script("pbs")
    assert _header(script) == ["#PBS -N dask-worker", "#PBS -q workq", "#PBS -l select=1:ncpus=8:mem=64GB",
                               "#PBS -l walltime=12:00:00"]


def test_missing_config_section_is_a_cluster_error():
    with pytest.raises(ClusterError, match=r"no Dask config section jobqueue\.slurm-a100 for cluster='slurm'"):
        job_script("slurm", jobqueue_config="slurm-a100")


def test_section_without_cores_or_memory_is_a_cluster_error():
    with dask.config.set({"jobqueue.slurm-bare": {"queue": "gpu"}}):
        with pytest.raises(ClusterError, match=r"jobqueue\.slurm-bare does not describe a SLURM job.*cores"):
            job_script("slurm", jobqueue_config="slurm-bare")


@pytest.mark.parametrize("kind, program", [("slurm", "sbatch"), ("pbs", "qsub")])
def test_missing_submit_program_is_a_cluster_error(kind, program, example_config, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterError, match=rf"submits its workers with '{program}', which is not on PATH"):
        connect(cluster=kind)


# -- a real SLURM -----------------------------------------------------------------------------------------------


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """A single-node SLURM on this machine (skips, saying why, where it cannot start); its clients' SLURM_CONF is
    set for this test, so that SLURMCluster's sbatch and scancel reach it."""
    if shutil.which("slurmctld") is None:
        pytest.skip("slurmctld not installed (Debian package slurm-wlm)")
    try:
        with local_slurm(tmp_path / "slurm") as running:
            monkeypatch.setenv("SLURM_CONF", str(running.conf))
            yield running
    except SlurmUnavailable as error:
        pytest.skip(f"a local SLURM could not start: {error}")


def _job_facts() -> dict[str, str]:
    import protein  # the worker runs in our environment: the platform imports there

    return {"host": socket.gethostname(), "job_id": os.environ.get("SLURM_JOB_ID", ""), "python": sys.executable,
            "protein": str(Path(protein.__file__).parent)}


def test_slurm_cluster_runs_work_in_a_slurm_job(slurm, tmp_path):
    (tmp_path / "logs").mkdir()
    section = {"queue": slurm.partition, "cores": 1, "processes": 1, "memory": "1GiB", "walltime": "00:05:00",
               "death-timeout": 30, "log-directory": str(tmp_path / "logs"),
               "worker-extra-args": ["--resources", "GPU=1"]}  # as a GPU partition's section declares it
    children_before, threads_before = _children(), _threads()
    with dask.config.set({"jobqueue.slurm-local": section}):
        with connect(cluster="slurm", workers=1, jobqueue_config="slurm-local") as cluster:
            assert cluster.kind == "slurm"
            assert cluster.gpu_workers()  # from the job script, before the job has started
            assert cluster.client.submit(pow, 2, 10).result(timeout=120) == 1024
            facts = cluster.client.submit(_job_facts, pure=False, resources={"GPU": 1}).result(timeout=60)
    assert facts["host"] == slurm.node
    assert facts["job_id"].isdigit()
    assert facts["python"] == sys.executable
    assert facts["protein"] == str(Path(__file__).resolve().parents[2] / "protein")
    _assert_nothing_left(children_before, threads_before)


def test_slurm_job_that_slurm_rejects_is_a_cluster_error(slurm):
    section = {"queue": "no-such-partition", "cores": 1, "memory": "1GiB"}
    with dask.config.set({"jobqueue.slurm-wrong": section}):
        with pytest.raises(ClusterError, match=r"(?s)SLURM did not accept the worker job of jobqueue\.slurm-wrong: .*"
                                               r"sbatch.*invalid partition"):
            connect(cluster="slurm", jobqueue_config="slurm-wrong")


def test_a_small_batch_runs_through_slurm(slurm, tmp_path):
    """`pipelines.submit` with cluster="slurm": the searches, features, model runs (on the job's declared GPU
    resource) and writes of a two-record batch run in a SLURM job, and the job is gone afterwards."""
    import pipelines

    (tmp_path / "logs").mkdir()
    section = {"queue": slurm.partition, "cores": 1, "processes": 1, "memory": "4GiB", "walltime": "00:10:00",
               "death-timeout": 30, "log-directory": str(tmp_path / "logs"),
               "worker-extra-args": ["--resources", "GPU=1"]}
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">first\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>second\nGSHMLEDPVDAFQLAKQLLSEG\n")
    with dask.config.set({"jobqueue.slurm-local": section}):
        batch = pipelines.submit(fasta, tmp_path / "results", cluster="slurm", workers=1,
                                 jobqueue_config="slurm-local", models=["tiny"], random_params_seed=0, num_recycle=0,
                                 plots=False)
        with batch:
            assert batch.gpu  # model runs ask for the GPU resource the job's worker declares
            targets = batch.result(timeout=300)
    assert [t.status for t in targets] == ["done", "done"]
    assert (tmp_path / "results" / "second" / "ranked_0.pdb").is_file()
    deadline = time.monotonic() + 60  # the closed cluster cancelled its job; SLURM may show it completing a while
    while True:
        jobs = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, timeout=30)
        if jobs.returncode == 0 and jobs.stdout.strip() == "" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert jobs.returncode == 0 and jobs.stdout.strip() == "", jobs.stdout
