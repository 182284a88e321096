"""One FASTA database searched as independent shards whose merged hits equal one search of the whole database.

    index = index_fasta("uniref90.fasta")            # one pass over the file; index.save(...) / load_index(...)
    index = open_index("uniref90.fasta", fallback)   # or: made once, kept beside the file (or in `fallback`)
    shards = shard(index, 64)                        # byte ranges of about equal residue counts; nothing copied
    parts = [search_shard(profile, s, thresholds, index.num_records) for s in shards]   # any order, anywhere
    hits = merge(parts)                              # == Pipeline(Z=index.num_records).search_hmm(profile, db)

Why the merge is exact: a HMMER search scores each target on its own; only the E-values depend on the rest of
the database, through Z (the number of targets: E = P * Z) and domZ (the number of targets reported: a
domain's conditional E-value is P * domZ). Each shard is searched with Z set to the whole database's sequence
count, so its reporting threshold, applied during the search, is already the whole database's; domZ is left to
HMMER, and `merge` recomputes it and re-applies every threshold over the merged hits (pyhmmer's
`TopHits.merge`, which re-runs HMMER's `p7_tophits_Threshold`). Domain definition is reseeded for each target,
so it does not depend on which other targets share a shard.

The index: a plain (uncompressed) FASTA file is read once and cut into blocks of about `block_bytes`; for each
block it stores the byte offset of its first record and its record and residue counts (npz, a few MB even for
UniRef90). A shard is a run of whole blocks, balanced by residues (the search's cost). gzip files are refused
with a message to decompress them: a gzip stream has no random access, so a shard could only be read by
decompressing everything before it. The scan also checks every record, so a corrupt database fails at indexing,
naming the record, byte offset and line, rather than in the middle of a search.

Every task takes and returns picklable values (`Shard`, `HmmerThresholds`, pyhmmer's `HMM` and `TopHits`), so
that a scheduler can run `search_shard` on other processes or machines.

Reading and digitising a shard costs half as much as searching it with a query that has few hits (easel reads
about 200 M residues/s, holding the GIL: threads of one process do not read in parallel), so each process keeps
the shards it has read in `SHARD_CACHE` (least recently used dropped first, up to `SHARD_CACHE_BYTES`): the later
rounds of an iterative search and the later queries a worker runs search them from memory. A shard larger than
the whole budget is streamed in blocks.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from pyhmmer import easel, plan7

from protein.errors import InputError, SearchError
from protein.search.config import HmmerThresholds
from protein.structure.files import write_atomic

logger = logging.getLogger(__name__)

AMINO = easel.Alphabet.amino()
DEFAULT_BLOCK_BYTES = 1 << 20
MAX_BLOCKS = 1 << 16  # small files get smaller blocks, so that they can still be cut into many shards
SEARCH_BLOCK_RESIDUES = 16 << 20  # residues held in memory at once while a shard is searched
SHARD_CACHE_BYTES = 256 << 20  # digitised shards kept per process (see the module docstring)
_DIGITAL_RECORD_BYTES = 320  # a digitised record beyond its residues (easel's ESL_SQ: name, description buffers)
INDEX_SUFFIX = ".shards.npz"
_SHARED_FILE_MODE = 0o644  # an index kept beside a database serves every user of it
_SCAN_BYTES = 8 << 20
_GZIP_MAGIC = b"\x1f\x8b"

_RESIDUE = np.zeros(256, dtype=bool)
_RESIDUE[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz*", np.uint8)] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[np.frombuffer(b" \t\r\n\v\f", np.uint8)] = True
_SEQUENCE_BYTE = _RESIDUE | _SPACE


@dataclasses.dataclass(frozen=True, eq=False)
class FastaIndex:
    """Blocks of a FASTA file: block i holds the records starting in bytes [offsets[i], offsets[i+1]).

    offsets: int64 [num_blocks + 1], the first record's byte offset of each block, then the file size.
    records, residues: int64 [num_blocks], per block.
    file_size, mtime_ns: the file's when indexed; a shard of a file that has changed since refuses to be read.
    """

    path: str
    file_size: int
    mtime_ns: int
    offsets: np.ndarray
    records: np.ndarray
    residues: np.ndarray

    @property
    def num_blocks(self) -> int:
        return len(self.records)

    @property
    def num_records(self) -> int:
        return int(self.records.sum())

    @property
    def num_residues(self) -> int:
        return int(self.residues.sum())

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the index as npz, atomically (temp + rename)."""
        buffer = io.BytesIO()
        np.savez(buffer, path=np.str_(self.path), file_size=np.int64(self.file_size),
                 mtime_ns=np.int64(self.mtime_ns), offsets=self.offsets, records=self.records,
                 residues=self.residues)
        return write_atomic(path, buffer.getvalue())


