"""What every search backend takes and returns: one `Protocol` per kind of search and frozen result records.

    searcher = PyhmmerJackhmmer(JACKHMMER_PRESETS["uniref90"])        # or JackhmmerBinary(...), HhblitsBinary(...)
    result = searcher.search(record, database, "msas/uniref90_hits.sto")
    result.path, result.format, result.num_hits, result.hits, result.warnings, result.timings

A backend writes the file AlphaFold2's `msas/` folder holds for its tool (Stockholm for jackhmmer and hmmsearch,
A3M for HHblits and MMseqs2) atomically, and raises `SearchError` when the search cannot run (missing binary or
database file, crash, timeout) or `InputError` when the query or the database is malformed. A search that finds
nothing is not an error: the file holds the query alone (a single-sequence MSA) and the result says so in
`warnings`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from protein.errors import InputError, SearchError
from protein.io import FastaRecord
from protein.search.databases import Database

logger = logging.getLogger(__name__)

QUERY_NAME = "query"  # the name given to a query passed as a bare sequence


@dataclasses.dataclass(frozen=True)
class Hit:
    """One target sequence found by a search: its name (the first word of its header), full-sequence E-value and
    bit score. The E-value is computed for the whole database, however it was split."""

    name: str
    evalue: float
    score: float


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What a search wrote and found.

    path: the file written (`format`: "sto", "a3m" or "hhr").
    num_hits: target sequences in the alignment the search produced, before any `max_hits` cut.
    hits: the reported targets best first, where the tool reports scores (HMMER); empty otherwise.
    warnings: things the caller should know (no hits: the file is the query alone; rows cut).
    timings: seconds per step.
    """

    path: Path
    format: str
    num_hits: int
    hits: tuple[Hit, ...] = ()
    warnings: tuple[str, ...] = ()
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)


Query = FastaRecord | str
"""A query: a FASTA record, or a bare sequence (named `QUERY_NAME`)."""

DatabaseLike = Database | str | os.PathLike
"""A configured database (`protein.search.databases`), or the path of its file / prefix."""


@runtime_checkable
class MsaSearcher(Protocol):
    """Searches a sequence database with one query sequence and writes the MSA (query first)."""

    def search(self, query: Query, database: DatabaseLike, out_path: str | os.PathLike) -> SearchResult: ...


@runtime_checkable
class TemplateSearcher(Protocol):
    """Searches a template database (pdb_seqres) with an MSA of the query and writes the template hits."""

    def search(self, query_msa: str | os.PathLike, database: DatabaseLike,
               out_path: str | os.PathLike) -> SearchResult: ...


def query_record(query: Query) -> FastaRecord:
    """The query as a FASTA record; a bare sequence is named `QUERY_NAME`.

    Raises:
      InputError: an empty sequence, or one with characters other than letters.
    """
    if isinstance(query, FastaRecord):
        record = query
    else:
        sequence = "".join(str(query).split()).upper()
        record = FastaRecord(id=QUERY_NAME, description=QUERY_NAME, sequence=sequence, source="<query>")
    if not record.sequence or not (record.sequence.isascii() and record.sequence.isalpha()):
        raise InputError(f"{record.source or '<query>'}, record {record.id!r}: the query must be a non-empty "
                         f"sequence of residue letters")
    return record


def database_files(database: DatabaseLike, suffixes: Sequence[str] = ("",)) -> tuple[str, Path, tuple[Path, ...]]:
    """(name, path, files) of a database: a configured one's own files, or for a bare path the path + each suffix.

    Raises:
      SearchError: naming every file of the database that does not exist.
    """
    if isinstance(database, Database):
        name, path, files = database.name, database.path, database.files
    else:
        path = Path(database)
        name, files = path.name, tuple(Path(f"{path}{suffix}") for suffix in suffixes)
    missing = [str(file) for file in files if not file.exists()]
    if missing:
        raise SearchError(f"database {name!r}: missing file(s): {', '.join(missing)}")
    return name, path, files


def no_hits_warning(query: FastaRecord, database: str) -> str:
    message = (f"{query.id}: no hits in {database}; the alignment holds the query alone (a single-sequence MSA)")
    logger.warning(message)
    return message
