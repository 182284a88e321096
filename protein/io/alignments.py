"""MSAs from A3M (HHblits) and Stockholm (jackhmmer) files, in the query's columns, as AlphaFold2 reads them.

Both give an `Msa`: row 0 is the query; every row has one entry per query residue (upper-case letters or '-'),
and `deletion_matrix[i, j]` counts the residues of row i inserted between query columns j-1 and j (insertions
after the last column are not counted). Deletion matrices are int32 arrays [num_sequences, num_columns].

- A3M: lower-case letters are insertions (counted, then removed); '.' (gaps in insert columns) is dropped.
- Stockholm: columns where the query has a gap are removed and the residues of the other rows there counted as
  deletions (AlphaFold2 `parsers.parse_stockholm`); the descriptions are the row names ('UniRef90_X/1-80').
  AlphaFold2 keeps only the first hits of each database (`MAX_HITS`), cutting the file before parsing it;
  `max_sequences` does the same while streaming the file.

Where AlphaFold2's parsers would keep a '.' or a lower-case letter as an MSA column (a Stockholm query row with
'.' gaps, an A3M with '.'), which its feature step then fails on, these read them by the formats' definitions.
The template-hit parsers (HHR, hmmsearch) live in `protein.io.hits` and are re-exported here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import numpy as np

from protein.io.fasta import RecordError, fasta_blocks
from protein.io.hits import parse_hhr, parse_hmmsearch_a3m, parse_hmmsearch_sto, read_hhr, read_hmmsearch_sto
from protein.io.sources import file_lines, input_error, text_lines
from protein.io.stockholm import StockholmRows, read_rows
from protein.io.types import Msa

# The hits AlphaFold2 keeps from each jackhmmer search (data/pipeline.py `uniref_max_hits`, `mgnify_max_hits`;
# pipeline_multimer.py `max_uniprot_hits`, used only to pair chains). The query row counts as one of them.
MAX_HITS: dict[str, int] = {
    "uniref90": 10_000,
    "mgnify": 501,
    "uniprot": 50_000,
}

_A3M_LINE = re.compile(r"[A-Za-z.\-]+")
_DROP_INSERTIONS = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz.")
_ROWS_PER_BATCH = 4096  # bounds the temporary arrays of the vectorised deletion counts

_IS_LETTER = np.zeros(256, dtype=bool)
_IS_LETTER[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)] = True
_AS_MSA_COLUMN = np.arange(256, dtype=np.uint8)  # lower case -> upper case, '.' -> '-'
_AS_MSA_COLUMN[ord("a"):ord("z") + 1] -= 32
_AS_MSA_COLUMN[ord(".")] = ord("-")


def parse_a3m(text: str, source: str = "<string>", query_sequence: str | None = None) -> Msa:
    """The MSA of A3M text. With `query_sequence`, row 0 must equal it (see `check_query`).

    Raises:
      InputError: no records, text before the first '>' (other than '#' comment lines), a record with no
        sequence, a character other than a letter, '-' or '.', a row whose match columns differ in number from
        the query's, or a first row that is not `query_sequence`.
    """
    return _a3m(text_lines(text), source, query_sequence)


def read_a3m(path: str | os.PathLike, query_sequence: str | None = None) -> Msa:
    """The MSA of an A3M file, plain or gzip (see `parse_a3m`)."""
    return _a3m(file_lines(path), os.fspath(path), query_sequence)


def parse_stockholm(
    text: str, source: str = "<string>", max_sequences: int | None = None, query_sequence: str | None = None
) -> Msa:
    """The MSA of a jackhmmer Stockholm alignment whose first sequence is the query.

    Args:
      max_sequences: keep the first this many sequences, the query included (AlphaFold2: `MAX_HITS[database]`).
      query_sequence: if given, the query row (its gaps removed) must equal it (see `check_query`).

    Raises:
      InputError: malformed Stockholm (see `protein.io.stockholm.read_rows`), no sequence, a query row with no
        residue, or a query row that is not `query_sequence`.
    """
    return _stockholm(text_lines(text), source, max_sequences, query_sequence)


def read_stockholm(
    path: str | os.PathLike, max_sequences: int | None = None, query_sequence: str | None = None
) -> Msa:
    """The MSA of a jackhmmer Stockholm file, plain or gzip, streamed (see `parse_stockholm`)."""
    return _stockholm(file_lines(path), os.fspath(path), max_sequences, query_sequence)


def check_query(msa: Msa, query_sequence: str, source: str, line: int | None = None) -> None:
    """Checks that row 0 of `msa` is `query_sequence` (case aside): an alignment made for another sequence, or
    a file whose first row is not the query, would shift every MSA feature.

    Raises:
      InputError: naming the source, row 0's record, `line` when known, and the first difference.
    """
    if not len(msa):
        raise input_error("the alignment has no rows, so no query row", source)
    record, row, query = msa.descriptions[0], msa.sequences[0], query_sequence.upper()
    if row == query:
        return
    position = next((i for i, (a, b) in enumerate(zip(row, query)) if a != b), min(len(row), len(query)))
    found = repr(row[position]) if position < len(row) else "the end of the row"
    expected = repr(query[position]) if position < len(query) else "the end of the query"
    raise input_error(
        f"the first row is not the query sequence: {len(row)} columns for {len(query)} query residues, first "
        f"difference at position {position + 1} ({found} where the query has {expected})",
        source, record, line,
    )


def _a3m(lines: Iterable[str], source: str, query_sequence: str | None) -> Msa:
    descriptions, rows, header_lines = [], [], []
    for block in fasta_blocks(lines, source, comments=True):
        if isinstance(block, RecordError):
            raise block.to_exception()
        parts = []
        for number, line in block.sequence_lines:
            part = line.strip()
            if not _A3M_LINE.fullmatch(part):
                bad = next(char for char in part if not _A3M_LINE.fullmatch(char))
                raise input_error(f"character {bad!r} is not a residue, '-' or '.'", source, block.header, number)
            parts.append(part)
        if not parts:
            raise input_error("the record has no sequence", source, block.header, block.line)
        descriptions.append(block.header)
        rows.append("".join(parts))
        header_lines.append(block.line)
    if not rows:
        raise input_error("no A3M records: the input is empty", source)
    aligned = [row.translate(_DROP_INSERTIONS) for row in rows]
    width = len(aligned[0])
    for description, row, number in zip(descriptions, aligned, header_lines):
        if len(row) != width:
            raise input_error(f"{len(row)} match columns (upper case or '-'), the query row has {width}", source,
                              description, number)
    deletions = np.concatenate([_a3m_deletions(rows[start:start + _ROWS_PER_BATCH], width)
                                for start in range(0, len(rows), _ROWS_PER_BATCH)])
    msa = Msa(sequences=aligned, deletion_matrix=deletions, descriptions=descriptions)
    if query_sequence is not None:
        check_query(msa, query_sequence, source, header_lines[0])
    return msa


def _a3m_deletions(rows: list[str], width: int) -> np.ndarray:
    """int32 [len(rows), width]: the lower-case letters before each match column of each row."""
    text = np.frombuffer(("\n".join(rows) + "\n").encode("ascii"), np.uint8)
    inserted = (text >= ord("a")) & (text <= ord("z"))
    # Match columns and each row's closing '\n', which takes (and drops) the row's trailing insertions.
    stops = np.flatnonzero(~inserted & (text != ord(".")))
    before = np.diff(np.cumsum(inserted, dtype=np.int64)[stops], prepend=0)
    return before.reshape(len(rows), width + 1)[:, :width].astype(np.int32)


def _stockholm(lines: Iterable[str], source: str, max_sequences: int | None, query_sequence: str | None) -> Msa:
    rows = read_rows(lines, source, max_sequences)
    if not rows.rows:
        raise input_error("no sequences in the alignment (a jackhmmer alignment holds at least its query)",
                          source)
    msa = _query_columns(rows, source)
    if query_sequence is not None:
        check_query(msa, query_sequence, source, rows.lines[0])
    return msa


def _query_columns(rows: StockholmRows, source: str) -> Msa:
    """Keeps the columns where row 0 (the query) has a residue; counts other rows' residues elsewhere."""
    query = np.frombuffer(rows.rows[0].encode("ascii"), np.uint8)
    query_columns = np.flatnonzero(_IS_LETTER[query])
    if not query_columns.size:
        raise input_error("the query row (the first sequence) has no residue", source, rows.names[0],
                          rows.lines[0])
    num_rows, width, num_columns = len(rows.rows), len(query), len(query_columns)
    outside_query = ~_IS_LETTER[query]
    sequences: list[str] = []
    deletions = np.empty((num_rows, num_columns), dtype=np.int32)
    for start in range(0, num_rows, _ROWS_PER_BATCH):
        batch = rows.rows[start:start + _ROWS_PER_BATCH]
        block = np.frombuffer("".join(batch).encode("ascii"), np.uint8).reshape(len(batch), width)
        deleted = np.cumsum(_IS_LETTER[block] & outside_query, axis=1, dtype=np.int32)[:, query_columns]
        deletions[start:start + len(batch)] = np.diff(deleted, axis=1, prepend=0)
        text = _AS_MSA_COLUMN[block[:, query_columns]].tobytes().decode("ascii")
        sequences.extend(text[i * num_columns:(i + 1) * num_columns] for i in range(len(batch)))
    return Msa(sequences=sequences, deletion_matrix=deletions, descriptions=list(rows.names))


__all__ = [
    "MAX_HITS", "check_query", "parse_a3m", "parse_hhr", "parse_hmmsearch_a3m", "parse_hmmsearch_sto",
    "parse_stockholm", "read_a3m", "read_hhr", "read_hmmsearch_sto", "read_stockholm",
]