def index_path_for(fasta: str | os.PathLike) -> Path:
    """Where an index of `fasta` is looked for by default: beside it, `<fasta>.shards.npz`."""
    return Path(f"{os.fspath(fasta)}{INDEX_SUFFIX}")


def open_index(fasta: str | os.PathLike, fallback_dir: str | os.PathLike | None = None,
               save: bool = True) -> FastaIndex:
    """The index of `fasta`, made once and kept on disk: read from beside it (`<fasta>.shards.npz`) or from
    `fallback_dir` when one there is of this file as it is now; otherwise the file is indexed and (with `save`)
    the index saved beside it, or in `fallback_dir` when the database's folder cannot be written (a shared,
    read-only copy). With neither writable the index is kept in memory only, and made again next time.

    An index is not used when the file has changed since (size, modification time) or when it was made for
    another file (a database folder copied with its index).

    Raises:
      InputError: as `index_fasta`, for a missing, gzip or corrupt database.
    """
    fasta = Path(fasta)
    candidates = [index_path_for(fasta)]
    if fallback_dir is not None:
        candidates.append(_fallback_index_path(fasta, Path(fallback_dir)))
    for candidate in candidates:
        if not candidate.exists():
            continue
        try:
            index = load_index(candidate)
        except (InputError, SearchError) as error:
            logger.info("%s: not used, indexing again (%s)", candidate, error)
            continue
        if index.path == str(fasta.absolute()):
            return index
        logger.info("%s: an index of %s, not of %s; indexing again", candidate, index.path, fasta)
    index = index_fasta(fasta)
    if not save:
        return index
    for candidate in candidates:
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            index.save(candidate).chmod(_SHARED_FILE_MODE)
        except OSError as error:
            logger.info("cannot save the index of %s as %s (%s)", fasta, candidate, error.strerror or error)
            continue
        logger.info("saved the index of %s as %s", fasta, candidate)
        return index
    logger.warning("the index of %s could not be saved (its folder is not writable%s); it is kept in memory only",
                   fasta, "" if fallback_dir is None else f", nor {fallback_dir}")
    return index


def _fallback_index_path(fasta: Path, folder: Path) -> Path:
    """An index of `fasta` kept away from it: named by its absolute path, so that two databases of one name do not
    share it (a changed file is told by the size and time the index records)."""
    digest = hashlib.sha256(os.fsencode(fasta.absolute())).hexdigest()[:16]
    return folder / f"{fasta.name}.{digest}{INDEX_SUFFIX}"


