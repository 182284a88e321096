"""The tasks of a batch graph (`pipelines.batch`), run on Dask workers: one database search of one sequence, its
features, one model run, and the writing of a target's folder.

Tasks pass paths and small results; big arrays stay on disk in the batch's work folder (`.work/<job>/`), so a
task that is rerun after its worker died finds its inputs again. Every file is written atomically and a target's
folder appears whole: it is written in `.staging/` and renamed into place (`replace_folder`).

Per-worker state: `ModelCache`, a worker plugin, keeps each model's parameters and compiled programs (in a
`protein.predictor.Predictor`) for the life of the worker, so that a worker loads a model's parameters once
and compiles once per (model, length bucket, MSA depth bucket), whatever the number of targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import functools
import json
import logging
import os
import pickle
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker, rejoin, secede

from protein.errors import InputError
from protein.prediction import RESULT_FILE, Prediction, rank

logger = logging.getLogger(__name__)

PLUGIN_NAME = "protein-models"
SHAPES = ("buckets", "exact", "alphafold2")
STAGING_DIR = ".staging"
SEARCH_RECORD = "search.json"  # in a target's msas/ folder, written last by --msa-only runs


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """What decides a model run besides its inputs (part of each target's input key)."""

    models: tuple[str, ...]
    num_seeds: int = 1
    num_recycle: int | None = None
    params_dir: str | None = None
    random_params_seed: int | None = None
    early_stop_tolerance: float | None = None
    # "buckets": padded to the length ladder, MSA trimmed, no template modules without templates; "exact": each
    # target at its own length (compiled for each); "alphafold2": its own length and the preset's whole padding
    # (MSA rows, template slots), as AlphaFold2 runs. The last two are baselines for benchmarks.
    shapes: str = "buckets"
    # where compiled programs are kept for other workers and later runs (`protein.model.runner
    # .enable_compile_cache`); the results do not depend on it
    compile_cache: str | None = None

    def __post_init__(self) -> None:
        if self.shapes not in SHAPES:
            raise InputError(f"shapes must be one of {', '.join(SHAPES)}, got {self.shapes!r}")

    def runs(self) -> list[tuple[str, int, str]]:
        """(model, seed, name) of every run on a target; with one seed the name is the model's (AlphaFold2's
        file names), with several `<model>_seed_<seed>`."""
        return [(model, seed, model if self.num_seeds == 1 else f"{model}_seed_{seed}")
                for model in self.models for seed in range(self.num_seeds)]


_MODEL_RUN_LOCK = threading.Lock()  # one model run at a time in this process (`ModelCache.exclusive`)


class ModelCache(WorkerPlugin):
    """A worker's predictors, one per (models, parameters) setting, kept for the life of the worker, and the lock
    that lets one model run at a time in the worker process (`exclusive`)."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.predictors: dict[tuple, Any] = {}
        self.runs = 0

    def setup(self, worker) -> None:
        self.predictors = {}
        self.runs = 0
        dump_stacks_on_signal()

    @contextlib.contextmanager
    def exclusive(self):
        """One model run at a time in this process. A GPU worker runs one anyway (its `GPU=1` resource); a CPU
        worker with several threads would otherwise run several at once: XLA already spreads one run over the
        cores, the memory peaks add up, and two runs at once in one process have hung a worker for good (both
        threads stuck in model runs, while one at a time never has). A task that must wait leaves the
        worker's thread pool meanwhile (Dask's `secede`), so searches and features go on, and rejoins it once
        it holds the lock."""
        if _MODEL_RUN_LOCK.acquire(blocking=False):
            try:
                yield
            finally:
                _MODEL_RUN_LOCK.release()
            return
        seceded = _in_worker()
        if seceded:
            secede()
        with _MODEL_RUN_LOCK:
            if seceded:
                rejoin()
            yield

    def predictor(self, settings: ModelSettings):
        from protein.predictor import Predictor

        key = (settings.models, settings.params_dir, settings.random_params_seed)
        if key not in self.predictors:
            self.predictors[key] = Predictor(settings.models, settings.params_dir, settings.random_params_seed)
        return self.predictors[key]

    def stats(self) -> dict[str, int]:
        """Model runs and compiled programs on this worker (every predictor, every model)."""
        compiled = sum(len(runner._compiled) for predictor in self.predictors.values()
                       for runner in predictor._runners.values())
        return {"runs": self.runs, "compiled": compiled}


def dump_stacks_on_signal(signum: int = getattr(signal, "SIGUSR1", 0)) -> None:
    """`kill -USR1 PID` (or `scancel --signal=USR1 JOB`) then prints the Python stack of every thread of this
    process on its stderr (a worker's log), without stopping it: what a hung batch is waiting for."""
    if not signum or not hasattr(faulthandler, "register"):
        return
    for stream in (sys.stderr, sys.__stderr__):  # the first is a pipe-less object under pytest's capture
        try:
            faulthandler.register(signum, file=stream, all_threads=True)
            return
        except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both an OSError and a ValueError
            continue


_LOCAL_CACHE = ModelCache()  # tasks run outside a worker (tests calling them directly)


def model_cache() -> ModelCache:
    """This worker's `ModelCache` (registered by the batch), or the process's own outside a worker."""
    try:
        worker = get_worker()
    except ValueError:
        return _LOCAL_CACHE
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is None:  # registered by `pipelines.batch`; a worker that joined in between gets its own
        plugin = worker.plugins[PLUGIN_NAME] = ModelCache()
    return plugin


def worker_threads() -> int:
    """The threads of this task's worker (the CPUs a search may use), or this process's CPUs outside one."""
    from protein.search.pipeline import available_cpus

    try:
        return get_worker().state.nthreads
    except ValueError:
        return available_cpus()


# -- search ---------------------------------------------------------------------------------------------------


def search(record, step, work_dir: str, profile: Mapping[str, Any] | None,
           shards: int | None, cache_dir: str | None, shard_tasks: bool = False) -> dict[str, Any]:
    """One search step (`protein.search.pipeline.SearchStep`) of one record (`protein.io.FastaRecord`) into
    `work_dir/msas/`; `profile`: the result of the step whose alignment the template search builds its profile
    from. The database is cut into `shards` pieces, searched on this worker's threads, or with `shard_tasks`
    (and on a worker) each as a Dask task of its own on any worker (`ShardTasks`): one search spans the cluster."""
    from distributed import worker_client

    from protein.search.cache import SearchCache
    from protein.search.pipeline import search_step

    msa_dir = Path(work_dir) / "msas"
    msa_dir.mkdir(parents=True, exist_ok=True)
    final = msa_dir / step.file_name
    partial = msa_dir / f".{step.file_name}.{uuid.uuid4().hex[:8]}.partial"
    cache = SearchCache(cache_dir) if cache_dir is not None else None
    try:
        run = functools.partial(search_step, step, record, partial, None if profile is None else profile["path"],
                                shards=shards, cache=cache, cpus=worker_threads())
        if shard_tasks and _in_worker():
            # worker_client secedes this task from the worker's threads while its shard tasks run
            with worker_client() as client:
                result = run(map_tasks=ShardTasks(client, f"{step.name}-{record.id}"))
        else:
            result = run()
        os.chmod(partial, 0o644)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return {"file_name": step.file_name, "path": str(final), "num_hits": result.num_hits,
            "warnings": list(result.warnings), "cached": result.cached, "seconds": result.seconds}


class ShardTasks:
    """`map_tasks` for the HMMER searches (`protein.search.hmmer.MapTasks`): each call (one shard's search) a Dask
    task, results in order. The i-th shard of a database goes to the i-th CPU worker (round robin; GPU workers
    only when there is no other), loosely (`allow_other_workers`): every round and query then finds its shard in
    that worker's memory (`protein.search.shards.SHARD_CACHE`), and each worker reads only its part of the
    database."""

    def __init__(self, client, label: str):
        self.client = client
        self.label = safe_key(label)
        workers = client.scheduler_info()["workers"]
        cpu_workers = [address for address, info in workers.items() if not info.get("resources", {}).get("GPU")]
        self.workers = sorted(cpu_workers or workers)
        self.calls = 0

    def __call__(self, function, *iterables) -> list:
        from pyhmmer import plan7

        from protein.search.shards import profile_bytes

        futures = []
        sent: dict[int, bytes] = {}  # the round's profile, written once
        for position, args in enumerate(zip(*iterables)):
            args = tuple(sent.setdefault(id(arg), profile_bytes(arg)) if isinstance(arg, plan7.HMM) else arg
                         for arg in args)
            placement = {"workers": [self.workers[position % len(self.workers)]],
                         "allow_other_workers": True} if self.workers else {}
            futures.append(self.client.submit(_pickled_result, function, *args,
                                              key=f"shard-{self.label}-{self.calls}-{position}-"
                                              f"{uuid.uuid4().hex[:8]}", **placement))
        self.calls += 1
        return [pickle.loads(result) for result in self.client.gather(futures)]


def _pickled_result(function, *args) -> bytes:
    """`function(*args)`, pickled here. Dask would pickle a pyhmmer result itself, but switches to cloudpickle
    (which cannot pickle pyhmmer's objects) whenever the pickle holds the text `__main__`, as a profile built in
    a program started with `python -m` does in its command line."""
    return pickle.dumps(function(*args), protocol=pickle.HIGHEST_PROTOCOL)


def safe_key(text: str) -> str:
    """`text` fit for a Dask key (readable on the dashboard): no brackets, quotes or spaces."""
    return "".join(char if char.isalnum() or char in "._-|" else "_" for char in text)[:80]


def _in_worker() -> bool:
    try:
        get_worker()
    except ValueError:
        return False
    return True


# -- features -------------------------------------------------------------------------------------------------


def features(record_id: str, sequence: str, msa_files: Sequence[str], out_path: str,
             mmcif_dir: str | None, max_template_date: str | None, obsolete_pdbs: str | None,
             searches: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """AlphaFold2's raw features of a sequence from its alignment files (and template hits among them, with
    `mmcif_dir`), saved to `out_path` (npz). `searches`: the results of the searches that wrote the files
    (only waited for: their warnings join the notes)."""
    from protein import predictor as predict_lib
    from protein.features.store import save_features

    start = time.perf_counter()
    target = predict_lib.Target(record_id, sequence)
    hits = predict_lib.attach_alignment_files(target, msa_files)
    featurizer = None
    if hits is not None and mmcif_dir is not None:
        target.template_hits = predict_lib.read_template_hits(hits, sequence)
        featurizer = predict_lib.template_featurizer(mmcif_dir, max_template_date,
                                                     predict_lib.template_searcher(hits), obsolete_pdbs)
    raw, notes = predict_lib.raw_features(target, featurizer)
    save_features(out_path, raw)
    notes += [warning for search in searches for warning in search["warnings"]]
    return {"path": out_path, "notes": notes, "single_sequence": not target.msas,
            "msa_depth": int(raw["msa"].shape[0]), "seconds": time.perf_counter() - start}


# -- model ----------------------------------------------------------------------------------------------------


def run_model(features_result: Mapping[str, Any], record_id: str, sequence: str, model: str, seed: int,
              name: str, settings: ModelSettings) -> Prediction:
    """One model run on a target (padded to its length bucket unless `settings.shapes` says otherwise), on this worker's
    cached predictor; the prediction's timings include the run's `compile` seconds (0 when cached)."""
    from protein.features.store import load_features

    if settings.compile_cache is not None:
        from protein.model.runner import enable_compile_cache

        enable_compile_cache(settings.compile_cache)
    cache = model_cache()
    raw = load_features(features_result["path"])
    with cache.exclusive():
        predictor = cache.predictor(settings)
        prediction = predictor.predict_model(
            model, raw, record_id, sequence, seed, settings.num_recycle, settings.early_stop_tolerance,
            num_res_padded=None if settings.shapes == "buckets" else len(sequence),
            single_sequence=features_result["single_sequence"], name=name, trim=settings.shapes != "alphafold2",
        )
        cache.runs += 1
    return prediction


def model_stats(dask_worker=None) -> dict[str, int]:
    """A worker's model runs and compiled programs: `client.run(model_stats)` (Dask passes `dask_worker`)."""
    if dask_worker is None:
        return model_cache().stats()
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    return plugin.stats() if plugin is not None else {"runs": 0, "compiled": 0}


# -- outputs --------------------------------------------------------------------------------------------------


def write(output_dir: str, name: str, predictions: Sequence[Prediction], features_result: Mapping[str, Any],
          msa_files: Sequence[str], searches: Sequence[Mapping[str, Any]], input_key: str, plots: bool = True,
          work_dir: str | None = None) -> dict[str, Any]:
    """Ranks a target's predictions and writes its folder `output_dir/name` whole (staged, then renamed into
    place), with its alignments in msas/; removes the job's `work_dir`. `searches`: the results of the searches
    that made the alignments. Returns the target's summary (best model, scores, seconds per stage)."""
    from protein.features.store import load_features
    from protein.prediction import write_target

    start = time.perf_counter()
    ranked = rank(list(predictions))
    staging = _staging_folder(output_dir, name)
    try:
        _copy_files(msa_files, staging / "msas")
        search_seconds = sum(search["seconds"] for search in searches)
        all_timings = {"search": search_seconds, "features": features_result["seconds"]}
        raw = load_features(features_result["path"])
        write_target(staging, ranked, raw, all_timings, notes=features_result["notes"],
                     extra={"input_key": input_key}, plots=plots)
        replace_folder(staging, Path(output_dir) / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if work_dir is not None:
        shutil.rmtree(work_dir, ignore_errors=True)
    best = ranked[0]
    return {"best_model": best.model_name, "mean_plddt": best.mean_plddt, "ptm": best.ptm,
            "search": search_seconds, "features": features_result["seconds"],
            "model": sum(sum(p.timings.values()) for p in ranked), "write": time.perf_counter() - start}


def write_msas(output_dir: str, name: str, msa_files: Sequence[str], searches: Sequence[Mapping[str, Any]],
               input_key: str, work_dir: str | None = None) -> dict[str, Any]:
    """`--msa-only`: the target's alignments into `output_dir/name/msas/` (replacing that folder whole), with
    `search.json` (what was searched, the input key) written last. Removes the job's `work_dir`."""
    from protein.atomic import write_atomic

    staging = _staging_folder(output_dir, name)
    try:
        _copy_files(msa_files, staging)
        record = {"input_key": input_key, "searches": [dict(search) for search in searches]}
        write_atomic(staging / SEARCH_RECORD, json.dumps(record, indent=1))
        replace_folder(staging, Path(output_dir) / name / "msas")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if work_dir is not None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return {}


def copy_target(output_dir: str, source: str, name: str, target_id: str, input_key: str,
                msas_only: bool = False) -> None:
    """A duplicate's folder: the folder of the earlier record with the same sequence, copied whole, with its own
    id and input key in result.json (or msas/search.json) and `duplicate_of` naming the earlier record."""
    from protein.atomic import write_atomic

    source_dir = Path(output_dir) / source
    staging = _staging_folder(output_dir, name)
    try:
        shutil.copytree(source_dir, staging, dirs_exist_ok=True,
                        ignore=None if not msas_only else shutil.ignore_patterns("*.pdb", "*.cif"))
        marker = staging / ("msas/" + SEARCH_RECORD if msas_only else RESULT_FILE)
        content = json.loads(marker.read_text())
        content.update({"input_key": input_key, "duplicate_of": content.get("target_id", source)})
        if not msas_only:
            content["target_id"] = target_id
        write_atomic(marker, json.dumps(content, indent=1))
        replace_folder(staging, Path(output_dir) / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_folder(output_dir: str, name: str) -> Path:
    staging = Path(output_dir) / STAGING_DIR / f"{name}.{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    return staging


def _copy_files(paths: Sequence[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copyfile(path, folder / Path(path).name)


def replace_folder(staged: Path, final: Path) -> None:
    """Moves the folder `staged` to `final`, replacing what is there, so that readers see the old folder or the
    new one whole (a rename; an old folder is first renamed aside, then removed)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = staged.parent / f".old.{final.name}.{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    try:
        os.replace(staged, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_writable(folder: str | os.PathLike) -> Path:
    """Creates `folder` if needed and checks a file can be written there.

    Raises:
      InputError: naming the folder, when it cannot be created or written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise InputError(f"output folder {folder} is not writable: {error.strerror or error}") from error
    return folder
