"""A batch: many sequences from FASTA to ranked structures, as one Dask graph on a cluster.

    import pipelines
    batch = pipelines.submit("input.fasta", "results/", db_config="data/demo_databases.toml", db_preset="demo",
                             models=["tiny"], random_params_seed=0)
    batch.progress          # {"done": 3, "pending": 9, ...}: the call returned at once; the work goes on
    batch.wait()            # or keep working in the notebook
    batch.targets           # one TargetStatus per input record, in input order
    batch.errors            # the records that failed, each with its message

Per record the graph is: validate -> deduplicate (records with the same sequence share one job) -> search (one
task per database, the template search after the alignment its profile comes from) -> features -> model runs
(each model x seed; `resources={"GPU": 1}` when the cluster's workers declare GPUs) -> rank and write the
target's folder. Dask schedules it: futures, its retries (`retries=1` for the searches, features and writes;
tasks of a worker that died are rerun by Dask itself) and its resources. The client only reads the input,
submits a bounded number of jobs ahead (`max_in_flight`, so a FASTA larger than memory streams through), and
records the results: `results/manifest.json` and `results/summary.csv` (`pipelines.manifest`).

A target's folder is written whole or not at all (`pipelines.tasks.replace_folder`); its `result.json` holds
the hash of everything its result depends on (sequence, alignments or the databases searched, models,
settings), so a rerun of the same batch skips every finished target (status `resumed`) and a rerun with other
settings redoes them. Stages can run apart: `msa_only=True` searches and writes `<id>/msas/` only;
`use_precomputed_msas=True` later predicts from those folders without searching.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed

from pipelines import manifest, tasks
from pipelines.placement import Affinity
from pipelines.manifest import TargetStatus
from pipelines.tasks import ModelSettings
from protein.errors import InputError, ProteinError
from protein.io import FastaRecord, iter_fasta
from protein.io.fasta import RecordError
from protein.prediction import RESULT_FILE, safe_name
from protein.predictor import DEFAULT_MODELS, length_bucket

logger = logging.getLogger(__name__)

WORK_DIR = ".work"
LOCK_FILE = ".batch.lock"
_MANIFEST_INTERVAL_S = 2.0


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    """Everything a batch is asked to do besides its sequences and its cluster.

    db_config/db_preset: the databases to search (`protein.search.databases`); without them, and without
    `use_precomputed_msas`, targets run in single-sequence mode (and their outputs say so). mmcif_dir: the
    template structures (default: the preset's mmcif database). max_length: longer sequences are skipped.
    cache_dir: the search cache (default: the user cache; None disables it only through `no_cache`).
    shards: each FASTA database cut into this many shards, each searched as a Dask task of its own on any worker
    (`pipelines.tasks.ShardTasks`), so that one search spans the cluster (default: a search runs whole, on its
    worker's threads); the hits do not depend on it.
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    num_seeds: int = 1
    num_recycle: int | None = None
    params_dir: str | None = None
    random_params_seed: int | None = None
    early_stop_tolerance: float | None = None
    db_config: str | None = None
    db_preset: str = "full_dbs"
    db_root: str | None = None
    shards: int | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    mmcif_dir: str | None = None
    max_template_date: str | None = None
    obsolete_pdbs: str | None = None
    msa_only: bool = False
    use_precomputed_msas: bool = False
    max_length: int | None = None
    plots: bool = True
    shapes: str = "buckets"  # or the benchmarks' baselines "exact" and "alphafold2" (pipelines.tasks.ModelSettings)
    compile_cache: str | None = None  # compiled programs kept there for every worker and later batches

    def __post_init__(self) -> None:
        from protein.model.config import PRESETS

        unknown = [model for model in self.models if model not in PRESETS]
        if unknown:
            raise InputError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(PRESETS)}")
        if not self.models:
            raise InputError("no models to run")
        if self.msa_only and self.use_precomputed_msas:
            raise InputError("msa_only and use_precomputed_msas exclude each other: the first only searches, the "
                             "second only predicts")
        if self.msa_only and self.db_config is None:
            raise InputError("msa_only needs db_config, the databases to search")
        for name in ("num_seeds", "max_length", "shards"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if self.num_recycle is not None and self.num_recycle < 0:
            raise InputError(f"num_recycle must be >= 0, got {self.num_recycle}")
        self.model_settings  # checks `shapes`

    @property
    def model_settings(self) -> ModelSettings:
        return ModelSettings(self.models, self.num_seeds, self.num_recycle, self.params_dir,
                             self.random_params_seed, self.early_stop_tolerance, self.shapes, self.compile_cache)


def submit(
    sequences: str | os.PathLike | Iterable[str | FastaRecord | tuple[str, str]] | Mapping[str, str],
    output_dir: str | os.PathLike,
    *,
    client: Client | None = None,
    cluster: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    jobqueue_config: str | None = None,
    max_in_flight: int | None = None,
    **settings: Any,
) -> Batch:
    """Starts a batch and returns its handle at once (the work runs in the background; `Batch.wait`).

    sequences: a FASTA file (streamed), FASTA text, or sequences: strings (ids seq_1, seq_2, ...), (id, sequence)
      pairs, FastaRecords, or a mapping of id to sequence.
    client: a Dask client to run on; else `cluster` ('local', 'slurm', 'pbs') or `scheduler` (an address) make
      one (`pipelines.cluster.connect`, with `workers` and, for SLURM/PBS, the Dask config section
      `jobqueue_config`), closed when the batch ends.
    max_in_flight: jobs submitted ahead of the results (default: 4 per worker thread, at least 16).
    settings: `BatchSettings` fields (models, num_recycle, db_config, db_preset, msa_only, max_length, ...).

    Raises:
      InputError: a bad setting, an unreadable database configuration, an output folder that is not writable or
        that another running batch writes into.
      ClusterError: the cluster could not be started or reached.
    """
    batch_settings = BatchSettings(**_tuples(settings))
    output_dir = tasks.check_writable(output_dir)
    search_plan, mmcif_dir, fingerprint = _search_setup(batch_settings)
    lock = _lock_folder(output_dir)
    owned = None
    try:
        if client is None:
            from pipelines.cluster import connect

            owned = connect(cluster=cluster, scheduler=scheduler, workers=workers, jobqueue_config=jobqueue_config)
            client = owned.client
        batch = Batch(client, output_dir, _records(sequences), batch_settings, search_plan, mmcif_dir, fingerprint,
                      max_in_flight, owned, lock)
    except BaseException:
        if owned is not None:
            owned.close()
        lock.close()
        raise
    batch.start()
    return batch


class Batch:
    """A running batch (see the module docstring); made by `submit`."""

    def __init__(self, client: Client, output_dir: Path, records: Iterator[FastaRecord | RecordError],
                 settings: BatchSettings, search_plan, mmcif_dir: str | None, fingerprint: str,
                 max_in_flight: int | None = None, cluster=None, lock=None):
        self.client = client
        self.output_dir = Path(output_dir)
        self.settings = settings
        self.cluster = cluster
        self._records = records
        self._plan = search_plan
        self._mmcif_dir = mmcif_dir
        self._fingerprint = fingerprint
        threads = sum(worker["nthreads"] for worker in client.scheduler_info()["workers"].values()) or 1
        self.max_in_flight = max_in_flight or max(16, 4 * threads)
        # GPU workers, when the cluster has them, run the models (a SLURM cluster knows before its jobs start)
        self.gpu = cluster.gpu_workers() if cluster is not None else any(
            worker.get("resources", {}).get("GPU") for worker in client.scheduler_info()["workers"].values())
        self.targets: list[TargetStatus] = []
        self.submitted: Counter[str] = Counter()  # tasks by stage (search, features, model, write, copy)
        self.started = time.time()
        self.finished = False
        self.exception: BaseException | None = None
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._drive, name="protein-batch", daemon=True)
        self._token = uuid.uuid4().hex[:8]
        self._manifest_written = 0.0
        self._lock_file = lock  # the output folder's lock (`_lock_folder`), held until the batch ends
        self._affinity = Affinity()
        self._register_plugin()

    # -- the handle ---------------------------------------------------------------------------------------------

    @property
    def dashboard_link(self) -> str | None:
        return self.cluster.dashboard_link if self.cluster is not None else self.client.dashboard_link

    @property
    def progress(self) -> dict[str, int]:
        """Records read so far by status, and `total` (final once the input is read: `finished` or `reading`)."""
        with self._lock:
            counts = {status: 0 for status in manifest.STATUSES}
            for target in self.targets:
                counts[target.status] += 1
            counts["total"] = len(self.targets)
        return counts

    @property
    def errors(self) -> list[TargetStatus]:
        with self._lock:
            return [target for target in self.targets if target.status == "error"]

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the batch has ended (True) or `timeout` seconds passed (False)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> list[TargetStatus]:
        """Every record's status once the batch has ended; raises what stopped the batch itself, if anything."""
        if not self.wait(timeout):
            raise TimeoutError(f"the batch into {self.output_dir} is still running after {timeout} s")
        if self.exception is not None:
            raise self.exception
        return list(self.targets)

    def cancel(self) -> None:
        """Stops submitting work and cancels what is queued; finished targets stay written."""
        self._cancelled.set()

    def close(self) -> None:
        """Cancels what is left and closes the cluster this batch started (not a client it was given)."""
        self.cancel()
        self.wait()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        counts = {key: value for key, value in self.progress.items() if value}
        state = "finished" if self.finished else "running"
        return f"<Batch {self.output_dir} {state} {counts}>"

    def start(self) -> None:
        self._thread.start()

    # -- the driver ---------------------------------------------------------------------------------------------

    def _register_plugin(self) -> None:
        """The workers' model cache; registered once per cluster (registering again would drop what the workers
        of an earlier batch on this cluster have compiled). Workers that join later get it from the scheduler."""
        present = self.client.run(_has_model_cache)
        if not present or not all(present.values()):
            self.client.register_plugin(tasks.ModelCache(), name=tasks.PLUGIN_NAME)

    def _drive(self) -> None:
        try:
            shutil.rmtree(self.output_dir / tasks.STAGING_DIR, ignore_errors=True)  # a killed run's leftovers
            pending: dict[Future, _Job | TargetStatus] = {}
            jobs: dict[str, _Job] = {}  # by sequence hash
            names: set[str] = set()
            completions = as_completed()
            for index, item in enumerate(self._records):
                if self._cancelled.is_set():
                    break
                target = self._admit(index, item, names)
                if target is not None:
                    self._schedule(target, item, jobs, pending, completions)
                while len(pending) >= self.max_in_flight and not self._cancelled.is_set():
                    self._collect(next(completions), pending, completions)
                self._maybe_write_manifest()
            while pending and not self._cancelled.is_set():
                self._collect(next(completions), pending, completions)
            if self._cancelled.is_set():
                self.client.cancel(list(pending))
        except BaseException as error:  # reported by `result`; the targets keep what they reached
            logger.exception("batch into %s stopped", self.output_dir)
            self.exception = error
        finally:
            self.finished = True
            self._write_manifest()
            # what tasks of workers that died had staged (no task of this batch writes there any more), and at a
            # normal end the work files of failed jobs (a rerun searches again, mostly from the cache)
            shutil.rmtree(self.output_dir / tasks.STAGING_DIR, ignore_errors=True)
            if self.exception is None and not self._cancelled.is_set():
                shutil.rmtree(self.output_dir / WORK_DIR, ignore_errors=True)
            _remove_if_empty(self.output_dir / WORK_DIR)
            if self._lock_file is not None:
                self._lock_file.close()

    def _admit(self, index: int, item: FastaRecord | RecordError, names: set[str]) -> TargetStatus | None:
        """The record's status entry; None when it is already finished (bad, too long, duplicate id, resumed)."""
        if isinstance(item, RecordError):
            self._add(TargetStatus(index, item.record_id or f"record {index + 1}", status="error", error=str(item)))
            return None
        name = safe_name(item.id)
        target = TargetStatus(index, item.id, length=len(item.sequence), name=name)
        if name in names:
            target.status, target.error = "error", f"record {item.id!r}: duplicate record id (ids must be unique)"
            target.name = None
        elif self.settings.max_length is not None and len(item.sequence) > self.settings.max_length:
            target.status = "skipped"
            target.error = f"{len(item.sequence)} residues, over max_length {self.settings.max_length}"
            names.add(name)
        else:
            names.add(name)
            try:
                target.input_key = self._input_key(item.sequence, name)
            except InputError as error:
                target.status, target.error = "error", f"record {item.id!r}: {error}"
            else:
                if self._finished_before(name, target.input_key):
                    target.status = "resumed"
                    self._read_summary(target)
        self._add(target)
        return None if target.finished else target

    def _add(self, target: TargetStatus) -> None:
        with self._lock:
            self.targets.append(target)
        if target.status == "error":
            logger.warning("%s", target.error)

    def _schedule(self, target: TargetStatus, record: FastaRecord, jobs: dict[str, _Job],
                  pending: dict, completions: as_completed) -> None:
        job_id = hashlib.sha256(record.sequence.encode()).hexdigest()[:16]
        job = jobs.get(job_id)
        if job is not None:  # the same sequence as an earlier record: shares its job
            target.duplicate_of = job.primary.id
            if job.done and job.primary.status == "error":
                with self._lock:
                    target.status = "error"
                    target.error = f"record {target.id!r} (same sequence as {job.primary.id!r}): {job.primary.error}"
            elif job.done:
                self._copy(job, target, pending, completions)
            else:
                job.duplicates.append(target)
            return
        job = jobs[job_id] = _Job(job_id, target)
        future = self._submit_job(job, record)
        pending[future] = job
        completions.add(future)

    def _submit_job(self, job: _Job, record: FastaRecord) -> Future:
        """The job's graph: its searches, features, model runs and writing; returns the last task's future."""
        settings, name = self.settings, job.primary.name
        work_dir = self.output_dir / WORK_DIR / job.id
        searches: list[Future] = []
        if settings.use_precomputed_msas:
            msa_files = [str(path) for path in _precomputed_files(self.output_dir / name)]
        elif self._plan is not None:
            by_file: dict[str, Future] = {}
            cache_dir = None if settings.no_cache else (settings.cache_dir or str(_default_cache_dir()))
            for step in self._plan.searches:
                profile = by_file.get(self._plan.profile_file) if step.tool == "hmmsearch" else None
                by_file[step.file_name] = self._task(
                    "search", f"{step.name}-{name}", tasks.search, record, step, str(work_dir), profile,
                    settings.shards, cache_dir, settings.shards is not None, retries=1,
                )
            searches = list(by_file.values())
            msa_files = [str(work_dir / "msas" / step.file_name) for step in self._plan.searches]
        else:
            msa_files = []
        if settings.msa_only:
            return self._task("write", name, tasks.write_msas, str(self.output_dir), name, msa_files, searches,
                              job.primary.input_key, str(work_dir), retries=1)
        features = self._task(
            "features", name, tasks.features, record.id, record.sequence, msa_files, str(work_dir / "features.npz"),
            self._mmcif_dir, settings.max_template_date, settings.obsolete_pdbs, searches, retries=1,
        )
        workers = [address for address, worker in self.client.scheduler_info()["workers"].items()
                   if not self.gpu or worker.get("resources", {}).get("GPU")]
        predictions = [self._model_task(features, record, model, seed, run_name, name, workers)
                       for model, seed, run_name in settings.model_settings.runs()]
        return self._task("write", name, tasks.write, str(self.output_dir), name, predictions, features, msa_files,
                          searches, job.primary.input_key, settings.plots, str(work_dir), retries=1)

    def _model_task(self, features: Future, record: FastaRecord, model: str, seed: int, run_name: str,
                    name: str, workers: list[str]) -> Future:
        """One model run, on a GPU worker when the cluster has them (`workers`: those that may run models),
        preferably one that has compiled the model for this padded length already
        (`pipelines.placement.Affinity`)."""
        length = len(record.sequence)
        shape = (model, length_bucket(length) if self.settings.shapes == "buckets" else length)
        worker = self._affinity.choose(shape, workers)
        placement = {"workers": [worker], "allow_other_workers": True} if worker is not None else {}
        future = self._task("model", f"{run_name}-{name}", tasks.run_model, features, record.id, record.sequence,
                            model, seed, run_name, self.settings.model_settings,
                            resources={"GPU": 1} if self.gpu else None, **placement)
        if worker is not None:
            future.add_done_callback(lambda _: self._affinity.release(worker))
        return future

    def _task(self, stage: str, label: str, function, *args, **options) -> Future:
        """Submits one task, keyed `<stage>-<label>-<batch token>` (readable on the dashboard, unique per run)."""
        self.submitted[stage] += 1
        return self.client.submit(function, *args, key=f"{stage}-{label}-{self._token}", **options)

    def _copy(self, job: _Job, target: TargetStatus, pending: dict, completions: as_completed) -> None:
        future = self._task("copy", target.name, tasks.copy_target, str(self.output_dir), job.primary.name,
                            target.name, target.id, target.input_key, self.settings.msa_only, retries=1)
        pending[future] = (target, job)
        completions.add(future)

    def _collect(self, future: Future, pending: dict, completions: as_completed) -> None:
        owner = pending.pop(future)  # a job, or (a duplicate, its job) for a copy
        primary = owner.primary if isinstance(owner, _Job) else owner[0]
        error = _failure(future)
        with self._lock:
            if error is not None:
                primary.status, primary.error = "error", f"record {primary.id!r}: {error}"
            elif isinstance(owner, _Job):
                summary = future.result()
                primary.status = "msas" if self.settings.msa_only else "done"
                self._apply(primary, summary)
            else:  # a duplicate's copy
                source = owner[1].primary
                primary.status = source.status
                for field in ("best_model", "mean_plddt", "ptm"):
                    setattr(primary, field, getattr(source, field))
                primary.timings = {"finished_after": time.time() - self.started}
        if error is not None:
            logger.warning("%s", primary.error)
        future.release()
        if isinstance(owner, _Job):
            owner.done = True
            for duplicate in owner.duplicates:
                if error is not None:
                    with self._lock:
                        duplicate.status = "error"
                        duplicate.error = f"record {duplicate.id!r} (same sequence as {primary.id!r}): {error}"
                else:
                    self._copy(owner, duplicate, pending, completions)
            owner.duplicates = []
        self._maybe_write_manifest()

    def _apply(self, target: TargetStatus, summary: Mapping[str, Any]) -> None:
        for field in ("best_model", "mean_plddt", "ptm"):
            if field in summary:
                setattr(target, field, None if summary[field] is None else summary[field])
        target.timings = {key: float(summary[key]) for key in ("search", "features", "model", "write")
                          if summary.get(key) is not None}
        target.timings["total"] = sum(target.timings.values())
        target.timings["finished_after"] = time.time() - self.started

    # -- resume -------------------------------------------------------------------------------------------------

    def _input_key(self, sequence: str, name: str) -> str:
        """A hash of everything the target's result depends on (see the module docstring)."""
        settings = dataclasses.asdict(self.settings)
        for run_only in ("shards", "cache_dir", "no_cache", "plots", "max_length", "db_root", "compile_cache"):
            settings.pop(run_only)
        if self.settings.msa_only:  # the alignments do not depend on the model settings
            settings = {key: settings[key] for key in ("db_config", "db_preset")}
        content = {"sequence": sequence, "settings": settings, "databases": self._fingerprint}
        if self.settings.use_precomputed_msas:
            files = _precomputed_files(self.output_dir / name)
            if not files:
                raise InputError(f"no precomputed alignments in {self.output_dir / name / 'msas'} (run with "
                                 "msa_only first, or without use_precomputed_msas)")
            content["alignments"] = {path.name: _file_sha256(path) for path in files}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _finished_before(self, name: str, key: str) -> bool:
        marker = self.output_dir / name / ("msas/" + tasks.SEARCH_RECORD if self.settings.msa_only else RESULT_FILE)
        try:
            return json.loads(marker.read_text()).get("input_key") == key
        except (OSError, ValueError, AttributeError):
            return False

    def _read_summary(self, target: TargetStatus) -> None:
        if self.settings.msa_only:
            return
        try:
            result = json.loads((self.output_dir / target.name / RESULT_FILE).read_text())
            best = result["models"][0]
            target.best_model, target.mean_plddt, target.ptm = best["model"], best["mean_plddt"], best["ptm"]
            target.duplicate_of = result.get("duplicate_of")
        except (OSError, ValueError, KeyError, IndexError):
            pass

    # -- the manifest -------------------------------------------------------------------------------------------

    def _maybe_write_manifest(self) -> None:
        if time.monotonic() - self._manifest_written >= _MANIFEST_INTERVAL_S:
            self._write_manifest()

    def _write_manifest(self) -> None:
        with self._lock:
            targets = [dataclasses.replace(target) for target in self.targets]
        settings = {**dataclasses.asdict(self.settings), "gpu_workers": self.gpu}
        manifest.write(self.output_dir, targets, settings, self.started, self.finished)
        self._manifest_written = time.monotonic()


@dataclasses.dataclass
class _Job:
    """One distinct sequence: its first record (whose folder the job writes) and later records with the same
    sequence (whose folders are copies)."""

    id: str
    primary: TargetStatus
    duplicates: list[TargetStatus] = dataclasses.field(default_factory=list)
    done: bool = False


def _lock_folder(output_dir: Path):
    """An open, exclusively locked `output_dir/.batch.lock` (released when closed, or when the process dies):
    two batches writing into one folder would remove each other's staged targets.

    Raises:
      InputError: another batch holds the lock, naming the process that wrote it.
    """
    handle = open(output_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise InputError(f"{output_dir}: another batch is writing into this folder ({holder}); wait for it to end, "
                         "or give another output folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    return handle


def _has_model_cache(dask_worker) -> bool:
    return tasks.PLUGIN_NAME in dask_worker.plugins


def _failure(future: Future) -> str | None:
    """The message of what made `future` (or a task it depended on) fail; None when it succeeded."""
    if future.status == "finished":
        return None
    if future.status == "cancelled":
        return "cancelled"
    error = future.exception()
    if isinstance(error, ProteinError):
        return str(error)
    if type(error).__name__ == "KilledWorker":
        return f"its workers died while running it, {error} (out of memory?)"
    return f"{type(error).__name__}: {error}"


def _records(sequences) -> Iterator[FastaRecord | RecordError]:
    """The input as records (or a RecordError for each bad one), streamed from a FASTA file."""
    if isinstance(sequences, os.PathLike) or isinstance(sequences, str) and not sequences.lstrip().startswith(">") \
            and ("/" in sequences or os.path.exists(sequences) or sequences.endswith((".fasta", ".fa", ".faa"))):
        path = Path(sequences)
        if not path.is_file():
            raise InputError(f"{path}: no such FASTA file")
        return iter_fasta(path)
    if isinstance(sequences, str):
        return iter_fasta(sequences.splitlines(), source="<sequences>")
    if isinstance(sequences, Mapping):
        sequences = list(sequences.items())
    return _records_of(sequences)


def _records_of(items: Iterable) -> Iterator[FastaRecord | RecordError]:
    for index, item in enumerate(items):
        if isinstance(item, FastaRecord):
            yield item
            continue
        record_id, sequence = item if isinstance(item, tuple) else (f"seq_{index + 1}", item)
        lines = [f">{record_id}", str(sequence)]
        yield from iter_fasta(lines, source="<sequences>")


def _tuples(settings: Mapping[str, Any]) -> dict[str, Any]:
    converted = dict(settings)
    if "models" in converted and converted["models"] is not None:
        converted["models"] = (converted["models"],) if isinstance(converted["models"], str) \
            else tuple(converted["models"])
    elif "models" in converted:
        del converted["models"]
    for key in ("db_config", "params_dir", "cache_dir", "mmcif_dir", "obsolete_pdbs", "db_root", "compile_cache"):
        if converted.get(key) is not None:
            converted[key] = str(converted[key])
    if converted.get("max_template_date") is not None:
        converted["max_template_date"] = str(converted["max_template_date"])
    return converted


def _search_setup(settings: BatchSettings):
    """(search plan or None, template structure folder or None, fingerprint of the searched databases)."""
    if settings.use_precomputed_msas or settings.db_config is None:
        return None, settings.mmcif_dir, ""
    from protein.search import pipeline
    from protein.search.cache import database_fingerprint
    from protein.search.databases import load_config

    config = load_config(settings.db_config, root=settings.db_root)
    search_plan = pipeline.plan(config, settings.db_preset)
    problems = pipeline.check(config, settings.db_preset)
    if problems:
        raise InputError(f"{settings.db_config} (preset {settings.db_preset}): "
                         + "; ".join(str(problem) for problem in problems))
    files = list(itertools.chain.from_iterable(step.files for step in search_plan.searches))
    mmcif_dir = settings.mmcif_dir or (str(search_plan.structures.path) if search_plan.structures else None)
    fingerprint = {"preset": settings.db_preset, "files": database_fingerprint(files), "mmcif_dir": mmcif_dir}
    return search_plan, mmcif_dir, json.dumps(fingerprint, sort_keys=True)


def _default_cache_dir() -> Path:
    from protein.search.cache import default_cache_dir

    return default_cache_dir()


def _precomputed_files(folder: Path) -> list[Path]:
    msas = folder / "msas"
    if not msas.is_dir():
        return []
    return sorted(path for path in msas.iterdir()
                  if path.is_file() and not path.name.startswith(".") and path.name != tasks.SEARCH_RECORD)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