def load_index(path: str | os.PathLike) -> FastaIndex:
    """Reads an index written by `FastaIndex.save`.

    Raises:
      InputError: the file is missing, not an index, or describes a FASTA file that has changed since.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            index = FastaIndex(str(stored["path"]), int(stored["file_size"]), int(stored["mtime_ns"]),
                               stored["offsets"], stored["records"], stored["residues"])
    except (OSError, KeyError, ValueError) as error:
        raise InputError(f"{path}: not a readable FASTA shard index ({error})") from error
    _check_unchanged(index.path, index.file_size, index.mtime_ns, f"the index {path}")
    return index


def index_fasta(path: str | os.PathLike, block_bytes: int | None = None) -> FastaIndex:
    """Indexes a plain FASTA file for sharding (see the module docstring), in one pass of bounded memory.

    Args:
      block_bytes: the granularity of shard boundaries; default 1 MiB, or less for files under 64 GiB so that
        they have up to 65,536 blocks (a tiny file gets a block per record).

    Raises:
      InputError: the file is missing, gzip-compressed, has no record, or has a corrupt record: text before the
        first '>' header, a header without a name, a record without residues, or a character in a sequence line
        that is not a letter or '*'. The message names the record, its byte offset and the line.
    """
    path = Path(path)
    try:
        stat = path.stat()
        handle = open(path, "rb")
    except OSError as error:
        raise InputError(f"{path}: cannot read the database ({error.strerror or error})") from error
    with handle:
        if handle.read(2) == _GZIP_MAGIC:
            raise InputError(f"{path}: a gzip-compressed database cannot be sharded by byte ranges; decompress it "
                             f"first (gunzip -k {path}) and index the plain file")
        handle.seek(0)
        if block_bytes is None:
            block_bytes = max(1, min(DEFAULT_BLOCK_BYTES, stat.st_size // MAX_BLOCKS))
        scanner = _Scanner(path, block_bytes)
        carry = b""
        while chunk := handle.read(_SCAN_BYTES):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                scanner.feed(data[:cut])
            carry = data[cut:]
        if carry:
            scanner.feed(carry + b"\n")
    index = scanner.finish(str(path.absolute()), stat.st_size, stat.st_mtime_ns)
    logger.info("indexed %s: %d records, %d residues, %d blocks", path, index.num_records, index.num_residues,
                index.num_blocks)
    return index


class _Scanner:
    """Record starts and residue counts of a FASTA file fed as chunks of whole lines, summed per block."""

    def __init__(self, path: Path, block_bytes: int):
        self.path = path
        self.block_bytes = block_bytes
        self.offset = 0  # of the next chunk in the file
        self.lines = 0  # before the next chunk
        self.open_start: int | None = None  # the record still being read
        self.open_residues = 0
        self.blocks: list[list[int]] = []  # [bin, first record offset, records, residues]

    def feed(self, data: bytes) -> None:
        chunk = np.frombuffer(data, np.uint8)
        newline = chunk == ord("\n")
        line_starts = np.flatnonzero(np.concatenate(([True], newline[:-1])))
        header_lines = chunk[line_starts] == ord(">")
        in_header = np.repeat(header_lines, np.diff(np.append(line_starts, len(chunk))))
        bad = np.flatnonzero(~in_header & ~_SEQUENCE_BYTE[chunk])
        headers = line_starts[header_lines]
        residue = ~in_header & _RESIDUE[chunk]
        if bad.size:
            position = int(bad[0])
            self._fail(f"character {chr(chunk[position])!r} in a sequence line is not a residue letter or '*'",
                       data, position, headers)
        nameless = headers[_SPACE[chunk[headers + 1]]]
        if nameless.size:
            self._fail("the '>' header has no name", data, int(nameless[0]), headers)
        residues = np.flatnonzero(residue)
        before = np.searchsorted(residues, headers)  # residues before each header
        leading = int(before[0]) if headers.size else residues.size  # residues before the first header
        if self.open_start is None and leading:
            self._fail("text before the first '>' header", data, int(residues[0]), headers)
        starts = headers.astype(np.int64) + self.offset
        counts = np.diff(np.append(before, residues.size)).astype(np.int64)
        if self.open_start is not None:
            self.open_residues += leading
            if headers.size:
                self._close(np.array([self.open_start], np.int64), np.array([self.open_residues], np.int64))
        if headers.size:
            self._close(starts[:-1], counts[:-1])
            self.open_start, self.open_residues = int(starts[-1]), int(counts[-1])
        self.offset += len(data)
        self.lines += int(newline.sum())

    def _close(self, starts: np.ndarray, residues: np.ndarray) -> None:
        """Adds finished records (global start offsets, residue counts) to their blocks."""
        if not starts.size:
            return
        empty = np.flatnonzero(residues == 0)
        if empty.size:
            start = int(starts[empty[0]])
            raise InputError(f"{self.path}, record {_record_name(self.path, start)!r} (byte {start}): the record "
                             "has no sequence")
        bins = starts // self.block_bytes
        firsts = np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))
        records = np.diff(np.append(firsts, len(starts)))
        sums = np.add.reduceat(residues, firsts)
        for first, count, total in zip(firsts.tolist(), records.tolist(), sums.tolist()):
            if self.blocks and self.blocks[-1][0] == bins[first]:
                self.blocks[-1][2] += count
                self.blocks[-1][3] += total
            else:
                self.blocks.append([int(bins[first]), int(starts[first]), count, total])

    def _fail(self, message: str, data: bytes, position: int, headers: np.ndarray) -> None:
        line = self.lines + data.count(b"\n", 0, position) + 1
        owner = headers[headers <= position]
        start = int(owner[-1]) + self.offset if owner.size else self.open_start
        record = f", record {_record_name(self.path, start)!r}" if start is not None else ""
        raise InputError(f"{self.path}{record}, line {line} (byte {self.offset + position}): {message}")

    def finish(self, path: str, file_size: int, mtime_ns: int) -> FastaIndex:
        if self.open_start is not None:
            self._close(np.array([self.open_start], np.int64), np.array([self.open_residues], np.int64))
        if not self.blocks:
            raise InputError(f"{self.path}: no FASTA records (the file is empty or blank)")
        table = np.array(self.blocks, dtype=np.int64)
        offsets = np.append(table[:, 1], file_size)
        return FastaIndex(path, file_size, mtime_ns, offsets, table[:, 2].copy(), table[:, 3].copy())


def _record_name(path: Path, offset: int) -> str:
    """The first word of the header at `offset`, for error messages."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        header = handle.readline(1000).decode("utf-8", errors="replace")
    return (header[1:].split() or [""])[0]


