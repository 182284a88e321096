"""FASTA: the query sequences of a job, one record per '>' header.

A record's `id` is the first word of its header and its `description` the whole header after '>' (as AlphaFold2's
`parse_fasta` reads it: the line stripped, then the '>' dropped). Sequence lines may hold spaces, end in '\\r\\n'
and be separated by blank lines; one trailing '*' (a stop codon, as gene callers write it) is dropped; residues
are upper-cased. Any ASCII letter is a residue here: letters outside the twenty amino acids (X, B, Z, U, O, ...)
are mapped to unknown, and reported, by the feature step (`residue_constants.sequence_to_aatype`). Digits,
punctuation, gaps and a '*' before the end are errors.

Two ways to read:
- strict, `parse_fasta(text)` / `read_fasta(path)`: a list of records; the first problem raises `InputError`.
- lenient, `iter_fasta(path_or_lines)`: a stream of `FastaRecord`s and `RecordError`s, one record in memory at a
  time, so that one bad record in a batch (or a file larger than memory) does not stop the rest.

The record splitting (`fasta_blocks`) is shared with A3M, which is FASTA with alignment rows.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator

from protein.errors import InputError
from protein.io.sources import file_lines, text_lines, where
from protein.io.types import FastaRecord


@dataclasses.dataclass(frozen=True)
class RecordError:
    """A problem found by lenient reading: the record (None when outside any record) and line it is at."""

    source: str
    record_id: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{where(self.source, self.record_id, self.line)}: {self.message}"

    def to_exception(self) -> InputError:
        return InputError(str(self))


@dataclasses.dataclass(frozen=True)
class RawRecord:
    """One '>' record before any check of its content: header without '>', the header's line, and the record's
    other lines as (line number, text) with blank lines left out."""

    header: str
    line: int
    sequence_lines: list[tuple[int, str]]


def fasta_blocks(lines: Iterable[str], source: str, comments: bool = False) -> Iterator[RawRecord | RecordError]:
    """Splits lines into '>' records, one record in memory at a time.

    Text before the first header gives one `RecordError` (at its first line) and is skipped; with `comments`,
    lines there that start with '#' (A3M's optional comment lines) are allowed and skipped.
    """
    header: str | None = None
    header_line = 0
    sequence_lines: list[tuple[int, str]] = []
    preamble_reported = False
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith(">"):
            if header is not None:
                yield RawRecord(header, header_line, sequence_lines)
            header, header_line, sequence_lines = stripped[1:], number, []
        elif not stripped:
            continue
        elif header is not None:
            sequence_lines.append((number, line))
        elif not (comments and stripped.startswith("#")) and not preamble_reported:
            preamble_reported = True
            yield RecordError(source, None, number, f"text before the first '>' header: {_excerpt(stripped)}")
    if header is not None:
        yield RawRecord(header, header_line, sequence_lines)


def iter_fasta(
    fasta: str | os.PathLike | Iterable[str], source: str | None = None
) -> Iterator[FastaRecord | RecordError]:
    """Streams the records of a FASTA file, yielding a `RecordError` instead of each record that is malformed.

    Args:
      fasta: a path (str or PathLike; gzip is detected), or any other iterable of lines, e.g. an open file,
        `io.StringIO(text)` or `text.splitlines()`. A str is always a path.
      source: the name used in errors; defaults to the path, or "<lines>".

    Yields:
      `FastaRecord`s in file order, and `RecordError`s for: text before the first header, a header with no
      name, a record with no sequence, a character that is not a letter, and an empty file (no record at all).
      A malformed record is skipped whole; reading goes on with the next header. An unreadable file raises.
    """
    if isinstance(fasta, (str, os.PathLike)):
        source = source or os.fspath(fasta)
        lines: Iterable[str] = file_lines(fasta)
    else:
        source = source or "<lines>"
        lines = fasta
    found = False
    for block in fasta_blocks(lines, source):
        found = True
        yield block if isinstance(block, RecordError) else _fasta_record(block, source)
    if not found:
        yield RecordError(source, None, None, "no FASTA records: the input is empty or only blank lines")


def parse_fasta(text: str, source: str = "<string>") -> list[FastaRecord]:
    """All records of FASTA text (strict).

    Raises:
      InputError: naming the source, record and line of the first problem (see `iter_fasta` for the list).
    """
    return _strict(iter_fasta(text_lines(text), source))


def read_fasta(path: str | os.PathLike) -> list[FastaRecord]:
    """All records of a FASTA file, plain or gzip (strict; see `parse_fasta`)."""
    return _strict(iter_fasta(path))


def _strict(items: Iterable[FastaRecord | RecordError]) -> list[FastaRecord]:
    records = []
    for item in items:
        if isinstance(item, RecordError):
            raise item.to_exception()
        records.append(item)
    return records


def _fasta_record(block: RawRecord, source: str) -> FastaRecord | RecordError:
    words = block.header.split()
    if not words:
        return RecordError(source, None, block.line, "the '>' header has no name")
    record_id = words[0]
    chunks: list[str] = []
    star_line = None  # the line of a '*' seen at the end of a line: an error unless no residue follows
    for number, line in block.sequence_lines:
        chunk = "".join(line.split())
        if star_line is not None:
            return RecordError(source, record_id, star_line, "'*' inside the sequence (only a final '*' is allowed)")
        if chunk.endswith("*"):
            chunk, star_line = chunk[:-1], number
        if not (chunk.isascii() and chunk.isalpha()) and chunk:
            bad = next(char for char in chunk if not (char.isascii() and char.isalpha()))
            return RecordError(
                source, record_id, number,
                f"character {bad!r} (column {line.index(bad) + 1}) is not an amino-acid letter",
            )
        chunks.append(chunk)
    sequence = "".join(chunks).upper()
    if not sequence:
        return RecordError(source, record_id, block.line, "the record has no sequence")
    return FastaRecord(id=record_id, description=block.header, sequence=sequence, source=source, line=block.line)


def _excerpt(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[:width] + "...")


__all__ = ["RawRecord", "RecordError", "fasta_blocks", "iter_fasta", "parse_fasta", "read_fasta"]
