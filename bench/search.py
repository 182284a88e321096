"""jackhmmer in-process (pyhmmer) vs HMMER's `jackhmmer` binary at equal CPU count, and the sharded search on 1 vs 2
Dask workers, on the largest real sequence database in ../shared/data; printed as ratios and written to
bench/results/search.json.

Usage: python bench/search.py [--queries 3] [--iterations 1] [--cpus 1 2] [--shards 4] [--workers 1 2]
       [--repeats 5] [--limit-db N] [--output bench/results/search.json]

Database: the 20,000 UniProtKB sequences of MMseqs2's example database (`seqdb/mmseqs2_examples_DB.fasta.gz`,
9.06 M residues), decompressed into a scratch folder (a gzip file cannot be sharded), or its first `--limit-db`
records; queries: the first `--queries` of a fixed list from `mmseqs2_examples_QUERY.fasta.gz` (moderate lengths,
many to few hits). Without the shared folder, the demo database in data/ (data/demo_db/demo_uniref.fasta and
data/demo_queries.fasta).

Part A, per query and per CPU count N: `JackhmmerBinary` (`--cpu N`) and `PyhmmerJackhmmer` (cpus=N), both with
AlphaFold2's UniRef90 settings (`JACKHMMER_PRESETS["uniref90"]`, `-N --iterations`), each timed end to end (its
`search`: query in, Stockholm written), at equal cores: this process (and so the binary it starts) is pinned to N
cores for the measurement (`jackhmmer --cpu 1` runs a reader thread beside its worker; pinned, both share the one
core). Three runs per repeat, interleaved: pyhmmer "cold" (`SHARD_CACHE` emptied first: it reads and digitises the
database file, as the binary does every run), pyhmmer "cached" (the shards already digitised in memory, as in a
worker that searches many queries) and the binary; after one warm-up run of each. Reported: the median (and the
fastest) wall time of `--repeats`, and the median CPU seconds of the process and its children (user + system:
the binary's threads and this process's share of writing its output). Same hits: the same number of included
targets and the same reported target ids.

Part B, per query: `iterate` over `--shards` shards with its shard searches as tasks of a Dask `LocalCluster`
(`pipelines.tasks.ShardTasks`, as `protein batch --shards` runs them: shard i on worker i mod W) of 1 worker,
then of 2 workers (one thread each, separate processes, Dask's worker profiler off: `DASK_CONFIG`),
timed after every worker has read every shard once (`SHARD_CACHE`) and one warm-up search of each query; the
median of `--repeats` (queries interleaved), with the CPU seconds of this process (client and scheduler) and of
the workers. The hits must equal (ids, E-values, scores, included count) those of one search of the whole
database in this process, which is also timed ("unsharded"). This is one search's latency: each round's profile
is built (and calibrated) by the coordinator between the rounds' shard tasks, serially, as HMMER does.

Part C: the platform end to end, as a centre runs searches: the queries as one batch,
`pipelines.submit(..., msa_only=True, shards=--shards, no_cache=True)` (`protein batch --msa-only --shards N`), on
a `LocalCluster` of 1 worker, then 2 (one thread each), with a database configuration naming the database as
UniRef90 (AlphaFold2's settings: 1 round, whatever `--iterations` says). Each search task coordinates its shard
tasks, seceded from its worker's threads, so one query's serial part overlaps another's shards. Timed: submit
to result, the median of `--repeats` batches after a warm-up batch; every `uniref90_hits.sto` must be
byte-equal to the file one search of the whole database writes in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gzip
import json
import logging
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dask
import distributed
import pyhmmer
from dask.distributed import Client, LocalCluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protein.io import FastaRecord, read_fasta  # noqa: E402
from protein.search import JACKHMMER_PRESETS, JackhmmerBinary, PyhmmerJackhmmer, SearchResult  # noqa: E402
from protein.search import stockholm  # noqa: E402
from protein.search.hmmer import JackhmmerRun, iterate, msa_text, reported_hits  # noqa: E402
from protein.search.shards import (  # noqa: E402
    SHARD_CACHE, FastaIndex, Shard, index_fasta, index_path_for, read_shard, shard,
)
from protein.search.tools import find_binary, run_tool  # noqa: E402
import pipelines  # noqa: E402
from pipelines.tasks import ShardTasks  # noqa: E402
from protein.prediction import safe_name  # noqa: E402

# Dask's statistical profiler samples each worker's thread every 10 ms; on a machine with as many cores as workers
# that CPU is taken from the searches, so the benchmark's clusters run without it.
DASK_CONFIG = {"distributed.worker.profile.enabled": False}
SHARED_DB = "seqdb/mmseqs2_examples_DB.fasta.gz"
SHARED_QUERIES = "seqdb/mmseqs2_examples_QUERY.fasta.gz"
DEMO_DB = ROOT / "data/demo_db/demo_uniref.fasta"
DEMO_QUERIES = ROOT / "data/demo_queries.fasta"
# Moderate lengths (273-415 aa), from many hits in the 20,000 sequences to few; the first `--queries` are used.
QUERY_IDS = (
    "sp|Q9DC28|KC1D_MOUSE",  # 415 aa, casein kinase I delta: a large family
    "tr|A0A142FCW2|A0A142FCW2_BACAM",  # 329 aa, ABC transporter substrate-binding protein: the most hits
    "tr|N0BDY6|N0BDY6_9EURY",  # 309 aa, ATP phosphoribosyltransferase: few hits
    "sp|B2S328|COAX_TREPS",  # 273 aa, type III pantothenate kinase
    "sp|Q2SSF2|TRUB_MYCCT",  # 292 aa, tRNA pseudouridine synthase B
)


@dataclasses.dataclass(frozen=True)
class Timed:
    """One run: its wall seconds, the CPU seconds (user + system) of this process and its children, and what it
    returned."""

    wall_s: float
    cpu_s: float
    value: object


def shared_data() -> Path | None:
    data = Path(os.environ.get("PROTEIN_SHARED", ROOT.parent / "shared")) / "data"
    return data if data.is_dir() else None


def _cpu_seconds() -> float:
    """User + system seconds of this process and of its waited-for children."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def timed(run: Callable[[], object]) -> Timed:
    cpu, start = _cpu_seconds(), time.perf_counter()
    value = run()
    return Timed(time.perf_counter() - start, _cpu_seconds() - cpu, value)


