"""How a batch gets its Dask cluster: `connect(...)` returns a `Cluster` (a client and, when we started it, the
cluster behind it), closed by `Cluster.close` or a `with` block.

Four kinds:

- `local` (default): a `distributed.LocalCluster` of worker processes on this machine, never threads: JAX and
  pyhmmer hold the GIL in parts, and a worker that dies (out of memory, a crash in C) must not take the client with
  it. Sized by Dask's own rule (`nprocesses_nthreads`) over the CPUs this process may run on
  (`os.sched_getaffinity`), the machine's memory (cgroup limits included, `distributed.system.MEMORY_LIMIT`)
  split equally between the workers. With GPUs, one worker per GPU declares the resource `GPU=1` and sees only its
  own device (`CUDA_VISIBLE_DEVICES`, as dask-cuda's LocalCUDACluster does); the other workers see none, so that
  JAX in a search worker does not take GPU memory.
- `scheduler`: a scheduler already running (`scheduler="tcp://host:port"`), started by someone else; closing
  closes only our client.
- `slurm`, `pbs`: dask-jobqueue's `SLURMCluster` / `PBSCluster`, each job one worker. Everything site-specific
  (partition or queue, cores, memory, walltime, GPUs, extra directives, worker arguments) comes from Dask's YAML
  config, section `jobqueue.slurm` / `jobqueue.pbs` or a named one (`jobqueue_config="slurm-gpu"`), read from
  ~/.config/dask/*.yaml, /etc/dask or $DASK_CONFIG; `pipelines/jobqueue.example.yaml` documents one. A named
  section needs only the keys it sets: the others are dask-jobqueue's defaults for its scheduler.
  The cluster asks for a fixed number of jobs (`workers`, default 1), not adaptive scaling: a batch knows its
  size, and adaptive scaling cancels idle jobs and submits new ones as work comes and goes, so each wave waits in
  the queue again and a retiring worker can take results with it. `Cluster.cluster.adapt(...)` is there for whoever
  wants it. `connect` submits the jobs (one the scheduler rejects is a ClusterError with sbatch's or qsub's
  message) but does not wait for them to start, as a queue can hold them for hours: work submitted waits in the
  Dask scheduler until workers arrive. `job_script()` shows the script a config section gives, submitting nothing.

Local workers are started with Dask's default "spawn": a script that calls `connect` must do so under
`if __name__ == "__main__":`, as with any multiprocessing code.

GPUs on this machine are found without importing JAX (`jax.devices()` in the client would initialise CUDA and, by
JAX's default, preallocate most of every GPU's memory in a process that computes nothing): `CUDA_VISIBLE_DEVICES`
when set, else the GPUs `nvidia-smi -L` lists.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import dask.config
import dask_jobqueue
import distributed
import yaml
from distributed.comm import get_address_host_port
from distributed.core import Status
from distributed.deploy.utils import nprocesses_nthreads
from distributed.system import MEMORY_LIMIT

from protein.errors import ProteinError, SearchError
from protein.search.tools import find_binary, run_tool

logger = logging.getLogger(__name__)

KINDS = ("local", "scheduler", "slurm", "pbs")
JOBQUEUE_CLUSTERS = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}
NVIDIA_SMI_TIMEOUT_S = 20.0
# The workers log only errors: "event loop unresponsive" warnings come with every JAX compilation.
WORKER_LOG_LEVEL = logging.ERROR
_GPU_RESOURCE = "GPU"
_PROBE_INTERVAL_S = 0.2
_GPU_ARGUMENT = re.compile(r"--resources[= ]['\"]?\S*\bGPU=")


class ClusterError(ProteinError):
    """A Dask cluster cannot be started or reached (no scheduler at the address, a missing or incomplete
    jobqueue config section, no `sbatch`/`qsub`, a worker that fails to start)."""


@dataclass
class Cluster:
    """A Dask client and the cluster it talks to; a context manager that closes both.

    Attributes:
      client: the client the batch submits to.
      cluster: the LocalCluster, SLURMCluster or PBSCluster we started (and close), or None for a scheduler
        someone else runs.
      kind: "local", "scheduler", "slurm" or "pbs".
    """

    client: distributed.Client
    cluster: object | None
    kind: str

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler's dashboard, or None when it runs none (its plots need bokeh, which is not a dependency)."""
        if "dashboard" not in self.client.scheduler_info(n_workers=0)["services"]:
            return None
        return self.client.dashboard_link

    def gpu_workers(self) -> bool:
        """Whether any worker declares a GPU resource: a connected worker, or, for a SLURM/PBS cluster whose jobs
        may still be queued, the worker command of its job script (`--resources GPU=1`)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        if any(worker["resources"].get(_GPU_RESOURCE, 0) > 0 for worker in workers):
            return True
        if isinstance(self.cluster, dask_jobqueue.JobQueueCluster):
            return _GPU_ARGUMENT.search(self.cluster.job_script()) is not None
        return False

    def close(self) -> None:
        """Closes the client, then the cluster if we started it (a SLURM/PBS cluster cancels its jobs)."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def connect(cluster: str = "local", scheduler: str | None = None, workers: int | None = None,
            threads_per_worker: int | None = None, gpus: int | None = None, timeout_s: float = 10.0,
            jobqueue_config: str | None = None) -> Cluster:
    """Starts or reaches a Dask cluster and returns its client (see the module docstring for the kinds).

    Args:
      cluster: "local", "scheduler" (needs `scheduler`), "slurm" or "pbs".
      scheduler: address of a running scheduler, e.g. "tcp://host:8786"; implies cluster="scheduler".
      workers: local worker processes (default: Dask's split of this machine's CPUs), or SLURM/PBS jobs (default
        1), each one worker.
      threads_per_worker: threads of each local worker (default: the CPUs divided between the workers).
      gpus: local workers that get one GPU each (default: the GPUs found; 0 for none).
      timeout_s: how long to wait for a scheduler at `scheduler` to answer.
      jobqueue_config: the Dask config section under `jobqueue` for SLURM/PBS (default: "slurm" / "pbs").

    Raises:
      ClusterError: the options do not fit the kind, no scheduler answers at `scheduler`, the jobqueue config is
        missing or incomplete, `sbatch`/`qsub` is not on PATH, or a local worker fails to start.
    """
    if scheduler is not None and cluster == "local":
        cluster = "scheduler"
    if cluster not in KINDS:
        raise ClusterError(f"unknown cluster {cluster!r}; expected one of {', '.join(KINDS)}")
    _check_options(cluster, scheduler=scheduler, workers=workers, threads_per_worker=threads_per_worker, gpus=gpus,
                   jobqueue_config=jobqueue_config)
    if cluster == "scheduler":
        return _connect_scheduler(scheduler, timeout_s)
    if cluster == "local":
        return _start_local(workers, threads_per_worker, gpus)
    return _start_jobqueue(cluster, workers, jobqueue_config)


