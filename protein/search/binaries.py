"""The search programs themselves, driven as AlphaFold2 drives them: HMMER's `jackhmmer`, `hmmbuild` + `hmmsearch`
(Debian package `hmmer`), HH-suite's `hhblits` (`hhsuite`) and `mmseqs` (`mmseqs2`).

Each backend checks that its binary and every database file exist before it starts, runs the program through
`protein.search.tools.run_tool` (logged, timed, killed at the timeout, stderr in the error) in a scratch folder,
and moves the output into place atomically. A program that crashes or times out raises `SearchError` naming the
command; a query with no hits gives the query alone and a warning.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from protein.errors import SearchError
from protein.io import FastaRecord
from protein.search import stockholm
from protein.search.base import (
    DatabaseLike, Hit, Query, SearchResult, database_files, no_hits_warning, query_record,
)
from protein.search.config import HhblitsConfig, HmmsearchConfig, JackhmmerConfig, MmseqsConfig
from protein.search.databases import HHSUITE_SUFFIXES
from protein.search.tools import require_binary, run_tool
from protein.structure.files import write_atomic

MMSEQS_SUFFIXES = ("", ".dbtype", ".index", "_h", "_h.dbtype", "_h.index")
"""The files of a database made by `mmseqs createdb` (a database given as a bare path must have these)."""


def _write_query(record: FastaRecord, folder: str) -> Path:
    path = Path(folder, "query.fasta")
    path.write_text(f">{record.id}\n{record.sequence}\n")
    return path


def read_tblout(path: Path) -> tuple[Hit, ...]:
    """The targets of a HMMER `--tblout` table, in file order (best first). A name listed again (jackhmmer
    appends a table per round) keeps its last values."""
    hits: dict[str, Hit] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split()
        hits.pop(fields[0], None)
        hits[fields[0]] = Hit(fields[0], float(fields[4]), float(fields[5]))
    return tuple(hits.values())


def _read_output(path: Path, command: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise SearchError(f"{command} exited normally but wrote no {path.name}") from None


class JackhmmerBinary:
    """HMMER's `jackhmmer`: `-N <iterations> --noali` and every threshold of `config.thresholds`, `-A` Stockholm
    (the last round's alignment, query first), cut to `config.max_hits` rows."""

    format = "sto"

    def __init__(self, config: JackhmmerConfig = JackhmmerConfig(), binary: str = "jackhmmer"):
        self.config = config
        self.binary = binary

    def search(self, query: Query, database: DatabaseLike, out_path: str | os.PathLike) -> SearchResult:
        record = query_record(query)
        name, path, _ = database_files(database)
        executable = require_binary(self.binary, "hmmer")
        config = self.config
        with tempfile.TemporaryDirectory(prefix="jackhmmer-") as work:
            alignment, table = Path(work, "hits.sto"), Path(work, "hits.tbl")
            command = [executable, "-o", os.devnull, "-A", alignment, "--tblout", table, "--noali",
                       *config.thresholds.command_line(), "--cpu", str(config.cpus), "-N", str(config.iterations)]
            if config.num_targets is not None:
                command += ["-Z", str(config.num_targets)]
            command += [_write_query(record, work), path]
            start = time.perf_counter()
            run_tool(command, config.timeout_s)
            elapsed = time.perf_counter() - start
            text = _read_output(alignment, self.binary)
            hits = read_tblout(table)
        names = stockholm.sequence_names(text)
        num_hits = stockholm.count_targets(names)
        warnings = []
        if num_hits == 0:
            warnings.append(no_hits_warning(record, name))
        if config.max_hits is not None and len(names) > config.max_hits:
            warnings.append(f"{record.id}: kept the first {config.max_hits} of {len(names)} alignment rows")
        out_path = write_atomic(out_path, stockholm.truncate(text, config.max_hits))
        return SearchResult(out_path, self.format, num_hits, hits, tuple(warnings), {"search": elapsed})


class HmmsearchBinary:
    """AlphaFold2's template search with HMMER's programs: the prepared query alignment
    (`protein.search.stockholm.template_query`), `hmmbuild --hand --amino`, then `hmmsearch --noali` with
    `config.thresholds` and `-A` Stockholm of the included domains."""

    format = "sto"

    def __init__(self, config: HmmsearchConfig = HmmsearchConfig(), hmmbuild: str = "hmmbuild",
                 hmmsearch: str = "hmmsearch"):
        self.config = config
        self.hmmbuild = hmmbuild
        self.hmmsearch = hmmsearch

    def search(self, query_msa: str | os.PathLike, database: DatabaseLike,
               out_path: str | os.PathLike) -> SearchResult:
        name, path, _ = database_files(database)
        hmmbuild = require_binary(self.hmmbuild, "hmmer")
        hmmsearch = require_binary(self.hmmsearch, "hmmer")
        config = self.config
        source = Path(query_msa)
        text = stockholm.read_text(source)
        with tempfile.TemporaryDirectory(prefix="hmmsearch-") as work:
            prepared, profile = Path(work, "query.sto"), Path(work, "query.hmm")
            alignment, table = Path(work, "hits.sto"), Path(work, "hits.tbl")
            prepared.write_text(stockholm.template_query(text, config.max_query_sequences, str(source)))
            start = time.perf_counter()
            run_tool([hmmbuild, "--hand", "--amino", profile, prepared], config.timeout_s)
            command = [hmmsearch, "--noali", "--cpu", str(config.cpus), *config.thresholds.command_line(),
                       "-A", alignment, "--tblout", table]
            if config.num_targets is not None:
                command += ["-Z", str(config.num_targets)]
            run_tool([*command, profile, path], config.timeout_s)
            elapsed = time.perf_counter() - start
            hits = read_tblout(table)
            result = alignment.read_text() if alignment.exists() else ""  # nothing included: no file
        num_hits = stockholm.count_targets(stockholm.sequence_names(result), query_rows=0)
        warnings = () if num_hits else (f"{source.name}: no template hits in {name}",)
        out_path = write_atomic(out_path, result)
        return SearchResult(out_path, self.format, num_hits, hits, warnings, {"search": elapsed})


def _a3m_rows(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(">"))


class HhblitsBinary:
    """HH-suite's `hhblits` as AlphaFold2 runs it, on one database or several at once (AlphaFold2 searches BFD and
    UniRef30 in one run: pass both). Writes A3M (`-oa3m`), query first."""

    format = "a3m"

    def __init__(self, config: HhblitsConfig = HhblitsConfig(), binary: str = "hhblits"):
        self.config = config
        self.binary = binary

    def search(self, query: Query, database: DatabaseLike | Sequence[DatabaseLike],
               out_path: str | os.PathLike) -> SearchResult:
        record = query_record(query)
        databases = [database] if isinstance(database, (str, os.PathLike)) or not isinstance(database, Sequence) \
            else list(database)
        found = [database_files(each, HHSUITE_SUFFIXES) for each in databases]
        executable = require_binary(self.binary, "hhsuite")
        config = self.config
        with tempfile.TemporaryDirectory(prefix="hhblits-") as work:
            alignment = Path(work, "hits.a3m")
            command = [executable, "-i", _write_query(record, work), "-cpu", str(config.cpus), "-oa3m", alignment,
                       "-o", os.devnull, "-n", str(config.iterations), "-e", f"{config.e_value:g}",
                       "-maxseq", str(config.maxseq), "-realign_max", str(config.realign_max),
                       "-maxfilt", str(config.maxfilt), "-min_prefilter_hits", str(config.min_prefilter_hits)]
            for _, prefix, _ in found:
                command += ["-d", prefix]
            start = time.perf_counter()
            run_tool(command, config.timeout_s)
            elapsed = time.perf_counter() - start
            text = _read_output(alignment, self.binary)
        num_hits = max(_a3m_rows(text) - 1, 0)
        names = "+".join(name for name, _, _ in found)
        warnings = (no_hits_warning(record, names),) if num_hits == 0 else ()
        out_path = write_atomic(out_path, text)
        return SearchResult(out_path, self.format, num_hits, (), warnings, {"search": elapsed})


class MmseqsBinary:
    """MMseqs2: `createdb` of the query, `search` (profile iterations) against an MMseqs2 database, and
    `result2msa --msa-format-mode 6` as A3M (query first; headers carry the alignment's score and E-value)."""

    format = "a3m"

    def __init__(self, config: MmseqsConfig = MmseqsConfig(), binary: str = "mmseqs"):
        self.config = config
        self.binary = binary

    def search(self, query: Query, database: DatabaseLike, out_path: str | os.PathLike) -> SearchResult:
        record = query_record(query)
        name, path, _ = database_files(database, MMSEQS_SUFFIXES)
        executable = require_binary(self.binary, "mmseqs2")
        config = self.config
        with tempfile.TemporaryDirectory(prefix="mmseqs-") as work:
            query_db, result, alignment = Path(work, "query"), Path(work, "result"), Path(work, "hits.a3m")
            start = time.perf_counter()
            run_tool([executable, "createdb", _write_query(record, work), query_db, "-v", "1"], config.timeout_s)
            run_tool([executable, "search", query_db, path, result, Path(work, "tmp"),
                      "--num-iterations", str(config.iterations), "-s", f"{config.sensitivity:g}",
                      "-e", f"{config.e_value:g}", "--max-seqs", str(config.max_seqs),
                      "--threads", str(config.cpus), "-v", "1"], config.timeout_s)
            run_tool([executable, "result2msa", query_db, path, result, alignment, "--msa-format-mode", "6",
                      "--threads", str(config.cpus), "-v", "1"], config.timeout_s)
            elapsed = time.perf_counter() - start
            text = _read_output(alignment, self.binary).replace("\0", "")
        num_hits = max(_a3m_rows(text) - 1, 0)
        warnings = (no_hits_warning(record, name),) if num_hits == 0 else ()
        out_path = write_atomic(out_path, text)
        return SearchResult(out_path, self.format, num_hits, (), warnings, {"search": elapsed})