def stats(runs: Sequence[Timed]) -> dict:
    """The median and fastest wall time and the median CPU time of repeated runs."""
    return {"wall_s": statistics.median(run.wall_s for run in runs), "wall_min_s": min(run.wall_s for run in runs),
            "cpu_s": statistics.median(run.cpu_s for run in runs)}


@contextlib.contextmanager
def pinned(cpus: int):
    """This thread (and the threads and processes it starts) on the first `cpus` of its allowed cores; yields
    them, or None (unpinned) when fewer are allowed."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < cpus:
        yield None
        return
    os.sched_setaffinity(0, allowed[:cpus])
    try:
        yield allowed[:cpus]
    finally:
        os.sched_setaffinity(0, allowed)


def write_database(source: Path, out: Path, limit: int | None) -> Path:
    """The database as a plain FASTA file at `out` (its first `limit` records if given)."""
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt") as handle, open(out, "w") as target:
        if limit is None:
            shutil.copyfileobj(handle, target)
            return out
        records = 0
        for line in handle:
            if line.startswith(">"):
                records += 1
                if records > limit:
                    break
            target.write(line)
    return out


def choose_inputs(count: int) -> tuple[Path, list[FastaRecord]]:
    """(the database's source file, the queries): the shared UniProt set, or the demo one without it."""
    data = shared_data()
    if data is not None and (data / SHARED_DB).exists() and (data / SHARED_QUERIES).exists():
        if count > len(QUERY_IDS):
            raise SystemExit(f"--queries: at most {len(QUERY_IDS)} (the fixed list QUERY_IDS)")
        records = {record.id: record for record in read_fasta(data / SHARED_QUERIES)}
        return data / SHARED_DB, [records[query_id] for query_id in QUERY_IDS[:count]]
    print(f"shared data absent ({SHARED_DB}): using the demo database {DEMO_DB.relative_to(ROOT)}", flush=True)
    return DEMO_DB, read_fasta(DEMO_QUERIES)[:count]


def hit_summary(result: SearchResult) -> tuple[int, frozenset[str]]:
    """(included targets, reported target ids) of a search."""
    return result.num_hits, frozenset(hit.name for hit in result.hits)


def run_summary(run: JackhmmerRun) -> tuple[int, tuple]:
    """(included targets as the Stockholm file counts them, (id, E-value, score) of each reported target)."""
    included = stockholm.count_targets(stockholm.sequence_names(msa_text(run.msa)))
    return included, reported_hits(run.hits)


def hmmer_binary_version(binary: str | None) -> str | None:
    if binary is None:
        return None
    banner = run_tool([binary, "-h"], 60).stdout
    found = re.search(r"^# (HMMER [^;\n]+)", banner, re.MULTILINE)
    return found.group(1).strip() if found else banner.strip().splitlines()[0]


def binary_vs_pyhmmer(queries: Sequence[FastaRecord], database: Path, cpus_list: Sequence[int], iterations: int,
                      repeats: int, binary: str | None, work: Path) -> list[dict]:
    """Part A (see the module docstring): one row per query and CPU count."""
    preset = dataclasses.replace(JACKHMMER_PRESETS["uniref90"], iterations=iterations)
    out = work / "hits.sto"
    # Warm-up: the page cache, pyhmmer's first profile build, the binary's first start.
    PyhmmerJackhmmer(dataclasses.replace(preset, cpus=cpus_list[0])).search(queries[0], database, out)
    if binary is not None:
        JackhmmerBinary(dataclasses.replace(preset, cpus=cpus_list[0]), binary).search(queries[0], database, out)
    rows = []
    for query in queries:
        for cpus in cpus_list:
            config = dataclasses.replace(preset, cpus=cpus)
            search_pyhmmer = functools.partial(PyhmmerJackhmmer(config).search, query, database, out)
            search_binary = functools.partial(JackhmmerBinary(config, binary).search, query, database, out)
            runs = {"pyhmmer": [], "pyhmmer_cached": [], "binary": []}
            with pinned(cpus) as cores:
                for _ in range(repeats):
                    SHARD_CACHE.clear()  # cold: the database read and digitised, as the binary reads it every run
                    runs["pyhmmer"].append(timed(search_pyhmmer))
                    runs["pyhmmer_cached"].append(timed(search_pyhmmer))
                    if binary is not None:
                        runs["binary"].append(timed(search_binary))
            row = {"query": query.id, "query_length": len(query.sequence), "cpus": cpus, "pinned_cores": cores}
            for side, side_runs in runs.items():
                if side_runs:
                    result = side_runs[0].value
                    row[side] = {**stats(side_runs), "num_hits": result.num_hits, "reported": len(result.hits)}
            ours, cached = row["pyhmmer"], row["pyhmmer_cached"]
            line = (f"pyhmmer {ours['wall_s']:.2f}s (cpu {ours['cpu_s']:.2f}s), cached {cached['wall_s']:.2f}s "
                    f"(cpu {cached['cpu_s']:.2f}s)")
            if binary is not None:
                theirs = row["binary"]
                summaries = {hit_summary(run.value) for side_runs in runs.values() for run in side_runs}
                row["same_hits"] = len(summaries) == 1
                row["ratio_binary_over_pyhmmer"] = theirs["wall_s"] / ours["wall_s"]
                row["ratio_binary_over_pyhmmer_cached"] = theirs["wall_s"] / cached["wall_s"]
                row["cpu_ratio_binary_over_pyhmmer"] = theirs["cpu_s"] / ours["cpu_s"]
                line = (f"binary {theirs['wall_s']:.2f}s (cpu {theirs['cpu_s']:.2f}s) | {line} | binary/pyhmmer "
                        f"x{row['ratio_binary_over_pyhmmer']:.2f}, "
                        f"cached x{row['ratio_binary_over_pyhmmer_cached']:.2f} | hits {theirs['num_hits']}/"
                        f"{ours['num_hits']} included, {theirs['reported']}/"
                        f"{ours['reported']} reported: {'same' if row['same_hits'] else 'DIFFERENT'}")
            rows.append(row)
            print(f"A {query.id} ({len(query.sequence)} aa) cpus={cpus}{' pinned' if cores else ''}: {line}",
                  flush=True)
    return rows


@contextlib.contextmanager
def bench_cluster(workers: int):
    """A client of a fresh `LocalCluster` of `workers` one-thread worker processes (`DASK_CONFIG`), each having
    imported the search library."""
    with dask.config.set(DASK_CONFIG), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(_import_search)
        yield client


def _import_search() -> None:
    """Run on each worker before timing, so that no timed task pays for importing pyhmmer and the library."""
    import protein.search.shards  # noqa: F401


def _read_shards(shards: Sequence[Shard]) -> int:
    """Run on each worker before timing: every shard read once into the worker's `SHARD_CACHE`."""
    return sum(sum(len(block) for block in read_shard(piece)) for piece in shards)


def _process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def shards_on_workers(queries: Sequence[FastaRecord], index: FastaIndex, num_shards: int,
                      workers_list: Sequence[int], iterations: int, repeats: int) -> list[dict]:
    """Part B (see the module docstring): one row per query."""
    config = dataclasses.replace(JACKHMMER_PRESETS["uniref90"], iterations=iterations)
    whole, parts = shard(index, 1), shard(index, num_shards)
    rows = []
    for query in queries:
        unsharded = [timed(lambda: iterate(query, whole, index.num_records, config)) for _ in range(repeats)]
        rows.append({"query": query.id, "query_length": len(query.sequence), "shards": num_shards,
                     "unsharded_s": statistics.median(run.wall_s for run in unsharded),
                     "expected": run_summary(unsharded[0].value), "workers": {}})
    runs = {(query.id, workers): [] for query in queries for workers in workers_list}
    for workers in workers_list:
        with bench_cluster(workers) as client:
            client.run(_read_shards, parts)
            map_tasks = ShardTasks(client, "bench")
            for query in queries:  # warm-up
                iterate(query, parts, index.num_records, config, map_tasks)
            for _ in range(repeats):
                for query in queries:
                    before = sum(client.run(_process_cpu_seconds).values())
                    run = timed(lambda: iterate(query, parts, index.num_records, config, map_tasks))
                    worker_cpu = sum(client.run(_process_cpu_seconds).values()) - before
                    runs[query.id, workers].append((run, worker_cpu))
    for query, row in zip(queries, rows):
        for workers in workers_list:
            measured = runs[query.id, workers]
            row["workers"][str(workers)] = {
                **stats([run for run, _ in measured]),
                "workers_cpu_s": statistics.median(cpu for _, cpu in measured),
                "same_hits": all(run_summary(run.value) == row["expected"] for run, _ in measured)}
    for row in rows:
        included, reported = row.pop("expected")
        row["num_hits"], row["reported"] = included, len(reported)
        first, *others = workers_list
        base = row["workers"][str(first)]["wall_s"]
        for workers in others:
            row[f"ratio_{first}_over_{workers}_workers"] = base / row["workers"][str(workers)]["wall_s"]
        timings = " | ".join(f"{workers} worker{'s' * (workers > 1)} {entry['wall_s']:.2f}s (cpu: this process "
                             f"{entry['cpu_s']:.2f}s, workers {entry['workers_cpu_s']:.2f}s)"
                             for workers, entry in ((workers, row["workers"][str(workers)])
                                                    for workers in workers_list))
        ratios = " | ".join(f"{first}w/{workers}w x{row[f'ratio_{first}_over_{workers}_workers']:.2f}"
                            for workers in others)
        same = all(entry["same_hits"] for entry in row["workers"].values())
        print(f"B {row['query']} ({row['query_length']} aa) {num_shards} shards: unsharded (in-process) "
              f"{row['unsharded_s']:.2f}s | {timings} | {ratios} | hits {row['num_hits']} included, "
              f"{row['reported']} reported: {'same as unsharded' if same else 'DIFFERENT from unsharded'}",
              flush=True)
    return rows


def batch_on_workers(queries: Sequence[FastaRecord], database: Path, num_shards: int,
                     workers_list: Sequence[int], repeats: int, work: Path) -> dict:
    """Part C (see the module docstring): the queries as one `--msa-only --shards` batch, per worker count."""
    config_path = work / "bench_databases.toml"
    config_path.write_text(f'root = "{database.parent}"\n\n[databases.uniref90]\ntool = "jackhmmer"\n'
                           f'path = "{database.name}"\n\n[presets]\nbench = ["uniref90"]\n')
    expected = {}
    for query in queries:  # what one search of the whole database writes, in this process
        out = work / "expected" / f"{safe_name(query.id)}.sto"
        out.parent.mkdir(exist_ok=True)
        PyhmmerJackhmmer(JACKHMMER_PRESETS["uniref90"]).search(query, database, out)
        expected[query.id] = out.read_bytes()
    records = list(queries)  # FastaRecords: their descriptions go into the alignments, as in the expected files
    row: dict = {"queries": len(queries), "shards": num_shards, "workers": {}}
    for workers in workers_list:
        with bench_cluster(workers) as client:
            runs, same = [], []
            for repeat in range(repeats + 1):  # the first warms up: imports, each worker reading its shards
                out = work / f"batch-{workers}-{repeat}"
                run = timed(lambda: pipelines.submit(
                    records, out, client=client, db_config=str(config_path), db_preset="bench", msa_only=True,
                    no_cache=True, shards=num_shards).result())
                if any(target.status != "msas" for target in run.value):
                    raise SystemExit(f"part C: a record failed: {[(t.id, t.error) for t in run.value]}")
                same.append(all((out / safe_name(query.id) / "msas" / "uniref90_hits.sto").read_bytes()
                                == expected[query.id] for query in queries))
                if repeat:
                    runs.append(run)
        row["workers"][str(workers)] = {**stats(runs), "same_files": all(same)}
    first, *others = workers_list
    base = row["workers"][str(first)]["wall_s"]
    for workers in others:
        row[f"ratio_{first}_over_{workers}_workers"] = base / row["workers"][str(workers)]["wall_s"]
    timings = " | ".join(f"{workers} worker{'s' * (int(workers) > 1)} {entry['wall_s']:.2f}s"
                         for workers, entry in row["workers"].items())
    ratios = " | ".join(f"{first}w/{workers}w x{row[f'ratio_{first}_over_{workers}_workers']:.2f}"
                        for workers in others)
    same = all(entry["same_files"] for entry in row["workers"].values())
    print(f"C batch of {len(queries)} queries, --msa-only --shards {num_shards}: {timings} | {ratios} | "
          f"uniref90_hits.sto {'byte-equal to' if same else 'DIFFERENT from'} one search of the whole database",
          flush=True)
    return row


def summarise(part_a: list[dict], part_b: list[dict], workers_list: Sequence[int]) -> dict:
    """Totals over the queries and the issue's two goals."""
    summary = {}
    for cpus in sorted({row["cpus"] for row in part_a if "binary" in row}):
        rows = [row for row in part_a if row["cpus"] == cpus]
        total = {side: {measure: sum(row[side][measure] for row in rows) for measure in ("wall_s", "cpu_s")}
                 for side in ("binary", "pyhmmer", "pyhmmer_cached")}
        binary = total["binary"]["wall_s"]
        for side, suffix in (("pyhmmer", ""), ("pyhmmer_cached", "_cached")):
            ours = total[side]["wall_s"]
            summary[f"ratio_binary_over_pyhmmer{suffix}_cpus{cpus}"] = binary / ours
            summary[f"cpu_ratio_binary_over_pyhmmer{suffix}_cpus{cpus}"] = \
                total["binary"]["cpu_s"] / total[side]["cpu_s"]
            print(f"total cpus={cpus}: binary {binary:.2f}s (cpu {total['binary']['cpu_s']:.2f}s) | "
                  f"{side.replace('_', ' ')} {ours:.2f}s (cpu {total[side]['cpu_s']:.2f}s) | binary/pyhmmer "
                  f"x{binary / ours:.2f}, cpu x{total['binary']['cpu_s'] / total[side]['cpu_s']:.2f} "
                  f"(goal >= 1: {'met' if binary >= ours else 'NOT met'})", flush=True)
    first, *others = workers_list
    base = sum(row["workers"][str(first)]["wall_s"] for row in part_b)
    for workers in others:
        total = sum(row["workers"][str(workers)]["wall_s"] for row in part_b)
        summary[f"ratio_{first}_over_{workers}_workers"] = base / total
        goal = f" (goal >= 1.8: {'met' if base / total >= 1.8 else 'NOT met'})" if (first, workers) == (1, 2) else ""
        print(f"total shards: {first} worker(s) {base:.2f}s | {workers} workers {total:.2f}s | x{base / total:.2f}"
              f"{goal}", flush=True)
    same = [row["same_hits"] for row in part_a if "same_hits" in row]
    same += [entry["same_hits"] for row in part_b for entry in row["workers"].values()]
    summary["all_hits_same"] = all(same)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3, help="how many of the fixed queries")
    parser.add_argument("--iterations", type=int, default=1, help="jackhmmer rounds (AlphaFold2: 1)")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="part A: binary --cpu = pyhmmer cpus")
    parser.add_argument("--shards", type=int, default=4, help="part B: shards of the database (a multiple of each "
                        "worker count balances them)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="part B: Dask workers (ratio: first "
                        "over each other)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement; the median counts")
    parser.add_argument("--limit-db", type=int, default=None, help="only the first N database records (smoke runs)")
    parser.add_argument("--binary", default="jackhmmer", help="the jackhmmer executable (part A)")
    parser.add_argument("--output", default=str(ROOT / "bench/results/search.json"))
    args = parser.parse_args(argv)
    if args.queries < 1 or args.repeats < 1 or len(args.workers) < 2:
        parser.error("--queries and --repeats must be at least 1, and --workers needs two counts or more")

    load_before = os.getloadavg()  # other work on the machine makes the wall times, and so the ratios, unreliable
    if load_before[0] > 0.5:
        print(f"load average {load_before[0]:.1f} on {os.cpu_count()} cores: other work is running, wall times "
              "(and the ratios) will be unreliable; the CPU seconds less so", flush=True)
    source, queries = choose_inputs(args.queries)
    binary = find_binary(args.binary)
    if binary is None:
        print(f"{args.binary!r} not found (Debian package 'hmmer'): part A times pyhmmer alone", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as scratch:
        work = Path(scratch)
        database = write_database(source, work / source.name.removesuffix(".gz"), args.limit_db)
        start = time.perf_counter()
        index = index_fasta(database)
        index_s = time.perf_counter() - start
        index.save(index_path_for(database))  # PyhmmerJackhmmer finds it beside the file: no timed search indexes
        print(f"database {source.name}{f' (first {args.limit_db})' if args.limit_db else ''}: {index.num_records} "
              f"sequences, {index.num_residues} residues, indexed in {index_s:.2f}s; queries: "
              f"{', '.join(f'{query.id} ({len(query.sequence)} aa)' for query in queries)}", flush=True)
        part_a = binary_vs_pyhmmer(queries, database, args.cpus, args.iterations, args.repeats, binary, work)
        part_b = shards_on_workers(queries, index, args.shards, args.workers, args.iterations, args.repeats)
        part_c = batch_on_workers(queries, database, args.shards, args.workers, args.repeats, work)
    summary = summarise(part_a, part_b, args.workers)
    first, *others = args.workers
    for workers in others:
        summary[f"ratio_{first}_over_{workers}_workers_batch"] = part_c[f"ratio_{first}_over_{workers}_workers"]
    summary["all_hits_same"] = summary["all_hits_same"] and all(
        entry["same_files"] for entry in part_c["workers"].values())
    result = {
        "benchmark": "search",
        "database": {"source": source.name, "limit": args.limit_db, "num_sequences": index.num_records,
                     "num_residues": index.num_residues, "index_s": index_s},
        "queries": [{"id": query.id, "length": len(query.sequence)} for query in queries],
        "preset": "uniref90",
        "iterations": args.iterations,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyhmmer": pyhmmer.__version__,
        "hmmer_binary": hmmer_binary_version(binary),
        "dask": dask.__version__,
        "dask_config": DASK_CONFIG,
        "distributed": distributed.__version__,
        "statistic": "median of the repeats (wall_min_s: the fastest)",
        "binary_vs_pyhmmer": part_a,
        "shards_on_workers": part_b,
        "batch_on_workers": part_c,
        "summary": summary,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    if not summary["all_hits_same"]:
        print("hits differ in some measurement (see 'same_hits' above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