@dataclasses.dataclass(frozen=True)
class Shard:
    """Whole records of a FASTA file: bytes [start, end), with their record and residue counts and the file's
    size and modification time when it was indexed."""

    path: str
    start: int
    end: int
    num_records: int
    num_residues: int
    file_size: int
    mtime_ns: int

    def __str__(self) -> str:
        return f"{self.path} bytes {self.start}-{self.end}"


def shard(index: FastaIndex, num_shards: int) -> list[Shard]:
    """Cuts the indexed file into `num_shards` runs of whole blocks with about equal residue counts.

    Raises:
      ValueError: `num_shards` < 1, or more shards than the index has blocks (index with a smaller block_bytes).
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    if num_shards > index.num_blocks:
        raise ValueError(f"{index.path}: its index has {index.num_blocks} blocks, too few for {num_shards} shards; "
                         "index it with a smaller block_bytes")
    cumulative = np.cumsum(index.residues)
    targets = cumulative[-1] * np.arange(1, num_shards) / num_shards
    after = np.searchsorted(cumulative, targets, side="left")  # the block where the running total reaches a target
    overshoot = cumulative[after] - targets
    undershoot = targets - np.where(after > 0, cumulative[after - 1], 0)
    cuts = (after + (overshoot <= undershoot)).tolist()  # cut at the nearer block boundary
    for k in range(len(cuts)):  # every shard at least one block
        low = (cuts[k - 1] if k else 0) + 1
        cuts[k] = min(max(cuts[k], low), index.num_blocks - (num_shards - 1 - k))
    bounds = [0, *cuts, index.num_blocks]
    return [
        Shard(index.path, int(index.offsets[first]), int(index.offsets[last]), int(index.records[first:last].sum()),
              int(index.residues[first:last].sum()), index.file_size, index.mtime_ns)
        for first, last in zip(bounds, bounds[1:])
    ]


def _check_unchanged(path: str, file_size: int, mtime_ns: int, what: str) -> None:
    try:
        stat = os.stat(path)
    except OSError as error:
        raise SearchError(f"{path}: cannot read the database of {what} ({error.strerror or error})") from error
    if (stat.st_size, stat.st_mtime_ns) != (file_size, mtime_ns):
        raise SearchError(f"{path} has changed since {what} was made (size or modification time); index it again")


class _ByteRange(io.RawIOBase):
    """Bytes [start, end) of an open file, read as a file of their own."""

    def __init__(self, handle, start: int, end: int):
        super().__init__()
        self._handle = handle
        self._handle.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self._left)
        if size <= 0:
            return 0
        data = self._handle.read(size)
        buffer[:len(data)] = data
        self._left -= len(data)
        return len(data)


class ShardCache:
    """Digitised shards kept in memory, least recently used dropped first, up to `max_bytes` in all (estimated:
    a byte per residue plus easel's record overhead). Thread-safe; a process-wide one is `SHARD_CACHE`."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._shards: collections.OrderedDict[tuple, tuple[easel.DigitalSequenceBlock, ...]] = \
            collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def size_of(shard: Shard) -> int:
        return shard.num_residues + shard.num_records * _DIGITAL_RECORD_BYTES

    def get(self, key: tuple) -> tuple[easel.DigitalSequenceBlock, ...] | None:
        with self._lock:
            blocks = self._shards.get(key)
            if blocks is not None:
                self._shards.move_to_end(key)
            return blocks

    def put(self, key: tuple, shard: Shard, blocks: tuple[easel.DigitalSequenceBlock, ...]) -> None:
        size = self.size_of(shard)
        with self._lock:
            if key in self._shards or size > self.max_bytes:
                return
            while self._shards and self._bytes + size > self.max_bytes:
                old_key, _ = self._shards.popitem(last=False)
                self._bytes -= self.size_of(old_key[0])
            self._shards[key] = blocks
            self._bytes += size

    def clear(self) -> None:
        with self._lock:
            self._shards.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._shards)


