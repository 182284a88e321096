"""One query through the databases of a preset, searched as AlphaFold2's data pipeline searches them, into the
`msas/` folder AlphaFold2 writes:

    config = load_config("data/demo_databases.toml")
    result = search_query(record, config, "demo", Path("out/ubiquitin"), cache=SearchCache())
    result.files          # {"uniref90_hits.sto": Path("out/ubiquitin/msas/uniref90_hits.sto"), ...}
    result.warnings       # e.g. no hits: that alignment holds the query alone
    result.mmcif_dir      # the preset's template structures, for `protein predict --mmcif-dir`

`plan` gives each database of the preset its program and file (AlphaFold2's data/pipeline.py, v2.3):

- jackhmmer databases (uniref90, mgnify, small_bfd, ...): in-process jackhmmer (`PyhmmerJackhmmer`) with
  AlphaFold2's settings and row caps (`JACKHMMER_PRESETS`), over `shards` pieces of the database on `cpus`
  threads, into `<name>_hits.sto`;
- hhblits databases (bfd + uniref30): one `hhblits` run over all of them, into `bfd_uniref_hits.a3m`;
- mmseqs databases (ColabFold's): `mmseqs`, into `<name>_hits.a3m`;
- the hmmsearch database (pdb_seqres): hmmbuild of the uniref90 alignment + hmmsearch, into `pdb_hits.sto`;
- the mmcif folder (pdb_mmcif) is not searched: the template featurizer reads it at prediction, where the hits
  are resolved to mmCIF files, obsolete entries replaced and the date cutoff applied
  (`protein.features.templates.TemplateFeaturizer`), so one pdb_hits.sto serves any --max-template-date.

Every result goes through the `SearchCache` when one is given, keyed by the query sequence, the fingerprint of
the database's files and the settings that decide the result (not the threads or the shards, which do not), so
a query searched before is copied from the cache. A FASTA database's shard index is saved beside it, or in the
cache's `indexes/` folder when the database's folder is read-only.

Results are staged in a scratch folder inside `out_dir` and moved into `msas/` (each file by an atomic rename)
only when every search of the query has succeeded: a failed query leaves msas/ as it was. A missing or broken
database, or a program that crashes or times out, fails the query with a `SearchError` naming the database; a
query without hits is not an error: its alignment holds the query alone, and the result warns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyhmmer

from protein.errors import InputError, ProteinError, SearchError
from protein.io import FastaRecord
from protein.search import stockholm
from protein.search.base import Query, SearchResult, no_hits_warning, query_record
from protein.search.binaries import HhblitsBinary, MmseqsBinary
from protein.search.cache import SearchCache, database_fingerprint
from protein.search.config import (
    JACKHMMER_PRESETS, HhblitsConfig, HmmsearchConfig, JackhmmerConfig, MmseqsConfig,
)
from protein.search.databases import Database, DatabaseConfig, Problem, check_database
from protein.search.hmmer import MapTasks, PyhmmerHmmsearch, PyhmmerJackhmmer

logger = logging.getLogger(__name__)

MSA_DIR = "msas"
TEMPLATE_HITS_FILE = "pdb_hits.sto"
PROFILE_DATABASE = "uniref90"  # the alignment AlphaFold2 builds the template profile from
INDEX_DIR = "indexes"  # in the cache folder: indexes of databases in read-only folders
_HHBLITS_FILE = "bfd_uniref_hits.a3m"  # AlphaFold2's name for its one hhblits run over BFD and UniRef30
_HHBLITS_PAIR = {"bfd", "uniref30", "uniclust30"}
_ALIGNMENT_SUFFIXES = (".sto", ".a3m", ".hhr", ".stockholm")
_OUTPUT_FILE_MODE = 0o644  # not the scratch file's private 0600: msas/ is read by whoever predicts
_RUN_ONLY_SETTINGS = ("cpus", "timeout_s")  # how a search runs, not what it finds: not part of the cache key


@dataclasses.dataclass(frozen=True)
class SearchStep:
    """One search of a plan: the program, the databases it searches in one run and the file it writes."""

    tool: str
    databases: tuple[Database, ...]
    file_name: str

    @property
    def name(self) -> str:
        return "+".join(database.name for database in self.databases)

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(itertools.chain.from_iterable(database.files for database in self.databases))


@dataclasses.dataclass(frozen=True)
class SearchPlan:
    """The searches of a preset: MSA searches in the preset's order, then the template search (if any), whose
    profile is built from the alignment in `profile_file`; and the folder of template structures (if any)."""

    msa_searches: tuple[SearchStep, ...]
    template_search: SearchStep | None
    profile_file: str | None
    structures: Database | None

    @property
    def searches(self) -> tuple[SearchStep, ...]:
        return self.msa_searches + ((self.template_search,) if self.template_search is not None else ())


@dataclasses.dataclass(frozen=True)
class DatabaseSearch:
    """What one search of a query gave: the file in msas/ (`path`), the distinct targets in it, warnings, whether
    it came from the cache and how long it took (seconds; the copy, for a cached result)."""

    file_name: str
    databases: tuple[str, ...]
    tool: str
    path: Path
    num_hits: int
    warnings: tuple[str, ...]
    cached: bool
    seconds: float


@dataclasses.dataclass(frozen=True)
class QuerySearchResult:
    """Every search of one query: `msa_dir` (out_dir/msas) holds one file per search."""

    query_id: str
    msa_dir: Path
    searches: tuple[DatabaseSearch, ...]
    mmcif_dir: Path | None
    notes: tuple[str, ...] = ()  # warnings not tied to one search (a missing mmCIF folder, stale files)

    @property
    def files(self) -> dict[str, Path]:
        return {search.file_name: search.path for search in self.searches}

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(itertools.chain.from_iterable(search.warnings for search in self.searches)) + self.notes


# -- the plan -----------------------------------------------------------------------------------------------


def plan(config: DatabaseConfig, preset: str) -> SearchPlan:
    """The searches of `preset` (see the module docstring).

    Raises:
      InputError: an unknown preset; a tool without a search backend here (phmmer, hhsearch); more than one
        hmmsearch or mmcif database; a template search without a jackhmmer alignment to build its profile from.
    """
    databases = config.preset(preset)
    where = f"{config.source or '<config>'}, preset {preset!r}"
    by_tool: dict[str, list[Database]] = {}
    for database in databases:
        by_tool.setdefault(database.tool, []).append(database)
    unsupported = [database.name for database in databases if database.tool in ("phmmer", "hhsearch")]
    if unsupported:
        raise InputError(f"{where}: no search backend for {', '.join(unsupported)} (tools phmmer and hhsearch); "
                         "MSAs are searched with jackhmmer, hhblits or mmseqs and templates with hmmsearch")
    for tool in ("hmmsearch", "mmcif"):
        if len(by_tool.get(tool, ())) > 1:
            names = ", ".join(database.name for database in by_tool[tool])
            raise InputError(f"{where}: more than one {tool} database ({names}); a preset has at most one")

    msa_searches = []
    hhblits = tuple(by_tool.get("hhblits", ()))
    for database in databases:
        if database.tool == "jackhmmer":
            msa_searches.append(SearchStep("jackhmmer", (database,), f"{database.name}_hits.sto"))
        elif database.tool == "mmseqs":
            msa_searches.append(SearchStep("mmseqs", (database,), f"{database.name}_hits.a3m"))
        elif database.tool == "hhblits" and database is hhblits[0]:  # one run over all, where the first stands
            names = {each.name for each in hhblits}
            file_name = _HHBLITS_FILE if "bfd" in names and names <= _HHBLITS_PAIR else \
                f"{'_'.join(each.name for each in hhblits)}_hits.a3m"
            msa_searches.append(SearchStep("hhblits", hhblits, file_name))

    template_search, profile_file = None, None
    if "hmmsearch" in by_tool:
        template_search = SearchStep("hmmsearch", (by_tool["hmmsearch"][0],), TEMPLATE_HITS_FILE)
        jackhmmer = [step for step in msa_searches if step.tool == "jackhmmer"]
        profile = [step for step in jackhmmer if step.name == PROFILE_DATABASE] or jackhmmer
        if not profile:
            raise InputError(f"{where}: the template search ({template_search.name}) builds its profile from a "
                             "jackhmmer alignment (AlphaFold2: uniref90), and the preset has no jackhmmer database")
        profile_file = profile[0].file_name
    structures = by_tool["mmcif"][0] if "mmcif" in by_tool else None
    return SearchPlan(tuple(msa_searches), template_search, profile_file, structures)


def check(config: DatabaseConfig, preset: str) -> list[Problem]:
    """Every problem with the files of the databases `preset` searches (`protein.search.databases.check_database`);
    the mmCIF folder is not searched, so its problems are not among them."""
    return _problems(plan(config, preset))


def _problems(search_plan: SearchPlan) -> list[Problem]:
    return [problem for step in search_plan.searches for database in step.databases
            for problem in check_database(database)]


# -- searching ----------------------------------------------------------------------------------------------


def search_query(query: Query, config: DatabaseConfig, preset: str, out_dir: str | os.PathLike,
                 shards: int | None = None, cache: SearchCache | None = None,
                 cpus: int | None = None) -> QuerySearchResult:
    """Searches every database of `preset` for `query` and writes `out_dir/msas/` (see the module docstring).

    Args:
      query: a FASTA record (or a bare sequence, named 'query').
      shards: the pieces each FASTA database is cut into for the in-process HMMER searches (default: one per
        thread); the files do not depend on it.
      cache: where results are looked up and stored (None: every search runs).
      cpus: threads of each search (default: the CPUs this process may use).

    Raises:
      InputError: the query is not a sequence of residue letters, or the preset cannot be searched (`plan`).
      SearchError: a database of the preset is missing or broken, or a search failed; naming the database.
    """
    record = query_record(query)
    search_plan = plan(config, preset)
    problems = _problems(search_plan)
    if problems:
        raise SearchError(f"{record.id}: cannot search preset {preset!r}: {'; '.join(map(str, problems))}")
    notes = []
    if search_plan.structures is not None:
        notes += [f"{record.id}: templates will lack structures: {problem}"
                  for problem in check_database(search_plan.structures)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    searcher = _Searcher(cpus or available_cpus(), shards, cache)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".search-") as work:
        staged: list[DatabaseSearch] = []
        for step in search_plan.searches:
            profile = Path(work, search_plan.profile_file) if step.tool == "hmmsearch" else None
            staged.append(searcher.run(step, record, Path(work, step.file_name), profile))
        msa_dir = out_dir / MSA_DIR
        msa_dir.mkdir(exist_ok=True)
        searches = []
        for search in staged:
            search.path.chmod(_OUTPUT_FILE_MODE)
            os.replace(search.path, msa_dir / search.file_name)
            searches.append(dataclasses.replace(search, path=msa_dir / search.file_name))
    written = {search.file_name for search in searches}
    stale = sorted(path.name for path in msa_dir.iterdir()
                   if path.name not in written and path.name.lower().endswith(_ALIGNMENT_SUFFIXES))
    if stale:
        notes.append(f"{record.id}: {msa_dir} also holds {', '.join(stale)} from another search; "
                     "`protein predict --msa-dir` reads every alignment there")
    for note in notes:
        logger.warning(note)
    mmcif_dir = search_plan.structures.path if search_plan.structures is not None else None
    return QuerySearchResult(record.id, msa_dir, tuple(searches), mmcif_dir, tuple(notes))


def search_step(step: SearchStep, query: Query, out_path: str | os.PathLike, profile: str | os.PathLike | None = None,
                shards: int | None = None, cache: SearchCache | None = None, cpus: int | None = None,
                map_tasks: MapTasks | None = None) -> DatabaseSearch:
    """One search of a plan on its own (as `search_query` runs each): writes `out_path`, through the cache.
    `profile`: the alignment the template (hmmsearch) step builds its profile from (the plan's `profile_file`).
    Batches run each step as a task of their own, so that the databases of one query are searched in parallel.
    `map_tasks`: runs the shard searches of the HMMER steps (one Dask task per shard in a batch,
    `pipelines.tasks.ShardTasks`) instead of `cpus` threads; the binaries' steps ignore it.

    Raises:
      SearchError: the search failed, naming the query and the database.
    """
    searcher = _Searcher(cpus or available_cpus(), shards, cache, map_tasks)
    return searcher.run(step, query_record(query), Path(out_path), None if profile is None else Path(profile))


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def jackhmmer_config(database: str) -> JackhmmerConfig:
    """AlphaFold2's jackhmmer search of a database: the same settings everywhere, rows capped only for the
    databases AlphaFold2 caps (UniRef90, MGnify; small BFD and others keep every row)."""
    return JACKHMMER_PRESETS[database] if database in JACKHMMER_PRESETS else JackhmmerConfig()


class _Searcher:
    """Runs the steps of a plan for one query, through the cache."""

    def __init__(self, cpus: int, shards: int | None, cache: SearchCache | None, map_tasks: MapTasks | None = None):
        self.cpus = cpus
        self.shards = shards
        self.cache = cache
        self.map_tasks = map_tasks
        self.index_dir = cache.root / INDEX_DIR if cache is not None else None

    def run(self, step: SearchStep, record: FastaRecord, out_path: Path, profile: Path | None) -> DatabaseSearch:
        start = time.perf_counter()
        try:
            config, settings = self._settings(step, profile)
            key = None
            if self.cache is not None:
                key = self.cache.key(record.sequence, database_fingerprint(step.files), settings)
                stored = self.cache.get(key)
                if stored is not None:
                    shutil.copyfile(stored, out_path)
                    num_hits = _count_hits(out_path, query_rows=0 if step.tool == "hmmsearch" else 1)
                    warnings = (_no_hits(step, record),) if num_hits == 0 else ()
                    return self._done(step, record, out_path, num_hits, warnings, True, start)
            result = self._search(step, config, record, out_path, profile)
            if self.cache is not None:
                self.cache.put(key, result.path, produced_by={"query_id": record.id, "databases": step.name,
                                                              "tool": step.tool, "settings": settings})
        except ProteinError as error:
            raise SearchError(f"{record.id}: {step.name} ({step.tool}): {error}") from error
        warnings = result.warnings
        if step.tool == "hmmsearch":  # the backend's warning names the alignment file, not the query
            warnings = (_no_hits(step, record),) if result.num_hits == 0 else ()
        return self._done(step, record, out_path, result.num_hits, warnings, False, start)

    def _settings(self, step: SearchStep, profile: Path | None) -> tuple[Any, dict[str, Any]]:
        """The search's config (with this run's threads) and the settings that key its result."""
        if step.tool == "jackhmmer":
            config = jackhmmer_config(step.databases[0].name)
            extra = {"backend": f"pyhmmer {pyhmmer.__version__}"}
        elif step.tool == "hmmsearch":
            config = HmmsearchConfig()
            extra = {"backend": f"pyhmmer {pyhmmer.__version__}",
                     "query_msa_sha256": hashlib.sha256(profile.read_bytes()).hexdigest()}
        elif step.tool == "hhblits":
            config, extra = HhblitsConfig(), {"databases": [database.name for database in step.databases]}
        elif step.tool == "mmseqs":
            config, extra = MmseqsConfig(), {}
        else:  # `plan` makes no other step
            raise AssertionError(step.tool)
        config = dataclasses.replace(config, cpus=self.cpus)
        settings = {key: value for key, value in dataclasses.asdict(config).items() if key not in _RUN_ONLY_SETTINGS}
        return config, {"tool": step.tool, **extra, **settings}

    def _search(self, step: SearchStep, config: Any, record: FastaRecord, out_path: Path,
                profile: Path | None) -> SearchResult:
        database = step.databases[0]
        if step.tool == "jackhmmer":
            searcher = PyhmmerJackhmmer(config, self.shards, keep_index=True, index_dir=self.index_dir,
                                        map_tasks=self.map_tasks)
            return searcher.search(record, database, out_path)
        if step.tool == "hmmsearch":
            searcher = PyhmmerHmmsearch(config, self.shards, keep_index=True, index_dir=self.index_dir,
                                        map_tasks=self.map_tasks)
            return searcher.search(profile, database, out_path)
        if step.tool == "hhblits":
            return HhblitsBinary(config).search(record, list(step.databases), out_path)
        return MmseqsBinary(config).search(record, database, out_path)

    @staticmethod
    def _done(step: SearchStep, record: FastaRecord, path: Path, num_hits: int, warnings: Sequence[str],
              cached: bool, start: float) -> DatabaseSearch:
        seconds = time.perf_counter() - start
        logger.info("%s: %s (%s): %d hits%s, %.2f s", record.id, step.name, step.tool, num_hits,
                    " (from the cache)" if cached else "", seconds)
        return DatabaseSearch(step.file_name, tuple(database.name for database in step.databases), step.tool, path,
                              num_hits, tuple(warnings), cached, seconds)


def _count_hits(path: Path, query_rows: int) -> int:
    """The distinct targets of a Stockholm or A3M file (after the query's rows)."""
    text = path.read_text()
    if path.suffix == ".a3m":
        return max(sum(1 for line in text.splitlines() if line.startswith(">")) - query_rows, 0)
    return stockholm.count_targets(stockholm.sequence_names(text), query_rows=query_rows)


def _no_hits(step: SearchStep, record: FastaRecord) -> str:
    """The warning for a search without hits (as the MSA backends word it)."""
    if step.tool == "hmmsearch":
        message = f"{record.id}: no template hits in {step.name}"
        logger.warning(message)
        return message
    return no_hits_warning(record, step.name)

