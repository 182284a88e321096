"""HMMER in-process (pyhmmer): jackhmmer for MSAs and hmmbuild + hmmsearch for templates, over database shards.

Both backends search a FASTA database as shards (`protein.search.shards`) on a pool of `cpus` threads, so that one
query uses every core (pyhmmer's own `hmmsearch` spreads queries, not targets, over threads) and memory stays
bounded. The database is indexed once per searcher (or the index beside it, `<fasta>.shards.npz`, is used; with
`keep_index` a missing one is saved there, or elsewhere when the folder is read-only). A shard is read and
digitised once per process and then searched from memory (`protein.search.shards.SHARD_CACHE`), by every later
round and query, as long as the shards fit in its budget.

jackhmmer (Johnson et al. 2010, as HMMER's `jackhmmer` runs it): the first round searches with a profile built
from the query alone (BLOSUM62, gap open 0.02, extend 0.4); each later round with a profile built from the
previous round's alignment: the included domains of the included hits plus the query, with all consensus
columns, which are the match states of the new profile (hmmbuild's `--hand`), so the profile keeps the query's
length. The search stops early when a round includes no new sequence and no more alignment rows than the one
before. `iterate` is that loop over any shards with any `map`, so that a scheduler can run the shard searches
of each round as parallel tasks; the profile of round k is built from the merged hits of round k-1, exactly as
one search of the whole database would build it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyhmmer
from pyhmmer import easel, plan7

from protein.errors import InputError
from protein.io import FastaRecord
from protein.search import stockholm
from protein.search.base import (
    DatabaseLike, Hit, Query, SearchResult, database_files, no_hits_warning, query_record,
)
from protein.search.config import HmmsearchConfig, JackhmmerConfig
from protein.search.shards import (
    AMINO, FastaIndex, Shard, merge, open_index, search_shard, shard,
)
from protein.structure.files import write_atomic

logger = logging.getLogger(__name__)

MapTasks = Callable[..., Iterable]
"""`map`-like: `map_tasks(function, *iterables)` calls `function` on each tuple of arguments and yields the
results in input order (builtin `map`, `ThreadPoolExecutor.map`, a Dask client's map + gather)."""


@dataclasses.dataclass(frozen=True)
class JackhmmerRun:
    """The last round of an iterative search: its merged hits and alignment (query first), how many rounds ran
    and whether the search converged (the last round included no new sequence and no more rows)."""

    hits: plan7.TopHits
    msa: easel.DigitalMSA
    iterations: int
    converged: bool


def digital_sequence(record: FastaRecord) -> easel.DigitalSequence:
    """The record as a pyhmmer amino-acid sequence (name: its id; description: its header after the id)."""
    description = record.description[len(record.id):].strip() if record.description.startswith(record.id) \
        else record.description
    text = easel.TextSequence(name=record.id, description=description, sequence=record.sequence)
    try:
        return text.digitize(AMINO)
    except ValueError as error:
        raise InputError(f"{record.source or '<query>'}, record {record.id!r}: not a protein sequence ({error})") \
            from error


def iterate(query: FastaRecord, shards: Sequence[Shard], num_targets: int, config: JackhmmerConfig,
            map_tasks: MapTasks = map) -> JackhmmerRun:
    """jackhmmer over `shards` (see the module docstring); E-values for `num_targets` sequences."""
    sequence = digital_sequence(query)
    background = plan7.Background(AMINO)
    builder = plan7.Builder(AMINO, architecture="hand")  # the alignment's RF line (the query's columns) is the model
    profile, _, _ = builder.build(sequence, background)
    ranking = easel.KeyHash()
    previous_rows = 1
    for iteration in range(1, config.iterations + 1):
        start = time.perf_counter()
        parts = list(map_tasks(search_shard, itertools.repeat(profile), shards,
                               itertools.repeat(config.thresholds), itertools.repeat(num_targets)))
        hits = merge(parts)
        new = hits.compare_ranking(ranking)
        msa = hits.to_msa(AMINO, sequences=[sequence], traces=[plan7.Trace.from_sequence(sequence)],
                          all_consensus_cols=True, digitize=True)
        msa.name = f"{query.id}-i{iteration}"
        msa.description = sequence.description or None
        msa.author = f"jackhmmer (pyhmmer {pyhmmer.__version__}, protein.search)"
        converged = new == 0 and len(msa.sequences) <= previous_rows
        logger.info("%s: round %d: %d hits included (%d new), %d rows, %.2f s", query.id, iteration,
                    len(hits.included), new, len(msa.sequences), time.perf_counter() - start)
        if converged or iteration == config.iterations:
            return JackhmmerRun(hits, msa, iteration, converged)
        profile, _, _ = builder.build_msa(msa, background)
        previous_rows = len(msa.sequences)
    raise AssertionError("unreachable")


def reported_hits(hits: plan7.TopHits) -> tuple[Hit, ...]:
    return tuple(Hit(hit.name, hit.evalue, hit.score) for hit in hits.reported)


def msa_text(msa: easel.MSA) -> str:
    buffer = io.BytesIO()
    msa.write(buffer, "stockholm")
    return buffer.getvalue().decode()


class _ShardedSearcher:
    """Indexes each database once and runs shard searches on a bounded thread pool.

    num_shards: the pieces each database is cut into (default: one per thread); the hits do not depend on it.
    keep_index: save a database's index beside it (or in `index_dir` when its folder is read-only) for the next
      searcher (`protein.search.shards.open_index`); otherwise a current index there is used, and a missing one
      made in memory.
    map_tasks: runs the shard searches (`MapTasks`: for example one Dask task per shard,
      `pipelines.tasks.ShardTasks`) instead of the pool of `cpus` threads.
    """

    def __init__(self, cpus: int, num_shards: int | None = None, keep_index: bool = False,
                 index_dir: str | os.PathLike | None = None, map_tasks: MapTasks | None = None):
        if cpus < 1:
            raise ValueError(f"cpus must be at least 1, got {cpus}")
        if num_shards is not None and num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        self.cpus = cpus
        self.num_shards = num_shards or cpus
        self.keep_index = keep_index
        self.index_dir = index_dir
        self.map_tasks = map_tasks
        self._indexes: dict[tuple[str, int, int], FastaIndex] = {}

    @contextlib.contextmanager
    def _map(self, name: str):
        """`map_tasks`, or the `map` of a pool of `cpus` threads for the length of the search."""
        if self.map_tasks is not None:
            yield self.map_tasks
            return
        with ThreadPoolExecutor(max_workers=self.cpus, thread_name_prefix=name) as pool:
            yield pool.map

    def _shards(self, path: Path) -> tuple[list[Shard], FastaIndex]:
        stat = path.stat()
        key = (str(path.absolute()), stat.st_size, stat.st_mtime_ns)
        if key not in self._indexes:
            self._indexes[key] = open_index(path, self.index_dir, save=self.keep_index)
        index = self._indexes[key]
        return shard(index, min(self.num_shards, index.num_blocks)), index


class PyhmmerJackhmmer(_ShardedSearcher):
    """jackhmmer in-process (see the module docstring); writes Stockholm, query first, cut to `max_hits` rows."""

    format = "sto"

    def __init__(self, config: JackhmmerConfig = JackhmmerConfig(), num_shards: int | None = None,
                 keep_index: bool = False, index_dir: str | os.PathLike | None = None,
                 map_tasks: MapTasks | None = None):
        super().__init__(config.cpus, num_shards, keep_index, index_dir, map_tasks)
        self.config = config

    def search(self, query: Query, database: DatabaseLike, out_path: str | os.PathLike) -> SearchResult:
        record = query_record(query)
        name, path, _ = database_files(database)
        timings = {}
        start = time.perf_counter()
        shards, index = self._shards(path)
        timings["index"] = time.perf_counter() - start
        start = time.perf_counter()
        with self._map("jackhmmer") as map_tasks:
            run = iterate(record, shards, self.config.num_targets or index.num_records, self.config, map_tasks)
        timings["search"] = time.perf_counter() - start
        text = msa_text(run.msa)
        names = stockholm.sequence_names(text)
        num_hits = stockholm.count_targets(names)
        warnings = []
        if num_hits == 0:
            warnings.append(no_hits_warning(record, name))
        if self.config.max_hits is not None and len(names) > self.config.max_hits:
            warnings.append(f"{record.id}: kept the first {self.config.max_hits} of {len(names)} alignment rows")
        out_path = write_atomic(out_path, stockholm.truncate(text, self.config.max_hits))
        return SearchResult(out_path, self.format, num_hits, reported_hits(run.hits), tuple(warnings), timings)


def template_profile(query_msa: str | os.PathLike, max_sequences: int | None) -> plan7.HMM:
    """The profile AlphaFold2 searches pdb_seqres with (`hmmbuild --hand --amino` on the prepared UniRef90
    alignment; see `protein.search.stockholm.template_query`).

    Raises:
      InputError: the alignment (plain or gzip) is unreadable, malformed or has no reference annotation.
    """
    path = Path(query_msa)
    prepared = stockholm.template_query(stockholm.read_text(path), max_sequences, str(path))
    try:
        with easel.MSAFile(io.BytesIO(prepared.encode()), format="stockholm", digital=True, alphabet=AMINO) as msas:
            msa = msas.read()
    except ValueError as error:
        raise InputError(f"{path}: the prepared alignment is not readable Stockholm ({error})") from error
    msa.name = path.stem
    builder = plan7.Builder(AMINO, architecture="hand")
    profile, _, _ = builder.build_msa(msa, plan7.Background(AMINO))
    return profile


class PyhmmerHmmsearch(_ShardedSearcher):
    """Template search in-process: AlphaFold2's hmmbuild + hmmsearch. Writes hmmsearch's Stockholm alignment of
    the included domains (no query row; empty when nothing is included), as `protein.io.read_hmmsearch_sto`
    reads it."""

    format = "sto"

    def __init__(self, config: HmmsearchConfig = HmmsearchConfig(), num_shards: int | None = None,
                 keep_index: bool = False, index_dir: str | os.PathLike | None = None,
                 map_tasks: MapTasks | None = None):
        super().__init__(config.cpus, num_shards, keep_index, index_dir, map_tasks)
        self.config = config

    def search(self, query_msa: str | os.PathLike, database: DatabaseLike,
               out_path: str | os.PathLike) -> SearchResult:
        name, path, _ = database_files(database)
        timings = {}
        start = time.perf_counter()
        profile = template_profile(query_msa, self.config.max_query_sequences)
        shards, index = self._shards(path)
        timings["index"] = time.perf_counter() - start
        start = time.perf_counter()
        with self._map("hmmsearch") as map_tasks:
            parts = list(map_tasks(search_shard, itertools.repeat(profile), shards,
                                   itertools.repeat(self.config.thresholds),
                                   itertools.repeat(self.config.num_targets or index.num_records)))
        hits = merge(parts)
        timings["search"] = time.perf_counter() - start
        # Every consensus column, also those no hit covers: the rows' match columns are then the query's
        # residues, which is how AlphaFold2 maps a hit onto the query (and what hmmsearch -A writes).
        text = msa_text(hits.to_msa(AMINO, all_consensus_cols=True)) if len(hits.included) else ""
        num_hits = stockholm.count_targets(stockholm.sequence_names(text), query_rows=0)
        warnings = () if num_hits else (f"{Path(query_msa).name}: no template hits in {name}",)
        out_path = write_atomic(out_path, text)
        return SearchResult(out_path, self.format, num_hits, reported_hits(hits), warnings, timings)