SHARD_CACHE = ShardCache(SHARD_CACHE_BYTES)


def read_shard(shard: Shard, max_residues: int = SEARCH_BLOCK_RESIDUES,
               cache: ShardCache | None = SHARD_CACHE) -> Iterator[easel.DigitalSequenceBlock]:
    """The shard's sequences in digital form, as blocks of about `max_residues` residues (so that memory stays
    bounded however large the shard); read from the byte range, never copied to a file. A shard that fits in
    `cache` is read from the file once and then served from memory (None: always read).

    Raises:
      SearchError: the file has changed since it was indexed.
      InputError: a record easel cannot read (naming the file and the shard's byte range).
    """
    _check_unchanged(shard.path, shard.file_size, shard.mtime_ns, f"the shard {shard}")
    if cache is None or ShardCache.size_of(shard) > cache.max_bytes:
        yield from _read_blocks(shard, max_residues)
        return
    key = (shard, max_residues)
    blocks = cache.get(key)
    if blocks is not None:
        yield from blocks
        return
    read = []
    for block in _read_blocks(shard, max_residues):  # yielded as read, so that a search can start on the first
        read.append(block)
        yield block
    cache.put(key, shard, tuple(read))


def _read_blocks(shard: Shard, max_residues: int) -> Iterator[easel.DigitalSequenceBlock]:
    with open(shard.path, "rb") as handle:
        reader = io.BufferedReader(_ByteRange(handle, shard.start, shard.end))
        try:
            with easel.SequenceFile(reader, format="fasta", digital=True, alphabet=AMINO) as sequences:
                while True:
                    block = sequences.read_block(residues=max_residues)
                    if not len(block):
                        return
                    yield block
        except (ValueError, EOFError) as error:
            raise InputError(f"{shard}: unreadable FASTA record ({error})") from error


def search_shard(profile: plan7.HMM | bytes, shard: Shard, thresholds: HmmerThresholds,
                 num_targets: int) -> plan7.TopHits:
    """The hits of `profile` (or its HMMER binary file, `profile_bytes`) in one shard, with E-values for a
    database of `num_targets` sequences (the whole database's count, from its index). A task: picklable arguments
    and result, no shared state."""
    if isinstance(profile, bytes):
        with plan7.HMMFile(io.BytesIO(profile)) as hmms:
            profile = hmms.read()
    pipeline = plan7.Pipeline(AMINO, Z=num_targets, **thresholds.pipeline_options())
    parts = []
    for block in read_shard(shard):
        parts.append(pipeline.search_hmm(profile, block))
        pipeline.clear()
    if not parts:
        raise SearchError(f"{shard}: no sequences read (the index does not match the file?)")
    logger.debug("%s: %d sequences, %d hits", shard, shard.num_records, sum(len(part) for part in parts))
    return merge(parts)


def profile_bytes(profile: plan7.HMM) -> bytes:
    """`profile` as a HMMER binary file: what a shard search task is sent (smaller than a pickle, and read back
    exactly)."""
    buffer = io.BytesIO()
    profile.write(buffer, binary=True)
    return buffer.getvalue()


def merge(parts: Sequence[plan7.TopHits]) -> plan7.TopHits:
    """The hits of several shards (or blocks) searched with the same profile, thresholds and Z, as one search of
    them all: domZ recomputed, every threshold re-applied, best first."""
    if not parts:
        raise ValueError("no hits to merge")
    merged = parts[0].merge(*parts[1:])
    merged.sort(by="key")
    return merged