def job_script(cluster: str = "slurm", jobqueue_config: str | None = None) -> str:
    """The job script `connect(cluster, jobqueue_config=...)` would submit for each worker, rendered from the Dask
    config without submitting anything (the scheduler address in it is a placeholder's or a short-lived one's)."""
    if cluster not in JOBQUEUE_CLUSTERS:
        raise ClusterError(f"cluster {cluster!r} has no job script; expected one of {', '.join(JOBQUEUE_CLUSTERS)}")
    with _jobqueue_cluster(cluster, jobqueue_config) as jobqueue_cluster:
        return jobqueue_cluster.job_script()


def local_gpus() -> list[str]:
    """The GPUs this machine offers its processes, as CUDA device ids: `CUDA_VISIBLE_DEVICES` when set (empty or
    "-1" hides them all), else the indices of the GPUs `nvidia-smi -L` lists; none without an NVIDIA driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = []
        for device in visible.split(","):
            if device.strip() in ("", "-1"):  # CUDA ignores this entry and every one after it
                break
            devices.append(device.strip())
        return devices
    if find_binary("nvidia-smi") is None:
        return []
    try:
        listing = run_tool(["nvidia-smi", "-L"], timeout_s=NVIDIA_SMI_TIMEOUT_S).stdout
    except SearchError as error:  # a driver that does not answer: no usable GPU
        logger.warning("nvidia-smi failed, using no GPU: %s", error)
        return []
    return [str(index) for index, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]


# -- the kinds --------------------------------------------------------------------------------------------------


_OPTIONS_OF_KIND = {
    "local": {"workers", "threads_per_worker", "gpus"},
    "scheduler": {"scheduler"},
    "slurm": {"workers", "jobqueue_config"},
    "pbs": {"workers", "jobqueue_config"},
}


def _check_options(kind: str, **options: object) -> None:
    """Refuses options that the kind would ignore, and counts that cannot be."""
    ignored = sorted(name for name, value in options.items()
                     if value is not None and name not in _OPTIONS_OF_KIND[kind])
    if ignored:
        raise ClusterError(f"cluster={kind!r} does not take {', '.join(ignored)} "
                           f"(it takes {', '.join(sorted(_OPTIONS_OF_KIND[kind])) or 'no options'})")
    if kind == "scheduler" and options["scheduler"] is None:
        raise ClusterError("cluster='scheduler' needs the scheduler's address, e.g. scheduler='tcp://host:8786'")
    for name, least in (("workers", 1), ("threads_per_worker", 1), ("gpus", 0)):
        value = options[name]
        if value is not None and (not isinstance(value, int) or value < least):
            raise ClusterError(f"{name} must be an integer >= {least}, got {value!r}")


def _connect_scheduler(address: str, timeout_s: float) -> Cluster:
    logger.info("connecting to the Dask scheduler at %s", address)
    deadline = time.monotonic() + timeout_s
    _wait_for_listener(address, timeout_s)
    try:
        client = distributed.Client(address, timeout=max(1.0, deadline - time.monotonic()))
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"no Dask scheduler answered at {address} within {timeout_s:g} s: {error}") from error
    return Cluster(client=client, cluster=None, kind="scheduler")


def _wait_for_listener(address: str, timeout_s: float) -> None:
    """Waits until something accepts TCP connections at the address (retrying, as a scheduler may be starting).

    Checked before `distributed.Client` is made because a Client that fails to connect leaves its event loop
    thread running (distributed 2026.8: its close() does nothing once the failed start has marked it closed).
    """
    try:
        host, port = get_address_host_port(address)
    except ValueError as error:
        raise ClusterError(f"{address!r} is not a scheduler address (e.g. tcp://host:8786): {error}") from error
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())):
                return
        except OSError as error:
            if time.monotonic() + _PROBE_INTERVAL_S >= deadline:
                raise ClusterError(f"no Dask scheduler answered at {address} within {timeout_s:g} s: "
                                   f"{error}") from error
        time.sleep(_PROBE_INTERVAL_S)


def _start_local(workers: int | None, threads_per_worker: int | None, gpus: int | None) -> Cluster:
    devices = local_gpus() if gpus is None else _devices_for(gpus)
    if workers is not None and len(devices) > workers:
        raise ClusterError(f"{len(devices)} GPU workers need at least as many workers, got workers={workers}; "
                           f"pass workers={len(devices)} or more, or gpus={workers} or fewer")
    cpus = len(os.sched_getaffinity(0))
    if workers is None and threads_per_worker is None:
        workers, threads_per_worker = nprocesses_nthreads(cpus)
        if len(devices) > workers:  # at least one worker per GPU
            workers, threads_per_worker = len(devices), max(1, cpus // len(devices))
    elif workers is None:
        workers = max(1, cpus // threads_per_worker, len(devices))
    elif threads_per_worker is None:
        threads_per_worker = max(1, cpus // workers)
    memory_per_worker = MEMORY_LIMIT // workers
    logger.info("starting a local Dask cluster: %d worker processes x %d threads, %.1f GiB each, %d with a GPU",
                workers, threads_per_worker, memory_per_worker / 2**30, len(devices))
    local_cluster = distributed.LocalCluster(n_workers=0, threads_per_worker=threads_per_worker, processes=True,
                                             memory_limit=memory_per_worker, dashboard_address=":0",
                                             silence_logs=WORKER_LOG_LEVEL)
    try:
        # One spec per worker, so that each GPU worker gets its own device (dask-cuda's LocalCUDACluster does the
        # same): LocalCluster alone gives all workers the same options.
        for index in range(workers):
            spec = {"cls": local_cluster.new_spec["cls"], "options": dict(local_cluster.new_spec["options"])}
            if devices:
                spec["options"]["env"] = {"CUDA_VISIBLE_DEVICES": devices[index] if index < len(devices) else ""}
            if index < len(devices):
                spec["options"]["resources"] = {_GPU_RESOURCE: 1}
            local_cluster.worker_spec[index] = spec
        local_cluster.sync(local_cluster._correct_state)
        client = distributed.Client(local_cluster)
    except Exception as error:
        local_cluster.close()
        raise ClusterError(f"the local Dask cluster did not start: {error}") from error
    return Cluster(client=client, cluster=local_cluster, kind="local")


def _devices_for(gpus: int) -> list[str]:
    """`gpus` device ids: the first visible ones, or 0..gpus-1 when fewer are found (the caller knows better)."""
    found = local_gpus()
    return found[:gpus] if len(found) >= gpus else [str(index) for index in range(gpus)]


def _start_jobqueue(kind: str, workers: int | None, config_name: str | None) -> Cluster:
    submit = JOBQUEUE_CLUSTERS[kind].job_cls.submit_command
    if shutil.which(submit) is None:
        raise ClusterError(f"cluster={kind!r} submits its workers with {submit!r}, which is not on PATH: run on a "
                           f"machine that can submit {kind.upper()} jobs (a login node), or load its module")
    jobqueue_cluster = _jobqueue_cluster(kind, config_name)
    jobs = 1 if workers is None else workers
    try:
        # What cluster.scale(jobs=...) does, but submitting the jobs before returning (not waiting for them to
        # start), so that a job the scheduler rejects (an unknown partition, too much memory) fails here with
        # sbatch's or qsub's message, rather than in a log while the batch waits for workers that never come.
        while len(jobqueue_cluster.worker_spec) < jobs:
            jobqueue_cluster.worker_spec.update(jobqueue_cluster.new_worker_spec())
        jobqueue_cluster.sync(jobqueue_cluster._correct_state)
    except Exception as error:
        # A job whose submission failed stays "created", and SpecCluster.close asserts that every job it made has
        # closed or failed: it failed.
        for job in jobqueue_cluster.workers.values():
            if job.status == Status.created:
                job.status = Status.failed
        jobqueue_cluster.close()
        raise ClusterError(f"{kind.upper()} did not accept the worker job of jobqueue.{config_name or kind}: "
                           f"{error}") from error
    client = distributed.Client(jobqueue_cluster)
    logger.info("asked %s for %d worker job(s) (config jobqueue.%s); work waits until they start",
                kind.upper(), jobs, config_name or kind)
    return Cluster(client=client, cluster=jobqueue_cluster, kind=kind)


def _jobqueue_cluster(kind: str, config_name: str | None) -> dask_jobqueue.JobQueueCluster:
    """The SLURMCluster or PBSCluster of the config section `jobqueue.<config_name>`, with no jobs yet."""
    name = config_name or kind
    if dask.config.get(f"jobqueue.{name}", None) is None:
        sections = ", ".join(sorted(dask.config.get("jobqueue", {})))
        raise ClusterError(f"no Dask config section jobqueue.{name} for cluster={kind!r} (sections: {sections}); "
                           f"Dask reads ~/.config/dask/*.yaml and $DASK_CONFIG, see pipelines/jobqueue.example.yaml")
    # Keys the section leaves out take dask-jobqueue's defaults, which it reads without a fallback: a named
    # section has none of its own, nor has one set whole by dask.config.set.
    dask.config.update(dask.config.config, {"jobqueue": {name: _jobqueue_defaults(kind)}}, priority="old")
    scheduler_options = {"dashboard_address": ":0", **(dask.config.get(f"jobqueue.{name}.scheduler-options") or {})}
    try:
        return JOBQUEUE_CLUSTERS[kind](config_name=name, scheduler_options=scheduler_options,
                                       silence_logs=WORKER_LOG_LEVEL)
    except (ValueError, TypeError) as error:  # dask-jobqueue's word for a missing or wrong key
        raise ClusterError(f"Dask config section jobqueue.{name} does not describe a {kind.upper()} job: "
                           f"{error}") from error


def _jobqueue_defaults(kind: str) -> dict:
    """dask-jobqueue's own defaults for one scheduler (its jobqueue.yaml), which a named section builds on."""
    defaults_file = Path(dask_jobqueue.__file__).parent / "jobqueue.yaml"
    return yaml.safe_load(defaults_file.read_text())["jobqueue"][kind]
